"""The audit log on PostgreSQL (vault.core.audit.store), in the record database:
events appended unsequenced, given their leaf indexes by the sequencer's
compare-and-swap on the log's size, the signed tree heads with their
frontiers, and key destruction's open intents.

The engine stores what it is given: it hashes nothing and signs nothing. Any
error writing an event is AuditUnavailable, so the change it came with is
not done.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from vault.core.audit.heads import SignedTreeHead
from vault.core.audit.merkle import HASH_SIZE
from vault.core.audit.store import AuditEntry, AuditQuery, Sequenced, StoredEvent, StoredHead
from vault.core.errors import AuditUnavailable
from vault.storage.postgres.database import Database
from vault.storage.settling import LoopSettlers

_EVENT_COLUMNS = "row_id, leaf_index, entry, leaf_hash, at, actor, operation, subject, sensitive"
_HEAD_COLUMNS = "size, root, at, signature, frontier"
# How many rows a read that walks the log holds at once.
_PAGE = 5_000
# A leaf index past every one there is: `sequenced` with no end.
_NO_END = 2**63 - 1


def insert_events(conn: psycopg.Connection[Any], entries: Sequence[AuditEntry]) -> list[int]:
    """Store the events unsequenced in one statement, row ids in the order
    given; their row ids. psycopg's errors are left to the caller, which
    says what failed with them."""
    if not entries:
        return []
    # One array per column, so a group of any size is one statement of six
    # parameters; WITH ORDINALITY keeps the row ids in the order given.
    rows = conn.execute(
        "INSERT INTO audit_events (entry, at, actor, operation, subject, sensitive) "
        "SELECT entry, at, actor, operation, subject, sensitive FROM unnest("
        "%s::bytea[], %s::timestamptz[], %s::text[], %s::text[], %s::text[], %s::boolean[]) "
        "WITH ORDINALITY AS given(entry, at, actor, operation, subject, sensitive, n) "
        "ORDER BY n RETURNING row_id",
        (
            [e.entry for e in entries],
            [e.at for e in entries],
            [e.actor for e in entries],
            [e.operation for e in entries],
            [e.subject for e in entries],
            [e.sensitive for e in entries],
        ),
    ).fetchall()
    return sorted(row_id for (row_id,) in rows)


def _event(row: tuple[Any, ...]) -> StoredEvent:
    row_id, index, entry, leaf_hash, at, actor, operation, subject, sensitive = row
    return StoredEvent(
        row_id=row_id,
        index=index,
        entry=bytes(entry),
        leaf_hash=None if leaf_hash is None else bytes(leaf_hash),
        # psycopg gives a TIMESTAMPTZ in the session's time zone; the core speaks UTC.
        at=at.astimezone(dt.UTC),
        actor=actor,
        operation=operation,
        subject=subject,
        sensitive=sensitive,
    )


def _head(row: tuple[Any, ...]) -> StoredHead:
    size, root, at, signature, frontier = row
    frontier = bytes(frontier)
    return StoredHead(
        SignedTreeHead(size, bytes(root), at.astimezone(dt.UTC), bytes(signature)),
        tuple(frontier[n : n + HASH_SIZE] for n in range(0, len(frontier), HASH_SIZE)),
    )


class PostgresAuditWrites:
    """The log inside a change's transaction (`Transaction.audit`)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def append(self, entries: Sequence[AuditEntry]) -> None:
        try:
            insert_events(self._conn, entries)
        except psycopg.Error as error:
            # The transaction is aborted now: the change fails with its event.
            raise AuditUnavailable() from error


_Settle = Callable[[None, BaseException | None], None]


@dataclass(frozen=True)
class EventsAppend:
    """Events to store on their own (a read's), queued on the store's grouped
    append (appends.py), which commits them with whatever else it holds."""

    entries: Sequence[AuditEntry]
    settle: _Settle  # called from the writer's thread once the group committed or failed


def _settle_future(
    future: concurrent.futures.Future[None], result: None, error: BaseException | None
) -> None:
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(None)


class _Lost(Exception):
    """Another process sequenced first: the round is undone."""


