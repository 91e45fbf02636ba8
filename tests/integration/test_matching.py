"""Records a system found for a person may be someone else's: such a system is neither
exported nor erased until a privacy officer decides. A re-run step reaches what the
first attempt found, and a system that finds nobody says so. All over real gRPC."""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.helpers import email, error_info, pnr
from tests.serving import channel_to, served
from vault import __version__
from vault.connectors import (
    Connector,
    ConnectorUnavailable,
    ExportItem,
    HeldCategory,
    Holdings,
    Match,
    Removed,
    Retained,
    normal_form,
)
from vault.connectors.registry import ConnectorRegistry
from vault.core.clock import FixedClock
from vault.core.erasure import ErasureSettings
from vault.core.identities import Identity, IdentityKind
from vault.core.model import LegalBasis
from vault.core.vault import Vault
from vault.plugins import hookimpl
from vault.plugins.host import VaultHost
from vault.plugins.manager import make_plugin_manager
from vault.runtime import build_services
from vault.server.app import RunningServer
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc

EVA_PNR = "19900101-2385"
BO_PNR = "19900101-0017"
KEPT_UNTIL = dt.date(2033, 12, 31)


class CRM(Connector):
    """A system whose customers the test sets; it records every call it gets."""

    name = "crm"
    customers: dict[str, dict[str, Any]] = {}
    calls: list[tuple[str, Any]] = []
    todays: list[dt.date] = []
    fail_once_after_blanking = False
    keeps_books = True

    def holdings(self) -> Holdings:
        return Holdings(
            "crm",
            "a customer register",
            "SE",
            (
                HeldCategory("contact", "name and e-mail", "billing", LegalBasis.CONTRACT, "1 y"),
                HeldCategory(
                    "bookkeeping.invoices",
                    "invoices",
                    "bookkeeping",
                    LegalBasis.LEGAL_OBLIGATION,
                    "7 years",
                    erasable=False,
                    legal_reason="the Bookkeeping Act",
                ),
            ),
            identified_by=(IdentityKind.PERSONNUMMER, IdentityKind.EMAIL),
        )

    def _stored(self, customer: dict[str, Any]) -> tuple[Identity, ...]:
        held = [
            normal_form(IdentityKind.PERSONNUMMER, customer["pnr"]),
            normal_form(IdentityKind.EMAIL, customer["email"]),
        ]
        return tuple(i for i in held if i is not None)

    def match(self, identities: list[Identity]) -> list[Match]:
        found = []
        for number, customer in sorted(self.customers.items()):
            stored = self._stored(customer)
            by = tuple(i for i in identities if i in stored)
            if by:
                found.append(Match(f"customer:{number}", by, stored))
        return found

    def find(self, identities: list[Identity]) -> list[str]:
        return [m.reference for m in self.match(identities)]

    def export(self, identities: list[Identity]) -> Iterator[ExportItem]:
        for reference in self.find(identities):
            customer = self.customers[reference.split(":")[1]]
            yield ExportItem("contact", {"name": customer["name"], "email": customer["email"]})

    def erase(
        self, identities: list[Identity], today: dt.date, references: list[str] | None = None
    ) -> list[Removed | Retained]:
        type(self).calls.append(("erase", references))
        type(self).todays.append(today)
        numbers = {r.split(":")[1] for r in (references or [])} | {
            r.split(":")[1] for r in self.find(identities)
        }
        outcomes: list[Removed | Retained] = []
        for number in sorted(numbers):
            customer = self.customers[number]
            if customer["email"]:
                customer.update(name="", email="", pnr="")
                outcomes.append(Removed("contact", "customer anonymised"))
                if type(self).fail_once_after_blanking:
                    type(self).fail_once_after_blanking = False
                    raise ConnectorUnavailable("the connection dropped after the update")
            if type(self).keeps_books:
                outcomes.append(
                    Retained("bookkeeping.invoices", "invoices: 1", "the Act", KEPT_UNTIL)
                )
        return outcomes


