"""The storage interfaces the core is written against, and the rows they carry.

Rows hold ciphertext and metadata only; personal data never reaches storage
in plaintext. The key store and the record store are separate databases, so a
copy of the records alone is useless.

The interfaces speak datetimes and the core's own enums. An engine stores what
it is given and enforces nothing of the domain: every state, every value to
blank, is decided by the core and passed in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from vault.core.audit.store import AuditEntry, AuditStore, AuditWrites
from vault.core.consent.store import ConsentStore, ConsentWrites
from vault.core.identities import IdentityKind
from vault.core.model import LegalBasis, SubjectState
from vault.core.steps.store import StepStore, StepWrites


@dataclass(frozen=True)
class SubjectRow:
    subject_id: str
    state: SubjectState
    # The roles, sealed under the subject's keys (vault.core.sealing); None when
    # the subject holds none: erased, or stored without roles by an earlier release.
    sealed_roles: bytes | None
    protected_identity: bool
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class ClearRoles:
    """A subject's roles as an earlier release stored them, in the clear, until
    the upgrade (vault.core.upgrades.sealed_roles) seals them and blanks these."""

    subject_id: str
    state: SubjectState
    roles: tuple[str, ...]


@dataclass(frozen=True)
class IdentityRow:
    blind_index: str
    subject_id: str
    kind: IdentityKind
    sealed_value: bytes
    # The keyring version whose index key computed `blind_index`: a re-index
    # moves every row to the current version, so that an older one can retire.
    index_version: int = 1


@dataclass(frozen=True)
class RecordRow:
    record_id: str
    subject_id: str
    category: str
    purpose: str
    legal_basis: LegalBasis
    source_system: str
    key_id: str
    sealed_payload: bytes
    sealed_content: bytes | None
    created_at: dt.datetime
    updated_at: dt.datetime
    # The record's place in its subject's list, assigned by the store; never reused.
    seq: int = 0
    # Filled in by `RecordRowReads.record`, so one read tells whether the subject may be read.
    subject_state: SubjectState | None = None


@dataclass(frozen=True)
class RememberedRequest:
    """A mutating request already applied, kept so a retry returns the same answer.

    Clients put names in request ids (`erase-anna`), so the id is never stored:
    `request_hash` is a keyed hash of it under the index key of keyring version
    `key_version` (vault.core.replay), as is `fingerprint`, what it asked for.
    """

    request_hash: str
    # None: `request_hash` is the request id itself, as an earlier release kept
    # it, until the upgrade (vault.core.upgrades.hashed_requests) hashes it.
    key_version: int | None
    operation: str
    fingerprint: str
    subject_id: str
    result: str
    # When it was remembered; it is forgotten a configured time later. None
    # only for an earlier release's row, until the upgrade dates it.
    remembered_at: dt.datetime | None


@dataclass(frozen=True)
class NewRecord:
    """A record to store, the request to remember with it (AIP-155), and the
    audit event of its creation, written with the record if it is stored, and
    only then (the grouped append fails closed as a transaction does)."""

    row: RecordRow
    request: RememberedRequest | None = None
    audit: AuditEntry | None = None


@dataclass(frozen=True)
class AppendOutcome:
    """What became of a `NewRecord`: stored only if its subject was in the
    state the core asked for when the write ran and its request id was not taken."""

    subject_state: SubjectState | None  # None: no such subject
    stored: bool
    request_taken: bool = False


# ------------------------------------------------------------- aggregates --
# Each aggregate has its reads, available outside and inside a write
# transaction, and its writes, only inside one (`Transaction`).


class SubjectReads(Protocol):
    """Subjects and their blind-indexed identities."""

    def subject(self, subject_id: str) -> SubjectRow | None: ...
    def subject_state(self, subject_id: str) -> SubjectState | None:
        """Only the subject's state, for the checks on every record write."""
        ...

    def subject_ids_in_state(self, state: SubjectState) -> list[str]: ...
    def subjects_with_clear_roles(self, limit: int) -> list[ClearRoles]:
        """Up to `limit` subjects whose roles an earlier release stored in the
        clear (none left once upgraded: one cheap query, through an index)."""
        ...

    def subject_id_by_index(self, blind_index: str) -> str | None: ...
    def identities(self, subject_id: str) -> list[IdentityRow]:
        """The subject's identities, in the order they were added."""
        ...

    def identities_not_under(self, index_version: int, after: str, limit: int) -> list[IdentityRow]:
        """Up to `limit` identities whose index version is not `index_version`,
        with blind indexes after `after`, in the order of their blind indexes
        (a re-index walks them, a page at a time)."""
        ...

    def index_versions(self) -> dict[int, int]:
        """How many identities each index version holds (those holding none left out)."""
        ...


