"""Consent as evidence in the core, on both engines, with the test's clock:
what each event records, the order the history keeps, standings that follow
time (an end passes, a policy version takes effect), who may record what,
and that the history goes with the person while the audit trail keeps the proof."""

from __future__ import annotations

import datetime as dt

import pytest

from vault.core.actor import LOCAL, Actor, Role
from vault.core.audit.events import AuditEvent
from vault.core.audit.store import AuditQuery
from vault.core.clock import FixedClock
from vault.core.consent.model import (
    Channel,
    ConsentInput,
    ConsentStatus,
    PolicyDraft,
    Standing,
)
from vault.core.errors import (
    InvalidArgument,
    NoConsentToChange,
    PolicyVersionExists,
    PolicyVersionNotFound,
    PurposeNotAllowed,
    RequestIdReused,
    SubjectErased,
)
from vault.core.identities import IdentityKind
from vault.core.vault import IdentityInput, Vault

OFFICER = Actor("dpo (tokens/officer)", Role.PRIVACY_OFFICER)
WEBSITE = Actor(
    "web form (tokens/website)",
    Role.INTEGRATOR,
    "website",
    frozenset({"marketing_email", "marketing_sms", "course_application"}),
)
GIVEN, WITHDRAWN = ConsentStatus.GIVEN, ConsentStatus.WITHDRAWN
RENEWED, REFUSED = ConsentStatus.RENEWED, ConsentStatus.REFUSED


def person(vault: Vault, email: str = "anna@example.se") -> str:
    return vault.create_subject(LOCAL, [IdentityInput(IdentityKind.EMAIL, email)], []).subject_id


def said(
    status: ConsentStatus, *purposes: str, evidence: str = "", version: str = "", **more: object
) -> ConsentInput:
    return ConsentInput(
        purposes,
        status,
        Channel.WEB_FORM,
        evidence,
        version,
        **more,  # type: ignore[arg-type]
    )


def standing(vault: Vault, subject: str) -> dict[str, Standing]:
    return {p.purpose: p.standing for p in vault.consent_state(OFFICER, subject)}


def publish(vault: Vault, version: str, on: dt.date, *changed: str, **more: object) -> None:
    vault.publish_policy(
        OFFICER,
        PolicyDraft(version, on, text=f"policy {version}", changed_purposes=changed, **more),  # type: ignore[arg-type]
    )


def test_each_event_records_its_time_version_channel_recorder_and_evidence(
    vault: Vault, clock: FixedClock
) -> None:
    publish(vault, "2026-01", dt.date(2026, 1, 1))
    anna = person(vault)
    [event] = vault.record_consent(
        WEBSITE, anna, said(GIVEN, "marketing_email", evidence="f-17")
    ).events
    assert (event.status, event.purpose, event.policy_version) == (
        GIVEN,
        "marketing_email",
        "2026-01",
    )
    assert (event.given_at, event.recorded_at) == (clock.now(), clock.now())
    assert (event.channel, event.evidence) == (Channel.WEB_FORM, "f-17")
    assert (event.recorded_by, event.source_system) == (WEBSITE.who, "website")
    [stored] = vault.consents.events(anna)
    assert stored.event_id == event.event_id and stored.evidence == "f-17"


def test_given_withdrawn_renewed_follow_each_other_and_the_history_keeps_every_step(
    vault: Vault, clock: FixedClock
) -> None:
    anna = person(vault)
    vault.record_consent(OFFICER, anna, said(GIVEN, "marketing_email", "marketing_sms"))
    clock.advance(days=3)
    vault.record_consent(OFFICER, anna, said(WITHDRAWN, "marketing_sms"))
    assert standing(vault, anna)["marketing_sms"] is Standing.WITHDRAWN
    assert standing(vault, anna)["marketing_email"] is Standing.GIVEN
    clock.advance(days=3)
    vault.record_consent(OFFICER, anna, said(RENEWED, "marketing_email"))
    assert standing(vault, anna)["marketing_email"] is Standing.RENEWED
    # Not retroactive: the history still shows the consent given before.
    history = [(e.purpose, e.status) for e in vault.consents.events(anna)]
    assert history == [
        ("marketing_email", GIVEN),
        ("marketing_sms", GIVEN),
        ("marketing_sms", WITHDRAWN),
        ("marketing_email", RENEWED),
    ]
    assert standing(vault, anna)["course_application"] is Standing.NOT_ASKED


