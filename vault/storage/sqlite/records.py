"""SQLite storage, the embedded default, through sqlite-utils.

Every connection runs in WAL mode with `secure_delete=ON` (deleted bytes are
overwritten with zeros), `synchronous=FULL` (a commit survives power loss) and
a busy timeout. Writes take the lock up front with `BEGIN IMMEDIATE`: Python's
default deferred transactions can lose updates when two writers upgrade from a
read lock at once. Readers have a connection per thread; writers share one
connection per process through a group-commit writer.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from vault.core.identities import IdentityKind
from vault.core.model import LegalBasis, SubjectState
from vault.storage import schema
from vault.storage.base import (
    AppendOutcome,
    IdentityRow,
    NewRecord,
    RecordRow,
    RememberedRequest,
    SubjectRow,
)
from vault.storage.sqlite.steps import SQLiteStepStore, _StepWrites

log = logging.getLogger("vault.storage")

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

BUSY_TIMEOUT_MS = 30_000


class _Connections:
    """One connection per thread to one database file, all configured alike."""

    def __init__(
        self, path: Path, migrations: Migrations, database: str, *, upgrade: bool = False
    ) -> None:
        self.path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = self.get()
        # Under the write lock, so two processes starting at once do not both
        # apply the same step. The rule of what to apply is schema.to_apply's.
        with transaction(conn):
            db = Database(conn)
            self.applied = schema.to_apply(
                f"{database} ({path})",
                [migration.name for migration in migrations.applied(db)],
                _names(migrations),
                upgrade=upgrade,
                command=f"{schema.MIGRATE_COMMAND} --data-dir {path.parent}",
            )
            if self.applied:
                migrations.apply(db)

    def get(self) -> sqlite3.Connection:
        """This thread's connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self.open()
            self._local.conn = conn
        return conn

    def open(self) -> sqlite3.Connection:
        """A new connection, closed with the others."""
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA secure_delete = ON")
        conn.execute("PRAGMA foreign_keys = ON")
        with self._lock:
            self._all.append(conn)
        return conn

    @property
    def wal_path(self) -> Path:
        return self.path.with_name(self.path.name + "-wal")

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


