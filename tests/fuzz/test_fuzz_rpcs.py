"""Every RPC of the API, read from its descriptors, fuzzed with requests
hypothesis builds (tests.fuzz.messages) and with malformed bytes, as each
role with a valid token. Every answer is a clear status: OK or a refusal
with an ErrorInfo reason, never UNKNOWN, INTERNAL or a hang. Afterwards the
server still answers, and a sentinel subject the fuzz never learnt the name
of is exactly as it was.

Runs are derandomized (the same choices every run); the subjects the fuzz
meets have random ids, so a failure is reproduced from the request printed
with it rather than from a seed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from tests.access import METHODS, full_name, with_token
from tests.fuzz.messages import Names, RequestStrategies, malformed_bytes
from tests.helpers import email, record
from tests.serving import UNLIMITED, served
from vault.core.actor import LOCAL, Role
from vault.core.audit.events import OK, AuditEvent, Operation
from vault.core.audit.store import AuditQuery
from vault.core.vault import Vault
from vault.runtime import build_services
from vault.server.app import RunningServer
from vault.server.operations import operation_of
from vault.server.permissions import allowed
from vault.settings import ServerSettings
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc

# The integrator writes for its system's purpose, so its writes can succeed.
SETTINGS = ServerSettings(
    address="127.0.0.1:0",
    access=dataclasses.replace(UNLIMITED, purposes={"lms": frozenset({"course_delivery"})}),
)
ROLES = [
    (Role.INTEGRATOR, "lms"),
    (Role.PRIVACY_OFFICER, ""),
    (Role.AUDITOR, ""),
    (Role.ADMIN, ""),
]

# Examples per method and role, (SQLite, PostgreSQL): a method the role may
# call gets many, one refused at the gate a few (the gate is one code path).
# About 4,500 calls a run in all, each now a durable audit event too.
TYPED = {True: (50, 12), False: (5, 1)}
RAW = {True: (10, 3), False: (2, 1)}
TIMEOUT_SECONDS = 10
MAX_STREAMED = 50  # a server stream is read to its end or this many messages

# A refusal the caller can act on. DATA_LOSS (a tampered blob) and
# UNAVAILABLE (a keyring that cannot serve) are the server's own state and
# cannot come from a request: either one here is a finding.
REFUSALS = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}


@dataclasses.dataclass(frozen=True)
class Answer:
    """One fuzzed call and how the server answered it."""

    method: str  # /vault.v1.Service/Method
    role: Role
    request: Message | list[Message] | bytes | list[bytes]
    code: grpc.StatusCode
    reason: str  # the ErrorInfo reason; "" on OK or when the error has none
    metadata: dict[str, str]  # the ErrorInfo's (the field at fault, say)
    responses: list[Message]


def answered_clearly(answer: Answer) -> None:
    """OK, or a refusal with a stable reason."""
    if answer.code is grpc.StatusCode.OK:
        return
    assert answer.code in REFUSALS, f"{answer.method} as {answer.role.value}: {answer.code.name}"
    assert answer.reason, (
        f"{answer.method} as {answer.role.value}: {answer.code.name} without a reason"
    )


# Called with every answer, in order; each run adds a TrailWatch of its own.
AFTER_EACH_CALL: list[Callable[[Answer], None]] = [answered_clearly]


class TrailWatch:
    """That each call left its audit event: one of the caller's role, naming
    the operation the method is (or, refused at the gate, `call refused`)
    and the answer the caller got (`ok`, or the reason), among the events
    written since the call before it."""

    def __init__(self, vault: Vault) -> None:
        self.store = vault.records.audit
        self.mark = self._last(0)

    def _last(self, after: int) -> int:
        rows = self.store.query(AuditQuery(after_row=after, limit=1_000_000))
        return rows[-1].row_id if rows else after

    def __call__(self, answer: Answer) -> None:
        written = self.store.query(AuditQuery(after_row=self.mark, limit=1_000_000))
        if written:
            self.mark = written[-1].row_id
        told = {
            (event.operation, event.result)
            for event in map(AuditEvent.from_entry, (row.entry for row in written))
            if event.role == answer.role.value
        }
        result = OK if answer.code is grpc.StatusCode.OK else answer.reason
        operations = {operation_of(answer.method), Operation.CALL_REFUSED.value}
        assert any((operation, result) in told for operation in operations), (
            f"{answer.method} as {answer.role.value} answered {result}; the trail told {told}"
        )


# ------------------------------------------------------------ calling
def _error_info(error: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    """The error's ErrorInfo; an empty one when it carries none."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    info = error_details_pb2.ErrorInfo()
    for detail in status.details if status is not None else []:
        if detail.Unpack(info):
            break
    return info


