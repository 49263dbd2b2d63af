"""``one.datastore.info`` and ``one.datastorepool.info``: the system datastore 0 and the
image datastore 1 (``objects.datastores``)."""

from __future__ import annotations

from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.objects import datastores
from onekit.server.rpc2.documents import datastores as documents
from onekit.server.rpc2.methods.registry import Bool, Int, method


@method("one.datastore.info", Int("id"), Bool("decrypt", False))
def info(session: Session, datastore_id: int, _decrypt: bool) -> str:
    return documents.datastore(datastores.show(session, datastore_id))


@method("one.datastorepool.info")
def pool_info(session: Session) -> str:
    return documents.datastore_pool(datastores.list_datastores(session))
