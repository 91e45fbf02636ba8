"""Withdrawal that acts, over gRPC on both engines, with the test's clock:
withdrawing consent for a purpose shreds the person's records held for it
before the call answers, and leaves those of the same category held on a
contract or a legal obligation readable; the systems that hold data for it
are told (the salon, which declares it can be) or a person is asked (the
Facebook group, which does not), each outcome on its step of an erasure
request of scope PURPOSE; a crash after the commit is finished by a worker,
a retried request id answers with the same request, and a connector that
declares the capability without its method is refused at start-up."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.connectors.test_salon_identities import SalonDatabase
from tests.connectors.test_salon_withdrawal import with_newsletter
from tests.helpers import email, record
from tests.serving import channel_to, served
from vault import __version__
from vault.connectors import (
    Capability,
    Connector,
    HeldCategory,
    Holdings,
    LegalBasis,
)
from vault.connectors.registry import ConfigError, ConnectorRegistry
from vault.core import faults
from vault.core.clock import FixedClock
from vault.core.erasure import ErasureSettings
from vault.core.vault import Vault
from vault.plugins import hookimpl
from vault.plugins.host import VaultHost
from vault.plugins.manager import make_plugin_manager
from vault.runtime import build_services
from vault.server.app import RunningServer
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc
from vault_standins import demo as standins
from vault_standins.people import DEMO_PEOPLE

ANNA, BO, CECILIA = DEMO_PEOPLE
GIVEN, WITHDRAWN = pb.CONSENT_STATUS_GIVEN, pb.CONSENT_STATUS_WITHDRAWN
# The same category held for a purpose on each of three bases.
HELD = [
    ("marketing_email", pb.LEGAL_BASIS_CONSENT, "vault"),
    ("billing", pb.LEGAL_BASIS_CONTRACT, "accounting"),
    ("bookkeeping", pb.LEGAL_BASIS_LEGAL_OBLIGATION, "accounting"),
]


class Stubs:
    def __init__(self, channel: grpc.Channel) -> None:
        self.subjects = pb_grpc.SubjectServiceStub(channel)
        self.records = pb_grpc.RecordServiceStub(channel)
        self.consent = pb_grpc.ConsentServiceStub(channel)
        self.erasure = pb_grpc.ErasureServiceStub(channel)
        self.connectors = pb_grpc.ConnectorServiceStub(channel)


@pytest.fixture
def salon_sections(systems: standins.DemoSystems) -> dict[str, Any]:
    """The stand-ins' sections, the salon's with a newsletter sent on consent."""
    path = systems.salon_db
    database = SalonDatabase(
        f"sqlite:///{path}", "public", lambda: closing(sqlite3.connect(path)), "?"
    )
    return {**systems.sections, "salon": with_newsletter(database)}


@pytest.fixture
def server(
    vault: Vault, systems: standins.DemoSystems, salon_sections: dict[str, Any], tmp_path: Path
) -> Iterator[RunningServer]:
    registry = ConnectorRegistry.load(
        salon_sections,
        make_plugin_manager(),
        VaultHost(__version__),
        tmp_path,
        systems.environ,  # type: ignore[attr-defined]
    )
    services = build_services(
        vault,
        registry,
        ErasureSettings(call_timeout_seconds=5, backoff_base_seconds=0.05, max_attempts=3),
    )
    try:
        with served(services) as running:
            yield running
    finally:
        registry.close()


@pytest.fixture
def stubs(server: RunningServer) -> Iterator[Stubs]:
    with channel_to(server) as channel:
        yield Stubs(channel)


def person(stubs: Stubs, *identities: pb.Identity) -> tuple[str, dict[str, str]]:
    """A person with a contact record held for each of the three purposes."""
    name = stubs.subjects.CreateSubject(pb.CreateSubjectRequest(identities=identities)).subject.name
    held = {}
    for purpose, basis, source in HELD:
        message = record("contact", held_for=purpose)
        message.purpose, message.legal_basis, message.source_system = purpose, basis, source
        created = stubs.records.CreateRecord(pb.CreateRecordRequest(parent=name, record=message))
        held[purpose] = created.record.name
    return name, held


def consent(
    stubs: Stubs, name: str, status: Any, purpose: str, request_id: str = ""
) -> pb.RecordConsentResponse:
    return stubs.consent.RecordConsent(
        pb.RecordConsentRequest(
            subject=name,
            purposes=[purpose],
            status=status,
            channel=pb.CONSENT_CHANNEL_WEB_FORM,
            request_id=request_id,
        )
    )


def readable(stubs: Stubs, held: dict[str, str]) -> dict[str, Any]:
    """Each record's field, or the status code its read fails with."""
    found: dict[str, Any] = {}
    for purpose, name in held.items():
        try:
            found[purpose] = stubs.records.GetRecord(pb.GetRecordRequest(name=name)).record.fields[
                "held_for"
            ]
        except grpc.RpcError as error:
            found[purpose] = error.code()
    return found