def invoke(
    channel: grpc.Channel, role: Role, method: MethodDescriptor, request: Any, raw: bool
) -> Answer:
    """Make `method` with `request` (a list of messages for a client stream;
    bytes sent as they are when `raw`), reading a server stream to its end or
    MAX_STREAMED messages."""
    request_class = GetMessageClass(method.input_type)
    kinds = {
        (False, False): channel.unary_unary,
        (False, True): channel.unary_stream,
        (True, False): channel.stream_unary,
        (True, True): channel.stream_stream,
    }
    callable_ = kinds[(method.client_streaming, method.server_streaming)](
        full_name(method),
        request_serializer=None if raw else request_class.SerializeToString,
        response_deserializer=GetMessageClass(method.output_type).FromString,
    )
    sent = iter(request) if method.client_streaming else request
    responses: list[Message] = []
    try:
        answer = callable_(sent, timeout=TIMEOUT_SECONDS)
        if method.server_streaming:
            for response in answer:
                responses.append(response)
                if len(responses) == MAX_STREAMED:
                    answer.cancel()
                    break
        else:
            responses.append(answer)
    except grpc.RpcError as error:
        info = _error_info(error)
        return Answer(
            full_name(method),
            role,
            request,
            error.code(),
            info.reason,
            dict(info.metadata),
            responses,
        )
    return Answer(full_name(method), role, request, grpc.StatusCode.OK, "", {}, responses)


@contextmanager
def token_channel(
    running: RunningServer, role: Role, system: str, names: list[str]
) -> Iterator[grpc.Channel]:
    """A channel presenting a new token of `role`; the token's name is added
    to `names`, which the fuzz must never be given (it would revoke it)."""
    issued = running.vault.tokens.create(LOCAL, role, system=system, name=f"fuzz {role.value}")
    names.append(issued.token.token_id)
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as opened:
        yield with_token(opened, issued.secret)


# -------------------------------------------------- the fuzz's world
@pytest.fixture
def running(vault: Vault, engine: str | None) -> Iterator[RunningServer]:
    with served(build_services(vault, stores_embedded=engine is None), SETTINGS) as server:
        yield server


def plant_sentinel(officer: grpc.Channel) -> str:
    """A subject with records that only the harness knows the name of."""
    subjects = pb_grpc.SubjectServiceStub(officer)
    records = pb_grpc.RecordServiceStub(officer)
    sentinel = subjects.CreateSubject(
        pb.CreateSubjectRequest(identities=[email("sentinel@example.org")], roles=["student"])
    ).subject.name
    for category in ["contact", "notes"]:
        records.CreateRecord(pb.CreateRecordRequest(parent=sentinel, record=record(category)))
    lms = record("student.grading", grade="A")
    lms.source_system = "lms"
    records.CreateRecord(pb.CreateRecordRequest(parent=sentinel, record=lms))
    return sentinel


def snapshot(officer: grpc.Channel, name: str) -> list[Message]:
    """All a privacy officer can read of subject `name`: the subject, each
    of its records read whole, and any erasure request naming it."""
    subject = pb_grpc.SubjectServiceStub(officer).GetSubject(pb.GetSubjectRequest(name=name))
    records = pb_grpc.RecordServiceStub(officer)
    listed = records.ListRecords(pb.ListRecordsRequest(parent=name, page_size=100))
    read = [records.GetRecord(pb.GetRecordRequest(name=each.name)) for each in listed.records]
    requests = pb_grpc.ErasureServiceStub(officer).ListErasureRequests(
        pb.ListErasureRequestsRequest(page_size=1000)
    )
    erasures = [each for each in requests.requests if each.subject == name]
    return [subject, listed, *read, *erasures]


