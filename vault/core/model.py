"""The vault's domain objects."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import Any

from vault.core.identities import Identity


class LegalBasis(enum.Enum):
    """GDPR article 6(1) bases."""

    CONSENT = "consent"
    CONTRACT = "contract"
    LEGAL_OBLIGATION = "legal_obligation"
    VITAL_INTERESTS = "vital_interests"
    PUBLIC_TASK = "public_task"
    LEGITIMATE_INTEREST = "legitimate_interest"


# Sweden's supervisory authority (GDPR art. 51), whom a person may complain to.
SWEDISH_SUPERVISORY_AUTHORITY = "Integritetsskyddsmyndigheten (IMY), www.imy.se"


@dataclass(frozen=True)
class Controller:
    """Who "we" are to the person the data is about (GDPR art. 4(7)): the
    organisation, where to send a request about their rights, and the authority
    they may complain to. An empty name means none is configured."""

    name: str = ""
    contact: str = ""
    supervisory_authority: str = SWEDISH_SUPERVISORY_AUTHORITY


class SubjectState(enum.Enum):
    ACTIVE = "active"
    ERASURE_PENDING = "erasure_pending"
    ERASED = "erased"


@dataclass(frozen=True)
class Subject:
    subject_id: str
    identities: tuple[Identity, ...]
    roles: tuple[str, ...]
    protected_identity: bool
    state: SubjectState
    created_at: dt.datetime
    updated_at: dt.datetime
    # True when the caller may not see who this is (vault.core.access): the
    # identities' values are empty and the roles left out.
    masked: bool = False


@dataclass(frozen=True)
class Content:
    """Binary content of a record, such as a photo."""

    data: bytes
    media_type: str = "application/octet-stream"
    filename: str = ""


@dataclass(frozen=True)
class RecordDraft:
    """What a client asks to store; the vault adds id and times."""

    category: str
    purpose: str
    legal_basis: LegalBasis
    source_system: str
    fields: dict[str, Any] = field(default_factory=dict)
    content: Content | None = None


@dataclass(frozen=True)
class Record:
    record_id: str
    subject_id: str
    category: str
    purpose: str
    legal_basis: LegalBasis
    source_system: str
    fields: dict[str, Any]
    content: Content | None
    created_at: dt.datetime
    updated_at: dt.datetime
    # True when the caller may not read the record's data (vault.core.access):
    # no fields, content without bytes.
    masked: bool = False


@dataclass(frozen=True)
class ErasureReceipt:
    subject_id: str
    erased_at: dt.datetime
    categories: tuple[str, ...]
    keys_destroyed: int
    records_shredded: int
    identities_removed: int


@dataclass(frozen=True)
class CategoryErasure:
    """What erasing a category (or one purpose of it) did."""

    subject_id: str
    category: str
    records_shredded: int
    erased_at: dt.datetime
    # The purposes whose keys were erased: the one asked for, or every one the
    # category had a key for.
    purposes: tuple[str, ...] = ()
    keys_destroyed: int = 0


@dataclass(frozen=True)
class Page:
    records: list[Record]
    next_page_token: str