class SubjectWrites(SubjectReads, Protocol):
    def insert_subject(self, row: SubjectRow) -> None: ...
    def update_subject(
        self, subject_id: str, sealed_roles: bytes | None, protected: bool, at: dt.datetime
    ) -> None: ...
    def seal_clear_roles(
        self, subject_id: str, roles: tuple[str, ...], sealed_roles: bytes | None
    ) -> bool:
        """Store `sealed_roles` and blank the roles kept in the clear, only if
        there are some and they are still `roles` (so a concurrent upgrade or
        update wins); False if not."""
        ...

    def touch_subject(self, subject_id: str, at: dt.datetime) -> None: ...
    def set_subject_state(self, subject_id: str, state: SubjectState, at: dt.datetime) -> None:
        """Only the state and the time: what else changes with it the core writes itself."""
        ...

    def insert_identity(self, row: IdentityRow) -> bool:
        """False if the blind index is already taken."""
        ...

    def delete_identity(self, blind_index: str) -> None: ...
    def delete_identity_of(self, subject_id: str, blind_index: str) -> bool:
        """Delete the identity at `blind_index` only if it is `subject_id`'s
        (another subject may hold that blind index by now); False if not."""
        ...

    def reindex_identity(self, old_blind_index: str, row: IdentityRow) -> bool:
        """Replace the identity at `old_blind_index` with `row` (the same identity
        under another index version), keeping its place among its subject's
        identities; False if no identity is at `old_blind_index` any more (it
        was removed meanwhile) or another holds `row.blind_index`."""
        ...

    def delete_identities(self, subject_id: str) -> int: ...


class RecordRowReads(Protocol):
    """Sealed records, and their counts by subject and category."""

    def record(self, record_id: str) -> RecordRow | None:
        """The record, with its subject's state in `subject_state`."""
        ...

    def records_page(
        self, subject_id: str, category: str | None, after_seq: int, limit: int
    ) -> list[RecordRow]:
        """Up to `limit` of the subject's records (of `category`, if given) after
        `after_seq`, in the order they were stored; `subject_state` is not filled in."""
        ...

    def count_records(self, subject_id: str, category: str | None = None) -> int:
        """How many records the subject has (of `category`), without reading them."""
        ...

    def categories(self, subject_id: str) -> list[str]:
        """The categories the subject has records in, sorted."""
        ...

    def purpose_counts(self, subject_id: str, category: str, key_id: str) -> dict[str, int]:
        """How many of the subject's records of `category` sealed under `key_id`
        each purpose has (purposes with none left out)."""
        ...

    def purpose_usage(self) -> list[tuple[str, LegalBasis, str, int]]:
        """Every (purpose, legal basis, source system) the records use, with
        how many records; sorted, by purpose first."""
        ...

    def records_using(
        self,
        purpose: str,
        legal_basis: LegalBasis,
        source_system: str,
        after_record_id: str = "",
        limit: int = 100,
    ) -> list[tuple[str, str]]:
        """(subject id, record id) of the records with that purpose, basis and
        source system, by record id after `after_record_id`."""
        ...

    def purpose_holders(
        self, purpose: str, after_subject: str = "", limit: int = 100
    ) -> list[tuple[str, bool]]:
        """(subject id, protected identity) of the active subjects that have a
        record held for `purpose`, each once, by subject id after `after_subject`."""
        ...


