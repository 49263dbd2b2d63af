"""The base of every onekit module (the role AnsibleAWSModule plays in amazon.aws).

It adds the connection options of the ``onekit.cloud.connection`` doc fragment, logs in
lazily, turns core errors into a failed result with the core's message, and builds the
result with ``diff`` when Ansible asks for one.

A module's logic is a function of a :class:`ModuleRun` (its options, check and diff mode,
the session) that returns the result. :class:`OnekitModule` runs it behind AnsibleModule
(the module's own process, AnsiballZ); ``plugins/plugin_utils/in_process`` runs it in the
controller's process when the task's target is the front-end itself. Both go through
:meth:`ModuleRun.outcome`, the one place core errors become a failed result.

A module may take its argument spec from its own DOCUMENTATION
(:func:`documented_argument_spec`), so its options are written once.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from ansible.module_utils.basic import AnsibleModule, env_fallback
from ansible.module_utils.common.yaml import yaml_load

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput, OneError
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.home import Home

CONNECTION_ARGS: dict[str, dict[str, Any]] = {
    "onekit_home": {"type": "path", "fallback": (env_fallback, ["ONEKIT_HOME"])},
    "api_url": {"type": "str", "fallback": (env_fallback, ["ONE_URL"])},
    "api_username": {"type": "str", "fallback": (env_fallback, ["ONE_USERNAME"])},
    "api_password": {"type": "str", "no_log": True, "fallback": (env_fallback, ["ONE_PASSWORD"])},
}

# what an option's documentation says that its argument spec says too; the rest
# (description, version_added...) is for the reader, and suboptions become options
_SPEC_KEYS = ("type", "elements", "choices", "default", "required", "aliases")


def documented_argument_spec(documentation: str) -> dict[str, dict[str, Any]]:
    """The argument spec of the options a module's DOCUMENTATION declares (suboptions
    included; the doc fragments' options are not in it).

    The reverse way round cannot work: ansible-doc and validate-modules read DOCUMENTATION
    as a literal string without running the module. Taken from it, the spec agrees with
    the documentation by construction, which validate-modules checks. Spec keys the
    documentation has no field for (``no_log``, ``fallback``...) the module adds itself."""
    return _argument_spec(yaml_load(documentation)["options"])


def _argument_spec(options: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    spec: dict[str, dict[str, Any]] = {}
    for name, doc in options.items():
        entry = {key: doc[key] for key in _SPEC_KEYS if key in doc}
        if "suboptions" in doc:
            entry["options"] = _argument_spec(doc["suboptions"])
        spec[name] = entry
    return spec


def check_endpoint(instance: Home, url: str | None) -> None:
    """``api_url`` must name this instance's own server (the only one modules reach yet)."""
    if not url:
        return
    config = instance.config()
    parsed = urllib.parse.urlsplit(url)
    local = {"localhost", "127.0.0.1", "::1", config.listen_address}
    if parsed.hostname not in local or (parsed.port or 80) != config.port:
        raise InvalidInput(
            f"api_url {url} is not the endpoint of the instance at {instance.home} "
            f"(http://{config.listen_address}:{config.port}); modules reach only that one "
            "for now: run the task on the other front-end, or leave api_url unset"
        )


class ModuleFailed(Exception):
    """A run that fails with a result to report (the VMs made so far, say): raised by
    :meth:`ModuleRun.fail`, turned into a failed result by :meth:`ModuleRun.outcome`."""

    def __init__(self, msg: str, result: dict[str, Any]):
        super().__init__(msg)
        self.msg = msg
        self.result = result


@dataclass(frozen=True)
class ModuleSpec:
    """A module's options and the rules between them, as AnsibleModule and
    ``ArgumentSpecValidator`` take them (the connection options are added here)."""

    argument_spec: dict[str, dict[str, Any]]
    mutually_exclusive: list[tuple[str, ...]] = field(default_factory=list)
    required_if: list[tuple[Any, ...]] = field(default_factory=list)
    required_one_of: list[tuple[str, ...]] = field(default_factory=list)
    required_by: dict[str, Any] = field(default_factory=dict)

    def validator_args(self) -> dict[str, Any]:
        return {
            "argument_spec": {**CONNECTION_ARGS, **self.argument_spec},
            "mutually_exclusive": self.mutually_exclusive,
            "required_together": [("api_username", "api_password")],
            "required_if": self.required_if,
            "required_one_of": self.required_one_of,
            "required_by": self.required_by,
        }


class ModuleRun:
    """What a module's logic sees of its task: the validated options, check and diff mode,
    the instance and a session (logged in on first use), and where warnings go."""

    def __init__(self, params: dict[str, Any], check_mode: bool, diff: bool):
        self.params = params
        self.check_mode = check_mode
        self.diff = diff
        self.warnings: list[str] = []
        self._session: Session | None = None

    @property
    def instance(self) -> Home:
        return Home.locate(self.params["onekit_home"])

    @property
    def session(self) -> Session:
        if self._session is None:
            instance = self.instance
            check_endpoint(instance, self.params["api_url"])
            self._session = instance.session(
                self.params["api_username"], self.params["api_password"]
            )
        return self._session

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def fail(self, msg: str, **result: Any) -> NoReturn:
        """End the run failed, reporting ``result`` with the message."""
        raise ModuleFailed(msg, result)

    def outcome(self, action) -> dict[str, Any]:
        """``action(self)``'s result; a core error or :meth:`fail` gives a failed result
        (``failed``, ``msg``, and for a core error its class as ``error``)."""
        try:
            return action(self)
        except ModuleFailed as failed:
            return {**failed.result, "failed": True, "msg": failed.msg}
        except OneError as err:
            return {"failed": True, "msg": str(err), "error": type(err).__name__}
        finally:
            if self._session is not None:
                self._session.db.close()
                self._session = None

    def result(self, changed: bool, before: Any, after: Any, **values: Any) -> dict[str, Any]:
        result: dict[str, Any] = {"changed": changed, **values}
        if self.diff:
            result["diff"] = {"before": before or {}, "after": after or {}}
        return result


class OnekitModule(ModuleRun):
    """A module's run in its own process, behind AnsibleModule (validation, no_log, the
    JSON answer)."""

    def __init__(self, argument_spec: dict[str, Any] | ModuleSpec, **kwargs: Any):
        spec = (
            argument_spec
            if isinstance(argument_spec, ModuleSpec)
            else ModuleSpec(argument_spec, **kwargs)
        )
        self.module = AnsibleModule(supports_check_mode=True, **spec.validator_args())
        super().__init__(self.module.params, self.module.check_mode, self.module._diff)

    def run(self, action) -> None:
        """Call ``action(self)`` and exit with what it returns (a result dict)."""
        result = self.outcome(action)
        for message in self.warnings:
            self.module.warn(message)
        if result.pop("failed", False):
            self.module.fail_json(**result)
        self.module.exit_json(**result)
