"""``python -m onekit.cli.occi <command> [args]``: an occi-* command without its script."""

from __future__ import annotations

import sys

from onekit.cli.occi import COMMANDS


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m onekit.cli.occi {{{','.join(COMMANDS)}}} ...", file=sys.stderr)
        return 2
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