def rested(stubs: Stubs, name: str) -> pb.ErasureRequest:
    watch = stubs.erasure.WatchErasureRequest(pb.WatchErasureRequestRequest(name=name), timeout=30)
    return list(watch)[-1].request


def step(request: pb.ErasureRequest, system: str) -> pb.ErasureStep:
    return next(s for s in request.steps if s.system == system)


def newsletter(systems: standins.DemoSystems, who: str) -> tuple[Any, int]:
    conn = sqlite3.connect(systems.salon_db)
    try:
        (address,) = conn.execute(
            "SELECT newsletter_email FROM customers WHERE email = ?", (who,)
        ).fetchone()
        (issues,) = conn.execute(
            "SELECT count(*) FROM newsletter_issues JOIN customers c ON c.id = customer_id "
            "WHERE c.email = ?",
            (who,),
        ).fetchone()
        return address, issues
    finally:
        conn.close()


def test_withdrawal_shreds_only_that_purposes_records_and_tells_the_salon(
    stubs: Stubs, systems: standins.DemoSystems, vault: Vault, clock: FixedClock
) -> None:
    bo, held = person(stubs, email(BO.email))
    consent(stubs, bo, GIVEN, "marketing_email")
    assert readable(stubs, held) == {p: p for p in held}
    assert newsletter(systems, BO.email) == (BO.email, 1)
    clock.advance(days=2)
    withdrawn = consent(stubs, bo, WITHDRAWN, "marketing_email", request_id="bo-withdraws")
    (name,) = withdrawn.erasure_requests
    # Before the call answered: what the vault held for the purpose is gone,
    # and the same category held on a contract or the law still reads.
    assert readable(stubs, held) == {
        "marketing_email": grpc.StatusCode.NOT_FOUND,
        "billing": "billing",
        "bookkeeping": "bookkeeping",
    }
    subject_id = bo.removeprefix("subjects/")
    contact_keys = {s.purpose for s in vault.keys.scopes(subject_id) if s.category == "contact"}
    assert contact_keys == {"billing", "bookkeeping"}
    request = stubs.erasure.GetErasureRequest(pb.GetErasureRequestRequest(name=name)).request
    assert (request.scope, request.purpose, request.subject) == (
        pb.ERASURE_SCOPE_PURPOSE,
        "marketing_email",
        bo,
    )
    assert step(request, "vault").state == pb.ERASURE_STEP_STATE_SUCCEEDED
    # Only the systems that hold something for the purpose have a step.
    assert [s.system for s in request.steps] == ["vault", "salon"]

    done = rested(stubs, name)
    assert done.state == pb.ERASURE_REQUEST_STATE_COMPLETED
    salon = step(done, "salon")
    assert salon.state == pb.ERASURE_STEP_STATE_SUCCEEDED
    assert [(i.outcome, i.category) for i in salon.items] == [
        (pb.ERASURE_OUTCOME_REMOVED, "newsletter"),
        (pb.ERASURE_OUTCOME_REMOVED, "newsletter"),
    ]
    assert newsletter(systems, BO.email) == (None, 0)
    # The salon keeps what it holds on the contract: Bo is still its customer.
    from tests.integration.test_everywhere import salon_counts

    assert salon_counts(systems, BO)["customers"] == 1
    assert salon_counts(systems, BO)["appointments"] == 3
    # The person stays; the job's key went with the request.
    assert stubs.subjects.GetSubject(pb.GetSubjectRequest(name=bo)).subject.name == bo
    assert vault.keys.store.job_key(name.removeprefix("erasureRequests/")) is None

    # The same request id answers with the same request, and starts no other.
    again = consent(stubs, bo, WITHDRAWN, "marketing_email", request_id="bo-withdraws")
    assert list(again.erasure_requests) == [name]
    assert list(again.events) == list(withdrawn.events)
    listed = stubs.erasure.ListErasureRequests(pb.ListErasureRequestsRequest()).requests
    assert [(r.name, r.scope) for r in listed] == [(name, pb.ERASURE_SCOPE_PURPOSE)]