class RecordRowWrites(RecordRowReads, Protocol):
    def insert_records(self, rows: list[RecordRow]) -> None: ...
    def update_record(self, row: RecordRow) -> None:
        """Replace the record's purpose, basis, source, key, ciphertext and `updated_at`."""
        ...

    def delete_category_records(
        self, subject_id: str, category: str, purpose: str | None = None
    ) -> int:
        """Delete the subject's records of `category` (of that `purpose` alone, if
        given) and keep the category's count right; return how many went."""
        ...


class RecordRows(RecordRowReads, Protocol):
    """The records outside a transaction: reads, the grouped append (the hot
    write, which commits in a transaction of its own) and a whole subject's rows."""

    def append_record(self, new: NewRecord, subject_state: SubjectState) -> AppendOutcome:
        """Store one record, durably, if its subject is in `subject_state`; return
        once it is durable. Concurrent calls may share one transaction (the grouped
        write); each gets its own outcome, and a failure of the group fails each."""
        ...

    async def append_record_async(
        self, new: NewRecord, subject_state: SubjectState
    ) -> AppendOutcome:
        """`append_record` for a caller on an event loop: the same grouped write,
        awaited without holding a thread while it commits."""
        ...

    def iter_records(self, subject_id: str, category: str | None = None) -> Iterator[RecordRow]:
        """Every record of the subject (of `category`), as `records_page` orders them."""
        ...


class ReplayReads(Protocol):
    """Remembered requests (AIP-155 request ids), each with its subject."""

    def remembered(self, request_hashes: Sequence[str]) -> RememberedRequest | None:
        """The request remembered under any of `request_hashes` (one request id's
        hashes under each live keyring version), or None."""
        ...

    def requests_in_clear(self, limit: int) -> list[RememberedRequest]:
        """Up to `limit` requests an earlier release remembered by their ids in the
        clear (`key_version` None; none left once upgraded: one cheap query)."""
        ...


class ReplayWrites(ReplayReads, Protocol):
    def remember(self, request: RememberedRequest) -> bool:
        """False if the request id is already taken."""
        ...

    def forget_requests_of(self, subject_id: str, keep: tuple[str, ...]) -> None:
        """Forget the subject's remembered requests, but those of the operations in `keep`."""
        ...

    def hash_request_in_clear(
        self, request_id: str, request_hash: str, key_version: int, at: dt.datetime
    ) -> bool:
        """Replace an id kept in the clear with its hash, remembered `at`; False if
        it is no longer there in the clear (a concurrent upgrade did it)."""
        ...


class ReceiptReads(Protocol):
    """Erasure receipts: what is left of an erased subject, as the core wrote it."""

    def erasure_receipt(self, subject_id: str) -> str | None: ...


class ReceiptWrites(ReceiptReads, Protocol):
    def save_erasure_receipt(self, subject_id: str, receipt: str, at: dt.datetime) -> None: ...


class StoreMaintenance(Protocol):
    """The store's upkeep, each call a transaction of its own."""

    def purge_records(self, subject_state: SubjectState, limit: int) -> int:
        """Delete up to `limit` records of subjects in `subject_state`, and their counts;
        return how many records went."""
        ...

    def forget_requests(self, remembered_before: dt.datetime, limit: int) -> int:
        """Forget up to `limit` requests remembered before `remembered_before`;
        return how many went."""
        ...

    def scrub(self) -> bool:
        """Make deleted bytes physically gone from the files; True when complete."""
        ...


class TokenRow(NamedTuple):
    """An API token as stored: never its secret, only a keyed hash of it
    (vault.core.tokens says under which key)."""

    token_id: str
    secret_hash: bytes
    role: str
    system: str
    name: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None = None
    last_used_at: dt.datetime | None = None
    # An integrator's purpose for the reads that name none ("" for none).
    default_purpose: str = ""


