"""Erasure's audit events, over a real vault (both engines): the erasure, its key
destruction told as intent and outcome under the pseudonym the person had,
recovery finishing a destruction a crash interrupted, an erased person's
pseudonym matching nothing any more; each erasure request call and each call
of a connector told; the export everywhere's events, failing closed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from vault.connectors.base import (
    Connector,
    ConnectorSettings,
    ConnectorUnavailable,
    ExportItem,
    HeldCategory,
    Holdings,
    ManualAction,
    Match,
    Removed,
    normal_form,
)
from vault.connectors.registry import ConnectorRegistry
from vault.core.actor import Actor, Role
from vault.core.audit import destruction
from vault.core.audit.destruction import (
    EVERY_KEY,
    FINISHED_AFTER_INTERRUPTION,
    KeyScope,
    destroy_keys,
)
from vault.core.audit.events import OK, AuditEvent, Operation
from vault.core.audit.store import AuditEntry, AuditQuery
from vault.core.erasure import ErasureCoordinator, ErasureSettings, MatchDecision, RequestState
from vault.core.errors import AuditUnavailable, CategoryErased, SubjectErased
from vault.core.export import SystemExport
from vault.core.fanout import export_everywhere
from vault.core.identities import Identity, IdentityKind
from vault.core.model import LegalBasis, RecordDraft
from vault.core.vault import IdentityInput, Vault
from vault.runtime import build_services, step_engine
from vault.server.erasure import ConnectorService
from vault.v1 import vault_pb2 as pb

OFFICER = Actor("officer (tokens/aaaaaaaaaaaa)", Role.PRIVACY_OFFICER)
PNR = "19900101-0017"
OTHER_PNR = "19900101-2385"


# ----------------------------------------------------------------- helpers
def events(vault: Vault, after: int = 0) -> list[AuditEvent]:
    stored = vault.records.audit.query(AuditQuery(after_row=after, limit=100_000))
    return [AuditEvent.from_entry(e.entry) for e in stored]


def last_row(vault: Vault) -> int:
    stored = vault.records.audit.query(AuditQuery(limit=100_000))
    return stored[-1].row_id if stored else 0


def of(told: list[AuditEvent], operation: Operation) -> list[AuditEvent]:
    return [e for e in told if e.operation == operation]


def person(vault: Vault, tag: str, protected: bool = False, pnr: str = "") -> str:
    identities = [IdentityInput(IdentityKind.EMAIL, f"{tag}@example.se")]
    if pnr:
        identities.append(IdentityInput(IdentityKind.PERSONNUMMER, pnr))
    subject = vault.create_subject(OFFICER, identities, ["student"], protected)
    for category in ("contact", "notes"):
        vault.create_record(
            OFFICER,
            subject.subject_id,
            RecordDraft(category, "course_delivery", LegalBasis.CONTRACT, "lms", {"city": "Malmö"}),
        )
    return subject.subject_id


def assert_names_no_one(vault: Vault, *personal: str) -> None:
    """No stored entry holds a subject id or any of `personal`."""
    for stored in vault.records.audit.query(AuditQuery(limit=100_000)):
        text = stored.entry.decode()
        for value in personal:
            assert value not in text


def refuse(*args: object) -> None:
    raise OSError("disk full")


class Crash(BaseException):
    """The process 'dies' here (a BaseException, so no except clause swallows it)."""


def crash_at(monkeypatch: pytest.MonkeyPatch, point: str) -> None:
    def crash_point(name: str) -> None:
        if name == point:
            raise Crash(name)

    monkeypatch.setattr(destruction.faults, "crash_point", crash_point)


# ------------------------------------------------- erasure in the vault
def test_erasing_tells_the_mark_then_the_intent_and_outcome_under_one_pseudonym(
    vault: Vault,
) -> None:
    eva = person(vault, "eva", protected=True, pnr=PNR)
    pseudonym = vault.audit.pseudonym_of(eva)
    mark = last_row(vault)
    vault.erase_subject(OFFICER, eva)
    told = events(vault, mark)
    assert [e.operation for e in told] == [
        Operation.ERASE_SUBJECT,
        Operation.DESTROY_KEYS,
        Operation.KEYS_DESTROYED,
    ]
    assert {e.subject for e in told} == {pseudonym}
    assert all(e.sensitive and e.actor == OFFICER.who and e.result == OK for e in told)
    assert KeyScope.from_words(told[1].detail) == EVERY_KEY
    assert "4 keys destroyed" in told[2].detail  # the subject key and 3 data keys
    assert vault.records.audit.open_intents() == []
    # Erasing again changes nothing and is told as such, naming no one now.
    vault.erase_subject(OFFICER, eva)
    [again] = events(vault, mark)[3:]
    assert again.operation == Operation.ERASE_SUBJECT and again.subject == ""
    assert_names_no_one(vault, eva, "eva@example.se", PNR)


def test_an_erased_persons_pseudonym_no_longer_matches_anything(vault: Vault) -> None:
    anna, bo = person(vault, "anna"), person(vault, "bo")
    pseudonym = vault.audit.pseudonym_of(anna)
    assert pseudonym and pseudonym == vault.audit_log.subject_pseudonym(anna)
    vault.get_subject(OFFICER, anna)
    hers = vault.records.audit.query(AuditQuery(subject=pseudonym, limit=1000))
    assert {AuditEvent.from_entry(e.entry).operation for e in hers} >= {
        Operation.CREATE_SUBJECT,
        Operation.GET_SUBJECT,
    }
    vault.erase_subject(OFFICER, anna)
    assert vault.audit.pseudonym_of(anna) == ""
    with pytest.raises(SubjectErased):
        vault.audit_log.subject_pseudonym(anna)
    # Nothing the vault can compute now leads to her events: not her id, not anyone else's.
    assert pseudonym not in {vault.audit.pseudonym_of(s) for s in (anna, bo)}
    # Events about her after the erasure name no one.
    vault.erase_subject(OFFICER, anna)
    assert events(vault)[-1].subject == ""
    # Her events are still there, and the log verifies with them.
    assert len(vault.records.audit.query(AuditQuery(subject=pseudonym, limit=1000))) > len(hers)
    vault.sequencer.run_until_done()
    assert vault.audit_log.verify().ok


# ------------------------------------------------------ key destruction
@pytest.mark.parametrize("point", ["keys_destruction_intended", "keys_destroyed_untold"])
def test_recovery_finishes_a_destruction_a_crash_interrupted(
    vault: Vault, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    anna = person(vault, "anna")
    pseudonym = vault.audit.pseudonym_of(anna)
    with monkeypatch.context() as patched:
        crash_at(patched, point)
        with pytest.raises(Crash):
            vault.erase_subject(OFFICER, anna)
    assert [s for _, s in vault.records.audit.open_intents()] == [anna]
    assert (vault.keys.store.subject_key(anna) is None) is (point == "keys_destroyed_untold")
    assert vault.recover() == 1
    assert vault.keys.store.subject_key(anna) is None
    assert vault.records.audit.open_intents() == []
    told = events(vault)
    [intent] = of(told, Operation.DESTROY_KEYS)
    [outcome] = of(told, Operation.KEYS_DESTROYED)
    assert intent.subject == outcome.subject == pseudonym
    assert FINISHED_AFTER_INTERRUPTION in outcome.detail and outcome.role == "vault"
    # Nothing is left to finish, and nothing is told twice.
    assert vault.recover() == 0
    assert vault.erase_subject(OFFICER, anna).subject_id == anna
    assert len(of(events(vault), Operation.KEYS_DESTROYED)) == 1
    vault.sequencer.run_until_done()
    assert vault.audit_log.verify().ok


def test_no_key_goes_without_its_intent_and_recovery_tells_the_rest(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    anna = person(vault, "anna")
    pseudonym = vault.audit.pseudonym_of(anna)

    def refused(entry: AuditEntry, subject_id: str) -> int:
        raise OSError("disk full")

    with monkeypatch.context() as broken:
        broken.setattr(vault.records.audit, "open_intent", refused)
        with pytest.raises(AuditUnavailable):
            vault.erase_subject(OFFICER, anna)
    # Marked erased (reads stop there), but no key went untold.
    assert vault.keys.store.subject_key(anna) is not None
    assert of(events(vault), Operation.DESTROY_KEYS) == []
    assert vault.recover() == 1
    assert vault.keys.store.subject_key(anna) is None
    told = events(vault)
    [intent], [outcome] = of(told, Operation.DESTROY_KEYS), of(told, Operation.KEYS_DESTROYED)
    assert intent.subject == outcome.subject == pseudonym
    assert FINISHED_AFTER_INTERRUPTION in intent.detail and intent.role == "vault"


def test_recovery_finishes_a_categorys_destruction_with_that_category_alone(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    anna = person(vault, "anna")
    with monkeypatch.context() as patched:
        crash_at(patched, "keys_destruction_intended")
        with pytest.raises(Crash):
            destroy_keys(vault.audit, OFFICER, anna, KeyScope("notes"))
    assert vault.recover() == 1
    with pytest.raises(CategoryErased):
        vault.keys.data_key(anna, "notes", "course_delivery", create=False)
    vault.keys.data_key(anna, "contact", "course_delivery", create=False)
    assert vault.get_subject(OFFICER, anna).subject_id == anna
    [outcome] = of(events(vault), Operation.KEYS_DESTROYED)
    assert outcome.detail.startswith("every key of category notes: ")


def test_an_intent_that_names_no_keys_is_left_open_and_destroys_nothing(vault: Vault) -> None:
    anna = person(vault, "anna")
    odd = vault.audit.event(OFFICER, Operation.DESTROY_KEYS, anna, detail="something else")
    vault.records.audit.open_intent(AuditEntry.of(odd), anna)
    assert vault.recover() == 0
    assert vault.keys.store.subject_key(anna) is not None
    assert len(vault.records.audit.open_intents()) == 1


@pytest.mark.parametrize(
    "scope", [EVERY_KEY, KeyScope("student.grading"), KeyScope("contact", "course_delivery")]
)
def test_a_scope_reads_back_from_its_words(scope: KeyScope) -> None:
    assert KeyScope.from_words(scope.words()) == scope
    assert KeyScope.from_words(f"{scope.words()}; a note") == scope
    assert KeyScope.from_words(scope.words() + " and more") is None


# ------------------------------------------------ erasure everywhere
class Ledger(Connector):
    """A system the test steers: `mode` ok, down or conflict (a record found
    by e-mail carrying another personnummer)."""

    name = "ledger"
    mode = "ok"
    calls: list[str] = []

    def holdings(self) -> Holdings:
        return Holdings(
            "ledger",
            "a test ledger",
            "SE",
            (HeldCategory("contact", "contact details", "billing", LegalBasis.CONTRACT, "1 y"),),
            identified_by=(IdentityKind.EMAIL,),
        )

    def match(self, identities: list[Identity]) -> list[Match]:
        type(self).calls.append("match")
        email = next(i for i in identities if i.kind is IdentityKind.EMAIL)
        other = normal_form(IdentityKind.PERSONNUMMER, OTHER_PNR)
        assert other is not None
        holds = (email, other)
        return [Match("row:1", (email,), holds if type(self).mode == "conflict" else (email,))]

    def find(self, identities: list[Identity]) -> list[str]:
        return ["row:1"]

    def export(
        self, identities: list[Identity], references: list[str] | None = None
    ) -> Iterator[ExportItem]:
        type(self).calls.append("export")
        yield ExportItem("contact", {"email": "someone@example.se"})

    def erase(
        self, identities: list[Identity], today: dt.date, references: list[str] | None = None
    ) -> list[Any]:
        type(self).calls.append("erase")
        if type(self).mode == "down":
            raise ConnectorUnavailable("connection refused")
        return [
            Removed("contact", "row removed"),
            ManualAction("contact", "a paper copy", "shred the paper copy"),
        ]


@pytest.fixture
def ledger() -> Ledger:
    Ledger.mode, Ledger.calls = "ok", []
    return Ledger(ConnectorSettings("ledger", {}))


@pytest.fixture
def coordinator(vault: Vault, ledger: Ledger) -> Iterator[ErasureCoordinator]:
    settings = ErasureSettings(call_timeout_seconds=5, max_attempts=1)
    made = ErasureCoordinator(
        vault,
        step_engine(vault, settings),
        {"ledger": ledger},
        {"ledger": ledger.holdings()},
        settings,
    )
    yield made
    made.close()


def test_each_erasure_request_call_and_each_connector_call_is_told(
    vault: Vault, coordinator: ErasureCoordinator
) -> None:
    anna = person(vault, "anna")
    pseudonym = vault.audit.pseudonym_of(anna)
    mark = last_row(vault)
    Ledger.mode = "down"
    view = coordinator.request(OFFICER, anna)
    told = events(vault, mark)
    asked, erased = of(told, Operation.ERASE_SUBJECT)
    assert (asked.role, erased.role) == ("privacy_officer", "vault")
    assert asked.subject == erased.subject == pseudonym
    assert "vault, ledger" in asked.detail
    assert [e.operation for e in told[2:]] == [Operation.DESTROY_KEYS, Operation.KEYS_DESTROYED]

    coordinator.run_pending()
    match, erase = of(events(vault, mark), Operation.CONNECTOR_CALL)
    assert (match.result, match.detail) == (OK, "ledger: match by email: 1 match")
    assert (erase.result, erase.detail) == ("ConnectorUnavailable", "ledger: erase 1 reference")
    # Called after the vault's own step: the person's pseudonym is gone with their key.
    assert match.actor == erase.actor == "vault" and match.subject == ""

    Ledger.mode = "ok"
    mark = last_row(vault)
    coordinator.retry(OFFICER, view.request_id, "retry-1")
    coordinator.retry(OFFICER, view.request_id, "retry-1")  # answered again
    coordinator.run_pending()
    told = events(vault, mark)
    retried, again = of(told, Operation.RETRY_ERASURE_REQUEST)
    assert retried.actor == OFFICER.who and "answered again" in again.detail
    [erase] = of(told, Operation.CONNECTOR_CALL)  # the match was sealed at the first attempt
    assert (erase.result, erase.detail) == (OK, "ledger: erase 1 reference: 2 outcomes")

    shown = coordinator.get(OFFICER, view.request_id)
    assert shown.state == RequestState.AWAITING_MANUAL_ACTION
    action = next(o for s in shown.steps for o in s.outcomes if o.action_id)
    mark = last_row(vault)
    coordinator.confirm_manual_action(OFFICER, view.request_id, action.action_id, "Kim Lund")
    coordinator.list_requests(OFFICER, 10, "", None)
    assert len(list(coordinator.watch(OFFICER, view.request_id, poll_seconds=0.01))) == 1
    told = events(vault, mark)
    assert [e.operation for e in told] == [
        Operation.CONFIRM_MANUAL_ACTION,
        Operation.LIST_ERASURE_REQUESTS,
        Operation.WATCH_ERASURE_REQUEST,
    ]
    assert told[0].detail == "the ledger step's manual action for contact"
    assert told[1].detail == "1 request" and told[1].subject == ""
    assert all(e.actor == OFFICER.who for e in told)
    # Asking to erase her again starts nothing, and says so.
    mark = last_row(vault)
    assert coordinator.request(OFFICER, anna).request_id == view.request_id
    [again] = events(vault, mark)
    assert again.operation == Operation.ERASE_SUBJECT and "already" in again.detail
    assert_names_no_one(vault, anna, "anna@example.se", "Kim Lund", view.request_id)


def test_a_decision_on_a_conflict_is_told(vault: Vault, coordinator: ErasureCoordinator) -> None:
    eva = person(vault, "eva", protected=True, pnr=PNR)
    Ledger.mode = "conflict"
    view = coordinator.request(OFFICER, eva)
    coordinator.run_pending()
    [match] = of(events(vault), Operation.CONNECTOR_CALL)
    assert match.sensitive  # read from the job's sealed payload: her own flag is blanked
    mark = last_row(vault)
    coordinator.decide_match(
        OFFICER, view.request_id, "ledger", MatchDecision.SAME_PERSON, "Kim Lund"
    )
    [decided] = events(vault, mark)
    assert decided.operation == Operation.DECIDE_MATCH
    assert decided.detail == "the ledger step: same person" and decided.sensitive


def test_an_erasure_request_whose_event_cannot_be_written_is_not_made(
    vault: Vault, coordinator: ErasureCoordinator, monkeypatch: pytest.MonkeyPatch
) -> None:
    anna = person(vault, "anna")

    def refused(*args: object) -> None:
        raise AuditUnavailable()

    with monkeypatch.context() as broken:
        broken.setattr(vault.audit, "written", refused)
        with pytest.raises(AuditUnavailable):
            coordinator.request(OFFICER, anna)
    assert vault.get_subject(OFFICER, anna).subject_id == anna  # not even pending
    assert coordinator.list_requests(OFFICER, 10, "", None)[0] == []
    assert Ledger.calls == []


# ----------------------------------------------------- export everywhere
def test_the_export_everywhere_is_told_before_anything_leaves(
    vault: Vault, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    anna = person(vault, "anna")
    pseudonym = vault.audit.pseudonym_of(anna)
    connectors, holdings = {"ledger": ledger}, {"ledger": ledger.holdings()}

    with monkeypatch.context() as broken:
        broken.setattr(vault.records.audit, "append", refuse)
        with pytest.raises(AuditUnavailable):
            export_everywhere(OFFICER, vault, connectors, holdings, anna)
    assert Ledger.calls == []  # no system was called for a read that was not told

    mark = last_row(vault)
    export = export_everywhere(OFFICER, vault, connectors, holdings, anna)
    parts = list(export.systems)
    told = events(vault, mark)
    exported = of(told, Operation.EXPORT_SUBJECT)
    assert [e.detail for e in exported] == ["from vault, ledger"]
    calls = of(told, Operation.CONNECTOR_CALL)
    assert [e.detail for e in calls] == [
        "ledger: match by email: 1 match",
        "ledger: export 1 reference: 1 item",
    ]
    assert {e.subject for e in [*exported, *calls]} == {pseudonym}
    assert not any(getattr(p, "error", "") for p in parts)

    # A part whose connector call cannot be told is not given: it fails as a system does.
    commit = vault.audit.commit

    def connector_calls_refused(*told: AuditEvent) -> None:
        if any(e.operation == Operation.CONNECTOR_CALL for e in told):
            raise AuditUnavailable()
        commit(*told)

    with monkeypatch.context() as broken:
        broken.setattr(vault.audit, "commit", connector_calls_refused)
        parts = list(export_everywhere(OFFICER, vault, connectors, holdings, anna).systems)
    [failed] = [p for p in parts if isinstance(p, SystemExport)]
    assert "AuditUnavailable" in failed.error and failed.items == ()


# ------------------------------------------------------- connector views
class Context:
    """What a servicer asks of its call: the caller the gate made of the token."""

    actor = Actor("admin (tokens/bbbbbbbbbbbb)", Role.ADMIN)


def test_the_connector_views_are_told_before_they_answer(
    vault: Vault, registry: ConnectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = ConnectorService(build_services(vault, registry))
    context: Any = Context()
    mark = last_row(vault)
    listed = service.ListConnectors(pb.ListConnectorsRequest(check_health=True), context)
    checked = service.CheckConnector(pb.CheckConnectorRequest(name="lms"), context)
    assert checked.connector.healthy
    told = events(vault, mark)
    assert [(e.operation, e.actor, e.subject) for e in told] == [
        (Operation.LIST_CONNECTORS, Context.actor.who, ""),
        (Operation.CHECK_CONNECTOR, Context.actor.who, ""),
    ]
    assert told[0].detail == f"{len(listed.connectors)} connectors, their health checked"
    assert told[1].detail == "lms: healthy"
    with monkeypatch.context() as broken:
        broken.setattr(vault.records.audit, "append", refuse)
        with pytest.raises(AuditUnavailable):
            service.CheckConnector(pb.CheckConnectorRequest(name="lms"), context)
