"""Restriction (GDPR art. 18) and objection (art. 21) in the core, on both
engines, with the test's clock: what each records and seals, the purposes
each may cover, the reasons' rule, lifting, overriding grounds and the
objection to direct marketing that none override, request ids, what reads
are refused while a limit is in effect, who sees a protected identity's
reasons, and that erasing the person takes the limits while the audit trail
keeps, in words without the reasons, what was done. Lifting an objection is
the person's withdrawal of it, in every word that records it; copies of one
change sent at once with one request id are each answered as the first."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from vault.core.actor import LOCAL, Actor, Role
from vault.core.audit.events import AuditEvent
from vault.core.audit.store import AuditQuery
from vault.core.clock import FixedClock
from vault.core.consent.grounds import RIGHTS_REQUESTS
from vault.core.consent.model import LimitKind, ProcessingLimit, limit_name
from vault.core.errors import (
    AlreadyLifted,
    InvalidArgument,
    ObjectionAbsolute,
    ProcessingLimitNotFound,
    PurposeNotAllowed,
    RequestIdReused,
    SubjectErased,
    SubjectNotFound,
)
from vault.core.identities import IdentityKind
from vault.core.model import Controller
from vault.core.vault import IdentityInput, Vault

OFFICER = Actor("dpo (tokens/officer)", Role.PRIVACY_OFFICER)
AUDITOR = Actor("auditor (tokens/auditor)", Role.AUDITOR)
WEBSITE = Actor(
    "web form (tokens/website)",
    Role.INTEGRATOR,
    "website",
    frozenset({"marketing_email", "marketing_sms", "customer_surveys", "course_application"}),
)
RESTRICTION, OBJECTION = LimitKind.RESTRICTION, LimitKind.OBJECTION


def person(vault: Vault, email: str = "anna@example.se", protected: bool = False) -> str:
    identities = [IdentityInput(IdentityKind.EMAIL, email)]
    return vault.create_subject(LOCAL, identities, [], protected).subject_id


def told(vault: Vault, operation: str) -> list[AuditEvent]:
    return [
        AuditEvent.from_entry(stored.entry)
        for stored in vault.records.audit.query(AuditQuery(operation=operation, limit=100))
    ]


def stopped(vault: Vault, subject: str, purpose: str) -> str:
    """The reason nothing of the person may be read for `purpose` now, or ""."""
    refusal = vault.grounds.stopped(vault.grounds.of(subject), purpose)
    return "" if refusal is None else str(refusal.reason)


# ------------------------------------------------------------ recording
def test_a_restriction_records_when_what_why_and_who_and_seals_the_reason(
    vault: Vault, clock: FixedClock
) -> None:
    anna = person(vault)
    limit = vault.record_restriction(
        OFFICER, anna, ["marketing_email", "statistics"], "  accuracy of the address contested  "
    )
    assert (limit.kind, limit.purposes) == (RESTRICTION, ("marketing_email", "statistics"))
    assert (limit.reason, limit.recorded_by) == ("accuracy of the address contested", OFFICER.who)
    assert limit.recorded_at == clock.now() and limit.in_effect
    assert limit.name == f"subjects/{anna}/restrictions/{limit.limit_id}"
    assert vault.limits.of(anna) == [limit]
    # The reason and who recorded it are sealed; what the reads check is not.
    [row] = vault.records.consents.limits(anna)
    assert (row.kind, row.purposes, row.lifted_at) == ("restriction", limit.purposes, None)
    assert row.in_effect and limit_name(anna, RESTRICTION, row.limit_id) == limit.name
    assert b"accuracy" not in row.sealed and b"dpo" not in row.sealed
    # Its event says what was done in words, never why.
    [event] = told(vault, "record restriction")
    assert event.detail == (
        f"restriction of marketing_email, statistics recorded (restrictions/{limit.limit_id})"
    )
    assert event.subject == vault.audit.pseudonym_of(anna) and "accuracy" not in event.detail


def test_a_restriction_naming_no_purpose_covers_every_purpose(vault: Vault) -> None:
    anna = person(vault)
    limit = vault.record_restriction(OFFICER, anna, [], "the person asked, art. 18(1)(a)")
    assert limit.purposes == () and limit.covers("statistics") and limit.covers("billing")
    assert [e.detail.split(" (")[0] for e in told(vault, "record restriction")] == [
        "restriction of every purpose recorded"
    ]


def test_each_purpose_named_must_be_configured_once_and_an_integrators_its_own(
    vault: Vault,
) -> None:
    anna = person(vault)
    with pytest.raises(InvalidArgument) as unknown:
        vault.record_restriction(OFFICER, anna, ["statistics", "astrology"], "asked")
    assert unknown.value.field == "purposes[1]"
    with pytest.raises(InvalidArgument) as twice:
        vault.record_restriction(OFFICER, anna, ["statistics", "statistics"], "asked")
    assert twice.value.field == "purposes"
    with pytest.raises(PurposeNotAllowed) as other:
        vault.record_objection(WEBSITE, anna, ["marketing_email", "statistics"], "asked")
    assert other.value.metadata["field"] == "purposes[1]"
    # Reads for rights requests skip every limit: one naming it would stop nothing.
    for record in (vault.record_restriction, vault.record_objection):
        with pytest.raises(InvalidArgument) as requests:
            record(OFFICER, anna, ["statistics", RIGHTS_REQUESTS], "asked")
        assert requests.value.field == "purposes[1]"
        assert "no restriction or objection stops" in requests.value.rule
    # An integrator's restriction of everything would reach other systems' purposes.
    with pytest.raises(InvalidArgument) as everything:
        vault.record_restriction(WEBSITE, anna, [], "asked")
    assert everything.value.field == "purposes"
    assert vault.limits.of(anna) == []


def test_an_objection_names_purposes_a_person_may_object_to_and_says_why_not(
    vault: Vault,
) -> None:
    anna = person(vault)
    with pytest.raises(InvalidArgument) as none:
        vault.record_objection(OFFICER, anna, [], "no")
    assert none.value.field == "purposes"
    with pytest.raises(InvalidArgument) as contract:
        vault.record_objection(OFFICER, anna, ["statistics", "billing"], "no")
    assert contract.value.field == "purposes[1]"
    assert "contract" in str(contract.value) and "no right to object" in str(contract.value)
    with pytest.raises(InvalidArgument) as law:
        vault.record_objection(OFFICER, anna, ["bookkeeping"], "no")
    assert "legal obligation" in str(law.value) and "no right to object" in str(law.value)
    # Consent that is not direct marketing is withdrawn, not objected to.
    with pytest.raises(InvalidArgument) as consent:
        vault.record_objection(OFFICER, anna, ["customer_surveys"], "no")
    assert consent.value.field == "purposes[0]" and "withdraw" in str(consent.value)
    assert vault.limits.of(anna) == []
    # Legitimate interest, and direct marketing whatever its basis, are open to objection.
    limit = vault.record_objection(OFFICER, anna, ["statistics", "alumni_offers"], "letter")
    assert limit.kind is OBJECTION
    unsubscribed = vault.record_objection(WEBSITE, anna, ["marketing_email"], "unsubscribe link")
    assert (unsubscribed.recorded_by, unsubscribed.source_system) == (WEBSITE.who, "website")


@pytest.mark.parametrize(
    "reason", ["", "   ", "two\nlines", "x" * 501, "right-to-left \u202e override", "tab\there"]
)
def test_a_reason_is_required_on_one_line_of_at_most_500_printable_characters(
    vault: Vault, reason: str
) -> None:
    anna = person(vault)
    with pytest.raises(InvalidArgument) as refused:
        vault.record_restriction(OFFICER, anna, [], reason)
    assert refused.value.field == "reason"
    limit = vault.record_restriction(OFFICER, anna, [], "y" * 500)
    for change in (
        lambda: vault.lift_processing_limit(OFFICER, anna, limit.limit_id, RESTRICTION, reason),
        lambda: vault.record_objection(OFFICER, anna, ["statistics"], reason),
    ):
        with pytest.raises(InvalidArgument) as again:
            change()
        assert again.value.field == "reason"
    assert len(vault.limits.of(anna)) == 1 and vault.limits.of(anna)[0].in_effect


def test_an_unknown_or_erased_person_has_no_limits_to_record(vault: Vault) -> None:
    with pytest.raises(SubjectNotFound):
        vault.record_restriction(OFFICER, "0" * 32, [], "asked")
    anna = person(vault)
    vault.erase_subject(OFFICER, anna)
    with pytest.raises(SubjectErased):
        vault.record_objection(OFFICER, anna, ["statistics"], "asked")


# ---------------------------------------------------- what reads meet
def test_reads_are_refused_while_a_limit_is_in_effect_and_go_on_once_it_is_lifted(
    vault: Vault, clock: FixedClock
) -> None:
    anna = person(vault)
    restriction = vault.record_restriction(OFFICER, anna, ["statistics"], "accuracy contested")
    objection = vault.record_objection(OFFICER, anna, ["internship_followup"], "letter")
    assert stopped(vault, anna, "statistics") == "RESTRICTED"
    assert stopped(vault, anna, "internship_followup") == "OBJECTED"
    assert stopped(vault, anna, "course_delivery") == ""
    clock.advance(days=2)
    lifted = vault.lift_processing_limit(
        OFFICER, anna, restriction.limit_id, RESTRICTION, "address corrected"
    )
    assert (lifted.lifted_at, lifted.lifted_by, lifted.lift_reason) == (
        clock.now(),
        OFFICER.who,
        "address corrected",
    )
    assert not lifted.in_effect and stopped(vault, anna, "statistics") == ""
    vault.lift_processing_limit(OFFICER, anna, objection.limit_id, OBJECTION, "withdrawn")
    assert stopped(vault, anna, "internship_followup") == ""
    # Lifted, each stays in the person's history.
    assert [limit.in_effect for limit in vault.limits.of(anna)] == [False, False]
    # A restriction is lifted; an objection is withdrawn by the person whose it is.
    assert [event.detail for event in told(vault, "lift processing limit")] == [
        f"restriction of statistics lifted (restrictions/{restriction.limit_id})",
        "objection to internship_followup withdrawn by the person "
        f"(objections/{objection.limit_id})",
    ]
    event = told(vault, "lift processing limit")[0]
    assert event.purpose == "statistics" and "corrected" not in event.detail


def test_a_restriction_of_everything_stops_every_purpose(vault: Vault) -> None:
    anna = person(vault)
    vault.record_restriction(OFFICER, anna, [], "asked")
    for purpose in ("statistics", "course_delivery", "billing"):
        assert stopped(vault, anna, purpose) == "RESTRICTED"


def test_a_limit_is_lifted_once_and_found_only_by_its_own_kind(vault: Vault) -> None:
    anna = person(vault)
    limit = vault.record_restriction(OFFICER, anna, [], "asked")
    with pytest.raises(ProcessingLimitNotFound):
        vault.lift_processing_limit(OFFICER, anna, limit.limit_id, OBJECTION, "done")
    with pytest.raises(ProcessingLimitNotFound):
        vault.lift_processing_limit(OFFICER, anna, "0" * 16, RESTRICTION, "done")
    bo = person(vault, "bo@example.se")
    with pytest.raises(ProcessingLimitNotFound):
        vault.lift_processing_limit(OFFICER, bo, limit.limit_id, RESTRICTION, "done")
    vault.lift_processing_limit(OFFICER, anna, limit.limit_id, RESTRICTION, "done")
    with pytest.raises(AlreadyLifted):
        vault.lift_processing_limit(OFFICER, anna, limit.limit_id, RESTRICTION, "done again")
    [stored] = vault.limits.of(anna)
    assert stored.lift_reason == "done" and len(told(vault, "lift processing limit")) == 1


# ------------------------------------------------------ overriding grounds
def test_overriding_grounds_set_aside_an_objection_to_a_legitimate_interest(
    vault: Vault, clock: FixedClock
) -> None:
    anna = person(vault)
    objection = vault.record_objection(OFFICER, anna, ["statistics"], "letter of 3 December")
    clock.advance(hours=3)
    overridden = vault.record_overriding_grounds(
        OFFICER, anna, objection.limit_id, "statistics the authority requires of the school"
    )
    assert (overridden.overridden_at, overridden.overridden_by) == (clock.now(), OFFICER.who)
    assert overridden.override_reason == "statistics the authority requires of the school"
    assert not overridden.in_effect and stopped(vault, anna, "statistics") == ""
    assert vault.limits.of(anna) == [overridden]
    [event] = told(vault, "record overriding grounds")
    assert event.detail.startswith("objection to statistics overridden by compelling grounds")
    assert "authority" not in event.detail
    # Overridden, it is neither overridden again nor lifted.
    with pytest.raises(AlreadyLifted):
        vault.record_overriding_grounds(OFFICER, anna, objection.limit_id, "again")
    with pytest.raises(AlreadyLifted):
        vault.lift_processing_limit(OFFICER, anna, objection.limit_id, OBJECTION, "done")


@pytest.mark.parametrize(
    "purposes", [["alumni_offers"], ["statistics", "alumni_offers"], ["marketing_email"]]
)
def test_no_grounds_override_an_objection_to_direct_marketing(
    vault: Vault, purposes: list[str]
) -> None:
    anna = person(vault)
    objection = vault.record_objection(OFFICER, anna, purposes, "no more offers")
    with pytest.raises(ObjectionAbsolute) as absolute:
        vault.record_overriding_grounds(OFFICER, anna, objection.limit_id, "we want to")
    assert absolute.value.metadata["limit"] == objection.name
    [stored] = vault.limits.of(anna)
    assert stored.in_effect and stopped(vault, anna, purposes[-1]) == "OBJECTED"
    assert told(vault, "record overriding grounds") == []
    # Only the person ends it: lifting it records their withdrawal, in those words.
    vault.lift_processing_limit(
        OFFICER, anna, objection.limit_id, OBJECTION, "their letter of 5 December"
    )
    assert stopped(vault, anna, purposes[-1]) in ("", "CONSENT_REQUIRED")
    [event] = told(vault, "lift processing limit")
    assert event.detail == (
        f"objection to {', '.join(purposes)} withdrawn by the person "
        f"(objections/{objection.limit_id})"
    )
    with pytest.raises(AlreadyLifted) as again:
        vault.lift_processing_limit(OFFICER, anna, objection.limit_id, OBJECTION, "again")
    assert str(again.value) == f"{objection.name} was withdrawn by the person already"
    # Withdrawn, it is not overridden either: nothing is left to set aside.
    with pytest.raises(AlreadyLifted):
        vault.record_overriding_grounds(OFFICER, anna, objection.limit_id, "we want to")


def test_overriding_grounds_are_for_objections_alone_and_one_in_effect(vault: Vault) -> None:
    anna = person(vault)
    restriction = vault.record_restriction(OFFICER, anna, ["statistics"], "asked")
    with pytest.raises(ProcessingLimitNotFound):
        vault.record_overriding_grounds(OFFICER, anna, restriction.limit_id, "grounds")
    objection = vault.record_objection(OFFICER, anna, ["statistics"], "letter")
    vault.lift_processing_limit(OFFICER, anna, objection.limit_id, OBJECTION, "withdrawn")
    with pytest.raises(AlreadyLifted):
        vault.record_overriding_grounds(OFFICER, anna, objection.limit_id, "grounds")


# ------------------------------------------------------------ request ids
def test_a_request_id_records_once_and_answers_again_as_it_stands(vault: Vault) -> None:
    anna = person(vault)
    first = vault.record_objection(OFFICER, anna, ["statistics"], "letter", "object-1")
    again = vault.record_objection(OFFICER, anna, ["statistics"], "letter", "object-1")
    assert again == first and len(vault.limits.of(anna)) == 1
    with pytest.raises(RequestIdReused):
        vault.record_objection(OFFICER, anna, ["statistics"], "another letter", "object-1")
    lifted = vault.lift_processing_limit(
        OFFICER, anna, first.limit_id, OBJECTION, "withdrawn", "lift-1"
    )
    assert (
        vault.lift_processing_limit(OFFICER, anna, first.limit_id, OBJECTION, "withdrawn", "lift-1")
        == lifted
    )
    # Asked again, the recording answers with the objection as it stands now: lifted.
    assert not vault.record_objection(OFFICER, anna, ["statistics"], "letter", "object-1").in_effect
    details = [e.detail for e in told(vault, "record objection")]
    assert len(details) == 3 and details[1:] == ["answered again from the request id"] * 2
    assert [e.detail for e in told(vault, "lift processing limit")][1:] == [
        "answered again from the request id"
    ]


COPIES = 8


def all_at_once(
    vault: Vault, monkeypatch: pytest.MonkeyPatch, call: Callable[[], Any]
) -> list[Any]:
    """`call` from COPIES threads, each looking its request id up before any
    of them commits: the race a client's retries sent at once can lose."""
    barrier = threading.Barrier(COPIES, timeout=30)
    looked = threading.local()
    replayed = vault.limits.replay.replayed

    def looked_up_together(*args: Any) -> Any:
        found = replayed(*args)
        if not getattr(looked, "once", False):
            looked.once = True
            barrier.wait()
        return found

    monkeypatch.setattr(vault.limits.replay, "replayed", looked_up_together)
    with ThreadPoolExecutor(COPIES) as pool:
        return list(pool.map(lambda _: call(), range(COPIES)))


