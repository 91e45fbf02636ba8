"""The audit log on SQLite, in the record database (vault.core.audit.store
says what it keeps and why): events, signed tree heads, the log's size and
key destruction's open intents, in the tables of migration 0013.

Appends outside a transaction are the group-commit writer's combined writes,
as record appends are, so a burst of reads' events costs a few fsyncs. The
sequencer's round is one write that first moves the log's size from what
it read to what it adds (`UPDATE audit_log ... WHERE size = ?`): another
process that sequenced meanwhile makes that update match nothing, and the
round stores nothing.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from vault.core.audit.heads import SignedTreeHead
from vault.core.audit.merkle import HASH_SIZE
from vault.core.audit.store import AuditEntry, AuditQuery, Sequenced, StoredEvent, StoredHead
from vault.core.errors import AuditUnavailable
from vault.storage.settling import LoopSettlers
from vault.storage.sqlite.connections import Connections
from vault.storage.sqlite.moments import as_moment, as_text
from vault.storage.sqlite.writer import GroupCommitWriter

# How many events one read of `sequenced` takes: a million never sit in memory.
_PAGE = 5_000

_EVENT_COLUMNS = "row_id, leaf_index, entry, leaf_hash, at, actor, operation, subject, sensitive"
_HEAD_COLUMNS = "size, root, at, signature, frontier"


@contextmanager
def _writing_events() -> Iterator[None]:
    """An event the database would not take is AuditUnavailable, so the
    change or the answer it came with does not happen."""
    try:
        yield
    except sqlite3.Error as exc:
        raise AuditUnavailable() from exc


def insert_events(conn: sqlite3.Connection, entries: Sequence[AuditEntry]) -> int:
    """Store the events unsequenced on `conn`; the last one's row id."""
    with _writing_events():
        conn.executemany(
            "INSERT INTO audit_events (entry, at, actor, operation, subject, sensitive) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (e.entry, as_text(e.at), e.actor, e.operation, e.subject, int(e.sensitive))
                for e in entries
            ],
        )
        row = conn.execute("SELECT last_insert_rowid()").fetchone()
    return int(row[0])


def _append_groups(conn: sqlite3.Connection, groups: list[Sequence[AuditEntry]]) -> list[None]:
    """The combined write: every caller's events queued meanwhile, in one insert."""
    insert_events(conn, [entry for group in groups for entry in group])
    return [None] * len(groups)


def _blob(value: bytes | str) -> bytes:
    # A column edited by hand may come back as text (`entry || 'x'` is text in
    # SQLite): read it as its bytes, so verify can name the edit.
    return value.encode() if isinstance(value, str) else bytes(value)


def _event(row: tuple[Any, ...]) -> StoredEvent:
    row_id, index, entry, leaf_hash, at, actor, operation, subject, sensitive = row
    return StoredEvent(
        row_id=row_id,
        index=index,
        entry=_blob(entry),
        leaf_hash=_blob(leaf_hash) if leaf_hash is not None else None,
        at=as_moment(at),
        actor=actor,
        operation=operation,
        subject=subject,
        sensitive=bool(sensitive),
    )


def _head(row: tuple[Any, ...]) -> StoredHead:
    size, root, at, signature, frontier = row
    frontier = bytes(frontier)
    return StoredHead(
        SignedTreeHead(size=size, root=bytes(root), at=as_moment(at), signature=bytes(signature)),
        tuple(frontier[n : n + HASH_SIZE] for n in range(0, len(frontier), HASH_SIZE)),
    )


