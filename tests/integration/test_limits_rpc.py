"""Restrictions and objections over real gRPC, on both engines, with the
test's clock: RecordRestriction, RecordObjection, LiftProcessingLimit and
RecordOverridingGrounds, each answer and what GetConsentState shows after it;
the reads a limit stops and lets go again; every refusal a precise status
and reason (a malformed name, an unknown one, a limit lifted already, an
objection to direct marketing, a purpose no one may object to, another
system's); a request id that answers again, copies sent at once included; a
protected identity's reasons for the auditor; erasure; and the Python
client's methods."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest

from tests.callers import Caller
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
from vault_client import FailedPreconditionError, NotFoundError, VaultClient

WEBSITE_PURPOSES = frozenset(
    {"marketing_email", "marketing_sms", "customer_surveys", "course_application"}
)
SETTINGS = ServerSettings(
    address="127.0.0.1:0",
    access=dataclasses.replace(UNLIMITED, purposes={"website": WEBSITE_PURPOSES}),
)
RESTRICTION = pb.PROCESSING_LIMIT_KIND_RESTRICTION
OBJECTION = pb.PROCESSING_LIMIT_KIND_OBJECTION
NOBODY = "subjects/0123456789abcdef0123456789abcdef"


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


def person(officer: Caller, address: str = "anna@example.se", protected: bool = False) -> str:
    request = pb.CreateSubjectRequest(identities=[email(address)], protected_identity=protected)
    return str(officer.subjects.CreateSubject(request).subject.name)


def restrict(caller: Caller, subject: str, *purposes: str, **more: Any) -> pb.ProcessingLimit:
    request = pb.RecordRestrictionRequest(
        subject=subject, purposes=purposes, reason=more.pop("reason", "accuracy contested"), **more
    )
    return caller.consent.RecordRestriction(request).restriction


def object_to(caller: Caller, subject: str, *purposes: str, **more: Any) -> pb.ProcessingLimit:
    request = pb.RecordObjectionRequest(
        subject=subject, purposes=purposes, reason=more.pop("reason", "letter"), **more
    )
    return caller.consent.RecordObjection(request).objection


def lift(caller: Caller, name: str, reason: str = "settled", **more: Any) -> pb.ProcessingLimit:
    request = pb.LiftProcessingLimitRequest(name=name, reason=reason, **more)
    return caller.consent.LiftProcessingLimit(request).limit


def override(caller: Caller, name: str, reason: str = "grounds") -> pb.ProcessingLimit:
    request = pb.RecordOverridingGroundsRequest(name=name, reason=reason)
    return caller.consent.RecordOverridingGrounds(request).objection


def limits(caller: Caller, subject: str) -> list[pb.ProcessingLimit]:
    return list(caller.consent.GetConsentState(pb.GetConsentStateRequest(subject=subject)).limits)


def refused(call: Callable[[], Any]) -> tuple[grpc.StatusCode, str, str]:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    info = error_info(raised.value)
    return raised.value.code(), info.reason, info.metadata.get("field", "")


def test_a_restriction_is_answered_and_shown_in_the_consent_state(
    officer: Caller, clock: FixedClock
) -> None:
    anna = person(officer)
    limit = restrict(officer, anna, "statistics", "marketing_email", reason=" contested ")
    assert limit.name.startswith(f"{anna}/restrictions/") and len(limit.name) <= 76
    assert (limit.kind, list(limit.purposes)) == (RESTRICTION, ["statistics", "marketing_email"])
    assert (limit.reason, limit.in_effect) == ("contested", True)
    assert limit.record_time.ToDatetime(tzinfo=clock.now().tzinfo) == clock.now()
    assert limit.recorded_by and not limit.HasField("lift_time")
    assert limits(officer, anna) == [limit]
    # The standing per purpose is answered beside them, as before.
    state = officer.consent.GetConsentState(pb.GetConsentStateRequest(subject=anna))
    assert {p.purpose for p in state.purposes} >= {"marketing_email", "model_bank"}


def test_limits_stop_the_reads_for_their_purposes_until_lifted_or_overridden(
    officer: Caller, clock: FixedClock
) -> None:
    anna = person(officer)
    held = pb.Record(
        category="contact",
        purpose="statistics",
        legal_basis=pb.LEGAL_BASIS_LEGITIMATE_INTEREST,
        source_system="vault",
    )
    held.fields.update({"city": "Malmö"})
    record = officer.records.CreateRecord(pb.CreateRecordRequest(parent=anna, record=held)).record

    def read() -> pb.Record:
        request = pb.GetRecordRequest(name=record.name, purpose="statistics")
        return officer.records.GetRecord(request).record

    assert read().fields["city"] == "Malmö"
    restriction = restrict(officer, anna)
    code, reason, _ = refused(read)
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, Reason.RESTRICTED)
    # The person's own request is answered whatever they restricted.
    assert officer.records.GetRecord(pb.GetRecordRequest(name=record.name)).record.name
    clock.advance(days=1)
    lifted = lift(officer, restriction.name, "the address was corrected")
    assert (lifted.in_effect, lifted.lift_reason) == (False, "the address was corrected")
    assert lifted.lift_time.ToDatetime(tzinfo=clock.now().tzinfo) == clock.now()
    assert read().name == record.name

    objection = object_to(officer, anna, "statistics")
    code, reason, _ = refused(read)
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, Reason.OBJECTED)
    overridden = override(officer, objection.name, "the authority's statistics need it")
    assert (overridden.in_effect, overridden.override_reason) == (
        False,
        "the authority's statistics need it",
    )
    assert overridden.HasField("override_time") and overridden.overridden_by
    assert read().name == record.name
    assert [limit.in_effect for limit in limits(officer, anna)] == [False, False]


def test_each_refusal_has_its_status_and_reason(officer: Caller, website: Caller) -> None:
    anna = person(officer)
    restriction = restrict(officer, anna)
    marketing = object_to(officer, anna, "alumni_offers", "statistics")
    invalid, failed = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION
    not_found = grpc.StatusCode.NOT_FOUND
    cases: list[tuple[Callable[[], Any], tuple[grpc.StatusCode, str, str]]] = [
        (lambda: lift(officer, f"{anna}/limits/abc"), (invalid, Reason.INVALID_FIELD, "name")),
        (lambda: lift(officer, "restrictions/abc"), (invalid, Reason.INVALID_FIELD, "name")),
        (
            lambda: lift(officer, f"{anna}/restrictions/ABC"),
            (invalid, Reason.INVALID_FIELD, "name"),
        ),
        (
            lambda: lift(officer, f"{anna}/restrictions/{'0' * 16}"),
            (not_found, Reason.PROCESSING_LIMIT_NOT_FOUND, ""),
        ),
        # A restriction's id named as an objection is no objection.
        (
            lambda: lift(officer, restriction.name.replace("/restrictions/", "/objections/")),
            (not_found, Reason.PROCESSING_LIMIT_NOT_FOUND, ""),
        ),
        (
            lambda: lift(officer, f"{NOBODY}/restrictions/{'0' * 16}"),
            (not_found, Reason.SUBJECT_NOT_FOUND, "name"),
        ),
        (lambda: lift(officer, restriction.name, ""), (invalid, Reason.INVALID_FIELD, "reason")),
        (
            lambda: override(officer, restriction.name),
            (invalid, Reason.INVALID_FIELD, "name"),
        ),
        (
            lambda: override(officer, marketing.name),
            (failed, Reason.OBJECTION_ABSOLUTE, ""),
        ),
        (
            lambda: object_to(officer, anna, "billing"),
            (invalid, Reason.INVALID_FIELD, "purposes[0]"),
        ),
        (lambda: object_to(officer, anna), (invalid, Reason.INVALID_FIELD, "purposes")),
        (
            lambda: restrict(officer, anna, "astrology"),
            (invalid, Reason.INVALID_FIELD, "purposes[0]"),
        ),
        # Reads for rights requests skip every limit: naming it would stop nothing.
        (
            lambda: restrict(officer, anna, "statistics", "rights_requests"),
            (invalid, Reason.INVALID_FIELD, "purposes[1]"),
        ),
        (
            lambda: object_to(officer, anna, "rights_requests"),
            (invalid, Reason.INVALID_FIELD, "purposes[0]"),
        ),
        (
            lambda: restrict(officer, anna, reason="two\nlines"),
            (invalid, Reason.INVALID_FIELD, "reason"),
        ),
        (
            lambda: object_to(website, anna, "marketing_email", "alumni_offers"),
            (grpc.StatusCode.PERMISSION_DENIED, Reason.PURPOSE_NOT_ALLOWED, "purposes[1]"),
        ),
        (
            lambda: restrict(website, anna, "marketing_email"),
            (grpc.StatusCode.PERMISSION_DENIED, Reason.ROLE_NOT_ALLOWED, ""),
        ),
        (lambda: restrict(officer, NOBODY), (not_found, Reason.SUBJECT_NOT_FOUND, "subject")),
    ]
    for call, expected in cases:
        assert refused(call) == expected
    lift(officer, restriction.name)
    assert refused(lambda: lift(officer, restriction.name)) == (
        failed,
        Reason.ALREADY_LIFTED,
        "",
    )
    # Nothing refused was recorded.
    assert len(limits(officer, anna)) == 2


def test_a_source_system_records_an_objection_for_its_own_purposes(
    officer: Caller, website: Caller
) -> None:
    anna = person(officer)
    unsubscribed = object_to(website, anna, "marketing_email", reason="unsubscribe link, mail 17")
    assert unsubscribed.recorded_by != "" and unsubscribed.in_effect
    assert [limit.name for limit in limits(website, anna)] == [unsubscribed.name]
    # An objection to another system's purpose is not the website's to read.
    object_to(officer, anna, "statistics")
    assert [limit.name for limit in limits(website, anna)] == [unsubscribed.name]
    assert len(limits(officer, anna)) == 2


def test_a_request_id_applies_once(officer: Caller) -> None:
    anna = person(officer)
    first = object_to(officer, anna, "statistics", request_id="object-anna")
    again = object_to(officer, anna, "statistics", request_id="object-anna")
    assert again == first and len(limits(officer, anna)) == 1
    code, reason, _ = refused(
        lambda: object_to(officer, anna, "statistics", reason="other", request_id="object-anna")
    )
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, Reason.REQUEST_ID_REUSED)
    lifted = lift(officer, first.name, request_id="lift-anna")
    assert lift(officer, first.name, request_id="lift-anna") == lifted


def test_copies_of_one_lift_sent_at_once_are_each_answered_as_the_first(
    running: RunningServer, officer: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    anna = person(officer)
    objection = object_to(officer, anna, "alumni_offers", reason="no offers")
    copies = 8  # the server's blocking pool: each copy on a thread of its own
    # Every copy looks the request id up before any of them commits.
    barrier = threading.Barrier(copies, timeout=30)
    looked = threading.local()
    replay = running.vault.limits.replay
    replayed = replay.replayed

    def looked_up_together(*args: Any) -> Any:
        found = replayed(*args)
        if not getattr(looked, "once", False):
            looked.once = True
            barrier.wait()
        return found

    monkeypatch.setattr(replay, "replayed", looked_up_together)

    def withdrawn(_: int) -> pb.ProcessingLimit:
        return lift(officer, objection.name, "her letter", request_id="withdraw-anna")

    with ThreadPoolExecutor(copies) as pool:
        answers = list(pool.map(withdrawn, range(copies)))
    assert all(answer == answers[0] for answer in answers)
    assert not answers[0].in_effect and answers[0].lift_reason == "her letter"
    assert limits(officer, anna) == [answers[0]]


def test_the_auditor_reads_a_protected_identitys_limits_without_their_reasons(
    officer: Caller, auditor: Caller
) -> None:
    hidden = person(officer, "hidden@example.se", protected=True)
    restrict(officer, hidden, reason="a court case about the person")
    [shown] = limits(auditor, hidden)
    assert "court" not in shown.reason and shown.reason and shown.in_effect
    assert limits(officer, hidden)[0].reason == "a court case about the person"


def test_erasure_takes_the_limits(running: RunningServer, officer: Caller) -> None:
    anna = person(officer)
    restrict(officer, anna)
    object_to(officer, anna, "statistics")
    list(officer.subjects.EraseSubject(pb.EraseSubjectRequest(name=anna), timeout=30))
    assert running.vault.records.consents.limits(anna.removeprefix("subjects/")) == []
    code, reason, _ = refused(lambda: limits(officer, anna))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, Reason.SUBJECT_ERASED)


def test_the_python_client_records_lifts_and_overrides(running: RunningServer) -> None:
    with channel_to(running, Role.PRIVACY_OFFICER) as channel:
        client = VaultClient(timeout=10, channel=channel)
        anna = person(Caller(channel))
        restriction = client.record_restriction(anna, [], "accuracy contested")
        assert (restriction.kind, restriction.purposes, restriction.in_effect) == (
            "restriction",
            [],
            True,
        )
        objection = client.record_objection(anna, "statistics", "letter")
        assert (objection.kind, objection.purposes) == ("objection", ["statistics"])
        lifted = client.lift_processing_limit(restriction.name, "corrected")
        assert lifted.lift_time is not None and lifted.lift_reason == "corrected"
        overridden = client.record_overriding_grounds(objection.name, "reporting duty")
        assert overridden.override_time is not None and not overridden.in_effect
        states, found = client.consent_state_and_limits(anna)
        assert states and found == [lifted, overridden]
        assert client.processing_limits(anna) == found
        with pytest.raises(FailedPreconditionError) as again:
            client.lift_processing_limit(restriction.name, "again")
        assert again.value.reason == "ALREADY_LIFTED"
        with pytest.raises(NotFoundError):
            client.lift_processing_limit(f"{anna}/objections/{'0' * 16}", "gone")
