"""A record's content: writes answer with its size and digest, reads with its bytes."""

from __future__ import annotations

import hashlib
import os

import pytest
from google.protobuf import field_mask_pb2

from tests.helpers import email, record
from tests.serving import channel_to
from vault.server.app import RunningServer
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc
from vault_client import Content, Identity, VaultClient, VaultClientError

PHOTO = os.urandom(6 << 20)  # past a client's default 4 MiB receive limit
PHOTO_SHA256 = hashlib.sha256(PHOTO).hexdigest()


def test_a_photo_larger_than_a_default_client_receives_is_stored_and_answered(
    server: RunningServer,
) -> None:
    # A channel with grpc's default receive limit; sending 6 MiB needs no option.
    with channel_to(server) as channel:
        subjects, records = pb_grpc.SubjectServiceStub(channel), pb_grpc.RecordServiceStub(channel)
        anna = subjects.CreateSubject(
            pb.CreateSubjectRequest(identities=[email("anna@example.se")])
        ).subject
        photo = record("media")
        photo.content.CopyFrom(pb.Content(data=PHOTO, media_type="image/jpeg", filename="a.jpg"))
        stored = records.CreateRecord(pb.CreateRecordRequest(parent=anna.name, record=photo)).record
        assert stored.content == pb.Content(
            media_type="image/jpeg", filename="a.jpg", size=len(PHOTO), sha256=PHOTO_SHA256
        )

        rectified = pb.Record(name=stored.name, purpose="distance_assignment")
        updated = records.UpdateRecord(
            pb.UpdateRecordRequest(
                record=rectified, update_mask=field_mask_pb2.FieldMask(paths=["purpose"])
            )
        ).record
        assert updated.purpose == "distance_assignment" and updated.content == stored.content

    with channel_to(server, options=[("grpc.max_receive_message_length", 16 << 20)]) as channel:
        read = pb_grpc.RecordServiceStub(channel).GetRecord(pb.GetRecordRequest(name=stored.name))
    assert read.record.content == pb.Content(
        data=PHOTO,
        media_type="image/jpeg",
        filename="a.jpg",
        size=len(PHOTO),
        sha256=PHOTO_SHA256,
    )


def test_the_client_says_what_was_stored_and_never_sends_an_answer_back_as_content(
    client: VaultClient,
) -> None:
    anna = client.create_subject([Identity("email", "anna@example.se")])
    stored = client.create_record(
        anna.name,
        category="media",
        purpose="model_bank",
        legal_basis="consent",
        source_system="facebook_group",
        content=Content(PHOTO, "image/jpeg", "a.jpg"),
    )
    assert stored.content is not None and not stored.content.has_data
    assert (stored.content.size, stored.content.sha256) == (len(PHOTO), PHOTO_SHA256)
    read = client.get_record(stored.name)
    assert read.content == Content(PHOTO, "image/jpeg", "a.jpg")
    assert read.content.has_data and read.content.sha256 == PHOTO_SHA256

    # Sent back as it came, a write's answer would replace the photo with nothing.
    with pytest.raises(VaultClientError) as raised:
        client.update_record(stored.name, content=stored.content)
    assert raised.value.reason == "INVALID_FIELD" and raised.value.metadata == {"field": "content"}
    assert client.get_record(stored.name).content == read.content


def test_a_subject_with_many_photos_is_listed_page_by_page_within_the_message_limit(
    server: RunningServer,
) -> None:
    # Three photos would not fit in one 16 MiB answer: a page ends before it would.
    with channel_to(server, options=[("grpc.max_receive_message_length", 16 << 20)]) as channel:
        subjects, records = pb_grpc.SubjectServiceStub(channel), pb_grpc.RecordServiceStub(channel)
        anna = subjects.CreateSubject(
            pb.CreateSubjectRequest(identities=[email("anna@example.se")])
        ).subject
        stored = []
        for n in range(3):
            photo = record("media")
            photo.content.CopyFrom(
                pb.Content(data=PHOTO, media_type="image/jpeg", filename=f"{n}.jpg")
            )
            stored.append(
                records.CreateRecord(
                    pb.CreateRecordRequest(parent=anna.name, record=photo)
                ).record.name
            )
        listed, token, pages = [], "", 0
        while True:
            page = records.ListRecords(
                pb.ListRecordsRequest(parent=anna.name, page_size=100, page_token=token)
            )
            pages += 1
            assert page.records and all(r.content.data == PHOTO for r in page.records)
            listed += [r.name for r in page.records]
            token = page.next_page_token
            if not token:
                break
    assert listed == stored and pages >= 2
