"""The record store on SQLite: subjects, blind-indexed identities, sealed
records, remembered requests, erasure receipts, the step engine's rows
(steps.py), API tokens (tokens.py), the audit log (audit.py) and consent
histories with the policy versions (consents.py), in one database file. Reads
run on this thread's connection; every write goes through the process's
group-commit writer (writer.py), the grouped append as one combined write of
all the records queued meanwhile.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vault.core.model import SubjectState
from vault.storage.base import AppendOutcome, NewRecord, RecordRow
from vault.storage.settling import LoopSettlers
from vault.storage.sqlite.audit import SQLiteAuditStore, SQLiteAuditWrites, insert_events
from vault.storage.sqlite.connections import Connections
from vault.storage.sqlite.consents import SQLiteConsentStore, SQLiteConsentWrites
from vault.storage.sqlite.migrations import record_migrations
from vault.storage.sqlite.queries import (
    ReceiptQueries,
    ReceiptWrites,
    RecordQueries,
    RecordWrites,
    ReplayQueries,
    ReplayWrites,
    SubjectQueries,
    SubjectWrites,
    fixed_connection,
    forget_requests,
)
from vault.storage.sqlite.steps import SQLiteStepStore, StepWrites
from vault.storage.sqlite.tokens import SQLiteTokenStore
from vault.storage.sqlite.writer import GroupCommitWriter


class _Transaction:
    """One write transaction: every aggregate's writes over its connection."""

    __slots__ = ("audit", "conn", "consents", "receipts", "records", "replay", "subjects")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        fixed = fixed_connection(conn)
        self.subjects = SubjectWrites(fixed)
        self.records = RecordWrites(fixed)
        self.replay = ReplayWrites(fixed)
        self.receipts = ReceiptWrites(fixed)
        self.audit = SQLiteAuditWrites(conn)
        self.consents = SQLiteConsentWrites(fixed)

    @property
    def steps(self) -> StepWrites:
        # The step engine's writes in the same transaction: an erasure request
        # commits with the subject's new state and its remembered request id.
        return StepWrites(self.conn)


def _append_records(
    conn: sqlite3.Connection, items: list[tuple[NewRecord, SubjectState]]
) -> list[AppendOutcome]:
    """Store a group of new records in a handful of statements: one read of
    their subjects' states, one insert of the rows, one update of the counts,
    one insert of the stored records' audit events."""
    subject_ids = sorted({new.row.subject_id for new, _ in items})
    marks = ", ".join("?" * len(subject_ids))
    states = {
        subject_id: SubjectState(state)
        for subject_id, state in conn.execute(
            f"SELECT subject_id, state FROM subjects WHERE subject_id IN ({marks})", subject_ids
        )
    }
    fixed = fixed_connection(conn)
    replay = ReplayWrites(fixed)
    outcomes = []
    stored = []
    for new, wanted in items:
        state = states.get(new.row.subject_id)
        if state is not wanted:
            outcomes.append(AppendOutcome(state, stored=False))
        elif new.request is not None and not replay.remember(new.request):
            outcomes.append(AppendOutcome(state, stored=False, request_taken=True))
        else:
            outcomes.append(AppendOutcome(state, stored=True))
            stored.append(new)
    if stored:
        RecordWrites(fixed).insert_records([new.row for new in stored])
        events = [new.audit for new in stored if new.audit is not None]
        if events:
            insert_events(conn, events)
    return outcomes


class _Records(RecordQueries):
    """The records outside a transaction: this thread's reads, and the grouped append."""

    def __init__(self, connections: Connections, writer: GroupCommitWriter) -> None:
        super().__init__(connections.get)
        self._writer = writer
        self._settlers = LoopSettlers()

    def append_record(self, new: NewRecord, subject_state: SubjectState) -> AppendOutcome:
        return self._writer.combined(  # type: ignore[no-any-return]
            (new, subject_state), _append_records
        )

    async def append_record_async(
        self, new: NewRecord, subject_state: SubjectState
    ) -> AppendOutcome:
        # Queued for the writer's own thread, which commits it with the others
        # queued meanwhile and settles this call's future, so no thread of the
        # caller's waits out the commit.
        loop = asyncio.get_running_loop()
        settler = self._settlers.current()
        committed: asyncio.Future[AppendOutcome] = loop.create_future()
        self._writer.submit(
            (new, subject_state),
            _append_records,
            lambda outcome, error: settler.settle_later(committed, outcome, error),
        )
        return await committed

    def iter_records(self, subject_id: str, category: str | None = None) -> Iterator[RecordRow]:
        # Paged rather than one long cursor: a long-lived read transaction
        # would keep the WAL from being checkpointed after an erasure.
        after = 0
        while True:
            page = self.records_page(subject_id, category, after, 500)
            yield from page
            if len(page) < 500:
                return
            after = page[-1].seq


