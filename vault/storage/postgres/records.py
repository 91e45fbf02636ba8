"""The record store on PostgreSQL: subjects, identities, sealed records, remembered
requests, erasure receipts, the step engine's rows (vault.storage.postgres.steps),
API tokens (vault.storage.postgres.tokens), the audit log
(vault.storage.postgres.audit) and consent histories with the policy versions
(vault.storage.postgres.consents).

Times are TIMESTAMPTZ, ciphertext BYTEA, a record's place in its subject's list
an identity column, never reused. The unit of work (`write()`) takes the record
database's write lock, an advisory lock, at its first statement: the core's
check-then-act writes (an intake, an erasure) rely on one writer at a time, as
on SQLite. The hot write, the grouped append (appends.py), does not take it: it
locks its subjects' rows (`FOR SHARE`) instead, so appends from several
processes run side by side and none lands after a change of its subject's state.

Locks are taken in one order, so that no two transactions wait for each other
in a circle: a subject's row first (a group's `FOR SHARE`; a unit of work's
`FOR NO KEY UPDATE` before it touches the subject's records or counts), then
remembered requests, records and counts, each sorted by key.

A record's place is drawn when it is inserted, not when it commits: of two
processes appending to one subject at once, the one with the lower place may
commit second, so a reader paging through that subject at that very moment can
pass a place whose record lands a moment later.

Scrubbing runs VACUUM on the record database's tables. That marks the space of
deleted rows free for reuse; it does not zero it, so their bytes stay in the
table files until new rows overwrite them, and WAL segments, replicas and
backups keep them until they are recycled or expire. Crypto-shredding does not
rest on it: a record's ciphertext is unreadable once its subject's keys are
destroyed in the key database; scrubbing only shortens how long it lingers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from vault.core.model import SubjectState
from vault.storage.base import AppendOutcome, NewRecord, RecordRow
from vault.storage.postgres.appends import Append, AppendWriter
from vault.storage.postgres.audit import PostgresAuditStore, PostgresAuditWrites
from vault.storage.postgres.consents import PostgresConsentStore, PostgresConsentWrites
from vault.storage.postgres.database import Database
from vault.storage.postgres.migrations import record_migrations
from vault.storage.postgres.queries import (
    Connect,
    ReceiptQueries,
    ReceiptWrites,
    RecordQueries,
    RecordWrites,
    ReplayQueries,
    ReplayWrites,
    SubjectQueries,
    SubjectWrites,
    forget_requests,
    within_transaction,
)
from vault.storage.postgres.steps import PostgresStepStore, StepWrites
from vault.storage.postgres.tokens import PostgresTokenStore
from vault.storage.settling import LoopSettlers

# Every table of the record database, for VACUUM.
_TABLES = (
    "subjects",
    "identities",
    "records",
    "record_counts",
    "requests",
    "erasures",
    "step_requests",
    "steps",
    "manual_actions",
    "api_tokens",
    "audit_events",
    "audit_heads",
    "audit_log",
    "audit_intents",
    "consent_events",
    "consent_standing",
    "policy_versions",
    "processing_limits",
)


class _Transaction:
    """One write transaction: every aggregate's writes over its connection."""

    __slots__ = ("conn", "consents", "receipts", "records", "replay", "subjects")

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        within = within_transaction(conn)
        self.subjects = SubjectWrites(within)
        self.records = RecordWrites(within)
        self.replay = ReplayWrites(within)
        self.receipts = ReceiptWrites(within)
        self.consents = PostgresConsentWrites(within)

    @property
    def steps(self) -> StepWrites:
        # The step engine's writes in the same transaction: an erasure request
        # commits with the subject's new state and its remembered request id.
        return StepWrites(self.conn)

    @property
    def audit(self) -> PostgresAuditWrites:
        # A change's audit event commits with the change, or neither does.
        return PostgresAuditWrites(self.conn)


def _settle_future(
    future: concurrent.futures.Future[AppendOutcome],
    outcome: AppendOutcome | None,
    error: BaseException | None,
) -> None:
    if error is not None:
        future.set_exception(error)
    else:
        assert outcome is not None
        future.set_result(outcome)


class _Records(RecordQueries):
    """The records outside a transaction: reads on pooled connections, and the grouped append."""

    def __init__(self, connect: Connect, writer: AppendWriter) -> None:
        super().__init__(connect)
        self._writer = writer
        self._settlers = LoopSettlers()

    def append_record(self, new: NewRecord, subject_state: SubjectState) -> AppendOutcome:
        committed: concurrent.futures.Future[AppendOutcome] = concurrent.futures.Future()
        self._writer.queue(Append(new, subject_state, functools.partial(_settle_future, committed)))
        return committed.result()

    async def append_record_async(
        self, new: NewRecord, subject_state: SubjectState
    ) -> AppendOutcome:
        # The writer's thread commits it with the others queued meanwhile and
        # settles this call's future, so no thread of the caller's waits out the commit.
        loop = asyncio.get_running_loop()
        settler = self._settlers.current()
        committed: asyncio.Future[AppendOutcome] = loop.create_future()
        self._writer.queue(
            Append(new, subject_state, functools.partial(settler.settle_later, committed))
        )
        return await committed

    def iter_records(self, subject_id: str, category: str | None = None) -> Iterator[RecordRow]:
        # Paged rather than one long cursor: a connection is held for one page
        # only, and no long transaction keeps VACUUM from reclaiming deleted rows.
        after = 0
        while True:
            page = self.records_page(subject_id, category, after, 500)
            yield from page
            if len(page) < 500:
                return
            after = page[-1].seq


