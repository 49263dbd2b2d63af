"""A front-end instance: its home directory, its oned.conf, and how modules open it. The one
layer that knows every feature.

Imported from an Ansible module's zip (AnsiballZ), it first has the collection's compiled
code kept between runs (``bytecode``): what the module imports next is not compiled again.
"""

from ansible_collections.onekit.cloud.plugins.module_utils.frontend import bytecode

bytecode.keep(__spec__.loader)
