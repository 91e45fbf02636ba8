"""The error reasons are one list: the core's `Reason`, the API's `ErrorReason`,
every error class, the server's error table and the README's error table say
the same, and no reason only repeats its status code."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import grpc
import pytest

import vault
from tests.helpers import email, error_info, pnr
from vault.cli import main
from vault.core import errors
from vault.core.errors import Reason
from vault.server import errors as server_errors
from vault.server.app import RunningServer
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc

ROOT = Path(__file__).resolve().parents[1]

# Kinds of error, which choose a status code; only their subclasses name a reason.
KINDS = {
    errors.VaultError,
    errors.NotFound,
    errors.AlreadyExists,
    errors.FailedPrecondition,
    errors.Unauthenticated,
    errors.PermissionDenied,
    errors.Unavailable,
}

# INTERNAL is the one reason that is its status's name: nothing about an
# unexpected error leaves the server, so there is nothing more to say.
STATUS_NAMES = set(grpc.StatusCode.__members__) - {Reason.INTERNAL}

# Raises of a bare kind that are still in the tree, by the start of their
# message; each should raise an error that names its reason. Do not add to it.
BARE_RAISES_TO_GO = {
    "subject {subject_id} cannot take new records",
}


def vault_error_classes() -> list[type[errors.VaultError]]:
    """Every VaultError subclass in the vault and the installed connectors."""
    for module in pkgutil.walk_packages(vault.__path__, "vault."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    for plugin in entry_points(group="consent_vault"):
        plugin.load()

    def below(cls: type[errors.VaultError]) -> Iterator[type[errors.VaultError]]:
        for sub in cls.__subclasses__():
            yield sub
            yield from below(sub)

    return sorted(
        {cls for cls in below(errors.VaultError) if not cls.__module__.startswith("tests")},
        key=lambda cls: f"{cls.__module__}.{cls.__qualname__}",
    )


def sent_reasons() -> dict[str, grpc.StatusCode]:
    """Every reason the server can send, with the status it is sent under."""
    sent: dict[str, grpc.StatusCode] = {}
    for cls in vault_error_classes():
        code = server_errors.code_for(cls)
        if cls in KINDS or code is None:
            continue
        assert sent.setdefault(cls.reason, code) == code, f"{cls.reason} under two statuses"
    for reason, code in server_errors.EDGE_STATUS.items():
        assert sent.setdefault(reason, code) == code, f"{reason} under two statuses"
    return sent


def readme_error_table() -> dict[str, str]:
    """The README's `| status | reasons |` table: each reason with its status."""
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index("| status | reasons |")
    table: dict[str, str] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        status, reasons = (cell.strip() for cell in line.strip("|").split("|"))
        for reason in re.findall(r"`([A-Z][A-Z0-9_]*)`", reasons):
            assert reason not in table, f"{reason} is in the README's table twice"
            table[reason] = status.strip("`")
    return table


def test_the_core_reasons_are_the_api_error_reasons_in_the_same_order() -> None:
    values = pb.DESCRIPTOR.enum_types_by_name["ErrorReason"].values
    api = [value.name for value in values if value.name != "ERROR_REASON_UNSPECIFIED"]
    assert [member.name for member in Reason] == api
    assert all(member == member.name for member in Reason)


def test_every_vault_error_names_a_reason_from_the_list_and_has_a_status() -> None:
    classes = vault_error_classes()
    # The walk reaches the errors outside the core too.
    assert {"NothingToRetry", "ConnectorNotFound"} <= {cls.__name__ for cls in classes}
    for cls in classes:
        if cls in KINDS:
            assert cls.reason not in Reason.__members__, cls
            continue
        assert cls.reason in Reason.__members__, f"{cls.__qualname__}.reason {cls.reason!r}"
        assert server_errors.code_for(cls) is not None, f"{cls.__qualname__} has no status"