class CRMPlugin:
    @hookimpl
    def vault_register_connectors(self, host):  # type: ignore[no-untyped-def]
        return [CRM]


@pytest.fixture
def server(vault: Vault, tmp_path: Path) -> Iterator[RunningServer]:
    CRM.customers = {
        "1": {"name": "Bo Berg", "pnr": BO_PNR, "email": "bo@example.se"},
        "2": {"name": "Eva Ek", "pnr": EVA_PNR, "email": "eva@example.se"},
    }
    CRM.calls, CRM.todays = [], []
    CRM.fail_once_after_blanking, CRM.keeps_books = False, True
    registry = ConnectorRegistry.load(
        {"crm": {}}, make_plugin_manager([CRMPlugin()]), VaultHost(__version__), tmp_path, {}
    )
    services = build_services(
        vault,
        registry,
        ErasureSettings(call_timeout_seconds=5, backoff_base_seconds=0.01, max_attempts=3),
    )
    with served(services) as running:
        yield running
    registry.close()


@pytest.fixture
def stubs(
    server: RunningServer,
) -> Iterator[tuple[pb_grpc.SubjectServiceStub, pb_grpc.ErasureServiceStub]]:
    with channel_to(server) as channel:
        yield pb_grpc.SubjectServiceStub(channel), pb_grpc.ErasureServiceStub(channel)


def person(subjects: pb_grpc.SubjectServiceStub, *identities: pb.Identity) -> str:
    request = pb.CreateSubjectRequest(identities=identities)
    return subjects.CreateSubject(request).subject.name


def erase(subjects: pb_grpc.SubjectServiceStub, name: str) -> pb.ErasureRequest:
    return list(subjects.EraseSubject(pb.EraseSubjectRequest(name=name), timeout=30))[-1].request


def accepted(subjects: pb_grpc.SubjectServiceStub, name: str) -> pb.ErasureRequest:
    stream = subjects.EraseSubject(pb.EraseSubjectRequest(name=name), timeout=30)
    first = next(stream).request
    stream.cancel()
    return first


def settled(erasure: pb_grpc.ErasureServiceStub, request: pb.ErasureRequest) -> pb.ErasureRequest:
    watch = erasure.WatchErasureRequest(
        pb.WatchErasureRequestRequest(name=request.name), timeout=30
    )
    return list(watch)[-1].request


def after_backoff(
    erasure: pb_grpc.ErasureServiceStub, request: pb.ErasureRequest, clock: FixedClock
) -> pb.ErasureRequest:
    """The request once it rests, moving the test's clock past each retry's backoff."""
    resting = (
        pb.ERASURE_REQUEST_STATE_COMPLETED,
        pb.ERASURE_REQUEST_STATE_PARTIALLY_COMPLETED,
        pb.ERASURE_REQUEST_STATE_AWAITING_MANUAL_ACTION,
    )
    for _ in range(400):
        clock.advance(seconds=1)
        current = erasure.GetErasureRequest(pb.GetErasureRequestRequest(name=request.name))
        if current.request.state in resting:
            return current.request
        time.sleep(0.05)
    raise AssertionError("the request did not rest")


def step(request: pb.ErasureRequest, system: str = "crm") -> pb.ErasureStep:
    return next(s for s in request.steps if s.system == system)


def decide(
    erasure: pb_grpc.ErasureServiceStub,
    request: pb.ErasureRequest,
    decision: int,
    request_id: str = "",
) -> pb.ErasureRequest:
    return erasure.DecideMatch(
        pb.DecideMatchRequest(
            name=f"{request.name}/steps/crm",
            decision=decision,
            decided_by="dpo@school.se",
            request_id=request_id,
        )
    ).request