def changed_once(vault: Vault, operation: str) -> bool:
    details = [event.detail for event in told(vault, operation)]
    return len(details) == COPIES and details.count("answered again from the request id") == (
        COPIES - 1
    )


def test_copies_of_one_lift_sent_at_once_are_each_answered_as_the_first(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    anna = person(vault)
    restriction = vault.record_restriction(OFFICER, anna, ["statistics"], "contested")
    answers: list[ProcessingLimit] = all_at_once(
        vault,
        monkeypatch,
        lambda: vault.lift_processing_limit(
            OFFICER, anna, restriction.limit_id, RESTRICTION, "corrected", "lift-anna"
        ),
    )
    assert len(set(answers)) == 1 and not answers[0].in_effect
    assert vault.limits.of(anna) == [answers[0]]
    assert changed_once(vault, "lift processing limit")


def test_copies_of_one_override_sent_at_once_are_each_answered_as_the_first(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    anna = person(vault)
    objection = vault.record_objection(OFFICER, anna, ["statistics"], "letter")
    answers: list[ProcessingLimit] = all_at_once(
        vault,
        monkeypatch,
        lambda: vault.record_overriding_grounds(
            OFFICER, anna, objection.limit_id, "reporting duty", "override-anna"
        ),
    )
    assert len(set(answers)) == 1 and answers[0].overridden_at is not None
    assert vault.limits.of(anna) == [answers[0]]
    assert changed_once(vault, "record overriding grounds")


def test_copies_of_one_objection_sent_at_once_record_it_once(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    anna = person(vault)
    answers: list[ProcessingLimit] = all_at_once(
        vault,
        monkeypatch,
        lambda: vault.record_objection(OFFICER, anna, ["statistics"], "letter", "object-anna"),
    )
    assert len(set(answers)) == 1 and vault.limits.of(anna) == [answers[0]]
    assert changed_once(vault, "record objection")


# ---------------------------------------------------------- who sees what
def test_a_protected_identitys_reasons_are_withheld_from_who_may_not_see_them(
    vault: Vault,
) -> None:
    hidden = person(vault, "hidden@example.se", protected=True)
    mine = vault.record_objection(WEBSITE, hidden, ["marketing_email"], "unsubscribe link 4711")
    theirs = vault.record_restriction(OFFICER, hidden, [], "a court case")
    vault.lift_processing_limit(OFFICER, hidden, mine.limit_id, OBJECTION, "signed up again")
    as_officer = vault.consent_limits(OFFICER, hidden)
    assert [limit.reason for limit in as_officer] == ["unsubscribe link 4711", "a court case"]
    as_auditor = vault.consent_limits(AUDITOR, hidden)
    assert [limit.name for limit in as_auditor] == [mine.name, theirs.name]
    assert all("withheld" in limit.reason for limit in as_auditor)
    assert "withheld" in as_auditor[0].lift_reason
    assert [limit.recorded_by for limit in as_auditor] == [WEBSITE.who, OFFICER.who]
    # The system that recorded the objection sees its own reason, not the officer's.
    [own, everything] = vault.consent_limits(WEBSITE, hidden)
    assert own.reason == "unsubscribe link 4711" and "withheld" in own.lift_reason
    assert "withheld" in everything.reason
    noted = [(n.who, n.action) for n in vault.access_notes.recent]  # type: ignore[attr-defined]
    assert (WEBSITE.who, "record_objection") in noted
    assert (OFFICER.who, "record_restriction") in noted
    assert (OFFICER.who, "lift_processing_limit") in noted
    assert all(e.sensitive for e in told(vault, "record objection"))
    # Anyone else's reasons are shown as they are.
    anna = person(vault)
    vault.record_restriction(OFFICER, anna, [], "asked")
    assert vault.consent_limits(AUDITOR, anna)[0].reason == "asked"


def test_an_integrator_sees_the_limits_that_cover_its_systems_purposes(vault: Vault) -> None:
    anna = person(vault)
    everything = vault.record_restriction(OFFICER, anna, [], "asked")
    vault.record_objection(OFFICER, anna, ["statistics"], "letter")
    email = vault.record_objection(OFFICER, anna, ["statistics", "marketing_email"], "letter")
    assert [limit.name for limit in vault.consent_limits(WEBSITE, anna)] == [
        everything.name,
        email.name,
    ]
    assert len(vault.consent_limits(OFFICER, anna)) == 3


# -------------------------------------------------------- export, erasure
def test_the_export_carries_every_limit_with_its_purposes(vault: Vault) -> None:
    anna = person(vault)
    restriction = vault.record_restriction(OFFICER, anna, ["internship_followup"], "asked")
    objection = vault.record_objection(OFFICER, anna, ["statistics"], "letter")
    vault.lift_processing_limit(OFFICER, anna, restriction.limit_id, RESTRICTION, "settled")
    part = vault.consent_records.part(OFFICER, anna, Controller("The school"))
    assert [limit.limit_id for limit in part.limits] == [restriction.limit_id, objection.limit_id]
    assert part.limits[0].lift_reason == "settled"
    assert {"internship_followup", "statistics"} <= set(part.purposes)


def test_erasure_takes_the_limits_and_the_audit_trail_keeps_what_was_done(
    vault: Vault,
) -> None:
    anna = person(vault)
    vault.record_restriction(OFFICER, anna, ["statistics"], "accuracy contested")
    objection = vault.record_objection(OFFICER, anna, ["internship_followup"], "letter")
    vault.record_overriding_grounds(OFFICER, anna, objection.limit_id, "supervisor's report")
    pseudonym = vault.audit.pseudonym_of(anna)
    vault.erase_subject(OFFICER, anna)
    assert vault.records.consents.limits(anna) == []
    with pytest.raises(SubjectErased):
        vault.consent_limits(OFFICER, anna)
    kept = [
        (event.operation, event.detail.split(" (")[0])
        for event in (
            AuditEvent.from_entry(stored.entry)
            for stored in vault.records.audit.query(AuditQuery(subject=pseudonym, limit=100))
        )
        if "restriction" in event.operation
        or "objection" in event.operation
        or "grounds" in event.operation
    ]
    assert kept == [
        ("record restriction", "restriction of statistics recorded"),
        ("record objection", "objection to internship_followup recorded"),
        (
            "record overriding grounds",
            "objection to internship_followup overridden by compelling grounds",
        ),
    ]
