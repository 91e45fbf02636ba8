"""Plain data classes the client returns, so callers never handle protobuf messages."""

from __future__ import annotations

import datetime as dt
import hashlib
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
    # True when the caller may not see who this is (a protected identity):
    # identities carry their kind and system with an empty value, no roles.
    masked: bool = False


@dataclass(frozen=True)
class Content:
    """A record's file. Reads return its bytes; answers to writes
    (create_record, update_record) leave `data` empty and say what was stored
    in `size` and `sha256` (lower-case hex). Made by a caller, `size` and
    `sha256` follow from `data`."""

    data: bytes
    media_type: str = "application/octet-stream"
    filename: str = ""
    size: int = -1
    sha256: str = ""

    def __post_init__(self) -> None:
        if self.size < 0:
            object.__setattr__(self, "size", len(self.data))
        if not self.sha256:
            object.__setattr__(self, "sha256", hashlib.sha256(self.data).hexdigest())

    @property
    def has_data(self) -> bool:
        """False for a write's answer: the size and digest without the bytes."""
        return len(self.data) == self.size


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
    # True when the caller may not read this record's data (a protected
    # identity's record another system wrote): no fields, content without bytes.
    masked: bool = False


@dataclass(frozen=True)
class NewSubject:
    """A person to register with `VaultClient.import_subjects`, with their
    records (whose `name` and times are left empty)."""

    identities: list[Identity]
    roles: list[str] = field(default_factory=list)
    protected_identity: bool = False
    records: list[Record] = field(default_factory=list)


@dataclass(frozen=True)
class ImportSummary:
    """What `VaultClient.import_subjects` stored: the new subjects' names, in
    the order the people were given, and how many records they hold."""

    subjects: list[str]
    record_count: int

    @property
    def subject_count(self) -> int:
        return len(self.subjects)


@dataclass(frozen=True)
class CategoryErasure:
    """What `VaultClient.erase_category` erased: the purposes whose keys went
    (the one asked for, or every one the category had), and how many records
    and keys."""

    category: str
    purposes: list[str]
    records_shredded: int
    keys_destroyed: int
    erase_time: dt.datetime


@dataclass(frozen=True)
class ErasureItem:
    """outcome: removed, retained, manual_action or no_match (nobody found by
    `tried_kinds`). `retained_until` is the last day the item is kept."""

    outcome: str
    category: str
    description: str
    legal_reason: str = ""
    retained_until: dt.date | None = None
    manual_action: str = ""
    instructions: str = ""
    confirmed_by: str = ""
    tried_kinds: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ErasureStep:
    """state: pending, running, retrying, succeeded, needs_attention or not_applicable.

    `conflict` lists why the records the system found may be someone else's (the
    step waits for `decide_match`); `decision` is then same_person or
    not_this_person, by `decided_by`."""

    system: str
    state: str
    attempts: int
    last_error: str
    items: list[ErasureItem]
    conflict: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    decision: str = ""
    decided_by: str = ""


@dataclass(frozen=True)
class ErasureRequest:
    """state: pending, in_progress, partially_completed, awaiting_manual_action or completed."""

    name: str
    subject: str
    state: str
    create_time: dt.datetime
    deadline_time: dt.datetime
    steps: list[ErasureStep]
    # subject (the whole person) or purpose (what is held for `purpose`, after
    # the person withdrew the consent it rested on).
    scope: str = "subject"
    purpose: str = ""

    @property
    def done(self) -> bool:
        return self.state in ("completed", "partially_completed", "awaiting_manual_action")

    def step(self, system: str) -> ErasureStep:
        return next(s for s in self.steps if s.system == system)


@dataclass(frozen=True)
class HeldCategory:
    category: str
    description: str
    purpose: str
    legal_basis: str
    retention: str
    erasable: bool
    legal_reason: str


@dataclass(frozen=True)
class ConnectorInfo:
    name: str
    version: str
    enabled: bool
    healthy: bool
    health_detail: str
    description: str
    location: str
    holdings: list[HeldCategory]
    # What it can do beyond find, export and erase, as it declares it:
    # "withdraw_consent" (it is told of a withdrawal; else a person is asked).
    capabilities: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ExportSummary:
    records: int
    bytes_written: int
    # system -> "done", "failed: why", "withheld: why" (records that may be someone
    # else's, left out) or "no match (searched by ...)"
    systems: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Token:
    """An API token as listed: never its secret. role: integrator,
    privacy_officer, auditor or admin; `system` an integrator's source system.
    The times are None when unset: it never expires, is not revoked, was
    never used."""

    name: str
    display_name: str
    role: str
    system: str
    create_time: dt.datetime
    expire_time: dt.datetime | None
    revoke_time: dt.datetime | None
    last_use_time: dt.datetime | None
    # An integrator's purpose for the reads that name none ("": none).
    default_purpose: str = ""


@dataclass(frozen=True)
class IssuedToken:
    """A token just issued, with its secret: shown in this answer only."""

    token: Token
    secret: str = field(repr=False)


