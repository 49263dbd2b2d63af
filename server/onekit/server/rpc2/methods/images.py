"""``one.image.*`` and ``one.imagepool.info``.

onekit has one image datastore, id 1 (``objects.datastores``, OpenNebula's default image
datastore's id): ``one.image.allocate`` and ``one.image.clone`` name it or are refused.
Locks, snapshots, backups (restore) and a change of TYPE are operations onekit's images
do not have: those methods answer that onekit does not support them.
"""

from __future__ import annotations

from ansible_collections.onekit.cloud.plugins.module_utils import objects
from ansible_collections.onekit.cloud.plugins.module_utils.core import schema
from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.objects import images, pool_filters
from ansible_collections.onekit.cloud.plugins.module_utils.objects.pool_filters import PoolFilter
from onekit.server.rpc2.documents import images as documents
from onekit.server.rpc2.methods import owned
from onekit.server.rpc2.methods.registry import Bool, Int, Str, method, pool_filter_params


@method(
    "one.image.allocate", Str("template"), Int("datastore id"), Bool("no capacity check", False)
)
def allocate(session: Session, text: str, datastore_id: int, _no_check: bool) -> int:
    return images.create(session, text, datastore_id)["ID"]


@method("one.image.info", Int("id"), Bool("decrypt", False))
def info(session: Session, image_id: int, _decrypt: bool) -> str:
    return documents.image(objects.show(session, schema.IMAGES, image_id))


@method("one.image.update", Int("id"), Str("template"), Int("append", 0))
def update(session: Session, image_id: int, text: str, append: int) -> int:
    images.update(session, image_id, text, append=bool(append))
    return image_id


@method("one.image.delete", Int("id"), Bool("force", False))
def delete(session: Session, image_id: int, _force: bool) -> int:
    images.delete(session, image_id)
    return image_id


@method("one.image.rename", Int("id"), Str("name"))
def rename(session: Session, image_id: int, name: str) -> int:
    objects.rename(session, schema.IMAGES, image_id, name)
    return image_id


@method("one.image.clone", Int("id"), Str("name"), Int("datastore id", -1))
def clone(session: Session, image_id: int, name: str, datastore_id: int) -> int:
    where = None if datastore_id < 0 else datastore_id
    return images.clone(session, image_id, name, datastore=where)["ID"]


@method("one.image.enable", Int("id"), Bool("enable"))
def enable(session: Session, image_id: int, enabled: bool) -> int:
    images.enable(session, image_id, enabled)
    return image_id


@method("one.image.persistent", Int("id"), Bool("persistent"))
def persistent(session: Session, image_id: int, wanted: bool) -> int:
    images.set_persistent(session, image_id, wanted)
    return image_id


@method("one.image.chown", *owned.CHOWN_PARAMS)
def chown(session: Session, image_id: int, uid: int, gid: int) -> int:
    return owned.chown(session, schema.IMAGES, image_id, uid, gid)


@method("one.image.chmod", *owned.CHMOD_PARAMS)
def chmod(session: Session, image_id: int, *bits: int) -> int:
    return owned.chmod(session, schema.IMAGES, image_id, *bits)


@method("one.imagepool.info", *pool_filter_params())
def pool_info(session: Session, whose: int, start: int, end: int) -> str:
    """(one_image and one_image_info send a fourth parameter: ignored, as by oned.)"""
    flt = PoolFilter(whose, start, end)
    return documents.image_pool(pool_filters.list_filtered(session, schema.IMAGES, flt))
