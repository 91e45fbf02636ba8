"""The ConsentService over real gRPC, on both engines, with the test's clock:
consent given, withdrawn (for some purposes, or everything that stands) and
renewed, each event with its time, policy version, channel, evidence and
recorder; the history paged oldest first and never changed by a later call;
a request id that answers again and records nothing new; every refusal a
precise status and reason; the auditor's reads; and an erased person's history
gone while the audit trail keeps, by pseudonym, that consent was recorded.
The Python client's consent methods too."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2

from tests.callers import Caller
from tests.conftest import START
from tests.helpers import email, error_info
from tests.serving import UNLIMITED, channel_to, served
from vault.core.actor import Role
from vault.core.clock import FixedClock
from vault.core.errors import Reason
from vault.core.vault import Vault
from vault.runtime import build_services
from vault.server.app import RunningServer
from vault.settings import ServerSettings
from vault.v1 import vault_pb2 as pb
from vault_client import Identity, InvalidArgumentError, PermissionDeniedError, VaultClient

# The website's integrator records the consent its forms collect, for the
# purposes the school's configuration names it among the systems of.
WEBSITE_PURPOSES = frozenset(
    {"marketing_email", "marketing_sms", "customer_surveys", "course_application"}
)
SETTINGS = ServerSettings(
    address="127.0.0.1:0",
    access=dataclasses.replace(UNLIMITED, purposes={"website": WEBSITE_PURPOSES}),
)
GIVEN, REFUSED = pb.CONSENT_STATUS_GIVEN, pb.CONSENT_STATUS_REFUSED
WITHDRAWN, RENEWED = pb.CONSENT_STATUS_WITHDRAWN, pb.CONSENT_STATUS_RENEWED


@pytest.fixture
def running(vault: Vault, engine: str | None) -> Iterator[RunningServer]:
    with served(build_services(vault, stores_embedded=engine is None), SETTINGS) as server:
        yield server


@pytest.fixture
def officer(running: RunningServer) -> Iterator[Caller]:
    with channel_to(running, Role.PRIVACY_OFFICER) as channel:
        yield Caller(channel)


@pytest.fixture
def website(running: RunningServer) -> Iterator[Caller]:
    with channel_to(running, Role.INTEGRATOR, "website") as channel:
        yield Caller(channel)


@pytest.fixture
def auditor(running: RunningServer) -> Iterator[Caller]:
    with channel_to(running, Role.AUDITOR) as channel:
        yield Caller(channel)


def person(officer: Caller, address: str = "anna@example.se") -> str:
    request = pb.CreateSubjectRequest(identities=[email(address)])
    return str(officer.subjects.CreateSubject(request).subject.name)


def record(
    caller: Caller,
    subject: str,
    status: Any,
    *purposes: str,
    channel: Any = pb.CONSENT_CHANNEL_WEB_FORM,
    **more: Any,
) -> list[pb.ConsentEvent]:
    request = pb.RecordConsentRequest(
        subject=subject, purposes=purposes, status=status, channel=channel, **more
    )
    return list(caller.consent.RecordConsent(request).events)


def standing(caller: Caller, subject: str) -> dict[str, Any]:
    state = caller.consent.GetConsentState(pb.GetConsentStateRequest(subject=subject))
    return {p.purpose: p.standing for p in state.purposes}


def history(caller: Caller, subject: str, page_size: int = 2, purpose: str = "") -> list[Any]:
    """Every event of the subject's history, page by page."""
    request = pb.ListConsentEventsRequest(subject=subject, purpose=purpose, page_size=page_size)
    events = []
    while True:
        page = caller.consent.ListConsentEvents(request)
        assert len(page.events) <= page_size
        events += page.events
        if not page.next_page_token:
            return events
        request.page_token = page.next_page_token


def refused(call: Callable[[], Any]) -> tuple[grpc.StatusCode, str, str]:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    info = error_info(raised.value)
    return raised.value.code(), info.reason, info.metadata.get("field", "")


