"""``OPENNEBULA_CONFIGURATION`` (opennebula_configuration.xsd): what ``one.system.config``
answers, from onekit's oned.conf as ``frontend.config`` reads it.

Only the settings onekit has and the schema knows are sent, in the schema's order: the
store's backend, the default umask, the federation, the driver sections, where and how
the core API listens, and the monitoring interval (onekit has one for hosts and VMs).
oned sends non-admins the configuration without the DB section and admins all of it;
onekit sends every caller the same document, whose DB section is the backend alone: the
store's credentials and address are never sent to anyone. onekit's own settings that
OpenNebula 7.3 lacks (ONEGATE_ENDPOINT, the hooks, SHUTDOWN_TIMEOUT, the monitoring
expirations) are left out: the schema has no place for them.
"""

from __future__ import annotations

from ansible_collections.onekit.cloud.plugins.module_utils.drivers.mads import MadConfig
from ansible_collections.onekit.cloud.plugins.module_utils.frontend.config import InstanceConfig
from onekit.server.rpc2.documents import element


def _mad(kind: str, mad: MadConfig) -> str:
    # xs:all: any order; the schema's IM_MAD has THREADS, its VM_MAD has not
    parts = element("NAME", mad.name) + element("ARGUMENTS", mad.arguments)
    if mad.executable:
        parts += element("EXECUTABLE", mad.executable)
    if kind == "IM_MAD":
        parts += element("THREADS", mad.threads)
    return f"<{kind}>{parts}</{kind}>"


def _federation(config: InstanceConfig) -> str:
    federation = config.federation
    parts = element("MODE", federation.mode) + element("ZONE_ID", federation.zone_id)
    if federation.master_oned:
        parts += element("MASTER_ONED", federation.master_oned)
    return f"<FEDERATION>{parts}</FEDERATION>"


def configuration(config: InstanceConfig) -> str:
    return (
        "<OPENNEBULA_CONFIGURATION>"
        + f"<DB>{element('BACKEND', config.db.backend)}</DB>"
        + element("DEFAULT_UMASK", config.default_umask)
        + _federation(config)
        + "".join(_mad("IM_MAD", m) for m in config.im_mads.values())
        + element("LISTEN_ADDRESS", config.listen_address)
        + element("MAX_CONN", config.max_conn)
        + element("MAX_CONN_BACKLOG", config.max_conn_backlog)
        + element("MONITORING_INTERVAL_HOST", config.monitoring_interval)
        + element("MONITORING_INTERVAL_VM", config.monitoring_interval)
        + element("PORT", config.port)
        + "".join(_mad("VM_MAD", m) for m in config.vm_mads.values())
        + "</OPENNEBULA_CONFIGURATION>"
    )
