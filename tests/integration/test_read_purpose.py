"""Every read of a record is checked against the purpose it is made for,
over real gRPC, on both engines, with the test's clock: a read for the
record's own purpose or a compatible one goes ahead; any other purpose is
PURPOSE_MISMATCH; a purpose resting on consent the person has not given, has
withdrawn, let expire or must give again is CONSENT_REQUIRED; one they
objected to OBJECTED; one restricted RESTRICTED. A refused read reveals
nothing of the record and is audited with its reason. A material policy
change stops consent-based reads for exactly the people it affects, until
they consent again."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2

from tests.access import token_for, with_token
from tests.callers import Caller
from tests.helpers import email, error_info
from tests.serving import UNLIMITED, channel_to, served
from vault import purposes_file
from vault.core.actor import Role
from vault.core.clock import FixedClock
from vault.core.vault import Vault
from vault.runtime import build_services
from vault.server.app import RunningServer
from vault.settings import ServerSettings
from vault.v1 import vault_pb2 as pb

WEBSITE_PURPOSES = frozenset({"marketing_email", "marketing_sms", "customer_surveys"})
SETTINGS = ServerSettings(
    address="127.0.0.1:0",
    access=dataclasses.replace(
        UNLIMITED,
        purposes={"website": WEBSITE_PURPOSES, "lms": purposes_file.school().for_system("lms")},
    ),
)
# What a record of the person says: a refused read must not carry it.
SECRET_CITY = "Haparanda"


@pytest.fixture
def running(vault: Vault, engine: str | None) -> Iterator[RunningServer]:
    with served(build_services(vault, stores_embedded=engine is None), SETTINGS) as server:
        yield server


@pytest.fixture
def officer(running: RunningServer) -> Iterator[Caller]:
    with channel_to(running, Role.PRIVACY_OFFICER) as channel:
        yield Caller(channel)


@pytest.fixture
def lms(running: RunningServer) -> Iterator[Caller]:
    """The learning platform's integrator, reading for course delivery by default."""
    with channel_to(running, Role.INTEGRATOR, "lms") as channel:
        yield Caller(channel)


@pytest.fixture
def website(running: RunningServer) -> Iterator[Caller]:
    """The website's integrator: its token has no default purpose."""
    token = token_for(running.vault, Role.INTEGRATOR, "website", default_purpose="")
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as opened:
        yield Caller(with_token(opened, token))


@pytest.fixture
def auditor(running: RunningServer) -> Iterator[Caller]:
    with channel_to(running, Role.AUDITOR) as channel:
        yield Caller(channel)


def person(officer: Caller, address: str = "anna@example.se") -> str:
    request = pb.CreateSubjectRequest(identities=[email(address)])
    return str(officer.subjects.CreateSubject(request).subject.name)


def stored(
    caller: Caller,
    subject: str,
    purpose: str,
    basis: Any,
    system: str,
    category: str = "contact",
) -> pb.Record:
    record = pb.Record(category=category, purpose=purpose, legal_basis=basis, source_system=system)
    record.fields.update({"city": SECRET_CITY})
    request = pb.CreateRecordRequest(parent=subject, record=record)
    return caller.records.CreateRecord(request).record


def consent(caller: Caller, subject: str, status: Any, purpose: str, **more: Any) -> None:
    caller.consent.RecordConsent(
        pb.RecordConsentRequest(
            subject=subject,
            purposes=[purpose],
            status=status,
            channel=pb.CONSENT_CHANNEL_WEB_FORM,
            **more,
        )
    )


def refusal(call: Callable[[], Any]) -> tuple[grpc.StatusCode, str, dict[str, str], str]:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    info = error_info(raised.value)
    return raised.value.code(), info.reason, dict(info.metadata), raised.value.details() or ""


def get(caller: Caller, record: pb.Record, purpose: str = "") -> pb.Record:
    return caller.records.GetRecord(pb.GetRecordRequest(name=record.name, purpose=purpose)).record