def export_systems(
    subjects: pb_grpc.SubjectServiceStub, name: str, *same_person: str
) -> tuple[dict[str, pb.ExportProgress], dict[str, Any]]:
    progress: dict[str, pb.ExportProgress] = {}
    archive = b""
    request = pb.ExportSubjectRequest(
        name=name,
        same_person_systems=same_person,
        decided_by="dpo@school.se" if same_person else "",
    )
    for message in subjects.ExportSubject(request, timeout=30):
        if message.HasField("progress"):
            progress[message.progress.system] = message.progress
        else:
            archive += message.archive_chunk
    document = json.loads(zipfile.ZipFile(io.BytesIO(archive)).read("export.json"))
    return progress, document["systems"]


def test_the_readme_mistake_is_caught_eva_with_bos_personnummer_touches_nothing_of_bo(
    stubs: tuple[pb_grpc.SubjectServiceStub, pb_grpc.ErasureServiceStub],
) -> None:
    subjects, erasure = stubs
    # Eva typed in with Bo's personnummer and her own e-mail: the personnummer
    # finds Bo's customer record, the e-mail finds Eva's.
    eva = person(subjects, pnr(BO_PNR), email("Eva@Example.se"))

    progress, systems = export_systems(subjects, eva)
    assert progress["crm"].state == pb.EXPORT_STATE_WITHHELD
    assert "Bo Berg" not in json.dumps(systems) and "Eva Ek" not in json.dumps(systems)

    request = erase(subjects, eva)
    assert request.state == pb.ERASURE_REQUEST_STATE_PARTIALLY_COMPLETED
    crm = step(request)
    assert crm.state == pb.ERASURE_STEP_STATE_NEEDS_ATTENTION
    assert list(crm.conflict.disagreements) == [
        "the personnummer on a record found by e-mail differs from the vault's",
        "the personnummer and the e-mail lead to different records",
    ]
    assert pb.IDENTITY_KIND_PERSONNUMMER in crm.conflict.kinds
    assert CRM.calls == [], "nothing may be erased while identities disagree"

    done = settled(erasure, decide(erasure, request, pb.MATCH_DECISION_NOT_THIS_PERSON))
    assert done.state == pb.ERASURE_REQUEST_STATE_COMPLETED
    crm = step(done)
    assert crm.state == pb.ERASURE_STEP_STATE_NOT_APPLICABLE
    assert crm.decision == pb.MATCH_DECISION_NOT_THIS_PERSON
    assert crm.decided_by == "dpo@school.se"
    assert CRM.calls == []
    assert CRM.customers["1"]["name"] == "Bo Berg" and CRM.customers["2"]["name"] == "Eva Ek"


def test_same_person_lets_the_step_proceed_and_the_export_include_it(
    stubs: tuple[pb_grpc.SubjectServiceStub, pb_grpc.ErasureServiceStub],
) -> None:
    subjects, erasure = stubs
    # Eva's e-mail is on file with another personnummer (say, a samordningsnummer
    # she had before): a conflict a privacy officer can resolve as the same person.
    eva = person(subjects, pnr("19900161-2382"), email("eva@example.se"))
    progress, _ = export_systems(subjects, eva)
    assert progress["crm"].state == pb.EXPORT_STATE_WITHHELD
    progress, systems = export_systems(subjects, eva, "crm")
    assert progress["crm"].state == pb.EXPORT_STATE_DONE
    assert systems["crm"]["items"][0]["data"]["name"] == "Eva Ek"
    # The export says who checked, and what disagreed.
    assert systems["crm"]["notes"][0].startswith("included after dpo@school.se checked")
    for wrong, field in (
        (pb.ExportSubjectRequest(name=eva, same_person_systems=["crm"]), "decided_by"),
        (
            pb.ExportSubjectRequest(name=eva, same_person_systems=["nosuch"], decided_by="dpo"),
            "same_person_systems[0]",
        ),
    ):
        with pytest.raises(grpc.RpcError) as refused:
            list(subjects.ExportSubject(wrong, timeout=30))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error_info(refused.value).metadata["field"] == field

    request = erase(subjects, eva)
    assert step(request).state == pb.ERASURE_STEP_STATE_NEEDS_ATTENTION
    decided = decide(erasure, request, pb.MATCH_DECISION_SAME_PERSON, request_id="decide-1")
    # The same decision sent again answers as the first did.
    again = decide(erasure, request, pb.MATCH_DECISION_SAME_PERSON, request_id="decide-1")
    assert again.name == decided.name
    done = settled(erasure, decided)
    assert done.state == pb.ERASURE_REQUEST_STATE_COMPLETED
    crm = step(done)
    assert crm.state == pb.ERASURE_STEP_STATE_SUCCEEDED
    assert crm.decision == pb.MATCH_DECISION_SAME_PERSON
    assert CRM.customers["2"]["email"] == "" and CRM.customers["1"]["name"] == "Bo Berg"

    with pytest.raises(grpc.RpcError) as nothing:
        decide(erasure, request, pb.MATCH_DECISION_NOT_THIS_PERSON)
    assert nothing.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(nothing.value).reason == "NO_CONFLICT_TO_DECIDE"


