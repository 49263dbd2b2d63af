"""The base of every onekit module (the role AnsibleAWSModule plays in amazon.aws).

It adds the connection options of the ``onekit.cloud.connection`` doc fragment, logs in
lazily, turns core errors into ``fail_json`` with the core's message, and builds the
result with ``diff`` when Ansible asks for one.

A module may take its argument spec from its own DOCUMENTATION
(:func:`documented_argument_spec`), so its options are written once.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

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


class OnekitModule:
    def __init__(self, argument_spec: dict[str, Any], **kwargs: Any):
        self.module = AnsibleModule(
            argument_spec={**CONNECTION_ARGS, **argument_spec},
            supports_check_mode=True,
            required_together=[("api_username", "api_password")],
            **kwargs,
        )
        self.params = self.module.params
        self._session: Session | None = None

    @property
    def check_mode(self) -> bool:
        return self.module.check_mode

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

    def run(self, action) -> None:
        """Call ``action(self)`` and exit with what it returns (a result dict)."""
        try:
            result = action(self)
        except OneError as err:
            self.module.fail_json(msg=str(err), error=type(err).__name__)
        finally:
            if self._session is not None:
                self._session.db.close()
        self.module.exit_json(**result)

    def result(self, changed: bool, before: Any, after: Any, **values: Any) -> dict[str, Any]:
        result: dict[str, Any] = {"changed": changed, **values}
        if self.module._diff:
            result["diff"] = {"before": before or {}, "after": after or {}}
        return result