def refused_events(officer: Caller, subject: str) -> list[pb.AuditEvent]:
    pseudonym_filter = pb.ListAuditEventsRequest(subject=subject, page_size=1000)
    events = officer.audit.ListAuditEvents(pseudonym_filter).events
    return [event for event in events if event.result != "ok"]


# ------------------------------------------------------------ the purpose
def test_a_read_for_the_records_own_purpose_or_its_tokens_default_goes_ahead(
    officer: Caller, lms: Caller
) -> None:
    anna = person(officer)
    record = stored(lms, anna, "course_delivery", pb.LEGAL_BASIS_CONTRACT, "lms")
    assert get(lms, record).fields["city"] == SECRET_CITY  # the token's default
    assert get(lms, record, "course_delivery").fields["city"] == SECRET_CITY
    listed = lms.records.ListRecords(pb.ListRecordsRequest(parent=anna)).records
    assert [r.name for r in listed] == [record.name]
    streamed = list(lms.records.StreamRecords(pb.StreamRecordsRequest(parent=anna)))
    assert [m.record.name for m in streamed] == [record.name]
    # The privacy officer reads to answer the person's request, whatever it is held for.
    assert get(officer, record).fields["city"] == SECRET_CITY


def test_a_compatible_purpose_reads_and_an_incompatible_one_is_purpose_mismatch(
    officer: Caller, lms: Caller
) -> None:
    anna = person(officer)
    record = stored(lms, anna, "course_delivery", pb.LEGAL_BASIS_CONTRACT, "lms")
    # course_delivery is configured as compatible with grading (art. 6(4)).
    assert get(lms, record, "grading").fields["city"] == SECRET_CITY
    code, reason, metadata, message = refusal(lambda: get(lms, record, "platform_access"))
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "PURPOSE_MISMATCH")
    assert (metadata["purpose"], metadata["held_for"]) == ("platform_access", "course_delivery")
    assert SECRET_CITY not in message
    # Compatibility is one way: a grading record is not read for course delivery.
    grade = stored(lms, anna, "grading", pb.LEGAL_BASIS_LEGAL_OBLIGATION, "lms", "student.grading")
    assert refusal(lambda: get(lms, grade))[1] == "PURPOSE_MISMATCH"
    # A list for a purpose shows what it may serve and leaves the rest out.
    listed = lms.records.ListRecords(pb.ListRecordsRequest(parent=anna)).records
    assert [r.name for r in listed] == [record.name]
    for_grading = lms.records.ListRecords(pb.ListRecordsRequest(parent=anna, purpose="grading"))
    assert {r.name for r in for_grading.records} == {record.name, grade.name}


def test_a_read_names_a_purpose_the_caller_may_read_for(
    officer: Caller, lms: Caller, website: Caller
) -> None:
    anna = person(officer)
    record = stored(website, anna, "marketing_email", pb.LEGAL_BASIS_CONSENT, "website")
    code, reason, metadata, message = refusal(lambda: get(website, record))
    assert (code, reason, metadata["field"]) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_FIELD",
        "purpose",
    )
    assert "--default-purpose" in message
    # Not one its system is configured for, nor the vault's own of answering requests.
    for purpose in ("billing", "rights_requests"):
        assert refusal(lambda p=purpose: get(website, record, p))[1] == "PURPOSE_NOT_ALLOWED"
    assert refusal(lambda: get(website, record, "no_such_purpose"))[1] == "INVALID_FIELD"


