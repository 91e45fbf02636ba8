"""The step engine's store on SQLite: requests, steps and manual actions, in the record database.

Times are written as UTC ISO text with microseconds, so they sort as text;
states as the engine's enum values, whichever the engine passes; a request
about no one person has no subject (NULL). The only rule kept here is the
lease guard: a step is finished only by the worker that holds it.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

from vault.core.actor import Actor, Role
from vault.core.steps.model import (
    RequestState,
    StepState,
    StoredAction,
    StoredRequest,
    StoredStep,
)
from vault.storage.sqlite.moments import as_moment, as_text

_REQUEST_COLUMNS = (
    "request_id, kind, subject_id, state, received_at, deadline_at, completed_at, "
    "sealed_payload, updated_at, requested_by_who, requested_by_role, requested_by_system"
)
_STEP_COLUMNS = (
    "request_id, name, state, attempts, next_attempt_at, lease_owner, lease_until, last_error, "
    "result, updated_at, sealed, details"
)
_ACTION_COLUMNS = (
    "action_id, request_id, step, category, description, sealed_instructions, created_at, "
    "confirmed_by, confirmed_at"
)


def _marks(values: Collection[object]) -> str:
    return ", ".join("?" * len(values))


def _values(states: Collection[StepState]) -> list[str]:
    return sorted(state.value for state in states)


def _request(row: tuple[Any, ...]) -> StoredRequest:
    (
        request_id,
        kind,
        subject,
        state,
        received,
        deadline,
        completed,
        sealed,
        updated,
        who,
        role,
        system,
    ) = row
    return StoredRequest(
        request_id,
        kind,
        subject or "",
        RequestState(state),
        dt.datetime.fromisoformat(received),
        dt.datetime.fromisoformat(deadline),
        as_moment(completed),
        sealed,
        dt.datetime.fromisoformat(updated),
        Actor(who, Role(role), system),
    )


def _step(row: tuple[Any, ...]) -> StoredStep:
    (
        request_id,
        name,
        state,
        attempts,
        due,
        owner,
        lease,
        error,
        result,
        updated,
        sealed,
        details,
    ) = row
    return StoredStep(
        request_id,
        name,
        StepState(state),
        attempts,
        dt.datetime.fromisoformat(due),
        owner,
        as_moment(lease),
        error,
        result,
        dt.datetime.fromisoformat(updated),
        sealed,
        json.loads(details) if details else {},
    )


def _action(row: tuple[Any, ...]) -> StoredAction:
    action_id, request_id, step, category, description, sealed, created, by, at = row
    return StoredAction(
        action_id,
        request_id,
        step,
        category,
        description,
        sealed,
        dt.datetime.fromisoformat(created),
        by,
        as_moment(at),
    )


def _details(details: Mapping[str, Any]) -> str | None:
    return json.dumps(dict(details), sort_keys=True) if details else None


class _StepQueries:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def request(self, request_id: str) -> StoredRequest | None:
        row = self.conn.execute(
            f"SELECT {_REQUEST_COLUMNS} FROM step_requests WHERE request_id = ?", (request_id,)
        ).fetchone()
        return _request(row) if row else None

    def latest_request(self, kind: str, subject_id: str) -> StoredRequest | None:
        row = self.conn.execute(
            f"SELECT {_REQUEST_COLUMNS} FROM step_requests WHERE kind = ? AND subject_id IS ? "
            "ORDER BY received_at DESC LIMIT 1",
            (kind, subject_id or None),
        ).fetchone()
        return _request(row) if row else None

    def steps(self, request_id: str) -> list[StoredStep]:
        rows = self.conn.execute(
            f"SELECT {_STEP_COLUMNS} FROM steps WHERE request_id = ? ORDER BY position, name",
            (request_id,),
        )
        return [_step(row) for row in rows]

    def actions(self, request_id: str) -> list[StoredAction]:
        rows = self.conn.execute(
            f"SELECT {_ACTION_COLUMNS} FROM manual_actions WHERE request_id = ? "
            "ORDER BY created_at, action_id",
            (request_id,),
        )
        return [_action(row) for row in rows]

    def action(self, action_id: str) -> StoredAction | None:
        row = self.conn.execute(
            f"SELECT {_ACTION_COLUMNS} FROM manual_actions WHERE action_id = ?", (action_id,)
        ).fetchone()
        return _action(row) if row else None

    def requests_page(
        self,
        kind: str,
        after: tuple[dt.datetime, str] | None,
        limit: int,
        state: RequestState | None,
    ) -> list[StoredRequest]:
        where, args = "kind = ?", [kind]
        if after is not None:
            received, request_id = as_text(after[0]), after[1]
            where += " AND (received_at < ? OR (received_at = ? AND request_id < ?))"
            args += [received, received, request_id]  # type: ignore[list-item]
        if state is not None:
            where += " AND state = ?"
            args.append(state.value)
        rows = self.conn.execute(
            f"SELECT {_REQUEST_COLUMNS} FROM step_requests WHERE {where} "
            "ORDER BY received_at DESC, request_id DESC LIMIT ?",
            (*args, limit),
        )
        return [_request(row) for row in rows]

    def requests_holding_secrets(self, state: RequestState) -> list[StoredRequest]:
        rows = self.conn.execute(
            f"SELECT {_REQUEST_COLUMNS} FROM step_requests "
            "WHERE sealed_payload IS NOT NULL AND state = ?",
            (state.value,),
        )
        return [_request(row) for row in rows]

    def next_due_at(
        self, kinds: Collection[str], states: Collection[StepState]
    ) -> dt.datetime | None:
        row = self.conn.execute(
            "SELECT min(s.next_attempt_at) FROM steps s JOIN step_requests r USING (request_id) "
            f"WHERE s.state IN ({_marks(states)}) AND r.kind IN ({_marks(kinds)})",
            (*_values(states), *sorted(kinds)),
        ).fetchone()
        return as_moment(row[0]) if row else None


class StepWrites(_StepQueries):
    def insert_request(
        self, request: StoredRequest, steps: Sequence[str], state: StepState
    ) -> None:
        self.conn.execute(
            f"INSERT INTO step_requests ({_REQUEST_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                request.request_id,
                request.kind,
                request.subject_id or None,
                request.state.value,
                as_text(request.received_at),
                as_text(request.deadline_at),
                as_text(request.completed_at),
                request.sealed_payload,
                as_text(request.updated_at),
                request.requested_by.who,
                request.requested_by.role.value,
                request.requested_by.system,
            ),
        )
        received = as_text(request.received_at)
        self.conn.executemany(
            "INSERT INTO steps (request_id, name, position, state, attempts, next_attempt_at, "
            "updated_at) VALUES (?, ?, ?, ?, 0, ?, ?)",
            [
                (request.request_id, name, position, state.value, received, received)
                for position, name in enumerate(steps)
            ],
        )

    def claim_step(
        self,
        kinds: Collection[str],
        states: Collection[StepState],
        running: StepState,
        owner: str,
        now: dt.datetime,
        lease_until: dt.datetime,
    ) -> StoredStep | None:
        row = self.conn.execute(
            "SELECT s.request_id, s.name FROM steps s JOIN step_requests r USING (request_id) "
            f"WHERE s.state IN ({_marks(states)}) AND s.next_attempt_at <= ? "
            f"AND r.kind IN ({_marks(kinds)}) ORDER BY s.next_attempt_at LIMIT 1",
            (*_values(states), as_text(now), *sorted(kinds)),
        ).fetchone()
        if row is None:
            return None
        return self._run(row[0], row[1], running, owner, now, lease_until)

    def start_step(
        self,
        request_id: str,
        name: str,
        states: Collection[StepState],
        running: StepState,
        owner: str,
        now: dt.datetime,
        lease_until: dt.datetime,
    ) -> StoredStep | None:
        found = self.conn.execute(
            f"SELECT 1 FROM steps WHERE request_id = ? AND name = ? AND state IN ({_marks(states)})",
            (request_id, name, *_values(states)),
        ).fetchone()
        if found is None:
            return None
        return self._run(request_id, name, running, owner, now, lease_until)

    def _run(
        self,
        request_id: str,
        name: str,
        running: StepState,
        owner: str,
        now: dt.datetime,
        lease_until: dt.datetime,
    ) -> StoredStep:
        # Due again when the lease ends: if its holder never finishes it, the
        # next claim after that takes it over.
        until = as_text(lease_until)
        self.conn.execute(
            "UPDATE steps SET state = ?, lease_owner = ?, lease_until = ?, next_attempt_at = ?, "
            "updated_at = ? WHERE request_id = ? AND name = ?",
            (running.value, owner, until, until, as_text(now), request_id, name),
        )
        return next(s for s in self.steps(request_id) if s.name == name)

    def finish_step(
        self,
        request_id: str,
        name: str,
        owner: str,
        state: StepState,
        attempts: int,
        next_attempt_at: dt.datetime,
        last_error: str | None,
        result: str | None,
        now: dt.datetime,
    ) -> bool:
        # Only the lease holder may finish a step: a worker whose lease ran out
        # (it hung past its deadline) must not overwrite a later attempt.
        return (
            self.conn.execute(
                "UPDATE steps SET state = ?, attempts = ?, next_attempt_at = ?, last_error = ?, "
                "result = coalesce(?, result), lease_owner = NULL, lease_until = NULL, "
                "updated_at = ? WHERE request_id = ? AND name = ? AND lease_owner = ?",
                (
                    state.value,
                    attempts,
                    as_text(next_attempt_at),
                    last_error,
                    result,
                    as_text(now),
                    request_id,
                    name,
                    owner,
                ),
            ).rowcount
            == 1
        )

    def keep_step_state(
        self,
        request_id: str,
        name: str,
        owner: str,
        sealed: bytes | None,
        details: Mapping[str, Any],
    ) -> bool:
        return (
            self.conn.execute(
                "UPDATE steps SET sealed = ?, details = ? "
                "WHERE request_id = ? AND name = ? AND lease_owner = ?",
                (sealed, _details(details), request_id, name, owner),
            ).rowcount
            == 1
        )

    def set_step(
        self,
        request_id: str,
        name: str,
        state: StepState,
        attempts: int,
        next_attempt_at: dt.datetime,
        sealed: bytes | None,
        details: Mapping[str, Any],
        now: dt.datetime,
    ) -> None:
        self.conn.execute(
            "UPDATE steps SET state = ?, attempts = ?, next_attempt_at = ?, lease_owner = NULL, "
            "lease_until = NULL, sealed = ?, details = ?, updated_at = ? "
            "WHERE request_id = ? AND name = ?",
            (
                state.value,
                attempts,
                as_text(next_attempt_at),
                sealed,
                _details(details),
                as_text(now),
                request_id,
                name,
            ),
        )

    def steps_in_state(self, state: StepState) -> list[StoredStep]:
        rows = self.conn.execute(
            f"SELECT {_STEP_COLUMNS} FROM steps WHERE state = ?", (state.value,)
        )
        return [_step(row) for row in rows]

    def release_lease(
        self,
        request_id: str,
        name: str,
        owner: str,
        state: StepState,
        next_attempt_at: dt.datetime,
        now: dt.datetime,
    ) -> bool:
        return (
            self.conn.execute(
                "UPDATE steps SET state = ?, lease_owner = NULL, lease_until = NULL, "
                "next_attempt_at = ?, updated_at = ? WHERE request_id = ? AND name = ? "
                "AND lease_owner = ?",
                (state.value, as_text(next_attempt_at), as_text(now), request_id, name, owner),
            ).rowcount
            == 1
        )

    def insert_action(self, action: StoredAction) -> None:
        self.conn.execute(
            f"INSERT OR IGNORE INTO manual_actions ({_ACTION_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                action.action_id,
                action.request_id,
                action.step,
                action.category,
                action.description,
                action.sealed_instructions,
                as_text(action.created_at),
                action.confirmed_by,
                as_text(action.confirmed_at),
            ),
        )

    def confirm_action(self, action_id: str, confirmed_by: str, now: dt.datetime) -> bool:
        return (
            self.conn.execute(
                "UPDATE manual_actions SET confirmed_by = ?, confirmed_at = ? "
                "WHERE action_id = ? AND confirmed_at IS NULL",
                (confirmed_by, as_text(now), action_id),
            ).rowcount
            == 1
        )

    def set_request_state(
        self, request_id: str, state: RequestState, now: dt.datetime, completed: bool
    ) -> None:
        at = as_text(now)
        self.conn.execute(
            "UPDATE step_requests SET state = ?, updated_at = ?, completed_at = "
            "CASE WHEN ? THEN coalesce(completed_at, ?) ELSE NULL END WHERE request_id = ?",
            (state.value, at, completed, at, request_id),
        )

    def forget_secrets(self, request_id: str) -> None:
        self.conn.execute(
            "UPDATE step_requests SET sealed_payload = NULL WHERE request_id = ?", (request_id,)
        )
        self.conn.execute("UPDATE steps SET sealed = NULL WHERE request_id = ?", (request_id,))
        self.conn.execute(
            "UPDATE manual_actions SET sealed_instructions = NULL WHERE request_id = ?",
            (request_id,),
        )


class _Connections(Protocol):
    def get(self) -> sqlite3.Connection: ...


class _Writer(Protocol):
    def write(self) -> AbstractContextManager[sqlite3.Connection]: ...


class SQLiteStepStore:
    """The step engine's rows, in the record database, through its writer."""

    def __init__(self, connections: _Connections, writer: _Writer) -> None:
        self._connections = connections
        self._writer = writer

    def _reads(self) -> _StepQueries:
        return _StepQueries(self._connections.get())

    @contextmanager
    def write(self) -> Iterator[StepWrites]:
        with self._writer.write() as conn:
            yield StepWrites(conn)

    def request(self, request_id: str) -> StoredRequest | None:
        return self._reads().request(request_id)

    def latest_request(self, kind: str, subject_id: str) -> StoredRequest | None:
        return self._reads().latest_request(kind, subject_id)

    def steps(self, request_id: str) -> list[StoredStep]:
        return self._reads().steps(request_id)

    def actions(self, request_id: str) -> list[StoredAction]:
        return self._reads().actions(request_id)

    def action(self, action_id: str) -> StoredAction | None:
        return self._reads().action(action_id)

    def requests_page(
        self,
        kind: str,
        after: tuple[dt.datetime, str] | None,
        limit: int,
        state: RequestState | None,
    ) -> list[StoredRequest]:
        return self._reads().requests_page(kind, after, limit, state)

    def next_due_at(
        self, kinds: Collection[str], states: Collection[StepState]
    ) -> dt.datetime | None:
        return self._reads().next_due_at(kinds, states)

    def requests_holding_secrets(self, state: RequestState) -> list[StoredRequest]:
        return self._reads().requests_holding_secrets(state)
