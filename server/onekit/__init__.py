"""onekit: the server and command-line tools around the core in
``ansible_collections.onekit.cloud.plugins.module_utils``."""

__version__ = "0.1.0"
