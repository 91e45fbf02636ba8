"""One gRPC call exports or erases a person in the vault and all four systems; the
report is checked against what each stand-in actually holds afterwards."""

from __future__ import annotations

import io
import json
import sqlite3
import zipfile
from collections.abc import Iterator

import grpc
import pytest

from tests.helpers import email, error_info, pnr
from tests.serving import channel_to, served
from vault import __version__, demo
from vault.connectors.registry import ConnectorRegistry
from vault.core.erasure import ErasureSettings
from vault.core.vault import Vault
from vault.plugins.host import VaultHost
from vault.plugins.manager import make_plugin_manager
from vault.runtime import build_services
from vault.server.app import RunningServer
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc
from vault_standins import demo as standins
from vault_standins.people import DEMO_PEOPLE

ANNA, BO, CECILIA = DEMO_PEOPLE


@pytest.fixture
def everywhere(vault: Vault, registry: ConnectorRegistry) -> Iterator[RunningServer]:
    demo.seed(vault)
    services = build_services(
        vault,
        registry,
        ErasureSettings(call_timeout_seconds=5, backoff_base_seconds=0.05, max_attempts=3),
    )
    with served(services) as running:
        yield running


@pytest.fixture
def stubs(
    everywhere: RunningServer,
) -> Iterator[tuple[pb_grpc.SubjectServiceStub, pb_grpc.ErasureServiceStub]]:
    with channel_to(everywhere) as channel:
        yield pb_grpc.SubjectServiceStub(channel), pb_grpc.ErasureServiceStub(channel)


def find(subjects: pb_grpc.SubjectServiceStub, identity: pb.Identity) -> str:
    return subjects.FindSubject(pb.FindSubjectRequest(identity=identity)).subject.name


def erase(subjects: pb_grpc.SubjectServiceStub, name: str) -> pb.ErasureRequest:
    return list(subjects.EraseSubject(pb.EraseSubjectRequest(name=name), timeout=30))[-1].request


def items(request: pb.ErasureRequest, system: str) -> list[pb.ErasureItem]:
    return list(next(s for s in request.steps if s.system == system).items)


def salon_counts(systems: standins.DemoSystems, person) -> dict[str, int]:  # type: ignore[no-untyped-def]
    from vault_standins import salon

    conn = sqlite3.connect(systems.salon_db)
    try:
        return salon.counts(conn, "?", person)
    finally:
        conn.close()


def test_export_gathers_every_system_into_one_archive(stubs, systems: standins.DemoSystems) -> None:  # type: ignore[no-untyped-def]
    subjects, _ = stubs
    name = find(subjects, pnr("811218-9876"))
    messages = list(subjects.ExportSubject(pb.ExportSubjectRequest(name=name), timeout=30))
    done = {
        m.progress.system
        for m in messages
        if m.HasField("progress") and m.progress.state == pb.EXPORT_STATE_DONE
    }
    assert done == {"vault", "lms", "salon", "accounting"}
    # Anna was never blocked in the Facebook group: its register does not know her,
    # and the export says so rather than passing it over as a success.
    (nobody,) = [
        m.progress
        for m in messages
        if m.HasField("progress")
        and m.progress.system == "facebook_group"
        and m.progress.state != pb.EXPORT_STATE_RUNNING
    ]
    assert nobody.state == pb.EXPORT_STATE_NO_MATCH and nobody.tried_kinds
    archive = zipfile.ZipFile(
        io.BytesIO(b"".join(m.archive_chunk for m in messages if m.archive_chunk))
    )
    document = json.loads(archive.read("export.json"))
    assert set(document["systems"]) == {"lms", "salon", "accounting", "facebook_group"}
    lms = document["systems"]["lms"]["items"]
    assert {"contact", "identity_number", "student.grading", "student.coursework"} <= {
        i["category"] for i in lms
    }
    photo = next(f for i in lms for f in i.get("files", []))
    assert archive.read(photo["file"]).startswith(b"\x89PNG")
    accounting = document["systems"]["accounting"]["items"]
    assert sum(i["category"] == "bookkeeping.invoices" for i in accounting) == 2
    assert "Anna" in archive.read("index.html").decode()