def test_a_withdrawal_naming_no_purpose_withdraws_every_consent_that_stands(
    vault: Vault,
) -> None:
    anna = person(vault)
    vault.record_consent(OFFICER, anna, said(GIVEN, "marketing_email", "marketing_post"))
    vault.record_consent(OFFICER, anna, said(REFUSED, "marketing_sms"))
    withdrawn = vault.record_consent(OFFICER, anna, said(WITHDRAWN)).events
    assert sorted(e.purpose for e in withdrawn) == ["marketing_email", "marketing_post"]
    assert standing(vault, anna)["marketing_sms"] is Standing.REFUSED
    with pytest.raises(NoConsentToChange):
        vault.record_consent(OFFICER, anna, said(WITHDRAWN))


def test_withdrawing_or_renewing_needs_a_consent_that_stands(vault: Vault) -> None:
    anna = person(vault)
    for status in (WITHDRAWN, RENEWED):
        with pytest.raises(NoConsentToChange) as refused:
            vault.record_consent(OFFICER, anna, said(status, "marketing_email"))
        assert refused.value.metadata["field"] == "purposes[0]"
    assert list(vault.consents.events(anna)) == []


def test_a_purpose_that_is_unknown_or_not_consent_based_is_refused_by_its_field(
    vault: Vault,
) -> None:
    anna = person(vault)
    for purposes, field in (
        (("newsletter",), "purposes[0]"),
        (("marketing_email", "bookkeeping"), "purposes[1]"),
    ):
        with pytest.raises(InvalidArgument) as refused:
            vault.record_consent(OFFICER, anna, said(GIVEN, *purposes))
        assert refused.value.field == field
    assert list(vault.consents.events(anna)) == []  # all or nothing


def test_an_integrator_records_only_for_its_systems_purposes(vault: Vault) -> None:
    anna = person(vault)
    with pytest.raises(PurposeNotAllowed):
        vault.record_consent(WEBSITE, anna, said(GIVEN, "model_bank"))
    vault.record_consent(WEBSITE, anna, said(GIVEN, "marketing_email"))
    vault.record_consent(OFFICER, anna, said(GIVEN, "model_bank"))
    assert {p.purpose for p in vault.consent_state(WEBSITE, anna)} == WEBSITE.purposes
    page = vault.consent_history(WEBSITE, anna, "", 10, "")
    assert [e.purpose for e in page.events] == ["marketing_email"]


def test_the_time_is_neither_in_the_future_nor_before_the_purposes_latest_event(
    vault: Vault, clock: FixedClock
) -> None:
    anna = person(vault)
    with pytest.raises(InvalidArgument, match="future"):
        vault.record_consent(
            OFFICER,
            anna,
            said(GIVEN, "marketing_email", given_at=clock.now() + dt.timedelta(hours=1)),
        )
    vault.record_consent(OFFICER, anna, said(GIVEN, "marketing_email"))
    # A paper form signed yesterday is recorded as of yesterday, for another purpose...
    yesterday = clock.now() - dt.timedelta(days=1)
    [late] = vault.record_consent(
        OFFICER, anna, said(GIVEN, "marketing_post", given_at=yesterday)
    ).events
    assert late.given_at == yesterday
    # ...but not before the purpose's latest event: the history reads in order.
    with pytest.raises(InvalidArgument) as refused:
        vault.record_consent(OFFICER, anna, said(WITHDRAWN, "marketing_email", given_at=yesterday))
    assert refused.value.field == "time"


