"""The templates OCCI makes OpenNebula templates with: Jinja2 files of the instance's
``etc/occi_templates/`` (4.6's ``etc/occi_templates/*.erb``), else onekit's defaults
(``occi/default_templates/``: ``common``, ``network``, ``small``, ``medium``, ``large``).

**Names.** The guide's occi-server.conf names ``small.erb``: a name ending ``.erb``
stands for the Jinja2 file of the same stem, ``small.j2``; any other name is the file's
own (``gpu.j2``, ``custom.tmpl``). ``common.j2`` is rendered before every instance type's
template (4.6's ``common.erb``), ``network.j2`` makes a network.

**User text is data.** The environment is Jinja2's sandbox, the templates are the
admin's files, and what a client sent reaches them only as values: every ``{{ ... }}``
prints one value of OpenNebula's template syntax, quoted and escaped by
``core.template.quote`` (``{{ name }}`` holding ``x" ]\\nMEMORY = "1`` stays one value).
An attribute name taken from the request (a CONTEXT element's tag) goes through the
``name`` filter, which refuses anything but letters, digits and ``_``. The text rendered
is then parsed by ``core.template.parse``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError, TemplateNotFound
from jinja2.sandbox import SandboxedEnvironment

from ansible_collections.onekit.cloud.plugins.module_utils.core import template
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    ConfigError,
    InvalidInput,
)
from ansible_collections.onekit.cloud.plugins.module_utils.occi.config import OcciConfig

DEFAULTS = Path(__file__).parent / "default_templates"
COMMON = "common.j2"
NETWORK = "network.j2"


class _Raw(str):
    """Text the template prints as it is (an attribute name the ``name`` filter checked)."""


def _name(value: Any) -> _Raw:
    text = str(value)
    if not template.is_name(text):
        raise InvalidInput(
            f"{text[:40]!r} cannot be an attribute name: names are letters, digits and _"
        )
    return _Raw(text.upper())


def _value(value: Any) -> str:
    if isinstance(value, _Raw):
        return value
    if value is None:
        return '""'
    return template.quote(value if isinstance(value, int | float | str) else str(value))


def file_name(name: str) -> str:
    """The Jinja2 file a configured template name stands for (``small.erb`` ->
    ``small.j2``)."""
    return name[: -len(".erb")] + ".j2" if name.endswith(".erb") else name


class Renderer:
    """The templates of one instance: ``directory`` first, onekit's defaults after."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.env = SandboxedEnvironment(
            loader=FileSystemLoader([str(directory), str(DEFAULTS)]),
            undefined=StrictUndefined,
            finalize=_value,
            keep_trailing_newline=True,
            autoescape=False,
        )
        self.env.filters["name"] = _name

    def check(self, config: OcciConfig) -> None:
        """Every template the config names exists and compiles (at start, not at the
        first request)."""
        for name, label in (
            (COMMON, "common"),
            (NETWORK, "network"),
            *(
                (file_name(t.template), f":instance_types: :{t.name}:")
                for t in config.instance_types
            ),
        ):
            try:
                self.env.get_template(name)
            except TemplateNotFound:
                raise ConfigError(
                    f"occi-server.conf {label}: no template {name} in {self.directory} "
                    "(nor among onekit's defaults): write it there (Jinja2; a name ending "
                    ".erb stands for the .j2 file of the same stem)"
                ) from None
            except TemplateError as err:
                raise ConfigError(
                    f"{self.directory / name}: not a valid Jinja2 template: {err}"
                ) from None

    def render(self, name: str, **data: Any) -> dict[str, Any]:
        """The template ``name`` rendered with ``data`` and parsed."""
        try:
            text = self.env.get_template(file_name(name)).render(**data)
        except InvalidInput:
            raise
        except TemplateError as err:
            raise ConfigError(f"the OCCI template {file_name(name)} failed: {err}") from None
        return template.parse(text)

    def render_text(self, *names: str, **data: Any) -> str:
        """The templates ``names`` rendered with ``data``, one after the other (4.6
        appended the instance type's template to ``common``)."""
        parts = []
        for name in names:
            try:
                parts.append(self.env.get_template(file_name(name)).render(**data))
            except InvalidInput:
                raise
            except TemplateError as err:
                raise ConfigError(f"the OCCI template {file_name(name)} failed: {err}") from None
        return "\n".join(parts)