def _names(migrations: Migrations) -> list[str]:
    """Every migration of the set, in order: what an empty database lacks."""
    return [migration.name for migration in migrations.pending(Database(memory=True))]


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """`BEGIN IMMEDIATE` ... `COMMIT`, rolled back on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class _ProcessLock:
    """An exclusive advisory lock shared by every process writing one database.

    Held from `BEGIN IMMEDIATE` to the end of the transaction. A process that
    waits for it sleeps in the kernel and wakes the moment it is free, where
    SQLite's busy handler would poll with sleeps of a millisecond and more.
    SQLite's own locking still guards the data: this only makes waiting fast.
    Where advisory locks do not exist (Windows), the busy handler does the job.
    """

    def __init__(self, database: Path) -> None:
        self._fd: int | None = None
        if fcntl is not None:
            lock_path = database.with_name(database.name + "-writer")
            self._fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)

    def acquire(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_EX)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # also drops the lock, should a transaction be open
            self._fd = None


_Apply = Callable[[sqlite3.Connection, list[Any]], list[Any]]


class _Combined:
    """One item of a combined write, and what became of it."""

    __slots__ = ("apply", "done", "error", "finished", "item", "result")

    def __init__(
        self, item: Any, apply: _Apply, done: Callable[[Any, BaseException | None], None] | None
    ) -> None:
        self.item = item
        self.apply = apply
        self.done = done  # called back with (result, error) once committed, if set
        self.finished = False
        self.result: Any = None
        self.error: BaseException | None = None

    def finish(self, result: Any, error: BaseException | None) -> None:
        self.result, self.error, self.finished = result, error, True
        if self.done is not None:
            try:
                self.done(result, error)
            except Exception:
                log.exception("a write's completion callback failed")


class GroupCommitWriter:
    """All of one process's writes to one database, committed in groups.

    SQLite allows one writer at a time and a durable commit costs an fsync.
    Each caller's work runs under a lock inside its own savepoint of a shared
    transaction, so a failure undoes only that caller's work. The first caller
    to finish becomes the committer: it waits a moment for writers already
    queued to add their work, then commits the group with one fsync. A caller
    returns only after the commit that holds its work, so every acknowledged
    write is durable and a crash loses only unacknowledged ones.

    Waiting is done on locks that wake the next writer at once: threads queue
    on Python locks, processes on an advisory lock file taken before `BEGIN
    IMMEDIATE`. SQLite's own busy handler, the fallback, sleeps for
    milliseconds at a time under contention.
    """

    # How long a committer waits for writers already queued to join its group.
    GATHER_SECONDS = 0.002

    def __init__(self, connections: _Connections) -> None:
        self._conn = connections.open()
        self._process_lock = _ProcessLock(connections.path)
        self._work = threading.Lock()  # the connection and the open batch
        self._body_done = threading.Condition(self._work)
        self._commit = threading.Lock()  # one committer at a time
        self._queued = 0  # writers waiting for, or inside, their body (under _work)
        self._queued_lock = threading.Lock()
        self._open_batch = 0
        self._committed_batch = -1
        self._failed: dict[int, BaseException] = {}
        self._pending: list[_Combined] = []  # combined writes not yet taken by a combiner
        self._pending_lock = threading.Lock()
        self._submitted = threading.Condition(self._pending_lock)
        self._submitter: threading.Thread | None = None  # commits `submit`ted writes
        self._closed = False

    def _count_queued(self, change: int) -> None:
        with self._queued_lock:
            self._queued += change

    def _begin(self) -> None:
        """Open the batch's transaction unless it is open; `_work` is held."""
        if self._conn.in_transaction:
            return
        self._process_lock.acquire()
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._process_lock.release()
            raise

    def _ended(self) -> None:
        """Let other processes write once no transaction is open; `_work` is held."""
        if not self._conn.in_transaction:
            self._process_lock.release()

    def _undo(self, savepoint: str, batch: int, error: BaseException) -> None:
        """Undo one piece of work that failed inside the open batch; `_work` is held."""
        if self._conn.in_transaction:
            self._conn.execute(f"ROLLBACK TO {savepoint}")
            self._conn.execute(f"RELEASE {savepoint}")
        else:
            # SQLite rolled the whole batch back (disk full, I/O error): every
            # writer whose work was in it must fail too.
            self._failed[batch] = error
            self._open_batch += 1
            self._ended()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        self._count_queued(+1)
        try:
            with self._work:
                batch = self._open_batch
                self._begin()
                self._conn.execute("SAVEPOINT caller")
                try:
                    yield self._conn
                except BaseException as exc:
                    self._undo("caller", batch, exc)
                    raise
                self._conn.execute("RELEASE caller")
        finally:
            self._count_queued(-1)
            with self._work:
                self._body_done.notify_all()
        self._await_commit(batch)

    def combined(self, item: Any, apply: _Apply) -> Any:
        """Write `item` together with the same kind of items other threads
        submit meanwhile: `apply(conn, items)` runs once for all of them, in one
        savepoint, and returns one result per item.

        For the hottest write (one new record) this replaces a savepoint and
        several statements per caller with a few statements per group. Items
        queue while a group commits; whoever takes the commit lock next applies
        and commits everything queued, so no one waits for a gathering window.
        """
        mine = _Combined(item, apply, None)
        with self._pending_lock:
            self._pending.append(mine)
        with self._commit:
            if not mine.finished:
                self._commit_pending()
        if mine.error is not None:
            raise mine.error
        return mine.result

    def submit(
        self, item: Any, apply: _Apply, done: Callable[[Any, BaseException | None], None]
    ) -> None:
        """Like `combined`, but returns at once: `done(result, error)` is called
        from the writer's own thread once the write is committed or failed.
        For callers that must not wait, such as an event loop."""
        with self._submitted:
            if self._closed:
                raise sqlite3.ProgrammingError("the store is closed")
            self._pending.append(_Combined(item, apply, done))
            if self._submitter is None:
                self._submitter = threading.Thread(
                    target=self._commit_submitted, name="sqlite-writer", daemon=True
                )
                self._submitter.start()
            self._submitted.notify()

    def _commit_submitted(self) -> None:
        while True:
            with self._submitted:
                while not self._pending and not self._closed:
                    self._submitted.wait()
                if self._closed and not self._pending:
                    return
            with self._commit:
                self._commit_pending()  # a `combined` caller may have taken them first

    def _commit_pending(self) -> None:
        """Apply and commit every queued combined write, a group per kind; `_commit` is held."""
        with self._pending_lock:
            pending, self._pending = self._pending, []
        groups: dict[_Apply, list[_Combined]] = {}
        for entry in pending:
            groups.setdefault(entry.apply, []).append(entry)
        for apply, group in groups.items():
            self._apply_and_commit(group, apply)

    def _apply_and_commit(self, group: list[_Combined], apply: _Apply) -> None:
        """Apply and commit `group`; `_commit` is held."""
        try:
            with self._work:
                batch = self._open_batch
                self._begin()
                self._conn.execute("SAVEPOINT combined")
                try:
                    results = apply(self._conn, [entry.item for entry in group])
                except BaseException as exc:
                    self._undo("combined", batch, exc)
                    raise
                self._conn.execute("RELEASE combined")
                self._commit_open_batch()
                if batch in self._failed:
                    raise self._failed[batch]
        except BaseException as exc:
            for entry in group:
                entry.finish(None, exc)
            return
        for entry, result in zip(group, results, strict=True):
            entry.finish(result, None)

    def _await_commit(self, batch: int) -> None:
        with self._commit:
            if batch not in self._failed and self._committed_batch < batch:
                with self._work:
                    # Let writers already queued add their work to this group.
                    self._body_done.wait_for(lambda: self._queued == 0, self.GATHER_SECONDS)
                    self._commit_open_batch()
            if batch in self._failed:
                raise self._failed[batch]

    def _commit_open_batch(self) -> None:
        """Commit the work finished so far; both locks are held."""
        closing = self._open_batch
        self._open_batch += 1
        if not self._conn.in_transaction:
            self._committed_batch = closing
            return
        try:
            self._conn.execute("COMMIT")
        except BaseException as exc:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            self._failed[closing] = exc
        else:
            self._committed_batch = closing
        finally:
            self._ended()

    def close(self) -> None:
        """Commit what was submitted, end the writer thread and release the
        lock file; the connection closes with the others."""
        with self._submitted:
            self._closed = True
            self._submitted.notify()
        if self._submitter is not None:
            self._submitter.join()
        self._process_lock.close()

    def checkpoint_truncate(self, wal_path: Path) -> bool:
        """Copy the WAL into the database and cut the WAL to zero bytes.

        Commits any finished work first, so this process holds no transaction
        open. Returns False when a reader elsewhere kept part of the WAL alive;
        the maintenance loop tries again later.
        """
        with self._commit, self._work:
            self._commit_open_batch()
            busy, _, _ = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return busy == 0 and (not wal_path.exists() or wal_path.stat().st_size == 0)


