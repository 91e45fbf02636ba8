"""The record store on PostgreSQL: subjects, identities, sealed records, remembered
requests, erasure receipts and the step engine's rows (vault.storage.postgres.steps).

Times are TIMESTAMPTZ, ciphertext BYTEA, a record's place in its subject's list
an identity column, never reused. The unit of work (`write()`) takes the record
database's write lock, an advisory lock, at its first statement: the core's
check-then-act writes (an intake, an erasure) rely on one writer at a time, as
on SQLite. The hot write, the grouped append, does not take it: it locks its
subjects' rows (`FOR SHARE`) instead, so appends from several processes run
side by side and none lands after a change of its subject's state.

Each store object has one writer thread for the grouped append: callers queue
their records and wait (a thread on a future, an event loop on one of its own),
and the writer commits everything queued in one transaction and gives each
caller its own outcome, so a burst of puts costs a few transactions.

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
import collections
import concurrent.futures
import datetime as dt
import functools
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import psycopg

from vault.core.identities import IdentityKind
from vault.core.model import LegalBasis, SubjectState
from vault.storage.base import (
    AppendOutcome,
    IdentityRow,
    NewRecord,
    RecordRow,
    RememberedRequest,
    SubjectRow,
)
from vault.storage.postgres.database import Database, Migration, MigrationSet
from vault.storage.postgres.steps import PostgresStepStore, StepWrites

log = logging.getLogger("vault.storage")

# The names are the steps' record in existing databases: append only.
record_migrations = MigrationSet(
    "consent_vault.records",
    (
        Migration(
            "0001_initial",
            (
                """CREATE TABLE subjects (
                    subject_id TEXT PRIMARY KEY,
                    state TEXT NOT NULL,
                    roles TEXT[] NOT NULL,
                    protected_identity BOOLEAN NOT NULL,
                    created_at TIMESTAMPTZ NOT NULL,
                    updated_at TIMESTAMPTZ NOT NULL)""",
                "CREATE INDEX subjects_by_state ON subjects(state)",
                # `position`: the order identities were added, which reads keep.
                """CREATE TABLE identities (
                    blind_index TEXT PRIMARY KEY,
                    subject_id TEXT NOT NULL REFERENCES subjects(subject_id),
                    kind TEXT NOT NULL,
                    sealed_value BYTEA NOT NULL,
                    position BIGINT GENERATED ALWAYS AS IDENTITY)""",
                "CREATE INDEX identities_by_subject ON identities(subject_id, position)",
                """CREATE TABLE records (
                    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    record_id TEXT NOT NULL UNIQUE,
                    subject_id TEXT NOT NULL REFERENCES subjects(subject_id),
                    category TEXT NOT NULL,
                    purpose TEXT NOT NULL,
                    legal_basis TEXT NOT NULL,
                    source_system TEXT NOT NULL,
                    key_id TEXT NOT NULL,
                    sealed_payload BYTEA NOT NULL,
                    sealed_content BYTEA,
                    created_at TIMESTAMPTZ NOT NULL,
                    updated_at TIMESTAMPTZ NOT NULL)""",
                "CREATE INDEX records_by_subject ON records(subject_id, seq)",
                "CREATE INDEX records_by_category ON records(subject_id, category, seq)",
                # Kept in the same transactions as the records, so an erasure
                # receipt can say how many records it made unreadable.
                """CREATE TABLE record_counts (
                    subject_id TEXT NOT NULL REFERENCES subjects(subject_id),
                    category TEXT NOT NULL,
                    count BIGINT NOT NULL,
                    PRIMARY KEY (subject_id, category))""",
                """CREATE TABLE requests (
                    request_id TEXT PRIMARY KEY,
                    operation TEXT NOT NULL,
                    fingerprint TEXT NOT NULL,
                    subject_id TEXT NOT NULL,
                    result TEXT NOT NULL)""",
                "CREATE INDEX requests_by_subject ON requests(subject_id)",
                """CREATE TABLE erasures (
                    subject_id TEXT PRIMARY KEY REFERENCES subjects(subject_id),
                    erased_at TIMESTAMPTZ NOT NULL,
                    receipt TEXT NOT NULL)""",
                # The step engine's rows; a request about no one has no subject.
                """CREATE TABLE step_requests (
                    request_id TEXT PRIMARY KEY,
                    kind TEXT NOT NULL,
                    subject_id TEXT REFERENCES subjects(subject_id),
                    state TEXT NOT NULL,
                    received_at TIMESTAMPTZ NOT NULL,
                    deadline_at TIMESTAMPTZ NOT NULL,
                    completed_at TIMESTAMPTZ,
                    sealed_payload BYTEA,
                    updated_at TIMESTAMPTZ NOT NULL,
                    requested_by_who TEXT NOT NULL,
                    requested_by_role TEXT NOT NULL,
                    requested_by_system TEXT NOT NULL)""",
                "CREATE INDEX step_requests_by_subject "
                "ON step_requests(kind, subject_id, received_at)",
                "CREATE INDEX step_requests_by_time ON step_requests(kind, received_at, request_id)",
                "CREATE INDEX step_requests_holding_secrets ON step_requests(state) "
                "WHERE sealed_payload IS NOT NULL",
                """CREATE TABLE steps (
                    request_id TEXT NOT NULL REFERENCES step_requests(request_id),
                    name TEXT NOT NULL,
                    position INTEGER NOT NULL,
                    state TEXT NOT NULL,
                    attempts INTEGER NOT NULL,
                    next_attempt_at TIMESTAMPTZ NOT NULL,
                    lease_owner TEXT,
                    lease_until TIMESTAMPTZ,
                    last_error TEXT,
                    result TEXT,
                    updated_at TIMESTAMPTZ NOT NULL,
                    sealed BYTEA,
                    details JSONB,
                    PRIMARY KEY (request_id, name))""",
                "CREATE INDEX steps_due ON steps(state, next_attempt_at)",
                """CREATE TABLE manual_actions (
                    action_id TEXT PRIMARY KEY,
                    request_id TEXT NOT NULL REFERENCES step_requests(request_id),
                    step TEXT NOT NULL,
                    category TEXT NOT NULL,
                    description TEXT NOT NULL,
                    sealed_instructions BYTEA,
                    created_at TIMESTAMPTZ NOT NULL,
                    confirmed_by TEXT,
                    confirmed_at TIMESTAMPTZ)""",
                "CREATE INDEX manual_actions_by_request ON manual_actions(request_id)",
            ),
        ),
    ),
)


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
)

_RECORD_COLUMNS = (
    "r.seq, r.record_id, r.subject_id, r.category, r.purpose, r.legal_basis, "
    "r.source_system, r.key_id, r.sealed_payload, r.sealed_content, r.created_at, r.updated_at"
)

# A connection for one read (from the pool) or the write transaction's own.
_Connect = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]


def _within(conn: psycopg.Connection[Any]) -> _Connect:
    return lambda: nullcontext(conn)


def _utc(moment: dt.datetime) -> dt.datetime:
    # psycopg gives a TIMESTAMPTZ in the session's time zone; the core speaks UTC.
    return moment.astimezone(dt.UTC)


def _record_row(row: tuple[Any, ...], subject_state: SubjectState | None = None) -> RecordRow:
    (
        seq,
        record_id,
        subject_id,
        category,
        purpose,
        basis,
        source,
        key_id,
        payload,
        content,
        created,
        updated,
    ) = row
    return RecordRow(
        record_id,
        subject_id,
        category,
        purpose,
        LegalBasis(basis),
        source,
        key_id,
        payload,
        content,
        _utc(created),
        _utc(updated),
        seq,
        subject_state,
    )


def _lock_subjects(conn: psycopg.Connection[Any], subject_ids: list[str]) -> None:
    """Lock the subjects' rows before touching their records or counts, the
    order grouped appends take their locks in (see the module's docstring).
    Not FOR SHARE: a unit of work that then changed the subject would wait for a
    group sharing the row while that group waited for the counts it holds."""
    conn.execute(
        "SELECT 1 FROM subjects WHERE subject_id = ANY(%s) ORDER BY subject_id FOR NO KEY UPDATE",
        (sorted(set(subject_ids)),),
    )


def _insert_rows(conn: psycopg.Connection[Any], rows: list[RecordRow]) -> None:
    """The records, in the order given (their places follow it), and their counts."""
    if not rows:
        return
    with conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO records (record_id, subject_id, category, purpose, legal_basis, "
            "source_system, key_id, sealed_payload, sealed_content, created_at, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    r.record_id,
                    r.subject_id,
                    r.category,
                    r.purpose,
                    r.legal_basis.value,
                    r.source_system,
                    r.key_id,
                    r.sealed_payload,
                    r.sealed_content,
                    r.created_at,
                    r.updated_at,
                )
                for r in rows
            ],
        )
        added = collections.Counter((r.subject_id, r.category) for r in rows)
        cursor.executemany(
            "INSERT INTO record_counts (subject_id, category, count) VALUES (%s, %s, %s) "
            "ON CONFLICT (subject_id, category) "
            "DO UPDATE SET count = record_counts.count + excluded.count",
            [
                (subject_id, category, added[subject_id, category])
                for subject_id, category in sorted(added)
            ],
        )


class _SubjectQueries:
    """Reads of subjects and identities, each over the connection `connect()` gives."""

    def __init__(self, connect: _Connect) -> None:
        self._connect = connect

    def subject(self, subject_id: str) -> SubjectRow | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT subject_id, state, roles, protected_identity, created_at, updated_at "
                "FROM subjects WHERE subject_id = %s",
                (subject_id,),
            ).fetchone()
        if row is None:
            return None
        return SubjectRow(
            row[0], SubjectState(row[1]), tuple(row[2]), row[3], _utc(row[4]), _utc(row[5])
        )

    def subject_state(self, subject_id: str) -> SubjectState | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT state FROM subjects WHERE subject_id = %s", (subject_id,)
            ).fetchone()
        return SubjectState(row[0]) if row else None

    def subject_ids_in_state(self, state: SubjectState) -> list[str]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT subject_id FROM subjects WHERE state = %s", (state.value,)
            ).fetchall()
        return [row[0] for row in rows]

    def subject_id_by_index(self, blind_index: str) -> str | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT subject_id FROM identities WHERE blind_index = %s", (blind_index,)
            ).fetchone()
        return row[0] if row else None

    def identities(self, subject_id: str) -> list[IdentityRow]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT blind_index, subject_id, kind, sealed_value FROM identities "
                "WHERE subject_id = %s ORDER BY position",
                (subject_id,),
            ).fetchall()
        return [
            IdentityRow(blind_index, subject_id, IdentityKind(kind), sealed)
            for blind_index, subject_id, kind, sealed in rows
        ]


class _SubjectWrites(_SubjectQueries):
    def insert_subject(self, row: SubjectRow) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO subjects (subject_id, state, roles, protected_identity, "
                "created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s)",
                (
                    row.subject_id,
                    row.state.value,
                    list(row.roles),
                    row.protected_identity,
                    row.created_at,
                    row.updated_at,
                ),
            )

    def update_subject(
        self, subject_id: str, roles: tuple[str, ...], protected: bool, at: dt.datetime
    ) -> None:
        with self._connect() as conn:
            conn.execute(
                "UPDATE subjects SET roles = %s, protected_identity = %s, updated_at = %s "
                "WHERE subject_id = %s",
                (list(roles), protected, at, subject_id),
            )

    def touch_subject(self, subject_id: str, at: dt.datetime) -> None:
        with self._connect() as conn:
            conn.execute(
                "UPDATE subjects SET updated_at = %s WHERE subject_id = %s", (at, subject_id)
            )

    def set_subject_state(self, subject_id: str, state: SubjectState, at: dt.datetime) -> None:
        with self._connect() as conn:
            conn.execute(
                "UPDATE subjects SET state = %s, updated_at = %s WHERE subject_id = %s",
                (state.value, at, subject_id),
            )

    def insert_identity(self, row: IdentityRow) -> bool:
        with self._connect() as conn:
            cursor = conn.execute(
                "INSERT INTO identities (blind_index, subject_id, kind, sealed_value) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (blind_index) DO NOTHING",
                (row.blind_index, row.subject_id, row.kind.value, row.sealed_value),
            )
            return cursor.rowcount == 1

    def delete_identity(self, blind_index: str) -> None:
        with self._connect() as conn:
            conn.execute("DELETE FROM identities WHERE blind_index = %s", (blind_index,))

    def delete_identities(self, subject_id: str) -> int:
        with self._connect() as conn:
            return conn.execute(
                "DELETE FROM identities WHERE subject_id = %s", (subject_id,)
            ).rowcount


class _RecordQueries:
    """Reads of records and their counts."""

    def __init__(self, connect: _Connect) -> None:
        self._connect = connect

    def record(self, record_id: str) -> RecordRow | None:
        with self._connect() as conn:
            row = conn.execute(
                f"SELECT {_RECORD_COLUMNS}, s.state FROM records r "
                "JOIN subjects s ON s.subject_id = r.subject_id WHERE r.record_id = %s",
                (record_id,),
            ).fetchone()
        return _record_row(row[:-1], SubjectState(row[-1])) if row else None

    def records_page(
        self, subject_id: str, category: str | None, after_seq: int, limit: int
    ) -> list[RecordRow]:
        with self._connect() as conn:
            if category is None:
                rows = conn.execute(
                    f"SELECT {_RECORD_COLUMNS} FROM records r "
                    "WHERE r.subject_id = %s AND r.seq > %s ORDER BY r.seq LIMIT %s",
                    (subject_id, after_seq, limit),
                ).fetchall()
            else:
                rows = conn.execute(
                    f"SELECT {_RECORD_COLUMNS} FROM records r WHERE r.subject_id = %s "
                    "AND r.category = %s AND r.seq > %s ORDER BY r.seq LIMIT %s",
                    (subject_id, category, after_seq, limit),
                ).fetchall()
        return [_record_row(row) for row in rows]

    def count_records(self, subject_id: str, category: str | None = None) -> int:
        with self._connect() as conn:
            if category is None:
                row = conn.execute(
                    "SELECT coalesce(sum(count), 0) FROM record_counts WHERE subject_id = %s",
                    (subject_id,),
                ).fetchone()
            else:
                row = conn.execute(
                    "SELECT coalesce(sum(count), 0) FROM record_counts "
                    "WHERE subject_id = %s AND category = %s",
                    (subject_id, category),
                ).fetchone()
        assert row is not None
        return int(row[0])

    def categories(self, subject_id: str) -> list[str]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT DISTINCT category FROM records WHERE subject_id = %s ORDER BY category",
                (subject_id,),
            ).fetchall()
        return [row[0] for row in rows]


class _RecordWrites(_RecordQueries):
    def insert_records(self, rows: list[RecordRow]) -> None:
        with self._connect() as conn:
            _lock_subjects(conn, [r.subject_id for r in rows])
            _insert_rows(conn, rows)

    def update_record(self, row: RecordRow) -> None:
        with self._connect() as conn:
            conn.execute(
                "UPDATE records SET purpose = %s, legal_basis = %s, source_system = %s, "
                "key_id = %s, sealed_payload = %s, sealed_content = %s, updated_at = %s "
                "WHERE record_id = %s",
                (
                    row.purpose,
                    row.legal_basis.value,
                    row.source_system,
                    row.key_id,
                    row.sealed_payload,
                    row.sealed_content,
                    row.updated_at,
                    row.record_id,
                ),
            )

    def delete_category_records(self, subject_id: str, category: str) -> int:
        with self._connect() as conn:
            _lock_subjects(conn, [subject_id])
            conn.execute(
                "DELETE FROM record_counts WHERE subject_id = %s AND category = %s",
                (subject_id, category),
            )
            return conn.execute(
                "DELETE FROM records WHERE subject_id = %s AND category = %s",
                (subject_id, category),
            ).rowcount


class _ReplayQueries:
    def __init__(self, connect: _Connect) -> None:
        self._connect = connect

    def remembered(self, request_id: str) -> RememberedRequest | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT request_id, operation, fingerprint, subject_id, result FROM requests "
                "WHERE request_id = %s",
                (request_id,),
            ).fetchone()
        return RememberedRequest(*row) if row else None


class _ReplayWrites(_ReplayQueries):
    def remember(self, request: RememberedRequest) -> bool:
        with self._connect() as conn:
            return bool(_remember_new(conn, [request]))

    def forget_requests_of(self, subject_id: str, keep: tuple[str, ...]) -> None:
        with self._connect() as conn:
            conn.execute(
                "DELETE FROM requests WHERE subject_id = %s AND operation <> ALL(%s)",
                (subject_id, list(keep)),
            )


def _remember_new(conn: psycopg.Connection[Any], requests: list[RememberedRequest]) -> set[str]:
    """Remember the requests whose ids are not taken; the ids remembered now.
    In order of id, the order every transaction takes these rows' locks in."""
    if not requests:
        return set()
    ordered = sorted(requests, key=lambda request: request.request_id)
    rows = conn.execute(
        "INSERT INTO requests (request_id, operation, fingerprint, subject_id, result) "
        "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[]) "
        "ON CONFLICT (request_id) DO NOTHING RETURNING request_id",
        (
            [r.request_id for r in ordered],
            [r.operation for r in ordered],
            [r.fingerprint for r in ordered],
            [r.subject_id for r in ordered],
            [r.result for r in ordered],
        ),
    ).fetchall()
    return {row[0] for row in rows}


class _ReceiptQueries:
    def __init__(self, connect: _Connect) -> None:
        self._connect = connect

    def erasure_receipt(self, subject_id: str) -> str | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT receipt FROM erasures WHERE subject_id = %s", (subject_id,)
            ).fetchone()
        return row[0] if row else None


