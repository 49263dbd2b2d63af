"""What XML 1.0 cannot carry: the one place the XML answers (EC2's, /RPC2's) replace it.

Control characters but tab, LF and CR, surrogates, U+FFFE/U+FFFF: written raw, one such
character in a user's tag or template would make every listing that shows it
unparseable, so each is replaced by U+FFFD.
"""

from __future__ import annotations

import re
from typing import Any

NOT_XML_CLASS = "\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff"
NOT_XML = re.compile(f"[{NOT_XML_CLASS}]")


def xml_safe(value: Any) -> str:
    """``value`` as text XML 1.0 can carry (not escaped: a serializer escapes)."""
    return NOT_XML.sub("\ufffd", str(value))
