"""Two real server processes on one PostgreSQL database: each erasure step is
claimed once, a key destroyed through one is unusable through the other at once,
and when one is killed mid-erasure the other finishes every request."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import psycopg
import pytest

from tests import postgres
from tests.helpers import email, error_info, record
from tests.integration.test_crash_recovery import assert_gone_everywhere, register
from tests.integration.test_migrate import consent_vault
from tests.processes import ServerProcess
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc
from vault_standins import demo as standins
from vault_standins.people import Person, generated_people

pytestmark = pytest.mark.slow

PEOPLE = generated_people(6)
# Short leases, so the survivor takes over a killed server's steps in seconds.
ERASURE = {
    "backoff_base_s": 0.05,
    "backoff_cap_s": 0.2,
    "lease_seconds": 3,
    "call_timeout_s": 1,
}


@pytest.fixture
def database() -> Iterator[str]:
    with postgres.fresh_schema("cv_procs") as url:
        yield url


@pytest.fixture
def crowd(tmp_path: Path) -> Iterator[standins.DemoSystems]:
    environ: dict[str, str] = {}
    started = standins.start(tmp_path / "systems", people=PEOPLE, environ=environ)
    started.environ = environ  # type: ignore[attr-defined]
    yield started
    started.stop()


def serve(
    tmp_path: Path,
    name: str,
    database: str,
    systems: standins.DemoSystems,
    more: tuple[str, ...] = (),
) -> ServerProcess:
    """A server of its own (its own data directory), on the shared database and keyring."""
    keyring = str(tmp_path / "keyring.json")
    return ServerProcess(
        tmp_path / name,
        {"connectors": systems.sections, "erasure": ERASURE},
        dict(systems.environ),  # type: ignore[attr-defined]
        extra_args=("--database", database, "--keyring", keyring, *more),
    )


@pytest.fixture
def pair(
    tmp_path: Path, database: str, crowd: standins.DemoSystems
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    first = serve(tmp_path, "a", database, crowd)  # creates the schema and the keyring
    second = serve(tmp_path, "b", database, crowd)
    yield first, second
    first.close()
    second.close()


def start_erasure(server: ServerProcess, subject: str, request_id: str) -> str:
    """Start an erasure and leave it to the servers; its request name."""
    with server.channel() as channel:
        stream = pb_grpc.SubjectServiceStub(channel).EraseSubject(
            pb.EraseSubjectRequest(name=subject, request_id=request_id), timeout=30
        )
        first = next(stream)
        stream.cancel()
    return first.request.name


def settled(server: ServerProcess, request: str, timeout: float = 60) -> pb.ErasureRequest:
    """The request once it completed, asked of `server`."""
    deadline = time.monotonic() + timeout
    with server.channel() as channel:
        erasures = pb_grpc.ErasureServiceStub(channel)
        while True:
            found = erasures.GetErasureRequest(pb.GetErasureRequestRequest(name=request)).request
            if found.state == pb.ERASURE_REQUEST_STATE_COMPLETED or time.monotonic() > deadline:
                return found
            time.sleep(0.1)


def registered(server: ServerProcess, people: list[Person]) -> dict[str, str]:
    with server.channel() as channel:
        return {person.key: register(channel, person) for person in people}


def test_concurrent_erasures_through_two_servers_are_each_done_once(
    pair: tuple[ServerProcess, ServerProcess], crowd: standins.DemoSystems
) -> None:
    first, second = pair
    names = registered(first, PEOPLE)
    crowd.moodle.delay = 0.05  # long enough that both servers' workers overlap
    requests = [
        start_erasure((first, second)[i % 2], names[p.key], f"erase-{p.key}")
        for i, p in enumerate(PEOPLE)
    ]
    finished = [settled(second, request) for request in requests]
    # Every failed attempt is a line one of the servers logged; on a busy
    # machine its last lines reach us a while after the request settled.
    failed_attempts = sum(step.attempts - 1 for done in finished for step in done.steps)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        log = "".join(first.output + second.output)
        if len(re.findall(r"step \S+ failed: ", log)) >= failed_attempts:
            break
        time.sleep(0.1)
    for done in finished:
        assert done.state == pb.ERASURE_REQUEST_STATE_COMPLETED, done
        # No step ran twice: every attempt but the one that succeeded is a failure
        # one of the servers logged (the salon's SQLite file, shared by both
        # servers' connectors, can be busy for a moment), never a second claim.
        request_id = done.name.removeprefix("erasureRequests/")
        for step in done.steps:
            failures = log.count(f"step {request_id}/{step.system} failed")
            assert step.attempts == failures + 1, (step.system, step.attempts, log)
    for person in PEOPLE:
        assert_gone_everywhere(crowd, person)


def test_a_key_destroyed_through_one_server_is_unusable_through_the_other_at_once(
    pair: tuple[ServerProcess, ServerProcess],
) -> None:
    first, second = pair
    with (
        first.channel() as one,
        second.channel() as other,
    ):
        subject = (
            pb_grpc.SubjectServiceStub(one)
            .CreateSubject(pb.CreateSubjectRequest(identities=[email("kim@example.se")]))
            .subject.name
        )
        stored = (
            pb_grpc.RecordServiceStub(one)
            .CreateRecord(
                pb.CreateRecordRequest(parent=subject, record=record("contact", note="read there"))
            )
            .record.name
        )
        reader = pb_grpc.RecordServiceStub(other)
        # The other server reads it, so its key is in that process's cache.
        assert reader.GetRecord(pb.GetRecordRequest(name=stored)).record.fields["note"]
        # The category's key is destroyed through the first server...
        pb_grpc.RecordServiceStub(one).EraseCategory(
            pb.EraseCategoryRequest(parent=subject, category="contact")
        )
        # ...and the very next read through the other finds nothing to decrypt.
        with pytest.raises(grpc.RpcError) as raised:
            reader.GetRecord(pb.GetRecordRequest(name=stored))
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
        # A whole subject's keys, destroyed through the first, likewise.
        kept = (
            pb_grpc.RecordServiceStub(one)
            .CreateRecord(
                pb.CreateRecordRequest(parent=subject, record=record("notes", note="second"))
            )
            .record.name
        )
        assert reader.GetRecord(pb.GetRecordRequest(name=kept)).record.fields["note"]
        stream = pb_grpc.SubjectServiceStub(one).EraseSubject(
            pb.EraseSubjectRequest(name=subject), timeout=30
        )
        list(stream)
        with pytest.raises(grpc.RpcError) as raised:
            reader.GetRecord(pb.GetRecordRequest(name=kept))
        assert error_info(raised.value).reason == "SUBJECT_ERASED"


def test_when_one_server_is_killed_mid_erasure_the_other_finishes_every_request(
    pair: tuple[ServerProcess, ServerProcess], crowd: standins.DemoSystems, database: str
) -> None:
    first, second = pair
    names = registered(first, PEOPLE)
    crowd.moodle.delay = 0.3  # slow enough that the kill lands mid-step
    requests = [start_erasure(first, names[p.key], f"erase-{p.key}") for p in PEOPLE]
    time.sleep(0.5)
    first.kill9()
    crowd.moodle.delay = 0.0
    for request in requests:
        done = settled(second, request)
        assert done.state == pb.ERASURE_REQUEST_STATE_COMPLETED, done
    for person in PEOPLE:
        assert_gone_everywhere(crowd, person)
    # And in the vault itself: no person's key and no job's key is left.
    with psycopg.connect(database) as conn:
        for table in ("subject_keys", "data_keys", "job_keys"):
            (left,) = conn.execute(f"SELECT count(*) FROM {table}").fetchone() or (0,)
            assert left == 0, table


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_two_servers_share_one_address_only_when_asked(
    tmp_path: Path, database: str, crowd: standins.DemoSystems
) -> None:
    address = f"127.0.0.1:{free_port()}"
    shared = ("--address", address, "--reuse-port")
    first = serve(tmp_path, "a", database, crowd, shared)
    second = serve(tmp_path, "b", database, crowd, shared)
    try:
        assert first.port == second.port
        # Each new connection lands on one of them; every call is answered
        # (one database: a token either made is good at both).
        for n in range(20):
            with first.channel(options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
                subjects = pb_grpc.SubjectServiceStub(channel)
                subjects.CreateSubject(
                    pb.CreateSubjectRequest(identities=[email(f"p{n}@example.se")]), timeout=10
                )
        # Without the flag, a third is refused rather than silently sharing.
        refused = consent_vault("serve", "--address", address, "--database", database)
        assert refused.returncode == 2 and f"cannot listen on {address}" in refused.stderr
        assert "start every server there with --reuse-port" in " ".join(refused.stderr.split())
    finally:
        first.close()
        second.close()