def test_every_reason_the_server_table_sends_is_in_the_list_and_no_reason_is_left_unsent() -> None:
    sent = sent_reasons()
    assert set(sent) == set(Reason)
    statuses = [
        server_errors.malformed_request("/vault.v1.SubjectService/GetSubject"),
        server_errors.too_many_calls(64),
        server_errors.status_for(RuntimeError("boom"), "/vault.v1.SubjectService/GetSubject"),
    ]
    for status in statuses:
        (detail,) = status.details
        info = pb_error_info(detail)
        assert info.reason in Reason.__members__
        assert status.code == sent[info.reason].value[0]


def test_no_reason_is_only_the_name_of_its_status() -> None:
    assert not set(Reason) & STATUS_NAMES


def test_the_readme_lists_exactly_the_reasons_each_under_its_status() -> None:
    expected = {reason: code.name for reason, code in sent_reasons().items()}
    assert readme_error_table() == expected


def test_nothing_in_the_vault_raises_a_bare_kind_of_error() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {message}"
        for path in sorted((ROOT / "vault").rglob("*.py"))
        if "v1" not in path.relative_to(ROOT).parts
        for line, message in bare_raises(path.read_text())
        if message not in BARE_RAISES_TO_GO
    ]
    assert not found, "raise an error that names its reason instead"


def test_the_check_for_bare_raises_sees_one() -> None:
    source = """
if stuck:
    raise errors.FailedPrecondition(f"subject {subject_id} is stuck", subject=subject_id)
raise NotFound("gone")
raise SubjectErased(subject_id)
"""
    assert bare_raises(source) == [(3, "subject {subject_id} is stuck"), (4, "gone")]


def bare_raises(source: str) -> list[tuple[int, str]]:
    """Each raise of a bare kind of error in `source`: its line and its
    message as written, {placeholders} included."""
    kinds = {cls.__name__ for cls in KINDS}
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            called = node.exc.func
            name = called.attr if isinstance(called, ast.Attribute) else getattr(called, "id", "")
            if name in kinds:
                found.append((node.lineno, _message(node.exc)))
    return sorted(found)


def _message(call: ast.Call) -> str:
    if not call.args:
        return ""
    first = call.args[0]
    if isinstance(first, ast.Constant):
        return str(first.value)
    if isinstance(first, ast.JoinedStr):
        return "".join(
            str(part.value)
            if isinstance(part, ast.Constant)
            else "{" + ast.unparse(part.value) + "}"  # type: ignore[attr-defined]
            for part in first.values
        )
    return ast.unparse(first)


def pb_error_info(detail: Any) -> Any:
    from google.rpc import error_details_pb2

    info = error_details_pb2.ErrorInfo()
    assert detail.Unpack(info)
    return info


# ------------------------------------------------------------ through gRPC


@pytest.fixture
def erased_request(channel: grpc.Channel) -> pb.ErasureRequest:
    """A completed erasure request of a subject who is gone: nothing needs attention."""
    subjects = pb_grpc.SubjectServiceStub(channel)
    anna = subjects.CreateSubject(
        pb.CreateSubjectRequest(identities=[pnr("811218-9876"), email("anna@example.se")])
    ).subject
    request = list(subjects.EraseSubject(pb.EraseSubjectRequest(name=anna.name)))[-1].request
    assert request.state == pb.ERASURE_REQUEST_STATE_COMPLETED
    return request