def seed_subjects(officer: grpc.Channel, names: Names, batch: int) -> None:
    """Subjects made for the fuzz, before each method: roles that cannot
    create subjects need some to aim at, and the methods before may have
    erased the last ones. One plain, one protected, one erased, each with a
    record of the integrator's system."""
    subjects = pb_grpc.SubjectServiceStub(officer)
    records = pb_grpc.RecordServiceStub(officer)
    made = []
    for number, protected in [(0, False), (1, True), (2, False)]:
        answer = subjects.CreateSubject(
            pb.CreateSubjectRequest(
                identities=[email(f"seed{batch}.{number}@example.net")],
                protected_identity=protected,
            )
        )
        made.append(answer.subject.name)
        lms = record("contact")
        lms.source_system = "lms"
        created = records.CreateRecord(pb.CreateRecordRequest(parent=made[-1], record=lms))
        names.learn(created)
    for answer in subjects.EraseSubject(pb.EraseSubjectRequest(name=made[2])):
        names.learn(answer)
    for name in made:
        names.learn(pb.Subject(name=name))


def still_serving(officer: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(officer).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    subjects = pb_grpc.SubjectServiceStub(officer)
    made = subjects.CreateSubject(
        pb.CreateSubjectRequest(identities=[email("after.the.fuzz@example.org")]), timeout=5
    ).subject
    assert subjects.GetSubject(pb.GetSubjectRequest(name=made.name), timeout=5).subject == made


# ----------------------------------------------------------- the fuzz
FUZZ_SETTINGS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    report_multiple_bugs=False,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.filter_too_much,
    ],
)


def fuzz_method(
    channel: grpc.Channel,
    role: Role,
    method: MethodDescriptor,
    names: Names,
    typed: int,
    raw: int,
    checks: list[Callable[[Answer], None]],
) -> None:
    """`typed` calls of `method` with built requests, then `raw` with bytes,
    each answer given to every one of `checks`."""
    strategies = RequestStrategies(names)
    typed_requests = strategies.message(method.input_type)
    raw_requests = malformed_bytes(method.input_type)
    if method.client_streaming:
        # A client stream: a few messages, or none.
        typed_requests = st.lists(typed_requests, max_size=3)
        raw_requests = st.lists(raw_requests, min_size=1, max_size=2)

    def check(sent: Any, as_raw: bool) -> None:
        answer = invoke(channel, role, method, sent, as_raw)
        note(f"{answer.method} as {answer.role.value} -> {answer.code.name} {answer.reason}")
        for response in answer.responses:
            names.learn(response)
        for after in checks:
            after(answer)

    @settings(FUZZ_SETTINGS, max_examples=typed)
    @given(typed_requests)
    def built(sent: Any) -> None:
        check(sent, as_raw=False)

    @settings(FUZZ_SETTINGS, max_examples=raw)
    @given(raw_requests)
    def malformed(sent: Any) -> None:
        check(sent, as_raw=True)

    built()
    malformed()


@pytest.mark.slow
@pytest.mark.parametrize(("role", "system"), ROLES, ids=[role.value for role, _ in ROLES])
def test_every_rpc_answers_fuzzed_requests_clearly_and_leaves_others_alone(
    running: RunningServer, engine: str | None, role: Role, system: str
) -> None:
    protected: list[str] = []
    with (
        token_channel(running, Role.PRIVACY_OFFICER, "", protected) as officer,
        token_channel(running, role, system, protected) as fuzzer,
    ):
        sentinel = plant_sentinel(officer)
        before = snapshot(officer, sentinel)
        names = Names(forbidden=[*protected, sentinel.removeprefix("subjects/")])
        column = 0 if engine is None else 1
        checks = [*AFTER_EACH_CALL, TrailWatch(running.vault)]
        for batch, method in enumerate(METHODS):
            seed_subjects(officer, names, batch)
            may = allowed(full_name(method), role)
            fuzz_method(fuzzer, role, method, names, TYPED[may][column], RAW[may][column], checks)
        still_serving(officer)
        assert snapshot(officer, sentinel) == before