def at(moment: dt.datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def publish(officer: Caller, version: str, effective: dt.date, *changed: str) -> pb.PolicyVersion:
    request = pb.PublishPolicyVersionRequest(
        version=version,
        effective_date=effective.isoformat(),
        text=f"The school's privacy policy, version {version}.",
        changed_purposes=changed,
    )
    return officer.policy.PublishPolicyVersion(request).version


# ------------------------------------------------------------ recording
def test_consent_given_stands_with_the_events_version_channel_evidence_and_recorder(
    officer: Caller, website: Caller
) -> None:
    publish(officer, "2026-01", dt.date(2026, 1, 1))
    anna = person(officer)
    [event] = record(website, anna, GIVEN, "marketing_email", evidence="form submission 17")
    assert event.name.startswith(f"{anna}/consentEvents/")
    assert (event.purpose, event.status, event.channel) == (
        "marketing_email",
        GIVEN,
        pb.CONSENT_CHANNEL_WEB_FORM,
    )
    assert (event.policy_version, event.evidence) == ("2026-01", "form submission 17")
    assert "test integrator" in event.recorded_by and event.source_system == "website"
    assert event.time.ToDatetime(tzinfo=dt.UTC) == START
    assert event.record_time.ToDatetime(tzinfo=dt.UTC) == START
    assert not event.HasField("expire_time")

    state = website.consent.GetConsentState(pb.GetConsentStateRequest(subject=anna))
    by_purpose = {p.purpose: p for p in state.purposes}
    # An integrator sees its own system's purposes, and no other.
    assert set(by_purpose) == WEBSITE_PURPOSES
    assert by_purpose["marketing_email"].standing == pb.CONSENT_STANDING_GIVEN
    assert by_purpose["marketing_email"].latest == event
    assert by_purpose["marketing_sms"].standing == pb.CONSENT_STANDING_NOT_ASKED
    assert not by_purpose["marketing_sms"].HasField("latest")
    # The privacy officer sees every consent-based purpose.
    assert {"model_bank", "marketing_post"} <= set(standing(officer, anna))


def test_a_consent_said_earlier_keeps_its_own_time_and_its_end(
    officer: Caller, clock: FixedClock
) -> None:
    anna = person(officer)
    said = START - dt.timedelta(days=1)  # a paper form, recorded the next day
    until = START + dt.timedelta(days=365)
    [event] = record(
        officer,
        anna,
        GIVEN,
        "customer_surveys",
        channel=pb.CONSENT_CHANNEL_PAPER_FORM,
        time=at(said),
        expire_time=at(until),
    )
    assert event.time.ToDatetime(tzinfo=dt.UTC) == said
    assert event.record_time.ToDatetime(tzinfo=dt.UTC) == START
    assert event.expire_time.ToDatetime(tzinfo=dt.UTC) == until
    assert event.policy_version == ""  # none published
    clock.advance(days=366)
    assert standing(officer, anna)["customer_surveys"] == pb.CONSENT_STANDING_EXPIRED


def test_withdrawing_one_purpose_of_two_leaves_the_other_given(
    officer: Caller, website: Caller, clock: FixedClock
) -> None:
    anna = person(officer)
    given = record(website, anna, GIVEN, "marketing_email", "marketing_sms")
    assert [e.purpose for e in given] == ["marketing_email", "marketing_sms"]
    clock.advance(days=3)
    [withdrawn] = record(website, anna, WITHDRAWN, "marketing_sms", channel=pb.CONSENT_CHANNEL_SMS)
    assert (withdrawn.purpose, withdrawn.status) == ("marketing_sms", WITHDRAWN)
    now = standing(website, anna)
    assert now["marketing_sms"] == pb.CONSENT_STANDING_WITHDRAWN
    assert now["marketing_email"] == pb.CONSENT_STANDING_GIVEN


def test_a_withdrawal_naming_no_purpose_withdraws_every_consent_that_stands(
    officer: Caller, clock: FixedClock
) -> None:
    anna = person(officer)
    record(officer, anna, GIVEN, "marketing_email", "marketing_post")
    record(officer, anna, REFUSED, "marketing_sms")
    clock.advance(hours=1)
    withdrawn = record(officer, anna, WITHDRAWN, channel=pb.CONSENT_CHANNEL_EMAIL)
    # By purpose, and only those that stood: a refusal has nothing to withdraw.
    assert [(e.purpose, e.status) for e in withdrawn] == [
        ("marketing_email", WITHDRAWN),
        ("marketing_post", WITHDRAWN),
    ]
    now = standing(officer, anna)
    assert now["marketing_email"] == now["marketing_post"] == pb.CONSENT_STANDING_WITHDRAWN
    assert now["marketing_sms"] == pb.CONSENT_STANDING_REFUSED
    # Nothing stands now: a second withdrawal of everything has nothing to change.
    assert refused(lambda: record(officer, anna, WITHDRAWN)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        Reason.NO_CONSENT_TO_CHANGE,
        "purposes",
    )


def test_an_integrators_withdrawal_of_everything_says_which_purposes_it_looked_at(
    officer: Caller, website: Caller
) -> None:
    anna = person(officer)
    record(officer, anna, GIVEN, "model_bank")  # the Facebook group's, not the website's
    with pytest.raises(grpc.RpcError) as raised:
        record(website, anna, WITHDRAWN)
    assert error_info(raised.value).reason == Reason.NO_CONSENT_TO_CHANGE
    assert "any purpose website processes for" in (raised.value.details() or "")


def test_a_consent_renewed_stands_renewed(officer: Caller, clock: FixedClock) -> None:
    anna = person(officer)
    record(officer, anna, GIVEN, "marketing_email")
    clock.advance(days=30)
    [renewed] = record(officer, anna, RENEWED, "marketing_email")
    assert renewed.time.ToDatetime(tzinfo=dt.UTC) == START + dt.timedelta(days=30)
    assert standing(officer, anna)["marketing_email"] == pb.CONSENT_STANDING_RENEWED


def test_withdrawing_or_renewing_a_consent_never_given_is_a_failed_precondition(
    officer: Caller,
) -> None:
    anna = person(officer)
    record(officer, anna, GIVEN, "marketing_email")
    for status in (WITHDRAWN, RENEWED):
        assert refused(
            lambda status=status: record(officer, anna, status, "marketing_email", "marketing_sms")
        ) == (grpc.StatusCode.FAILED_PRECONDITION, Reason.NO_CONSENT_TO_CHANGE, "purposes[1]")
    # All or nothing: the purpose that could be withdrawn was not.
    assert standing(officer, anna)["marketing_email"] == pb.CONSENT_STANDING_GIVEN
    assert len(history(officer, anna)) == 1


def test_a_purpose_that_is_not_consent_based_or_not_configured_is_an_invalid_argument(
    officer: Caller,
) -> None:
    anna = person(officer)
    for purpose in ("bookkeeping", "horoscopes", "Not A Word"):
        assert refused(lambda purpose=purpose: record(officer, anna, GIVEN, purpose)) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            Reason.INVALID_FIELD,
            "purposes[0]",
        ), purpose
    assert history(officer, anna) == []


