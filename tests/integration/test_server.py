"""The server as generic tools see it: health, reflection, limits, errors, graceful stop."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from tests.helpers import email, error_info, record
from tests.processes import ServerProcess
from tests.serving import channel_to, served
from vault.connectors.base import (
    Connector,
    ConnectorSettings,
    HealthReport,
    HeldCategory,
    Holdings,
)
from vault.connectors.registry import ConnectorRegistry, InstalledConnector
from vault.core.model import LegalBasis
from vault.core.vault import Vault
from vault.runtime import build_services
from vault.server.app import RunningServer, create_server
from vault.settings import ServerSettings
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc


def test_health_reports_serving(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for service in ["", "vault.v1.SubjectService", "vault.v1.RecordService"]:
        answer = health.Check(health_pb2.HealthCheckRequest(service=service))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_describes_the_api_without_project_files(channel: grpc.Channel) -> None:
    database = ProtoReflectionDescriptorDatabase(channel)
    services = set(database.get_services())
    assert {
        "vault.v1.SubjectService",
        "vault.v1.RecordService",
        "grpc.health.v1.Health",
    } <= services
    described = database.FindFileContainingSymbol("vault.v1.SubjectService")
    assert described.package == "vault.v1"


def test_an_unexpected_error_is_internal_with_a_correlation_id_and_no_details(
    vault: Vault,
    subjects: pb_grpc.SubjectServiceStub,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def explode(*_: object) -> None:
        raise RuntimeError("secret 811218-9876 at /srv/vault/records.db")

    # The read GetSubject makes, whether on the event loop or on a thread.
    monkeypatch.setattr(vault.subjects, "view", explode)
    with (
        caplog.at_level(logging.ERROR, logger="vault.server"),
        pytest.raises(grpc.RpcError) as raised,
    ):
        subjects.GetSubject(pb.GetSubjectRequest(name="subjects/abc"))
    error = raised.value
    assert error.code() == grpc.StatusCode.INTERNAL
    assert (
        "secret" not in error.details()
        and "/srv" not in error.details()
        and "811218" not in error.details()
    )
    correlation_id = error_info(error).metadata["correlation_id"]
    assert correlation_id in error.details()
    assert any(correlation_id in r.getMessage() and r.exc_info for r in caplog.records)


def test_overload_is_refused_at_once(vault: Vault) -> None:
    with big_subject_served(vault, ServerSettings(max_concurrent_rpcs=1)) as (channel, name):
        subjects = pb_grpc.SubjectServiceStub(channel)
        # An export the client does not read stays in flight (flow control).
        export = subjects.ExportSubject(pb.ExportSubjectRequest(name=name))
        next(export)
        with pytest.raises(grpc.RpcError) as raised:
            subjects.GetSubject(pb.GetSubjectRequest(name=name), timeout=5)
        assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        export.cancel()


def test_streams_left_open_never_starve_other_calls(vault: Vault) -> None:
    # One thread for blocking calls, and three exports nobody reads: each holds
    # a stream thread, from a pool of their own, so every other call still runs.
    with big_subject_served(vault, ServerSettings(max_workers=1)) as (channel, name):
        subjects = pb_grpc.SubjectServiceStub(channel)
        records = pb_grpc.RecordServiceStub(channel)
        exports = [subjects.ExportSubject(pb.ExportSubjectRequest(name=name)) for _ in range(3)]
        for export in exports:
            next(export)
        created = subjects.CreateSubject(  # a blocking write, on the one pool thread
            pb.CreateSubjectRequest(identities=[email("bo@example.se")]), timeout=5
        ).subject
        stored = records.CreateRecord(  # the loop's own write path
            pb.CreateRecordRequest(parent=created.name, record=record()), timeout=5
        ).record
        got = records.GetRecord(pb.GetRecordRequest(name=stored.name), timeout=5).record
        assert got == stored
        for export in exports:
            export.cancel()


@contextmanager
def big_subject_served(
    vault: Vault, settings: ServerSettings
) -> Iterator[tuple[grpc.Channel, str]]:
    """A server with `settings` and a channel to it, holding a subject whose
    export (four records of 8 MiB) stays in flight while the client does not read."""
    with (
        served(build_services(vault), replace(settings, address="127.0.0.1:0")) as running,
        channel_to(running, options=[("grpc.max_receive_message_length", 64 << 20)]) as channel,
    ):
        yield channel, store_big_records(channel, 4)


def store_big_records(channel: grpc.Channel, count: int) -> str:
    """A subject with `count` records of 8 MiB each: an export of it stays in flight."""
    subjects, records = pb_grpc.SubjectServiceStub(channel), pb_grpc.RecordServiceStub(channel)
    anna = subjects.CreateSubject(
        pb.CreateSubjectRequest(identities=[email("anna@example.se")])
    ).subject
    for _ in range(count):
        big = record("media")
        big.content.data = os.urandom(8 << 20)
        records.CreateRecord(pb.CreateRecordRequest(parent=anna.name, record=big))
    return anna.name


@pytest.mark.slow
def test_sigterm_turns_health_off_and_lets_calls_in_flight_finish(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")
    try:
        with server.channel(options=[("grpc.max_receive_message_length", 64 << 20)]) as channel:
            name = store_big_records(channel, 3)
            watch = health_pb2_grpc.HealthStub(channel).Watch(
                health_pb2.HealthCheckRequest(service="")
            )
            assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
            export = pb_grpc.SubjectServiceStub(channel).ExportSubject(
                pb.ExportSubjectRequest(name=name)
            )
            first = next(export)  # the export is in flight

            server.process.send_signal(signal.SIGTERM)
            assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
            rest = list(export)  # the call in flight still finishes
            chunks = [m for m in [first, *rest] if m.HasField("archive_chunk")]
            assert sum(len(m.archive_chunk) for m in chunks) > 24 << 20
        assert server.wait() == 0
    finally:
        server.close()


def test_many_clients_writing_one_subject_lose_nothing(
    subjects: pb_grpc.SubjectServiceStub, records: pb_grpc.RecordServiceStub
) -> None:
    anna = subjects.CreateSubject(
        pb.CreateSubjectRequest(identities=[email("anna@example.se")])
    ).subject
    failures: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for n in range(25):
                records.CreateRecord(
                    pb.CreateRecordRequest(parent=anna.name, record=record(w=worker, n=n))
                )
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    stored = {
        (int(m.record.fields["w"]), int(m.record.fields["n"]))
        for m in records.StreamRecords(pb.StreamRecordsRequest(parent=anna.name))
    }
    assert stored == {(w, n) for w in range(8) for n in range(25)}


def test_a_second_server_on_the_same_port_is_refused(server: RunningServer, vault: Vault) -> None:
    from vault.server.app import AddressUnavailable

    with pytest.raises(AddressUnavailable, match="cannot listen on"):
        create_server(build_services(vault), ServerSettings(address=f"127.0.0.1:{server.port}"))


class HeldSystem(Connector):
    """A connector whose health check waits until the test lets it go."""

    name = "held"

    def __init__(self, settings: ConnectorSettings) -> None:
        super().__init__(settings)
        self.entered = threading.Semaphore(0)
        self.release = threading.Event()

    def holdings(self) -> Holdings:
        return Holdings(
            "held",
            "a test system",
            "SE",
            (HeldCategory("contact", "contact details", "testing", LegalBasis.CONTRACT, "1 year"),),
        )

    def find(self, identities):  # type: ignore[no-untyped-def]
        return []

    def export(self, identities):  # type: ignore[no-untyped-def]
        return iter(())

    def erase(self, identities, today, references=None):  # type: ignore[no-untyped-def]
        return []

    def health(self) -> HealthReport:
        self.entered.release()
        self.release.wait(30)
        return HealthReport(True, "ok")


def test_every_unary_call_past_the_limit_is_refused_at_once_and_health_still_answers(
    vault: Vault, tmp_path: Path
) -> None:
    held = HeldSystem(ConnectorSettings("held", {}, tmp_path, {}))
    registry = ConnectorRegistry(
        {"held": InstalledConnector("held", "test", True, held, held.holdings())}
    )
    limit = 3
    services = build_services(vault, registry)
    with served(services, ServerSettings("127.0.0.1:0", max_concurrent_rpcs=limit)) as running:
        try:
            with channel_to(running) as channel:
                subjects = pb_grpc.SubjectServiceStub(channel)
                records = pb_grpc.RecordServiceStub(channel)
                connectors = pb_grpc.ConnectorServiceStub(channel)
                anna = subjects.CreateSubject(
                    pb.CreateSubjectRequest(identities=[email("anna@example.se")])
                ).subject
                in_flight = [
                    connectors.CheckConnector.future(
                        pb.CheckConnectorRequest(name="held"), timeout=30
                    )
                    for _ in range(limit)
                ]
                for _ in range(limit):
                    assert held.entered.acquire(timeout=10), "a held call never reached the system"
                # Unary calls of every kind: on the loop, on the pool, the loop's write path.
                for call in (
                    lambda: subjects.GetSubject(pb.GetSubjectRequest(name=anna.name), timeout=10),
                    lambda: subjects.FindSubject(
                        pb.FindSubjectRequest(identity=email("anna@example.se")), timeout=10
                    ),
                    lambda: subjects.CreateSubject(
                        pb.CreateSubjectRequest(identities=[email("bo@example.se")]), timeout=10
                    ),
                    lambda: records.CreateRecord(
                        pb.CreateRecordRequest(parent=anna.name, record=record()), timeout=10
                    ),
                    lambda: connectors.ListConnectors(pb.ListConnectorsRequest(), timeout=10),
                ):
                    with pytest.raises(grpc.RpcError) as raised:
                        call()
                    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                    assert error_info(raised.value).reason == "TOO_MANY_CALLS"
                health = health_pb2_grpc.HealthStub(channel)
                answer = health.Check(health_pb2.HealthCheckRequest(), timeout=10)
                assert answer.status == health_pb2.HealthCheckResponse.SERVING

                held.release.set()
                assert all(call.result().connector.healthy for call in in_flight)
                # The calls that held the places have ended: the next one is served.
                assert subjects.GetSubject(pb.GetSubjectRequest(name=anna.name)).subject == anna
        finally:
            held.release.set()


def test_clients_cancelling_exports_leave_no_error_in_the_log(
    vault: Vault, caplog: pytest.LogCaptureFixture
) -> None:
    streams = 24
    caplog.set_level(logging.WARNING)
    with big_subject_served(vault, ServerSettings(max_concurrent_rpcs=streams)) as (channel, name):
        subjects = pb_grpc.SubjectServiceStub(channel)
        exports = [
            subjects.ExportSubject(pb.ExportSubjectRequest(name=name)) for _ in range(streams)
        ]
        for export in exports:
            next(export)
        for export in exports:
            export.cancel()
        # Every place is taken until the server has ended the cancelled streams.
        for _ in range(200):
            try:
                subjects.GetSubject(pb.GetSubjectRequest(name=name), timeout=10)
                break
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                threading.Event().wait(0.05)
        else:
            pytest.fail("the cancelled exports never ended")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
