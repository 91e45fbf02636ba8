"""Erasing a person everywhere: one durable request, one step per system.

The request and all its steps are committed in one transaction before anything
is done, and the subject is marked erasure-pending in the same transaction, so
reads stop at once. The identifiers connectors need to find the person are
sealed under a key of the job's own; the person's own keys can therefore be
destroyed straight away (the vault step), and the other systems finished later.
Steps are claimed under leases, so a crashed worker's step is taken over after
its lease runs out; failures are retried with exponential backoff and jitter
(persisted as a next-attempt time, so retries survive restarts), and a step
that cannot succeed without a person moves to needs-attention with the reason.
When the job ends, its key is destroyed.
"""

from __future__ import annotations

import calendar
import concurrent.futures
import datetime as dt
import hashlib
import json
import logging
import os
import random
import secrets
import socket
import threading
import zoneinfo
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vault import crypto
from vault.connectors.base import (
    Connector,
    ConnectorUnavailable,
    Holdings,
    ManualAction,
    Match,
    NeedsAttention,
    Outcome,
    Removed,
    Retained,
    takes_references,
)
from vault.core import faults, matching, rules
from vault.core.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    RequestIdReused,
    SubjectNotFound,
)
from vault.core.identities import Identity, IdentityKind
from vault.core.model import SubjectState
from vault.core.vault import Vault
from vault.storage.base import RecordWrites, RememberedRequest
from vault.storage.jobs import ErasureRequestRow, ErasureStepRow, JobWrites, ManualActionRow

log = logging.getLogger("vault.erasure")

VAULT_SYSTEM = "vault"


class RequestState:
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    PARTIALLY_COMPLETED = "partially_completed"
    AWAITING_MANUAL_ACTION = "awaiting_manual_action"
    COMPLETED = "completed"
    RESTING = frozenset({"partially_completed", "awaiting_manual_action", "completed"})


class StepState:
    PENDING = "pending"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    NEEDS_ATTENTION = "needs_attention"
    # A privacy officer decided the records the system found are someone else's.
    NOT_APPLICABLE = "not_applicable"
    OPEN = frozenset({"pending", "running", "retrying"})


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
        "an earlier attempt had already removed what this system held about the person"
    )
    category: str = ""


class MatchConflict(NeedsAttention):
    """The records a system found may belong to someone else; a person must decide."""


@dataclass(frozen=True)
class OutcomeView:
    kind: str  # removed, retained, manual_action, no_match
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


@dataclass
class ErasureSettings:
    lease_seconds: float = 60.0
    call_timeout_seconds: float = 30.0
    max_attempts: int = 8
    backoff_base_seconds: float = 1.0
    backoff_cap_seconds: float = 600.0
    # The controller's time zone: connectors' "today" and every retained item's
    # last day kept are dates there.
    time_zone: str = "Europe/Stockholm"


class ManualActionNotFound(NotFound):
    reason = "MANUAL_ACTION_NOT_FOUND"


class ErasureRequestNotFound(NotFound):
    reason = "ERASURE_REQUEST_NOT_FOUND"


class ErasureStepNotFound(NotFound):
    reason = "ERASURE_STEP_NOT_FOUND"


class AlreadyConfirmed(FailedPrecondition):
    reason = "ALREADY_CONFIRMED"


class NothingToDecide(FailedPrecondition):
    reason = "NO_CONFLICT_TO_DECIDE"


class NothingToRetry(FailedPrecondition):
    reason = "NOTHING_TO_RETRY"


def one_month_after(moment: dt.datetime) -> dt.datetime:
    """GDPR art. 12(3): an answer within one month of receipt (same day next month, or its last day)."""
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


