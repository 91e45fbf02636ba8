"""Withdrawal that acts, in the core, on both engines, with the test's clock: a
withdrawal shreds what the vault holds for that purpose alone; with the
erasure's intake it is an erasure request of its own kind, committed with the
consent event, whose vault step is done before the call returns, whose
connectors are told (or a person asked) by what they declare."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.conftest import START
from vault.connectors import (
    Capability,
    Connector,
    ConnectorSettings,
    ExportItem,
    HeldCategory,
    Holdings,
    Identity,
    IdentityKind,
    LegalBasis,
    Outcome,
    Removed,
)
from vault.core.actor import LOCAL, Actor, Role
from vault.core.audit.events import AuditEvent, Operation
from vault.core.audit.store import AuditQuery
from vault.core.clock import FixedClock
from vault.core.consent.model import Channel, ConsentInput, ConsentStatus
from vault.core.consent.withdrawal import RecordedConsent
from vault.core.erasure import (
    PURPOSE_KIND,
    VAULT_SYSTEM,
    ErasureCoordinator,
    RequestState,
    Scope,
    StepState,
)
from vault.core.errors import RecordNotFound
from vault.core.model import RecordDraft
from vault.core.steps import StepEngine
from vault.core.vault import IdentityInput, Vault

OFFICER = Actor("dpo (tokens/officer)", Role.PRIVACY_OFFICER)
GIVEN, WITHDRAWN, REFUSED = ConsentStatus.GIVEN, ConsentStatus.WITHDRAWN, ConsentStatus.REFUSED
# The same category held for a purpose resting on each of three bases.
HELD = [
    ("marketing_email", LegalBasis.CONSENT, "vault"),
    ("billing", LegalBasis.CONTRACT, "accounting"),
    ("bookkeeping", LegalBasis.LEGAL_OBLIGATION, "accounting"),
]


def said(status: ConsentStatus, *purposes: str) -> ConsentInput:
    return ConsentInput(purposes, status, Channel.WEB_FORM, "", "")


def anna(vault: Vault) -> tuple[str, dict[str, str]]:
    subject = vault.create_subject(
        LOCAL, [IdentityInput(IdentityKind.EMAIL, "anna@example.se")], []
    ).subject_id
    records = {
        purpose: vault.create_record(
            LOCAL, subject, RecordDraft("contact", purpose, basis, source, {"held_for": purpose})
        ).record_id
        for purpose, basis, source in HELD
    }
    return subject, records


def readable(vault: Vault, records: dict[str, str]) -> dict[str, bool]:
    found = {}
    for purpose, record_id in records.items():
        try:
            found[purpose] = vault.get_record(OFFICER, record_id).fields == {"held_for": purpose}
        except RecordNotFound:
            found[purpose] = False
    return found


# ------------------------------------------------------------ a bare vault
def test_a_withdrawal_shreds_the_purposes_records_alone(vault: Vault) -> None:
    subject, records = anna(vault)
    vault.record_consent(OFFICER, subject, said(GIVEN, "marketing_email"))
    assert readable(vault, records) == {
        "marketing_email": True,
        "billing": True,
        "bookkeeping": True,
    }
    recorded = vault.record_consent(OFFICER, subject, said(WITHDRAWN))
    # No intake: the vault shreds itself, after the commit, and starts no request.
    assert recorded.erasure_requests == []
    assert readable(vault, records) == {
        "marketing_email": False,
        "billing": True,
        "bookkeeping": True,
    }
    purposes = {s.purpose for s in vault.keys.scopes(subject) if s.category == "contact"}
    assert purposes == {"billing", "bookkeeping"}
    # The person stays, and so does the proof of their consent.
    assert vault.get_subject(OFFICER, subject).state.value == "active"
    assert [e.status for e in vault.consents.events(subject)] == [GIVEN, WITHDRAWN]


def test_a_refusal_acts_only_on_a_consent_that_stood(vault: Vault) -> None:
    subject, records = anna(vault)
    vault.record_consent(OFFICER, subject, said(REFUSED, "marketing_email"))
    assert readable(vault, records)["marketing_email"]  # never consented: nothing to act on
    vault.record_consent(OFFICER, subject, said(GIVEN, "marketing_email"))
    vault.record_consent(OFFICER, subject, said(REFUSED, "marketing_email"))
    assert not readable(vault, records)["marketing_email"]


# ------------------------------------------------------- with the intake
class Told(Connector):
    """Declares the capability; remembers what it was told."""

    name = "told"
    capabilities = frozenset({Capability.WITHDRAW_CONSENT})
    calls: list[tuple[str, list[str], dt.date, list[str] | None]] = []

    def holdings(self) -> Holdings:
        return Holdings(
            self.name,
            "A newsletter tool",
            "SE",
            (
                HeldCategory(
                    "newsletter",
                    "Subscriptions",
                    "marketing_email",
                    LegalBasis.CONSENT,
                    "while consent stands",
                ),
                HeldCategory(
                    "contact", "Name and e-mail", "billing", LegalBasis.CONTRACT, "3 years"
                ),
            ),
            identified_by=(IdentityKind.EMAIL,),
        )

    def find(self, identities: list[Identity]) -> list[str]:
        return ["subscriber:1"]

    def export(
        self, identities: list[Identity], references: list[str] | None = None
    ) -> Iterator[ExportItem]:
        return iter(())

    def erase(
        self, identities: list[Identity], today: dt.date, references: list[str] | None = None
    ) -> list[Outcome]:
        raise AssertionError("a withdrawal never erases the whole person")

    def withdraw_consent(
        self,
        identities: list[Identity],
        purpose: str,
        categories: list[str],
        today: dt.date,
        references: list[str] | None = None,
    ) -> list[Outcome]:
        self.calls.append((purpose, categories, today, references))
        return [Removed("newsletter", "1 subscription deleted")]


class Untold(Told):
    """Holds data for the purpose, and declares nothing."""

    name = "untold"
    capabilities = frozenset()


class Unrelated(Told):
    """Holds nothing for the purpose: it gets no step."""

    name = "unrelated"

    def holdings(self) -> Holdings:
        held = super().holdings()
        return Holdings(self.name, held.description, "SE", held.categories[1:])


@pytest.fixture
def coordinator(vault: Vault, clock: FixedClock) -> Iterator[ErasureCoordinator]:
    Told.calls = []
    connectors: dict[str, Connector] = {
        cls.name: cls(ConnectorSettings(cls.name, {})) for cls in (Told, Untold, Unrelated)
    }
    made = ErasureCoordinator(
        vault,
        StepEngine(vault.records.steps, clock),
        connectors,
        {name: c.holdings() for name, c in connectors.items()},
    )
    vault.consents.intake = made.withdrawals
    yield made
    made.close()


def test_the_intake_commits_a_request_and_does_the_vault_step_at_once(
    vault: Vault, coordinator: ErasureCoordinator, clock: FixedClock
) -> None:
    subject, records = anna(vault)
    vault.record_consent(OFFICER, subject, said(GIVEN, "marketing_email"))
    clock.advance(days=3)
    recorded = vault.record_consent(
        OFFICER, subject, said(WITHDRAWN, "marketing_email"), request_id="withdraw-1"
    )
    (request_id,) = recorded.erasure_requests
    stored = vault.records.steps.request(request_id)
    assert stored is not None and stored.kind == PURPOSE_KIND
    # Before the call returned: the vault's own step, and only it.
    steps = {s.name: s.state for s in vault.records.steps.steps(request_id)}
    assert steps == {
        VAULT_SYSTEM: StepState.SUCCEEDED,
        "told": StepState.PENDING,
        "untold": StepState.PENDING,
    }
    assert readable(vault, records) == {
        "marketing_email": False,
        "billing": True,
        "bookkeeping": True,
    }
    assert Told.calls == []
    # The same request id answers with the same request, and starts no other.
    again = vault.record_consent(
        OFFICER, subject, said(WITHDRAWN, "marketing_email"), request_id="withdraw-1"
    )
    assert again.erasure_requests == [request_id]
    assert [
        r.request_id for r in vault.records.steps.requests_page(PURPOSE_KIND, None, 10, None)
    ] == [request_id]

    coordinator.run_pending()
    # The declaring connector was told the purpose and its categories for it.
    assert Told.calls == [
        ("marketing_email", ["newsletter"], (START + dt.timedelta(days=3)).date(), ["subscriber:1"])
    ]
    view = coordinator.get(OFFICER, request_id)
    assert (view.scope, view.purpose, view.subject_id) == (
        Scope.PURPOSE,
        "marketing_email",
        subject,
    )
    told = next(s for s in view.steps if s.system == "told")
    assert [(o.kind, o.category) for o in told.outcomes] == [("removed", "newsletter")]
    # The one that does not declare it: a manual action, with instructions in words.
    untold = next(s for s in view.steps if s.system == "untold")
    assert untold.state == StepState.SUCCEEDED
    (action,) = untold.outcomes
    assert (action.kind, action.category) == ("manual_action", "newsletter")
    for words in (
        "untold",
        "newsletter",
        "marketing_email",
        "2026-11-27",
        "anna@example.se",
        "confirm",
    ):
        assert words in action.instructions
    assert view.state == RequestState.AWAITING_MANUAL_ACTION
    # The vault's own step said what it shredded.
    vault_step = next(s for s in view.steps if s.system == VAULT_SYSTEM)
    assert [(o.kind, o.category) for o in vault_step.outcomes] == [("removed", "contact")]

    done = coordinator.confirm_manual_action(OFFICER, request_id, action.action_id, "Dana DPO")
    assert done.state == RequestState.COMPLETED
    # The job's key is gone with it; the person is still there.
    assert vault.keys.store.job_key(request_id) is None
    assert vault.get_subject(OFFICER, subject).state.value == "active"


def test_a_rerun_vault_step_reports_what_the_first_run_did(
    vault: Vault, coordinator: ErasureCoordinator
) -> None:
    subject, _ = anna(vault)
    vault.record_consent(OFFICER, subject, said(GIVEN, "marketing_email"))
    (request_id,) = vault.record_consent(
        OFFICER, subject, said(WITHDRAWN, "marketing_email")
    ).erasure_requests
    first = coordinator.get(OFFICER, request_id).steps[0]
    # As if the step's record had been lost: the vault step runs again.
    step = vault.records.steps.steps(request_id)[0]
    with vault.records.steps.write() as tx:
        coordinator.engine.move_step(
            tx, request_id, VAULT_SYSTEM, StepState.PENDING, None, step.details
        )
    coordinator.engine.run_step(request_id, VAULT_SYSTEM)
    again = coordinator.get(OFFICER, request_id).steps[0]
    assert again.outcomes == first.outcomes and again.state == StepState.SUCCEEDED


def test_every_effect_is_audited(vault: Vault, coordinator: ErasureCoordinator) -> None:
    subject, _ = anna(vault)
    vault.record_consent(OFFICER, subject, said(GIVEN, "marketing_email"))
    vault.record_consent(OFFICER, subject, said(WITHDRAWN, "marketing_email"))
    coordinator.run_pending()
    events = [
        AuditEvent.from_entry(stored.entry)
        for stored in vault.records.audit.query(
            AuditQuery(subject=vault.audit.pseudonym_of(subject), limit=1000)
        )
    ]
    operations = [e.operation for e in events]
    accepted = next(e for e in events if e.operation == Operation.ERASE_FOR_PURPOSE.value)
    assert accepted.actor == OFFICER.who and accepted.purpose == "marketing_email"
    assert "told" in accepted.detail and "untold" in accepted.detail
    assert "unrelated" not in accepted.detail
    assert Operation.DESTROY_KEYS.value in operations
    assert Operation.ERASE_CATEGORY.value in operations
    calls = [e.detail for e in events if e.operation == Operation.CONNECTOR_CALL.value]
    assert any(d.startswith("told: withdraw consent for marketing_email") for d in calls)
    assert not any(d.startswith("untold") for d in calls)  # never called: it declared nothing
    asked = [
        e.detail
        for e in events
        if e.operation == Operation.ERASE_FOR_PURPOSE.value and e.actor == "vault"
    ]
    assert asked == ["untold is not told of withdrawals: 1 manual action asked of a person"]


def test_withdrawal_requests_are_listed_with_erasures(
    vault: Vault, coordinator: ErasureCoordinator, clock: FixedClock
) -> None:
    subject, _ = anna(vault)
    vault.record_consent(OFFICER, subject, said(GIVEN, "marketing_email"))
    clock.advance(minutes=1)
    (withdrawal,) = vault.record_consent(
        OFFICER, subject, said(WITHDRAWN, "marketing_email")
    ).erasure_requests
    clock.advance(minutes=1)
    other = vault.create_subject(LOCAL, [IdentityInput(IdentityKind.EMAIL, "bo@example.se")], [])
    erasure = coordinator.request(OFFICER, other.subject_id)
    views, token = coordinator.list_requests(OFFICER, 1, "", None)
    assert [v.request_id for v in views] == [erasure.request_id] and token
    more, last = coordinator.list_requests(OFFICER, 1, token, None)
    assert [(v.request_id, v.scope) for v in more] == [(withdrawal, Scope.PURPOSE)]
    assert last == ""


def test_copies_of_one_withdrawal_racing_are_all_answered_as_the_first(
    vault: Vault, coordinator: ErasureCoordinator, monkeypatch: pytest.MonkeyPatch
) -> None:
    subject, _ = anna(vault)
    vault.record_consent(OFFICER, subject, said(GIVEN, "marketing_email"))
    copies = 8
    # Every copy looks its request id up before any of them commits: those
    # that lose find nothing left to withdraw.
    barrier = threading.Barrier(copies, timeout=30)
    looked = threading.local()
    replayed = vault.consents.replay.replayed

    def all_at_once(*args: Any) -> Any:
        found = replayed(*args)
        if not getattr(looked, "once", False):
            looked.once = True
            barrier.wait()
        return found

    monkeypatch.setattr(vault.consents.replay, "replayed", all_at_once)

    def withdraw(_: int) -> RecordedConsent:
        return vault.record_consent(
            OFFICER, subject, said(WITHDRAWN, "marketing_email"), request_id="race-1"
        )

    with ThreadPoolExecutor(copies) as pool:
        answers = list(pool.map(withdraw, range(copies)))
    said_back = {
        (tuple(e.event_id for e in answer.events), tuple(answer.erasure_requests))
        for answer in answers
    }
    assert len(said_back) == 1
    ((events, requests),) = said_back
    assert len(events) == 1 and len(requests) == 1
    assert [e.status for e in vault.consents.events(subject)] == [GIVEN, WITHDRAWN]
    assert [
        r.request_id for r in vault.records.steps.requests_page(PURPOSE_KIND, None, 10, None)
    ] == list(requests)


def test_a_rerun_manual_step_audits_what_it_asked_once(
    vault: Vault, coordinator: ErasureCoordinator
) -> None:
    subject, _ = anna(vault)
    vault.record_consent(OFFICER, subject, said(GIVEN, "marketing_email"))
    (request_id,) = vault.record_consent(
        OFFICER, subject, said(WITHDRAWN, "marketing_email")
    ).erasure_requests
    coordinator.run_pending()
    # As if the step's success had not been recorded: it runs again.
    step = next(s for s in vault.records.steps.steps(request_id) if s.name == "untold")
    with vault.records.steps.write() as tx:
        coordinator.engine.move_step(
            tx, request_id, "untold", StepState.PENDING, step.sealed, step.details
        )
    coordinator.engine.run_step(request_id, "untold")
    untold = next(s for s in coordinator.get(OFFICER, request_id).steps if s.system == "untold")
    assert untold.state == StepState.SUCCEEDED
    asked = [
        stored
        for stored in vault.records.audit.query(
            AuditQuery(subject=vault.audit.pseudonym_of(subject), limit=1000)
        )
        if AuditEvent.from_entry(stored.entry).detail.startswith("untold is not told")
    ]
    assert len(asked) == 1