class TokenStore(Protocol):
    """API tokens, each call a transaction of its own."""

    def insert_token(self, row: TokenRow) -> None: ...

    def token(self, token_id: str) -> TokenRow | None: ...

    def tokens(self) -> list[TokenRow]:
        """Every token issued, revoked and expired ones included, newest first."""
        ...

    def revoke_token(self, token_id: str, at: dt.datetime) -> TokenRow | None:
        """Mark the token revoked `at`, unless it already is (the first time
        stays); the token as it now is, or None if there is none."""
        ...

    def touch_token(self, token_id: str, at: dt.datetime) -> None:
        """Note that a call presented the token `at` (never moves back)."""
        ...


# ---------------------------------------------------- the record database --


class Transaction(Protocol):
    """One write transaction (the unit of work): every aggregate's writes in
    it commit together or not at all, and its reads see its own writes."""

    @property
    def subjects(self) -> SubjectWrites: ...
    @property
    def records(self) -> RecordRowWrites: ...
    @property
    def replay(self) -> ReplayWrites: ...
    @property
    def receipts(self) -> ReceiptWrites: ...
    @property
    def steps(self) -> StepWrites:
        """The step engine's rows: an erasure request commits with its subject's
        new state and its remembered request id."""
        ...

    @property
    def audit(self) -> AuditWrites:
        """The audit log: a change's event commits with the change."""
        ...

    @property
    def consents(self) -> ConsentWrites:
        """Consent histories and policy versions (vault.core.consent.store)."""
        ...


class RecordStore(Protocol):
    """The record database: every aggregate but the keys, read through its
    attributes and written through `write()`."""

    @property
    def subjects(self) -> SubjectReads: ...
    @property
    def records(self) -> RecordRows: ...
    @property
    def replay(self) -> ReplayReads: ...
    @property
    def receipts(self) -> ReceiptReads: ...
    @property
    def maintenance(self) -> StoreMaintenance: ...
    @property
    def tokens(self) -> TokenStore: ...
    @property
    def steps(self) -> StepStore:
        """The step engine's rows, in the same database."""
        ...

    @property
    def audit(self) -> AuditStore:
        """The audit log, in the same database (vault.core.audit.store)."""
        ...

    @property
    def consents(self) -> ConsentStore:
        """Consent histories and policy versions, in the same database."""
        ...

    def write(self) -> AbstractContextManager[Transaction]:
        """A write transaction that takes the write lock at once (no lost updates)."""
        ...

    def close(self) -> None: ...


# ------------------------------------------------------------------- keys --


class WrappedKey(NamedTuple):
    """A key sealed under the keyring's key-encryption key of `kek_version`
    (a subject key, a job key). A tuple, so `version, wrapped = ...` unpacks it."""

    kek_version: int
    wrapped: bytes


@dataclass(frozen=True, order=True)
class DataKeyScope:
    """Which data key: the one a subject's records of a category held for a
    purpose are sealed under (the vault's own keys, such as the identities',
    serve no purpose of a record: their purpose is "").

    Data keys are addressed by this value alone, so what a key covers can grow
    without a method changing its signature; a store keeps every field as part
    of the key's address.
    """

    subject_id: str
    category: str
    purpose: str


class WrappedDataKey(NamedTuple):
    """A data key sealed under its subject's key; `key_id` names it in the records
    sealed under it (and in the associated data of the seal).

    `legacy`: wrapped as before keys had purposes, one key per (subject,
    category), its seal's associated data naming no purpose. Such keys come
    only from a database made by an earlier release (purpose "") and are
    re-wrapped by an upgrade step (`vault.core.upgrades.purpose_keys`); a store
    keeps the flag as it is given."""

    key_id: str
    wrapped: bytes
    legacy: bool = False


class KekRetired(Exception):
    """A key was to be stored wrapped under a KEK version below the key store's
    floor: that version is retired (or being retired), so nothing may be
    wrapped under it again. The write stored nothing."""

    def __init__(self, kek_version: int, floor: int) -> None:
        super().__init__(
            f"key-encryption key version {kek_version} is below the key store's floor "
            f"({floor}): it is retired"
        )
        self.kek_version = kek_version
        self.floor = floor