def test_consent_given_until_a_time_expires_when_the_time_passes(
    vault: Vault, clock: FixedClock
) -> None:
    anna = person(vault)
    until = clock.now() + dt.timedelta(days=30)
    vault.record_consent(OFFICER, anna, said(GIVEN, "customer_surveys", expires_at=until))
    assert standing(vault, anna)["customer_surveys"] is Standing.GIVEN
    clock.advance(days=30)
    assert standing(vault, anna)["customer_surveys"] is Standing.EXPIRED
    vault.record_consent(OFFICER, anna, said(RENEWED, "customer_surveys"))
    assert standing(vault, anna)["customer_surveys"] is Standing.RENEWED


def test_a_material_change_marks_exactly_the_consents_given_before_it_once_in_effect(
    vault: Vault, clock: FixedClock
) -> None:
    publish(vault, "2026-01", dt.date(2026, 1, 1))
    anna, bo, cecilia = (person(vault, f"{n}@example.se") for n in ("anna", "bo", "cecilia"))
    vault.record_consent(OFFICER, anna, said(GIVEN, "marketing_email"))
    vault.record_consent(OFFICER, bo, said(GIVEN, "marketing_sms"))
    vault.record_consent(OFFICER, cecilia, said(GIVEN, "marketing_email"))
    vault.record_consent(OFFICER, cecilia, said(WITHDRAWN, "marketing_email"))
    takes_effect = clock.now().date() + dt.timedelta(days=14)
    publish(vault, "2026-02", takes_effect, "marketing_email")
    # Published, not yet in effect: nobody is marked.
    assert standing(vault, anna)["marketing_email"] is Standing.GIVEN
    assert vault.reconsent_needed(OFFICER, "", 100, "")[0] == []
    clock.advance(days=14)
    assert standing(vault, anna)["marketing_email"] is Standing.RECONSENT_NEEDED
    assert standing(vault, bo)["marketing_sms"] is Standing.GIVEN
    assert standing(vault, cecilia)["marketing_email"] is Standing.WITHDRAWN
    people, _ = vault.reconsent_needed(OFFICER, "", 100, "")
    assert [(p.subject_id, p.purpose, p.given_under, p.changed_by) for p in people] == [
        (anna, "marketing_email", "2026-01", "2026-02")
    ]
    assert [p.subject_id for p in vault.stream_reconsent_needed(OFFICER, "marketing_email")] == [
        anna
    ]
    # Consent given again is given under the version now in effect, and clears the mark.
    [again] = vault.record_consent(OFFICER, anna, said(GIVEN, "marketing_email")).events
    assert again.policy_version == "2026-02"
    assert standing(vault, anna)["marketing_email"] is Standing.GIVEN
    assert vault.reconsent_needed(OFFICER, "", 100, "")[0] == []


def test_a_change_whose_configuration_says_it_is_not_material_marks_none(
    vault: Vault, clock: FixedClock
) -> None:
    publish(vault, "2026-01", dt.date(2026, 1, 1))
    anna = person(vault)
    vault.record_consent(OFFICER, anna, said(GIVEN, "customer_surveys", "marketing_email"))
    publish(vault, "2026-02", clock.now().date(), "customer_surveys")
    assert standing(vault, anna)["customer_surveys"] is Standing.GIVEN
    assert vault.reconsent_needed(OFFICER, "", 100, "")[0] == []
    [version] = [v for v in vault.policies.versions() if v.version == "2026-02"]
    assert (version.changed_purposes, version.material_purposes) == (("customer_surveys",), ())
    # The privacy officer may still call a change material, whatever the configuration says.
    publish(vault, "2026-03", clock.now().date(), material_purposes=("customer_surveys",))
    assert standing(vault, anna)["customer_surveys"] is Standing.RECONSENT_NEEDED
    assert standing(vault, anna)["marketing_email"] is Standing.GIVEN