class ErasureCoordinator:
    def __init__(
        self,
        vault: Vault,
        connectors: Mapping[str, Connector],
        holdings: Mapping[str, Holdings],
        settings: ErasureSettings | None = None,
    ) -> None:
        self.vault = vault
        self.jobs = vault.records.jobs
        self.connectors = dict(connectors)
        self.holdings = dict(holdings)
        self.settings = settings or ErasureSettings()
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.work_available = threading.Event()
        # Notified whenever this process changes a request, so watchers wake at
        # once; changes by other processes are seen by polling.
        self._changed = threading.Condition()
        self._pools: dict[str, concurrent.futures.ThreadPoolExecutor] = {}
        self._pools_lock = threading.Lock()

    # ------------------------------------------------------------ requests
    def request(self, subject_id: str, request_id: str = "") -> ErasureRequestView:
        """Accept an erasure of the subject in every system; the vault's own keys go at once."""
        if request_id:
            rules.request_id(request_id)
            remembered = self.vault.records.remembered(request_id)
            if remembered is not None:
                if (
                    remembered.operation != "erase_everywhere"
                    or remembered.subject_id != subject_id
                ):
                    raise RequestIdReused(request_id)
                return self.get(remembered.result)
        subject = self.vault.records.subject(subject_id)
        if subject is None:
            raise SubjectNotFound(f"subject {subject_id} does not exist", subject=subject_id)
        if subject.state != SubjectState.ACTIVE.value:
            # Already being erased, or erased: "already gone" is success.
            latest = self.jobs.latest_erasure_request(subject_id)
            if latest is not None:
                return self.get(latest.request_id)
            raise FailedPrecondition(
                f"subject {subject_id} was erased before erasure requests were kept"
            )

        identities = self.vault.get_subject(subject_id).identities
        faults.crash_point("erasure_request_accepted")
        job_id = secrets.token_hex(16)
        job_key = self._create_job_key(job_id)
        sealed = crypto.seal(
            job_key,
            json.dumps([[i.kind.value, i.system, i.value] for i in identities]).encode(),
            crypto.associated_data("job-identities", job_id),
        )
        now = self.vault.clock.now()
        stamp = _iso(now)
        row = ErasureRequestRow(
            job_id,
            subject_id,
            RequestState.PENDING,
            stamp,
            _iso(one_month_after(now)),
            None,
            sealed,
            stamp,
        )
        systems = [VAULT_SYSTEM, *sorted(self.connectors)]
        with self.vault.records.write() as tx:
            current = tx.subject(subject_id)
            if current is None or current.state != SubjectState.ACTIVE.value:
                raise FailedPrecondition(f"subject {subject_id} is already being erased")
            tx.jobs.insert_erasure_request(row, systems)
            tx.set_subject_state(subject_id, SubjectState.ERASURE_PENDING.value, stamp)
            if request_id and not tx.remember(
                RememberedRequest(request_id, "erase_everywhere", "", subject_id, job_id)
            ):
                raise RequestIdReused(request_id)
        faults.crash_point("erasure_request_committed")
        # The person's own keys go straight away; a crash here leaves the vault
        # step pending, and the next worker finishes it.
        self.run_step(VAULT_SYSTEM, job_id)
        self.work_available.set()
        return self.get(job_id)

    def get(self, request_id: str) -> ErasureRequestView:
        row = self.jobs.erasure_request(request_id)
        if row is None:
            raise ErasureRequestNotFound(
                f"erasure request {request_id} does not exist", request=request_id
            )
        return self._view(row)

    def list_requests(
        self, page_size: int, page_token: str, state: str | None
    ) -> tuple[list[ErasureRequestView], str]:
        limit = rules.page_size(page_size)
        after = ""
        if page_token:
            # The token names the filter it was made for: a page of one state
            # must not continue as a page of another.
            try:
                token_state, _, after = bytes.fromhex(page_token).decode().partition("\x1f")
            except (ValueError, UnicodeDecodeError):
                token_state, after = "\x00", ""
            if token_state != (state or "") or "|" not in after:
                raise InvalidArgument(
                    "page_token", "not a next_page_token from an earlier call with the same state"
                )
        rows = self.jobs.erasure_requests_page(after, limit + 1, state)
        more = len(rows) > limit
        rows = rows[:limit]
        token = (
            f"{state or ''}\x1f{rows[-1].received_at}|{rows[-1].request_id}".encode().hex()
            if more
            else ""
        )
        return [self._view(r) for r in rows], token

    def watch(
        self, request_id: str, poll_seconds: float = 0.5, stop: threading.Event | None = None
    ) -> Iterator[ErasureRequestView]:
        """The request now, then each time it changes, until it rests (or `stop`).

        Wakes at once on changes made in this process; changes made by another
        process are seen at the next poll.
        """
        last = None
        while True:
            with self._changed:
                view = self.get(request_id)
                if view == last and view.state not in RequestState.RESTING:
                    if stop is not None and stop.is_set():
                        return
                    self._changed.wait(poll_seconds)
                    continue
            yield view
            last = view
            if view.state in RequestState.RESTING or (stop is not None and stop.is_set()):
                return

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def retry(self, request_id: str, client_request_id: str = "") -> ErasureRequestView:
        """Send the steps that need attention round again (after someone fixed the cause)."""
        row = self._request_row(request_id)

        def apply(tx: RecordWrites) -> None:
            if tx.jobs.requeue_steps(request_id, self._now()) == 0:
                raise NothingToRetry(
                    f"erasure request {request_id} has no step that needs attention",
                    request=request_id,
                )
            tx.jobs.set_request_state(
                request_id, RequestState.IN_PROGRESS, self._now(), completed=False
            )

        self._once(client_request_id, "retry_erasure", request_id, row.subject_id, apply)
        self._notify()
        self.work_available.set()
        return self.get(request_id)

    def confirm_manual_action(
        self, request_id: str, action_id: str, confirmed_by: str, client_request_id: str = ""
    ) -> ErasureRequestView:
        who = rules.person_named(confirmed_by, "confirmed_by")
        action = self.jobs.manual_action(action_id)
        if action is None or action.request_id != request_id:
            raise ManualActionNotFound(
                f"manual action {action_id} does not exist", action=action_id
            )
        row = self._request_row(request_id)

        def apply(tx: RecordWrites) -> None:
            if not tx.jobs.confirm_manual_action(action_id, who, self._now()):
                # A second confirmation is not silently dropped: the first one stands.
                raise AlreadyConfirmed(
                    f"manual action {action_id} was already confirmed", action=action_id
                )
            self._settle(tx.jobs, request_id)

        fingerprint = f"{request_id}|{action_id}|{who}"
        self._once(client_request_id, "confirm_manual_action", fingerprint, row.subject_id, apply)
        self._notify()
        self._end_job_if_done(request_id)
        return self.get(request_id)

    def decide_match(
        self,
        request_id: str,
        system: str,
        decision: str,
        decided_by: str,
        client_request_id: str = "",
    ) -> ErasureRequestView:
        """A privacy officer's word on a step whose records may be someone else's:
        the same person (the step runs again, the conflict accepted) or not this
        person (the step ends as not applicable, nothing done in that system)."""
        who = rules.person_named(decided_by, "decided_by")
        if decision not in MatchDecision.ALL:
            raise InvalidArgument("decision", "must be same person or not this person")
        row = self._request_row(request_id)
        if not any(s.system == system for s in self.jobs.steps(request_id)):
            raise ErasureStepNotFound(
                f"erasure request {request_id} has no step for system {system}",
                request=request_id,
            )
        state = (
            StepState.PENDING if decision == MatchDecision.SAME_PERSON else StepState.NOT_APPLICABLE
        )

        def apply(tx: RecordWrites) -> None:
            if not tx.jobs.decide_match(request_id, system, decision, who, state, self._now()):
                raise NothingToDecide(
                    f"the {system} step of erasure request {request_id} has no conflict "
                    "waiting for a decision",
                    request=request_id,
                )
            self._settle(tx.jobs, request_id)

        fingerprint = f"{request_id}|{system}|{decision}|{who}"
        self._once(client_request_id, "decide_match", fingerprint, row.subject_id, apply)
        self._notify()
        self.work_available.set()
        self._end_job_if_done(request_id)
        return self.get(request_id)

    def _request_row(self, request_id: str) -> ErasureRequestRow:
        row = self.jobs.erasure_request(request_id)
        if row is None:
            raise ErasureRequestNotFound(
                f"erasure request {request_id} does not exist", request=request_id
            )
        return row

    def _once(
        self,
        client_request_id: str,
        operation: str,
        fingerprint: str,
        subject_id: str,
        apply: Callable[[RecordWrites], None],
    ) -> None:
        """Apply `apply(tx)` once per client request id (AIP-155): a retry of a call
        already applied, or a copy that lost the race to apply it, answers as the
        first did; the same id with another request is REQUEST_ID_REUSED."""
        if client_request_id:
            rules.request_id(client_request_id)
        # Kept as a hash: the request it stands for may name a person.
        fingerprint = hashlib.sha256(f"{operation}|{fingerprint}".encode()).hexdigest()
        for _ in range(2):
            if client_request_id:
                remembered = self.vault.records.remembered(client_request_id)
                if remembered is not None:
                    if remembered.operation != operation or remembered.fingerprint != fingerprint:
                        raise RequestIdReused(client_request_id)
                    return
            with self.vault.records.write() as tx:
                if not client_request_id or tx.remember(
                    RememberedRequest(
                        client_request_id, operation, fingerprint, subject_id, fingerprint
                    )
                ):
                    apply(tx)
                    return
            # Another copy of this call remembered it first: look again.
        raise AssertionError("a remembered request id vanished")  # pragma: no cover

    # --------------------------------------------------------------- steps
    def release_orphaned_leases(self) -> int:
        """Steps a crashed process on this host was running go back in the queue at once,
        rather than waiting for their leases to run out. Leases of live processes, and of
        other hosts, are left to expire."""
        host = socket.gethostname()
        released = 0
        with self.jobs.write() as tx:
            for step in tx.running_steps():
                owner_host, _, rest = (step.lease_owner or "").partition(":")
                pid = rest.partition(":")[0]
                if owner_host == host and pid.isdigit() and not _process_alive(int(pid)):
                    released += tx.release_lease(
                        step.request_id, step.system, step.lease_owner or "", self._now()
                    )
        if released:
            self.work_available.set()
        return released

    def run_pending(self, limit: int | None = None) -> int:
        """Claim and run due steps until none is due (or `limit` ran); returns how many ran."""
        ran = 0
        while limit is None or ran < limit:
            now = self.vault.clock.now()
            with self.jobs.write() as tx:
                step = tx.claim_step(
                    self.owner,
                    _iso(now),
                    _iso(now + dt.timedelta(seconds=self.settings.lease_seconds)),
                )
            if step is None:
                return ran
            self._notify()
            self._execute(step)
            ran += 1
        return ran

    def run_step(self, system: str, request_id: str) -> None:
        """Claim one particular step now, if it is still open (the vault step at request time)."""
        now = self.vault.clock.now()
        lease = _iso(now + dt.timedelta(seconds=self.settings.lease_seconds))
        with self.jobs.write() as tx:
            step = tx.start_step(request_id, system, self.owner, _iso(now), lease)
        if step is not None:
            self._notify()
            self._execute(step)

    def seconds_until_due(self) -> float | None:
        due = self.jobs.next_due_at()
        if due is None:
            return None
        return max(0.0, (dt.datetime.fromisoformat(due) - self.vault.clock.now()).total_seconds())

    def _execute(self, step: ErasureStepRow) -> None:
        request = self.jobs.erasure_request(step.request_id)
        assert request is not None
        attempts = step.attempts + 1
        try:
            outcomes = self._perform(step, request)
        except Exception as error:  # every failure is recorded on the step, never lost
            self._record_failure(step, attempts, error)
            return
        self._record_success(step, attempts, outcomes)

    def _perform(
        self, step: ErasureStepRow, request: ErasureRequestRow
    ) -> list[Outcome | NoMatch | AlreadyRemoved]:
        system = step.system
        if system == VAULT_SYSTEM:
            receipt = self.vault.erase_subject(request.subject_id)
            faults.crash_point("vault_keys_destroyed")
            return [
                *(
                    Removed(category, "records made unreadable: their key was destroyed")
                    for category in receipt.categories
                ),
                Removed(
                    "identity",
                    f"{receipt.identities_removed} "
                    + ("identity" if receipt.identities_removed == 1 else "identities")
                    + " removed from the lookup index",
                ),
            ]
        connector = self.connectors.get(system)
        if connector is None:
            raise NeedsAttention(f"connector {system} is not enabled any more; enable it and retry")
        identities = self._identities(request)
        references = self._references(step, connector, identities)
        if step.conflict and step.decision != MatchDecision.SAME_PERSON:
            raise _conflict(step)
        today = self.vault.clock.now().astimezone(zoneinfo.ZoneInfo(self.settings.time_zone)).date()
        if takes_references(connector.erase):
            result = self._call(system, connector.erase, identities, today, references=references)
        else:  # a connector written before erase() took references
            result = self._call(system, connector.erase, identities, today)
        faults.crash_point("connector_erased")
        outcomes: list[Outcome | NoMatch | AlreadyRemoved] = [
            *self._checked_outcomes(system, result)
        ]
        if not references and not any(isinstance(o, Removed | Retained) for o in outcomes):
            tried = matching.tried_kinds(self.holdings[system], identities)
            text = matching.no_match_text(self.holdings[system], identities, tried)
            outcomes.insert(0, NoMatch(tried, text))
        elif not outcomes:
            # A re-run after an attempt that erased everything but was not recorded.
            outcomes.append(AlreadyRemoved())
        return outcomes

    def _references(
        self, step: ErasureStepRow, connector: Connector, identities: list[Identity]
    ) -> list[str]:
        """The system's own references to the person: found at the step's first attempt,
        examined for conflicts and sealed in the job; read back on every later attempt."""
        key_context = ("job-references", step.request_id, step.system)
        if step.sealed_references is not None:
            raw = crypto.unseal(
                self._job_key(step.request_id),
                step.sealed_references,
                crypto.associated_data(*key_context),
            )
            return list(json.loads(raw))
        matches = _checked_matches(self._call(step.system, connector.match, identities))
        report = matching.examine(step.system, identities, matches)
        references = list(dict.fromkeys(m.reference for m in matches))
        sealed = crypto.seal(
            self._job_key(step.request_id),
            json.dumps(references).encode(),
            crypto.associated_data(*key_context),
        )
        conflict = (
            json.dumps(
                {"texts": report.conflicts, "kinds": [k.value for k in report.conflict_kinds]}
            )
            if report.conflicts
            else None
        )
        notes = json.dumps(report.notes) if report.notes else None
        with self.jobs.write() as tx:
            saved = tx.save_matches(
                step.request_id,
                step.system,
                step.lease_owner or self.owner,
                sealed,
                conflict,
                notes,
            )
        if not saved:
            raise ConnectorUnavailable("another worker took this step over")
        faults.crash_point("matches_sealed")
        if conflict is not None and step.decision != MatchDecision.SAME_PERSON:
            raise MatchConflict(_conflict_text(report.conflicts))
        return references

    def _call(self, system: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call a connector on its system's pool, under the step's deadline."""
        future = self._pool(system).submit(method, *args, **kwargs)
        try:
            return future.result(timeout=self.settings.call_timeout_seconds)
        except concurrent.futures.TimeoutError:
            raise ConnectorUnavailable(
                f"no answer within {self.settings.call_timeout_seconds:g} s"
            ) from None

    def _checked_outcomes(self, system: str, result: object) -> list[Outcome]:
        holdings = self.holdings[system]
        if not isinstance(result, list):
            raise NeedsAttention(
                f"connector returned {type(result).__name__}, not a list of outcomes"
            )
        for index, outcome in enumerate(result):
            where = f"outcome {index}"
            if not isinstance(outcome, Removed | Retained | ManualAction):
                raise NeedsAttention(
                    f"{where} is a {type(outcome).__name__}, not Removed, Retained or ManualAction"
                )
            if holdings.category(outcome.category) is None:
                raise NeedsAttention(
                    f"{where} names category {outcome.category!r}, which the connector does not declare"
                )
            if not _text(outcome.description):
                raise NeedsAttention(f"{where} has no description")
            if isinstance(outcome, Retained) and (
                not isinstance(outcome.until, dt.date) or not _text(outcome.legal_reason)
            ):
                raise NeedsAttention(f"{where} is retained without a date or a legal reason")
            if isinstance(outcome, ManualAction) and not _text(outcome.instructions):
                raise NeedsAttention(f"{where} asks for a manual action without instructions")
        return result

    def _record_success(
        self,
        step: ErasureStepRow,
        attempts: int,
        outcomes: list[Outcome | NoMatch | AlreadyRemoved],
    ) -> None:
        now = self._now()
        request_id = step.request_id
        job_key = (
            self._job_key(request_id)
            if any(isinstance(o, ManualAction) for o in outcomes)
            else None
        )
        serialized = []
        actions = []
        for index, outcome in enumerate(outcomes):
            entry: dict[str, object] = {
                "kind": _kind(outcome),
                "category": outcome.category,
                "description": outcome.description,
            }
            if isinstance(outcome, NoMatch):
                entry["tried"] = [kind.value for kind in outcome.tried]
            if isinstance(outcome, Retained):
                entry["legal_reason"] = outcome.legal_reason
                entry["until"] = self._last_day_kept(outcome.until).isoformat()
            if isinstance(outcome, ManualAction):
                action_id = hashlib.sha256(
                    f"{request_id}|{step.system}|{index}".encode()
                ).hexdigest()[:24]
                entry["action_id"] = action_id
                assert job_key is not None
                actions.append(
                    ManualActionRow(
                        action_id,
                        request_id,
                        step.system,
                        outcome.category,
                        outcome.description,
                        crypto.seal(
                            job_key,
                            outcome.instructions.encode(),
                            crypto.associated_data("job-instructions", request_id, action_id),
                        ),
                        now,
                        None,
                        None,
                    )
                )
            serialized.append(entry)
        with self.jobs.write() as tx:
            if not tx.finish_step(
                request_id,
                step.system,
                step.lease_owner or self.owner,
                StepState.SUCCEEDED,
                attempts,
                now,
                None,
                json.dumps(serialized),
                now,
            ):
                return  # our lease was taken over; the other attempt's result counts
            for action in actions:
                tx.insert_manual_action(action)
            self._settle(tx, request_id)
        self._notify()
        faults.crash_point("step_recorded")
        self._end_job_if_done(request_id)

    def _last_day_kept(self, until: dt.date) -> dt.date:
        """A datetime is a date too: its day in the controller's time zone."""
        if isinstance(until, dt.datetime):
            if until.tzinfo is not None:
                until = until.astimezone(zoneinfo.ZoneInfo(self.settings.time_zone))
            return until.date()
        return until

    def _record_failure(self, step: ErasureStepRow, attempts: int, error: Exception) -> None:
        now = self.vault.clock.now()
        reason = _describe(error)
        permanent = isinstance(error, NeedsAttention) or attempts >= self.settings.max_attempts
        if permanent:
            state, next_at = StepState.NEEDS_ATTENTION, now
            if not isinstance(error, NeedsAttention):
                reason = f"gave up after {attempts} attempts; last: {reason}"
        else:
            # Exponential backoff with jitter, persisted as a time so it survives restarts.
            delay = min(
                self.settings.backoff_cap_seconds,
                self.settings.backoff_base_seconds * 2 ** (attempts - 1),
            )
            state, next_at = (
                StepState.RETRYING,
                now + dt.timedelta(seconds=delay * random.uniform(0.5, 1.0)),
            )
        if not isinstance(error, ConnectorUnavailable | NeedsAttention):
            log.warning(
                "erasure step %s/%s failed: %s",
                step.request_id,
                step.system,
                reason,
                exc_info=error,
            )
        with self.jobs.write() as tx:
            if tx.finish_step(
                step.request_id,
                step.system,
                step.lease_owner or self.owner,
                state,
                attempts,
                _iso(next_at),
                reason,
                None,
                _iso(now),
            ):
                self._settle(tx, step.request_id)
        self._notify()
        self.work_available.set()

    def _settle(self, tx: JobWrites, request_id: str) -> None:
        """Derive the request's state from its steps and manual actions."""
        steps = tx.steps(request_id)
        actions = tx.manual_actions(request_id)
        if any(s.state in StepState.OPEN for s in steps):
            state = RequestState.IN_PROGRESS
        elif any(s.state == StepState.NEEDS_ATTENTION for s in steps):
            state = RequestState.PARTIALLY_COMPLETED
        elif any(a.confirmed_at is None for a in actions):
            state = RequestState.AWAITING_MANUAL_ACTION
        else:
            state = RequestState.COMPLETED
        tx.set_request_state(
            request_id, state, self._now(), completed=state == RequestState.COMPLETED
        )

    def _end_job_if_done(self, request_id: str) -> None:
        row = self.jobs.erasure_request(request_id)
        if (
            row is not None
            and row.state == RequestState.COMPLETED
            and row.sealed_identities is not None
        ):
            # The job is over: its identifiers and instructions become unreadable.
            self.vault.keys.store.destroy_job_key(request_id)
            with self.jobs.write() as tx:
                tx.forget_job_secrets(request_id)
            self._notify()
            self.vault.scrub_due.set()

    # ------------------------------------------------------------ helpers
    def _create_job_key(self, request_id: str) -> bytes:
        key = crypto.new_key()
        version = self.vault.keyring.current_version
        self.vault.keys.store.put_job_key(
            request_id,
            version,
            crypto.seal(
                self.vault.keyring.current_kek,
                key,
                crypto.associated_data("job-key", version, request_id),
            ),
        )
        return key

    def _job_key(self, request_id: str) -> bytes:
        stored = self.vault.keys.store.job_key(request_id)
        if stored is None:
            raise NeedsAttention("the job's key is gone; the identifiers cannot be read any more")
        version, wrapped = stored
        return crypto.unseal(
            self.vault.keyring.kek(version),
            wrapped,
            crypto.associated_data("job-key", version, request_id),
        )

    def _identities(self, request: ErasureRequestRow) -> list[Identity]:
        if request.sealed_identities is None:
            raise NeedsAttention("the job's identifiers were already destroyed")
        raw = crypto.unseal(
            self._job_key(request.request_id),
            request.sealed_identities,
            crypto.associated_data("job-identities", request.request_id),
        )
        return [
            Identity(IdentityKind(kind), value, system) for kind, system, value in json.loads(raw)
        ]

    def _pool(self, system: str) -> concurrent.futures.ThreadPoolExecutor:
        with self._pools_lock:
            if system not in self._pools:
                self._pools[system] = concurrent.futures.ThreadPoolExecutor(
                    max_workers=4, thread_name_prefix=f"connector-{system}"
                )
            return self._pools[system]

    def close(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)

    def _now(self) -> str:
        return _iso(self.vault.clock.now())

    def _view(self, row: ErasureRequestRow) -> ErasureRequestView:
        actions = {a.action_id: a for a in self.jobs.manual_actions(row.request_id)}
        job_key = None
        if row.sealed_identities is not None and any(
            a.sealed_instructions for a in actions.values()
        ):
            try:
                job_key = self._job_key(row.request_id)
            except NeedsAttention:
                job_key = None
        steps = []
        for step in self.jobs.steps(row.request_id):
            outcomes = []
            for entry in json.loads(step.outcomes or "[]"):
                action = actions.get(entry.get("action_id", ""))
                instructions = ""
                if action is not None and action.sealed_instructions and job_key is not None:
                    instructions = crypto.unseal(
                        job_key,
                        action.sealed_instructions,
                        crypto.associated_data(
                            "job-instructions", row.request_id, action.action_id
                        ),
                    ).decode()
                outcomes.append(
                    OutcomeView(
                        kind=entry["kind"],
                        category=entry["category"],
                        description=entry["description"],
                        legal_reason=entry.get("legal_reason", ""),
                        until=dt.date.fromisoformat(entry["until"]) if "until" in entry else None,
                        action_id=entry.get("action_id", ""),
                        instructions=instructions,
                        confirmed_by=(action.confirmed_by or "") if action else "",
                        confirmed_at=_parse(action.confirmed_at)
                        if action and action.confirmed_at
                        else None,
                        tried=tuple(entry.get("tried", ())),
                    )
                )
            conflict = json.loads(step.conflict) if step.conflict else {}
            steps.append(
                StepView(
                    system=step.system,
                    state=step.state,
                    attempts=step.attempts,
                    last_error=step.last_error or "",
                    next_attempt_at=_parse(step.next_attempt_at)
                    if step.state == StepState.RETRYING
                    else None,
                    outcomes=tuple(outcomes),
                    updated_at=_parse(step.updated_at),
                    conflict=tuple(conflict.get("texts", ())),
                    conflict_kinds=tuple(conflict.get("kinds", ())),
                    notes=tuple(json.loads(step.notes)) if step.notes else (),
                    decision=step.decision or "",
                    decided_by=step.decided_by or "",
                    decided_at=_parse(step.decided_at) if step.decided_at else None,
                )
            )
        return ErasureRequestView(
            request_id=row.request_id,
            subject_id=row.subject_id,
            state=row.state,
            received_at=_parse(row.received_at),
            deadline_at=_parse(row.deadline_at),
            completed_at=_parse(row.completed_at) if row.completed_at else None,
            updated_at=_parse(row.updated_at),
            steps=tuple(steps),
        )


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kind(outcome: Outcome | NoMatch | AlreadyRemoved) -> str:
    if isinstance(outcome, Removed):
        return "removed"
    if isinstance(outcome, Retained):
        return "retained"
    if isinstance(outcome, NoMatch):
        return "no_match"
    if isinstance(outcome, AlreadyRemoved):
        return "already_removed"
    return "manual_action"


def _checked_matches(result: object) -> list[Match]:
    if not isinstance(result, list) or not all(
        isinstance(m, Match) and isinstance(m.reference, str) and m.reference for m in result
    ):
        raise NeedsAttention("connector's match() did not return a list of Match with references")
    return result


def _conflict_text(conflicts: Sequence[str]) -> str:
    return (
        "identities disagree: "
        + "; ".join(conflicts)
        + ". Nothing was erased here; a privacy officer decides whether it is the same person"
    )


def _conflict(step: ErasureStepRow) -> MatchConflict:
    return MatchConflict(_conflict_text(json.loads(step.conflict or "{}").get("texts", [])))


def _describe(error: Exception) -> str:
    """A failure as a short line for people; exception text from connectors is theirs
    to keep free of personal data, and is cut short."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text[:300]}" if text else type(error).__name__


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)
