"""Ciphertext swapped between subjects, categories or records, or altered, is refused as DATA_LOSS."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import grpc
import pytest

from tests.helpers import email, error_info, record
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc

# It changes bytes in the SQLite files; the check it proves (the seal's) is the
# core's, the same over every engine.
pytestmark = pytest.mark.sqlite_only


def put(records: pb_grpc.RecordServiceStub, parent: str, category: str, **fields: object) -> str:
    return records.CreateRecord(
        pb.CreateRecordRequest(parent=parent, record=record(category, **fields))
    ).record.name


def swap_payloads(db: Path, first: str, second: str) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    rows = {
        rid: payload
        for rid, payload in conn.execute(
            "SELECT record_id, sealed_payload FROM records WHERE record_id IN (?, ?)",
            (first, second),
        )
    }
    conn.execute("UPDATE records SET sealed_payload = ? WHERE record_id = ?", (rows[second], first))
    conn.execute("UPDATE records SET sealed_payload = ? WHERE record_id = ?", (rows[first], second))
    conn.close()


def expect_data_loss(records: pb_grpc.RecordServiceStub, name: str) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        records.GetRecord(pb.GetRecordRequest(name=name))
    assert raised.value.code() == grpc.StatusCode.DATA_LOSS
    assert error_info(raised.value).reason == "INTEGRITY_FAILURE"


@pytest.fixture
def two_subjects(subjects: pb_grpc.SubjectServiceStub) -> tuple[str, str]:
    anna = subjects.CreateSubject(
        pb.CreateSubjectRequest(identities=[email("anna@example.se")])
    ).subject
    bo = subjects.CreateSubject(
        pb.CreateSubjectRequest(identities=[email("bo@example.se")])
    ).subject
    return anna.name, bo.name


@pytest.mark.parametrize("between", ["subjects", "categories", "records"])
def test_swapped_ciphertext_is_rejected(
    records: pb_grpc.RecordServiceStub, two_subjects: tuple[str, str], data_dir: Path, between: str
) -> None:
    anna, bo = two_subjects
    first = put(records, anna, "contact", a=1)
    second = {
        "subjects": lambda: put(records, bo, "contact", b=2),
        "categories": lambda: put(records, anna, "notes", b=2),
        "records": lambda: put(records, anna, "contact", b=2),
    }[between]()
    swap_payloads(data_dir / "records.db", first.rsplit("/", 1)[1], second.rsplit("/", 1)[1])
    expect_data_loss(records, first)
    expect_data_loss(records, second)


def test_a_flipped_bit_is_rejected(
    records: pb_grpc.RecordServiceStub, two_subjects: tuple[str, str], data_dir: Path
) -> None:
    name = put(records, two_subjects[0], "contact", a=1)
    conn = sqlite3.connect(data_dir / "records.db", isolation_level=None)
    (payload,) = conn.execute(
        "SELECT sealed_payload FROM records WHERE record_id = ?", (name.rsplit("/", 1)[1],)
    ).fetchone()
    tampered = bytearray(payload)
    tampered[20] ^= 0x01
    conn.execute(
        "UPDATE records SET sealed_payload = ? WHERE record_id = ?",
        (bytes(tampered), name.rsplit("/", 1)[1]),
    )
    conn.close()
    expect_data_loss(records, name)
