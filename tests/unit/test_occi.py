"""The pure parts of OCCI: occi-server.conf, the state table, the hardened XML parser,
the templates' rendering of user text."""

from __future__ import annotations

import pytest

from ansible_collections.onekit.cloud.plugins.module_utils.core import safe_xml, template
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    ConfigError,
    InvalidInput,
)
from ansible_collections.onekit.cloud.plugins.module_utils.occi import config, states
from ansible_collections.onekit.cloud.plugins.module_utils.occi.errors import Forbidden
from ansible_collections.onekit.cloud.plugins.module_utils.occi.renderer import COMMON, Renderer

# 4.6's etc/occi-server.conf as shipped (the guide's 7.3.3)
SHIPPED = """\
# Directory to store temp files when uploading images
:tmpdir: /var/tmp
# OpenNebula sever contact information
:one_xmlrpc: http://localhost:2633/RPC2
# Host and port where OCCI server will run
:host: 127.0.0.1
:port: 4567
# SSL proxy that serves the API (set if is being used)
#:ssl_server: fqdm.of.the.server
:auth: occi
:core_auth: cipher
:debug_level: 3
#:cluster_id:
#:datastore_id:
:instance_types:
  :small:
    :template: small.erb
    :cpu: 1
    :memory: 1024
  :medium:
    :template: medium.erb
    :cpu: 4
    :memory: 4096
  :large:
    :template: large.erb
    :cpu: 8
    :memory: 8192
"""


def test_the_shipped_file_loads_unchanged():
    conf = config.parse(SHIPPED)
    assert (conf.host, conf.port, conf.auth, conf.datastore_id) == ("127.0.0.1", 4567, "occi", 1)
    assert [(t.name, t.template, t.cpu, t.memory) for t in conf.instance_types] == [
        ("small", "small.erb", 1, 1024),
        ("medium", "medium.erb", 4, 4096),
        ("large", "large.erb", 8, 8192),
    ]
    assert conf.base_url == "http://127.0.0.1:4567"
    proxied = config.parse(
        SHIPPED.replace("#:ssl_server: fqdm.of.the.server", ":ssl_server: https://c.example:8443/")
    )
    assert proxied.base_url == "https://c.example:8443"
    assert config.parse(":auth: x509\n").auth == "x509"  # for the TLS proxy's login
    assert config.parse(":server: cloud.example\n").host == "cloud.example"  # the guide's old name


# The guide's 7.3.3 example as printed: fenced, with the '#' of five comment lines lost
# ("  x509, for x509 ...") or printed as "\#". Its text also lost, at a page break, the
# indentation of the lines after ":template: medium.erb": restored here, as no reader of
# the guide would copy it otherwise.
AS_PRINTED = """\
```
# Server configuration
# Directory to store temp files when uploading images
:tmpdir: /var/tmp/one
# OpenNebula sever contact information
:one_xmlrpc: http://localhost:2633/RPC2
# Host and port where OCCI server will run
:host: 127.0.0.1
:port: 4567
# SSL proxy that serves the API (set if is being used)
#:ssl_server: fqdm.of.the.server
# Auth
# Authentication driver for incomming requests
# occi, for OpenNebula's user-password scheme
  x509, for x509 certificates based authentication
  opennebula, use the driver defined for the user in OpenNebula
:auth: occi
# Authentication driver to communicate with OpenNebula core
 cipher, for symmetric cipher encryption of tokens
 x509, for x509 certificate encryption of tokens
:core_auth: cipher
# Loa
# Log debug level
\\# 0 = ERROR, 1 = WARNING, 2 = INFO, 3 = DEBUG
:debug_level: 3
# Resources
# Cluster associated with the OCCI resources, by default no Cluster is defined
#:cluster_id:
# Datastore in which the Images uploaded through OCCI will be allocated, by default 1
#:datastore_id:
# VM types allowed and its template file (inside templates directory)
:instance_types:
 :small:
  :template: small.erb
  :cpu: 1
  :memory: 1024
 :medium:
  :template: medium.erb
```

```
  :cpu: 4
  :memory: 4096
 :large:
  :template: large.erb
  :cpu: 8
  :memory: 8192
```
"""