def test_the_re_consent_list_pages_and_leaves_protected_identities_out_for_integrators(
    vault: Vault, clock: FixedClock
) -> None:
    publish(vault, "2026-01", dt.date(2026, 1, 1))
    people = [person(vault, f"p{n}@example.se") for n in range(7)]
    hidden = vault.create_subject(
        LOCAL, [IdentityInput(IdentityKind.EMAIL, "hidden@example.se")], [], True
    ).subject_id
    for subject in [*people, hidden]:
        vault.record_consent(OFFICER, subject, said(GIVEN, "marketing_email"))
    publish(vault, "2026-02", clock.now().date(), "marketing_email")
    seen, token = [], ""
    while True:
        page, token = vault.reconsent_needed(OFFICER, "marketing_email", 3, token)
        seen += [p.subject_id for p in page]
        if not token:
            break
    assert seen == sorted([*people, hidden])
    told = [p.subject_id for p in vault.stream_reconsent_needed(WEBSITE, "marketing_email")]
    assert told == sorted(people)


def test_policy_versions_are_published_once_in_order_and_consent_names_a_published_one(
    vault: Vault, clock: FixedClock
) -> None:
    publish(vault, "2026-01", dt.date(2026, 3, 1))
    with pytest.raises(PolicyVersionExists):
        publish(vault, "2026-01", dt.date(2026, 4, 1))
    with pytest.raises(InvalidArgument) as refused:
        publish(vault, "2025-12", dt.date(2026, 2, 1))
    assert refused.value.field == "effective_date"
    with pytest.raises(PolicyVersionNotFound):
        vault.record_consent(OFFICER, person(vault), said(GIVEN, "marketing_email", version="9"))
    assert [v.version for v in vault.policies.versions()] == ["2026-01"]


def test_a_retry_with_the_same_request_id_records_nothing_new(vault: Vault) -> None:
    anna = person(vault)
    first = vault.record_consent(OFFICER, anna, said(GIVEN, "marketing_email"), "consent-1").events
    again = vault.record_consent(OFFICER, anna, said(GIVEN, "marketing_email"), "consent-1").events
    assert [e.event_id for e in again] == [e.event_id for e in first]
    assert len(list(vault.consents.events(anna))) == 1


def test_erasure_takes_the_history_and_the_audit_trail_keeps_the_proof(vault: Vault) -> None:
    anna = person(vault)
    vault.record_consent(OFFICER, anna, said(GIVEN, "marketing_email"))
    vault.record_consent(OFFICER, anna, said(WITHDRAWN, "marketing_email"))
    pseudonym = vault.audit.pseudonym_of(anna)
    vault.erase_subject(OFFICER, anna)
    assert vault.records.consents.events(anna) == []
    assert vault.records.consents.standing(anna) == []
    with pytest.raises(SubjectErased):
        vault.consent_state(OFFICER, anna)
    told = [
        AuditEvent.from_entry(stored.entry)
        for stored in vault.records.audit.query(
            AuditQuery(subject=pseudonym, operation="record consent")
        )
    ]
    proof = [(event.purpose, event.detail.split(" via")[0]) for event in told]
    assert proof == [
        ("marketing_email", "consent given"),
        ("marketing_email", "consent withdrawn"),
    ]


