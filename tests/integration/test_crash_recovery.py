"""kill -9 of the server at many points during an erasure loses no request: after a
restart every request completes, and no system is left half-erased."""

from __future__ import annotations

import contextlib
import random
import sqlite3
import time
from pathlib import Path

import grpc
import pytest

from tests.helpers import error_info
from tests.processes import ServerProcess
from vault.core.faults import CRASH_ENV
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc
from vault_standins import demo as standins
from vault_standins import salon
from vault_standins.people import DEMO_PEOPLE, Person, generated_people

pytestmark = pytest.mark.slow

CRASH_POINTS = [
    "erasure_request_accepted",  # before the request is committed
    "erasure_request_committed",  # committed, nothing done yet
    "vault_keys_destroyed",  # the vault's own step done, not yet recorded
    "matches_sealed",  # a system's references sealed in the job, nothing erased there yet
    "connector_erased",  # a system erased, not yet recorded
    "step_recorded",  # a step recorded, the job not yet ended
]


def config(systems: standins.DemoSystems) -> dict:
    return {
        "connectors": systems.sections,
        "erasure": {
            "backoff_base_s": 0.05,
            "backoff_cap_s": 0.2,
            "lease_seconds": 30,
            "call_timeout_s": 10,
        },
    }


def register(channel: grpc.Channel, person: Person) -> str:
    identities = [
        pb.Identity(kind=pb.IDENTITY_KIND_PERSONNUMMER, value=person.personnummer),
        pb.Identity(kind=pb.IDENTITY_KIND_EMAIL, value=person.email),
        pb.Identity(kind=pb.IDENTITY_KIND_PHONE, value=person.phone),
    ]
    subjects = pb_grpc.SubjectServiceStub(channel)
    return subjects.CreateSubject(
        pb.CreateSubjectRequest(identities=identities, request_id=f"reg-{person.key}")
    ).subject.name


def erase_until_rest(server: ServerProcess, name: str, request_id: str) -> pb.ErasureRequest:
    with server.channel() as channel:
        stream = pb_grpc.SubjectServiceStub(channel).EraseSubject(
            pb.EraseSubjectRequest(name=name, request_id=request_id), timeout=60
        )
        return list(stream)[-1].request


def assert_gone_everywhere(systems: standins.DemoSystems, person: Person) -> None:
    moodle = systems.moodle
    assert not [u for u in moodle.users.values() if u["email"] == person.email], "left in Moodle"
    customers = [c for c in systems.accounting.customers.values() if c["Email"] == person.email]
    assert not customers, "left in accounting"
    conn = sqlite3.connect(systems.salon_db)
    try:
        assert set(salon.counts(conn, "?", person).values()) == {0}, "left in the salon"
    finally:
        conn.close()


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_a_kill_at_any_point_is_finished_after_restart(
    point: str, tmp_path: Path, systems: standins.DemoSystems
) -> None:
    anna = DEMO_PEOPLE[0]
    env = {**systems.environ}  # type: ignore[attr-defined]
    server = ServerProcess(tmp_path / "data", config(systems), {**env, CRASH_ENV: point})
    try:
        with server.channel() as channel:
            name = register(channel, anna)
        with pytest.raises(grpc.RpcError) as raised:
            erase_until_rest(server, name, "erase-anna")
        assert raised.value.code() in (
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.INTERNAL,
            grpc.StatusCode.UNKNOWN,
        )
        assert server.wait() == -9
    finally:
        server.close()

    restarted = ServerProcess(tmp_path / "data", config(systems), env)
    try:
        # The client retries with the same request id, as AIP-155 asks: the request
        # is found (or, if it was never committed, made now) and finished.
        request = erase_until_rest(restarted, name, "erase-anna")
        assert request.state == pb.ERASURE_REQUEST_STATE_COMPLETED, request
        assert all(s.state == pb.ERASURE_STEP_STATE_SUCCEEDED for s in request.steps)
        assert_gone_everywhere(systems, anna)
        # Nothing was erased twice harmfully: the grading basis Moodle keeps is still there.
        stripped = [u for u in systems.moodle.users.values() if u["firstname"] == "Erased"]
        assert len(stripped) == 1 and systems.moodle.grades[1, stripped[0]["id"]]
        with restarted.channel() as channel:
            with pytest.raises(grpc.RpcError) as raised:
                pb_grpc.SubjectServiceStub(channel).GetSubject(pb.GetSubjectRequest(name=name))
            assert error_info(raised.value).reason == "SUBJECT_ERASED"
            listed = pb_grpc.ErasureServiceStub(channel).ListErasureRequests(
                pb.ListErasureRequestsRequest()
            )
            assert len(listed.requests) == 1
    finally:
        restarted.close()


@pytest.fixture
def crowded_systems(tmp_path: Path) -> standins.DemoSystems:
    environ: dict[str, str] = {}
    started = standins.start(tmp_path / "crowd", people=generated_people(6), environ=environ)
    started.environ = environ  # type: ignore[attr-defined]
    started.moodle.delay = 0.15  # slow enough that kills land mid-step
    yield started
    started.stop()


def start_erasures(server: ServerProcess, people: list[Person], names: dict[str, str]) -> None:
    """Register and start erasing everyone; each request is durable once accepted."""
    with server.channel() as channel:
        subjects = pb_grpc.SubjectServiceStub(channel)
        for person in people:
            names.setdefault(person.key, register(channel, person))
            stream = subjects.EraseSubject(
                pb.EraseSubjectRequest(name=names[person.key], request_id=f"erase-{person.key}")
            )
            with contextlib.suppress(grpc.RpcError, StopIteration):  # the server may be going down
                next(stream)
            stream.cancel()


def test_kills_at_random_moments_lose_nothing(
    tmp_path: Path, crowded_systems: standins.DemoSystems
) -> None:
    people = generated_people(6)
    env = dict(crowded_systems.environ)  # type: ignore[attr-defined]
    rng = random.Random(20261124)
    names: dict[str, str] = {}
    for _ in range(2):
        server = ServerProcess(tmp_path / "data", config(crowded_systems), env)
        try:
            start_erasures(server, people, names)
            time.sleep(rng.uniform(0.1, 0.8))  # mid-step, with the slow LMS
            server.kill9()
        finally:
            server.close()
    final = ServerProcess(tmp_path / "data", config(crowded_systems), env)
    try:
        for person in people:
            request = erase_until_rest(final, names[person.key], f"erase-{person.key}")
            assert request.state == pb.ERASURE_REQUEST_STATE_COMPLETED, (person.key, request)
    finally:
        final.close()
    for person in people:
        assert_gone_everywhere(crowded_systems, person)


def test_no_credential_reaches_the_server_log(
    tmp_path: Path, systems: standins.DemoSystems
) -> None:
    env = dict(systems.environ)  # type: ignore[attr-defined]
    server = ServerProcess(tmp_path / "data", config(systems), env)
    try:
        with server.channel() as channel:
            name = register(channel, DEMO_PEOPLE[0])
            subjects = pb_grpc.SubjectServiceStub(channel)
            # An export downloads Moodle files, whose URLs carry the token.
            list(subjects.ExportSubject(pb.ExportSubjectRequest(name=name), timeout=60))
            list(subjects.EraseSubject(pb.EraseSubjectRequest(name=name), timeout=60))
    finally:
        server.close()
    log = "".join(server.output)
    for secret in [*env.values(), server.token]:
        assert secret not in log
    for person_data in (DEMO_PEOPLE[0].email, DEMO_PEOPLE[0].personnummer):
        assert person_data not in log