# How many due subjects one round of the purge takes: their ids are a
# statement's parameters.
_DUE_AT_A_TIME = 100


def _purge_of(conn: sqlite3.Connection, due: list[str], limit: int) -> int:
    """Delete up to `limit` records of the `due` subjects; the subjects left
    with none lose their counts and are no longer due."""
    marks = ", ".join("?" * len(due))
    deleted: int = conn.execute(
        f"DELETE FROM records WHERE seq IN "
        f"(SELECT seq FROM records WHERE subject_id IN ({marks}) LIMIT ?)",
        (*due, limit),
    ).rowcount
    if deleted < limit:
        emptied = due
    else:
        left = {
            row[0]
            for row in conn.execute(
                f"SELECT DISTINCT subject_id FROM records WHERE subject_id IN ({marks})", due
            )
        }
        emptied = [subject_id for subject_id in due if subject_id not in left]
    if emptied:
        marks = ", ".join("?" * len(emptied))
        conn.execute(f"DELETE FROM record_counts WHERE subject_id IN ({marks})", emptied)
        conn.execute(f"UPDATE subjects SET purge_due = 0 WHERE subject_id IN ({marks})", emptied)
    return deleted


class _Maintenance:
    def __init__(self, connections: Connections, writer: GroupCommitWriter) -> None:
        self._connections = connections
        self._writer = writer

    def purge_records(self, subject_state: SubjectState, limit: int) -> int:
        # Only the subjects due for it (subjects_by_state), and their records
        # by subject (records_by_subject): the write touches the erased people's
        # rows and reads no others, however many the vault holds or ever erased.
        # Fewer than `limit` go only when no subject in the state is due.
        with self._writer.write() as conn:
            deleted = 0
            while deleted < limit:
                due = [
                    row[0]
                    for row in conn.execute(
                        "SELECT subject_id FROM subjects WHERE state = ? AND purge_due = 1 LIMIT ?",
                        (subject_state.value, _DUE_AT_A_TIME),
                    )
                ]
                if not due:
                    break
                # Either `limit` is reached or a due subject is emptied: this ends.
                deleted += _purge_of(conn, due, limit - deleted)
            return deleted

    def forget_requests(self, remembered_before: dt.datetime, limit: int) -> int:
        with self._writer.write() as conn:
            return forget_requests(conn, remembered_before, limit)

    def scrub(self) -> bool:
        return self._writer.checkpoint_truncate(self._connections.wal_path)


class SQLiteRecordStore:
    """The record database: subjects, blind-indexed identities, sealed records,
    remembered requests, erasure receipts, the step engine's rows, API tokens,
    the audit log and consent histories."""

    def __init__(self, path: Path, *, upgrade: bool = False) -> None:
        # `upgrade`: apply migrations this database lacks (`consent-vault migrate`);
        # without it a database that is behind is refused (vault.storage.schema).
        self._connections = Connections(path, record_migrations, "record database", upgrade=upgrade)
        self._writer = GroupCommitWriter(self._connections)
        this_thread = self._connections.get
        self.subjects = SubjectQueries(this_thread)
        self.records = _Records(self._connections, self._writer)
        self.replay = ReplayQueries(this_thread)
        self.receipts = ReceiptQueries(this_thread)
        self.maintenance = _Maintenance(self._connections, self._writer)
        self.steps = SQLiteStepStore(self._connections, self._writer)
        self.tokens = SQLiteTokenStore(self._connections, self._writer)
        self.audit = SQLiteAuditStore(self._connections, self._writer)
        self.consents = SQLiteConsentStore(this_thread)

    @property
    def path(self) -> Path:
        return self._connections.path

    @property
    def migrations_applied(self) -> list[str]:
        """The migrations this store applied when it opened, in order."""
        return self._connections.applied

    @contextmanager
    def write(self) -> Iterator[_Transaction]:
        with self._writer.write() as conn:
            yield _Transaction(conn)

    def close(self) -> None:
        self._writer.close()  # first: its thread may still be committing
        self._connections.close()
