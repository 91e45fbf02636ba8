"""The contract a store keeps for the step engine (tests/storage holds its suite).

The engine decides every state a request or step moves to, and when a step is
due, and passes them; the store persists them and enforces nothing of the
domain, except the one guard that makes leases safe: only the holder of a
step's lease may finish it or keep state on it. A claimed step is due again
when its lease ends, so a step whose holder died is claimed like any other.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
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

    def next_due_at(
        self, kinds: Collection[str], states: Collection[StepState]
    ) -> dt.datetime | None:
        """When the first step in one of `states`, of a request of one of `kinds`, is due."""
        ...

    def requests_holding_secrets(self, state: RequestState) -> list[StoredRequest]:
        """Requests in `state` whose sealed payload has not been forgotten yet."""
        ...


class StepWrites(StepReads, Protocol):
    """Inside one write transaction."""

    def insert_request(
        self, request: StoredRequest, steps: Sequence[str], state: StepState
    ) -> None:
        """The request and its steps, in that order, each in `state`, never attempted,
        due when the request was received."""
        ...

    def claim_step(
        self,
        kinds: Collection[str],
        states: Collection[StepState],
        running: StepState,
        owner: str,
        now: dt.datetime,
        lease_until: dt.datetime,
    ) -> StoredStep | None:
        """The step due first by `now` among those in one of `states` of a request of one
        of `kinds`, moved to `running` under `owner`'s lease until `lease_until`, and due
        again then; None if none is due. A store may pass over steps that concurrent
        transactions hold at that moment (SKIP LOCKED) rather than wait for
        them, and so return None while one is due: the caller asks again shortly."""
        ...

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
        """Take one particular step as `claim_step` does, if it is in one of `states`,
        whenever it is due."""
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
        attempts: int,
        next_attempt_at: dt.datetime,
        sealed: bytes | None,
        details: Mapping[str, Any],
        now: dt.datetime,
    ) -> None:
        """Move a step that no worker holds (a person's retry or decision); any lease
        it had goes."""
        ...

    def steps_in_state(self, state: StepState) -> list[StoredStep]: ...
    def release_lease(
        self,
        request_id: str,
        name: str,
        owner: str,
        state: StepState,
        next_attempt_at: dt.datetime,
        now: dt.datetime,
    ) -> bool:
        """Give a step's lease up, moving it to `state`, due at `next_attempt_at`;
        False (and nothing written) unless `owner` holds the lease."""
        ...

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
