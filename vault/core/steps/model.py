"""What the step engine keeps: requests, their steps, and actions a person must take.

Times are datetimes and states the engine's own enums; how a store writes
them down is its own business.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vault.core.actor import Actor


class RequestState(enum.StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    PARTIALLY_COMPLETED = "partially_completed"
    AWAITING_MANUAL_ACTION = "awaiting_manual_action"
    COMPLETED = "completed"


# A request rests when nothing more happens without a person.
RESTING = frozenset(
    {
        RequestState.PARTIALLY_COMPLETED,
        RequestState.AWAITING_MANUAL_ACTION,
        RequestState.COMPLETED,
    }
)


class StepState(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    NEEDS_ATTENTION = "needs_attention"
    # Ended without doing anything, by a person's decision.
    NOT_APPLICABLE = "not_applicable"


# Steps a worker may still pick up (a running one once its lease runs out).
OPEN = frozenset({StepState.PENDING, StepState.RUNNING, StepState.RETRYING})
# Steps waiting for an attempt, which no worker holds.
WAITING = frozenset({StepState.PENDING, StepState.RETRYING})


@dataclass(frozen=True)
class StoredRequest:
    """One durable request of some kind (an erasure, later a consent withdrawal...).

    `sealed_payload` is what its steps need that is personal data (the
    identities to find the person by), sealed under the request's own key.
    `requested_by` is who asked for it: its steps run as the vault itself,
    and the audit trail names the asker. `subject_id` is empty for a request
    about no one person (a retention sweep).
    """

    request_id: str
    kind: str
    subject_id: str
    state: RequestState
    received_at: dt.datetime
    deadline_at: dt.datetime
    completed_at: dt.datetime | None
    sealed_payload: bytes | None
    updated_at: dt.datetime
    requested_by: Actor


@dataclass(frozen=True)
class StoredStep:
    """One step of a request. `result` is the step's report (JSON, no personal
    data); `sealed` what it keeps between attempts that is personal data
    (sealed under the request's key); `details` what it keeps that is not
    (JSON-ready values: a conflict in words, a person's decision)."""

    request_id: str
    name: str
    state: StepState
    attempts: int
    next_attempt_at: dt.datetime
    lease_owner: str | None
    lease_until: dt.datetime | None
    last_error: str | None
    result: str | None
    updated_at: dt.datetime
    sealed: bytes | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredAction:
    """Something a person must do by hand, tracked until they confirm it."""

    action_id: str
    request_id: str
    step: str
    category: str
    description: str
    sealed_instructions: bytes | None
    created_at: dt.datetime
    confirmed_by: str | None
    confirmed_at: dt.datetime | None


@dataclass(frozen=True)
class EngineSettings:
    lease_seconds: float = 60.0
    max_attempts: int = 8
    backoff_base_seconds: float = 1.0
    backoff_cap_seconds: float = 600.0
