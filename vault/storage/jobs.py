"""Rows of the durable erasure fan-out: requests, one step per system, manual actions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ErasureRequestRow:
    request_id: str
    subject_id: str
    state: str
    received_at: str
    deadline_at: str
    completed_at: str | None
    sealed_identities: bytes | None
    updated_at: str


@dataclass(frozen=True)
class ErasureStepRow:
    request_id: str
    system: str
    state: str
    attempts: int
    next_attempt_at: str
    lease_owner: str | None
    lease_until: str | None
    last_error: str | None
    outcomes: str | None  # JSON list; kinds, counts, reasons and dates, never personal data
    updated_at: str
    # The system's own references to the person, found at the first attempt and
    # sealed under the job's key, handed back to the connector on every attempt.
    sealed_references: bytes | None = None
    # JSON lists of texts in words (identity kinds, never values): why the records
    # found may be someone else's, and differences worth a look.
    conflict: str | None = None
    notes: str | None = None
    decision: str | None = None  # a privacy officer's word on a conflict
    decided_by: str | None = None
    decided_at: str | None = None


@dataclass(frozen=True)
class ManualActionRow:
    action_id: str
    request_id: str
    system: str
    category: str
    description: str
    sealed_instructions: bytes | None
    created_at: str
    confirmed_by: str | None
    confirmed_at: str | None


class JobWrites(Protocol):
    """Inside one write transaction of the record store."""

    def insert_erasure_request(self, row: ErasureRequestRow, systems: list[str]) -> None: ...
    def erasure_request(self, request_id: str) -> ErasureRequestRow | None: ...
    def steps(self, request_id: str) -> list[ErasureStepRow]: ...
    def claim_step(self, owner: str, now: str, lease_until: str) -> ErasureStepRow | None: ...
    def start_step(
        self, request_id: str, system: str, owner: str, now: str, lease_until: str
    ) -> ErasureStepRow | None: ...
    def finish_step(
        self,
        request_id: str,
        system: str,
        owner: str,
        state: str,
        attempts: int,
        next_attempt_at: str,
        last_error: str | None,
        outcomes: str | None,
        now: str,
    ) -> bool: ...
    def running_steps(self) -> list[ErasureStepRow]: ...
    def release_lease(self, request_id: str, system: str, owner: str, now: str) -> bool: ...
    def insert_manual_action(self, row: ManualActionRow) -> None: ...
    def manual_actions(self, request_id: str) -> list[ManualActionRow]: ...
    def confirm_manual_action(self, action_id: str, confirmed_by: str, now: str) -> bool: ...
    def set_request_state(self, request_id: str, state: str, now: str, completed: bool) -> None: ...
    def forget_job_secrets(self, request_id: str) -> None: ...
    def requeue_steps(self, request_id: str, now: str) -> int: ...
    def save_matches(
        self,
        request_id: str,
        system: str,
        owner: str,
        sealed_references: bytes,
        conflict: str | None,
        notes: str | None,
    ) -> bool: ...
    def decide_match(
        self, request_id: str, system: str, decision: str, decided_by: str, state: str, now: str
    ) -> bool: ...


class JobReads(Protocol):
    def erasure_request(self, request_id: str) -> ErasureRequestRow | None: ...
    def latest_erasure_request(self, subject_id: str) -> ErasureRequestRow | None: ...
    def steps(self, request_id: str) -> list[ErasureStepRow]: ...
    def manual_actions(self, request_id: str) -> list[ManualActionRow]: ...
    def manual_action(self, action_id: str) -> ManualActionRow | None: ...
    def erasure_requests_page(
        self, after: str, limit: int, state: str | None
    ) -> list[ErasureRequestRow]: ...
    def next_due_at(self) -> str | None: ...