def test_a_request_without_what_it_records_names_the_missing_field(officer: Caller) -> None:
    anna = person(officer)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"status": pb.CONSENT_STATUS_UNSPECIFIED}, "status"),
        ({"status": 99}, "status"),
        ({"channel": pb.CONSENT_CHANNEL_UNSPECIFIED}, "channel"),
        ({"purposes": []}, "purposes"),
        ({"subject": "anna"}, "subject"),
        ({"subject": "subjects/Anna!"}, "subject"),
        ({"time": at(START + dt.timedelta(days=1))}, "time"),
        ({"time": timestamp_pb2.Timestamp(seconds=-(10**12))}, "time"),
        ({"expire_time": at(START - dt.timedelta(days=1))}, "expire_time"),
        ({"evidence": "line one\nline two"}, "evidence"),
        ({"policy_version": "no spaces allowed"}, "policy_version"),
    ]
    for change, field in cases:
        request = pb.RecordConsentRequest(
            subject=anna,
            purposes=["marketing_email"],
            status=GIVEN,
            channel=pb.CONSENT_CHANNEL_WEB_FORM,
        )
        for name, value in change.items():
            if isinstance(value, timestamp_pb2.Timestamp):
                getattr(request, name).CopyFrom(value)
            elif isinstance(value, list):
                request.ClearField(name)
            else:
                setattr(request, name, value)
        assert refused(lambda request=request: officer.consent.RecordConsent(request)) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            Reason.INVALID_FIELD,
            field,
        ), change


