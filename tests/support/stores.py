"""Which stores a test module runs on.

Store-backed tests run on SQLite and MariaDB (the ``backend`` fixture and the running
clouds ``econe``, ``rpc2``, ``occi`` are parametrized with both). A module that tests an
*adapter* (a CLI's output, a wire format, a server command, a client) and reaches the
store only through core operations that other modules test on both stores runs on SQLite
alone: MariaDB would run the same core calls again, at the cost of a second instance or a
second running cloud per module. Modules about the store itself, concurrency, locking,
quotas, the scheduler, the monitor or federation keep both.

``pytestmark = sqlite_only`` in a module; ``tests/conftest.py``'s ``pytest_generate_tests``
gives the module's store fixtures that one param (a plain ``parametrize`` mark would also
hit the module's tests that use no store).
"""

from __future__ import annotations

import pytest

# the fixtures parametrized by store, with their scopes
STORE_FIXTURES = {"backend": "function", "econe": "module", "rpc2": "module", "occi": "module"}

sqlite_only = pytest.mark.stores("sqlite")
