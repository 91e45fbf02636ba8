"""Connections to one SQLite database file, a connection per thread and each
configured alike (as the package's docstring says), with the migrations
checked as the first one opens; the `BEGIN IMMEDIATE` transaction; and the
lock file on which the processes writing one database wait their turn.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from vault.storage import schema

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

BUSY_TIMEOUT_MS = 30_000


class Connections:
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


class ProcessLock:
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