def test_an_unknown_subject_is_not_found(officer: Caller) -> None:
    nobody = "subjects/0123456789abcdef0123456789abcdef"
    assert refused(lambda: record(officer, nobody, GIVEN, "marketing_email"))[:2] == (
        grpc.StatusCode.NOT_FOUND,
        Reason.SUBJECT_NOT_FOUND,
    )
    assert refused(
        lambda: officer.consent.GetConsentState(pb.GetConsentStateRequest(subject=nobody))
    )[:2] == (grpc.StatusCode.NOT_FOUND, Reason.SUBJECT_NOT_FOUND)


def test_an_integrator_records_only_for_the_purposes_its_system_processes_for(
    officer: Caller, website: Caller
) -> None:
    anna = person(officer)
    # The model bank is the Facebook group's purpose, not the website's.
    assert refused(lambda: record(website, anna, GIVEN, "marketing_email", "model_bank")) == (
        grpc.StatusCode.PERMISSION_DENIED,
        Reason.PURPOSE_NOT_ALLOWED,
        "purposes[1]",
    )
    assert refused(
        lambda: website.consent.ListConsentEvents(
            pb.ListConsentEventsRequest(subject=anna, purpose="model_bank")
        )
    ) == (grpc.StatusCode.PERMISSION_DENIED, Reason.PURPOSE_NOT_ALLOWED, "purpose")
    # What the officer recorded for the model bank the website does not see.
    record(officer, anna, GIVEN, "model_bank", "marketing_sms")
    assert [e.purpose for e in history(website, anna)] == ["marketing_sms"]
    assert "model_bank" not in standing(website, anna)


def test_a_policy_version_nobody_published_is_not_found(officer: Caller) -> None:
    anna = person(officer)
    assert refused(
        lambda: record(officer, anna, GIVEN, "marketing_email", policy_version="2031-01")
    ) == (grpc.StatusCode.NOT_FOUND, Reason.POLICY_VERSION_NOT_FOUND, "policy_version")
    # A version named that is published is the one recorded, in effect or not.
    publish(officer, "2026-01", dt.date(2026, 1, 1))
    publish(officer, "2027-01", dt.date(2027, 1, 1))
    [event] = record(officer, anna, GIVEN, "marketing_email", policy_version="2027-01")
    assert event.policy_version == "2027-01"
    [event] = record(officer, anna, GIVEN, "marketing_sms")
    assert event.policy_version == "2026-01"  # the one in effect


# -------------------------------------------------------------- history
def test_the_history_pages_oldest_first_and_no_later_call_changes_a_past_event(
    officer: Caller, auditor: Caller, clock: FixedClock
) -> None:
    anna = person(officer)
    record(officer, anna, GIVEN, "marketing_email", "marketing_sms", evidence="form 1")
    clock.advance(days=1)
    record(officer, anna, WITHDRAWN, "marketing_sms", evidence="reply to mailing")
    clock.advance(days=1)
    record(officer, anna, REFUSED, "customer_surveys")
    before = history(officer, anna, page_size=2)
    assert [(e.purpose, e.status) for e in before] == [
        ("marketing_email", GIVEN),
        ("marketing_sms", GIVEN),
        ("marketing_sms", WITHDRAWN),
        ("customer_surveys", REFUSED),
    ]
    times = [e.time.ToDatetime(tzinfo=dt.UTC) for e in before]
    assert times == sorted(times)

    # Every call that could touch the history, then the history again.
    clock.advance(days=1)
    record(officer, anna, WITHDRAWN)
    record(officer, anna, GIVEN, "marketing_sms", evidence="form 2")
    publish(officer, "2027-01", clock.now().date(), "marketing_email")
    record(officer, anna, RENEWED, "marketing_sms")
    officer.consent.GetConsentState(pb.GetConsentStateRequest(subject=anna))
    after = history(auditor, anna, page_size=3)
    assert len(after) == len(before) + 3
    # The events of before, byte for byte, still first.
    assert [e.SerializeToString() for e in after[: len(before)]] == [
        e.SerializeToString() for e in before
    ]
    # One purpose's history alone, and one page of everything at once.
    only_sms = history(officer, anna, purpose="marketing_sms", page_size=1)
    assert [e.status for e in only_sms] == [GIVEN, WITHDRAWN, GIVEN, RENEWED]
    assert history(officer, anna, page_size=1000) == after
    # The API has no call that changes or deletes a consent event.
    service = pb.DESCRIPTOR.services_by_name["ConsentService"]
    # (Restrictions and objections are records of their own, lifted, never deleted.)
    assert [m.name for m in service.methods] == [
        "RecordConsent",
        "GetConsentState",
        "ListConsentEvents",
        "ExportConsentRecords",
        "RecordRestriction",
        "RecordObjection",
        "LiftProcessingLimit",
        "RecordOverridingGrounds",
        "StreamContactable",
    ]


