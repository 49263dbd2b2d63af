# onekit: `make run` starts the embedded default, `make test` runs every test.
# Both run `make setup` first, which installs what is missing (apt, pip) and is idempotent.
.PHONY: setup run test lint sanity

setup:
	@scripts/setup.sh

run: setup
	.venv/bin/onekit-server init --exist-ok --examples
	.venv/bin/onekit-server run

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/lint-imports

sanity: setup
	scripts/sanity.sh

test: lint sanity
	.venv/bin/pytest