def test_errors_through_grpc_carry_their_own_reason_not_their_status(
    channel: grpc.Channel, erased_request: pb.ErasureRequest
) -> None:
    subjects = pb_grpc.SubjectServiceStub(channel)
    records = pb_grpc.RecordServiceStub(channel)
    erasure = pb_grpc.ErasureServiceStub(channel)
    connectors = pb_grpc.ConnectorServiceStub(channel)
    eva = subjects.CreateSubject(
        pb.CreateSubjectRequest(identities=[email("eva@example.se")])
    ).subject
    consent = pb_grpc.ConsentServiceStub(channel)
    policy = pb_grpc.PolicyServiceStub(channel)
    published = pb.PublishPolicyVersionRequest(
        version="2026-01", effective_date="2026-01-01", text="The privacy policy."
    )
    policy.PublishPolicyVersion(published)

    def consent_of(status: Any, version: str = "") -> pb.RecordConsentRequest:
        return pb.RecordConsentRequest(
            subject=eva.name,
            purposes=["marketing_email"],
            status=status,
            channel=pb.CONSENT_CHANNEL_WEB_FORM,
            policy_version=version,
        )

    # Eva's records, read for purposes they may not serve; Bo's, restricted.
    def held(subject: str, purpose: str, basis: Any, category: str = "contact") -> str:
        stored = pb.Record(
            category=category, purpose=purpose, legal_basis=basis, source_system="vault"
        )
        stored.fields.update({"city": "Malmö"})
        created = records.CreateRecord(pb.CreateRecordRequest(parent=subject, record=stored))
        return str(created.record.name)

    lesson = held(eva.name, "course_delivery", pb.LEGAL_BASIS_CONTRACT)
    mailing = held(eva.name, "marketing_email", pb.LEGAL_BASIS_CONSENT)
    figures = held(eva.name, "statistics", pb.LEGAL_BASIS_LEGITIMATE_INTEREST, "statistics")
    consent.RecordObjection(
        pb.RecordObjectionRequest(subject=eva.name, purposes=["statistics"], reason="by phone")
    )
    bo = subjects.CreateSubject(pb.CreateSubjectRequest(identities=[email("bo@example.se")]))
    bos = held(bo.subject.name, "course_delivery", pb.LEGAL_BASIS_CONTRACT)
    consent.RecordRestriction(
        pb.RecordRestrictionRequest(subject=bo.subject.name, reason="accuracy contested")
    )

    def read(name: str, purpose: str) -> Callable[[], Any]:
        return lambda: records.GetRecord(pb.GetRecordRequest(name=name, purpose=purpose))

    # Cay's restriction, lifted already; her objection to direct marketing, absolute.
    cay = subjects.CreateSubject(pb.CreateSubjectRequest(identities=[email("cay@example.se")]))
    lifted = consent.RecordRestriction(
        pb.RecordRestrictionRequest(subject=cay.subject.name, reason="accuracy contested")
    ).restriction
    consent.LiftProcessingLimit(pb.LiftProcessingLimitRequest(name=lifted.name, reason="done"))
    absolute = consent.RecordObjection(
        pb.RecordObjectionRequest(
            subject=cay.subject.name, purposes=["alumni_offers"], reason="no offers"
        )
    ).objection

    request = erased_request.name
    calls: list[tuple[Callable[[], Any], grpc.StatusCode, Reason]] = [
        (
            read(lesson, "platform_access"),
            grpc.StatusCode.PERMISSION_DENIED,
            Reason.PURPOSE_MISMATCH,
        ),
        (
            read(mailing, "marketing_email"),
            grpc.StatusCode.FAILED_PRECONDITION,
            Reason.CONSENT_REQUIRED,
        ),
        (read(figures, "statistics"), grpc.StatusCode.FAILED_PRECONDITION, Reason.OBJECTED),
        (read(bos, "course_delivery"), grpc.StatusCode.FAILED_PRECONDITION, Reason.RESTRICTED),
        (
            lambda: subjects.CreateSubject(pb.CreateSubjectRequest(identities=[email("eva@")])),
            grpc.StatusCode.INVALID_ARGUMENT,
            Reason.INVALID_FIELD,
        ),
        (
            lambda: subjects.GetSubject(
                pb.GetSubjectRequest(name="subjects/0123456789abcdef0123456789abcdef")
            ),
            grpc.StatusCode.NOT_FOUND,
            Reason.SUBJECT_NOT_FOUND,
        ),
        (
            lambda: records.GetRecord(
                pb.GetRecordRequest(name=f"{eva.name}/records/0123456789abcdef0123456789abcdef")
            ),
            grpc.StatusCode.NOT_FOUND,
            Reason.RECORD_NOT_FOUND,
        ),
        (
            lambda: erasure.GetErasureRequest(
                pb.GetErasureRequestRequest(name="erasureRequests/0123456789abcdef")
            ),
            grpc.StatusCode.NOT_FOUND,
            Reason.ERASURE_REQUEST_NOT_FOUND,
        ),
        (
            lambda: erasure.ConfirmManualAction(
                pb.ConfirmManualActionRequest(
                    name=f"{request}/manualActions/nothing", confirmed_by="dpo@school.se"
                )
            ),
            grpc.StatusCode.NOT_FOUND,
            Reason.MANUAL_ACTION_NOT_FOUND,
        ),
        (
            lambda: connectors.CheckConnector(pb.CheckConnectorRequest(name="crm-2")),
            grpc.StatusCode.NOT_FOUND,
            Reason.CONNECTOR_NOT_FOUND,
        ),
        (
            lambda: subjects.CreateSubject(
                pb.CreateSubjectRequest(identities=[email("EVA@example.se")])
            ),
            grpc.StatusCode.ALREADY_EXISTS,
            Reason.IDENTITY_IN_USE,
        ),
        (
            lambda: subjects.GetSubject(pb.GetSubjectRequest(name=erased_request.subject)),
            grpc.StatusCode.FAILED_PRECONDITION,
            Reason.SUBJECT_ERASED,
        ),
        (
            lambda: erasure.RetryErasureRequest(pb.RetryErasureRequestRequest(name=request)),
            grpc.StatusCode.FAILED_PRECONDITION,
            Reason.NOTHING_TO_RETRY,
        ),
        (
            lambda: erasure.DecideMatch(
                pb.DecideMatchRequest(
                    name=f"{request}/steps/vault",
                    decision=pb.MATCH_DECISION_SAME_PERSON,
                    decided_by="dpo@school.se",
                )
            ),
            grpc.StatusCode.FAILED_PRECONDITION,
            Reason.NO_CONFLICT_TO_DECIDE,
        ),
        (
            lambda: consent.RecordConsent(consent_of(pb.CONSENT_STATUS_GIVEN, "2031-01")),
            grpc.StatusCode.NOT_FOUND,
            Reason.POLICY_VERSION_NOT_FOUND,
        ),
        (
            lambda: policy.PublishPolicyVersion(published),
            grpc.StatusCode.ALREADY_EXISTS,
            Reason.POLICY_VERSION_EXISTS,
        ),
        (
            lambda: consent.RecordConsent(consent_of(pb.CONSENT_STATUS_WITHDRAWN)),
            grpc.StatusCode.FAILED_PRECONDITION,
            Reason.NO_CONSENT_TO_CHANGE,
        ),
        (
            lambda: consent.LiftProcessingLimit(
                pb.LiftProcessingLimitRequest(
                    name=f"{cay.subject.name}/objections/0123456789abcdef", reason="done"
                )
            ),
            grpc.StatusCode.NOT_FOUND,
            Reason.PROCESSING_LIMIT_NOT_FOUND,
        ),
        (
            lambda: consent.LiftProcessingLimit(
                pb.LiftProcessingLimitRequest(name=lifted.name, reason="again")
            ),
            grpc.StatusCode.FAILED_PRECONDITION,
            Reason.ALREADY_LIFTED,
        ),
        (
            lambda: consent.RecordOverridingGrounds(
                pb.RecordOverridingGroundsRequest(name=absolute.name, reason="we want to")
            ),
            grpc.StatusCode.FAILED_PRECONDITION,
            Reason.OBJECTION_ABSOLUTE,
        ),
    ]
    for call, code, reason in calls:
        with pytest.raises(grpc.RpcError) as raised:
            call()
        assert (raised.value.code(), error_info(raised.value).reason) == (code, reason)
        assert reason not in STATUS_NAMES


def test_requests_retry_of_a_request_that_needs_nothing_says_why_once(
    server: RunningServer,
    token: str,
    erased_request: pb.ErasureRequest,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("CONSENT_VAULT_TOKEN", token)
    code = main(["--server", f"127.0.0.1:{server.port}", "requests", "retry", erased_request.name])
    err = capsys.readouterr().err
    assert code == 1
    assert "has no step that needs attention" in err
    assert err.count("NOTHING_TO_RETRY") == 1 and "FAILED_PRECONDITION" not in err