# ---------------------------------------------------------------- records --

record_migrations = Migrations("consent_vault.records")


@record_migrations(name="0001_initial")
def _records_initial(db: Database) -> None:
    db.execute(
        """CREATE TABLE subjects (
            subject_id TEXT PRIMARY KEY,
            state TEXT NOT NULL,
            roles TEXT NOT NULL,
            protected_identity INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL)"""
    )
    db.execute(
        """CREATE TABLE identities (
            blind_index TEXT PRIMARY KEY,
            subject_id TEXT NOT NULL REFERENCES subjects(subject_id),
            kind TEXT NOT NULL,
            sealed_value BLOB NOT NULL)"""
    )
    db.execute("CREATE INDEX identities_by_subject ON identities(subject_id)")
    # AUTOINCREMENT: a sequence number is never reused, so page tokens stay exact.
    db.execute(
        """CREATE TABLE records (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            record_id TEXT NOT NULL UNIQUE,
            subject_id TEXT NOT NULL REFERENCES subjects(subject_id),
            category TEXT NOT NULL,
            purpose TEXT NOT NULL,
            legal_basis TEXT NOT NULL,
            source_system TEXT NOT NULL,
            key_id TEXT NOT NULL,
            sealed_payload BLOB NOT NULL,
            sealed_content BLOB,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL)"""
    )
    db.execute("CREATE INDEX records_by_subject ON records(subject_id, seq)")
    db.execute("CREATE INDEX records_by_category ON records(subject_id, category, seq)")
    db.execute(
        """CREATE TABLE requests (
            request_id TEXT PRIMARY KEY,
            operation TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            subject_id TEXT NOT NULL,
            result TEXT NOT NULL)"""
    )
    db.execute("CREATE INDEX requests_by_subject ON requests(subject_id)")
    db.execute(
        """CREATE TABLE erasures (
            subject_id TEXT PRIMARY KEY REFERENCES subjects(subject_id),
            erased_at TEXT NOT NULL,
            receipt TEXT NOT NULL)"""
    )


_RECORD_COLUMNS = (
    "seq, record_id, subject_id, category, purpose, legal_basis, source_system, key_id, "
    "sealed_payload, sealed_content, r.created_at, r.updated_at"
)