class _ReceiptWrites(_ReceiptQueries):
    def save_erasure_receipt(self, subject_id: str, receipt: str, at: dt.datetime) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO erasures (subject_id, erased_at, receipt) VALUES (%s, %s, %s)",
                (subject_id, at, receipt),
            )


class _Transaction:
    """One write transaction: every aggregate's writes over its connection."""

    __slots__ = ("conn", "receipts", "records", "replay", "subjects")

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        within = _within(conn)
        self.subjects = _SubjectWrites(within)
        self.records = _RecordWrites(within)
        self.replay = _ReplayWrites(within)
        self.receipts = _ReceiptWrites(within)

    @property
    def steps(self) -> StepWrites:
        # The step engine's writes in the same transaction: an erasure request
        # commits with the subject's new state and its remembered request id.
        return StepWrites(self.conn)


# -------------------------------------------------------- grouped appends --


def _append_group(
    conn: psycopg.Connection[Any], items: list[tuple[NewRecord, SubjectState]]
) -> list[AppendOutcome]:
    """Store a group of new records in a few statements: one read of their
    subjects' states, one insert of their requests, then the rows and counts."""
    subject_ids = sorted({new.row.subject_id for new, _ in items})
    # FOR SHARE: a change of one of these subjects' states waits until this
    # group commits, and a group that waits for a change reads the state after it.
    states = {
        subject_id: SubjectState(state)
        for subject_id, state in conn.execute(
            "SELECT subject_id, state FROM subjects WHERE subject_id = ANY(%s) "
            "ORDER BY subject_id FOR SHARE",
            (subject_ids,),
        ).fetchall()
    }
    admitted = [
        n for n, (new, wanted) in enumerate(items) if states.get(new.row.subject_id) is wanted
    ]
    # Of appends sharing a request id, the first queued may take it; the others find it taken.
    first_with: dict[str, int] = {}
    candidates: list[RememberedRequest] = []
    for n in admitted:
        request = items[n][0].request
        if request is not None and request.request_id not in first_with:
            first_with[request.request_id] = n
            candidates.append(request)
    remembered = _remember_new(conn, candidates)
    winners = {first_with[request_id] for request_id in remembered}
    outcomes = []
    stored = []
    for n, (new, wanted) in enumerate(items):
        state = states.get(new.row.subject_id)
        if state is not wanted:
            outcomes.append(AppendOutcome(state, stored=False))
        elif new.request is not None and n not in winners:
            outcomes.append(AppendOutcome(state, stored=False, request_taken=True))
        else:
            outcomes.append(AppendOutcome(state, stored=True))
            stored.append(new.row)
    _insert_rows(conn, stored)
    return outcomes


