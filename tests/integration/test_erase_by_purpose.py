"""EraseCategory with and without a purpose over gRPC, through the Python client
and the CLI: one purpose's records go and the category's others stay readable;
without a purpose every purpose's key goes. On both engines."""

from __future__ import annotations

import grpc
import pytest

from tests.helpers import email, error_info, record
from vault.core.vault import Vault
from vault.storage.base import DataKeyScope
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc
from vault_client import VaultClient


def _anna(
    subjects: pb_grpc.SubjectServiceStub, records: pb_grpc.RecordServiceStub
) -> tuple[str, dict[str, list[str]]]:
    anna = subjects.CreateSubject(
        pb.CreateSubjectRequest(identities=[email("anna@example.se")], roles=["student"])
    ).subject.name
    names: dict[str, list[str]] = {}
    for n, purpose in enumerate(["course_delivery", "marketing_email", "marketing_email"]):
        message = record("contact", n=n)
        message.purpose = purpose
        if purpose == "marketing_email":  # the school's e-mail marketing rests on consent
            message.legal_basis = pb.LEGAL_BASIS_CONSENT
        created = records.CreateRecord(pb.CreateRecordRequest(parent=anna, record=message))
        names.setdefault(purpose, []).append(created.record.name)
    return anna, names


def _purposes_left(records: pb_grpc.RecordServiceStub, anna: str) -> list[str]:
    page = records.ListRecords(pb.ListRecordsRequest(parent=anna, category="contact"))
    return sorted(r.purpose for r in page.records)


def test_erasing_one_purpose_over_grpc_leaves_the_others_readable(
    subjects: pb_grpc.SubjectServiceStub, records: pb_grpc.RecordServiceStub, vault: Vault
) -> None:
    anna, names = _anna(subjects, records)
    erased = records.EraseCategory(
        pb.EraseCategoryRequest(parent=anna, category="contact", purpose="marketing_email")
    )
    assert (erased.category, list(erased.purposes)) == ("contact", ["marketing_email"])
    assert (erased.records_shredded, erased.keys_destroyed) == (2, 1)
    assert _purposes_left(records, anna) == ["course_delivery"]
    (kept,) = names["course_delivery"]
    assert records.GetRecord(pb.GetRecordRequest(name=kept)).record.fields["n"] == 0
    for name in names["marketing_email"]:
        with pytest.raises(grpc.RpcError) as gone:
            records.GetRecord(pb.GetRecordRequest(name=name))
        assert gone.value.code() == grpc.StatusCode.NOT_FOUND
    subject_id = anna.removeprefix("subjects/")
    assert vault.keys.store.data_key(DataKeyScope(subject_id, "contact", "marketing_email")) is None


def test_erasing_a_category_over_grpc_destroys_every_purposes_key(
    subjects: pb_grpc.SubjectServiceStub, records: pb_grpc.RecordServiceStub, vault: Vault
) -> None:
    anna, _ = _anna(subjects, records)
    erased = records.EraseCategory(pb.EraseCategoryRequest(parent=anna, category="contact"))
    assert list(erased.purposes) == ["course_delivery", "marketing_email"]
    assert (erased.records_shredded, erased.keys_destroyed) == (3, 2)
    assert _purposes_left(records, anna) == []
    subject_id = anna.removeprefix("subjects/")
    assert [s.category for s in vault.keys.store.data_key_scopes(subject_id)] == ["vault.identity"]


def test_a_bad_purpose_is_invalid_and_an_unknown_one_erases_nothing(
    subjects: pb_grpc.SubjectServiceStub, records: pb_grpc.RecordServiceStub
) -> None:
    anna, _ = _anna(subjects, records)
    with pytest.raises(grpc.RpcError) as refused:
        records.EraseCategory(
            pb.EraseCategoryRequest(parent=anna, category="contact", purpose="Not A Word")
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    info = error_info(refused.value)
    assert (info.reason, info.metadata["field"]) == ("INVALID_FIELD", "purpose")
    unknown = records.EraseCategory(
        pb.EraseCategoryRequest(parent=anna, category="contact", purpose="statistics")
    )
    assert (unknown.records_shredded, unknown.keys_destroyed) == (0, 0)
    assert _purposes_left(records, anna) == [
        "course_delivery",
        "marketing_email",
        "marketing_email",
    ]


def test_the_client_erases_one_purpose_and_says_what_went(
    subjects: pb_grpc.SubjectServiceStub, records: pb_grpc.RecordServiceStub, client: VaultClient
) -> None:
    anna, _ = _anna(subjects, records)
    erased = client.erase_category(anna, "contact", purpose="marketing_email")
    assert (erased.category, erased.purposes) == ("contact", ["marketing_email"])
    assert (erased.records_shredded, erased.keys_destroyed) == (2, 1)
    assert erased.erase_time.tzinfo is not None
    rest = client.erase_category(anna, "contact")
    assert (rest.purposes, rest.records_shredded, rest.keys_destroyed) == (
        ["course_delivery"],
        1,
        1,
    )