def test_a_rerun_step_gets_the_references_of_the_first_attempt_and_reports_the_same_retained(
    stubs: tuple[pb_grpc.SubjectServiceStub, pb_grpc.ErasureServiceStub], clock: FixedClock
) -> None:
    subjects, erasure = stubs
    CRM.fail_once_after_blanking = True
    eva = person(subjects, pnr(EVA_PNR), email("eva@example.se"))
    done = after_backoff(erasure, accepted(subjects, eva), clock)
    assert done.state == pb.ERASURE_REQUEST_STATE_COMPLETED
    # The first attempt blanked the identifiers and failed; the second could not
    # have found her by them, and reached her through the sealed references.
    assert CRM.calls == [("erase", ["customer:2"]), ("erase", ["customer:2"])]
    crm = step(done)
    assert crm.attempts == 2
    retained = [i for i in crm.items if i.outcome == pb.ERASURE_OUTCOME_RETAINED]
    assert [(i.category, i.retained_until) for i in retained] == [
        ("bookkeeping.invoices", KEPT_UNTIL.isoformat())
    ]
    assert not [i for i in crm.items if i.outcome == pb.ERASURE_OUTCOME_NO_MATCH]


def test_a_system_that_finds_nobody_says_so_in_the_report_and_the_export(
    stubs: tuple[pb_grpc.SubjectServiceStub, pb_grpc.ErasureServiceStub],
) -> None:
    subjects, erasure = stubs
    nobody = person(
        subjects,
        email("nobody@example.se"),
        pb.Identity(kind=pb.IDENTITY_KIND_PHONE, value="070-111 22 33"),
    )
    progress, _ = export_systems(subjects, nobody)
    assert progress["crm"].state == pb.EXPORT_STATE_NO_MATCH
    assert list(progress["crm"].tried_kinds) == [pb.IDENTITY_KIND_EMAIL]

    done = settled(erasure, erase(subjects, nobody))
    assert done.state == pb.ERASURE_REQUEST_STATE_COMPLETED
    (item,) = step(done).items
    assert item.outcome == pb.ERASURE_OUTCOME_NO_MATCH
    assert list(item.tried_kinds) == [pb.IDENTITY_KIND_EMAIL]
    assert item.description == "no one found by e-mail"