def _text(moment: dt.datetime) -> str:
    # UTC with microseconds: text that sorts as the moments do.
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _record_row(row: tuple, subject_state: SubjectState | None = None) -> RecordRow:
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
        _time(created),
        _time(updated),
        seq,
        subject_state,
    )


_Conn = Callable[[], sqlite3.Connection]


def _fixed(conn: sqlite3.Connection) -> _Conn:
    return lambda: conn


class _SubjectQueries:
    """Reads of subjects and identities over the connection `conn()` gives
    (this thread's, or the write transaction's)."""

    def __init__(self, conn: _Conn) -> None:
        self._conn = conn

    def subject(self, subject_id: str) -> SubjectRow | None:
        row = (
            self._conn()
            .execute(
                "SELECT subject_id, state, roles, protected_identity, created_at, updated_at "
                "FROM subjects WHERE subject_id = ?",
                (subject_id,),
            )
            .fetchone()
        )
        if row is None:
            return None
        return SubjectRow(
            row[0],
            SubjectState(row[1]),
            tuple(json.loads(row[2])),
            bool(row[3]),
            _time(row[4]),
            _time(row[5]),
        )

    def subject_state(self, subject_id: str) -> SubjectState | None:
        row = (
            self._conn()
            .execute("SELECT state FROM subjects WHERE subject_id = ?", (subject_id,))
            .fetchone()
        )
        return SubjectState(row[0]) if row else None

    def subject_ids_in_state(self, state: SubjectState) -> list[str]:
        rows = self._conn().execute(
            "SELECT subject_id FROM subjects WHERE state = ?", (state.value,)
        )
        return [row[0] for row in rows]

    def subject_id_by_index(self, blind_index: str) -> str | None:
        row = (
            self._conn()
            .execute("SELECT subject_id FROM identities WHERE blind_index = ?", (blind_index,))
            .fetchone()
        )
        return row[0] if row else None

    def identities(self, subject_id: str) -> list[IdentityRow]:
        rows = self._conn().execute(
            "SELECT blind_index, subject_id, kind, sealed_value FROM identities "
            "WHERE subject_id = ? ORDER BY rowid",
            (subject_id,),
        )
        return [
            IdentityRow(blind_index, subject_id, IdentityKind(kind), sealed)
            for blind_index, subject_id, kind, sealed in rows
        ]


class _SubjectWrites(_SubjectQueries):
    def insert_subject(self, row: SubjectRow) -> None:
        self._conn().execute(
            "INSERT INTO subjects (subject_id, state, roles, protected_identity, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            (
                row.subject_id,
                row.state.value,
                json.dumps(list(row.roles)),
                int(row.protected_identity),
                _text(row.created_at),
                _text(row.updated_at),
            ),
        )

    def update_subject(
        self, subject_id: str, roles: tuple[str, ...], protected: bool, at: dt.datetime
    ) -> None:
        self._conn().execute(
            "UPDATE subjects SET roles = ?, protected_identity = ?, updated_at = ? WHERE subject_id = ?",
            (json.dumps(list(roles)), int(protected), _text(at), subject_id),
        )

    def touch_subject(self, subject_id: str, at: dt.datetime) -> None:
        self._conn().execute(
            "UPDATE subjects SET updated_at = ? WHERE subject_id = ?", (_text(at), subject_id)
        )

    def set_subject_state(self, subject_id: str, state: SubjectState, at: dt.datetime) -> None:
        self._conn().execute(
            "UPDATE subjects SET state = ?, updated_at = ? WHERE subject_id = ?",
            (state.value, _text(at), subject_id),
        )

    def insert_identity(self, row: IdentityRow) -> bool:
        cursor = self._conn().execute(
            "INSERT OR IGNORE INTO identities (blind_index, subject_id, kind, sealed_value) "
            "VALUES (?, ?, ?, ?)",
            (row.blind_index, row.subject_id, row.kind.value, row.sealed_value),
        )
        return cursor.rowcount == 1

    def delete_identity(self, blind_index: str) -> None:
        self._conn().execute("DELETE FROM identities WHERE blind_index = ?", (blind_index,))

    def delete_identities(self, subject_id: str) -> int:
        return (
            self._conn()
            .execute("DELETE FROM identities WHERE subject_id = ?", (subject_id,))
            .rowcount
        )