def test_erasing_anna_matches_what_each_system_holds_afterwards(
    stubs, systems: standins.DemoSystems
) -> None:  # type: ignore[no-untyped-def]
    subjects, _ = stubs
    request = erase(subjects, find(subjects, pnr("811218-9876")))
    assert request.state == pb.ERASURE_REQUEST_STATE_COMPLETED
    assert [s.system for s in request.steps] == [
        "vault",
        "accounting",
        "facebook_group",
        "lms",
        "salon",
    ]
    assert all(s.state == pb.ERASURE_STEP_STATE_SUCCEEDED for s in request.steps)

    # LMS: one grade is still grading basis, so the account is stripped, not deleted.
    lms = {(i.outcome, i.category) for i in items(request, "lms")}
    assert (pb.ERASURE_OUTCOME_RETAINED, "student.grading_basis") in lms
    users = list(systems.moodle.users.values())
    assert not [u for u in users if u["email"] == ANNA.email or u["idnumber"] == ANNA.personnummer]
    stripped = [u for u in users if u["firstname"] == "Erased"]
    assert len(stripped) == 1 and stripped[0]["phone1"] == "" and stripped[0]["address"] == ""
    assert systems.moodle.grades  # the grading basis is still there, as reported

    # Accounting: master data anonymised, books kept, per financial year.
    customer = next(
        c for c in systems.accounting.customers.values() if c["Name"] == "Anonymised customer"
    )
    assert customer["Email"] == "" and customer["OrganisationNumber"] == ""
    retained = [i for i in items(request, "accounting") if i.outcome == pb.ERASURE_OUTCOME_RETAINED]
    invoices = [i for i in retained if i.category == "bookkeeping.invoices"]
    held = [
        v
        for v in systems.accounting.invoices.values()
        if v["CustomerNumber"] == customer["CustomerNumber"]
    ]
    assert sum(int(i.description.rsplit(" ", 1)[1]) for i in invoices) == len(held) == 2
    assert {i.retained_until for i in invoices} == {"2032-12-31", "2033-12-31"}
    assert all("Bokföringslagen" in i.legal_reason for i in retained)

    # Salon: Anna was a student there; her identifying columns are blanked and her days gone.
    assert salon_counts(systems, ANNA) == {
        "customers": 0,
        "appointments": 0,
        "colour_notes": 0,
        "students": 0,
        "salon_days": 0,
    }
    # The Facebook group's register never knew her, and the report says so.
    assert [i.outcome for i in items(request, "facebook_group")] == [pb.ERASURE_OUTCOME_NO_MATCH]


def test_erasing_bo_removes_the_salon_customer_and_his_notes(
    stubs, systems: standins.DemoSystems
) -> None:  # type: ignore[no-untyped-def]
    subjects, _ = stubs
    assert salon_counts(systems, BO)["colour_notes"] == 1
    request = erase(subjects, find(subjects, email("bo.berg@example.com")))
    assert request.state == pb.ERASURE_REQUEST_STATE_COMPLETED
    assert salon_counts(systems, BO) == {
        "customers": 0,
        "appointments": 0,
        "colour_notes": 0,
        "students": 0,
        "salon_days": 0,
    }
    removed = {
        i.category for i in items(request, "salon") if i.outcome == pb.ERASURE_OUTCOME_REMOVED
    }
    assert removed == {"contact", "booking", "notes"}


