"""The grouped append on PostgreSQL. Each store object has one writer thread for
it: callers queue their records, or audit events of their own (a read's), and
wait (a thread on a future, an event loop on one of its own), and the writer
commits everything queued in one transaction and gives each caller its own
outcome, so a burst of puts and audited reads costs a few transactions.

A record's audit event is stored with it, and only if the record is; an
event that cannot be written fails the whole group, as AuditUnavailable.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from vault.core.audit.store import AuditEntry
from vault.core.errors import AuditUnavailable
from vault.core.model import SubjectState
from vault.storage.base import AppendOutcome, NewRecord, RememberedRequest
from vault.storage.postgres.audit import EventsAppend, insert_events
from vault.storage.postgres.database import Database
from vault.storage.postgres.queries import insert_rows, remember_new

log = logging.getLogger("vault.storage")


def _append_group(
    conn: psycopg.Connection[Any], group: list[Append | EventsAppend]
) -> list[AppendOutcome | None]:
    """Store a group in a few statements: one read of the records' subjects'
    states, one insert of their requests, then the rows and counts, then one
    insert of the audit events; an outcome for each record append, None for
    each append of events."""
    items = [(a.new, a.wanted) for a in group if isinstance(a, Append)]
    outcomes = iter(_append_records(conn, items))
    results: list[AppendOutcome | None] = []
    # The group's events in the order queued: each stored record's own, and
    # the events appended on their own.
    entries: list[AuditEntry] = []
    for append in group:
        if isinstance(append, Append):
            outcome = next(outcomes)
            results.append(outcome)
            if outcome.stored and append.new.audit is not None:
                entries.append(append.new.audit)
        else:
            results.append(None)
            entries.extend(append.entries)
    try:
        insert_events(conn, entries)
    except psycopg.Error as error:
        # Fail closed: no record of the group is stored without its event.
        raise AuditUnavailable() from error
    return results


def _append_records(
    conn: psycopg.Connection[Any], items: list[tuple[NewRecord, SubjectState]]
) -> list[AppendOutcome]:
    """Store a group of new records in a few statements: one read of their
    subjects' states, one insert of their requests, then the rows and counts."""
    if not items:
        return []
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
        if request is not None and request.request_hash not in first_with:
            first_with[request.request_hash] = n
            candidates.append(request)
    remembered = remember_new(conn, candidates)
    winners = {first_with[request_hash] for request_hash in remembered}
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
    insert_rows(conn, stored)
    return outcomes


_Settle = Callable[[AppendOutcome | None, BaseException | None], None]


@dataclass(frozen=True)
class Append:
    new: NewRecord
    wanted: SubjectState
    settle: _Settle  # called from the writer's thread once the group committed or failed


class AppendWriter:
    """The thread that commits the grouped appends of one store object, its
    records' and its audit log's.

    It takes everything queued, commits it in one transaction and settles
    each append with its own outcome (or the group's error); appends queued
    meanwhile make up the next group, so no one waits for a gathering window.
    """

    def __init__(self, database: Database) -> None:
        self._database = database
        self._queued: list[Append | EventsAppend] = []
        self._changed = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="postgres-appends", daemon=True)
        self._thread.start()

    def queue(self, append: Append | EventsAppend) -> None:
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
                    outcomes = _append_group(conn, group)
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


def _settle(
    append: Append | EventsAppend, outcome: AppendOutcome | None, error: BaseException | None
) -> None:
    try:
        if isinstance(append, Append):
            append.settle(outcome, error)
        else:
            append.settle(None, error)
    except Exception:  # the writer must live on for the next group
        log.exception("settling an append failed")
