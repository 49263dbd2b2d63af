"""UNIX-like permission bits of every object: USE, MANAGE, ADMIN for owner, group, other.

In octal modes (``chmod 640``) a digit is USE=4 + MANAGE=2 + ADMIN=1, in the order owner,
group, other; ``640`` prints as ``um- u-- ---``. Objects carry the bits in their JSON body as
OpenNebula does (``"PERMISSIONS": {"OWNER_U": "1", ...}``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput

# The bits of one octal digit (not the ACL rights of acl.Right, which are 1, 2, 4, 8).
OCTAL_USE, OCTAL_MANAGE, OCTAL_ADMIN = 4, 2, 1
_CLASSES = ("OWNER", "GROUP", "OTHER")
_LETTERS = ((OCTAL_USE, "U", "u"), (OCTAL_MANAGE, "M", "m"), (OCTAL_ADMIN, "A", "a"))
_OCTAL = re.compile(r"^[0-7]{3}$")


def _parse_octal(value: str | int, what: str) -> tuple[int, int, int]:
    # An int is read as written: YAML `mode: 640` arrives as 640 and means "640".
    text = str(value).strip() if not isinstance(value, bool) else ""
    if not _OCTAL.match(text):
        raise InvalidInput(
            f"{what} must be three octal digits, owner/group/other (e.g. 640), got {value!r}"
        )
    return int(text[0]), int(text[1]), int(text[2])


@dataclass(frozen=True)
class Permissions:
    """Three 3-bit digits; ``Permissions(6, 4, 0)`` is ``640``."""

    owner: int
    group: int
    other: int

    def __post_init__(self) -> None:
        for digit in (self.owner, self.group, self.other):
            if not isinstance(digit, int) or not 0 <= digit <= 7:
                raise InvalidInput(f"permission digits are 0-7, got {digit!r}")

    @classmethod
    def from_octal(cls, mode: str | int) -> Permissions:
        """Parse ``"640"`` (or the int 640, as YAML gives it)."""
        return cls(*_parse_octal(mode, "mode"))

    @classmethod
    def from_umask(cls, umask: str | int) -> Permissions:
        """The bits a new object gets: ``777 & ~umask`` (umask 177 gives 600)."""
        o, g, t = _parse_octal(umask, "umask")
        return cls(7 & ~o, 7 & ~g, 7 & ~t)

    @classmethod
    def from_json(cls, doc: dict) -> Permissions:
        digits = []
        for klass in _CLASSES:
            digit = 0
            for bit, letter, _ in _LETTERS:
                if str(doc.get(f"{klass}_{letter}", "0")) == "1":
                    digit |= bit
            digits.append(digit)
        return cls(*digits)

    def to_json(self) -> dict[str, str]:
        doc = {}
        for klass, digit in zip(_CLASSES, (self.owner, self.group, self.other), strict=True):
            for bit, letter, _ in _LETTERS:
                doc[f"{klass}_{letter}"] = "1" if digit & bit else "0"
        return doc

    def with_bits(self, bits: Sequence[int]) -> Permissions:
        """oned's chmod (``one.<object>.chmod``): nine values, USE, MANAGE, ADMIN of the
        owner, the group and others, each 1 (set), 0 (clear) or -1 (as it is)."""
        if len(bits) != 9 or any(b not in (-1, 0, 1) for b in bits):
            raise InvalidInput(
                "chmod takes nine permission bits (owner, group, other: use, manage, admin), "
                f"each 1, 0 or -1 to keep it, got {list(bits)}"
            )
        digits = []
        for index, digit in enumerate((self.owner, self.group, self.other)):
            for (bit, _, _), wanted in zip(_LETTERS, bits[index * 3 : index * 3 + 3], strict=True):
                if wanted == 1:
                    digit |= bit
                elif wanted == 0:
                    digit &= ~bit
            digits.append(digit)
        return Permissions(*digits)

    def octal(self) -> str:
        return f"{self.owner}{self.group}{self.other}"

    def __str__(self) -> str:
        return " ".join(
            "".join(short if digit & bit else "-" for bit, _, short in _LETTERS)
            for digit in (self.owner, self.group, self.other)
        )

    def admin_bits(self) -> int:
        """The ADMIN bit of each class, to tell whether a chmod touches them."""
        return (
            (self.owner & OCTAL_ADMIN) << 2
            | (self.group & OCTAL_ADMIN) << 1
            | (self.other & OCTAL_ADMIN)
        )