def test_the_guides_example_as_printed_loads():
    conf = config.parse(AS_PRINTED)
    assert (conf.host, conf.port, conf.auth, conf.tmpdir) == (
        "127.0.0.1",
        4567,
        "occi",
        "/var/tmp/one",
    )
    assert [(t.name, t.cpu, t.memory) for t in conf.instance_types] == [
        ("small", 1, 1024),
        ("medium", 4, 4096),
        ("large", 8, 8192),
    ]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (":prot: 1\n", ":prot: is not a setting"),
        (":port: http\n", ":port: must be an integer"),
        (":auth: ldap\n", ":auth: 'ldap' is not supported; use occi"),
        (":tmpdir: tmp\n", ":tmpdir: must be an absolute directory"),
        (":ssl_server: fqdm.of.the.server\n", ":ssl_server: must be the TLS proxy's URL"),
        (":host: a\n:server: b\n", ":server: is the old name of :host:"),
        (":instance_types:\n  :s:\n    :cpu: 1\n    :memory: 1\n", ":s: lacks :template:"),
        (
            ":instance_types:\n  :s:\n    :template: s.erb\n    :cpu: 0\n    :memory: 1\n",
            ":cpu: must be a number above 0",
        ),
        (
            ":instance_types:\n  :s:\n    :template: ../s.erb\n    :cpu: 1\n    :memory: 1\n",
            "must name a file of etc/occi_templates",
        ),
        (
            ":instance_types:\n  :s:\n    :template: s\n    :cpu: 1\n"
            "    :memory: 1\n    :disk: 2\n",
            "unknown key :disk:",
        ),
        (":auth: occi\n:instance_types: [small\n", "line 2: not YAML"),
    ],
)
def test_bad_settings_name_the_key_and_the_fix(text, needle):
    with pytest.raises(ConfigError) as err:
        config.parse(text)
    assert needle in str(err.value)


def test_the_state_table():
    assert states.action_for("ACTIVE", "stopped") == "stop"
    assert states.action_for("ACTIVE", "CANCEL") == "shutdown-hard"
    assert states.action_for("SUSPENDED", "RESUME") == "resume"
    assert states.action_for("FAILED", "RESUBMIT") == "delete-recreate"
    assert states.action_for("PENDING", "DONE") == "delete"
    assert states.action_for("ACTIVE", "ACTIVE") is None  # the document read, put back
    assert states.action_for("STOPPED", "STOPPED") is None
    with pytest.raises(Forbidden, match="from SUSPENDED to SHUTDOWN"):
        states.action_for("SUSPENDED", "SHUTDOWN")
    with pytest.raises(Forbidden):
        states.action_for("ACTIVE", "PENDING")  # a state, not an action
    with pytest.raises(InvalidInput, match='Invalid state: "FLYING"'):
        states.action_for("ACTIVE", "FLYING")


BOMB = '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><X>&b;</X>'


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (BOMB, "DOCTYPE"),
        ('<!DOCTYPE x SYSTEM "http://127.0.0.1:1/dtd"><X/>', "DOCTYPE"),
        ("<X>&undeclared;</X>", "undefined entity"),
        ("<X><Y></X>", "malformed XML at line 1"),
        ("<Y/>", "root element is <Y>: send <X>"),
        ("   ", "the body is empty"),
        ("<X>" + "a" * 100 + "</X>", "larger than 64 bytes"),
    ],
)
def test_the_parser_refuses(body, needle):
    with pytest.raises(safe_xml.XmlRefused) as err:
        safe_xml.parse(body, "X", limit=64 if "a" * 100 in body else safe_xml.DEFAULT_LIMIT)
    assert needle in str(err.value)


def test_user_values_are_data_in_the_templates(tmp_path):
    hostile = '{{ 7*7 }}" ]\nMEMORY = "1'
    text = Renderer(tmp_path).render_text(
        COMMON,
        "small.erb",
        name=hostile,
        disks=[{"image_id": 3}],
        nics=[{"network_id": 0, "ip": None}],
        context=[("hostname", hostile)],
        instance_type="small",
        type={},
        compute={},
    )
    tpl = template.parse(text)
    assert tpl["NAME"] == hostile and tpl["CONTEXT"]["HOSTNAME"] == hostile
    assert tpl["MEMORY"] == "1024" and tpl["DISK"] == {"IMAGE_ID": "3"}
    with pytest.raises(InvalidInput, match="cannot be an attribute name"):
        Renderer(tmp_path).render_text(
            COMMON, name=None, disks=[], nics=[], context=[("a b", "x")], instance_type="s"
        )


def test_an_instance_templates_file_comes_first(tmp_path):
    (tmp_path / "small.j2").write_text("CPU = 0.5\nMEMORY = {{ compute.MEMORY }}\n")
    tpl = Renderer(tmp_path).render("small.erb", compute={"MEMORY": "64"})
    assert tpl == {"CPU": "0.5", "MEMORY": "64"}
    conf = config.parse(
        ":instance_types:\n  :x:\n    :template: x.erb\n    :cpu: 1\n    :memory: 1\n"
    )
    with pytest.raises(ConfigError, match=r"no template x\.j2"):
        Renderer(tmp_path).check(conf)