class _RecordQueries:
    """Reads of records and their counts."""

    def __init__(self, conn: _Conn) -> None:
        self._conn = conn

    def record(self, record_id: str) -> RecordRow | None:
        row = (
            self._conn()
            .execute(
                f"SELECT {_RECORD_COLUMNS}, s.state FROM records r JOIN subjects s USING (subject_id) "
                "WHERE r.record_id = ?",
                (record_id,),
            )
            .fetchone()
        )
        return _record_row(row[:-1], SubjectState(row[-1])) if row else None

    def records_page(
        self, subject_id: str, category: str | None, after_seq: int, limit: int
    ) -> list[RecordRow]:
        if category is None:
            sql = (
                f"SELECT {_RECORD_COLUMNS} FROM records r WHERE subject_id = ? AND seq > ? "
                "ORDER BY seq LIMIT ?"
            )
            args: tuple = (subject_id, after_seq, limit)
        else:
            sql = (
                f"SELECT {_RECORD_COLUMNS} FROM records r WHERE subject_id = ? AND category = ? "
                "AND seq > ? ORDER BY seq LIMIT ?"
            )
            args = (subject_id, category, after_seq, limit)
        return [_record_row(row) for row in self._conn().execute(sql, args)]

    def count_records(self, subject_id: str, category: str | None = None) -> int:
        if category is None:
            row = self._conn().execute(
                "SELECT coalesce(sum(count), 0) FROM record_counts WHERE subject_id = ?",
                (subject_id,),
            )
        else:
            row = self._conn().execute(
                "SELECT coalesce(sum(count), 0) FROM record_counts "
                "WHERE subject_id = ? AND category = ?",
                (subject_id, category),
            )
        return int(row.fetchone()[0])

    def categories(self, subject_id: str) -> list[str]:
        rows = self._conn().execute(
            "SELECT DISTINCT category FROM records WHERE subject_id = ? ORDER BY category",
            (subject_id,),
        )
        return [row[0] for row in rows]


class _RecordWrites(_RecordQueries):
    def insert_records(self, rows: list[RecordRow]) -> None:
        conn = self._conn()
        conn.executemany(
            "INSERT INTO records (record_id, subject_id, category, purpose, legal_basis, "
            "source_system, key_id, sealed_payload, sealed_content, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    _text(r.created_at),
                    _text(r.updated_at),
                )
                for r in rows
            ],
        )
        added = collections.Counter((r.subject_id, r.category) for r in rows)
        conn.executemany(
            "INSERT INTO record_counts (subject_id, category, count) VALUES (?, ?, ?) "
            "ON CONFLICT (subject_id, category) DO UPDATE SET count = count + excluded.count",
            [(subject_id, category, count) for (subject_id, category), count in added.items()],
        )

    def update_record(self, row: RecordRow) -> None:
        self._conn().execute(
            "UPDATE records SET purpose = ?, legal_basis = ?, source_system = ?, key_id = ?, "
            "sealed_payload = ?, sealed_content = ?, updated_at = ? WHERE record_id = ?",
            (
                row.purpose,
                row.legal_basis.value,
                row.source_system,
                row.key_id,
                row.sealed_payload,
                row.sealed_content,
                _text(row.updated_at),
                row.record_id,
            ),
        )

    def delete_category_records(self, subject_id: str, category: str) -> int:
        conn = self._conn()
        conn.execute(
            "DELETE FROM record_counts WHERE subject_id = ? AND category = ?",
            (subject_id, category),
        )
        return conn.execute(
            "DELETE FROM records WHERE subject_id = ? AND category = ?", (subject_id, category)
        ).rowcount


class _ReplayQueries:
    def __init__(self, conn: _Conn) -> None:
        self._conn = conn

    def remembered(self, request_id: str) -> RememberedRequest | None:
        row = (
            self._conn()
            .execute(
                "SELECT request_id, operation, fingerprint, subject_id, result FROM requests "
                "WHERE request_id = ?",
                (request_id,),
            )
            .fetchone()
        )
        return RememberedRequest(*row) if row else None


class _ReplayWrites(_ReplayQueries):
    def remember(self, request: RememberedRequest) -> bool:
        cursor = self._conn().execute(
            "INSERT OR IGNORE INTO requests (request_id, operation, fingerprint, subject_id, result) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                request.request_id,
                request.operation,
                request.fingerprint,
                request.subject_id,
                request.result,
            ),
        )
        return cursor.rowcount == 1

    def forget_requests_of(self, subject_id: str, keep: tuple[str, ...]) -> None:
        marks = ", ".join("?" * len(keep))
        self._conn().execute(
            f"DELETE FROM requests WHERE subject_id = ? AND operation NOT IN ({marks})",
            (subject_id, *keep),
        )


