"""The PolicyService over real gRPC, on both engines, with the test's clock:
the configured purposes as the API lists them; policy versions published once,
in the order they take effect; and a material change marking exactly the
consents given under an older version for the purpose it changed, from its
effective date on, listed page by page and streamed, while a change that is
not material marks none and a new consent clears the mark. The Python
client's policy methods too."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest

from tests.callers import Caller
from tests.conftest import START
from tests.helpers import email, error_info
from tests.serving import UNLIMITED, channel_to, served
from vault.core.actor import Role
from vault.core.audit.events import Operation
from vault.core.audit.store import AuditQuery
from vault.core.clock import FixedClock
from vault.core.errors import Reason
from vault.core.vault import Vault
from vault.runtime import build_services
from vault.server.app import RunningServer
from vault.settings import ServerSettings
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc
from vault_client import AlreadyExistsError, Identity, VaultClient

SETTINGS = ServerSettings(
    address="127.0.0.1:0",
    access=dataclasses.replace(
        UNLIMITED,
        purposes={"website": frozenset({"marketing_email", "marketing_sms", "customer_surveys"})},
    ),
)
TODAY = START.date()
FIRST = "2026-01"  # in effect since New Year, before the tests' today
GIVEN = pb.CONSENT_STATUS_GIVEN
RECONSENT = pb.CONSENT_STANDING_RECONSENT_NEEDED


@pytest.fixture
def running(vault: Vault, engine: str | None) -> Iterator[RunningServer]:
    with served(build_services(vault, stores_embedded=engine is None), SETTINGS) as server:
        yield server


@pytest.fixture
def officer(running: RunningServer) -> Iterator[Caller]:
    with channel_to(running, Role.PRIVACY_OFFICER) as channel:
        yield Caller(channel)


def caller(running: RunningServer, role: Role, system: str = "") -> Any:
    return channel_to(running, role, system)


def refused(call: Callable[[], Any]) -> tuple[grpc.StatusCode, str, str]:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    info = error_info(raised.value)
    return raised.value.code(), info.reason, info.metadata.get("field", "")


def publish(
    officer: Caller, version: str, effective: dt.date, *changed: str, **more: Any
) -> pb.PolicyVersion:
    more.setdefault("text", f"The school's privacy policy, version {version}.")
    request = pb.PublishPolicyVersionRequest(
        version=version, effective_date=effective.isoformat(), changed_purposes=changed, **more
    )
    return officer.policy.PublishPolicyVersion(request).version


def person(officer: Caller, address: str, *given: str) -> str:
    """A new person who gave consent for `given` just now."""
    request = pb.CreateSubjectRequest(identities=[email(address)])
    name = str(officer.subjects.CreateSubject(request).subject.name)
    if given:
        officer.consent.RecordConsent(
            pb.RecordConsentRequest(
                subject=name, purposes=given, status=GIVEN, channel=pb.CONSENT_CHANNEL_WEB_FORM
            )
        )
    return name


def standing(officer: Caller, subject: str) -> dict[str, Any]:
    state = officer.consent.GetConsentState(pb.GetConsentStateRequest(subject=subject))
    return {p.purpose: p for p in state.purposes}


def listed(policy: pb_grpc.PolicyServiceStub, purpose: str = "", page_size: int = 1) -> list[Any]:
    """Everyone ListReconsentNeeded names, page by page."""
    request = pb.ListReconsentNeededRequest(purpose=purpose, page_size=page_size)
    people = []
    while True:
        page = policy.ListReconsentNeeded(request)
        assert len(page.people) <= page_size
        people += page.people
        if not page.next_page_token:
            return people
        request.page_token = page.next_page_token


def streamed(policy: pb_grpc.PolicyServiceStub, purpose: str = "") -> list[Any]:
    request = pb.StreamReconsentNeededRequest(purpose=purpose)
    return [message.person for message in policy.StreamReconsentNeeded(request, timeout=30)]


def who(people: list[Any]) -> list[tuple[str, str]]:
    return [(p.subject, p.purpose) for p in people]


# ------------------------------------------------------------- purposes
def test_every_role_lists_the_configured_purposes_and_the_listing_is_audited(
    running: RunningServer,
) -> None:
    vault = running.vault
    expected = [p.name for p in vault.purposes]
    for role, system in (
        (Role.INTEGRATOR, "website"),
        (Role.PRIVACY_OFFICER, ""),
        (Role.AUDITOR, ""),
        (Role.ADMIN, ""),
    ):
        with caller(running, role, system) as channel:
            before = vault.records.audit.query(AuditQuery(limit=1_000_000))
            answer = pb_grpc.PolicyServiceStub(channel).ListPurposes(pb.ListPurposesRequest())
            after = vault.records.audit.query(AuditQuery(limit=1_000_000))
        # Every purpose, by name, whoever asks: configuration, no one's data.
        assert [p.name for p in answer.purposes] == expected, role
        [event] = after[len(before) :]
        assert (event.operation, event.actor.startswith("test")) == (
            Operation.LIST_PURPOSES,
            True,
        )
    by_name = {p.name: p for p in answer.purposes}
    email_ = by_name["marketing_email"]
    assert email_.legal_basis == pb.LEGAL_BASIS_CONSENT
    assert set(email_.description) == {"sv", "en"} and email_.material_changes
    assert "website" in email_.systems and email_.categories
    assert not by_name["customer_surveys"].material_changes
    assert by_name["bookkeeping"].legal_basis == pb.LEGAL_BASIS_LEGAL_OBLIGATION
    configured = vault.purposes.get("bookkeeping")
    assert configured is not None
    assert list(by_name["bookkeeping"].compatible_purposes) == list(configured.compatible_with)


# ------------------------------------------------------------- versions
def test_a_version_is_published_once_and_versions_take_effect_in_order(
    officer: Caller, running: RunningServer
) -> None:
    first = publish(officer, FIRST, dt.date(2026, 1, 1), summary="The first version.")
    assert (first.version, first.effective_date, first.summary) == (
        FIRST,
        "2026-01-01",
        "The first version.",
    )
    assert first.publish_time.ToDatetime(tzinfo=dt.UTC) == START
    assert "test privacy_officer" in first.published_by and len(first.text_sha256) == 64
    assert refused(lambda: publish(officer, FIRST, dt.date(2026, 2, 1))) == (
        grpc.StatusCode.ALREADY_EXISTS,
        Reason.POLICY_VERSION_EXISTS,
        "",
    )
    assert refused(lambda: publish(officer, "2025-12", dt.date(2025, 12, 1))) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        Reason.INVALID_FIELD,
        "effective_date",
    )
    for bad in ("", "2026-13-01", "2026-02-30", "20260301", "2026-W09-7", "1 March 2026"):
        request = pb.PublishPolicyVersionRequest(version="2026-03", effective_date=bad, text="x")
        assert refused(lambda request=request: officer.policy.PublishPolicyVersion(request)) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            Reason.INVALID_FIELD,
            "effective_date",
        ), bad
    second = publish(
        officer,
        "2026-03",
        dt.date(2026, 3, 1),
        text_sha256="0" * 64,
        url="https://example.se/policy/2026-03",
        text="",
    )
    assert (second.text, second.url) == ("", "https://example.se/policy/2026-03")
    listed_versions = officer.policy.ListPolicyVersions(pb.ListPolicyVersionsRequest()).versions
    assert list(listed_versions) == [first, second]
    # Anyone may read them; only the privacy officer publishes.
    for role, system in ((Role.INTEGRATOR, "website"), (Role.AUDITOR, ""), (Role.ADMIN, "")):
        with caller(running, role, system) as channel:
            stub = pb_grpc.PolicyServiceStub(channel)
            assert list(stub.ListPolicyVersions(pb.ListPolicyVersionsRequest()).versions) == [
                first,
                second,
            ]
            code, reason, _ = refused(
                lambda stub=stub: stub.PublishPolicyVersion(
                    pb.PublishPolicyVersionRequest(
                        version="2026-04", effective_date="2026-04-01", text="x"
                    )
                )
            )
            assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, Reason.ROLE_NOT_ALLOWED)


def test_a_publish_retried_with_its_request_id_answers_the_same_version(
    officer: Caller, clock: FixedClock
) -> None:
    first = publish(officer, FIRST, dt.date(2026, 1, 1), request_id="policy-1")
    clock.advance(minutes=1)
    assert publish(officer, FIRST, dt.date(2026, 1, 1), request_id="policy-1") == first
    versions = officer.policy.ListPolicyVersions(pb.ListPolicyVersionsRequest()).versions
    assert len(versions) == 1
    assert refused(lambda: publish(officer, "2026-02", TODAY, request_id="policy-1"))[:2] == (
        grpc.StatusCode.INVALID_ARGUMENT,
        Reason.REQUEST_ID_REUSED,
    )


# ------------------------------------------------------ re-consent needed
def test_a_material_change_marks_exactly_those_given_under_an_older_version_from_its_day_on(
    officer: Caller, running: RunningServer, clock: FixedClock
) -> None:
    publish(officer, FIRST, dt.date(2026, 1, 1))
    anna = person(officer, "anna@example.se", "marketing_email", "marketing_sms")
    bo = person(officer, "bo@example.se", "marketing_email")
    cecilia = person(officer, "cecilia@example.se", "marketing_sms")
    dag = person(officer, "dag@example.se", "marketing_email")
    officer.consent.RecordConsent(
        pb.RecordConsentRequest(
            subject=dag,
            purposes=["marketing_email"],
            status=pb.CONSENT_STATUS_WITHDRAWN,
            channel=pb.CONSENT_CHANNEL_EMAIL,
        )
    )
    effective = TODAY + dt.timedelta(days=10)
    version = publish(officer, "2027-01", effective, "marketing_email")
    assert list(version.material_purposes) == ["marketing_email"]

    # Published, not yet in effect: nobody must consent again.
    assert standing(officer, anna)["marketing_email"].standing == pb.CONSENT_STANDING_GIVEN
    assert listed(officer.policy) == [] and streamed(officer.policy) == []

    clock.advance(days=10)
    marked = sorted([(anna, "marketing_email"), (bo, "marketing_email")])
    assert sorted(who(listed(officer.policy))) == marked
    assert sorted(who(streamed(officer.policy))) == marked
    assert sorted(who(listed(officer.policy, "marketing_email", page_size=1000))) == marked
    assert listed(officer.policy, "marketing_sms") == []
    [first, *_] = listed(officer.policy)
    assert (first.given_under_version, first.changed_by_version) == (FIRST, "2027-01")
    assert first.consent_time.ToDatetime(tzinfo=dt.UTC) == START

    annas = standing(officer, anna)
    assert annas["marketing_email"].standing == RECONSENT
    assert annas["marketing_email"].changed_by_version == "2027-01"
    assert annas["marketing_email"].latest.policy_version == FIRST
    assert annas["marketing_sms"].standing == pb.CONSENT_STANDING_GIVEN
    assert standing(officer, bo)["marketing_email"].standing == RECONSENT
    assert standing(officer, cecilia)["marketing_sms"].standing == pb.CONSENT_STANDING_GIVEN
    assert standing(officer, dag)["marketing_email"].standing == pb.CONSENT_STANDING_WITHDRAWN

    # Anna consents again: under the version now in effect, and the mark goes.
    [again] = officer.consent.RecordConsent(
        pb.RecordConsentRequest(
            subject=anna,
            purposes=["marketing_email"],
            status=GIVEN,
            channel=pb.CONSENT_CHANNEL_WEB_FORM,
        )
    ).events
    assert again.policy_version == "2027-01"
    assert standing(officer, anna)["marketing_email"].standing == pb.CONSENT_STANDING_GIVEN
    assert who(listed(officer.policy)) == [(bo, "marketing_email")]
    assert who(streamed(officer.policy)) == [(bo, "marketing_email")]

    # The website's integrator and the auditor read the same list; the
    # website for its own purposes only.
    for role, system in ((Role.INTEGRATOR, "website"), (Role.AUDITOR, "")):
        with caller(running, role, system) as channel:
            stub = pb_grpc.PolicyServiceStub(channel)
            assert who(listed(stub)) == [(bo, "marketing_email")]
            assert who(streamed(stub)) == [(bo, "marketing_email")]
    with caller(running, Role.INTEGRATOR, "website") as channel:
        stub = pb_grpc.PolicyServiceStub(channel)
        assert refused(
            lambda: stub.ListReconsentNeeded(pb.ListReconsentNeededRequest(purpose="model_bank"))
        ) == (grpc.StatusCode.PERMISSION_DENIED, Reason.PURPOSE_NOT_ALLOWED, "purpose")


def test_a_change_that_is_not_material_marks_no_one(officer: Caller, clock: FixedClock) -> None:
    publish(officer, FIRST, dt.date(2026, 1, 1))
    anna = person(officer, "anna@example.se", "customer_surveys", "marketing_email")
    # customer_surveys' configuration says a change to it is not material.
    version = publish(officer, "2026-12", TODAY, "customer_surveys")
    assert (list(version.changed_purposes), list(version.material_purposes)) == (
        ["customer_surveys"],
        [],
    )
    clock.advance(days=1)
    now = standing(officer, anna)
    assert now["customer_surveys"].standing == pb.CONSENT_STANDING_GIVEN
    assert now["marketing_email"].standing == pb.CONSENT_STANDING_GIVEN
    assert listed(officer.policy) == [] and streamed(officer.policy) == []
    # Named as material by the version, the same change marks her.
    publish(
        officer, "2027-01", TODAY + dt.timedelta(days=1), material_purposes=["customer_surveys"]
    )
    assert who(listed(officer.policy)) == [(anna, "customer_surveys")]
    assert standing(officer, anna)["customer_surveys"].standing == RECONSENT


def test_the_lists_refuse_what_they_cannot_answer(officer: Caller) -> None:
    for request in (
        pb.ListReconsentNeededRequest(purpose="horoscopes"),
        pb.ListReconsentNeededRequest(page_size=1001),
        pb.ListReconsentNeededRequest(page_token="not a token"),
    ):
        code, reason, _ = refused(
            lambda request=request: officer.policy.ListReconsentNeeded(request)
        )
        assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, Reason.INVALID_FIELD), request
    assert refused(lambda: streamed(officer.policy, "horoscopes")) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        Reason.INVALID_FIELD,
        "purpose",
    )


# ---------------------------------------------------------------- client
def test_the_client_publishes_lists_and_streams(client: VaultClient, clock: FixedClock) -> None:
    purposes = {p.name: p for p in client.list_purposes()}
    assert purposes["marketing_email"].legal_basis == "consent"
    assert purposes["bookkeeping"].legal_basis == "legal_obligation"
    assert not purposes["customer_surveys"].material_changes

    first = client.publish_policy(FIRST, dt.date(2026, 1, 1), text="Version one.")
    assert (first.version, first.effective_date, first.publish_time) == (
        FIRST,
        dt.date(2026, 1, 1),
        START,
    )
    with pytest.raises(AlreadyExistsError) as raised:
        client.publish_policy(FIRST, dt.date(2026, 1, 1), text="Version one, again.")
    assert raised.value.reason == "POLICY_VERSION_EXISTS"

    names = []
    for number in range(3):
        anna = client.create_subject([Identity("email", f"p{number}@example.se")]).name
        client.record_consent(anna, ["marketing_email"], "given", "web_form")
        names.append(anna)
    second = client.publish_policy(
        "2027-01",
        TODAY,
        text_sha256="ab" * 32,
        url="https://example.se/policy",
        changed_purposes=["marketing_email"],
        summary="E-mail marketing now includes partner offers.",
    )
    assert second.material_purposes == ["marketing_email"]
    assert client.policy_versions() == [first, second]
    paged = list(client.reconsent_needed(page_size=2))
    assert sorted(p.subject for p in paged) == sorted(names)
    assert {(p.given_under_version, p.changed_by_version) for p in paged} == {(FIRST, "2027-01")}
    assert list(client.stream_reconsent_needed("marketing_email")) == paged
    assert list(client.reconsent_needed("marketing_sms")) == []
    state = {p.purpose: p for p in client.consent_state(names[0])}
    assert state["marketing_email"].standing == "reconsent_needed"
    assert state["marketing_email"].changed_by_version == "2027-01"


def test_no_one_who_objected_or_is_restricted_is_asked_to_consent_again(
    officer: Caller, clock: FixedClock
) -> None:
    publish(officer, FIRST, dt.date(2026, 1, 1))
    anna = person(officer, "anna@example.se", "marketing_email", "marketing_sms")
    bo = person(officer, "bo@example.se", "marketing_email")
    cecilia = person(officer, "cecilia@example.se", "marketing_email")
    # Anna objected to marketing e-mail (direct marketing: absolute); Bo's
    # processing is restricted for every purpose; Cecilia said nothing more.
    officer.consent.RecordObjection(
        pb.RecordObjectionRequest(subject=anna, purposes=["marketing_email"], reason="by phone")
    )
    restriction = officer.consent.RecordRestriction(
        pb.RecordRestrictionRequest(subject=bo, reason="accuracy contested")
    ).restriction
    publish(officer, "2027-01", TODAY, "marketing_email", "marketing_sms")
    assert sorted(who(listed(officer.policy))) == sorted(
        [(anna, "marketing_sms"), (cecilia, "marketing_email")]
    )
    assert sorted(who(streamed(officer.policy))) == sorted(
        [(anna, "marketing_sms"), (cecilia, "marketing_email")]
    )
    # Lifted, Bo is asked again.
    officer.consent.LiftProcessingLimit(
        pb.LiftProcessingLimitRequest(name=restriction.name, reason="accuracy checked")
    )
    assert (bo, "marketing_email") in who(listed(officer.policy))