class Rewrap(NamedTuple):
    """A key (a subject's, by subject id; a job's, by request id) wrapped anew
    under `kek_version`, to replace the one stored under `old_version`."""

    key_for: str
    old_version: int
    kek_version: int
    wrapped: bytes


@dataclass(frozen=True)
class RotationLease:
    """Who holds the key store's rotation lock, and until when."""

    owner: str
    until: dt.datetime


class KeyStore(Protocol):
    """The key database: wrapped keys only, never a key in the clear.

    What every engine promises: a call that writes or destroys returns once its
    transaction has committed durably, and from then on every store object open
    on the same database, in this process or another, sees it. A destroyed key
    is never returned again (the core relies on this for crypto-shredding); its
    bytes are gone from the database files once `scrub` returns True. The store
    decides nothing: which keys to make, keep or destroy is the core's call.
    """

    # ------------------------------------------------------------ subject keys
    def subject_key(self, subject_id: str) -> WrappedKey | None:
        """The subject's key, or None if it was never made or is destroyed."""
        ...

    def put_subject_key(self, subject_id: str, kek_version: int, wrapped: bytes) -> None:
        """Store a new subject's key; a subject gets one key once. KekRetired if
        `kek_version` is below the floor (checked in the same transaction)."""
        ...

    def wrapped_subject_keys(self) -> Iterator[tuple[str, WrappedKey]]:
        """Every subject key, by subject id, for re-wrapping under a new KEK."""
        ...

    def rewrap_subject_key(
        self, subject_id: str, old_version: int, kek_version: int, wrapped: bytes
    ) -> bool:
        """Replace the subject key with the same key wrapped anew, only if it is still
        wrapped under `old_version` (so a concurrent re-wrap or destruction wins)."""
        ...

    def rewrap_subject_keys(self, rewraps: list[Rewrap]) -> int:
        """`rewrap_subject_key` for each, in one transaction; how many were
        replaced. KekRetired, replacing none, if one's `kek_version` is below the floor."""
        ...

    def destroy_subject(self, subject_id: str) -> int:
        """Destroy the subject key and all its data keys; return how many were
        destroyed (0 if none are left: destroying twice is harmless)."""
        ...

    # --------------------------------------------------------------- data keys
    def data_key(self, scope: DataKeyScope) -> WrappedDataKey | None:
        """The scope's data key, or None if it was never made or is destroyed."""
        ...

    def put_data_key(self, scope: DataKeyScope, key: WrappedDataKey) -> WrappedDataKey | None:
        """Store `key` unless the scope has one already, and return the one stored
        (the first writer's, if two race); None if the subject key is gone, since a
        data key cannot outlive the key it is wrapped under."""
        ...

    def data_key_scopes(self, subject_id: str) -> list[DataKeyScope]:
        """The scopes the subject has data keys for, sorted by category and purpose."""
        ...

    def legacy_data_key_scopes(self, after: DataKeyScope | None, limit: int) -> list[DataKeyScope]:
        """Up to `limit` scopes whose keys are `legacy`, after `after` in scope order
        (from the first if None): the upgrade's work list. Cheap when there are
        none (one indexed query), since it runs at every opening."""
        ...

    def readdress_data_key(self, old: DataKeyScope, new: DataKeyScope, key: WrappedDataKey) -> bool:
        """Move the legacy key of `old` to `new` (which may be `old` itself),
        stored as `key` (the same key, wrapped anew: the same `key_id`), in one
        transaction; only if `old` still holds a legacy key of `key.key_id` and
        `new`, if another scope, holds none. False otherwise (another process
        moved it first, or it is destroyed), changing nothing."""
        ...

    # ------------------------------------------------------- grouped writes
    def put_keys(
        self,
        subject_keys: Mapping[str, WrappedKey],
        data_keys: Mapping[DataKeyScope, WrappedDataKey],
    ) -> bool:
        """Store new subjects' keys and data keys under them in one transaction,
        all of them or none: a bulk import writes a batch's keys with one commit
        rather than one per key. Every data key's subject must be among
        `subject_keys` (ValueError otherwise, before anything is written), so no
        data key outlives the key it is wrapped under. A subject gets one key
        once: False, storing none of them, if any of the subjects has one already.
        KekRetired, storing none, if a subject key's version is below the floor."""
        ...

    def destroy_data_key(self, scope: DataKeyScope) -> bool:
        """Destroy the scope's data key; False if there was none."""
        ...

    def destroy_data_keys(self, subject_id: str, category: str) -> int:
        """Destroy the subject's data keys of `category`, every purpose's; return how
        many were destroyed (0 if none are left: destroying twice is harmless)."""
        ...

    # ---------------------------------------------------------------- job keys
    def put_job_key(self, request_id: str, kek_version: int, wrapped: bytes) -> None:
        """Store the key of a new request's job; KekRetired below the floor."""
        ...

    def job_key(self, request_id: str) -> WrappedKey | None:
        """The job's key, or None if it was never made or is destroyed."""
        ...

    def destroy_job_key(self, request_id: str) -> bool:
        """Destroy the job's key; False if there was none."""
        ...

    def wrapped_job_keys(self) -> Iterator[tuple[str, WrappedKey]]:
        """Every job key, by request id, for re-wrapping under a new KEK."""
        ...

    def rewrap_job_keys(self, rewraps: list[Rewrap]) -> int:
        """As `rewrap_subject_keys`, for job keys by request id."""
        ...

    # -------------------------------------------------------------- vault keys
    def vault_key(self, name: str) -> WrappedKey | None:
        """A key of the vault's own (the API tokens' hashing key, say), by name."""
        ...

    def put_vault_key(self, name: str, kek_version: int, wrapped: bytes) -> WrappedKey:
        """Store the vault key `name` unless one is stored already: the key
        stored, which is the earlier one when two processes race (both then
        use it). KekRetired below the floor."""
        ...

    def wrapped_vault_keys(self) -> Iterator[tuple[str, WrappedKey]]:
        """Every vault key, by name, for re-wrapping under a new KEK."""
        ...

    def rewrap_vault_keys(self, rewraps: list[Rewrap]) -> int:
        """As `rewrap_subject_keys`, for vault keys by name."""
        ...

    # ------------------------------------------------------- KEK versions
    def kek_versions(self) -> dict[int, int]:
        """How many keys (subject keys, job keys and vault keys) each KEK version wraps
        (versions wrapping none left out)."""
        ...

    def kek_floor(self) -> int:
        """The lowest KEK version a key may be stored under (0 until a retirement)."""
        ...

    def newest_kek_version(self) -> int | None:
        """The highest KEK version any subject key is wrapped under (None: no
        subject key); one indexed read, so a process can tell on a lookup that
        finds no one whether its keyring is behind the key database."""
        ...

    def raise_kek_floor(self, kek_version: int) -> int:
        """Refuse every later put of a key under a version below `kek_version`
        (never lowered: a lower value changes nothing); the floor now. Once it
        returns, a put below it in any process is refused, and every put that
        was not refused has committed."""
        ...

    def claim_rotation(self, owner: str, now: dt.datetime, until: dt.datetime) -> RotationLease:
        """Take (or, held by `owner`, extend) the rotation lock until `until`,
        unless another owner holds it past `now`; the lease as it is after the
        call, which is `owner`'s only if the claim succeeded."""
        ...

    def release_rotation(self, owner: str) -> None:
        """Give the rotation lock up, if `owner` holds it."""
        ...

    # ------------------------------------------------------------- destruction
    def destruction_generation(self) -> int:
        """A number that grows whenever a key is destroyed, seen by every store
        object on the database once the destroying transaction committed. Caches of
        unwrapped keys compare it to drop keys another process destroyed, so it is
        read on every cached lookup: it must cost next to nothing."""
        ...

    def scrub(self) -> bool:
        """Make the bytes of destroyed keys gone from the database's files (not
        merely unlinked from its tables); True when done, False when something (a
        reader elsewhere) kept them for now and the call should be made again later."""
        ...

    def close(self) -> None: ...
