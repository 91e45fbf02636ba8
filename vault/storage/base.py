"""The storage interfaces the core is written against, and the rows they carry.

Rows hold ciphertext and metadata only; personal data never reaches storage
in plaintext. The key store and the record store are separate databases, so a
copy of the records alone is useless.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from vault.core.steps.store import StepStore, StepWrites


@dataclass(frozen=True)
class SubjectRow:
    subject_id: str
    state: str
    roles: tuple[str, ...]
    protected_identity: bool
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class IdentityRow:
    blind_index: str
    subject_id: str
    kind: str
    sealed_value: bytes


@dataclass(frozen=True)
class RecordRow:
    record_id: str
    subject_id: str
    category: str
    purpose: str
    legal_basis: str
    source_system: str
    key_id: str
    sealed_payload: bytes
    sealed_content: bytes | None
    created_at: str
    updated_at: str
    seq: int = 0
    # Filled in by `RecordReads.record`, so one read tells whether the subject may be read.
    subject_state: str = ""


@dataclass(frozen=True)
class RememberedRequest:
    """A mutating request already applied, kept so a retry returns the same answer."""

    request_id: str
    operation: str
    fingerprint: str
    subject_id: str
    result: str


@dataclass(frozen=True)
class NewRecord:
    """A record to store, and the request to remember with it (AIP-155)."""

    row: RecordRow
    request: RememberedRequest | None = None


@dataclass(frozen=True)
class AppendOutcome:
    """What became of a `NewRecord`: stored only if its subject was in the
    writable state when the write ran and its request id was not taken."""

    subject_state: str | None  # None: no such subject
    stored: bool
    request_taken: bool = False


class RecordReads(Protocol):
    """Reads, available both outside and inside a write transaction."""

    def subject(self, subject_id: str) -> SubjectRow | None: ...
    def subject_state(self, subject_id: str) -> str | None:
        """Only the subject's state, for the checks on every record write."""
        ...

    def subject_id_by_index(self, blind_index: str) -> str | None: ...
    def identities(self, subject_id: str) -> list[IdentityRow]: ...
    def record(self, record_id: str) -> RecordRow | None: ...
    def records_page(
        self, subject_id: str, category: str | None, after_seq: int, limit: int
    ) -> list[RecordRow]: ...
    def subject_ids_in_state(self, state: str) -> list[str]: ...
    def count_records(self, subject_id: str, category: str | None = None) -> int: ...
    def categories(self, subject_id: str) -> list[str]: ...
    def remembered(self, request_id: str) -> RememberedRequest | None: ...
    def erasure_receipt(self, subject_id: str) -> str | None: ...


class RecordWrites(RecordReads, Protocol):
    """One write transaction: everything in it commits together or not at all."""

    @property
    def steps(self) -> StepWrites: ...

    def insert_subject(self, row: SubjectRow) -> None: ...
    def update_subject(
        self, subject_id: str, roles: tuple[str, ...], protected: bool, at: str
    ) -> None: ...
    def touch_subject(self, subject_id: str, at: str) -> None: ...
    def set_subject_state(self, subject_id: str, state: str, at: str) -> None: ...
    def insert_identity(self, row: IdentityRow) -> bool:
        """False if the blind index is already taken."""
        ...

    def delete_identity(self, blind_index: str) -> None: ...
    def delete_identities(self, subject_id: str) -> int: ...
    def delete_category_records(self, subject_id: str, category: str) -> int: ...
    def insert_records(self, rows: list[RecordRow]) -> None: ...
    def update_record(self, row: RecordRow) -> None: ...
    def remember(self, request: RememberedRequest) -> bool:
        """False if the request id is already taken."""
        ...

    def forget_requests_of(self, subject_id: str, keep: tuple[str, ...]) -> None: ...
    def save_erasure_receipt(self, subject_id: str, receipt: str, at: str) -> None: ...


class RecordStore(RecordReads, Protocol):
    @property
    def steps(self) -> StepStore:
        """The step engine's rows, in the same database."""
        ...

    def write(self) -> AbstractContextManager[RecordWrites]:
        """A write transaction that takes the write lock at once (no lost updates)."""
        ...

    def append_record(self, new: NewRecord, writable_state: str) -> AppendOutcome:
        """Store one record, durably, if its subject is in `writable_state`.
        Concurrent calls may share one transaction; each gets its own outcome."""
        ...

    def submit_record(
        self,
        new: NewRecord,
        writable_state: str,
        done: Callable[[AppendOutcome | None, BaseException | None], None],
    ) -> None:
        """`append_record` without waiting: returns at once, and `done(outcome,
        error)` is called from another thread once the write is durable or failed."""
        ...

    def iter_records(self, subject_id: str, category: str | None = None) -> Iterator[RecordRow]: ...
    def purge_erased(self, limit: int) -> int:
        """Delete up to `limit` leftover ciphertext rows of erased subjects."""
        ...

    def scrub(self) -> bool:
        """Make deleted bytes physically gone from the files; True when complete."""
        ...

    def close(self) -> None: ...


class KeyStore(Protocol):
    def subject_key(self, subject_id: str) -> tuple[int, bytes] | None:
        """(KEK version, wrapped subject key), or None if never made or destroyed."""
        ...

    def put_subject_key(self, subject_id: str, kek_version: int, wrapped: bytes) -> None: ...
    def category_key(self, subject_id: str, category: str) -> tuple[str, bytes] | None:
        """(key id, wrapped category key), or None if never made or destroyed."""
        ...

    def put_category_key(
        self, subject_id: str, category: str, key_id: str, wrapped: bytes
    ) -> tuple[str, bytes] | None:
        """Store the key unless one exists; return the (key id, wrapped key) that is
        stored, or None if the subject key no longer exists."""
        ...

    def category_keys(self, subject_id: str) -> list[str]: ...
    def destroy_subject(self, subject_id: str) -> int:
        """Delete the subject key and all its category keys; return how many."""
        ...

    def destroy_category(self, subject_id: str, category: str) -> bool: ...
    def shred_generation(self) -> int:
        """A number that grows whenever any process destroys a key (cache invalidation)."""
        ...

    def wrapped_subject_keys(self) -> Iterator[tuple[str, int, bytes]]: ...
    def rewrap_subject_key(
        self, subject_id: str, old_version: int, kek_version: int, wrapped: bytes
    ) -> bool: ...
    def scrub(self) -> bool: ...
    def close(self) -> None: ...
    def put_job_key(self, request_id: str, kek_version: int, wrapped: bytes) -> None: ...
    def job_key(self, request_id: str) -> tuple[int, bytes] | None: ...
    def destroy_job_key(self, request_id: str) -> bool: ...