class SQLiteAuditWrites:
    """The log inside a change's transaction: its events commit with the change."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def append(self, entries: Sequence[AuditEntry]) -> None:
        if entries:
            insert_events(self._conn, entries)


class SQLiteAuditStore:
    """The log outside a transaction: reads on this thread's connection,
    appends combined by the process's writer, each other write a transaction
    of its own."""

    def __init__(self, connections: Connections, writer: GroupCommitWriter) -> None:
        self._read: Callable[[], sqlite3.Connection] = connections.get
        self._writer = writer
        self._settlers = LoopSettlers()

    # --------------------------------------------------------------- appends
    def append(self, entries: Sequence[AuditEntry]) -> None:
        if entries:
            self._writer.combined(entries, _append_groups)

    async def append_async(self, entries: Sequence[AuditEntry]) -> None:
        if not entries:
            return
        # Committed on the writer's thread with whatever else is queued; this
        # call's future is settled from there, so no thread waits out the fsync.
        loop = asyncio.get_running_loop()
        settler = self._settlers.current()
        committed: asyncio.Future[None] = loop.create_future()
        self._writer.submit(
            entries,
            _append_groups,
            lambda result, error: settler.settle_later(committed, result, error),
        )
        await committed

    # ------------------------------------------------------------ sequencing
    def unsequenced(self, limit: int) -> list[StoredEvent]:
        rows = self._read().execute(
            f"SELECT {_EVENT_COLUMNS} FROM audit_events WHERE leaf_index IS NULL "
            "ORDER BY row_id LIMIT ?",
            (limit,),
        )
        return [_event(row) for row in rows]

    def sequence(self, size: int, events: Sequence[Sequenced], head: StoredHead) -> bool:
        try:
            return self._sequence(size, events, head)
        except _Lost:
            return False

    def _sequence(self, size: int, events: Sequence[Sequenced], head: StoredHead) -> bool:
        with self._writer.write() as conn:
            moved = conn.execute(
                "UPDATE audit_log SET size = ? WHERE id = 1 AND size = ?",
                (size + len(events), size),
            ).rowcount
            if moved != 1:
                return False  # another process sequenced first
            placed = 0
            for event in events:
                placed += conn.execute(
                    "UPDATE audit_events SET leaf_index = ?, leaf_hash = ? "
                    "WHERE row_id = ? AND leaf_index IS NULL",
                    (event.index, event.leaf_hash, event.row_id),
                ).rowcount
            if placed != len(events):
                # Only another process's round could have placed one: undo ours.
                raise _Lost()
            conn.execute(
                f"INSERT INTO audit_heads ({_HEAD_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                (
                    head.head.size,
                    head.head.root,
                    as_text(head.head.at),
                    head.head.signature,
                    b"".join(head.frontier),
                ),
            )
        return True

    def size(self) -> int:
        row = self._read().execute("SELECT size FROM audit_log WHERE id = 1").fetchone()
        return int(row[0])

    def latest_head(self) -> StoredHead | None:
        row = (
            self._read()
            .execute(f"SELECT {_HEAD_COLUMNS} FROM audit_heads ORDER BY size DESC LIMIT 1")
            .fetchone()
        )
        return _head(row) if row else None

    def head(self, size: int) -> StoredHead | None:
        row = (
            self._read()
            .execute(f"SELECT {_HEAD_COLUMNS} FROM audit_heads WHERE size = ?", (size,))
            .fetchone()
        )
        return _head(row) if row else None

    def heads(self) -> Iterator[StoredHead]:
        after = -1
        while True:
            page = [
                _head(row)
                for row in self._read().execute(
                    f"SELECT {_HEAD_COLUMNS} FROM audit_heads WHERE size > ? ORDER BY size LIMIT ?",
                    (after, _PAGE),
                )
            ]
            yield from page
            if len(page) < _PAGE:
                return
            after = page[-1].head.size

    # --------------------------------------------------------------- reading
    def sequenced(self, start: int = 0, end: int | None = None) -> Iterator[StoredEvent]:
        # Paged rather than one long cursor: a long read transaction would
        # keep the WAL from being checkpointed.
        after = start - 1
        while True:
            page = [
                _event(row)
                for row in self._read().execute(
                    f"SELECT {_EVENT_COLUMNS} FROM audit_events "
                    "WHERE leaf_index > ? AND (? IS NULL OR leaf_index < ?) "
                    "ORDER BY leaf_index LIMIT ?",
                    (after, end, end, _PAGE),
                )
            ]
            yield from page
            if len(page) < _PAGE:
                return
            last = page[-1].index
            assert last is not None
            after = last

    def at_index(self, index: int) -> StoredEvent | None:
        row = (
            self._read()
            .execute(f"SELECT {_EVENT_COLUMNS} FROM audit_events WHERE leaf_index = ?", (index,))
            .fetchone()
        )
        return _event(row) if row else None

    def query(self, query: AuditQuery) -> list[StoredEvent]:
        where = ["row_id > ?"]
        values: list[Any] = [query.after_row]
        for column, value in (
            ("actor", query.actor),
            ("operation", query.operation),
            ("subject", query.subject),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                values.append(value)
        if query.sensitive is not None:
            where.append("sensitive = ?")
            values.append(int(query.sensitive))
        if query.since is not None:
            where.append("at >= ?")
            values.append(as_text(query.since))
        if query.until is not None:
            where.append("at < ?")
            values.append(as_text(query.until))
        rows = self._read().execute(
            f"SELECT {_EVENT_COLUMNS} FROM audit_events WHERE {' AND '.join(where)} "
            "ORDER BY row_id LIMIT ?",
            (*values, query.limit),
        )
        return [_event(row) for row in rows]

    # ----------------------------------------------- key destruction's intents
    def open_intent(self, entry: AuditEntry, subject_id: str) -> int:
        with self._writer.write() as conn:
            row_id = insert_events(conn, [entry])
            conn.execute(
                "INSERT INTO audit_intents (row_id, subject_id) VALUES (?, ?)",
                (row_id, subject_id),
            )
        return row_id

    def close_intent(self, row_id: int, outcome: AuditEntry) -> None:
        with self._writer.write() as conn:
            closed = conn.execute("DELETE FROM audit_intents WHERE row_id = ?", (row_id,)).rowcount
            if closed:
                insert_events(conn, [outcome])

    def open_intents(self) -> list[tuple[int, str]]:
        rows = self._read().execute("SELECT row_id, subject_id FROM audit_intents ORDER BY row_id")
        return [(row_id, subject_id) for row_id, subject_id in rows]


class _Lost(Exception):
    """A sequencing round lost to another process's, to be undone."""