# --------------------------------------------------------------- consent
def test_a_consent_based_read_needs_consent_that_stands(
    officer: Caller, website: Caller, clock: FixedClock
) -> None:
    anna = person(officer)
    record = stored(website, anna, "marketing_email", pb.LEGAL_BASIS_CONSENT, "website")

    def refused_standing() -> tuple[str, str]:
        code, reason, metadata, message = refusal(lambda: get(website, record, "marketing_email"))
        assert code == grpc.StatusCode.FAILED_PRECONDITION and SECRET_CITY not in message
        return reason, metadata["standing"]

    assert refused_standing() == ("CONSENT_REQUIRED", "not asked")
    consent(website, anna, pb.CONSENT_STATUS_REFUSED, "marketing_email")
    assert refused_standing() == ("CONSENT_REQUIRED", "refused")
    until = clock.now() + dt.timedelta(days=30)
    stamp = pb.RecordConsentRequest().expire_time
    stamp.FromDatetime(until)
    consent(website, anna, pb.CONSENT_STATUS_GIVEN, "marketing_email", expire_time=stamp)
    assert get(website, record, "marketing_email").fields["city"] == SECRET_CITY
    clock.advance(days=31)
    assert refused_standing() == ("CONSENT_REQUIRED", "expired")
    # Every refusal is audited, its result the reason, naming the purpose.
    events = refused_events(officer, anna)
    assert [e.result for e in events] == ["CONSENT_REQUIRED"] * 3
    assert {(e.operation, e.purpose) for e in events} == {("get record", "marketing_email")}
    assert all(SECRET_CITY not in e.detail for e in events)


def test_a_material_policy_change_stops_consent_reads_for_exactly_the_people_it_affects(
    officer: Caller, website: Caller, clock: FixedClock
) -> None:
    publish = officer.policy.PublishPolicyVersion
    publish(
        pb.PublishPolicyVersionRequest(version="2026-01", effective_date="2026-01-01", text="v1")
    )
    anna, bo, cia = (person(officer, f"{n}@example.se") for n in ("anna", "bo", "cia"))
    records = {
        who: stored(website, who, "marketing_email", pb.LEGAL_BASIS_CONSENT, "website")
        for who in (anna, bo, cia)
    }
    surveys = stored(website, anna, "customer_surveys", pb.LEGAL_BASIS_CONSENT, "website")
    for who in (anna, bo):
        consent(website, who, pb.CONSENT_STATUS_GIVEN, "marketing_email")
    consent(website, anna, pb.CONSENT_STATUS_GIVEN, "customer_surveys")
    clock.advance(days=1)
    publish(
        pb.PublishPolicyVersionRequest(
            version="2026-02",
            effective_date=clock.now().date().isoformat(),
            text="v2: partner offers by e-mail",
            changed_purposes=["marketing_email"],
        )
    )
    # Cia consents under the new version; Anna and Bo gave theirs under the old.
    consent(website, cia, pb.CONSENT_STATUS_GIVEN, "marketing_email")
    for who in (anna, bo):
        _, reason, metadata, _ = refusal(lambda w=who: get(website, records[w], "marketing_email"))
        assert (reason, metadata["standing"]) == ("CONSENT_REQUIRED", "re-consent needed")
    assert get(website, records[cia], "marketing_email").fields["city"] == SECRET_CITY
    # The change touched marketing e-mail only: Anna's surveys read on.
    assert get(website, surveys, "customer_surveys").fields["city"] == SECRET_CITY
    # Once Anna renews, her reads go ahead again; Bo's stay stopped.
    consent(website, anna, pb.CONSENT_STATUS_RENEWED, "marketing_email")
    assert get(website, records[anna], "marketing_email").fields["city"] == SECRET_CITY
    assert refusal(lambda: get(website, records[bo], "marketing_email"))[1] == "CONSENT_REQUIRED"


def test_a_stopped_purpose_refuses_the_whole_list_and_stream_and_they_are_audited(
    officer: Caller, website: Caller
) -> None:
    anna = person(officer)
    stored(website, anna, "marketing_email", pb.LEGAL_BASIS_CONSENT, "website")
    asked = pb.ListRecordsRequest(parent=anna, purpose="marketing_email")
    assert refusal(lambda: website.records.ListRecords(asked))[1] == "CONSENT_REQUIRED"
    streamed = pb.StreamRecordsRequest(parent=anna, purpose="marketing_email")
    assert refusal(lambda: list(website.records.StreamRecords(streamed)))[1] == "CONSENT_REQUIRED"
    operations = [e.operation for e in refused_events(officer, anna)]
    assert operations == ["list records", "stream records"]
    consent(website, anna, pb.CONSENT_STATUS_GIVEN, "marketing_email")
    assert len(website.records.ListRecords(asked).records) == 1


