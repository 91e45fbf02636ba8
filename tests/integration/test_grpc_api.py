"""Every RPC through a real server on a free port, with a file-backed database."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import grpc
import pytest
from google.protobuf import field_mask_pb2

from tests.helpers import email, error_info, pnr, record
from vault.core.actor import LOCAL
from vault.core.model import SubjectState
from vault.core.vault import Vault
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc


def create_anna(subjects: pb_grpc.SubjectServiceStub, request_id: str = "") -> pb.Subject:
    return subjects.CreateSubject(
        pb.CreateSubjectRequest(
            identities=[pnr("811218-9876"), email("Anna@Example.se")],
            roles=["student"],
            request_id=request_id,
        )
    ).subject


def test_subject_life_cycle(subjects: pb_grpc.SubjectServiceStub) -> None:
    anna = create_anna(subjects)
    assert anna.name.startswith("subjects/")
    assert anna.state == pb.SUBJECT_STATE_ACTIVE
    assert [i.value for i in anna.identities] == ["198112189876", "anna@example.se"]

    assert subjects.GetSubject(pb.GetSubjectRequest(name=anna.name)).subject == anna
    found = subjects.FindSubject(pb.FindSubjectRequest(identity=pnr("8112189876"))).subject
    assert found.name == anna.name

    updated = subjects.UpdateSubject(
        pb.UpdateSubjectRequest(
            name=anna.name,
            roles=["student", "model"],
            protected_identity=True,
            update_mask=field_mask_pb2.FieldMask(paths=["roles", "protected_identity"]),
        )
    ).subject
    assert list(updated.roles) == ["student", "model"] and updated.protected_identity

    phone = pb.Identity(kind=pb.IDENTITY_KIND_PHONE, value="070-123 45 67")
    added = subjects.AddIdentity(pb.AddIdentityRequest(subject=anna.name, identity=phone)).subject
    assert "+46701234567" in [i.value for i in added.identities]
    rectified = subjects.RectifyIdentity(
        pb.RectifyIdentityRequest(
            subject=anna.name,
            old_identity=email("anna@example.se"),
            new_identity=email("anna.a@example.se"),
        )
    ).subject
    assert "anna.a@example.se" in [i.value for i in rectified.identities]
    removed = subjects.RemoveIdentity(
        pb.RemoveIdentityRequest(subject=anna.name, identity=phone)
    ).subject
    assert len(removed.identities) == 2


def test_record_life_cycle(
    subjects: pb_grpc.SubjectServiceStub, records: pb_grpc.RecordServiceStub
) -> None:
    anna = create_anna(subjects)
    photo = record("media")
    photo.content.CopyFrom(pb.Content(data=b"\x89PNG", media_type="image/png", filename="p.png"))
    created = records.CreateRecord(pb.CreateRecordRequest(parent=anna.name, record=photo)).record
    assert created.name.startswith(anna.name + "/records/")
    # A write answers with the content's size and digest, a read with its bytes too.
    digest = hashlib.sha256(b"\x89PNG").hexdigest()
    assert (created.content.data, created.content.size, created.content.sha256) == (
        b"",
        4,
        digest,
    )
    read = records.GetRecord(pb.GetRecordRequest(name=created.name)).record
    assert read.content.data == b"\x89PNG"
    read.content.data = b""
    assert read == created

    changed = record("media", note="retouched")
    changed.name = created.name
    updated = records.UpdateRecord(
        pb.UpdateRecordRequest(
            record=changed, update_mask=field_mask_pb2.FieldMask(paths=["fields"])
        )
    ).record
    assert dict(updated.fields) == {"note": "retouched"}
    assert updated.content == created.content

    imported = records.ImportRecords(
        iter(
            [
                pb.ImportRecordsRequest(
                    records=[
                        pb.ImportedRecord(parent=anna.name, record=record("notes", n=i))
                        for i in range(start, start + 10)
                    ]
                )
                for start in (0, 10, 20)
            ]
        )
    )
    assert imported.imported_count == 30

    names, token = [], ""
    while True:
        page = records.ListRecords(
            pb.ListRecordsRequest(parent=anna.name, page_size=7, page_token=token)
        )
        names += [r.name for r in page.records]
        token = page.next_page_token
        if not token:
            break
    assert len(names) == len(set(names)) == 31

    streamed = list(
        records.StreamRecords(pb.StreamRecordsRequest(parent=anna.name, category="notes"))
    )
    assert [int(m.record.fields["n"]) for m in streamed] == list(range(30))

    erased = records.EraseCategory(pb.EraseCategoryRequest(parent=anna.name, category="notes"))
    assert erased.records_shredded == 30
    assert (
        records.GetRecord(pb.GetRecordRequest(name=created.name)).record.content.data == b"\x89PNG"
    )


def test_export_streams_progress_and_a_zip(
    subjects: pb_grpc.SubjectServiceStub, records: pb_grpc.RecordServiceStub
) -> None:
    anna = create_anna(subjects)
    records.ImportRecords(
        iter(
            [
                pb.ImportRecordsRequest(
                    records=[
                        pb.ImportedRecord(parent=anna.name, record=record(n=i))
                        for i in range(b, b + 500)
                    ]
                )
                for b in range(0, 2500, 500)
            ]
        )
    )
    messages = list(subjects.ExportSubject(pb.ExportSubjectRequest(name=anna.name)))
    progress = [m.progress for m in messages if m.HasField("progress")]
    assert len(progress) >= 3 and progress[-1].records_done == progress[-1].records_total == 2500
    archive = b"".join(m.archive_chunk for m in messages if m.HasField("archive_chunk"))
    document = json.loads(zipfile.ZipFile(io.BytesIO(archive)).read("export.json"))
    assert len(document["records"]) == 2500


def test_erasure_streams_the_request_and_then_reads_say_erased(
    subjects: pb_grpc.SubjectServiceStub, records: pb_grpc.RecordServiceStub, vault: Vault
) -> None:
    anna = create_anna(subjects)
    stored = records.CreateRecord(pb.CreateRecordRequest(parent=anna.name, record=record())).record
    messages = list(
        subjects.EraseSubject(pb.EraseSubjectRequest(name=anna.name, request_id="erase-1"))
    )
    request = messages[-1].request
    assert request.name.startswith("erasureRequests/") and request.subject == anna.name
    assert request.state == pb.ERASURE_REQUEST_STATE_COMPLETED
    assert request.deadline_time.ToDatetime() > request.create_time.ToDatetime()
    [vault_step] = request.steps
    assert vault_step.system == "vault" and vault_step.state == pb.ERASURE_STEP_STATE_SUCCEEDED
    assert {(i.outcome, i.category) for i in vault_step.items} == {
        (pb.ERASURE_OUTCOME_REMOVED, "contact"),
        (pb.ERASURE_OUTCOME_REMOVED, "identity"),
    }

    again = list(
        subjects.EraseSubject(pb.EraseSubjectRequest(name=anna.name, request_id="erase-1"))
    )
    assert again[-1].request.name == request.name
    # Erasing an erased subject is success: the same request comes back.
    assert (
        list(subjects.EraseSubject(pb.EraseSubjectRequest(name=anna.name)))[-1].request.name
        == request.name
    )

    for call in (
        lambda: subjects.GetSubject(pb.GetSubjectRequest(name=anna.name)),
        lambda: records.GetRecord(pb.GetRecordRequest(name=stored.name)),
        lambda: records.ListRecords(pb.ListRecordsRequest(parent=anna.name)),
        lambda: list(records.StreamRecords(pb.StreamRecordsRequest(parent=anna.name))),
        lambda: list(subjects.ExportSubject(pb.ExportSubjectRequest(name=anna.name))),
        lambda: records.CreateRecord(pb.CreateRecordRequest(parent=anna.name, record=record())),
    ):
        with pytest.raises(grpc.RpcError) as raised:
            call()
        assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert error_info(raised.value).reason == "SUBJECT_ERASED"

    with pytest.raises(grpc.RpcError) as raised:
        subjects.FindSubject(pb.FindSubjectRequest(identity=pnr("811218-9876")))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_retry_with_the_same_request_id_applies_once(
    subjects: pb_grpc.SubjectServiceStub, records: pb_grpc.RecordServiceStub
) -> None:
    anna = create_anna(subjects, request_id="c-1")
    assert create_anna(subjects, request_id="c-1").name == anna.name
    request = pb.CreateRecordRequest(parent=anna.name, record=record(), request_id="r-1")
    first = records.CreateRecord(request).record
    assert records.CreateRecord(request).record.name == first.name
    assert len(records.ListRecords(pb.ListRecordsRequest(parent=anna.name)).records) == 1

    different = pb.CreateRecordRequest(
        parent=anna.name, record=record(city="Lund"), request_id="r-1"
    )
    with pytest.raises(grpc.RpcError) as raised:
        records.CreateRecord(different)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(raised.value).reason == "REQUEST_ID_REUSED"


def test_concurrent_retries_of_one_create_store_one_record(
    subjects: pb_grpc.SubjectServiceStub, records: pb_grpc.RecordServiceStub
) -> None:
    anna = create_anna(subjects)
    records.CreateRecord(pb.CreateRecordRequest(parent=anna.name, record=record()))  # key exists
    request = pb.CreateRecordRequest(parent=anna.name, record=record(), request_id="r-2")
    # Sent at once, the copies race to the writer: one stores, the others answer as it did.
    calls = [records.CreateRecord.future(request) for _ in range(8)]
    assert len({call.result().record.name for call in calls}) == 1
    assert len(records.ListRecords(pb.ListRecordsRequest(parent=anna.name)).records) == 2


def test_concurrent_retries_of_one_category_erasure_answer_alike(
    subjects: pb_grpc.SubjectServiceStub, records: pb_grpc.RecordServiceStub
) -> None:
    anna = create_anna(subjects)
    for _ in range(3):
        records.CreateRecord(pb.CreateRecordRequest(parent=anna.name, record=record()))
    request = pb.EraseCategoryRequest(parent=anna.name, category="contact", request_id="e-1")
    # Every copy gets the first one's answer, never REQUEST_ID_REUSED.
    calls = [records.EraseCategory.future(request) for _ in range(8)]
    assert {call.result().records_shredded for call in calls} == {3}
    assert len({call.result().erase_time.ToJsonString() for call in calls}) == 1


def test_a_record_name_under_the_wrong_subject_is_not_found(
    subjects: pb_grpc.SubjectServiceStub, records: pb_grpc.RecordServiceStub
) -> None:
    anna = create_anna(subjects)
    bo = subjects.CreateSubject(
        pb.CreateSubjectRequest(identities=[email("bo@example.se")])
    ).subject
    stored = records.CreateRecord(pb.CreateRecordRequest(parent=anna.name, record=record())).record
    wrong = stored.name.replace(anna.name, bo.name)
    with pytest.raises(grpc.RpcError) as raised:
        records.GetRecord(pb.GetRecordRequest(name=wrong))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_record_for_a_subject_that_does_not_exist_names_its_parent(
    records: pb_grpc.RecordServiceStub,
) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        records.CreateRecord(pb.CreateRecordRequest(parent="subjects/" + "0" * 32, record=record()))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_info(raised.value).metadata["field"] == "parent"


def test_a_record_of_an_erased_subject_is_erased_before_and_after_the_purge(
    subjects: pb_grpc.SubjectServiceStub, records: pb_grpc.RecordServiceStub, vault: Vault
) -> None:
    anna = create_anna(subjects)
    stored = records.CreateRecord(pb.CreateRecordRequest(parent=anna.name, record=record())).record
    list(subjects.EraseSubject(pb.EraseSubjectRequest(name=anna.name)))
    never_stored = f"{anna.name}/records/{'0' * 32}"
    for purged in (False, True):
        if purged:
            vault.maintain()  # the pass the erasure triggers: leftover ciphertext goes
            assert (
                vault.purge_erased() == 0
                and vault.count_records(LOCAL, anna.name.removeprefix("subjects/")) == 0
            )
        for name in (stored.name, never_stored):
            with pytest.raises(grpc.RpcError) as raised:
                records.GetRecord(pb.GetRecordRequest(name=name))
            assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert error_info(raised.value).reason == "SUBJECT_ERASED"


def test_a_record_of_a_subject_being_erased_says_so_whether_it_exists_or_not(
    subjects: pb_grpc.SubjectServiceStub, records: pb_grpc.RecordServiceStub, vault: Vault
) -> None:
    anna = create_anna(subjects)
    stored = records.CreateRecord(pb.CreateRecordRequest(parent=anna.name, record=record())).record
    # The state an accepted erasure puts the subject in until its steps have run.
    with vault.records.write() as tx:
        tx.subjects.set_subject_state(
            anna.name.removeprefix("subjects/"), SubjectState.ERASURE_PENDING, vault.clock.now()
        )
    for name in (stored.name, f"{anna.name}/records/{'0' * 32}"):
        with pytest.raises(grpc.RpcError) as raised:
            records.GetRecord(pb.GetRecordRequest(name=name))
        assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert error_info(raised.value).reason == "ERASURE_PENDING"