class PostgresAuditStore:
    """The log outside a transaction: reads on pooled connections, appends
    through the grouped append's `queue`, each other write a transaction of its
    own. None takes the record database's write lock: the sequencer's
    compare-and-swap is on the log's row, and the rest decide nothing from
    what others wrote."""

    def __init__(self, database: Database, queue: Callable[[EventsAppend], None]) -> None:
        self._database = database
        self._queue = queue
        self._settlers = LoopSettlers()

    # -------------------------------------------------------------- appends
    def append(self, entries: Sequence[AuditEntry]) -> None:
        if not entries:
            return
        committed: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._queue(EventsAppend(entries, functools.partial(_settle_future, committed)))
        try:
            committed.result()
        except psycopg.Error as error:  # the insert or the group's commit
            raise AuditUnavailable() from error

    async def append_async(self, entries: Sequence[AuditEntry]) -> None:
        if not entries:
            return
        # The writer's thread commits them with the others queued meanwhile and
        # settles this call's future, so no thread of the caller's waits out the commit.
        loop = asyncio.get_running_loop()
        settler = self._settlers.current()
        committed: asyncio.Future[None] = loop.create_future()
        self._queue(EventsAppend(entries, functools.partial(settler.settle_later, committed)))
        try:
            await committed
        except psycopg.Error as error:
            raise AuditUnavailable() from error

    # ----------------------------------------------------------- sequencing
    def unsequenced(self, limit: int) -> list[StoredEvent]:
        with self._database.connection() as conn:
            rows = conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM audit_events WHERE leaf_index IS NULL "
                "ORDER BY row_id LIMIT %s",
                (limit,),
            ).fetchall()
        return [_event(row) for row in rows]

    def sequence(self, size: int, events: Sequence[Sequenced], head: StoredHead) -> bool:
        try:
            with self._database.transaction() as conn:
                # Of two sequencers at once, the second waits for the first's
                # row lock, then finds the size moved on and changes nothing.
                if not conn.execute(
                    "UPDATE audit_log SET size = %s WHERE id = 1 AND size = %s",
                    (size + len(events), size),
                ).rowcount:
                    return False
                placed = conn.execute(
                    "UPDATE audit_events e SET leaf_index = p.leaf_index, leaf_hash = p.leaf_hash "
                    "FROM unnest(%s::bigint[], %s::bigint[], %s::bytea[]) "
                    "AS p(row_id, leaf_index, leaf_hash) "
                    "WHERE e.row_id = p.row_id AND e.leaf_index IS NULL",
                    (
                        [e.row_id for e in events],
                        [e.index for e in events],
                        [e.leaf_hash for e in events],
                    ),
                ).rowcount
                if placed != len(events):
                    raise _Lost  # one of them was sequenced already: undo the size too
                signed = head.head
                conn.execute(
                    f"INSERT INTO audit_heads ({_HEAD_COLUMNS}) VALUES (%s, %s, %s, %s, %s)",
                    (
                        signed.size,
                        signed.root,
                        signed.at,
                        signed.signature,
                        b"".join(head.frontier),
                    ),
                )
        except _Lost:
            return False
        return True

    def size(self) -> int:
        with self._database.connection() as conn:
            row = conn.execute("SELECT size FROM audit_log WHERE id = 1").fetchone()
        assert row is not None  # the migration inserted it
        return int(row[0])

    def latest_head(self) -> StoredHead | None:
        with self._database.connection() as conn:
            row = conn.execute(
                f"SELECT {_HEAD_COLUMNS} FROM audit_heads ORDER BY size DESC LIMIT 1"
            ).fetchone()
        return _head(row) if row else None

    def head(self, size: int) -> StoredHead | None:
        with self._database.connection() as conn:
            row = conn.execute(
                f"SELECT {_HEAD_COLUMNS} FROM audit_heads WHERE size = %s", (size,)
            ).fetchone()
        return _head(row) if row else None

    def heads(self) -> Iterator[StoredHead]:
        # A page at a time: a sequencer signs a head a round, for as long as the vault runs.
        after = -1
        while True:
            with self._database.connection() as conn:
                rows = conn.execute(
                    f"SELECT {_HEAD_COLUMNS} FROM audit_heads WHERE size > %s "
                    "ORDER BY size LIMIT %s",
                    (after, _PAGE),
                ).fetchall()
            yield from (_head(row) for row in rows)
            if len(rows) < _PAGE:
                return
            after = rows[-1][0]

    # -------------------------------------------------------------- reading
    def sequenced(self, start: int = 0, end: int | None = None) -> Iterator[StoredEvent]:
        # Paged rather than one long cursor: a connection is held for one page
        # only, and no long transaction keeps VACUUM from reclaiming dead rows.
        end = _NO_END if end is None else end
        while start < end:
            with self._database.connection() as conn:
                rows = conn.execute(
                    f"SELECT {_EVENT_COLUMNS} FROM audit_events "
                    "WHERE leaf_index >= %s AND leaf_index < %s ORDER BY leaf_index LIMIT %s",
                    (start, end, _PAGE),
                ).fetchall()
            yield from (_event(row) for row in rows)
            if len(rows) < _PAGE:
                return
            start = rows[-1][1] + 1

    def at_index(self, index: int) -> StoredEvent | None:
        with self._database.connection() as conn:
            row = conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM audit_events WHERE leaf_index = %s", (index,)
            ).fetchone()
        return _event(row) if row else None

    def query(self, query: AuditQuery) -> list[StoredEvent]:
        where = ["row_id > %s"]
        params: list[Any] = [query.after_row]
        for condition, value in (
            ("at >= %s", query.since),
            ("at < %s", query.until),
            ("actor = %s", query.actor),
            ("operation = %s", query.operation),
            ("subject = %s", query.subject),
            ("sensitive = %s", query.sensitive),
        ):
            if value is not None:
                where.append(condition)
                params.append(value)
        with self._database.connection() as conn:
            rows = conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM audit_events WHERE {' AND '.join(where)} "
                "ORDER BY row_id LIMIT %s",
                (*params, query.limit),
            ).fetchall()
        return [_event(row) for row in rows]

    # ------------------------------------------- key destruction's intents
    def open_intent(self, entry: AuditEntry, subject_id: str) -> int:
        try:
            with self._database.transaction() as conn:
                (row_id,) = insert_events(conn, [entry])
                conn.execute(
                    "INSERT INTO audit_intents (row_id, subject_id) VALUES (%s, %s)",
                    (row_id, subject_id),
                )
        except psycopg.Error as error:
            raise AuditUnavailable() from error
        return row_id

    def close_intent(self, row_id: int, outcome: AuditEntry) -> None:
        try:
            with self._database.transaction() as conn:
                # Of two closings at once, the second waits for the first's row
                # lock, then finds the intent gone and stores nothing.
                if conn.execute("DELETE FROM audit_intents WHERE row_id = %s", (row_id,)).rowcount:
                    insert_events(conn, [outcome])
        except psycopg.Error as error:
            raise AuditUnavailable() from error

    def open_intents(self) -> list[tuple[int, str]]:
        with self._database.connection() as conn:
            rows = conn.execute(
                "SELECT row_id, subject_id FROM audit_intents ORDER BY row_id"
            ).fetchall()
        return [(row_id, subject_id) for row_id, subject_id in rows]
