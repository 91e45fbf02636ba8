"""An integrator over gRPC, through the gate: its own system's records for its
configured purposes (from [systems.NAME] purposes), another system's record
answered as a missing one, its lists and streams of its own system's records only."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from functools import partial

import grpc
import pytest

from tests.helpers import error_info
from tests.serving import UNLIMITED, channel_to, served
from vault.core.actor import Role
from vault.core.vault import Vault
from vault.runtime import build_services
from vault.server.app import RunningServer
from vault.settings import ServerSettings
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc

SETTINGS = ServerSettings(
    address="127.0.0.1:0",
    access=dataclasses.replace(UNLIMITED, purposes={"lms": frozenset({"course_delivery"})}),
)


@pytest.fixture
def running(vault: Vault, engine: str | None) -> Iterator[RunningServer]:
    with served(build_services(vault, stores_embedded=engine is None), SETTINGS) as server:
        yield server


@pytest.fixture
def lms(running: RunningServer) -> Iterator[grpc.Channel]:
    with channel_to(running, Role.INTEGRATOR, "lms") as channel:
        yield channel


@pytest.fixture
def officer(running: RunningServer) -> Iterator[grpc.Channel]:
    with channel_to(running, Role.PRIVACY_OFFICER) as channel:
        yield channel


def record(system: str = "lms", purpose: str = "course_delivery", city: str = "Malmö") -> pb.Record:
    message = pb.Record(
        category="contact",
        purpose=purpose,
        legal_basis=pb.LEGAL_BASIS_CONTRACT,
        source_system=system,
    )
    message.fields.update({"city": city})
    return message


def refused(call: object) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call()  # type: ignore[operator]
    return raised.value


def whole(error: grpc.RpcError) -> tuple[object, ...]:
    info = error_info(error)
    return error.code(), info.reason, dict(info.metadata), error.details()


def test_an_integrator_writes_and_reads_only_its_own_systems_records(
    lms: grpc.Channel, officer: grpc.Channel
) -> None:
    subjects, records = pb_grpc.SubjectServiceStub(lms), pb_grpc.RecordServiceStub(lms)
    officers = pb_grpc.RecordServiceStub(officer)
    bo = subjects.CreateSubject(
        pb.CreateSubjectRequest(
            identities=[pb.Identity(kind=pb.IDENTITY_KIND_EMAIL, value="bo@example.se")]
        )
    ).subject.name
    own = records.CreateRecord(pb.CreateRecordRequest(parent=bo, record=record())).record
    assert own.source_system == "lms" and not own.masked

    other = refused(
        lambda: records.CreateRecord(pb.CreateRecordRequest(parent=bo, record=record("crm")))
    )
    assert other.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error_info(other).reason == "NOT_YOUR_SYSTEM"
    assert error_info(other).metadata["field"] == "record.source_system"
    purpose = refused(
        lambda: records.CreateRecord(
            pb.CreateRecordRequest(parent=bo, record=record(purpose="billing"))
        )
    )
    assert (purpose.code(), error_info(purpose).reason) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "PURPOSE_NOT_ALLOWED",
    )
    imported = refused(
        lambda: records.ImportRecords(
            iter(
                [
                    pb.ImportRecordsRequest(
                        records=[
                            pb.ImportedRecord(parent=bo, record=record()),
                            pb.ImportedRecord(parent=bo, record=record("crm")),
                        ]
                    )
                ]
            )
        )
    )
    assert error_info(imported).reason == "NOT_YOUR_SYSTEM"
    assert error_info(imported).metadata["field"] == "records[1].record.source_system"

    theirs = officers.CreateRecord(pb.CreateRecordRequest(parent=bo, record=record("crm"))).record
    missing = f"{bo}/records/{'0' * 32}"
    foreign = refused(lambda: records.GetRecord(pb.GetRecordRequest(name=theirs.name)))
    absent = refused(lambda: records.GetRecord(pb.GetRecordRequest(name=missing)))
    code, reason, metadata, details = whole(foreign)
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "RECORD_NOT_FOUND")
    theirs_id, missing_id = theirs.name.rsplit("/", 1)[1], missing.rsplit("/", 1)[1]
    # The same answer, but for the id the caller sent itself.
    assert whole(absent) == (
        code,
        reason,
        {k: v.replace(theirs_id, missing_id) for k, v in metadata.items()},
        details.replace(theirs_id, missing_id),
    )
    change = pb.UpdateRecordRequest(record=record(city="Lund"))
    change.record.name = theirs.name
    change.update_mask.paths.append("fields")
    assert whole(refused(lambda: records.UpdateRecord(change)))[:2] == (code, reason)

    listed = records.ListRecords(pb.ListRecordsRequest(parent=bo, page_size=1))
    assert [r.name for r in listed.records] == [own.name] and listed.next_page_token == ""
    streamed = records.StreamRecords(pb.StreamRecordsRequest(parent=bo))
    assert [m.record.name for m in streamed] == [own.name]
    assert len(officers.ListRecords(pb.ListRecordsRequest(parent=bo)).records) == 2


def identity(kind: int, value: str, system: str = "") -> pb.Identity:
    return pb.Identity(kind=kind, value=value, system=system)  # type: ignore[arg-type]


def test_an_integrator_adds_only_its_own_systems_external_id_to_a_subject(
    lms: grpc.Channel, officer: grpc.Channel
) -> None:
    subjects = pb_grpc.SubjectServiceStub(lms)
    bo = (
        pb_grpc.SubjectServiceStub(officer)
        .CreateSubject(
            pb.CreateSubjectRequest(identities=[identity(pb.IDENTITY_KIND_EMAIL, "bo@example.se")])
        )
        .subject.name
    )
    nobody = "subjects/0123456789abcdef0123456789abcdef"

    def add(name: str, added: pb.Identity) -> tuple[object, ...]:
        request = pb.AddIdentityRequest(subject=name, identity=added)
        return whole(refused(partial(subjects.AddIdentity, request)))

    for wrong, field in (
        (identity(pb.IDENTITY_KIND_EMAIL, "bo.2@example.se"), "identity.kind"),
        (identity(pb.IDENTITY_KIND_PERSONNUMMER, "811218-9876"), "identity.kind"),
        (identity(pb.IDENTITY_KIND_EXTERNAL_ID, "crm-17", "crm"), "identity.system"),
    ):
        answers = [add(name, wrong) for name in (bo, nobody)]
        code, reason, metadata, _ = answers[0]
        assert (code, reason, metadata) == (
            grpc.StatusCode.PERMISSION_DENIED,
            "NOT_YOUR_SYSTEM",
            {"field": field, "system": "lms"},
        )
        # Refused before the subject is looked up: the same for someone not in the vault.
        assert answers[1] == answers[0]

    own = identity(pb.IDENTITY_KIND_EXTERNAL_ID, "lms-17", "lms")
    added = subjects.AddIdentity(pb.AddIdentityRequest(subject=bo, identity=own)).subject
    assert [(i.kind, i.value, i.system) for i in added.identities] == [
        (pb.IDENTITY_KIND_EMAIL, "bo@example.se", ""),
        (pb.IDENTITY_KIND_EXTERNAL_ID, "lms-17", "lms"),
    ]


def test_an_integrator_registers_a_person_by_any_identity_but_another_systems_id(
    lms: grpc.Channel,
) -> None:
    subjects = pb_grpc.SubjectServiceStub(lms)
    cy = [
        identity(pb.IDENTITY_KIND_PERSONNUMMER, "811218-9876"),
        identity(pb.IDENTITY_KIND_EMAIL, "cy@example.se"),
        identity(pb.IDENTITY_KIND_PHONE, "+46 70 123 45 67"),
        identity(pb.IDENTITY_KIND_EXTERNAL_ID, "lms-18", "lms"),
    ]
    created = subjects.CreateSubject(pb.CreateSubjectRequest(identities=cy)).subject
    assert len(created.identities) == 4
    theirs = [
        identity(pb.IDENTITY_KIND_EMAIL, "dan@example.se"),
        identity(pb.IDENTITY_KIND_EXTERNAL_ID, "crm-19", "crm"),
    ]
    code, reason, metadata, _ = whole(
        refused(lambda: subjects.CreateSubject(pb.CreateSubjectRequest(identities=theirs)))
    )
    assert (code, reason, metadata) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "NOT_YOUR_SYSTEM",
        {"field": "identities[1].system", "system": "lms"},
    )
