"""Bad input for every RPC gets a precise status naming the field; never UNKNOWN or INTERNAL."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import email, error_info, pnr, record
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
MISSING = "subjects/0123456789abcdef0123456789abcdef"


@pytest.fixture
def anna(subjects: pb_grpc.SubjectServiceStub) -> pb.Subject:
    return subjects.CreateSubject(
        pb.CreateSubjectRequest(identities=[pnr("811218-9876"), email("anna@example.se")])
    ).subject


def expect(call: Callable[[], Any], code: grpc.StatusCode, field: str | None = None) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        result = call()
        if hasattr(result, "__next__"):
            list(result)
    assert raised.value.code() == code, raised.value.details()
    info = error_info(raised.value)
    if field is not None:
        assert info.metadata["field"] == field, raised.value.details()
        assert field in raised.value.details()


def bad_record(**changes: Any) -> pb.Record:
    message = record()
    for key, value in changes.items():
        setattr(message, key, value)
    return message


SUBJECT_CASES: list[tuple[str, Any, grpc.StatusCode, str | None]] = [
    ("CreateSubject", pb.CreateSubjectRequest(), INVALID, "identities"),
    (
        "CreateSubject",
        pb.CreateSubjectRequest(identities=[pb.Identity(value="x")]),
        INVALID,
        "identities[0].kind",
    ),
    (
        "CreateSubject",
        pb.CreateSubjectRequest(identities=[pb.Identity(kind=99, value="x")]),
        INVALID,
        "identities[0].kind",
    ),
    (
        "CreateSubject",
        pb.CreateSubjectRequest(identities=[pnr("811218-9877")]),
        INVALID,
        "identities[0].value",
    ),
    (
        "CreateSubject",
        pb.CreateSubjectRequest(identities=[pnr("")]),
        INVALID,
        "identities[0].value",
    ),
    (
        "CreateSubject",
        pb.CreateSubjectRequest(identities=[email("a\x00@example.se")]),
        INVALID,
        "identities[0].value",
    ),
    (
        "CreateSubject",
        pb.CreateSubjectRequest(identities=[email("a" * 10_000)]),
        INVALID,
        "identities[0].value",
    ),
    (
        "CreateSubject",
        pb.CreateSubjectRequest(identities=[pb.Identity(kind=pb.IDENTITY_KIND_PHONE, value="abc")]),
        INVALID,
        "identities[0].value",
    ),
    (
        "CreateSubject",
        pb.CreateSubjectRequest(
            identities=[pb.Identity(kind=pb.IDENTITY_KIND_EXTERNAL_ID, value="1")]
        ),
        INVALID,
        "identities[0].system",
    ),
    (
        "CreateSubject",
        pb.CreateSubjectRequest(identities=[email("b@example.se")], roles=["Student!"]),
        INVALID,
        "roles[0]",
    ),
    (
        "CreateSubject",
        pb.CreateSubjectRequest(identities=[email("b@example.se")], roles=["a", "a"]),
        INVALID,
        "roles",
    ),
    (
        "CreateSubject",
        pb.CreateSubjectRequest(identities=[email("b@example.se")], request_id="bad id"),
        INVALID,
        "request_id",
    ),
    (
        "CreateSubject",
        pb.CreateSubjectRequest(identities=[email("b@example.se")], request_id="x" * 65),
        INVALID,
        "request_id",
    ),
    ("GetSubject", pb.GetSubjectRequest(), INVALID, "name"),
    ("GetSubject", pb.GetSubjectRequest(name="subjects/"), INVALID, "name"),
    ("GetSubject", pb.GetSubjectRequest(name="subjects/A\x00B"), INVALID, "name"),
    ("GetSubject", pb.GetSubjectRequest(name="people/abc"), INVALID, "name"),
    ("GetSubject", pb.GetSubjectRequest(name=MISSING), NOT_FOUND, None),
    ("FindSubject", pb.FindSubjectRequest(), INVALID, "identity"),
    ("FindSubject", pb.FindSubjectRequest(identity=pnr("not a number")), INVALID, "identity.value"),
    ("FindSubject", pb.FindSubjectRequest(identity=email("nobody@example.se")), NOT_FOUND, None),
    ("UpdateSubject", pb.UpdateSubjectRequest(name=MISSING), INVALID, "update_mask"),
    (
        "UpdateSubject",
        pb.UpdateSubjectRequest(
            name=MISSING, update_mask=field_mask_pb2.FieldMask(paths=["state"])
        ),
        INVALID,
        "update_mask",
    ),
    (
        "UpdateSubject",
        pb.UpdateSubjectRequest(
            name=MISSING, update_mask=field_mask_pb2.FieldMask(paths=["roles"])
        ),
        NOT_FOUND,
        None,
    ),
    ("AddIdentity", pb.AddIdentityRequest(subject=MISSING), INVALID, "identity.kind"),
    (
        "AddIdentity",
        pb.AddIdentityRequest(subject="", identity=email("c@example.se")),
        INVALID,
        "subject",
    ),
    (
        "AddIdentity",
        pb.AddIdentityRequest(subject=MISSING, identity=email("c@example.se")),
        NOT_FOUND,
        None,
    ),
    (
        "RectifyIdentity",
        pb.RectifyIdentityRequest(subject=MISSING, old_identity=email("c@example.se")),
        INVALID,
        "new_identity.kind",
    ),
    (
        "RemoveIdentity",
        pb.RemoveIdentityRequest(subject=MISSING, identity=email("c@example.se")),
        NOT_FOUND,
        None,
    ),
    ("ExportSubject", pb.ExportSubjectRequest(name="nope"), INVALID, "name"),
    ("ExportSubject", pb.ExportSubjectRequest(name=MISSING), NOT_FOUND, None),
    ("EraseSubject", pb.EraseSubjectRequest(name=""), INVALID, "name"),
    ("EraseSubject", pb.EraseSubjectRequest(name=MISSING), NOT_FOUND, None),
]


@pytest.mark.parametrize(("method", "request_message", "code", "field"), SUBJECT_CASES)
def test_subject_service_bad_input(
    subjects: pb_grpc.SubjectServiceStub,
    method: str,
    request_message: Any,
    code: grpc.StatusCode,
    field: str | None,
) -> None:
    expect(lambda: getattr(subjects, method)(request_message), code, field)


def forged_token(parent: str, after: int) -> str:
    """A page token a client made up, with a position SQLite cannot hold."""
    query = {"list": "records", "subject": parent.split("/")[1], "category": ""}
    raw = json.dumps({"q": query, "a": [after]}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def record_cases(parent: str) -> list[tuple[str, Any, grpc.StatusCode, str | None]]:
    return [
        ("CreateRecord", pb.CreateRecordRequest(parent=parent), INVALID, "record"),
        ("CreateRecord", pb.CreateRecordRequest(parent="x", record=record()), INVALID, "parent"),
        ("CreateRecord", pb.CreateRecordRequest(parent=MISSING, record=record()), NOT_FOUND, None),
        (
            "CreateRecord",
            pb.CreateRecordRequest(parent=parent, record=bad_record(category="")),
            INVALID,
            "record.category",
        ),
        (
            "CreateRecord",
            pb.CreateRecordRequest(parent=parent, record=bad_record(category="A.B")),
            INVALID,
            "record.category",
        ),
        (
            "CreateRecord",
            pb.CreateRecordRequest(parent=parent, record=bad_record(category="vault.x")),
            INVALID,
            "record.category",
        ),
        (
            "CreateRecord",
            pb.CreateRecordRequest(parent=parent, record=bad_record(purpose="x" * 65)),
            INVALID,
            "record.purpose",
        ),
        (
            "CreateRecord",
            pb.CreateRecordRequest(parent=parent, record=bad_record(legal_basis=0)),
            INVALID,
            "record.legal_basis",
        ),
        (
            "CreateRecord",
            pb.CreateRecordRequest(parent=parent, record=bad_record(legal_basis=42)),
            INVALID,
            "record.legal_basis",
        ),
        (
            "CreateRecord",
            pb.CreateRecordRequest(parent=parent, record=bad_record(source_system="")),
            INVALID,
            "record.source_system",
        ),
        (
            "CreateRecord",
            pb.CreateRecordRequest(parent=parent, record=record(note="a\x00b")),
            INVALID,
            "record.fields.note",
        ),
        (
            "CreateRecord",
            pb.CreateRecordRequest(parent=parent, record=record(contact=1.0), request_id="\u00e5"),
            INVALID,
            "request_id",
        ),
        ("GetRecord", pb.GetRecordRequest(name=parent), INVALID, "name"),
        ("GetRecord", pb.GetRecordRequest(name=f"{parent}/records/00ff"), NOT_FOUND, None),
        ("UpdateRecord", pb.UpdateRecordRequest(record=record()), INVALID, "record.name"),
        (
            "UpdateRecord",
            pb.UpdateRecordRequest(record=bad_record(name=f"{parent}/records/00ff")),
            INVALID,
            "update_mask",
        ),
        (
            "UpdateRecord",
            pb.UpdateRecordRequest(
                record=bad_record(name=f"{parent}/records/00ff"),
                update_mask=field_mask_pb2.FieldMask(paths=["category"]),
            ),
            INVALID,
            "update_mask",
        ),
        (
            "UpdateRecord",
            pb.UpdateRecordRequest(
                record=bad_record(name=f"{parent}/records/00ff"),
                update_mask=field_mask_pb2.FieldMask(paths=["fields"]),
            ),
            NOT_FOUND,
            None,
        ),
        ("ListRecords", pb.ListRecordsRequest(parent=parent, page_size=-1), INVALID, "page_size"),
        ("ListRecords", pb.ListRecordsRequest(parent=parent, page_size=5000), INVALID, "page_size"),
        (
            "ListRecords",
            pb.ListRecordsRequest(parent=parent, page_token="%%%"),
            INVALID,
            "page_token",
        ),
        (
            "ListRecords",
            pb.ListRecordsRequest(parent=parent, page_token=forged_token(parent, 10**30)),
            INVALID,
            "page_token",
        ),
        (
            "ListRecords",
            pb.ListRecordsRequest(parent=parent, page_token=forged_token(parent, -1)),
            INVALID,
            "page_token",
        ),
        (
            "ListRecords",
            pb.ListRecordsRequest(parent=parent, category="Bad Category"),
            INVALID,
            "category",
        ),
        ("ListRecords", pb.ListRecordsRequest(parent=MISSING), NOT_FOUND, None),
        ("StreamRecords", pb.StreamRecordsRequest(parent=""), INVALID, "parent"),
        ("StreamRecords", pb.StreamRecordsRequest(parent=MISSING), NOT_FOUND, None),
        ("EraseCategory", pb.EraseCategoryRequest(parent=parent, category=""), INVALID, "category"),
        (
            "EraseCategory",
            pb.EraseCategoryRequest(parent=MISSING, category="contact"),
            NOT_FOUND,
            None,
        ),
    ]


def test_record_service_bad_input(records: pb_grpc.RecordServiceStub, anna: pb.Subject) -> None:
    for method, request_message, code, field in record_cases(anna.name):
        expect(lambda m=method, r=request_message: getattr(records, m)(r), code, field)
    # Nothing was half-written by any of the failures above.
    assert list(records.ListRecords(pb.ListRecordsRequest(parent=anna.name)).records) == []


def test_an_import_with_one_bad_record_stores_nothing(
    records: pb_grpc.RecordServiceStub, anna: pb.Subject
) -> None:
    items = [pb.ImportedRecord(parent=anna.name, record=record(n=i)) for i in range(50)]
    items[37].record.category = "NOT OK"
    requests = [
        pb.ImportRecordsRequest(records=items[:20]),
        pb.ImportRecordsRequest(records=items[20:]),
    ]
    expect(lambda: records.ImportRecords(iter(requests)), INVALID, "records[37].record.category")
    expect(lambda: records.ImportRecords(iter([])), INVALID, "records")
    expect(lambda: records.ImportRecords(iter([pb.ImportRecordsRequest()])), INVALID, "records")
    missing = [
        pb.ImportRecordsRequest(records=[pb.ImportedRecord(parent=MISSING, record=record())])
    ]
    expect(lambda: records.ImportRecords(iter(missing)), NOT_FOUND)
    assert list(records.ListRecords(pb.ListRecordsRequest(parent=anna.name)).records) == []


def raw_call(channel: grpc.Channel, method: str, payload: bytes) -> grpc.RpcError:
    call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
    with pytest.raises(grpc.RpcError) as raised:
        call(payload, timeout=5)
    return raised.value


@pytest.mark.parametrize(
    "payload",
    [
        b"\xff\xff\xff",  # not protobuf at all
        b"\x0a\x05abc",  # a length running past the end
        b"\x0a\x02\xc3\x28",  # field 1 (name) holding invalid UTF-8
        b"\x0a\x03a\x00\xff",
    ],
)
def test_bytes_that_do_not_parse_are_invalid_argument(
    channel: grpc.Channel, payload: bytes
) -> None:
    error = raw_call(channel, "/vault.v1.SubjectService/GetSubject", payload)
    assert error.code() == INVALID
    assert error_info(error).reason == "MALFORMED_REQUEST"


def test_a_malformed_message_inside_an_import_stream_is_invalid_argument(
    channel: grpc.Channel,
) -> None:
    call = channel.stream_unary(
        "/vault.v1.RecordService/ImportRecords", request_serializer=None, response_deserializer=None
    )
    with pytest.raises(grpc.RpcError) as raised:
        call(iter([b"\x0a\x02\xc3\x28"]), timeout=5)
    assert raised.value.code() == INVALID


def test_an_oversized_message_is_refused_cleanly(
    records: pb_grpc.RecordServiceStub, anna: pb.Subject
) -> None:
    huge = record("media")
    huge.content.data = b"x" * (17 * 1024 * 1024)
    with pytest.raises(grpc.RpcError) as raised:
        records.CreateRecord(pb.CreateRecordRequest(parent=anna.name, record=huge), timeout=10)
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    big = record("media")
    big.content.data = b"x" * (9 * 1024 * 1024)
    expect(
        lambda: records.CreateRecord(pb.CreateRecordRequest(parent=anna.name, record=big)),
        INVALID,
        "record.content.data",
    )


# The server's own threads may use the `random` module while Hypothesis draws an
# example (psycopg_pool jitters a new connection's lifetime), which Hypothesis
# would take for a strategy of ours using it.
@pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kind=st.integers(-1, 6),
    value=st.text(max_size=40),
    system=st.text(max_size=12),
    roles=st.lists(st.text(max_size=8), max_size=3),
    request_id=st.text(max_size=70),
)
def test_random_create_requests_never_answer_unknown_or_internal(
    subjects: pb_grpc.SubjectServiceStub,
    kind: int,
    value: str,
    system: str,
    roles: list[str],
    request_id: str,
) -> None:
    request = pb.CreateSubjectRequest(
        identities=[pb.Identity(kind=max(kind, 0), value=value, system=system)],
        roles=roles,
        request_id=request_id,
    )
    try:
        subjects.CreateSubject(request, timeout=10)
    except grpc.RpcError as error:
        assert error.code() in {INVALID, grpc.StatusCode.ALREADY_EXISTS}, error.details()
        assert error_info(error).reason


ERASURE_CASES: list[tuple[str, Any, grpc.StatusCode, str | None]] = [
    ("GetErasureRequest", pb.GetErasureRequestRequest(), INVALID, "name"),
    ("GetErasureRequest", pb.GetErasureRequestRequest(name="subjects/abc"), INVALID, "name"),
    (
        "GetErasureRequest",
        pb.GetErasureRequestRequest(name="erasureRequests/00ff"),
        NOT_FOUND,
        None,
    ),
    ("ListErasureRequests", pb.ListErasureRequestsRequest(page_size=-5), INVALID, "page_size"),
    ("ListErasureRequests", pb.ListErasureRequestsRequest(page_token="zz"), INVALID, "page_token"),
    ("ListErasureRequests", pb.ListErasureRequestsRequest(state=77), INVALID, "state"),
    (
        "WatchErasureRequest",
        pb.WatchErasureRequestRequest(name="erasureRequests/"),
        INVALID,
        "name",
    ),
    (
        "WatchErasureRequest",
        pb.WatchErasureRequestRequest(name="erasureRequests/00ff"),
        NOT_FOUND,
        None,
    ),
    (
        "RetryErasureRequest",
        pb.RetryErasureRequestRequest(name="erasureRequests/00ff"),
        NOT_FOUND,
        None,
    ),
    (
        "ConfirmManualAction",
        pb.ConfirmManualActionRequest(name="erasureRequests/00ff"),
        INVALID,
        "name",
    ),
    (
        "ConfirmManualAction",
        pb.ConfirmManualActionRequest(
            name="erasureRequests/00ff/manualActions/00ee", confirmed_by="dpo"
        ),
        NOT_FOUND,
        None,
    ),
    (
        "ConfirmManualAction",
        pb.ConfirmManualActionRequest(
            name="erasureRequests/00ff/manualActions/00ee", confirmed_by="a\x00b"
        ),
        INVALID,
        "confirmed_by",
    ),
]


@pytest.mark.parametrize(("method", "request_message", "code", "field"), ERASURE_CASES)
def test_erasure_service_bad_input(
    channel: grpc.Channel,
    method: str,
    request_message: Any,
    code: grpc.StatusCode,
    field: str | None,
) -> None:
    stub = pb_grpc.ErasureServiceStub(channel)
    expect(lambda: getattr(stub, method)(request_message), code, field)


def test_connector_service_bad_input(channel: grpc.Channel) -> None:
    stub = pb_grpc.ConnectorServiceStub(channel)
    expect(lambda: stub.CheckConnector(pb.CheckConnectorRequest()), INVALID, "name")
    expect(lambda: stub.CheckConnector(pb.CheckConnectorRequest(name="crm")), NOT_FOUND)


# Past about 3,600 echoed characters a client refuses the status itself (its
# metadata limit) and sees RESOURCE_EXHAUSTED instead of the answer.
LONG_AND_INVISIBLE = "evil\u202e\x01\x1b[31m" + "x" * 10_000


@pytest.mark.parametrize("name", [LONG_AND_INVISIBLE, "lms\u202e", "Lms", "x" * 41])
def test_a_connector_name_that_breaks_the_rule_is_refused_not_echoed(
    channel: grpc.Channel, name: str
) -> None:
    stub = pb_grpc.ConnectorServiceStub(channel)
    with pytest.raises(grpc.RpcError) as raised:
        stub.CheckConnector(pb.CheckConnectorRequest(name=name))
    assert raised.value.code() == INVALID
    info = error_info(raised.value)
    assert info.reason == "INVALID_FIELD" and dict(info.metadata) == {"field": "name"}
    assert "\u202e" not in raised.value.details() and "x" * 50 not in raised.value.details()


def test_an_unknown_connector_is_named_in_the_answer(channel: grpc.Channel) -> None:
    stub = pb_grpc.ConnectorServiceStub(channel)
    with pytest.raises(grpc.RpcError) as raised:
        stub.CheckConnector(pb.CheckConnectorRequest(name="crm-2"))
    assert raised.value.code() == NOT_FOUND
    info = error_info(raised.value)
    assert info.reason == "CONNECTOR_NOT_FOUND" and info.metadata["connector"] == "crm-2"


def test_what_an_error_echoes_of_a_request_is_short_and_visible(
    records: pb_grpc.RecordServiceStub, anna: pb.Subject
) -> None:
    # A field path is built from the client's own keys: any call may echo it.
    bad = record()
    bad.fields.update({LONG_AND_INVISIBLE: {"inner": "a\x00b"}})
    with pytest.raises(grpc.RpcError) as raised:
        records.CreateRecord(pb.CreateRecordRequest(parent=anna.name, record=bad))
    assert raised.value.code() == INVALID
    field = error_info(raised.value).metadata["field"]
    details = raised.value.details()
    assert field.startswith("record.fields.evil") and len(field) <= 120
    assert len(details) <= 400
    for shown in (field, details):
        assert shown.isprintable() and "\u202e" not in shown and "\x1b" not in shown


def test_retrying_a_request_with_nothing_to_retry_is_a_failed_precondition(
    subjects: pb_grpc.SubjectServiceStub, channel: grpc.Channel, anna: pb.Subject
) -> None:
    request = list(subjects.EraseSubject(pb.EraseSubjectRequest(name=anna.name)))[-1].request
    stub = pb_grpc.ErasureServiceStub(channel)
    expect(
        lambda: stub.RetryErasureRequest(pb.RetryErasureRequestRequest(name=request.name)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
