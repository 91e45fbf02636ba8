"""Plain data classes the client returns, so callers never handle protobuf messages."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Identity:
    """kind: personnummer, email, phone or external_id (with system)."""

    kind: str
    value: str
    system: str = ""


@dataclass(frozen=True)
class Subject:
    name: str
    identities: list[Identity]
    roles: list[str]
    protected_identity: bool
    state: str
    create_time: dt.datetime
    update_time: dt.datetime


@dataclass(frozen=True)
class Content:
    data: bytes
    media_type: str = "application/octet-stream"
    filename: str = ""


@dataclass(frozen=True)
class Record:
    name: str
    category: str
    purpose: str
    legal_basis: str
    source_system: str
    fields: dict[str, Any] = field(default_factory=dict)
    content: Content | None = None
    create_time: dt.datetime | None = None
    update_time: dt.datetime | None = None


@dataclass(frozen=True)
class ErasureReceipt:
    subject: str
    erase_time: dt.datetime
    categories: list[str]
    keys_destroyed: int
    records_shredded: int
    identities_removed: int


@dataclass(frozen=True)
class ExportSummary:
    records: int
    bytes_written: int