class _ReceiptQueries:
    def __init__(self, conn: _Conn) -> None:
        self._conn = conn

    def erasure_receipt(self, subject_id: str) -> str | None:
        row = (
            self._conn()
            .execute("SELECT receipt FROM erasures WHERE subject_id = ?", (subject_id,))
            .fetchone()
        )
        return row[0] if row else None


class _ReceiptWrites(_ReceiptQueries):
    def save_erasure_receipt(self, subject_id: str, receipt: str, at: dt.datetime) -> None:
        self._conn().execute(
            "INSERT INTO erasures (subject_id, erased_at, receipt) VALUES (?, ?, ?)",
            (subject_id, _text(at), receipt),
        )


class _Transaction:
    """One write transaction: every aggregate's writes over its connection."""

    __slots__ = ("conn", "receipts", "records", "replay", "subjects")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        fixed = _fixed(conn)
        self.subjects = _SubjectWrites(fixed)
        self.records = _RecordWrites(fixed)
        self.replay = _ReplayWrites(fixed)
        self.receipts = _ReceiptWrites(fixed)

    @property
    def steps(self) -> _StepWrites:
        # The step engine's writes in the same transaction: an erasure request
        # commits with the subject's new state and its remembered request id.
        return _StepWrites(self.conn)


def _append_records(
    conn: sqlite3.Connection, items: list[tuple[NewRecord, SubjectState]]
) -> list[AppendOutcome]:
    """Store a group of new records in a handful of statements: one read of
    their subjects' states, one insert of the rows, one update of the counts."""
    subject_ids = sorted({new.row.subject_id for new, _ in items})
    marks = ", ".join("?" * len(subject_ids))
    states = {
        subject_id: SubjectState(state)
        for subject_id, state in conn.execute(
            f"SELECT subject_id, state FROM subjects WHERE subject_id IN ({marks})", subject_ids
        )
    }
    fixed = _fixed(conn)
    replay = _ReplayWrites(fixed)
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
            stored.append(new.row)
    if stored:
        _RecordWrites(fixed).insert_records(stored)
    return outcomes


class _Settler:
    """Settles an event loop's futures from the writer's thread, with one
    wake-up of the loop for all the writes one commit finished."""

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
    """The records outside a transaction: this thread's reads, and the grouped append."""

    def __init__(self, connections: _Connections, writer: GroupCommitWriter) -> None:
        super().__init__(connections.get)
        self._writer = writer
        self._settler: _Settler | None = None

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
        settler = self._settler
        if settler is None or settler.loop is not loop:
            settler = self._settler = _Settler(loop)
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


class _Maintenance:
    def __init__(self, connections: _Connections, writer: GroupCommitWriter) -> None:
        self._connections = connections
        self._writer = writer

    def purge_records(self, subject_state: SubjectState, limit: int) -> int:
        with self._writer.write() as conn:
            conn.execute(
                "DELETE FROM record_counts WHERE subject_id IN "
                "(SELECT subject_id FROM subjects WHERE state = ?)",
                (subject_state.value,),
            )
            return conn.execute(
                "DELETE FROM records WHERE seq IN (SELECT r.seq FROM records r JOIN subjects s "
                "ON s.subject_id = r.subject_id WHERE s.state = ? LIMIT ?)",
                (subject_state.value, limit),
            ).rowcount

    def scrub(self) -> bool:
        return self._writer.checkpoint_truncate(self._connections.wal_path)


class SQLiteRecordStore:
    """The record database: subjects, blind-indexed identities, sealed records,
    remembered requests, erasure receipts and the step engine's rows."""

    def __init__(self, path: Path, *, upgrade: bool = False) -> None:
        # `upgrade`: apply migrations this database lacks (`consent-vault migrate`);
        # without it a database that is behind is refused (vault.storage.schema).
        self._connections = _Connections(
            path, record_migrations, "record database", upgrade=upgrade
        )
        self._writer = GroupCommitWriter(self._connections)
        this_thread = self._connections.get
        self.subjects = _SubjectQueries(this_thread)
        self.records = _Records(self._connections, self._writer)
        self.replay = _ReplayQueries(this_thread)
        self.receipts = _ReceiptQueries(this_thread)
        self.maintenance = _Maintenance(self._connections, self._writer)
        self.steps = SQLiteStepStore(self._connections, self._writer)

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


