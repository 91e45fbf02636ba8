"""ImportSubjects over real gRPC on both engines: batches of new people with
their records, each batch all or nothing, once per request id, their keys
written in one key-store transaction before their records."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest

import vault_client.client
from tests.helpers import email, error_info, record
from vault.core import subject_import
from vault.core.vault import Vault
from vault.storage.base import KeyStore
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc
from vault_client import (
    Content,
    Identity,
    InvalidArgumentError,
    NewSubject,
    Record,
    VaultClient,
    VaultClientError,
)


def lms_id(n: int) -> pb.Identity:
    return pb.Identity(kind=pb.IDENTITY_KIND_EXTERNAL_ID, system="lms", value=f"u{n}")


def person(n: int, *categories: str) -> pb.ImportedSubject:
    """Person n: a user id and an e-mail of their own, a record per category."""
    return pb.ImportedSubject(
        identities=[lms_id(n), email(f"Person{n}@Example.se")],
        roles=["student"] if n % 2 else ["salon_customer", "model"],
        protected_identity=n % 3 == 0,
        records=[record(category, n=n, of=category) for category in categories],
    )


def people(first: int, count: int) -> list[pb.ImportedSubject]:
    return [person(n, "contact", "grades", "contact") for n in range(first, first + count)]


def batch(subjects: list[pb.ImportedSubject], request_id: str = "") -> pb.ImportSubjectsRequest:
    return pb.ImportSubjectsRequest(subjects=subjects, request_id=request_id)


def find(subjects: pb_grpc.SubjectServiceStub, n: int) -> str | None:
    """The name of the subject holding person n's user id, if any does."""
    try:
        found = subjects.FindSubject(pb.FindSubjectRequest(identity=lms_id(n)))
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.NOT_FOUND
        return None
    return str(found.subject.name)