def test_a_system_that_cannot_be_told_asks_a_person_with_instructions(
    stubs: Stubs, clock: FixedClock
) -> None:
    cecilia, _ = person(
        stubs,
        email(CECILIA.email),
        pb.Identity(
            kind=pb.IDENTITY_KIND_EXTERNAL_ID, value=CECILIA.facebook_profile, system="facebook"
        ),
    )
    consent(stubs, cecilia, GIVEN, "model_bank")
    clock.advance(days=5)
    (name,) = consent(stubs, cecilia, WITHDRAWN, "model_bank").erasure_requests
    request = rested(stubs, name)
    assert [s.system for s in request.steps] == ["vault", "facebook_group"]
    assert request.state == pb.ERASURE_REQUEST_STATE_AWAITING_MANUAL_ACTION
    group = step(request, "facebook_group")
    assert group.state == pb.ERASURE_STEP_STATE_SUCCEEDED
    (action,) = group.items
    assert (action.outcome, action.category) == (
        pb.ERASURE_OUTCOME_MANUAL_ACTION_REQUIRED,
        "group_membership",
    )
    # Which system, which category, who, the purpose, the day, and what to do.
    for words in (
        "facebook_group",
        "group_membership",
        CECILIA.facebook_profile,
        "model_bank",
        "2026-11-29",
        "Membership of the group",
        "confirm this action in the vault",
    ):
        assert words in action.instructions

    confirmed = stubs.erasure.ConfirmManualAction(
        pb.ConfirmManualActionRequest(name=action.manual_action, confirmed_by="Dana DPO")
    ).request
    assert confirmed.state == pb.ERASURE_REQUEST_STATE_COMPLETED
    assert step(confirmed, "facebook_group").items[0].instructions == ""  # its key is gone


def test_a_crash_after_the_commit_is_finished_by_a_worker(
    stubs: Stubs, monkeypatch: pytest.MonkeyPatch
) -> None:
    bo, held = person(stubs, email(BO.email))
    consent(stubs, bo, GIVEN, "marketing_email")

    class Crash(Exception):
        pass

    def crash_at(point: str) -> None:
        if point == "withdrawal_committed":
            raise Crash(point)

    monkeypatch.setattr(faults, "crash_point", crash_at)
    with pytest.raises(grpc.RpcError) as cut_off:
        consent(stubs, bo, WITHDRAWN, "marketing_email")
    assert cut_off.value.code() == grpc.StatusCode.INTERNAL
    # The withdrawal and its request were committed together; a worker does the rest.
    state = stubs.consent.GetConsentState(pb.GetConsentStateRequest(subject=bo)).purposes
    assert next(p for p in state if p.purpose == "marketing_email").standing == (
        pb.CONSENT_STANDING_WITHDRAWN
    )
    (request,) = stubs.erasure.ListErasureRequests(pb.ListErasureRequestsRequest()).requests
    assert request.scope == pb.ERASURE_SCOPE_PURPOSE
    assert rested(stubs, request.name).state == pb.ERASURE_REQUEST_STATE_COMPLETED
    assert readable(stubs, held)["marketing_email"] == grpc.StatusCode.NOT_FOUND
    assert readable(stubs, held)["billing"] == "billing"


@pytest.mark.slow
@pytest.mark.parametrize("point", ["withdrawal_committed", "purpose_keys_destroyed"])
def test_a_kill_after_the_commit_is_finished_after_restart(
    point: str, tmp_path: Path, systems: standins.DemoSystems, salon_sections: dict[str, Any]
) -> None:
    from tests.processes import ServerProcess

    config = {
        "connectors": salon_sections,
        "erasure": {"backoff_base_s": 0.05, "backoff_cap_s": 0.2, "call_timeout_s": 10},
    }
    env = dict(systems.environ)  # type: ignore[attr-defined]
    server = ServerProcess(tmp_path / "data", config, {**env, faults.CRASH_ENV: point})
    try:
        with server.channel() as channel:
            stubs = Stubs(channel)
            bo, held = person(stubs, email(BO.email))
            consent(stubs, bo, GIVEN, "marketing_email")
            with pytest.raises(grpc.RpcError):
                consent(stubs, bo, WITHDRAWN, "marketing_email", request_id="bo-withdraws")
        assert server.wait() == -9
    finally:
        server.close()
    restarted = ServerProcess(tmp_path / "data", config, env, token=server.token)
    try:
        with restarted.channel() as channel:
            stubs = Stubs(channel)
            # The client asks again with the same request id: the withdrawal was
            # committed with its request, which a worker finishes.
            (name,) = consent(
                stubs, bo, WITHDRAWN, "marketing_email", request_id="bo-withdraws"
            ).erasure_requests
            done = rested(stubs, name)
            assert done.state == pb.ERASURE_REQUEST_STATE_COMPLETED, done
            assert [s.system for s in done.steps] == ["vault", "salon"]
            assert readable(stubs, held) == {
                "marketing_email": grpc.StatusCode.NOT_FOUND,
                "billing": "billing",
                "bookkeeping": "bookkeeping",
            }
        assert newsletter(systems, BO.email) == (None, 0)
    finally:
        restarted.close()


