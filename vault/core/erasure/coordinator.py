"""Erasing a person everywhere: the erasure request's intake, decisions and views.

An erasure of what is held for one purpose, which a withdrawal of consent
starts (vault.core.erasure.intake), is a request of its own kind beside it:
read, listed, watched, retried and confirmed here like any other.

The request and one step per system (the vault's own first) are committed in
one transaction, with the subject's new erasure-pending state, before anything
is done, so reads stop at once. The identifiers connectors need are sealed
under a key of the job's own, so the person's own keys can be destroyed
straight away and the other systems finished later by the step engine. When
the job completes, its key is destroyed.

Every call writes its audit event: a change (the request, a retry, a
confirmation, a decision) in its own transaction, a read before its answer.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Callable, Iterator, Mapping

from vault.connectors.base import Connector, Holdings, NeedsAttention
from vault.core import access, faults, paging, rules
from vault.core.actor import Actor
from vault.core.audit.events import AuditEvent, Operation
from vault.core.erasure.intake import DurableWithdrawals
from vault.core.erasure.jobkeys import JobKeys
from vault.core.erasure.jobs import new_request
from vault.core.erasure.kind import ErasureSteps
from vault.core.erasure.model import (
    KIND,
    KINDS,
    PURPOSE_KIND,
    VAULT_SYSTEM,
    AlreadyConfirmed,
    ErasureRequestNotFound,
    ErasureRequestView,
    ErasureSettings,
    ErasureStepNotFound,
    ManualActionNotFound,
    MatchDecision,
    NothingToDecide,
    NothingToRetry,
)
from vault.core.erasure.systems import (
    ConnectorStep,
    VaultStep,
    counted,
    read_protected_identity,
)
from vault.core.erasure.views import request_view
from vault.core.erasure.withdrawal import (
    ManualWithdrawalStep,
    PurposeVaultStep,
    WithdrawalConnectorStep,
    tells,
)
from vault.core.errors import (
    ErasurePending,
    InvalidArgument,
    RequestIdReused,
    SubjectErased,
    SubjectNotFound,
)
from vault.core.model import SubjectState
from vault.core.replay import NO_FINGERPRINT, Raced
from vault.core.steps import (
    RequestState,
    StepEngine,
    StepState,
    StoredRequest,
)
from vault.core.vault import Vault
from vault.storage.base import Transaction

# An event's detail for a call answered from its request id: nothing was done
# again, but the call was made.
ANSWERED_AGAIN = "answered again from the request id"


class ErasureCoordinator:
    """The erasure's intake and a person's decisions; it registers the erasure's
    kind with the process's one step engine, whose workers run its steps."""

    def __init__(
        self,
        vault: Vault,
        engine: StepEngine,
        connectors: Mapping[str, Connector],
        holdings: Mapping[str, Holdings],
        settings: ErasureSettings | None = None,
    ) -> None:
        self.vault = vault
        self.audit = vault.audit
        self.connectors = dict(connectors)
        self.holdings = dict(holdings)
        self.settings = settings or ErasureSettings()
        self.keys = JobKeys(vault)
        self.replay = vault.replay
        self.engine = engine
        self.steps = self.engine.store
        self.kind = ErasureSteps(vault, self.keys, self.settings)
        self._connector_steps = {
            name: self._connector_step(ConnectorStep, name) for name in self.connectors
        }
        self.kind.systems = {VAULT_SYSTEM: VaultStep(vault), **self._connector_steps}
        self.engine.register(KIND, self.kind)
        # An erasure for one purpose, after a withdrawal: the same kind of
        # steps, with each system's own (vault.core.erasure.withdrawal). A
        # connector is told only if it declares it can be.
        self.purpose_kind = ErasureSteps(vault, self.keys, self.settings)
        self._withdrawal_steps = {
            name: self._connector_step(WithdrawalConnectorStep, name)
            for name, connector in self.connectors.items()
            if tells(connector)
        }
        self.purpose_kind.systems = {
            VAULT_SYSTEM: PurposeVaultStep(vault),
            **{
                name: ManualWithdrawalStep(
                    self.holdings[name],
                    self.purpose_kind.identities,
                    self.settings.time_zone,
                    self.audit,
                    self.purpose_kind.protected_identity,
                    vault.records,
                    self.engine.owner,
                )
                for name in self.connectors
            },
            **self._withdrawal_steps,
        }
        self.engine.register(PURPOSE_KIND, self.purpose_kind)
        # What a consent history hands its withdrawals to (the runtime wires it).
        self.withdrawals = DurableWithdrawals(
            vault,
            self.engine,
            self.keys,
            {name: self.holdings[name] for name in self.connectors},
        )

    def _connector_step(self, step: type[ConnectorStep], name: str) -> ConnectorStep:
        return step(
            self.connectors[name],
            self.holdings[name],
            self.steps,
            self.keys,
            self.settings,
            self.kind.identities,
            self.vault.clock.now,
            self.engine.owner,
            self.audit,
            self.kind.protected_identity,
        )

    # ------------------------------------------------------------ requests
    def request(self, actor: Actor, subject_id: str, request_id: str = "") -> ErasureRequestView:
        """Accept an erasure of the subject in every system; the vault's own keys go at once."""
        # Every system is sent the person's identifiers: a privacy officer's
        # order (the edge allows it to no one else), refused to anyone else.
        access.check_whole_person(actor, "EraseSubject")
        if request_id:
            remembered = self.replay.lookup(request_id)
            if remembered is not None:
                if (
                    remembered.operation != "erase_everywhere"
                    or remembered.subject_id != subject_id
                ):
                    raise RequestIdReused(request_id)
                return self._asked_again(actor, remembered.result, ANSWERED_AGAIN)
        subject = self.vault.records.subjects.subject(subject_id)
        if subject is None:
            raise SubjectNotFound(f"subject {subject_id} does not exist", subject=subject_id)
        if subject.state is not SubjectState.ACTIVE:
            # Already being erased, or erased: "already gone" is success.
            latest = self.steps.latest_request(KIND, subject_id)
            if latest is not None:
                return self._asked_again(
                    actor,
                    latest.request_id,
                    "already being erased or erased: answered with the latest erasure request",
                )
            # Erased before erasure requests were kept: nothing to show but that.
            if subject.state is SubjectState.ERASED:
                raise SubjectErased(subject_id)
            raise ErasurePending(subject_id)

        person = self.vault.subjects.view(actor, subject_id, "erase_subject")
        faults.crash_point("erasure_request_accepted")
        now = self.vault.clock.now()
        request = new_request(self.keys, KIND, person, actor, now)
        job_id = request.request_id
        systems = [VAULT_SYSTEM, *sorted(self.connectors)]
        # Named while the subject key exists: the vault step destroys it next.
        accepted = self.audit.event(
            actor,
            Operation.ERASE_SUBJECT,
            subject_id,
            sensitive=person.protected_identity,
            detail=f"erasure requested in {counted(len(systems), 'system')}: " + ", ".join(systems),
        )
        try:
            with self.vault.records.write() as tx:
                current = tx.subjects.subject(subject_id)
                if current is None or current.state is not SubjectState.ACTIVE:
                    # Another request won the race to erase this subject.
                    raise ErasurePending(subject_id)
                self.engine.submit(tx.steps, request, systems)
                tx.subjects.set_subject_state(subject_id, SubjectState.ERASURE_PENDING, now)
                self.audit.written(tx.audit, accepted)
                # The answer is the request's own id; what it asked for is its
                # subject, compared as such rather than fingerprinted.
                self.replay.remember(
                    tx, request_id, "erase_everywhere", NO_FINGERPRINT, subject_id, job_id
                )
        except (ErasurePending, Raced) as failure:
            # Nothing was committed: the job's key protects nothing, and a copy of
            # this very call that won the race answers as it did.
            self.keys.destroy(job_id)
            if request_id:
                remembered = self.replay.lookup(request_id)
                if (
                    remembered is not None
                    and remembered.operation == "erase_everywhere"
                    and remembered.subject_id == subject_id
                ):
                    return self._asked_again(actor, remembered.result, ANSWERED_AGAIN)
            if isinstance(failure, Raced):
                raise RequestIdReused(request_id) from None
            raise
        faults.crash_point("erasure_request_committed")
        # The person's own keys go straight away; a crash here leaves the vault
        # step pending, and the next worker finishes it.
        self.engine.run_step(job_id, VAULT_SYSTEM)
        self.engine.accepted()
        return self._answer(actor, job_id)

    def _asked_again(self, actor: Actor, request_id: str, detail: str) -> ErasureRequestView:
        """An erasure asked for again starts nothing, but is a call: its event is
        committed before the request it is answered with."""
        request = self._request(request_id)
        protected = self._protected_identity(request)
        self._told(actor, Operation.ERASE_SUBJECT, request, protected, detail)
        return self._shown(actor, request, "get_erasure_request", protected)

    def get(self, actor: Actor, request_id: str) -> ErasureRequestView:
        request = self._request(request_id)
        protected = self._protected_identity(request)
        self._told(actor, Operation.GET_ERASURE_REQUEST, request, protected)
        return self._shown(actor, request, "get_erasure_request", protected)

    def _answer(self, actor: Actor, request_id: str) -> ErasureRequestView:
        """The request as a change's answer: its event, written with the change, tells it."""
        request = self._request(request_id)
        return self._shown(actor, request, "get_erasure_request", self._protected_identity(request))

    def _told(
        self,
        actor: Actor,
        operation: Operation,
        request: StoredRequest,
        protected: bool,
        detail: str = "",
    ) -> None:
        """Commit a read's event, before what it read leaves."""
        self.audit.commit(
            self.audit.event(
                actor, operation, request.subject_id, sensitive=protected, detail=detail
            )
        )

    def _shown(
        self, actor: Actor, request: StoredRequest, action: str | None, protected: bool
    ) -> ErasureRequestView:
        """The request as `actor` may see it: a protected identity's without
        its free text (instructions, descriptions, errors, notes) to anyone but
        the privacy officer, the access noted as `action` (None: noted already,
        once for a whole watch)."""
        view = request_view(self.steps, self.keys, request)
        if not protected:
            return view
        if action is not None:
            self.vault.access_notes.note(actor, request.subject_id, action)
        return access.shown_erasure_request(actor, view)

    def _protected_identity(self, request: StoredRequest) -> bool:
        """Is the request's person a protected identity? Their own flag is blanked
        once erased; while the job runs, its sealed payload says. After that
        nothing of the person is readable in the request any more."""
        subject = self.vault.records.subjects.subject(request.subject_id)
        if subject is not None and subject.protected_identity:
            return True
        if request.sealed_payload is None:
            return False
        try:
            raw = self.keys.unseal(
                request.request_id, request.sealed_payload, "job-identities", request.request_id
            )
        except NeedsAttention:  # the job completed: its key, and what it sealed, are gone
            return False
        return read_protected_identity(raw)

    def list_requests(
        self, actor: Actor, page_size: int, page_token: str, state: str | None
    ) -> tuple[list[ErasureRequestView], str]:
        limit = rules.page_size(page_size)
        # The token names the filter it was made for: a page of one state
        # must not continue as a page of another.
        query = {"list": "erasure_requests", "state": state or ""}
        last = paging.read(page_token, query, (str, str), "state")
        after = None
        if last is not None:
            try:
                after = (_parse(last[0]), last[1])
            except ValueError:
                raise InvalidArgument(
                    "page_token", "not a next_page_token from an earlier call"
                ) from None
        rows = self._requests_page(after, limit + 1, RequestState(state) if state else None)
        more = len(rows) > limit
        rows = rows[:limit]
        token = (
            paging.token(query, [_iso(rows[-1].received_at), rows[-1].request_id]) if more else ""
        )
        protected = [self._protected_identity(r) for r in rows]
        # One event for the page: it names no one, as a page holds many people.
        self.audit.commit(
            self.audit.event(
                actor,
                Operation.LIST_ERASURE_REQUESTS,
                sensitive=any(protected),
                detail=counted(len(rows), "request") + (f" in state {state}" if state else ""),
            )
        )
        views = [
            self._shown(actor, row, "list_erasure_requests", hidden)
            for row, hidden in zip(rows, protected, strict=True)
        ]
        return views, token

    def watch(
        self,
        actor: Actor,
        request_id: str,
        poll_seconds: float = 0.5,
        stop: threading.Event | None = None,
    ) -> Iterator[ErasureRequestView]:
        """The request now, then each time it changes, until it rests (or `stop`)."""
        noted = threading.Event()

        def shown(rid: str) -> ErasureRequestView:
            # Polled until the request rests: told and noted on the first look only.
            request = self._request(rid)
            protected = self._protected_identity(request)
            action = None
            if not noted.is_set():
                self._told(actor, Operation.WATCH_ERASURE_REQUEST, request, protected)
                action = "watch_erasure_request"
                noted.set()
            return self._shown(actor, request, action, protected)

        return self.engine.watch(
            request_id,
            shown,
            lambda view: RequestState(view.state),
            poll_seconds,
            stop,
        )

    def retry(
        self, actor: Actor, request_id: str, client_request_id: str = ""
    ) -> ErasureRequestView:
        """Send the steps that need attention round again (after someone fixed the cause)."""
        request = self._request(request_id)

        def apply(tx: Transaction) -> None:
            if self.engine.retry(tx.steps, request_id) == 0:
                raise NothingToRetry(
                    f"erasure request {request_id} has no step that needs attention",
                    request=request_id,
                )

        event = self._change_event(
            actor, Operation.RETRY_ERASURE_REQUEST, request, "the steps that need attention"
        )
        self._once(client_request_id, "retry_erasure", request_id, request.subject_id, apply, event)
        self.engine.changed()
        return self._answer(actor, request_id)

    def confirm_manual_action(
        self,
        actor: Actor,
        request_id: str,
        action_id: str,
        confirmed_by: str,
        client_request_id: str = "",
    ) -> ErasureRequestView:
        who = rules.person_named(confirmed_by, "confirmed_by")
        request = self._request(request_id)  # an unknown request is named as such
        action = self.steps.action(action_id)
        if action is None or action.request_id != request_id:
            raise ManualActionNotFound(
                f"manual action {action_id} does not exist", action=action_id
            )

        def apply(tx: Transaction) -> None:
            if not tx.steps.confirm_action(action_id, who, self.vault.clock.now()):
                # A second confirmation is not silently dropped: the first one stands.
                raise AlreadyConfirmed(
                    f"manual action {action_id} was already confirmed", action=action_id
                )
            self.engine.settle(tx.steps, request_id)

        fingerprint = f"{request_id}|{action_id}|{who}"
        # Who confirmed is a person's name: the event names the step and category.
        event = self._change_event(
            actor,
            Operation.CONFIRM_MANUAL_ACTION,
            request,
            f"the {action.step} step's manual action for {action.category}",
        )
        self._once(
            client_request_id,
            "confirm_manual_action",
            fingerprint,
            request.subject_id,
            apply,
            event,
        )
        self.engine.changed()
        self.engine.end_if_completed(request_id)
        return self._answer(actor, request_id)

    def decide_match(
        self,
        actor: Actor,
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
        request = self._request(request_id)
        if not any(s.name == system for s in self.steps.steps(request_id)):
            raise ErasureStepNotFound(
                f"erasure request {request_id} has no step for system {system}",
                request=request_id,
            )
        state = (
            StepState.PENDING if decision == MatchDecision.SAME_PERSON else StepState.NOT_APPLICABLE
        )

        def apply(tx: Transaction) -> None:
            step = next(s for s in tx.steps.steps(request_id) if s.name == system)
            if (
                step.state is not StepState.NEEDS_ATTENTION
                or not step.details.get("conflict")
                or step.details.get("decision")
            ):
                raise NothingToDecide(
                    f"the {system} step of erasure request {request_id} has no conflict "
                    "waiting for a decision",
                    request=request_id,
                )
            now = self.vault.clock.now()
            details = {
                **step.details,
                "decision": decision,
                "decided_by": who,
                "decided_at": _iso(now),
            }
            self.engine.move_step(tx.steps, request_id, system, state, step.sealed, details)
            self.engine.settle(tx.steps, request_id)

        fingerprint = f"{request_id}|{system}|{decision}|{who}"
        event = self._change_event(
            actor,
            Operation.DECIDE_MATCH,
            request,
            f"the {system} step: {decision.replace('_', ' ')}",
        )
        self._once(client_request_id, "decide_match", fingerprint, request.subject_id, apply, event)
        self.engine.changed()
        self.engine.end_if_completed(request_id)
        return self._answer(actor, request_id)

    # --------------------------------------------------------------- steps
    def run_pending(self, limit: int | None = None) -> int:
        """Run the due steps now, as a worker would (the engine's, of every kind it runs)."""
        return self.engine.run_pending(limit)

    def close(self) -> None:
        for step in [*self._connector_steps.values(), *self._withdrawal_steps.values()]:
            step.close()

    # ------------------------------------------------------------ helpers
    def _requests_page(
        self, after: tuple[dt.datetime, str] | None, limit: int, state: RequestState | None
    ) -> list[StoredRequest]:
        """Up to `limit` requests of every erasure kind, newest first after `after`:
        each kind's page, merged (the store pages one kind at a time)."""
        rows = [r for kind in KINDS for r in self.steps.requests_page(kind, after, limit, state)]
        rows.sort(key=lambda r: (r.received_at, r.request_id), reverse=True)
        return rows[:limit]

    def _request(self, request_id: str) -> StoredRequest:
        request = self.steps.request(request_id)
        if request is None or request.kind not in KINDS:
            raise ErasureRequestNotFound(
                f"erasure request {request_id} does not exist", request=request_id
            )
        return request

    def _change_event(
        self, actor: Actor, operation: Operation, request: StoredRequest, detail: str
    ) -> AuditEvent:
        return self.audit.event(
            actor,
            operation,
            request.subject_id,
            sensitive=self._protected_identity(request),
            detail=detail,
        )

    def _once(
        self,
        client_request_id: str,
        operation: str,
        parts: str,
        subject_id: str,
        apply: Callable[[Transaction], None],
        event: AuditEvent,
    ) -> None:
        """Apply `apply(tx)` once per client request id, `event` written with it: a
        retry of a call already applied, or a copy that lost the race to apply
        it, answers as the first did, its event saying so."""
        fingerprint = self.replay.fingerprint(client_request_id, operation, parts)
        for _ in range(2):
            if self.replay.replayed(client_request_id, operation, fingerprint) is not None:
                again = dataclasses.replace(event, detail=f"{event.detail}; {ANSWERED_AGAIN}")
                self.audit.commit(again)
                return
            try:
                with self.vault.records.write() as tx:
                    self.replay.remember(
                        tx, client_request_id, operation, fingerprint, subject_id, ""
                    )
                    apply(tx)
                    self.audit.written(tx.audit, event)
                return
            except Raced:
                continue  # another copy of this call remembered it first: look again
        raise AssertionError("a remembered request id vanished")  # pragma: no cover


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)