def test_an_integrator_pages_through_all_of_its_own_systems_events_among_others(
    officer: Caller, website: Caller, clock: FixedClock
) -> None:
    anna = person(officer)
    # The model bank's events, which the website does not see, between its own.
    for status in (GIVEN, WITHDRAWN, GIVEN):
        record(officer, anna, status, "model_bank")
        record(officer, anna, status, "marketing_sms")
        clock.advance(minutes=1)
    for page_size in (1, 2, 3, 1000):
        assert [e.status for e in history(website, anna, page_size=page_size)] == [
            GIVEN,
            WITHDRAWN,
            GIVEN,
        ], page_size


def test_a_page_token_continues_only_its_own_listing(officer: Caller) -> None:
    anna, bo = person(officer), person(officer, "bo@example.se")
    record(officer, anna, GIVEN, "marketing_email", "marketing_sms", "marketing_post")
    first = officer.consent.ListConsentEvents(
        pb.ListConsentEventsRequest(subject=anna, page_size=1)
    )
    assert first.next_page_token
    for request in (
        pb.ListConsentEventsRequest(subject=bo, page_token=first.next_page_token),
        pb.ListConsentEventsRequest(
            subject=anna, purpose="marketing_sms", page_token=first.next_page_token
        ),
        pb.ListConsentEventsRequest(subject=anna, page_token="not a token"),
        pb.ListConsentEventsRequest(subject=anna, page_size=-1),
    ):
        code, reason, _ = refused(
            lambda request=request: officer.consent.ListConsentEvents(request)
        )
        assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, Reason.INVALID_FIELD), request


def test_a_request_id_answers_the_same_events_again_and_records_nothing_new(
    officer: Caller, clock: FixedClock
) -> None:
    anna = person(officer)
    first = record(officer, anna, GIVEN, "marketing_email", "marketing_sms", request_id="form-9")
    clock.advance(minutes=1)  # a retry a minute later is the same request
    again = record(officer, anna, GIVEN, "marketing_email", "marketing_sms", request_id="form-9")
    assert again == first
    assert len(history(officer, anna)) == 2
    # The same id for another request is refused, not answered with the first.
    assert refused(lambda: record(officer, anna, WITHDRAWN, request_id="form-9")) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        Reason.REQUEST_ID_REUSED,
        "request_id",
    )
    assert len(history(officer, anna)) == 2


# ------------------------------------------------------------- the roles
def test_the_auditor_reads_consent_but_records_and_exports_none(
    officer: Caller, auditor: Caller
) -> None:
    anna = person(officer)
    [given] = record(officer, anna, GIVEN, "marketing_email")
    assert standing(auditor, anna)["marketing_email"] == pb.CONSENT_STANDING_GIVEN
    assert history(auditor, anna) == [given]
    for call in (
        lambda: record(auditor, anna, WITHDRAWN, "marketing_email"),
        lambda: auditor.consent.ExportConsentRecords(pb.ExportConsentRecordsRequest(subject=anna)),
    ):
        assert refused(call)[:2] == (grpc.StatusCode.PERMISSION_DENIED, Reason.ROLE_NOT_ALLOWED)
    assert standing(officer, anna)["marketing_email"] == pb.CONSENT_STANDING_GIVEN