def test_the_cli_says_what_a_withdrawals_request_erases(
    stubs: Stubs,
    server: RunningServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.access import token_for
    from vault.cli import main
    from vault.core.actor import Role

    bo, _ = person(stubs, email(BO.email))
    consent(stubs, bo, GIVEN, "marketing_email")
    (name,) = consent(stubs, bo, WITHDRAWN, "marketing_email").erasure_requests
    rested(stubs, name)
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("CONSENT_VAULT_TOKEN", token_for(server.vault, Role.PRIVACY_OFFICER))
    said = "consent for marketing_email no longer stands: what is held for it"
    for command in (["requests", "list"], ["requests", "show", name]):
        assert main(["--server", f"127.0.0.1:{server.port}", *command]) == 0
        out = capsys.readouterr().out
        assert name in out.split() and said in out
    assert main(["--server", f"127.0.0.1:{server.port}", "requests", "show", name, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["scope"], shown["purpose"]) == ("purpose", "marketing_email")
    # The connectors list says which systems are told of a withdrawal, and
    # which need a person (a consent-based holding, no capability).
    assert main(["--server", f"127.0.0.1:{server.port}", "connectors", "list"]) == 0
    sections = capsys.readouterr().out.split("\n\n")
    told = {s.split()[0]: s for s in sections if s.strip()}
    assert "  told when consent is withdrawn" in told["salon"]
    assert "not told when consent is withdrawn: a person is asked" in told["facebook_group"]
    assert "withdrawn" not in told["lms"]
    assert main(["--server", f"127.0.0.1:{server.port}", "connectors", "list", "--json"]) == 0
    listed = {c["name"]: c["capabilities"] for c in json.loads(capsys.readouterr().out)}
    assert listed["salon"] == ["withdraw_consent"] and listed["lms"] == []


def test_the_connectors_list_says_which_can_be_told(stubs: Stubs) -> None:
    listed = stubs.connectors.ListConnectors(pb.ListConnectorsRequest()).connectors
    assert {c.name: list(c.capabilities) for c in listed} == {
        "accounting": [],
        "facebook_group": [],
        "lms": [],
        "salon": ["withdraw_consent"],
    }


# --------------------------------------------------- declared, not implemented
class Boasting(Connector):
    """Declares the capability and does not implement it."""

    name = "boasting"
    capabilities = frozenset({Capability.WITHDRAW_CONSENT})

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
                    "as long as the consent stands",
                ),
            ),
        )

    def find(self, identities):  # type: ignore[no-untyped-def]
        return []

    def export(self, identities, references=None):  # type: ignore[no-untyped-def]
        return iter(())

    def erase(self, identities, today, references=None):  # type: ignore[no-untyped-def]
        return []


class Quiet(Boasting):
    """Implements it and does not declare it: never called, and logged."""

    name = "quiet"
    capabilities = frozenset()

    def withdraw_consent(self, identities, purpose, categories, today, references=None):  # type: ignore[no-untyped-def]
        raise AssertionError("never called: it does not declare the capability")


class Plugin:
    @hookimpl
    def vault_register_connectors(self, host: VaultHost) -> list[type[Connector]]:
        return [Boasting, Quiet]


def load(name: str, tmp_path: Path) -> ConnectorRegistry:
    return ConnectorRegistry.load(
        {name: {}},
        make_plugin_manager([Plugin()], load_installed=False),
        VaultHost(__version__),
        tmp_path,
        {},
    )


def test_a_connector_that_declares_the_capability_without_its_method_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ConfigError, match="declares capability withdraw_consent"):
        load("boasting", tmp_path)
    registry = load("quiet", tmp_path)
    quiet = registry.get("quiet")
    assert quiet is not None and quiet.enabled and quiet.capabilities == frozenset()
    assert "does not declare capability withdraw_consent" in caplog.text