# ------------------------------------------------ restriction and objection
def test_a_restricted_purpose_is_refused_until_the_restriction_is_lifted(
    officer: Caller, lms: Caller
) -> None:
    anna = person(officer)
    record = stored(lms, anna, "course_delivery", pb.LEGAL_BASIS_CONTRACT, "lms")
    restriction = officer.consent.RecordRestriction(
        pb.RecordRestrictionRequest(
            subject=anna, purposes=["course_delivery"], reason="accuracy contested"
        )
    ).restriction
    code, reason, metadata, message = refusal(lambda: get(lms, record))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "RESTRICTED")
    assert metadata["restriction"] == restriction.name and SECRET_CITY not in message
    # The person's own request is still answered.
    assert get(officer, record).fields["city"] == SECRET_CITY
    officer.consent.LiftProcessingLimit(
        pb.LiftProcessingLimitRequest(name=restriction.name, reason="accuracy checked")
    )
    assert get(lms, record).fields["city"] == SECRET_CITY
    assert [e.result for e in refused_events(officer, anna)] == ["RESTRICTED"]


def test_an_objected_purpose_is_refused_until_overriding_grounds_are_recorded(
    officer: Caller,
) -> None:
    anna = person(officer)
    record = stored(
        officer, anna, "statistics", pb.LEGAL_BASIS_LEGITIMATE_INTEREST, "vault", "statistics"
    )
    objection = officer.consent.RecordObjection(
        pb.RecordObjectionRequest(subject=anna, purposes=["statistics"], reason="by letter")
    ).objection
    code, reason, metadata, _ = refusal(lambda: get(officer, record, "statistics"))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "OBJECTED")
    assert metadata["objection"] == objection.name
    officer.consent.RecordOverridingGrounds(
        pb.RecordOverridingGroundsRequest(name=objection.name, reason="needed for a legal claim")
    )
    assert get(officer, record, "statistics").fields["city"] == SECRET_CITY


def test_a_tokens_default_purpose_is_configured_and_read_for(
    running: RunningServer, officer: Caller
) -> None:
    with channel_to(running, Role.ADMIN) as channel:
        admin = Caller(channel)
        made = admin.access.CreateToken(
            pb.CreateTokenRequest(role=pb.ROLE_INTEGRATOR, system="lms", default_purpose="grading")
        )
        assert made.token.default_purpose == "grading"
        _, reason, metadata, _ = refusal(
            lambda: admin.access.CreateToken(
                pb.CreateTokenRequest(
                    role=pb.ROLE_INTEGRATOR, system="lms", default_purpose="no_such_purpose"
                )
            )
        )
        assert (reason, metadata["field"]) == ("INVALID_FIELD", "default_purpose")
        for wrong in (
            pb.CreateTokenRequest(role=pb.ROLE_AUDITOR, default_purpose="grading"),
            pb.CreateTokenRequest(
                role=pb.ROLE_INTEGRATOR, system="lms", default_purpose="rights_requests"
            ),
        ):
            assert refusal(lambda w=wrong: admin.access.CreateToken(w))[1] == "INVALID_FIELD"
    anna = person(officer)
    grade = stored(
        officer, anna, "grading", pb.LEGAL_BASIS_LEGAL_OBLIGATION, "lms", "student.grading"
    )
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as opened:
        grader = Caller(with_token(opened, made.secret))
        assert get(grader, grade).fields["city"] == SECRET_CITY


