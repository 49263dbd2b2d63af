"""OneGate's pure parts: the guide's onegate-server.conf, tokens, PUT bodies."""

from __future__ import annotations

import pytest

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    AuthorizationError,
    ConfigError,
    InvalidInput,
)
from ansible_collections.onekit.cloud.plugins.module_utils.gate import (
    config as gate_config,
)
from ansible_collections.onekit.cloud.plugins.module_utils.gate import (
    tokens as gate,
)

# the guide's default file (§6.2.2) as printed, '#' lost on three comment lines
GUIDE_FILE = """\
# Server Configuration
# OpenNebula sever contact information
:one_xmlrpc: http://localhost:2633/RPC2
# Server Configuration
:host: 127.0.0.1
:port: 5030
# Log debug level
 0 = ERROR, 1 = WARNING, 2 = INFO, 3 = DEBUG
:debug_level: 3
# Auth
# Authentication driver for incomming requests
 onegate, based on token provided in the context
:auth: onegate
# Authentication driver to communicate with OpenNebula core
 cipher, for symmetric cipher encryption of tokens
 x509, for x509 certificate encryption of tokens
:core_auth: cipher
"""


def test_the_guides_default_file_loads_unchanged():
    config = gate_config.parse(GUIDE_FILE)
    assert (config.host, config.port, config.debug_level) == ("127.0.0.1", 5030, 3)
    assert config.url == "http://127.0.0.1:5030"
    assert gate_config.parse(gate_config.render(config)) == config


@pytest.mark.parametrize(
    ("line", "message"),
    [(":port: 0", "line 1"), (":auth: basic", "must be onegate"), (":debug_level: 9", "0")],
)
def test_bad_settings_name_the_line(line, message):
    with pytest.raises(ConfigError, match=message):
        gate_config.parse(line + "\n")


def vm(vm_id: int, nonce: str = "ab" * 16) -> dict:
    return {"ID": vm_id, gate.NONCE: nonce}


def test_a_token_is_bound_to_its_vm_and_secret():
    secret = b"s" * 64
    token = gate.token(secret, vm(3))
    assert token == gate.token(secret, vm(3))  # the guest can be given it again
    assert token != gate.token(secret, vm(4))
    assert token != gate.token(b"t" * 64, vm(3))
    assert token != gate.token(secret, vm(3, "cd" * 16))
    assert len(token) >= 40


def test_only_a_context_with_token_yes_gets_one():
    fields = {"TEMPLATE": {"CONTEXT": {"TOKEN": "yes"}}}
    gate.issue(7, fields, "http://10.0.0.1:5030")
    assert fields["TEMPLATE"]["CONTEXT"]["ONEGATE_URL"] == "http://10.0.0.1:5030/vm/7"
    assert len(fields[gate.NONCE]) == 32
    plain = {"TEMPLATE": {"CONTEXT": {"A": "1"}}}
    gate.issue(8, plain, "http://10.0.0.1:5030")
    assert gate.NONCE not in plain and "ONEGATE_URL" not in plain["TEMPLATE"]["CONTEXT"]


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        (b"", InvalidInput, "sets no attribute"),
        (b"A = [", InvalidInput, "line 1"),
        (b"\xff\xfe", InvalidInput, "UTF-8"),
        (b'SCHED_REQUIREMENTS = "x"\nRAW = [ DATA = "y" ]', AuthorizationError, "RAW"),
    ],
)
def test_bad_bodies_are_refused(body, error, message):
    with pytest.raises(error, match=message):
        gate.parse_body(body)


def test_a_body_is_template_text():
    assert gate.parse_body(b"MEM_USED_PERC = 41.2\nDISK = [ SDA = 3 ]") == {
        "MEM_USED_PERC": "41.2",
        "DISK": {"SDA": "3"},
    }


# ---- fuzz: whatever a guest sends, the parser answers with a result or a clean 4xx -------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FUZZED = {"inputs": 0}
_TEMPLATE_ALPHABET = st.sampled_from(list("ABCXYZ_019 =[],\"'\\\n\t#.-é"))


@settings(max_examples=1500, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=200),
        st.text(_TEMPLATE_ALPHABET, max_size=120).map(str.encode),
    )
)
def test_fuzzed_bodies_parse_or_are_refused_cleanly(body):
    FUZZED["inputs"] += 1
    try:
        parsed = gate.parse_body(body)
    except (InvalidInput, AuthorizationError) as err:
        assert str(err)  # a message a guest can read
        return
    assert isinstance(parsed, dict) and parsed
    assert all(isinstance(k, str) and k == k.upper() for k in parsed)