@record_migrations(name="0002_record_counts")
def _record_counts(db: Database) -> None:
    # Kept in the same transactions as the records, so an erasure receipt can
    # say how many records it made unreadable without counting them.
    db.execute(
        """CREATE TABLE record_counts (
            subject_id TEXT NOT NULL REFERENCES subjects(subject_id),
            category TEXT NOT NULL,
            count INTEGER NOT NULL,
            PRIMARY KEY (subject_id, category))"""
    )
    db.execute(
        "INSERT INTO record_counts (subject_id, category, count) "
        "SELECT subject_id, category, count(*) FROM records GROUP BY subject_id, category"
    )


@record_migrations(name="0003_erasure_jobs")
def _erasure_jobs(db: Database) -> None:
    db.execute(
        """CREATE TABLE erasure_requests (
            request_id TEXT PRIMARY KEY,
            subject_id TEXT NOT NULL REFERENCES subjects(subject_id),
            state TEXT NOT NULL,
            received_at TEXT NOT NULL,
            deadline_at TEXT NOT NULL,
            completed_at TEXT,
            sealed_identities BLOB,
            updated_at TEXT NOT NULL)"""
    )
    db.execute(
        "CREATE INDEX erasure_requests_by_subject ON erasure_requests(subject_id, received_at)"
    )
    db.execute(
        """CREATE TABLE erasure_steps (
            request_id TEXT NOT NULL REFERENCES erasure_requests(request_id),
            system TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            next_attempt_at TEXT NOT NULL,
            lease_owner TEXT,
            lease_until TEXT,
            last_error TEXT,
            outcomes TEXT,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (request_id, system))"""
    )
    db.execute("CREATE INDEX erasure_steps_due ON erasure_steps(state, next_attempt_at)")
    db.execute(
        """CREATE TABLE manual_actions (
            action_id TEXT PRIMARY KEY,
            request_id TEXT NOT NULL REFERENCES erasure_requests(request_id),
            system TEXT NOT NULL,
            category TEXT NOT NULL,
            description TEXT NOT NULL,
            sealed_instructions BLOB,
            created_at TEXT NOT NULL,
            confirmed_by TEXT,
            confirmed_at TEXT)"""
    )
    db.execute("CREATE INDEX manual_actions_by_request ON manual_actions(request_id)")


@record_migrations(name="0004_erasure_step_matches")
def _erasure_step_matches(db: Database) -> None:
    for column in (
        "sealed_references BLOB",
        "conflict TEXT",
        "notes TEXT",
        "decision TEXT",
        "decided_by TEXT",
        "decided_at TEXT",
    ):
        db.execute(f"ALTER TABLE erasure_steps ADD COLUMN {column}")


@record_migrations(name="0005_step_engine")
def _step_engine(db: Database) -> None:
    """The erasure's tables become the step engine's, for every kind of request."""
    for statement in (
        "ALTER TABLE erasure_requests RENAME TO step_requests",
        "ALTER TABLE step_requests ADD COLUMN kind TEXT NOT NULL DEFAULT 'erasure'",
        "ALTER TABLE step_requests RENAME COLUMN sealed_identities TO sealed_payload",
        "DROP INDEX erasure_requests_by_subject",
        "CREATE INDEX step_requests_by_subject ON step_requests(kind, subject_id, received_at)",
        "CREATE INDEX step_requests_by_time ON step_requests(kind, received_at, request_id)",
        "ALTER TABLE erasure_steps RENAME TO steps",
        "ALTER TABLE steps RENAME COLUMN system TO name",
        "ALTER TABLE steps RENAME COLUMN outcomes TO result",
        "ALTER TABLE steps RENAME COLUMN sealed_references TO sealed",
        # Steps run in the order they were submitted; the vault's own came first.
        "ALTER TABLE steps ADD COLUMN position INTEGER NOT NULL DEFAULT 1",
        "UPDATE steps SET position = 0 WHERE name = 'vault'",
        "ALTER TABLE steps ADD COLUMN details TEXT",
        """UPDATE steps SET details = json_object(
                'conflict', json(conflict), 'notes', json(notes), 'decision', decision,
                'decided_by', decided_by, 'decided_at', decided_at)
            WHERE conflict IS NOT NULL OR notes IS NOT NULL OR decision IS NOT NULL""",
        "ALTER TABLE steps DROP COLUMN conflict",
        "ALTER TABLE steps DROP COLUMN notes",
        "ALTER TABLE steps DROP COLUMN decision",
        "ALTER TABLE steps DROP COLUMN decided_by",
        "ALTER TABLE steps DROP COLUMN decided_at",
        "DROP INDEX erasure_steps_due",
        "CREATE INDEX steps_due ON steps(state, next_attempt_at)",
        "ALTER TABLE manual_actions RENAME COLUMN system TO step",
    ):
        db.execute(statement)


