"""What the audit trail needs of a store: the contract each engine is to
keep, SQLite and PostgreSQL alike, held to it by one contract test suite
as the other aggregates are (tests/storage).

The log lives in the records' database, so a change and its event commit in
one transaction. Events are written in two steps:

1. `append` (or `AuditWrites.append` inside a change's transaction) stores
   an event unsequenced, with a row id the engine gives it;
2. the sequencer (vault.core.audit.log) gives the unsequenced events, in row
   id order, the next leaf indexes and stores the signed tree head over them,
   in one transaction that happens only if no one sequenced meanwhile
   (`sequence` compares the log's size), so several server processes on one
   database never fork the log.

The engine stores what it is given: it hashes nothing and signs nothing.
When an event cannot be written the engine raises AuditUnavailable
(vault.core.errors), and the change it came with is not done.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from vault.core.audit.events import AuditEvent
from vault.core.audit.heads import SignedTreeHead


@dataclass(frozen=True)
class AuditEntry:
    """An event to store: its entry, and the fields the auditor filters on,
    which the engine keeps in columns of their own beside it (verify checks
    the two agree)."""

    entry: bytes
    at: dt.datetime
    actor: str
    operation: str
    subject: str
    sensitive: bool

    @classmethod
    def of(cls, event: AuditEvent) -> AuditEntry:
        return cls(
            entry=event.entry(),
            at=event.at,
            actor=event.actor,
            operation=event.operation,
            subject=event.subject,
            sensitive=event.sensitive,
        )


@dataclass(frozen=True)
class StoredEvent:
    """An event as stored: its row id (append order), its leaf index once
    sequenced (None before), the leaf hash the sequencer stored with it, and
    the filter columns as stored (verify compares them to the entry)."""

    row_id: int
    index: int | None
    entry: bytes
    leaf_hash: bytes | None
    at: dt.datetime
    actor: str
    operation: str
    subject: str
    sensitive: bool


@dataclass(frozen=True)
class Sequenced:
    """An unsequenced event's row, given its leaf index and leaf hash."""

    row_id: int
    index: int
    leaf_hash: bytes


@dataclass(frozen=True)
class StoredHead:
    """A signed tree head, and the tree's frontier at its size (the roots of
    its perfect subtrees, largest first: vault.core.audit.merkle.TreeBuilder),
    so the sequencer resumes the tree without reading every leaf."""

    head: SignedTreeHead
    frontier: tuple[bytes, ...]


@dataclass(frozen=True)
class AuditQuery:
    """Which events to list, in row id order after `after_row` (paging)."""

    after_row: int = 0
    limit: int = 100
    since: dt.datetime | None = None  # at or after
    until: dt.datetime | None = None  # before
    actor: str | None = None
    operation: str | None = None
    subject: str | None = None
    sensitive: bool | None = None


class AuditWrites(Protocol):
    """The log inside a change's transaction (`Transaction.audit`)."""

    def append(self, entries: Sequence[AuditEntry]) -> None:
        """Store the events unsequenced, committed with the transaction or not at all."""
        ...


class AuditStore(Protocol):
    """The log outside a transaction (`RecordStore.audit`); each write is a
    transaction of its own."""

    def append(self, entries: Sequence[AuditEntry]) -> None:
        """Store the events unsequenced; return once they are durable. Concurrent
        calls may share one commit (the grouped write), as record appends do."""
        ...

    async def append_async(self, entries: Sequence[AuditEntry]) -> None:
        """`append` for a caller on an event loop, awaited without holding a thread."""
        ...

    # ---------------------------------------------------------- sequencing
    def unsequenced(self, limit: int) -> list[StoredEvent]:
        """Up to `limit` events not yet sequenced, in row id order."""
        ...

    def sequence(self, size: int, events: Sequence[Sequenced], head: StoredHead) -> bool:
        """In one transaction: if the log holds exactly `size` sequenced events
        and every one of `events` is still unsequenced, give each its index and
        leaf hash, and store `head`; False, changing nothing, otherwise (another
        process sequenced first)."""
        ...

    def size(self) -> int:
        """How many events are sequenced."""
        ...

    def latest_head(self) -> StoredHead | None: ...

    def head(self, size: int) -> StoredHead | None:
        """The head stored at exactly `size`, if any."""
        ...

    def heads(self) -> Iterator[StoredHead]:
        """Every stored head, by size ascending."""
        ...

    # -------------------------------------------------------------- reading
    def sequenced(self, start: int = 0, end: int | None = None) -> Iterator[StoredEvent]:
        """The sequenced events with indexes in [start, end), by index ascending;
        read a page at a time, so a million events never sit in memory at once.
        An index the rows lack is simply not there (verify names it missing)."""
        ...

    def at_index(self, index: int) -> StoredEvent | None: ...

    def query(self, query: AuditQuery) -> list[StoredEvent]:
        """Events sequenced or not, filtered, in row id order; served by indexes."""
        ...

    # ------------------------------------------- key destruction's intents
    def open_intent(self, entry: AuditEntry, subject_id: str) -> int:
        """Store the intent event (as `append`) and note it open, for `subject_id`'s
        keys; the intent's row id. A subject id is kept only while the
        intent is open: `close_intent` deletes it."""
        ...

    def close_intent(self, row_id: int, outcome: AuditEntry) -> None:
        """Store the outcome event and delete the open intent, in one transaction
        (closing one already closed stores nothing)."""
        ...

    def open_intents(self) -> list[tuple[int, str]]:
        """The intents not closed (a crash between destroying keys and telling
        it): (row id, subject id). Empty when nothing crashed, in one query."""
        ...