def test_copies_with_one_request_id_that_cross_are_answered_or_refused_by_what_they_asked(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two calls with one request id that both pass the replay check before
    either commits: the second is answered from the first if it asked the
    same, and refused if it asked otherwise, never told it did what it did not."""
    anna = person(vault)
    vault.record_consent(OFFICER, anna, said(GIVEN, "marketing_email"), "r-1")
    publish(vault, "2026-01", dt.date(2026, 1, 1))
    vault.publish_policy(OFFICER, PolicyDraft("2026-02", dt.date(2026, 2, 1), text="two"), "p-1")
    real = vault.replay.replayed
    crossed = {"once": True}

    def first_misses(*args: object) -> object:
        if crossed["once"]:
            crossed["once"] = False
            return None  # as if the copy had not committed yet
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(vault.replay, "replayed", first_misses)
    with pytest.raises(RequestIdReused):
        vault.record_consent(OFFICER, anna, said(GIVEN, "marketing_post"), "r-1")
    crossed["once"] = True
    [again] = vault.record_consent(OFFICER, anna, said(GIVEN, "marketing_email"), "r-1").events
    assert again.purpose == "marketing_email"
    assert [e.purpose for e in vault.consents.events(anna)] == ["marketing_email"]
    crossed["once"] = True
    with pytest.raises(RequestIdReused):
        vault.publish_policy(
            OFFICER, PolicyDraft("2026-03", dt.date(2026, 3, 1), text="three"), "p-1"
        )
    assert [v.version for v in vault.policies.versions()] == ["2026-01", "2026-02"]


def test_a_callers_clock_a_little_ahead_never_blocks_the_next_event(
    vault: Vault, clock: FixedClock
) -> None:
    anna = person(vault)
    ahead = clock.now() + dt.timedelta(minutes=4)
    [given] = vault.record_consent(
        OFFICER, anna, said(GIVEN, "marketing_email", given_at=ahead)
    ).events
    assert given.given_at == clock.now()  # taken as now
    [withdrawn] = vault.record_consent(OFFICER, anna, said(WITHDRAWN, "marketing_email")).events
    assert withdrawn.status is WITHDRAWN


def test_an_expired_consent_is_not_on_the_re_consent_list(vault: Vault, clock: FixedClock) -> None:
    publish(vault, "2026-01", dt.date(2026, 1, 1))
    anna, bo = person(vault, "anna@example.se"), person(vault, "bo@example.se")
    until = clock.now() + dt.timedelta(days=2)
    vault.record_consent(OFFICER, anna, said(GIVEN, "marketing_email", expires_at=until))
    vault.record_consent(OFFICER, bo, said(GIVEN, "marketing_email"))
    clock.advance(days=3)
    publish(vault, "2026-02", clock.now().date(), "marketing_email")
    assert standing(vault, anna)["marketing_email"] is Standing.EXPIRED
    assert [p.subject_id for p in vault.reconsent_needed(OFFICER, "", 10, "")[0]] == [bo]


def test_a_version_takes_effect_on_the_controllers_day_not_the_utc_day(
    vault: Vault, clock: FixedClock
) -> None:
    """Stockholm is an hour ahead of UTC in winter: at 23:30 UTC on the last
    day of February it is already 1 March there."""
    publish(vault, "2026-01", dt.date(2026, 1, 1))
    publish(vault, "2026-03", dt.date(2026, 3, 1))
    anna = person(vault)
    at = dt.datetime(2026, 2, 28, 23, 30, tzinfo=dt.UTC)
    [event] = vault.record_consent(
        OFFICER, anna, said(GIVEN, "marketing_email", given_at=at)
    ).events
    assert event.policy_version == "2026-03"


def test_a_protected_identitys_evidence_is_left_out_for_the_auditor_and_the_access_noted(
    vault: Vault,
) -> None:
    hidden = vault.create_subject(
        LOCAL, [IdentityInput(IdentityKind.EMAIL, "hidden@example.se")], [], True
    ).subject_id
    vault.record_consent(WEBSITE, hidden, said(GIVEN, "marketing_email", evidence="form 9"))
    auditor = Actor("auditor (tokens/a)", Role.AUDITOR)
    [shown] = vault.consent_history(auditor, hidden, "", 10, "").events
    assert shown.evidence == ""
    [state] = [p for p in vault.consent_state(auditor, hidden) if p.latest is not None]
    assert state.latest is not None and state.latest.evidence == ""
    # The system that recorded it, and the privacy officer, see it.
    assert vault.consent_history(WEBSITE, hidden, "", 10, "").events[0].evidence == "form 9"
    assert vault.consent_history(OFFICER, hidden, "", 10, "").events[0].evidence == "form 9"
    noted = [(n.who, n.action) for n in vault.access_notes.recent]  # type: ignore[attr-defined]
    assert (WEBSITE.who, "record_consent") in noted
    assert (auditor.who, "consent_history") in noted
    assert (auditor.who, "consent_state") in noted


def test_the_re_consent_list_of_a_purpose_not_resting_on_consent_is_refused(
    vault: Vault,
) -> None:
    with pytest.raises(InvalidArgument, match="not on consent") as refused:
        vault.reconsent_needed(OFFICER, "billing", 10, "")
    assert refused.value.field == "purpose"
    with pytest.raises(InvalidArgument):
        list(vault.stream_reconsent_needed(OFFICER, "billing"))
