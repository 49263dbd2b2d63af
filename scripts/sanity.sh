#!/usr/bin/env bash
# `ansible-test sanity --test validate-modules` on the collection. ansible-test wants the
# collection at a real path ending in ansible_collections/onekit/cloud (a symlink is
# refused), so the collection's files are copied to a temp dir. Offline machines cannot
# download ansible-test's pip bootstrap script: a small one using ensurepip is seeded.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

pip_version=$($PY - <<'PY'
import re, ansible_test, pathlib
src = pathlib.Path(ansible_test.__file__).parent / "_internal/python_requirements.py"
print(re.search(r"pip='([0-9.]+)'", src.read_text()).group(1))
PY
)
seed=~/.ansible/test/cache/get_pip_${pip_version//./_}.py
if [ ! -f "$seed" ] || grep -q "onekit seed" "$seed"; then
  mkdir -p "$(dirname "$seed")"
  cat > "$seed" <<'PY'
# onekit seed: get-pip's job done with ensurepip + pip (get-pip-only options dropped)
# (ensurepip runs in its own process: in-process it sets PIP_CONFIG_FILE=/dev/null, which
# would hide the machine's pip configuration, e.g. its CA bundle, from the pip call below)
import subprocess, sys
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "pip", "install", *args])
PY
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dest=$work/ansible_collections/onekit/cloud
mkdir -p "$dest"
cp -r galaxy.yml README.md meta plugins "$dest"/
find "$dest" -name __pycache__ -prune -exec rm -rf {} +
py_version=$($PY -c 'import sys; print("%d.%d" % sys.version_info[:2])')
cd "$dest"
PATH="$(cd - >/dev/null; pwd)/.venv/bin:$PATH" ansible-test sanity --test validate-modules \
  --python "$py_version" --color no plugins/