def test_a_manual_action_is_tracked_until_an_admin_confirms_it(
    stubs,
    systems: standins.DemoSystems,
    vault: Vault,  # type: ignore[no-untyped-def]
) -> None:
    from vault_standins import facebook

    subjects, erasure = stubs
    request = erase(subjects, find(subjects, email("cecilia@example.org")))
    assert request.state == pb.ERASURE_REQUEST_STATE_AWAITING_MANUAL_ACTION
    assert facebook.entries(systems.register, CECILIA) == 0
    [manual] = [
        i
        for i in items(request, "facebook_group")
        if i.outcome == pb.ERASURE_OUTCOME_MANUAL_ACTION_REQUIRED
    ]
    assert CECILIA.facebook_profile in manual.instructions

    with pytest.raises(grpc.RpcError) as raised:
        erasure.ConfirmManualAction(
            pb.ConfirmManualActionRequest(name=manual.manual_action, confirmed_by=" ")
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as raised:
        erasure.ConfirmManualAction(
            pb.ConfirmManualActionRequest(
                name=request.name + "/manualActions/0000", confirmed_by="dpo@example.se"
            )
        )
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_info(raised.value).reason == "MANUAL_ACTION_NOT_FOUND"
    with pytest.raises(grpc.RpcError) as raised:  # a request that does not exist is named
        erasure.ConfirmManualAction(
            pb.ConfirmManualActionRequest(
                name="erasureRequests/0000/manualActions/0000", confirmed_by="dpo@example.se"
            )
        )
    assert error_info(raised.value).reason == "ERASURE_REQUEST_NOT_FOUND"

    confirmed = erasure.ConfirmManualAction(
        pb.ConfirmManualActionRequest(name=manual.manual_action, confirmed_by="dpo@example.se")
    ).request
    assert confirmed.state == pb.ERASURE_REQUEST_STATE_COMPLETED
    [item] = [i for i in items(confirmed, "facebook_group") if i.manual_action]
    assert item.confirmed_by == "dpo@example.se" and item.confirm_time.seconds > 0
    # The job is over: its key is gone, and the instructions with it.
    assert item.instructions == ""
    assert vault.keys.store.job_key(confirmed.name.split("/")[1]) is None

    listed = erasure.ListErasureRequests(pb.ListErasureRequestsRequest()).requests
    assert [r.name for r in listed] == [confirmed.name]
    assert listed[0].deadline_time.seconds > listed[0].create_time.seconds


def test_connector_admin_calls(everywhere: RunningServer) -> None:
    with channel_to(everywhere) as channel:
        connectors = pb_grpc.ConnectorServiceStub(channel)
        listed = connectors.ListConnectors(pb.ListConnectorsRequest(check_health=True)).connectors
        assert {c.name for c in listed} == {"lms", "salon", "accounting", "facebook_group"}
        assert all(c.enabled and c.healthy and c.location == "SE" and c.holdings for c in listed)
        lms = connectors.CheckConnector(pb.CheckConnectorRequest(name="lms")).connector
        assert any(not h.erasable and h.legal_reason for h in lms.holdings)
        with pytest.raises(grpc.RpcError) as raised:
            connectors.CheckConnector(pb.CheckConnectorRequest(name="crm"))
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
        # No token, URL or secret of any kind leaves the server.
        text = str(listed)
        assert "token" not in text.lower() and "127.0.0.1" not in text


def test_the_server_stops_promptly_with_a_watch_on_a_request_that_never_rests(
    everywhere: RunningServer, systems: standins.DemoSystems
) -> None:
    import time

    systems.moodle.down = True  # the LMS step keeps retrying
    with channel_to(everywhere) as channel:
        subjects = pb_grpc.SubjectServiceStub(channel)
        stream = subjects.EraseSubject(
            pb.EraseSubjectRequest(name=find(subjects, pnr("811218-9876")))
        )
        assert next(stream).request.state in (
            pb.ERASURE_REQUEST_STATE_IN_PROGRESS,
            pb.ERASURE_REQUEST_STATE_PENDING,
        )
        watch = pb_grpc.ErasureServiceStub(channel).WatchErasureRequest(
            pb.WatchErasureRequestRequest(name=next(stream).request.name)
        )
        next(watch)
        stream.cancel()
        watch.cancel()
    started = time.monotonic()
    everywhere.stop(grace=1)
    assert time.monotonic() - started < 10


def test_one_connector_type_covers_a_second_system_under_its_own_name(
    vault: Vault, systems: standins.DemoSystems, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    # The school's student register is another SQL database: the admin runs the
    # SQL connector a second time, under the register's own name.
    from vault_standins import salon

    register_db = salon.create_sqlite(tmp_path / "student-register.db", DEMO_PEOPLE)
    sections = {
        **systems.sections,
        "student_register": {
            "type": "salon",
            **standins.salon_section(f"sqlite:///{register_db}"),
            "description": "Student register",
        },
    }
    registry = ConnectorRegistry.load(
        sections,
        make_plugin_manager(),
        VaultHost(__version__),
        tmp_path,
        systems.environ,  # type: ignore[attr-defined]
    )
    demo.seed(vault)
    services = build_services(vault, registry, ErasureSettings(call_timeout_seconds=5))
    try:
        with (
            served(services) as running,
            channel_to(running) as channel,
        ):
            subjects = pb_grpc.SubjectServiceStub(channel)
            connectors = pb_grpc.ConnectorServiceStub(channel)
            listed = connectors.ListConnectors(pb.ListConnectorsRequest()).connectors
            register = next(c for c in listed if c.name == "student_register")
            assert register.enabled and register.description == "Student register"
            request = erase(subjects, find(subjects, email("bo.berg@example.com")))
    finally:
        registry.close()
    assert request.state == pb.ERASURE_REQUEST_STATE_COMPLETED
    assert {s.system for s in request.steps} >= {"salon", "student_register"}
    for system, db in (("salon", systems.salon_db), ("student_register", register_db)):
        assert {i.category for i in items(request, system)} >= {"contact", "notes"}
        conn = sqlite3.connect(db)
        try:
            assert salon.counts(conn, "?", BO)["colour_notes"] == 0
        finally:
            conn.close()
