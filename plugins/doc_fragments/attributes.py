"""What every onekit module supports: full check mode and diff, on POSIX hosts."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without
      modifying target. The operation runs in a transaction that is rolled back, so the
      prediction is exactly what a real run would do.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in
      check_mode), when in diff mode.
    support: full
  platform:
    description: Target OS/families that can be operated against.
    platforms: posix
    support: N/A
"""
