"""One EC2 request as an action sees it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

from ansible_collections.onekit.cloud.plugins.module_utils.core.session import Session
from ansible_collections.onekit.cloud.plugins.module_utils.econe.config import EconeConfig
from ansible_collections.onekit.cloud.plugins.module_utils.econe.params import Params


@dataclass
class Call:
    session: Session  # the signer's: every right checked is theirs
    params: Params
    config: EconeConfig
    action: str
    upload: BinaryIO | None = None  # UploadImage's file, spooled and seekable
    upload_name: str | None = None  # its file name, as the client sent it