@dataclass(frozen=True)
class AuditEvent:
    """One audit event: who did what to whose data, when, and how it ended.
    A person is named only by `subject_pseudonym` ("" for no one); `result`
    is "ok" or the error reason the caller was answered with. `index` is the
    event's place in the log, None until the sequencer gives it one (within
    seconds); `entry` is the event exactly as the log holds it, the bytes its
    Merkle leaf covers after the index."""

    index: int | None
    time: dt.datetime
    actor: str
    role: str
    system: str
    operation: str
    subject_pseudonym: str
    purpose: str
    sensitive: bool
    result: str
    detail: str
    entry: bytes = field(repr=False)


@dataclass(frozen=True)
class TreeHead:
    """The log had `size` events with RFC 9162 root `root_hash` at `time`,
    signed (Ed25519) by the vault's audit key."""

    size: int
    root_hash: bytes
    time: dt.datetime
    signature: bytes


@dataclass(frozen=True)
class TreeHeadWithKey:
    """A signed tree head and the key that verifies it: raw (32 bytes) and as
    PEM, for OpenSSL."""

    head: TreeHead
    public_key: bytes
    public_key_pem: str


@dataclass(frozen=True)
class InclusionProof:
    """The event at an index, the signed head it is proved in, its leaf hash
    and the RFC 9162 audit path from the leaf up."""

    event: AuditEvent
    head: TreeHead
    leaf_hash: bytes
    audit_path: list[bytes]


@dataclass(frozen=True)
class ConsistencyProof:
    """Two signed heads and the RFC 9162 proof that the first's tree is a
    prefix of the second's."""

    first: TreeHead
    second: TreeHead
    proof: list[bytes]


@dataclass(frozen=True)
class ConsentEvent:
    """One event of a person's consent history. status: given, refused,
    withdrawn or renewed; channel: web_form, email, in_person, phone,
    paper_form, sms or other. `time` is when the person said it,
    `record_time` when the vault recorded it; `policy_version` the version
    they were shown ("" when none was published); `recorded_by` the caller
    who recorded it, `source_system` its system ("" for the privacy officer);
    `expire_time` None: until withdrawn."""

    name: str
    purpose: str
    status: str
    time: dt.datetime
    record_time: dt.datetime
    policy_version: str
    channel: str
    evidence: str
    recorded_by: str
    source_system: str = ""
    expire_time: dt.datetime | None = None


@dataclass(frozen=True)
class RecordedConsent:
    """What recording consent did: the events, one per purpose, and for each
    purpose whose consent stood and no longer does, the erasure request
    (`erasureRequests/{request}`) that shreds what is held for it in the
    vault (already done) and tells the systems that hold data for it."""

    events: list[ConsentEvent]
    erasure_requests: list[str]


@dataclass(frozen=True)
class PurposeConsent:
    """A person's consent for one purpose as it stands now. standing:
    not_asked, given, renewed, refused, withdrawn, expired or
    reconsent_needed (then `changed_by_version` names the policy version
    that changed the purpose materially); `latest` is the event it rests on,
    None when not asked."""

    purpose: str
    standing: str
    latest: ConsentEvent | None = None
    changed_by_version: str = ""


@dataclass(frozen=True)
class ConsentExport:
    """A person's consent records as one JSON-LD document (the W3C DPV
    profile of ISO/IEC TS 27560), one record per event."""

    document: bytes = field(repr=False)
    media_type: str
    record_count: int


@dataclass(frozen=True)
class Purpose:
    """A purpose the vault processes for. `description` is by language tag
    ("sv", "en"); `legal_basis` as records name it (consent, contract, ...);
    `special_category_condition` the letter of GDPR art. 9(2), "" for none;
    `compatible_purposes` those its data may also serve (art. 6(4))."""

    name: str
    description: dict[str, str]
    legal_basis: str
    categories: list[str]
    systems: list[str]
    compatible_purposes: list[str] = field(default_factory=list)
    special_category_condition: str = ""
    material_changes: bool = True
    # Marketing addressed to the person: an objection to it is absolute.
    direct_marketing: bool = False


@dataclass(frozen=True)
class PolicyVersion:
    """A published version of the privacy policy, which never changes; it
    takes effect on `effective_date`. `material_purposes` are those of
    `changed_purposes` it changed materially: a consent given for one of them
    under an older version must be given again."""

    version: str
    effective_date: dt.date
    publish_time: dt.datetime
    published_by: str
    text_sha256: str
    url: str = ""
    text: str = ""
    changed_purposes: list[str] = field(default_factory=list)
    material_purposes: list[str] = field(default_factory=list)
    summary: str = ""


@dataclass(frozen=True)
class ReconsentNeeded:
    """A person (`subjects/{subject}`) who must consent again for `purpose`:
    they gave it under `given_under_version` ("" for none) at `consent_time`,
    and `changed_by_version`, in effect now, changed the purpose materially."""

    subject: str
    purpose: str
    given_under_version: str
    changed_by_version: str
    consent_time: dt.datetime
