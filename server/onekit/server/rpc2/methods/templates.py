"""``one.template.*`` and ``one.templatepool.info``."""

from __future__ import annotations

from ansible_collections.onekit.cloud.plugins.module_utils.core import schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.objects import pool_filters
from ansible_collections.onekit.cloud.plugins.module_utils.objects.pool_filters import PoolFilter
from ansible_collections.onekit.cloud.plugins.module_utils.vm import templates
from onekit.server.rpc2.documents import templates as documents
from onekit.server.rpc2.methods import owned
from onekit.server.rpc2.methods.registry import Bool, Int, Str, method, pool_filter_params


@method("one.template.allocate", Str("template"))
def allocate(session: Session, text: str) -> int:
    return templates.create(session, text)["ID"]


@method("one.template.info", Int("id"), Bool("extended", False), Bool("decrypt", False))
def info(session: Session, template_id: int, *_flags: bool) -> str:
    return documents.vm_template(templates.show(session, template_id))


@method("one.template.update", Int("id"), Str("template"), Int("append", 0))
def update(session: Session, template_id: int, text: str, append: int) -> int:
    templates.update(session, template_id, text, append=bool(append))
    return template_id


@method("one.template.delete", Int("id"), Bool("recursive", False))
def delete(session: Session, template_id: int, _recursive: bool) -> int:
    templates.delete(session, template_id)
    return template_id


@method(
    "one.template.instantiate", Int("id"), Str("name", ""), Bool("hold", False),
    Str("template", ""), Bool("persistent", False),
)  # fmt: skip
def instantiate(
    session: Session, template_id: int, name: str, hold: bool, extra: str, _persistent: bool
) -> int:
    made = templates.instantiate(
        session, template_id, name=name or None, hold=hold, extra=extra or None
    )
    return made[0]["ID"]


@method("one.template.clone", Int("id"), Str("name"), Bool("recursive", False))
def clone(session: Session, template_id: int, name: str, _recursive: bool) -> int:
    return templates.clone(session, template_id, name)["ID"]


@method("one.template.chown", *owned.CHOWN_PARAMS)
def chown(session: Session, template_id: int, uid: int, gid: int) -> int:
    return owned.chown(session, schema.TEMPLATES, template_id, uid, gid)


@method("one.template.chmod", *owned.CHMOD_PARAMS, Bool("recursive", False))
def chmod(session: Session, template_id: int, *bits_and_recursive: int) -> int:
    return owned.chmod(session, schema.TEMPLATES, template_id, *bits_and_recursive[:9])


@method("one.templatepool.info", *pool_filter_params())
def pool_info(session: Session, whose: int, start: int, end: int) -> str:
    flt = PoolFilter(whose, start, end)
    return documents.template_pool(pool_filters.list_filtered(session, schema.TEMPLATES, flt))
