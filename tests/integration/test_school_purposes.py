"""The school's purposes, the shipped default, are the acceptance case: they
accept every record the demo writes, and every holding the built-in
connectors and the stand-ins of the school's systems declare is a configured
purpose on its basis with the category among its categories. Over real gRPC a
record whose purpose is not configured, or whose legal basis contradicts its
purpose's, is INVALID_ARGUMENT naming the field, however it is written."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import field_mask_pb2

from tests.helpers import email, error_info, record
from vault import demo, purposes_file
from vault.connectors.registry import ConnectorRegistry
from vault.core.actor import LOCAL
from vault.core.consent.purposes import Purposes
from vault.core.errors import Reason
from vault.core.model import LegalBasis
from vault.core.vault import Vault
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc

# The school's four systems, each with a built-in connector and a stand-in.
SCHOOL_SYSTEMS = {"lms", "salon", "accounting", "facebook_group"}


def _configured(purposes: Purposes, category: str, purpose: str, basis: LegalBasis) -> str:
    """What is wrong with holding `category` for `purpose` on `basis`, or ""."""
    found = purposes.get(purpose)
    if found is None:
        return f"{purpose} is not a configured purpose"
    if found.legal_basis is not basis:
        return f"{purpose} rests on {found.legal_basis.value}, not {basis.value}"
    if category not in found.categories:
        return f"{purpose} may not use category {category}"
    return ""


def test_the_schools_purposes_hold_every_record_of_the_demo() -> None:
    school = purposes_file.school()
    wrong = [
        f"{person.key}: {draft.category}: {problem}"
        for person in demo.PEOPLE
        for draft in person.records
        if (problem := _configured(school, draft.category, draft.purpose, draft.legal_basis))
    ]
    assert wrong == []
    demo.check_purposes(school)  # the demo's own check before it seeds


def test_the_demo_seeds_every_record_it_has_into_a_vault_of_the_schools_purposes(
    vault: Vault,
) -> None:
    assert demo.seed(vault) == len(demo.PEOPLE)
    for person in demo.PEOPLE:
        subject = vault.find_subject(LOCAL, person.identities[0])
        stored = sorted(
            (r.category, r.purpose, r.legal_basis, r.source_system)
            for r in vault.stream_records(LOCAL, subject.subject_id, None)
        )
        meant = sorted(
            (d.category, d.purpose, d.legal_basis, d.source_system) for d in person.records
        )
        assert stored == meant, person.key
        given = [
            (e.purpose, e.status, e.policy_version)
            for e in vault.consents.events(subject.subject_id)
        ]
        assert given == [(c.purposes[0], c.status, demo.POLICY.version) for c in person.consents]
    assert any(person.consents for person in demo.PEOPLE)
    assert demo.seed(vault) == 0  # seeded once
    assert [v.version for v in vault.policies.versions()] == [demo.POLICY.version]


def test_the_demo_refuses_purposes_that_lack_the_schools_before_it_seeds_anyone() -> None:
    theirs = Purposes.from_mapping(
        {
            "purposes": {
                "newsletter": {
                    "description": {"en": "The newsletter"},
                    "legal_basis": "consent",
                    "categories": ["contact"],
                    "systems": ["crm"],
                }
            }
        }
    )
    with pytest.raises(demo.DemoPurposesError, match="leave \\[purposes\\] file out"):
        demo.check_purposes(theirs)


def test_every_holding_of_the_built_in_connectors_and_stand_ins_is_a_configured_purpose(
    registry: ConnectorRegistry,
) -> None:
    school = purposes_file.school()
    declared = {
        name: item.connector.holdings()
        for name, item in registry.installed.items()
        if item.connector is not None
    }
    assert set(declared) >= SCHOOL_SYSTEMS
    wrong = [
        f"{system}: {held.category}: {problem}"
        for system, holdings in declared.items()
        for held in holdings.categories
        if (problem := _configured(school, held.category, held.purpose, held.legal_basis))
    ]
    assert wrong == []
    # And each system processes for the purposes it holds data for, so its
    # integrator may write those records.
    for system in SCHOOL_SYSTEMS:
        held_for = {held.purpose for held in declared[system].categories}
        assert held_for <= school.for_system(system), system


# ------------------------------------------------------------ over gRPC
@pytest.fixture
def anna(subjects: pb_grpc.SubjectServiceStub) -> str:
    return subjects.CreateSubject(
        pb.CreateSubjectRequest(identities=[email("anna@example.se")])
    ).subject.name


def _invalid_field(raised: pytest.ExceptionInfo[grpc.RpcError]) -> str:
    """The field an INVALID_ARGUMENT / INVALID_FIELD error names."""
    error = raised.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    info = error_info(error)
    assert info.reason == Reason.INVALID_FIELD
    return info.metadata["field"]


def _unknown() -> pb.Record:
    made = record()
    made.purpose = "teaching"
    return made


def _contradicting() -> pb.Record:
    made = record()  # course_delivery rests on contract
    made.legal_basis = pb.LEGAL_BASIS_CONSENT
    return made


def test_create_record_refuses_an_unknown_purpose_and_a_contradicting_basis(
    records: pb_grpc.RecordServiceStub, anna: str
) -> None:
    for made, field in ((_unknown(), "record.purpose"), (_contradicting(), "record.legal_basis")):
        with pytest.raises(grpc.RpcError) as raised:
            records.CreateRecord(pb.CreateRecordRequest(parent=anna, record=made))
        assert _invalid_field(raised) == field
    # The school's own purpose on its basis is stored.
    stored = records.CreateRecord(pb.CreateRecordRequest(parent=anna, record=record())).record
    assert (stored.purpose, stored.legal_basis) == ("course_delivery", pb.LEGAL_BASIS_CONTRACT)
    listed = records.ListRecords(pb.ListRecordsRequest(parent=anna)).records
    assert [r.name for r in listed] == [stored.name]


def test_import_records_refuses_the_whole_import_naming_the_record_and_field(
    records: pb_grpc.RecordServiceStub, anna: str
) -> None:
    for bad, field in ((_unknown(), "purpose"), (_contradicting(), "legal_basis")):
        batches = [
            pb.ImportRecordsRequest(
                records=[pb.ImportedRecord(parent=anna, record=record(n=1))] * 2
            ),
            pb.ImportRecordsRequest(
                records=[
                    pb.ImportedRecord(parent=anna, record=record(n=2)),
                    pb.ImportedRecord(parent=anna, record=bad),
                ]
            ),
        ]
        with pytest.raises(grpc.RpcError) as raised:
            records.ImportRecords(iter(batches))
        assert _invalid_field(raised) == f"records[3].record.{field}"
    # All or nothing: the good records before the bad one were not stored either.
    assert list(records.ListRecords(pb.ListRecordsRequest(parent=anna)).records) == []


def test_update_record_refuses_a_purpose_changed_to_an_unknown_one_or_off_its_basis(
    records: pb_grpc.RecordServiceStub, anna: str
) -> None:
    stored = records.CreateRecord(pb.CreateRecordRequest(parent=anna, record=record())).record

    def update(paths: list[str], **values: object) -> pb.Record:
        changed = pb.Record(name=stored.name, **values)  # type: ignore[arg-type]
        return records.UpdateRecord(
            pb.UpdateRecordRequest(
                record=changed, update_mask=field_mask_pb2.FieldMask(paths=paths)
            )
        ).record

    with pytest.raises(grpc.RpcError) as raised:
        update(["purpose"], purpose="teaching")
    assert _invalid_field(raised) == "record.purpose"
    # marketing_email rests on consent; the record's basis is contract.
    with pytest.raises(grpc.RpcError) as raised:
        update(["purpose"], purpose="marketing_email")
    assert _invalid_field(raised) == "record.legal_basis"
    with pytest.raises(grpc.RpcError) as raised:
        update(["legal_basis"], legal_basis=pb.LEGAL_BASIS_PUBLIC_TASK)
    assert _invalid_field(raised) == "record.legal_basis"
    # Nothing of it was changed; a purpose and its own basis together are.
    unchanged = records.GetRecord(pb.GetRecordRequest(name=stored.name)).record
    assert (unchanged.purpose, unchanged.legal_basis) == (stored.purpose, stored.legal_basis)
    moved = update(
        ["purpose", "legal_basis"], purpose="marketing_email", legal_basis=pb.LEGAL_BASIS_CONSENT
    )
    assert (moved.purpose, moved.legal_basis) == ("marketing_email", pb.LEGAL_BASIS_CONSENT)
