"""An erasure request as its readers see it: each system's step and what it did."""

from __future__ import annotations

import datetime as dt
import json

from vault import crypto
from vault.connectors.base import NeedsAttention
from vault.core.erasure.jobkeys import JobKeys
from vault.core.erasure.model import (
    PURPOSE_KIND,
    ErasureRequestView,
    OutcomeView,
    Scope,
    StepView,
)
from vault.core.steps import StepReads, StepState, StoredRequest


def request_view(store: StepReads, keys: JobKeys, request: StoredRequest) -> ErasureRequestView:
    actions = {a.action_id: a for a in store.actions(request.request_id)}
    job_key = None
    if request.sealed_payload is not None and any(a.sealed_instructions for a in actions.values()):
        try:
            job_key = keys.key(request.request_id)
        except NeedsAttention:
            job_key = None
    steps = []
    stored = store.steps(request.request_id)
    for step in stored:
        items = []
        for entry in json.loads(step.result or "[]"):
            action = actions.get(entry.get("action_id", ""))
            instructions = ""
            if action is not None and action.sealed_instructions and job_key is not None:
                instructions = crypto.unseal(
                    job_key,
                    action.sealed_instructions,
                    crypto.associated_data(
                        "job-instructions", request.request_id, action.action_id
                    ),
                ).decode()
            items.append(
                OutcomeView(
                    kind=entry["kind"],
                    category=entry["category"],
                    description=entry["description"],
                    legal_reason=entry.get("legal_reason", ""),
                    until=dt.date.fromisoformat(entry["until"]) if "until" in entry else None,
                    action_id=entry.get("action_id", ""),
                    instructions=instructions,
                    confirmed_by=(action.confirmed_by or "") if action else "",
                    confirmed_at=action.confirmed_at if action else None,
                    tried=tuple(entry.get("tried", ())),
                )
            )
        conflict = step.details.get("conflict") or {}
        decided_at = step.details.get("decided_at")
        steps.append(
            StepView(
                system=step.name,
                state=step.state,
                attempts=step.attempts,
                last_error=step.last_error or "",
                next_attempt_at=step.next_attempt_at if step.state is StepState.RETRYING else None,
                outcomes=tuple(items),
                updated_at=step.updated_at,
                conflict=tuple(conflict.get("texts", ())),
                conflict_kinds=tuple(conflict.get("kinds", ())),
                notes=tuple(step.details.get("notes") or ()),
                decision=step.details.get("decision") or "",
                decided_by=step.details.get("decided_by") or "",
                decided_at=dt.datetime.fromisoformat(decided_at) if decided_at else None,
            )
        )
    return ErasureRequestView(
        request_id=request.request_id,
        subject_id=request.subject_id,
        state=request.state,
        received_at=request.received_at,
        deadline_at=request.deadline_at,
        completed_at=request.completed_at,
        updated_at=request.updated_at,
        steps=tuple(steps),
        scope=Scope.PURPOSE if request.kind == PURPOSE_KIND else Scope.SUBJECT,
        # Kept in every step's details (vault.core.erasure.withdrawal), past the job's secrets.
        purpose=next((str(s.details["purpose"]) for s in stored if s.details.get("purpose")), "")
        if request.kind == PURPOSE_KIND
        else "",
    )
