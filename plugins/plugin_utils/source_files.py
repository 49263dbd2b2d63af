"""This collection's core imported as Python imports any package: compiled once, kept in
``__pycache__``.

Ansible's collection loader compiles a collection's Python source again on every import
and keeps no ``__pycache__`` (``_AnsibleCollectionPkgLoaderBase.get_code``). Every task
runs in a new worker process, so an in-process onekit task (``in_process``) would compile
the ~50 files of the core it imports on each run: about 0.2 s, a fifth of what the module
path costs. :func:`install` puts a finder in front of the collection loader, in this
worker only, for the collection's ``module_utils`` and ``modules``: it loads them from
their files with Python's own ``SourceFileLoader``, as the CLIs and the server load the same
files (``__pycache__`` beside each source, checked against its mtime and size; nothing
written where Python may not write). Packages, plugins and other collections stay the
collection loader's.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from importlib.machinery import ModuleSpec
from pathlib import Path

COLLECTION = "ansible_collections.onekit.cloud"
SERVED = (f"{COLLECTION}.plugins.module_utils.", f"{COLLECTION}.plugins.modules.")
ROOT = Path(__file__).resolve().parents[2]  # plugins/plugin_utils/ is two levels down


class _SourceFiles(importlib.abc.MetaPathFinder):
    """Finds ``SERVED`` modules as plain files under the collection's root."""

    def __init__(self, root: Path):
        self.root = root

    def find_spec(self, fullname: str, path=None, target=None) -> ModuleSpec | None:
        if not fullname.startswith(SERVED):
            return None
        base = self.root.joinpath(*fullname.split(".")[3:])
        if (base / "__init__.py").is_file():
            return importlib.util.spec_from_file_location(
                fullname, base / "__init__.py", submodule_search_locations=[str(base)]
            )
        if base.with_suffix(".py").is_file():
            return importlib.util.spec_from_file_location(fullname, base.with_suffix(".py"))
        return None


def install(root: Path = ROOT) -> None:
    """Serve the collection's core from its files in this process, from now on."""
    if not any(isinstance(finder, _SourceFiles) for finder in sys.meta_path):
        sys.meta_path.insert(0, _SourceFiles(root))
