"""The group-commit writer: every write of one process to one SQLite database,
committed in groups, so that a burst of writes costs a few fsyncs rather than
one each; `GroupCommitWriter` says how.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vault.storage.sqlite.connections import Connections, ProcessLock

log = logging.getLogger("vault.storage")


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

    def __init__(self, connections: Connections) -> None:
        self._conn = connections.open()
        self._process_lock = ProcessLock(connections.path)
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
        failed: BaseException | None = None
        try:
            with self._work:
                batch = self._open_batch
                self._begin()
                self._conn.execute("SAVEPOINT caller")
                try:
                    yield self._conn
                except BaseException as exc:
                    self._undo("caller", batch, exc)
                    failed = exc
                else:
                    self._conn.execute("RELEASE caller")
        finally:
            self._count_queued(-1)
            with self._work:
                self._body_done.notify_all()
        if failed is None:
            self._await_commit(batch)
            return
        # A failed write still ends the batch it opened: otherwise the
        # transaction, and the write lock every process queues on, would stay
        # open until this process happened to write again.
        # The batch's own failure, if any, reaches its other writers; this one
        # raises its own.
        with contextlib.suppress(Exception):
            self._await_commit(batch)
        raise failed

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
                    # As a failed `write()` does: the batch still ends, or its
                    # transaction, and the write lock every process queues
                    # on, would stay open until this process wrote again.
                    self._commit_open_batch()
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