def test_the_export_holds_one_consent_record_for_each_event(
    officer: Caller, clock: FixedClock
) -> None:
    anna = person(officer)
    record(officer, anna, GIVEN, "marketing_email", "marketing_sms")
    clock.advance(days=1)
    record(officer, anna, WITHDRAWN, "marketing_sms")
    export = officer.consent.ExportConsentRecords(pb.ExportConsentRecordsRequest(subject=anna))
    assert export.media_type == "application/ld+json"
    assert export.record_count == 3
    document = json.loads(export.document)
    assert "@context" in json.dumps(document)


# --------------------------------------------------------------- erasure
def test_an_erased_persons_history_is_gone_and_the_trail_keeps_that_consent_was_recorded(
    officer: Caller, auditor: Caller, clock: FixedClock
) -> None:
    anna = person(officer)
    record(officer, anna, GIVEN, "marketing_email", "marketing_sms")
    clock.advance(days=2)
    record(officer, anna, WITHDRAWN, "marketing_sms")
    mine = auditor.audit.ListAuditEvents(
        pb.ListAuditEventsRequest(subject=anna, operation="record consent")
    ).events
    pseudonym = mine[0].subject_pseudonym
    assert pseudonym and len(mine) == 3

    erased = list(officer.subjects.EraseSubject(pb.EraseSubjectRequest(name=anna), timeout=30))
    assert erased[-1].request.state == pb.ERASURE_REQUEST_STATE_COMPLETED
    for read in (
        lambda: officer.consent.GetConsentState(pb.GetConsentStateRequest(subject=anna)),
        lambda: auditor.consent.ListConsentEvents(pb.ListConsentEventsRequest(subject=anna)),
        lambda: record(officer, anna, GIVEN, "marketing_email"),
    ):
        assert refused(read)[:2] == (grpc.StatusCode.FAILED_PRECONDITION, Reason.SUBJECT_ERASED)

    kept = [
        event
        for event in auditor.audit.ListAuditEvents(
            pb.ListAuditEventsRequest(operation="record consent", page_size=1000)
        ).events
        if event.subject_pseudonym == pseudonym and event.result == "ok"
    ]
    assert sorted((e.purpose, e.detail.split(" via ")[0]) for e in kept) == [
        ("marketing_email", "consent given"),
        ("marketing_sms", "consent given"),
        ("marketing_sms", "consent withdrawn"),
    ]
    assert all("anna" not in e.SerializeToString().decode("utf-8", "replace") for e in kept)


# ---------------------------------------------------------------- client
def test_the_client_records_reads_pages_and_exports_consent(
    client: VaultClient, server: RunningServer, clock: FixedClock
) -> None:
    anna = client.create_subject([Identity("email", "anna@example.se")]).name
    [given] = client.record_consent(
        anna, ["marketing_email"], "given", "web_form", evidence="form 3", request_id="c-1"
    )
    assert (given.purpose, given.status, given.channel) == ("marketing_email", "given", "web_form")
    assert given.time == START and given.expire_time is None
    again = client.record_consent(
        anna, ["marketing_email"], "given", "web_form", evidence="form 3", request_id="c-1"
    )
    assert again == [given]
    clock.advance(days=1)
    client.record_consent(anna, ["marketing_sms"], "given", "sms")
    withdrawn = client.recorded_consent(anna, [], "withdrawn", "email")
    # Both consents stood: each purpose's erasure request is named, to follow.
    assert [e.purpose for e in withdrawn.events] == ["marketing_email", "marketing_sms"]
    assert len(withdrawn.erasure_requests) == 2
    for name in withdrawn.erasure_requests:
        assert client.get_erasure_request(name).purpose in {"marketing_email", "marketing_sms"}
    state = {p.purpose: p for p in client.consent_state(anna)}
    assert state["marketing_email"].standing == "withdrawn"
    assert state["marketing_email"].latest is not None
    assert state["model_bank"].standing == "not_asked" and state["model_bank"].latest is None
    events = list(client.consent_history(anna, page_size=1))
    assert [(e.purpose, e.status) for e in events] == [
        ("marketing_email", "given"),
        ("marketing_sms", "given"),
        ("marketing_email", "withdrawn"),
        ("marketing_sms", "withdrawn"),
    ]
    assert events[0] == given
    assert [e.status for e in client.consent_history(anna, "marketing_sms")] == [
        "given",
        "withdrawn",
    ]
    export = client.export_consent_records(anna)
    assert (export.media_type, export.record_count) == ("application/ld+json", 4)
    json.loads(export.document)

    # An unknown word is the server's to refuse, naming the field.
    with pytest.raises(InvalidArgumentError) as raised:
        client.record_consent(anna, ["marketing_email"], "maybe", "web_form")
    assert raised.value.field == "status"
    with channel_to(server, Role.AUDITOR) as channel:
        auditor = VaultClient(timeout=10, channel=channel)
        assert len(list(auditor.consent_history(anna))) == 4
        with pytest.raises(PermissionDeniedError):
            auditor.record_consent(anna, ["marketing_email"], "given", "web_form")