@record_migrations(name="0006_request_asker")
def _request_asker(db: Database) -> None:
    """Who asked for each request. Every request before this was the local
    operator's: no caller was authenticated, so none had another name."""
    for column in (
        "requested_by_who TEXT NOT NULL DEFAULT 'local'",
        "requested_by_role TEXT NOT NULL DEFAULT 'operator'",
        "requested_by_system TEXT NOT NULL DEFAULT ''",
    ):
        db.execute(f"ALTER TABLE step_requests ADD COLUMN {column}")


@record_migrations(name="0007_requests_holding_secrets")
def _requests_holding_secrets(db: Database) -> None:
    """Finding the few requests that still hold sealed secrets (at start, after a
    crash) must not scan every request ever made."""
    db.execute(
        "CREATE INDEX step_requests_holding_secrets ON step_requests(state) "
        "WHERE sealed_payload IS NOT NULL"
    )


@record_migrations(name="0008_requests_about_no_one")
def _requests_about_no_one(db: Database) -> None:
    """A request may be about no one person (a retention sweep): its subject is
    NULL. SQLite cannot drop a NOT NULL in place, and a table others reference
    cannot be swapped inside a transaction with foreign keys on, so the three
    tables of the step engine are rebuilt together, children last in and first
    out. A running step is due again when its lease ends, as claims now write."""
    for statement in (
        """CREATE TABLE new_step_requests (
            request_id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            subject_id TEXT REFERENCES subjects(subject_id),
            state TEXT NOT NULL,
            received_at TEXT NOT NULL,
            deadline_at TEXT NOT NULL,
            completed_at TEXT,
            sealed_payload BLOB,
            updated_at TEXT NOT NULL,
            requested_by_who TEXT NOT NULL,
            requested_by_role TEXT NOT NULL,
            requested_by_system TEXT NOT NULL)""",
        """CREATE TABLE new_steps (
            request_id TEXT NOT NULL REFERENCES new_step_requests(request_id),
            name TEXT NOT NULL,
            position INTEGER NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            next_attempt_at TEXT NOT NULL,
            lease_owner TEXT,
            lease_until TEXT,
            last_error TEXT,
            result TEXT,
            updated_at TEXT NOT NULL,
            sealed BLOB,
            details TEXT,
            PRIMARY KEY (request_id, name))""",
        """CREATE TABLE new_manual_actions (
            action_id TEXT PRIMARY KEY,
            request_id TEXT NOT NULL REFERENCES new_step_requests(request_id),
            step TEXT NOT NULL,
            category TEXT NOT NULL,
            description TEXT NOT NULL,
            sealed_instructions BLOB,
            created_at TEXT NOT NULL,
            confirmed_by TEXT,
            confirmed_at TEXT)""",
        """INSERT INTO new_step_requests SELECT request_id, kind, subject_id, state,
            received_at, deadline_at, completed_at, sealed_payload, updated_at,
            requested_by_who, requested_by_role, requested_by_system FROM step_requests""",
        """INSERT INTO new_steps SELECT request_id, name, position, state, attempts,
            CASE WHEN state = 'running' AND lease_until IS NOT NULL THEN lease_until
                 ELSE next_attempt_at END,
            lease_owner, lease_until, last_error, result, updated_at, sealed, details
            FROM steps""",
        """INSERT INTO new_manual_actions SELECT action_id, request_id, step, category,
            description, sealed_instructions, created_at, confirmed_by, confirmed_at
            FROM manual_actions""",
        "DROP TABLE manual_actions",
        "DROP TABLE steps",
        "DROP TABLE step_requests",
        # Renaming a parent renames it in its children's REFERENCES too.
        "ALTER TABLE new_step_requests RENAME TO step_requests",
        "ALTER TABLE new_steps RENAME TO steps",
        "ALTER TABLE new_manual_actions RENAME TO manual_actions",
        "CREATE INDEX step_requests_by_subject ON step_requests(kind, subject_id, received_at)",
        "CREATE INDEX step_requests_by_time ON step_requests(kind, received_at, request_id)",
        "CREATE INDEX step_requests_holding_secrets ON step_requests(state) "
        "WHERE sealed_payload IS NOT NULL",
        "CREATE INDEX steps_due ON steps(state, next_attempt_at)",
        "CREATE INDEX manual_actions_by_request ON manual_actions(request_id)",
    ):
        db.execute(statement)
