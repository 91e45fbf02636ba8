"""The step engine's store on PostgreSQL: requests, steps and manual actions, in the
record database (the tables are in vault.storage.postgres.migrations).

Times are TIMESTAMPTZ, given back in UTC; details JSONB; states the engine's
enum values; a request about no one person has no subject (NULL). The only
rule kept here is the lease guard: a step is finished only by the worker that
holds it, checked in the same UPDATE that finishes it.

Several server processes share one database, and `write()` takes no
database-wide lock; row locks keep the writers apart instead:

- A claim takes its step with `FOR UPDATE OF s, r SKIP LOCKED`: the step's row
  and its request's row, or it passes on to the next due step. Two workers
  never take one step, and a claim never waits for anyone. While every due
  step's request is held a claim finds none; the worker looks again shortly,
  since `next_due_at` reads without locks and still says it is due.
- Every other change to a request's steps or manual actions first locks the
  request's row (`FOR UPDATE`, waiting for it). The engine derives a request's
  state from all its steps after each change, so the writers of one request
  take turns: each reads, after the lock, what the one before it committed,
  and two steps finishing at once cannot both settle on a stale view.

Lock order: the request's row, then its steps' and actions' rows; a writer
holds at most one request's row, except when it releases several leases
(`steps_in_state` gives them in request order, so two such writers lock in
the same order). A claim takes both rows in one statement without waiting, so
a claim and a person's retry or decision on the same request never wait for
each other in a circle: the claim skips the request the person holds, and
the person waits at most for the claim's short transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from vault.core.actor import Actor, Role
from vault.core.steps.model import (
    RequestState,
    StepState,
    StoredAction,
    StoredRequest,
    StoredStep,
)
from vault.storage.postgres.database import Database

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


def _values(states: Collection[StepState]) -> list[str]:
    return sorted(state.value for state in states)


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC)


def _time(moment: dt.datetime | None) -> dt.datetime | None:
    return _utc(moment) if moment is not None else None


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
        _utc(received),
        _utc(deadline),
        _time(completed),
        sealed,
        _utc(updated),
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
        _utc(due),
        owner,
        _time(lease),
        error,
        result,
        _utc(updated),
        sealed,
        details or {},
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
        _utc(created),
        by,
        _time(at),
    )


def _details(details: Mapping[str, Any]) -> Jsonb | None:
    return Jsonb(dict(details)) if details else None


class _StepReads:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def request(self, request_id: str) -> StoredRequest | None:
        row = self.conn.execute(
            f"SELECT {_REQUEST_COLUMNS} FROM step_requests WHERE request_id = %s", (request_id,)
        ).fetchone()
        return _request(row) if row else None

    def latest_request(self, kind: str, subject_id: str) -> StoredRequest | None:
        row = self.conn.execute(
            f"SELECT {_REQUEST_COLUMNS} FROM step_requests "
            "WHERE kind = %s AND subject_id IS NOT DISTINCT FROM %s "
            "ORDER BY received_at DESC, request_id DESC LIMIT 1",
            (kind, subject_id or None),
        ).fetchone()
        return _request(row) if row else None

    def steps(self, request_id: str) -> list[StoredStep]:
        rows = self.conn.execute(
            f"SELECT {_STEP_COLUMNS} FROM steps WHERE request_id = %s ORDER BY position, name",
            (request_id,),
        )
        return [_step(row) for row in rows]

    def actions(self, request_id: str) -> list[StoredAction]:
        rows = self.conn.execute(
            f"SELECT {_ACTION_COLUMNS} FROM manual_actions WHERE request_id = %s "
            "ORDER BY created_at, action_id",
            (request_id,),
        )
        return [_action(row) for row in rows]

    def action(self, action_id: str) -> StoredAction | None:
        row = self.conn.execute(
            f"SELECT {_ACTION_COLUMNS} FROM manual_actions WHERE action_id = %s", (action_id,)
        ).fetchone()
        return _action(row) if row else None

    def requests_page(
        self,
        kind: str,
        after: tuple[dt.datetime, str] | None,
        limit: int,
        state: RequestState | None,
    ) -> list[StoredRequest]:
        where = "kind = %s"
        args: list[Any] = [kind]
        if after is not None:
            where += " AND (received_at, request_id) < (%s, %s)"
            args += [*after]
        if state is not None:
            where += " AND state = %s"
            args.append(state.value)
        rows = self.conn.execute(
            f"SELECT {_REQUEST_COLUMNS} FROM step_requests WHERE {where} "
            "ORDER BY received_at DESC, request_id DESC LIMIT %s",
            (*args, limit),
        )
        return [_request(row) for row in rows]

    def requests_holding_secrets(self, state: RequestState) -> list[StoredRequest]:
        rows = self.conn.execute(
            f"SELECT {_REQUEST_COLUMNS} FROM step_requests "
            "WHERE sealed_payload IS NOT NULL AND state = %s",
            (state.value,),
        )
        return [_request(row) for row in rows]

    def next_due_at(
        self, kinds: Collection[str], states: Collection[StepState]
    ) -> dt.datetime | None:
        row = self.conn.execute(
            "SELECT min(s.next_attempt_at) FROM steps s JOIN step_requests r USING (request_id) "
            "WHERE s.state = ANY(%s) AND r.kind = ANY(%s)",
            (_values(states), sorted(kinds)),
        ).fetchone()
        return _time(row[0]) if row else None


class StepWrites(_StepReads):
    """The step engine's writes on a connection already inside a transaction: the
    store's own (`PostgresStepStore.write`) or the record store's unit of work."""

    def _lock_request(self, request_id: str) -> None:
        """Wait for, and hold to the end of the transaction, the request's row: the
        writers of one request's steps and actions take turns (the module docstring)."""
        self.conn.execute(
            "SELECT 1 FROM step_requests WHERE request_id = %s FOR UPDATE", (request_id,)
        )

    def insert_request(
        self, request: StoredRequest, steps: Sequence[str], state: StepState
    ) -> None:
        self.conn.execute(
            f"INSERT INTO step_requests ({_REQUEST_COLUMNS}) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                request.request_id,
                request.kind,
                request.subject_id or None,
                request.state.value,
                request.received_at,
                request.deadline_at,
                request.completed_at,
                request.sealed_payload,
                request.updated_at,
                request.requested_by.who,
                request.requested_by.role.value,
                request.requested_by.system,
            ),
        )
        received = request.received_at
        with self.conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO steps (request_id, name, position, state, attempts, "
                "next_attempt_at, updated_at) VALUES (%s, %s, %s, %s, 0, %s, %s)",
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
        # The step and its request in one statement, skipping any either of which
        # another transaction holds: the claim never waits (the module docstring), and
        # a step claimed meanwhile is rechecked on its new row, no longer due, and passed.
        row = self.conn.execute(
            "SELECT s.request_id, s.name FROM steps s JOIN step_requests r USING (request_id) "
            "WHERE s.state = ANY(%s) AND s.next_attempt_at <= %s AND r.kind = ANY(%s) "
            "ORDER BY s.next_attempt_at LIMIT 1 FOR UPDATE OF s, r SKIP LOCKED",
            (_values(states), now, sorted(kinds)),
        ).fetchone()
        if row is None:
            return None
        return self._run(row[0], row[1], states, running, owner, now, lease_until)

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
        self._lock_request(request_id)
        return self._run(request_id, name, states, running, owner, now, lease_until)

    def _run(
        self,
        request_id: str,
        name: str,
        states: Collection[StepState],
        running: StepState,
        owner: str,
        now: dt.datetime,
        lease_until: dt.datetime,
    ) -> StoredStep | None:
        """The step moved to `running` under `owner`'s lease, if it is in one of `states`;
        the caller holds its request's row."""
        # Due again when the lease ends: if its holder never finishes it, the
        # next claim after that takes it over.
        row = self.conn.execute(
            "UPDATE steps SET state = %s, lease_owner = %s, lease_until = %s, "
            "next_attempt_at = %s, updated_at = %s WHERE request_id = %s AND name = %s "
            f"AND state = ANY(%s) RETURNING {_STEP_COLUMNS}",
            (
                running.value,
                owner,
                lease_until,
                lease_until,
                now,
                request_id,
                name,
                _values(states),
            ),
        ).fetchone()
        return _step(row) if row else None

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
        self._lock_request(request_id)
        # Only the lease holder may finish a step: a worker whose lease ran out
        # (it hung past its deadline) must not overwrite a later attempt.
        return (
            self.conn.execute(
                "UPDATE steps SET state = %s, attempts = %s, next_attempt_at = %s, "
                "last_error = %s, result = coalesce(%s, result), lease_owner = NULL, "
                "lease_until = NULL, updated_at = %s "
                "WHERE request_id = %s AND name = %s AND lease_owner = %s",
                (
                    state.value,
                    attempts,
                    next_attempt_at,
                    last_error,
                    result,
                    now,
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
        self._lock_request(request_id)
        return (
            self.conn.execute(
                "UPDATE steps SET sealed = %s, details = %s "
                "WHERE request_id = %s AND name = %s AND lease_owner = %s",
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
        self._lock_request(request_id)
        self.conn.execute(
            "UPDATE steps SET state = %s, attempts = %s, next_attempt_at = %s, "
            "lease_owner = NULL, lease_until = NULL, sealed = %s, details = %s, updated_at = %s "
            "WHERE request_id = %s AND name = %s",
            (
                state.value,
                attempts,
                next_attempt_at,
                sealed,
                _details(details),
                now,
                request_id,
                name,
            ),
        )

    def steps_in_state(self, state: StepState) -> list[StoredStep]:
        # In request order: a caller that changes each of them locks their requests
        # in that order, as every other such caller does.
        rows = self.conn.execute(
            f"SELECT {_STEP_COLUMNS} FROM steps WHERE state = %s "
            "ORDER BY request_id, position, name",
            (state.value,),
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
        self._lock_request(request_id)
        return (
            self.conn.execute(
                "UPDATE steps SET state = %s, lease_owner = NULL, lease_until = NULL, "
                "next_attempt_at = %s, updated_at = %s WHERE request_id = %s AND name = %s "
                "AND lease_owner = %s",
                (state.value, next_attempt_at, now, request_id, name, owner),
            ).rowcount
            == 1
        )

    def insert_action(self, action: StoredAction) -> None:
        self._lock_request(action.request_id)
        self.conn.execute(
            f"INSERT INTO manual_actions ({_ACTION_COLUMNS}) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (action_id) DO NOTHING",
            (
                action.action_id,
                action.request_id,
                action.step,
                action.category,
                action.description,
                action.sealed_instructions,
                action.created_at,
                action.confirmed_by,
                action.confirmed_at,
            ),
        )

    def confirm_action(self, action_id: str, confirmed_by: str, now: dt.datetime) -> bool:
        self.conn.execute(
            "SELECT 1 FROM step_requests WHERE request_id = "
            "(SELECT request_id FROM manual_actions WHERE action_id = %s) FOR UPDATE",
            (action_id,),
        )
        return (
            self.conn.execute(
                "UPDATE manual_actions SET confirmed_by = %s, confirmed_at = %s "
                "WHERE action_id = %s AND confirmed_at IS NULL",
                (confirmed_by, now, action_id),
            ).rowcount
            == 1
        )

    def set_request_state(
        self, request_id: str, state: RequestState, now: dt.datetime, completed: bool
    ) -> None:
        self.conn.execute(
            "UPDATE step_requests SET state = %s, updated_at = %s, completed_at = "
            "CASE WHEN %s THEN coalesce(completed_at, %s) ELSE NULL END WHERE request_id = %s",
            (state.value, now, completed, now, request_id),
        )

    def forget_secrets(self, request_id: str) -> None:
        # The request's row first, as every writer of its steps takes it.
        self.conn.execute(
            "UPDATE step_requests SET sealed_payload = NULL WHERE request_id = %s", (request_id,)
        )
        self.conn.execute("UPDATE steps SET sealed = NULL WHERE request_id = %s", (request_id,))
        self.conn.execute(
            "UPDATE manual_actions SET sealed_instructions = NULL WHERE request_id = %s",
            (request_id,),
        )


class PostgresStepStore:
    """The step engine's rows, in the record database: reads on pooled connections,
    writes in a transaction of their own, which takes no database-wide lock."""

    def __init__(self, database: Database) -> None:
        self._database = database

    @contextmanager
    def write(self) -> Iterator[StepWrites]:
        with self._database.transaction() as conn:
            yield StepWrites(conn)

    def request(self, request_id: str) -> StoredRequest | None:
        with self._database.connection() as conn:
            return _StepReads(conn).request(request_id)

    def latest_request(self, kind: str, subject_id: str) -> StoredRequest | None:
        with self._database.connection() as conn:
            return _StepReads(conn).latest_request(kind, subject_id)

    def steps(self, request_id: str) -> list[StoredStep]:
        with self._database.connection() as conn:
            return _StepReads(conn).steps(request_id)

    def actions(self, request_id: str) -> list[StoredAction]:
        with self._database.connection() as conn:
            return _StepReads(conn).actions(request_id)

    def action(self, action_id: str) -> StoredAction | None:
        with self._database.connection() as conn:
            return _StepReads(conn).action(action_id)

    def requests_page(
        self,
        kind: str,
        after: tuple[dt.datetime, str] | None,
        limit: int,
        state: RequestState | None,
    ) -> list[StoredRequest]:
        with self._database.connection() as conn:
            return _StepReads(conn).requests_page(kind, after, limit, state)

    def next_due_at(
        self, kinds: Collection[str], states: Collection[StepState]
    ) -> dt.datetime | None:
        with self._database.connection() as conn:
            return _StepReads(conn).next_due_at(kinds, states)

    def requests_holding_secrets(self, state: RequestState) -> list[StoredRequest]:
        with self._database.connection() as conn:
            return _StepReads(conn).requests_holding_secrets(state)