# ---------------------------------------------------------------- writes
def test_a_source_systems_rectification_is_refused_as_its_read_would_be(
    officer: Caller, lms: Caller
) -> None:
    anna = person(officer)
    record = stored(lms, anna, "course_delivery", pb.LEGAL_BASIS_CONTRACT, "lms")
    officer.consent.RecordRestriction(
        pb.RecordRestrictionRequest(
            subject=anna, purposes=["course_delivery"], reason="accuracy contested"
        )
    )
    changed = pb.Record(name=record.name, source_system="lms", purpose="platform_access")
    for paths in (["source_system"], ["purpose"]):
        request = pb.UpdateRecordRequest(
            record=changed, update_mask=field_mask_pb2.FieldMask(paths=paths)
        )
        code, reason, _, message = refusal(lambda r=request: lms.records.UpdateRecord(r))
        assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "RESTRICTED")
        assert SECRET_CITY not in message
    # Still held for course delivery, and refused: no update moved it out.
    assert refusal(lambda: get(lms, record, "platform_access"))[1] == "PURPOSE_MISMATCH"
    # The privacy officer's rectification answers the person's request.
    fixed = pb.Record(name=record.name)
    fixed.fields.update({"city": "Luleå"})
    officer.records.UpdateRecord(
        pb.UpdateRecordRequest(record=fixed, update_mask=field_mask_pb2.FieldMask(paths=["fields"]))
    )
    assert get(officer, record).fields["city"] == "Luleå"
    operations = [e.operation for e in refused_events(officer, anna)]
    assert operations == ["update record", "update record", "get record"]


def test_no_record_is_written_for_a_purpose_the_person_said_no_to(
    officer: Caller, lms: Caller, website: Caller
) -> None:
    anna = person(officer)
    # Before anyone asked, the form's data may come first.
    stored(website, anna, "marketing_email", pb.LEGAL_BASIS_CONSENT, "website")
    consent(website, anna, pb.CONSENT_STATUS_GIVEN, "marketing_email")
    consent(website, anna, pb.CONSENT_STATUS_WITHDRAWN, "marketing_email")
    code, reason, metadata, _ = refusal(
        lambda: stored(website, anna, "marketing_email", pb.LEGAL_BASIS_CONSENT, "website")
    )
    assert (code, reason, metadata["standing"]) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "CONSENT_REQUIRED",
        "withdrawn",
    )
    officer.consent.RecordObjection(
        pb.RecordObjectionRequest(subject=anna, purposes=["statistics"], reason="by letter")
    )
    assert (
        refusal(
            lambda: stored(
                officer,
                anna,
                "statistics",
                pb.LEGAL_BASIS_LEGITIMATE_INTEREST,
                "vault",
                "statistics",
            )
        )[1]
        == "OBJECTED"
    )
    officer.consent.RecordRestriction(pb.RecordRestrictionRequest(subject=anna, reason="contested"))
    assert (
        refusal(lambda: stored(lms, anna, "course_delivery", pb.LEGAL_BASIS_CONTRACT, "lms"))[1]
        == "RESTRICTED"
    )
    imported = pb.Record(
        category="contact",
        purpose="course_delivery",
        legal_basis=pb.LEGAL_BASIS_CONTRACT,
        source_system="lms",
    )
    batch = pb.ImportRecordsRequest(records=[pb.ImportedRecord(parent=anna, record=imported)])
    assert refusal(lambda: lms.records.ImportRecords(iter([batch])))[1] == "RESTRICTED"
    results = [e.result for e in refused_events(officer, anna)]
    assert results == ["CONSENT_REQUIRED", "OBJECTED", "RESTRICTED", "RESTRICTED"]


def test_a_system_that_holds_nothing_of_the_person_learns_nothing_of_their_limits(
    officer: Caller, lms: Caller
) -> None:
    bo = person(officer, "bo@example.se")  # a salon customer: nothing of his in the lms
    stored(officer, bo, "salon_booking", pb.LEGAL_BASIS_CONTRACT, "salon")
    officer.consent.RecordRestriction(pb.RecordRestrictionRequest(subject=bo, reason="contested"))
    assert list(lms.records.ListRecords(pb.ListRecordsRequest(parent=bo)).records) == []
    assert list(lms.records.StreamRecords(pb.StreamRecordsRequest(parent=bo))) == []
    # Once the lms holds something of his, the restriction answers.
    anna = person(officer, "anna@example.se")
    stored(lms, anna, "course_delivery", pb.LEGAL_BASIS_CONTRACT, "lms")
    officer.consent.RecordRestriction(pb.RecordRestrictionRequest(subject=anna, reason="contested"))
    listed = pb.ListRecordsRequest(parent=anna)
    assert refusal(lambda: lms.records.ListRecords(listed))[1] == "RESTRICTED"