_Settle = Callable[[AppendOutcome | None, BaseException | None], None]


@dataclass(frozen=True)
class _Append:
    new: NewRecord
    wanted: SubjectState
    settle: _Settle  # called from the writer's thread once the group committed or failed


class _AppendWriter:
    """The thread that commits the grouped appends of one store object.

    It takes everything queued, commits it in one transaction and settles
    each append with its own outcome (or the group's error); appends queued
    meanwhile make up the next group, so no one waits for a gathering window.
    """

    def __init__(self, database: Database) -> None:
        self._database = database
        self._queued: list[_Append] = []
        self._changed = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="postgres-appends", daemon=True)
        self._thread.start()

    def queue(self, append: _Append) -> None:
        with self._changed:
            if self._closed:
                raise RuntimeError("the record store is closed")
            self._queued.append(append)
            self._changed.notify()

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._queued or self._closed)
                if not self._queued:
                    return  # closed, with everything queued committed
                group, self._queued = self._queued, []
            try:
                with self._database.transaction() as conn:
                    outcomes = _append_group(conn, [(a.new, a.wanted) for a in group])
            except Exception as error:
                for append in group:
                    _settle(append, None, error)
            else:
                for append, outcome in zip(group, outcomes, strict=True):
                    _settle(append, outcome, None)

    def close(self) -> None:
        """Commit what is queued, then end the thread."""
        with self._changed:
            self._closed = True
            self._changed.notify()
        self._thread.join()


