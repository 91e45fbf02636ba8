"""Who may make which call, written out here rather than read from the
server's table (vault.server.permissions), so a wrong line there fails: each
(role, RPC) is called for real over gRPC with a token of that role. A call the
role may make passes the gate (and may then fail on its dummy request, with
NOT_FOUND or INVALID_ARGUMENT); one it may not is PERMISSION_DENIED /
ROLE_NOT_ALLOWED. An RPC in the descriptors but not in this matrix fails, and
the README shows the same matrix."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests import helpers
from tests.access import METHODS, call, full_name, token_for
from tests.helpers import email, error_info
from tests.serving import channel_to
from vault.core.actor import Role
from vault.core.errors import Reason
from vault.server.app import RunningServer
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc

ROOT = Path(__file__).resolve().parents[2]
ROLES = [Role.INTEGRATOR, Role.PRIVACY_OFFICER, Role.AUDITOR, Role.ADMIN]

MATRIX_TEXT = """
                                           integrator  privacy_officer  auditor  admin
SubjectService.CreateSubject                   yes          yes            -       -
SubjectService.ImportSubjects                  -            yes            -       -
SubjectService.GetSubject                      yes          yes            -       -
SubjectService.FindSubject                     yes          yes            -       -
SubjectService.UpdateSubject                   -            yes            -       -
SubjectService.AddIdentity                     yes          yes            -       -
SubjectService.RectifyIdentity                 -            yes            -       -
SubjectService.RemoveIdentity                  -            yes            -       -
SubjectService.ExportSubject                   -            yes            -       -
SubjectService.EraseSubject                    -            yes            -       -
RecordService.CreateRecord                     yes          yes            -       -
RecordService.GetRecord                        yes          yes            -       -
RecordService.UpdateRecord                     yes          yes            -       -
RecordService.ListRecords                      yes          yes            -       -
RecordService.StreamRecords                    yes          yes            -       -
RecordService.ImportRecords                    yes          yes            -       -
RecordService.EraseCategory                    -            yes            -       -
ErasureService.GetErasureRequest               -            yes            yes     -
ErasureService.ListErasureRequests             -            yes            yes     -
ErasureService.WatchErasureRequest             -            yes            yes     -
ErasureService.RetryErasureRequest             -            yes            -       -
ErasureService.ConfirmManualAction             -            yes            -       -
ErasureService.DecideMatch                     -            yes            -       -
ConnectorService.ListConnectors                -            yes            -       yes
ConnectorService.CheckConnector                -            yes            -       yes
AccessService.CreateToken                      -            -              -       yes
AccessService.ListTokens                       -            -              -       yes
AccessService.RevokeToken                      -            -              -       yes
AuditService.ListAuditEvents                   -            yes            yes     -
AuditService.GetTreeHead                       -            yes            yes     -
AuditService.GetInclusionProof                 -            yes            yes     -
AuditService.GetConsistencyProof               -            yes            yes     -
ConsentService.RecordConsent                   yes          yes            -       -
ConsentService.GetConsentState                 yes          yes            yes     -
ConsentService.ListConsentEvents               yes          yes            yes     -
ConsentService.ExportConsentRecords            -            yes            -       -
ConsentService.RecordRestriction               -            yes            -       -
ConsentService.RecordObjection                 yes          yes            -       -
ConsentService.LiftProcessingLimit             -            yes            -       -
ConsentService.RecordOverridingGrounds         -            yes            -       -
ConsentService.StreamContactable               yes          yes            -       -
PolicyService.ListPurposes                     yes          yes            yes     yes
PolicyService.PublishPolicyVersion             -            yes            -       -
PolicyService.ListPolicyVersions               yes          yes            yes     yes
PolicyService.ListReconsentNeeded              yes          yes            yes     -
PolicyService.StreamReconsentNeeded            yes          yes            yes     -
"""


def parse_matrix(text: str) -> dict[str, frozenset[Role]]:
    header, *rows = text.strip().splitlines()
    roles = [Role(name) for name in header.split()]
    matrix = {}
    for row in rows:
        method, *cells = row.split()
        assert len(cells) == len(roles), row
        matrix[method] = frozenset(
            role for role, cell in zip(roles, cells, strict=True) if cell == "yes"
        )
    return matrix


MATRIX = parse_matrix(MATRIX_TEXT)


def short_name(method_name: str) -> str:
    """`/vault.v1.SubjectService/GetSubject` as the matrix writes it."""
    return method_name.removeprefix("/vault.v1.").replace("/", ".")


def test_the_matrix_has_every_rpc_of_the_api_and_no_other() -> None:
    assert sorted(MATRIX) == sorted(short_name(full_name(m)) for m in METHODS)


def test_the_matrix_gives_every_rpc_to_some_role_and_personal_data_never_to_the_admin() -> None:
    assert all(MATRIX.values())
    for method, roles in MATRIX.items():
        if method.startswith(
            ("SubjectService.", "RecordService.", "ErasureService.", "ConsentService.")
        ):
            assert Role.ADMIN not in roles, method
    # Who must consent again names people: never the admin's to read either.
    for method in ("PolicyService.ListReconsentNeeded", "PolicyService.StreamReconsentNeeded"):
        assert Role.ADMIN not in MATRIX[method], method


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role.value)
def test_each_role_passes_the_gate_exactly_where_the_matrix_says(
    server: RunningServer, role: Role
) -> None:
    token = token_for(server.vault, role, "lms" if role is Role.INTEGRATOR else "")
    metadata = (("authorization", f"Bearer {token}"),)
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        passed = {}
        for method in METHODS:
            try:
                call(channel, method, metadata)
                outcome = "answered"
            except grpc.RpcError as error:
                outcome = f"{error.code().name} {error_info(error).reason}"
            assert not outcome.startswith("UNAUTHENTICATED"), (full_name(method), outcome)
            passed[short_name(full_name(method))] = outcome != "PERMISSION_DENIED ROLE_NOT_ALLOWED"
    expected = {method: role in roles for method, roles in MATRIX.items()}
    assert passed == expected


def test_a_caller_without_the_right_gets_the_same_answer_whether_it_exists_or_not(
    server: RunningServer, channel: grpc.Channel
) -> None:
    subjects = pb_grpc.SubjectServiceStub(channel)
    anna = subjects.CreateSubject(
        pb.CreateSubjectRequest(identities=[email("anna@example.se")])
    ).subject
    record = (
        pb_grpc.RecordServiceStub(channel)
        .CreateRecord(pb.CreateRecordRequest(parent=anna.name, record=helpers.record()))
        .record
    )
    bo = subjects.CreateSubject(pb.CreateSubjectRequest(identities=[email("bo@example.se")]))
    erasure = list(subjects.EraseSubject(pb.EraseSubjectRequest(name=bo.subject.name)))[-1]
    nobody = "subjects/0123456789abcdef0123456789abcdef"
    no_request = "erasureRequests/0123456789abcdef0123456789abcdef"
    # (RPC, who may not make it, what it asks for: an existing name and a missing one)
    probes: list[tuple[str, tuple[Role, ...], Callable[[Stubs, str], Any], tuple[str, str]]] = [
        (
            "GetSubject",
            (Role.AUDITOR, Role.ADMIN),
            lambda stubs, name: stubs.subjects.GetSubject(pb.GetSubjectRequest(name=name)),
            (anna.name, nobody),
        ),
        (
            "GetRecord",
            (Role.AUDITOR, Role.ADMIN),
            lambda stubs, name: stubs.records.GetRecord(pb.GetRecordRequest(name=name)),
            (record.name, f"{nobody}/records/{'0' * 32}"),
        ),
        (
            "StreamRecords",
            (Role.AUDITOR, Role.ADMIN),
            lambda stubs, name: list(
                stubs.records.StreamRecords(pb.StreamRecordsRequest(parent=name))
            ),
            (anna.name, nobody),
        ),
        (
            "GetErasureRequest",
            (Role.INTEGRATOR, Role.ADMIN),
            lambda stubs, name: stubs.erasures.GetErasureRequest(
                pb.GetErasureRequestRequest(name=name)
            ),
            (erasure.request.name, no_request),
        ),
        (
            "WatchErasureRequest",
            (Role.INTEGRATOR, Role.ADMIN),
            lambda stubs, name: list(
                stubs.erasures.WatchErasureRequest(pb.WatchErasureRequestRequest(name=name))
            ),
            (erasure.request.name, no_request),
        ),
    ]
    for rpc, roles, ask, names in probes:
        for role in roles:
            with channel_to(server, role, "lms" if role is Role.INTEGRATOR else "") as bare:
                answers = []
                for name in names:
                    with pytest.raises(grpc.RpcError) as raised:
                        ask(Stubs(bare), name)
                    error = raised.value
                    answers.append((error.code(), error_info(error).reason, error.details()))
            assert answers[0] == answers[1], (rpc, role)
            assert answers[0][:2] == (
                grpc.StatusCode.PERMISSION_DENIED,
                Reason.ROLE_NOT_ALLOWED,
            ), (rpc, role)


class Stubs:
    def __init__(self, channel: grpc.Channel) -> None:
        self.subjects = pb_grpc.SubjectServiceStub(channel)
        self.records = pb_grpc.RecordServiceStub(channel)
        self.erasures = pb_grpc.ErasureServiceStub(channel)


def readme_matrix() -> dict[str, frozenset[Role]]:
    """The README's role matrix: `| RPC | integrator | privacy officer | auditor | admin |`."""
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index("| RPC | integrator | privacy officer | auditor | admin |")
    matrix = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        method, *cells = (cell.strip() for cell in line.strip("|").split("|"))
        matrix[re.sub(r"`", "", method)] = frozenset(
            role for role, cell in zip(ROLES, cells, strict=True) if cell == "yes"
        )
    return matrix


def test_the_readme_shows_the_same_matrix() -> None:
    assert readme_matrix() == MATRIX
