"""The contract a store keeps for the step engine (tests/storage holds its suite).

The engine decides every state a request or step moves to and passes it; the
store persists it and enforces nothing of the domain, except the one guard
that makes leases safe: only the holder of a step's lease may finish it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from vault.core.steps.model import (
    RequestState,
    StepState,
    StoredAction,
    StoredRequest,
    StoredStep,
)


class StepReads(Protocol):
    def request(self, request_id: str) -> StoredRequest | None: ...
    def latest_request(self, kind: str, subject_id: str) -> StoredRequest | None: ...
    def steps(self, request_id: str) -> list[StoredStep]: ...
    def actions(self, request_id: str) -> list[StoredAction]: ...
    def action(self, action_id: str) -> StoredAction | None: ...
    def requests_page(
        self,
        kind: str,
        after: tuple[dt.datetime, str] | None,
        limit: int,
        state: RequestState | None,
    ) -> list[StoredRequest]:
        """Newest first; `after` is the (received_at, request_id) of the last one seen."""
        ...

    def next_due_at(self) -> dt.datetime | None:
        """When the next open step is due: its next attempt, or a running one's lease end."""
        ...

    def requests_holding_secrets(self, state: RequestState) -> list[StoredRequest]:
        """Requests in `state` whose sealed payload has not been forgotten yet."""
        ...


class StepWrites(StepReads, Protocol):
    """Inside one write transaction."""

    def insert_request(self, request: StoredRequest, steps: Sequence[str]) -> None:
        """The request and its steps, each pending and due at once."""
        ...

    def claim_step(
        self, owner: str, now: dt.datetime, lease_until: dt.datetime
    ) -> StoredStep | None:
        """The open step due first (a waiting one due by `now`, or a running one whose
        lease ran out), now running under `owner`'s lease; its request in progress."""
        ...

    def start_step(
        self, request_id: str, name: str, owner: str, now: dt.datetime, lease_until: dt.datetime
    ) -> StoredStep | None:
        """Take one particular step if it is waiting (pending or retrying)."""
        ...

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
        """Record an attempt's end; False (and nothing written) unless `owner` holds the
        lease. A `result` of None keeps the one recorded before."""
        ...

    def keep_step_state(
        self,
        request_id: str,
        name: str,
        owner: str,
        sealed: bytes | None,
        details: Mapping[str, Any],
    ) -> bool:
        """What a running step keeps for its later attempts; only its lease holder may."""
        ...

    def set_step(
        self,
        request_id: str,
        name: str,
        state: StepState,
        sealed: bytes | None,
        details: Mapping[str, Any],
        now: dt.datetime,
    ) -> None:
        """Move a step that no worker holds (a person's retry or decision): attempts
        start again from nought and it is due at once."""
        ...

    def running_steps(self) -> list[StoredStep]: ...
    def release_lease(self, request_id: str, name: str, owner: str, now: dt.datetime) -> bool: ...
    def insert_action(self, action: StoredAction) -> None:
        """Kept once: an action already recorded (a re-run step) is left as it is."""
        ...

    def confirm_action(self, action_id: str, confirmed_by: str, now: dt.datetime) -> bool:
        """False if it was confirmed already."""
        ...

    def set_request_state(
        self, request_id: str, state: RequestState, now: dt.datetime, completed: bool
    ) -> None: ...
    def forget_secrets(self, request_id: str) -> None:
        """The request's sealed payload, its steps' sealed state and its actions'
        instructions go (its key is destroyed too)."""
        ...


class StepStore(StepReads, Protocol):
    def write(self) -> AbstractContextManager[StepWrites]: ...