def refused(call: Callable[[], Any]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value


def subject_keys(vault: Vault) -> int:
    return sum(1 for _ in vault.keys.store.wrapped_subject_keys())


def test_a_good_stream_stores_everyone_with_their_records_readable_afterwards(
    subjects: pb_grpc.SubjectServiceStub, records: pb_grpc.RecordServiceStub
) -> None:
    sent = [people(0, 4), people(4, 3), [person(7)]]  # the last with no records
    answer = subjects.ImportSubjects(iter([batch(b) for b in sent]))
    assert (answer.imported_subject_count, answer.imported_record_count) == (8, 21)
    assert len(set(answer.subjects)) == 8
    everyone = [message for messages in sent for message in messages]
    for n, (name, message) in enumerate(zip(answer.subjects, everyone, strict=True)):
        assert find(subjects, n) == name  # in the order sent
        subject = subjects.GetSubject(pb.GetSubjectRequest(name=name)).subject
        assert subject.state == pb.SUBJECT_STATE_ACTIVE
        assert [(i.system, i.value) for i in subject.identities] == [
            ("lms", f"u{n}"),
            ("", f"person{n}@example.se"),
        ]
        assert list(subject.roles) == list(message.roles)
        assert subject.protected_identity == (n % 3 == 0)
        stored = records.ListRecords(pb.ListRecordsRequest(parent=name)).records
        assert [(r.category, dict(r.fields)) for r in stored] == [
            (r.category, dict(r.fields)) for r in message.records
        ]
    streamed = records.StreamRecords(pb.StreamRecordsRequest(parent=answer.subjects[5]))
    assert [m.record.fields["of"] for m in streamed] == ["contact", "grades", "contact"]


def test_a_batch_with_one_bad_item_stores_nothing_and_names_it(
    subjects: pb_grpc.SubjectServiceStub, vault: Vault
) -> None:
    keys_before = subject_keys(vault)
    later = people(3, 3)
    later[1].records[2].category = "Not A Category"  # person 4 of the stream
    error = refused(
        lambda: subjects.ImportSubjects(
            iter([batch(people(0, 3)), batch(later), batch(people(6, 2))])
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    info = error_info(error)
    assert (info.reason, info.metadata["field"]) == (
        "INVALID_FIELD",
        "subjects[4].records[2].category",
    )
    assert error.details().startswith("subjects[4].records[2].category: ")
    # The batch before it stays stored; its own and the one after store nothing.
    assert [find(subjects, n) is not None for n in range(8)] == [True] * 3 + [False] * 5
    # Refused before any key was made for it: only the first batch's keys exist.
    assert subject_keys(vault) == keys_before + 3

    # A bad item the edge finds (a kind, a basis) is named by the same index.
    for spoil, field in (
        (lambda p: setattr(p.identities[1], "kind", 0), "subjects[2].identities[1].kind"),
        (lambda p: setattr(p.records[0], "legal_basis", 0), "subjects[2].records[0].legal_basis"),
        (lambda p: p.ClearField("identities"), "subjects[2].identities"),
        (lambda p: p.roles.append("Bad Role"), "subjects[2].roles[1]"),
    ):
        spoilt = people(3, 3)
        spoil(spoilt[2])
        error = refused(lambda s=spoilt: subjects.ImportSubjects(iter([batch(s)])))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error_info(error).metadata["field"] == field
        assert [find(subjects, n) for n in range(3, 6)] == [None] * 3
    error = refused(lambda: subjects.ImportSubjects(iter([batch([])])))
    assert error_info(error).metadata["field"] == "subjects"
    assert subject_keys(vault) == keys_before + 3


def test_a_retried_batch_with_the_same_request_id_stores_once(
    subjects: pb_grpc.SubjectServiceStub, records: pb_grpc.RecordServiceStub, vault: Vault
) -> None:
    first = subjects.ImportSubjects(iter([batch(people(0, 3), "register-1.0")]))
    keys_after_first = subject_keys(vault)
    # The stream again, whole, as a client does after losing it: the batch
    # stored already answers as before, the new one is stored.
    again = subjects.ImportSubjects(
        iter([batch(people(0, 3), "register-1.0"), batch(people(3, 2), "register-1.1")])
    )
    assert list(again.subjects[:3]) == list(first.subjects)
    assert (again.imported_subject_count, again.imported_record_count) == (5, 15)
    assert [find(subjects, n) for n in range(5)] == list(again.subjects)
    assert subject_keys(vault) == keys_after_first + 2
    for name in first.subjects:
        assert len(records.ListRecords(pb.ListRecordsRequest(parent=name)).records) == 3
    # The same id with other people is a mistake the client must hear of.
    error = refused(lambda: subjects.ImportSubjects(iter([batch(people(9, 3), "register-1.0")])))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(error).reason == "REQUEST_ID_REUSED"
    assert find(subjects, 9) is None


def test_identities_already_in_use_are_refused_as_in_create_subject(
    subjects: pb_grpc.SubjectServiceStub, vault: Vault
) -> None:
    subjects.CreateSubject(pb.CreateSubjectRequest(identities=[email("Anna@Example.se")]))
    taken = email("ANNA@example.se")  # the same address, written otherwise
    created = refused(lambda: subjects.CreateSubject(pb.CreateSubjectRequest(identities=[taken])))
    keys_before = subject_keys(vault)

    clash = people(0, 3)
    clash[1].identities.append(taken)
    imported = refused(lambda: subjects.ImportSubjects(iter([batch(clash)])))
    assert imported.code() == created.code() == grpc.StatusCode.ALREADY_EXISTS
    assert error_info(imported).reason == error_info(created).reason == "IDENTITY_IN_USE"
    assert error_info(imported).metadata["field"] == "subjects[1].identities[2]"

    # Two people of one batch with one identity: the second is refused alike.
    twice = people(0, 3)
    twice[2].identities[1].value = "PERSON0@example.se"
    imported = refused(lambda: subjects.ImportSubjects(iter([batch(twice)])))
    assert imported.code() == grpc.StatusCode.ALREADY_EXISTS
    assert error_info(imported).reason == "IDENTITY_IN_USE"
    assert error_info(imported).metadata["field"] == "subjects[2].identities[1]"
    assert "subjects[0]" in imported.details()

    # One stored by an earlier batch of the same stream is in use by then.
    repeated = refused(
        lambda: subjects.ImportSubjects(iter([batch(people(0, 2)), batch(people(1, 2))]))
    )
    assert error_info(repeated).metadata["field"] == "subjects[2].identities[0]"
    assert [find(subjects, n) is not None for n in range(3)] == [True, True, False]
    assert subject_keys(vault) == keys_before + 2


class Watched:
    """A key store that notes each write it is asked for, and when it returned."""

    def __init__(self, store: KeyStore, events: list[str]) -> None:
        self.store, self.events = store, events

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.store, name)
        if not name.startswith(("put", "destroy")):
            return method

        def watched(*args: Any) -> Any:
            result = method(*args)
            self.events.append(name)
            return result

        return watched


def test_a_batchs_keys_are_one_key_store_write_made_durable_before_its_records(
    subjects: pb_grpc.SubjectServiceStub, vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    monkeypatch.setattr(vault.keys, "store", Watched(vault.keys.store, events))
    write = vault.records.write

    def watched_write() -> Any:
        events.append("records")
        return write()

    monkeypatch.setattr(vault.records, "write", watched_write)
    subjects.ImportSubjects(iter([batch(people(0, 40)), batch(people(40, 25))]))
    # Two batches, each: its subject keys and data keys in one put, then its
    # rows in one record-store transaction, never the other way round.
    assert events == ["put_keys", "records"] * 2


def test_a_batch_refused_once_its_keys_are_written_destroys_them(
    subjects: pb_grpc.SubjectServiceStub, vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    subjects.CreateSubject(pb.CreateSubjectRequest(identities=[email("person1@example.se")]))
    keys_before = subject_keys(vault)
    # As if another call registered the identity between the check and the write.
    monkeypatch.setattr(vault.subject_import, "_refuse_identities_held", lambda checked: None)
    error = refused(lambda: subjects.ImportSubjects(iter([batch(people(0, 3))])))
    assert error_info(error).reason == "IDENTITY_IN_USE"
    assert error_info(error).metadata["field"] == "subjects[1].identities[1]"
    assert find(subjects, 0) is None and find(subjects, 2) is None
    assert subject_keys(vault) == keys_before


def test_keys_that_never_landed_leave_no_records(
    subjects: pb_grpc.SubjectServiceStub, vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    def lost(*args: object) -> bool:
        raise OSError("the key database went away")

    monkeypatch.setattr(vault.keys.store, "put_keys", lost)
    error = refused(lambda: subjects.ImportSubjects(iter([batch(people(0, 3))])))
    assert error.code() == grpc.StatusCode.INTERNAL
    assert [find(subjects, n) for n in range(3)] == [None] * 3


# ------------------------------------------------------ the Python client
def client_person(n: int, category: str = "contact") -> NewSubject:
    return NewSubject(
        [Identity("external_id", f"u{n}", "lms"), Identity("email", f"person{n}@example.se")],
        roles=["student"],
        records=[Record("", category, "course_delivery", "contract", "lms", {"n": n})],
    )


def test_the_client_cuts_people_into_batches_and_calls_and_names_a_bad_one_by_its_place(
    client: VaultClient, subjects: pb_grpc.SubjectServiceStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vault_client.client, "IMPORT_CALL_SUBJECTS", 4)  # so 10 people take 3 calls
    sent: list[int] = []
    summary = client.import_subjects(
        (client_person(n) for n in range(10)), batch=3, request_id="roll", progress=sent.append
    )
    assert (summary.subject_count, summary.record_count) == (10, 10)
    assert summary.subjects == [find(subjects, n) for n in range(10)]
    assert sent == [3, 4, 7, 8, 10]  # each message as it goes: 3+1, 3+1, 2 a call
    # The same people and id again store nothing new and answer the same.
    assert (
        client.import_subjects((client_person(n) for n in range(10)), batch=3, request_id="roll")
        == summary
    )

    people = [client_person(n) for n in range(10, 20)]
    people[7] = client_person(17, category="Bad Category")  # in the second call
    with pytest.raises(InvalidArgumentError) as raised:
        client.import_subjects(people, batch=3)
    assert raised.value.field == "subjects[7].records[0].category"
    assert raised.value.message.startswith("subjects[7].records[0].category: ")
    # Calls and batches before person 7's are stored, theirs and after are not.
    assert [find(subjects, n) is not None for n in range(10, 20)] == [True] * 7 + [False] * 3

    # One the client cannot send ends the stream there: the batches before it
    # are stored (in the call's first message, or a later one).
    for first, bad, stored in ((20, 5, 4), (30, 6, 6)):
        people = [client_person(n) for n in range(first, first + 7)]
        people[bad].records.append(
            Record(
                "", "media", "distance_assignment", "contract", "lms", content=Content(b"", size=9)
            )
        )
        with pytest.raises(VaultClientError) as unsent:
            client.import_subjects(people, batch=2)
        assert unsent.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert unsent.value.field == f"subjects[{bad}].records[1].content"
        assert [find(subjects, n) is not None for n in range(first, first + 7)] == [True] * (
            stored
        ) + [False] * (7 - stored)


def test_a_message_or_a_call_over_its_limit_is_refused_whole(
    subjects: pb_grpc.SubjectServiceStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    error = refused(lambda: subjects.ImportSubjects(iter([batch([person(0)] * 1001)])))
    assert error_info(error).metadata["field"] == "subjects"
    assert "at most 1,000 subjects per message" in error.details()
    monkeypatch.setattr(subject_import, "MAX_IMPORT_SUBJECTS", 5)
    error = refused(
        lambda: subjects.ImportSubjects(iter([batch(people(0, 3)), batch(people(3, 3))]))
    )
    assert "at most 5 subjects per call" in error.details()
    assert [find(subjects, n) is not None for n in range(6)] == [True] * 3 + [False] * 3