def _settle(append: _Append, outcome: AppendOutcome | None, error: BaseException | None) -> None:
    try:
        append.settle(outcome, error)
    except Exception:  # the writer must live on for the next group
        log.exception("settling an append failed")


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


class _Settler:
    """Settles an event loop's futures from the writer's thread, with one
    wake-up of the loop for all the appends one commit finished."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._lock = threading.Lock()
        self._due: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []

    def settle_later(
        self, future: asyncio.Future[Any], result: Any, error: BaseException | None
    ) -> None:
        with self._lock:
            self._due.append((future, result, error))
            if len(self._due) > 1:
                return  # a wake-up is already on its way
        self.loop.call_soon_threadsafe(self._settle)

    def _settle(self) -> None:
        with self._lock:
            due, self._due = self._due, []
        for future, result, error in due:
            if future.done():  # its caller gave up; the write stands regardless
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)


class _Records(_RecordQueries):
    """The records outside a transaction: reads on pooled connections, and the grouped append."""

    def __init__(self, connect: _Connect, writer: _AppendWriter) -> None:
        super().__init__(connect)
        self._writer = writer
        self._settler: _Settler | None = None

    def append_record(self, new: NewRecord, subject_state: SubjectState) -> AppendOutcome:
        committed: concurrent.futures.Future[AppendOutcome] = concurrent.futures.Future()
        self._writer.queue(
            _Append(new, subject_state, functools.partial(_settle_future, committed))
        )
        return committed.result()

    async def append_record_async(
        self, new: NewRecord, subject_state: SubjectState
    ) -> AppendOutcome:
        # The writer's thread commits it with the others queued meanwhile and
        # settles this call's future, so no thread of the caller's waits out the commit.
        loop = asyncio.get_running_loop()
        settler = self._settler
        if settler is None or settler.loop is not loop:
            settler = self._settler = _Settler(loop)
        committed: asyncio.Future[AppendOutcome] = loop.create_future()
        self._writer.queue(
            _Append(new, subject_state, functools.partial(settler.settle_later, committed))
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


class _Maintenance:
    def __init__(self, database: Database) -> None:
        self._database = database

    def purge_records(self, subject_state: SubjectState, limit: int) -> int:
        # Not under the write lock: it decides nothing from what it reads, and
        # no append stores a record for a subject in a state the core purges.
        with self._database.transaction() as conn:
            conn.execute(
                "DELETE FROM record_counts WHERE subject_id IN "
                "(SELECT subject_id FROM subjects WHERE state = %s)",
                (subject_state.value,),
            )
            return conn.execute(
                "DELETE FROM records WHERE seq IN (SELECT r.seq FROM records r "
                "JOIN subjects s ON s.subject_id = r.subject_id WHERE s.state = %s LIMIT %s)",
                (subject_state.value, limit),
            ).rowcount

    def scrub(self) -> bool:
        # VACUUM cannot run inside a transaction; a pooled connection is in autocommit.
        # What it does not do is in the module's docstring.
        with self._database.connection() as conn:
            conn.execute(f"VACUUM {', '.join(_TABLES)}")
        return True


class PostgresRecordStore:
    """The record database on PostgreSQL: subjects, blind-indexed identities,
    sealed records, remembered requests, erasure receipts and the step engine's rows."""

    def __init__(self, url: str, *, upgrade: bool = False) -> None:
        # `upgrade`: apply migrations this database lacks (`consent-vault migrate`);
        # without it a database that is behind is refused (vault.storage.schema).
        self._database = Database(url, record_migrations, "record database", upgrade=upgrade)
        self._write_lock = self._database.lock_id("records.write")
        self._writer = _AppendWriter(self._database)
        self._closed = False
        reads = self._database.connection
        self.subjects = _SubjectQueries(reads)
        self.records = _Records(reads, self._writer)
        self.replay = _ReplayQueries(reads)
        self.receipts = _ReceiptQueries(reads)
        self.maintenance = _Maintenance(self._database)
        self.steps = PostgresStepStore(self._database)

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
