"""ACL rules: the string syntax of ``oneacl create`` and OpenNebula's 64-bit encoding.

A rule is ``USER RESOURCES/RID RIGHTS [ZONE]``, e.g. ``@1 VM+IMAGE+TEMPLATE/* CREATE``,
``#5 NET+IMAGE+TEMPLATE/@104 USE``, ``@100 HOST/%100 MANAGE #0``. Each part is stored as a
number the way oned stores it (table ``acl``: user, resource, rights, zone), so rules dumped
from one store mean the same in another.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput

# Selector bits, OR'd with an id (oned's AclRule).
UID = 0x100000000
GID = 0x200000000
ALL = 0x400000000
CLUSTER = 0x800000000
_ID_MASK = 0xFFFFFFFF
_SELECTOR_MASK = UID | GID | ALL | CLUSTER

# Object types, one bit each (oned's PoolObjectSQL::ObjectType). ACL has a bit but is not
# writable in rule strings: only oneadmin manages ACL rules.
RESOURCE_BITS: dict[str, int] = {
    "VM": 0x0000001000000000,
    "HOST": 0x0000002000000000,
    "NET": 0x0000004000000000,
    "IMAGE": 0x0000008000000000,
    "USER": 0x0000010000000000,
    "TEMPLATE": 0x0000020000000000,
    "GROUP": 0x0000040000000000,
    "ACL": 0x0000080000000000,
    "DATASTORE": 0x0000100000000000,
    "CLUSTER": 0x0000200000000000,
    "DOCUMENT": 0x0000400000000000,
    "ZONE": 0x0000800000000000,
    "SECGROUP": 0x0001000000000000,
    "VDC": 0x0002000000000000,
}
RULE_TYPES = tuple(t for t in RESOURCE_BITS if t != "ACL")
# One letter per type for `oneacl list` (RES_VHNIUTGDCOZSv).
TYPE_LETTERS = dict(zip(RULE_TYPES, "VHNIUTGDCOZSv", strict=True))


class Right(enum.IntFlag):
    """A right asked for or granted; the bits oned stores in an ACL rule."""

    USE = 1
    MANAGE = 2
    ADMIN = 4
    CREATE = 8


RIGHT_BITS: dict[str, int] = {r.name: int(r) for r in Right}

_CLUSTER_TYPES = {"HOST", "NET", "DATASTORE"}
_NO_GROUP_TYPES = {"HOST", "GROUP", "CLUSTER", "ZONE", "VDC"}
_ALL_ZONE_ID_TYPES = {"USER", "GROUP", "ZONE", "ACL", "VDC"}
_ID_RE = re.compile(r"^([#@%])([0-9]+)$")  # ASCII digits only, as oned's acl.rb

SYNTAX_HELP = (
    'USER RESOURCES/RID RIGHTS [ZONE], e.g. "@1 VM+IMAGE/* CREATE" or "#5 NET/@104 USE #0"'
)


def _selector(text: str, part: str, allowed: str) -> int:
    if text == "*":
        return ALL
    match = _ID_RE.match(text)
    if not match or match.group(1) not in allowed:
        forms = {"#": "#<id>", "@": "@<group id>", "%": "%<cluster id>"}
        wanted = ", ".join([*(forms[c] for c in allowed), "*"])
        raise InvalidInput(f"ACL {part} {text!r} is not one of {wanted} ({SYNTAX_HELP})")
    number = int(match.group(2))
    if number > _ID_MASK:
        raise InvalidInput(f"ACL {part} {text!r}: id out of range")
    bit = {"#": UID, "@": GID, "%": CLUSTER}[match.group(1)]
    return bit | number


def _selector_str(value: int) -> str:
    if value & ALL:
        return "*"
    prefix = "#" if value & UID else "@" if value & GID else "%" if value & CLUSTER else "?"
    return f"{prefix}{value & _ID_MASK}"


def types_of(resource: int) -> list[str]:
    return [name for name, bit in RESOURCE_BITS.items() if resource & bit]


@dataclass(frozen=True)
class AclRule:
    """One rule, as the four numbers oned stores; ``oid`` is None until it is stored."""

    user: int
    resource: int
    rights: int
    zone: int
    oid: int | None = None

    @classmethod
    def from_numbers(
        cls, user: int, resource: int, rights: int, zone: int | None, local_zone: int = 0
    ) -> AclRule:
        """A rule given as oned's numbers (``one.acl.addrule``; no zone: ``local_zone``),
        checked as a rule text is: numbers that no rule text can say (a resource type or
        a right onekit does not have) are refused, never stored as another rule."""
        given = cls(user, resource, rights, 0 if zone is None else zone)
        text = str(given) if zone is not None else str(given).rsplit(" ", 1)[0]
        try:
            parsed = cls.parse(text, local_zone)
        except InvalidInput as err:
            raise InvalidInput(f"{err}; the rule reads as {text!r}") from None
        compared = 4 if zone is not None else 3
        if parsed.key()[:compared] != given.key()[:compared]:
            raise InvalidInput(
                f"ACL rule ({user:#x}, {resource:#x}, {rights:#x}) has bits onekit does not "
                f"know: it reads as {text!r}"
            )
        return parsed

    @classmethod
    def parse(cls, text: str, local_zone: int = 0) -> AclRule:
        """Parse and validate a rule string; an omitted zone means the local zone."""
        if not isinstance(text, str):
            raise InvalidInput(f"ACL rule must be a string ({SYNTAX_HELP})")
        parts = text.split()
        if len(parts) not in (3, 4):
            raise InvalidInput(
                f"ACL rule {text!r} has {len(parts)} parts, expected 3 or 4 ({SYNTAX_HELP})"
            )
        user = _selector(parts[0], "user", "#@")
        if parts[1].count("/") != 1:
            raise InvalidInput(
                f"ACL resources {parts[1]!r} must be TYPES/RID, e.g. VM+NET/* ({SYNTAX_HELP})"
            )
        types_text, rid_text = parts[1].split("/")
        resource = 0
        types = [t.strip().upper() for t in types_text.split("+")]
        for name in types:
            if not name:
                raise InvalidInput(
                    f"ACL resources {types_text!r} has an empty type; join types with + "
                    "(e.g. VM+NET)"
                )
            if name not in RULE_TYPES:
                raise InvalidInput(
                    f"ACL resource type {name!r} is unknown; use {', '.join(RULE_TYPES)}"
                )
            resource |= RESOURCE_BITS[name]
        resource |= _selector(rid_text, "resource id", "#@%")
        rights = 0
        for name in parts[2].split("+"):
            name = name.strip().upper()
            if not name:
                raise InvalidInput(
                    f"ACL rights {parts[2]!r} has an empty right; join USE, MANAGE, ADMIN, "
                    "CREATE with + (e.g. USE+MANAGE)"
                )
            if name not in RIGHT_BITS:
                raise InvalidInput(
                    f"ACL right {name!r} is unknown; use USE, MANAGE, ADMIN, CREATE (joined by +)"
                )
            rights |= RIGHT_BITS[name]
        zone = _selector(parts[3], "zone", "#") if len(parts) == 4 else UID | local_zone
        rule = cls(user, resource, rights, zone)
        rule.validate()
        return rule

    def validate(self) -> None:
        """oned's AclRule::malformed checks, with the reason for each."""
        types = set(types_of(self.resource))
        rid = self.resource & _SELECTOR_MASK
        if not types:
            raise InvalidInput("ACL rule names no resource type")
        if rid & CLUSTER and not types <= _CLUSTER_TYPES:
            raise InvalidInput(
                "ACL resource id %<cluster> only applies to HOST, NET and DATASTORE, "
                f"not {', '.join(sorted(types - _CLUSTER_TYPES))}"
            )
        if rid & GID and types & _NO_GROUP_TYPES:
            raise InvalidInput(
                "ACL resource id @<group> does not apply to "
                f"{', '.join(sorted(types & _NO_GROUP_TYPES))} (they have no group)"
            )
        if rid & UID and self.zone & ALL and not types <= _ALL_ZONE_ID_TYPES:
            raise InvalidInput(
                "ACL resource id #<id> with zone * only applies to USER, GROUP, ZONE and VDC "
                f"(ids of {', '.join(sorted(types - _ALL_ZONE_ID_TYPES))} are per zone)"
            )
        if not self.rights:
            raise InvalidInput("ACL rule grants no right")

    # ---- reading parts back -------------------------------------------------------
    @property
    def user_str(self) -> str:
        return _selector_str(self.user)

    @property
    def resource_str(self) -> str:
        return "+".join(types_of(self.resource)) + "/" + _selector_str(self.resource)

    @property
    def rights_str(self) -> str:
        return "+".join(name for name, bit in RIGHT_BITS.items() if self.rights & bit)

    @property
    def zone_str(self) -> str:
        return _selector_str(self.zone)

    def __str__(self) -> str:
        return f"{self.user_str} {self.resource_str} {self.rights_str} {self.zone_str}"

    def key(self) -> tuple[int, int, int, int]:
        return (self.user, self.resource, self.rights, self.zone)

    # ---- evaluation -----------------------------------------------------------------
    def grants(
        self,
        uid: int,
        groups: frozenset[int],
        resource: str,
        oid: int,
        gid: int,
        cluster: int | None,
        right: int,
        zone: int,
    ) -> bool:
        """Does this rule give ``right`` on the object to the user?"""
        if not self.rights & right or not self.resource & RESOURCE_BITS[resource]:
            return False
        if not (
            self.user & ALL
            or (self.user & UID and self.user & _ID_MASK == uid)
            or (self.user & GID and self.user & _ID_MASK in groups)
        ):
            return False
        if not (self.zone & ALL or self.zone & _ID_MASK == zone):
            return False
        rid = self.resource & _SELECTOR_MASK
        number = self.resource & _ID_MASK
        return bool(
            rid & ALL
            or (rid & UID and oid >= 0 and number == oid)
            or (rid & GID and number == gid)
            or (rid & CLUSTER and cluster is not None and number == cluster)
        )

    def refers_to(self, kind: str, oid: int) -> bool:
        """Does the rule name the deleted user #oid / group @oid, so that it means nothing
        once that object is gone? Its subject, its ``@gid`` resources (for a group), or a
        resource that is only that one object (``USER/#oid``, ``GROUP/#oid``)."""
        bit, own_type = (UID, "USER") if kind == "user" else (GID, "GROUP")
        if self.user & bit and self.user & _ID_MASK == oid:
            return True
        rid = self.resource & _SELECTOR_MASK
        number = self.resource & _ID_MASK
        if kind == "group" and rid & GID and number == oid:
            return True
        return bool(rid & UID and number == oid and types_of(self.resource) == [own_type])


BOOTSTRAP_RULES = (
    "@1 VM+IMAGE+TEMPLATE+DOCUMENT+SECGROUP/* CREATE *",
    "* ZONE/* USE *",
)