# How many due subjects one round of the purge locks and takes.
_DUE_AT_A_TIME = 100


def _purge_of(conn: psycopg.Connection[Any], due: list[str], limit: int) -> int:
    """Delete up to `limit` records of the `due` subjects (their rows locked);
    the subjects left with none lose their counts and are no longer due."""
    deleted = conn.execute(
        "DELETE FROM records WHERE seq = ANY(ARRAY("
        "SELECT seq FROM records WHERE subject_id = ANY(%s) LIMIT %s))",
        (due, limit),
    ).rowcount
    if deleted < limit:
        emptied = due
    else:
        rows = conn.execute(
            "SELECT subject_id FROM unnest(%s::text[]) AS due(subject_id) WHERE NOT EXISTS "
            "(SELECT 1 FROM records r WHERE r.subject_id = due.subject_id)",
            (due,),
        ).fetchall()
        emptied = [row[0] for row in rows]
    if emptied:
        conn.execute("DELETE FROM record_counts WHERE subject_id = ANY(%s)", (emptied,))
        conn.execute("UPDATE subjects SET purge_due = false WHERE subject_id = ANY(%s)", (emptied,))
    return deleted


class _Maintenance:
    def __init__(self, database: Database) -> None:
        self._database = database

    def purge_records(self, subject_state: SubjectState, limit: int) -> int:
        # Not under the write lock: it decides nothing from what it reads, and
        # no append stores a record for a subject in a state the core purges.
        # Only the subjects due for it (subjects_by_state), and their records by
        # subject (records_by_subject): it touches the erased people's rows and
        # reads no others, however many the vault holds or ever erased. Fewer
        # than `limit` go only when no subject in the state is due, or the
        # rest are another process's purge's.
        with self._database.transaction() as conn:
            deleted = 0
            while deleted < limit:
                # The subjects' rows first, the order records.py's docstring gives.
                rows = conn.execute(
                    "SELECT subject_id FROM subjects WHERE state = %s AND purge_due "
                    "ORDER BY subject_id LIMIT %s FOR NO KEY UPDATE SKIP LOCKED",
                    (subject_state.value, _DUE_AT_A_TIME),
                ).fetchall()
                if not rows:
                    break
                # Either `limit` is reached or a due subject is emptied: this ends.
                deleted += _purge_of(conn, [row[0] for row in rows], limit - deleted)
            return deleted

    def forget_requests(self, remembered_before: dt.datetime, limit: int) -> int:
        # Not under the write lock, as the purge: what it deletes no unit of work
        # decides anything from, since a retry after the configured time is new.
        with self._database.transaction() as conn:
            return forget_requests(conn, remembered_before, limit)

    def scrub(self) -> bool:
        # VACUUM cannot run inside a transaction; a pooled connection is in autocommit.
        # What it does not do is in the module's docstring.
        with self._database.connection() as conn:
            conn.execute(f"VACUUM {', '.join(_TABLES)}")
        return True


class PostgresRecordStore:
    """The record database on PostgreSQL: subjects, blind-indexed identities,
    sealed records, remembered requests, erasure receipts, the step engine's
    rows, API tokens, the audit log and consent histories."""

    def __init__(self, url: str, *, upgrade: bool = False) -> None:
        # `upgrade`: apply migrations this database lacks (`consent-vault migrate`);
        # without it a database that is behind is refused (vault.storage.schema).
        self._database = Database(url, record_migrations, "record database", upgrade=upgrade)
        self._write_lock = self._database.lock_id("records.write")
        self._writer = AppendWriter(self._database)
        self._closed = False
        reads = self._database.connection
        self.subjects = SubjectQueries(reads)
        self.records = _Records(reads, self._writer)
        self.replay = ReplayQueries(reads)
        self.receipts = ReceiptQueries(reads)
        self.maintenance = _Maintenance(self._database)
        self.steps = PostgresStepStore(self._database)
        self.tokens = PostgresTokenStore(self._database)
        # Events appended on their own share the records' grouped append.
        self.audit = PostgresAuditStore(self._database, self._writer.queue)
        self.consents = PostgresConsentStore(reads)

    @property
    def url(self) -> str:
        return self._database.url

    @property
    def migrations_applied(self) -> list[str]:
        """The migrations this store applied when it opened, in order."""
        return self._database.applied

    @contextmanager
    def write(self) -> Iterator[_Transaction]:
        with self._database.transaction(lock=self._write_lock) as conn:
            yield _Transaction(conn)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._writer.close()  # first: it commits what is queued
        self._database.close()