def test_the_client_takes_the_words_the_cli_and_the_readme_use(client: VaultClient) -> None:
    anna = client.create_subject([Identity("email", "anna@example.se")]).name
    channels = {
        "web_form": ["web form", "Web-Form", "WEB_FORM", "webform"],
        "email": ["e-mail", "E-mail", "email", " EMAIL "],
        "in_person": ["in person", "In-Person", "in_person"],
        "phone": ["phone", "Phone"],
        "paper_form": ["paper form", "Paper-Form", "paper_form"],
        "sms": ["sms", "SMS"],
        "other": ["other", "Other"],
    }
    statuses = ["given", "GIVEN", "Given"]
    for code, words in channels.items():
        for n, word in enumerate(words):
            # One purpose as a plain str is that purpose, not its letters.
            [event] = client.record_consent(anna, "marketing_email", statuses[n % 3], word)
            assert (event.purpose, event.status, event.channel) == (
                "marketing_email",
                "given",
                code,
            ), word
    [event] = client.record_consent(anna, ("marketing_email",), "RENEWED", "e-mail")
    assert event.status == "renewed"
    [event] = client.record_consent(anna, "marketing_email", "Withdrawn", "in person")
    assert (event.status, event.channel) == ("withdrawn", "in_person")


def test_an_unknown_status_or_channel_is_refused_with_the_words_the_server_takes(
    officer: Caller, client: VaultClient
) -> None:
    anna = person(officer)
    for field, change in (
        ("status", {"status": pb.CONSENT_STATUS_UNSPECIFIED}),
        ("status", {"status": 99}),
        ("channel", {"channel": pb.CONSENT_CHANNEL_UNSPECIFIED}),
        ("channel", {"channel": 42}),
    ):
        asked: dict[str, Any] = {"status": GIVEN, "channel": pb.CONSENT_CHANNEL_WEB_FORM, **change}
        request = pb.RecordConsentRequest(subject=anna, purposes=["marketing_email"], **asked)
        with pytest.raises(grpc.RpcError) as raised:
            officer.consent.RecordConsent(request)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error_info(raised.value).metadata["field"] == field
        # The enum's names without its prefix, lower case, as the client takes them.
        words = [
            name.removeprefix(f"CONSENT_{field.upper()}_").lower()
            for name in getattr(pb, f"Consent{field.title()}").keys()[1:]
        ]
        assert raised.value.details() == (
            f"{field}: must be one of {', '.join(words[:-1])} or {words[-1]}"
        ), change
    assert "web_form, email, in_person, phone, paper_form, sms or other" in str(
        raised.value.details()
    )
    # Through the client: a word it does not take is the server's to refuse, in those words.
    nobody = client.create_subject([Identity("email", "bo@example.se")]).name
    with pytest.raises(InvalidArgumentError) as refused_word:
        client.record_consent(nobody, "marketing_email", "given", "pigeon")
    assert refused_word.value.field == "channel"
    assert "web_form, email, in_person" in str(refused_word.value)