def test_retry_and_confirm_apply_once_per_request_id_and_pages_keep_their_filter(
    stubs: tuple[pb_grpc.SubjectServiceStub, pb_grpc.ErasureServiceStub],
) -> None:
    subjects, erasure = stubs
    eva = person(subjects, pnr(BO_PNR), email("eva@example.se"))
    request = erase(subjects, eva)
    retry = pb.RetryErasureRequestRequest(name=request.name, request_id="retry-1")
    first = erasure.RetryErasureRequest(retry).request
    second = erasure.RetryErasureRequest(retry).request  # answers as the first did
    assert first.name == second.name
    settled(erasure, first)

    for index in range(3):
        erase(subjects, person(subjects, email(f"p{index}@example.se")))
    with pytest.raises(grpc.RpcError) as unprintable:  # a right-to-left override
        erasure.DecideMatch(
            pb.DecideMatchRequest(
                name=f"{request.name}/steps/crm",
                decision=pb.MATCH_DECISION_SAME_PERSON,
                decided_by="dpo\u202e@school.se",
            )
        )
    assert error_info(unprintable.value).metadata["field"] == "decided_by"
    listing = pb.ListErasureRequestsRequest(page_size=1, state=pb.ERASURE_REQUEST_STATE_COMPLETED)
    page = erasure.ListErasureRequests(listing)
    assert page.next_page_token
    with pytest.raises(grpc.RpcError) as other_filter:
        erasure.ListErasureRequests(
            pb.ListErasureRequestsRequest(page_size=1, page_token=page.next_page_token)
        )
    assert other_filter.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(other_filter.value).metadata["field"] == "page_token"
    seen = [r.name for r in page.requests]
    with pytest.raises(grpc.RpcError) as reused:  # the same id for another request
        erasure.RetryErasureRequest(
            pb.RetryErasureRequestRequest(name=seen[0], request_id="retry-1")
        )
    assert error_info(reused.value).reason == "REQUEST_ID_REUSED"
    while page.next_page_token:
        listing.page_token = page.next_page_token
        page = erasure.ListErasureRequests(listing)
        seen += [r.name for r in page.requests]
    assert len(seen) == len(set(seen)) == 3


def test_connectors_are_listed_page_by_page(server: RunningServer) -> None:
    with channel_to(server) as channel:
        connectors = pb_grpc.ConnectorServiceStub(channel)
        names, token = [], ""
        for _ in range(20):
            page = connectors.ListConnectors(
                pb.ListConnectorsRequest(page_size=1, page_token=token)
            )
            assert len(page.connectors) <= 1
            names += [c.name for c in page.connectors]
            token = page.next_page_token
            if not token:
                break
        everything = connectors.ListConnectors(pb.ListConnectorsRequest())
        assert names == [c.name for c in everything.connectors] and "crm" in names
        with pytest.raises(grpc.RpcError) as forged:
            connectors.ListConnectors(pb.ListConnectorsRequest(page_token="zz"))
        assert forged.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_second_confirmation_is_refused_a_retried_one_answers_as_the_first(
    vault: Vault, tmp_path: Path
) -> None:
    # The Facebook-group style: a manual action to confirm.
    from vault.connectors import ManualAction

    class Group(CRM):
        name = "group"

        def holdings(self) -> Holdings:
            return Holdings(
                "group",
                "a group",
                "SE",
                (HeldCategory("membership", "membership", "m", LegalBasis.CONSENT, "while"),),
            )

        def match(self, identities: list[Identity]) -> list[Match]:
            return [Match("member:1", tuple(identities))]

        def erase(self, identities, today):  # type: ignore[no-untyped-def,override]
            # Written before erase() took references: still called, without them.
            return [ManualAction("membership", "group membership", "remove them by hand")]

    class GroupPlugin:
        @hookimpl
        def vault_register_connectors(self, host):  # type: ignore[no-untyped-def]
            return [Group]

    registry = ConnectorRegistry.load(
        {"group": {}}, make_plugin_manager([GroupPlugin()]), VaultHost(__version__), tmp_path, {}
    )
    services = build_services(vault, registry, ErasureSettings(call_timeout_seconds=5))
    ready = threading.Event()
    try:
        with (
            served(services) as running,
            channel_to(running) as channel,
        ):
            subjects = pb_grpc.SubjectServiceStub(channel)
            erasure = pb_grpc.ErasureServiceStub(channel)
            request = settled(erasure, erase(subjects, person(subjects, email("m@example.se"))))
            assert request.state == pb.ERASURE_REQUEST_STATE_AWAITING_MANUAL_ACTION
            (item,) = step(request, "group").items
            confirm = pb.ConfirmManualActionRequest(
                name=item.manual_action, confirmed_by="admin@school.se", request_id="confirm-1"
            )
            first = erasure.ConfirmManualAction(confirm).request
            again = erasure.ConfirmManualAction(confirm).request
            assert first.state == again.state == pb.ERASURE_REQUEST_STATE_COMPLETED
            confirm.request_id = "confirm-2"
            with pytest.raises(grpc.RpcError) as twice:
                erasure.ConfirmManualAction(confirm)
            assert twice.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert error_info(twice.value).reason == "ALREADY_CONFIRMED"
            ready.set()
    finally:
        registry.close()
    assert ready.is_set()


