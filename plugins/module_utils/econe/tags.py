"""EC2 tags of onekit objects: kept as ``EC2_TAGS`` in a VM's USER_TEMPLATE or an image's
TEMPLATE, as 4.6 keeps them, but as the JSON text of ``{key: value}``: a tag key may hold
any character (``aws:cloudformation:stack-name``, spaces), which a template attribute name
may not."""

from __future__ import annotations

import json
from typing import Any

ATTRIBUTE = "EC2_TAGS"


def read(tpl: dict[str, Any]) -> dict[str, str]:
    raw = tpl.get(ATTRIBUTE)
    if not isinstance(raw, str) or not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}


def write(tpl: dict[str, Any], tags: dict[str, str]) -> None:
    if tags:
        tpl[ATTRIBUTE] = json.dumps(tags, sort_keys=True, ensure_ascii=False)
    else:
        tpl.pop(ATTRIBUTE, None)


def tag_set(tpl: dict[str, Any]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in sorted(read(tpl).items())]
