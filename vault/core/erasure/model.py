"""What an erasure request is made of, and what it reports: settings, views, errors."""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

from vault.connectors.base import NeedsAttention
from vault.core.clock import DEFAULT_TIME_ZONE
from vault.core.errors import FailedPrecondition, NotFound, Reason
from vault.core.identities import IdentityKind
from vault.core.steps import EngineSettings

# The step engine's kind for an erasure, and the name of the vault's own step.
KIND = "erasure"
VAULT_SYSTEM = "vault"
# The kind for an erasure of what is held for one purpose, after the person
# withdrew the consent it rested on (GDPR art. 17(1)(b)): the person stays.
PURPOSE_KIND = "purpose_erasure"
KINDS = (KIND, PURPOSE_KIND)


class Scope:
    """What an erasure request erases: the whole person, or one purpose's data."""

    SUBJECT = "subject"
    PURPOSE = "purpose"


class MatchDecision:
    SAME_PERSON = "same_person"
    NOT_THIS_PERSON = "not_this_person"
    ALL = frozenset({"same_person", "not_this_person"})


@dataclass(frozen=True)
class NoMatch:
    """The vault's own outcome for a system that found nobody: not a success to
    pass over, but a miss a privacy officer should see (which kinds were tried)."""

    tried: tuple[IdentityKind, ...]
    description: str
    category: str = ""


@dataclass(frozen=True)
class AlreadyRemoved:
    """The vault's own outcome for a re-run step that found the system's records
    already gone: an earlier attempt removed them and was cut off before it was
    recorded. Said, so an empty step never reads as if nothing happened."""

    description: str = (
        "the records the first attempt found are no longer there: an earlier attempt "
        "removed them, or they were changed in the system since; check there if unsure"
    )
    category: str = ""


class MatchConflict(NeedsAttention):
    """The records a system found may belong to someone else; a person must decide."""


@dataclass(frozen=True)
class OutcomeView:
    kind: str  # removed, retained, manual_action, no_match, already_removed
    category: str
    description: str
    legal_reason: str = ""
    until: dt.date | None = None
    action_id: str = ""
    instructions: str = ""  # readable only while the job runs
    confirmed_by: str = ""
    confirmed_at: dt.datetime | None = None
    tried: tuple[str, ...] = ()  # for no_match: the identity kinds searched by


@dataclass(frozen=True)
class StepView:
    system: str
    state: str
    attempts: int
    last_error: str
    next_attempt_at: dt.datetime | None
    outcomes: tuple[OutcomeView, ...]
    updated_at: dt.datetime
    conflict: tuple[str, ...] = ()  # why the records found may be someone else's
    conflict_kinds: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    decision: str = ""
    decided_by: str = ""
    decided_at: dt.datetime | None = None


@dataclass(frozen=True)
class ErasureRequestView:
    request_id: str
    subject_id: str
    state: str
    received_at: dt.datetime
    deadline_at: dt.datetime
    completed_at: dt.datetime | None
    updated_at: dt.datetime
    steps: tuple[StepView, ...]
    scope: str = Scope.SUBJECT
    # For Scope.PURPOSE: the purpose whose consent was withdrawn.
    purpose: str = ""


@dataclass
class ErasureSettings:
    # More than twice the call timeout: a connector's step calls its system twice.
    lease_seconds: float = 90.0
    call_timeout_seconds: float = 30.0
    max_attempts: int = 8
    backoff_base_seconds: float = 1.0
    backoff_cap_seconds: float = 600.0
    # The controller's time zone: connectors' "today" and every retained item's
    # last day kept are dates there.
    time_zone: str = DEFAULT_TIME_ZONE

    def engine_settings(self) -> EngineSettings:
        """The step engine's leases and backoff: the erasure's are the process's."""
        return EngineSettings(
            lease_seconds=self.lease_seconds,
            max_attempts=self.max_attempts,
            backoff_base_seconds=self.backoff_base_seconds,
            backoff_cap_seconds=self.backoff_cap_seconds,
        )


class ManualActionNotFound(NotFound):
    reason = Reason.MANUAL_ACTION_NOT_FOUND


class ErasureRequestNotFound(NotFound):
    reason = Reason.ERASURE_REQUEST_NOT_FOUND


class ErasureStepNotFound(NotFound):
    reason = Reason.ERASURE_STEP_NOT_FOUND


class AlreadyConfirmed(FailedPrecondition):
    reason = Reason.ALREADY_CONFIRMED


class NothingToDecide(FailedPrecondition):
    reason = Reason.NO_CONFLICT_TO_DECIDE


class NothingToRetry(FailedPrecondition):
    reason = Reason.NOTHING_TO_RETRY


def one_month_after(moment: dt.datetime) -> dt.datetime:
    """GDPR art. 12(3): an answer within one month of receipt (same day next month, or its last day)."""
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)