def test_the_privacy_officer_reads_the_conflict_and_decides_it_from_the_cli(
    server: RunningServer,
    token: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from vault.cli import main

    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("CONSENT_VAULT_TOKEN", token)

    def run(*args: str) -> tuple[int, str]:
        code = main(["--server", f"127.0.0.1:{server.port}", *args])
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    code, out = run("subject", "create", "--pnr", BO_PNR, "--email", "eva@example.se")
    assert code == 0
    eva = out.split()[0]

    code, out = run("export", eva, "-o", str(tmp_path / "eva.zip"))
    assert code == 0 and "crm: withheld: identities disagree" in out
    assert "--same-person crm" in out
    code, out = run(
        "export", eva, "-o", str(tmp_path / "eva.zip"), "--same-person", "crm", "--by", "dpo"
    )
    assert code == 0 and "crm: done" in out

    code, out = run("erase", eva, "--yes")
    assert code == 0
    assert "crm: needs attention" in out and "may be someone else's" in out
    request = out.split()[0]
    # The commands are printed whole, to be copied, whatever the width.
    assert f"consent-vault requests decide {request} crm not-this-person --by" in out

    code, out = run(
        "requests", "decide", request, "crm", "not-this-person", "--by", "dpo@school.se"
    )
    assert code == 0, out
    code, out = run("requests", "show", request)
    assert "crm: not applicable" in out
    assert "by dpo@school.se: not this person: nothing erased here" in out
    assert "state: completed" in out
    code, out = run("requests", "show", request, "--json")
    assert json.loads(out)["steps"][1]["decision"] == "not_this_person"
    assert CRM.customers["1"]["name"] == "Bo Berg"


def test_connectors_are_told_the_controllers_date_not_the_utc_one(
    stubs: tuple[pb_grpc.SubjectServiceStub, pb_grpc.ErasureServiceStub], clock: FixedClock
) -> None:
    subjects, erasure = stubs
    # 23:30 UTC on New Year's Eve is already New Year's Day in Stockholm.
    clock.advance(
        seconds=(dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC) - clock.now()).total_seconds()
    )
    eva = person(subjects, pnr(EVA_PNR), email("eva@example.se"))
    settled(erasure, erase(subjects, eva))
    assert CRM.todays == [dt.date(2027, 1, 1)]


def test_a_rerun_that_finds_everything_gone_says_an_earlier_attempt_removed_it(
    stubs: tuple[pb_grpc.SubjectServiceStub, pb_grpc.ErasureServiceStub], clock: FixedClock
) -> None:
    subjects, erasure = stubs
    CRM.fail_once_after_blanking, CRM.keeps_books = True, False
    eva = person(subjects, pnr(EVA_PNR), email("eva@example.se"))
    done = after_backoff(erasure, accepted(subjects, eva), clock)
    (item,) = step(done).items
    assert item.outcome == pb.ERASURE_OUTCOME_ALREADY_REMOVED
    assert "earlier attempt" in item.description
