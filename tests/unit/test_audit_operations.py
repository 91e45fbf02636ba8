"""Every operation on subjects, records, tokens and keys writes its audit event,
and fails closed: an event that cannot be written leaves no change behind and
lets no answer out. On both engines, but where a test reads SQLite's own file."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import grpc
import psycopg
import pytest

from tests.helpers import backdate, error_info
from vault.core.actor import LOCAL, Actor, Role
from vault.core.audit.events import AuditEvent, Operation
from vault.core.audit.store import AuditEntry, AuditQuery
from vault.core.errors import AuditUnavailable, SubjectNotFound
from vault.core.identities import IdentityKind
from vault.core.model import LegalBasis, RecordDraft
from vault.core.subjects import ANSWERED_AGAIN
from vault.core.vault import IdentityInput, NewSubject, RecordChanges, SubjectBatch, Vault
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc

PURPOSE = "course_delivery"
# The purpose a privacy officer's reads are for unless they name one.
RIGHTS_REQUESTS = "rights_requests"
OFFICER = Actor("officer (tokens/aaaaaaaaaaaa)", Role.PRIVACY_OFFICER)


def draft(category: str = "contact") -> RecordDraft:
    return RecordDraft(category, PURPOSE, LegalBasis.CONTRACT, "lms", {"city": "Malmö"})


def email(tag: str) -> IdentityInput:
    return IdentityInput(IdentityKind.EMAIL, f"{tag}@example.se")


@dataclass(frozen=True)
class Person:
    tag: str
    subject_id: str
    record_id: str
    protected: bool

    @property
    def email(self) -> IdentityInput:
        return email(self.tag)


def person(vault: Vault, tag: str, protected: bool) -> Person:
    subject = vault.create_subject(
        LOCAL,
        [
            email(tag),
            IdentityInput(IdentityKind.PHONE, "+46701234567" if protected else "+46707654321"),
        ],
        ["student"],
        protected,
    )
    record = vault.create_record(LOCAL, subject.subject_id, draft())
    return Person(tag, subject.subject_id, record.record_id, protected)


# ----------------------------------------------------------------- reading
def stored(vault: Vault) -> list[Any]:
    return vault.records.audit.query(AuditQuery(limit=1_000_000))


def last_row(vault: Vault) -> int:
    events = stored(vault)
    return events[-1].row_id if events else 0


def events_after(vault: Vault, row: int) -> list[AuditEvent]:
    return [
        AuditEvent.from_entry(event.entry)
        for event in vault.records.audit.query(AuditQuery(after_row=row, limit=1_000_000))
    ]


def one_event(vault: Vault, row: int, *, besides: Sequence[str] = ()) -> AuditEvent:
    """The one event written after `row`, but those of the operations `besides`."""
    events = [e for e in events_after(vault, row) if e.operation not in besides]
    assert len(events) == 1, [e.operation for e in events]
    return events[0]


# Erasing a category tells its keys' destruction too (vault.core.audit.destruction).
KEY_DESTRUCTION = (Operation.DESTROY_KEYS, Operation.KEYS_DESTROYED)


# --------------------------------------------------------------- the cases
# Each does its operation on `who`, and returns the subject its event is about.
Call = Callable[[Vault, Person], str]


def _create_subject(vault: Vault, who: Person) -> str:
    return vault.create_subject(OFFICER, [email(f"new.{who.tag}")], [], who.protected).subject_id


def _import_subjects(vault: Vault, who: Person) -> str:
    imported = vault.import_subjects(
        OFFICER,
        [
            SubjectBatch(
                [
                    NewSubject(
                        [email(f"imported.{who.tag}")],
                        protected_identity=who.protected,
                        records=[draft(), draft("notes")],
                    )
                ]
            )
        ],
    )
    return imported.subject_ids[0]


def _update_subject(vault: Vault, who: Person) -> str:
    vault.update_subject(OFFICER, who.subject_id, ["student", "model"], None)
    return who.subject_id


def _add_identity(vault: Vault, who: Person) -> str:
    vault.add_identity(OFFICER, who.subject_id, email(f"second.{who.tag}"))
    return who.subject_id


def _rectify_identity(vault: Vault, who: Person) -> str:
    vault.rectify_identity(OFFICER, who.subject_id, who.email, email(f"moved.{who.tag}"))
    return who.subject_id


def _remove_identity(vault: Vault, who: Person) -> str:
    vault.remove_identity(OFFICER, who.subject_id, who.email)
    return who.subject_id


def _create_record(vault: Vault, who: Person) -> str:
    vault.create_record(OFFICER, who.subject_id, draft("notes"))
    return who.subject_id


def _create_record_async(vault: Vault, who: Person) -> str:
    asyncio.run(vault.create_record_async(OFFICER, who.subject_id, draft("notes")))
    return who.subject_id


def _get_record_async(vault: Vault, who: Person) -> str:
    asyncio.run(vault.get_record_async(OFFICER, who.record_id, who.subject_id, PURPOSE))
    return who.subject_id


def _get_subject_async(vault: Vault, who: Person) -> str:
    asyncio.run(vault.get_subject_async(OFFICER, who.subject_id))
    return who.subject_id


def _find_subject_async(vault: Vault, who: Person) -> str:
    asyncio.run(vault.find_subject_async(OFFICER, who.email))
    return who.subject_id


def _import_records(vault: Vault, who: Person) -> str:
    vault.import_records(OFFICER, [(who.subject_id, draft("notes")), (who.subject_id, draft())])
    return who.subject_id


def _update_record(vault: Vault, who: Person) -> str:
    vault.update_record(OFFICER, who.record_id, RecordChanges(fields={"city": "Lund"}))
    return who.subject_id


def _erase_category(vault: Vault, who: Person) -> str:
    vault.erase_category(OFFICER, who.subject_id, "contact", purpose=PURPOSE)
    return who.subject_id


def _on(action: Callable[[Vault, Person], object]) -> Call:
    """An operation whose event is about `who` itself."""

    def call(vault: Vault, who: Person) -> str:
        action(vault, who)
        return who.subject_id

    return call


CASES: dict[str, tuple[Operation, Call, str]] = {
    "create subject": (Operation.CREATE_SUBJECT, _create_subject, ""),
    "import subjects": (Operation.IMPORT_SUBJECTS, _import_subjects, ""),
    "get subject": (
        Operation.GET_SUBJECT,
        _on(lambda v, p: v.get_subject(OFFICER, p.subject_id)),
        "",
    ),
    "get subject on a loop": (Operation.GET_SUBJECT, _get_subject_async, ""),
    "find subject": (
        Operation.FIND_SUBJECT,
        _on(lambda v, p: v.find_subject(OFFICER, p.email)),
        "",
    ),
    "find subject on a loop": (Operation.FIND_SUBJECT, _find_subject_async, ""),
    "update subject": (Operation.UPDATE_SUBJECT, _update_subject, ""),
    "add identity": (Operation.ADD_IDENTITY, _add_identity, ""),
    "rectify identity": (Operation.RECTIFY_IDENTITY, _rectify_identity, ""),
    "remove identity": (Operation.REMOVE_IDENTITY, _remove_identity, ""),
    "export subject": (
        Operation.EXPORT_SUBJECT,
        _on(lambda v, p: v.export_subject(OFFICER, p.subject_id)),
        RIGHTS_REQUESTS,
    ),
    "create record": (Operation.CREATE_RECORD, _create_record, PURPOSE),
    "create record on a loop": (Operation.CREATE_RECORD, _create_record_async, PURPOSE),
    "get record": (
        Operation.GET_RECORD,
        _on(lambda v, p: v.get_record(OFFICER, p.record_id, p.subject_id, PURPOSE)),
        PURPOSE,
    ),
    "get record on a loop": (Operation.GET_RECORD, _get_record_async, PURPOSE),
    "update record": (Operation.UPDATE_RECORD, _update_record, PURPOSE),
    "list records": (
        Operation.LIST_RECORDS,
        _on(lambda v, p: v.list_records(OFFICER, p.subject_id, None, 10, "")),
        RIGHTS_REQUESTS,
    ),
    "stream records": (
        Operation.STREAM_RECORDS,
        _on(lambda v, p: list(v.stream_records(OFFICER, p.subject_id, "contact"))),
        RIGHTS_REQUESTS,
    ),
    "count records": (
        Operation.COUNT_RECORDS,
        _on(lambda v, p: v.count_records(OFFICER, p.subject_id)),
        "",
    ),
    "import records": (Operation.IMPORT_RECORDS, _import_records, PURPOSE),
    "erase category": (Operation.ERASE_CATEGORY, _erase_category, PURPOSE),
}


@pytest.mark.parametrize("case", CASES)
def test_each_operation_writes_one_event_naming_its_subject_by_pseudonym(
    vault: Vault, case: str
) -> None:
    operation, call, purpose = CASES[case]
    for who in (person(vault, "anna", False), person(vault, "eva", True)):
        before = last_row(vault)
        subject_id = call(vault, who)
        besides = KEY_DESTRUCTION if operation is Operation.ERASE_CATEGORY else ()
        event = one_event(vault, before, besides=besides)
        assert event.operation == operation
        assert event.subject == vault.audit.pseudonym_of(subject_id) != ""
        assert (event.purpose, event.sensitive) == (purpose, who.protected)
        assert (event.actor, event.role, event.result) == (OFFICER.who, "privacy_officer", "ok")
        entry = stored(vault)[-1].entry.decode()
        assert subject_id not in entry and who.tag not in entry  # no id, no personal data


def test_a_replayed_request_is_an_event_too_answered_from_memory(vault: Vault) -> None:
    anna = person(vault, "anna", False)
    calls: list[tuple[Operation, Callable[[], object]]] = [
        (
            Operation.CREATE_SUBJECT,
            lambda: vault.create_subject(OFFICER, [email("bo")], [], request_id="bo-1"),
        ),
        (
            Operation.CREATE_RECORD,
            lambda: vault.create_record(OFFICER, anna.subject_id, draft("notes"), "note-1"),
        ),
        (
            Operation.UPDATE_RECORD,
            lambda: vault.update_record(
                OFFICER, anna.record_id, RecordChanges(fields={"city": "Ystad"}), "rectify-1"
            ),
        ),
        (
            Operation.UPDATE_SUBJECT,
            lambda: vault.update_subject(OFFICER, anna.subject_id, ["model"], None, "roles-1"),
        ),
    ]
    for operation, call in calls:
        first = last_row(vault)
        call()
        assert one_event(vault, first).detail != ANSWERED_AGAIN
        again = last_row(vault)
        call()
        event = one_event(vault, again)
        assert event.operation == operation
        assert event.detail.endswith(ANSWERED_AGAIN)


def test_tokens_are_issued_listed_and_revoked_with_an_event_each(vault: Vault) -> None:
    admin = Actor("admin (tokens/bbbbbbbbbbbb)", Role.ADMIN)
    before = last_row(vault)
    issued = vault.tokens.create(admin, Role.AUDITOR, name="the auditor")
    event = one_event(vault, before)
    assert (event.operation, event.actor, event.subject) == (Operation.CREATE_TOKEN, admin.who, "")
    assert issued.token.resource_name in event.detail and issued.secret not in event.detail

    before = last_row(vault)
    vault.tokens.list(admin)
    assert one_event(vault, before).operation == Operation.LIST_TOKENS

    before = last_row(vault)
    vault.tokens.revoke(admin, issued.token.resource_name)
    event = one_event(vault, before)
    assert (event.operation, event.detail) == (Operation.REVOKE_TOKEN, issued.token.resource_name)


def test_key_rotation_and_retirement_write_an_event_each(vault: Vault) -> None:
    person(vault, "anna", False)
    backdate(vault, 100)
    before = last_row(vault)
    vault.rotate_keys(LOCAL)
    event = one_event(vault, before)
    assert (event.operation, event.actor, event.subject) == (Operation.ROTATE_KEYS, "local", "")
    assert event.detail == "from version 1"

    before = last_row(vault)
    assert vault.retire_keys(LOCAL, dt.timedelta(days=30)).retired == [1]
    event = one_event(vault, before)
    assert (event.operation, event.detail) == (
        Operation.RETIRE_KEYS,
        "version 1 made before 2026-10-25 09:00:00 UTC",
    )


# ------------------------------------------------------------ fail closed
def boom(*_: object, **__: object) -> None:
    raise RuntimeError("the audit log's disk is full")


async def boom_async(*_: object, **__: object) -> None:
    boom()


class _BrokenLog:
    def append(self, entries: Sequence[AuditEntry]) -> None:
        boom()


class _WithBrokenLog:
    """A transaction whose audit log refuses every event."""

    def __init__(self, tx: Any) -> None:
        self._tx = tx

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tx, name)

    @property
    def audit(self) -> _BrokenLog:
        return _BrokenLog()


def break_transactions(monkeypatch: pytest.MonkeyPatch, vault: Vault) -> None:
    write = vault.records.write

    @contextmanager
    def broken() -> Iterator[Any]:
        with write() as tx:
            yield _WithBrokenLog(tx)

    monkeypatch.setattr(vault.records, "write", broken)


def break_commits(monkeypatch: pytest.MonkeyPatch, vault: Vault) -> None:
    monkeypatch.setattr(vault.records.audit, "append", boom)
    monkeypatch.setattr(vault.records.audit, "append_async", boom_async)
    monkeypatch.setattr(vault.records.audit, "open_intent", boom)


def test_a_change_whose_event_cannot_be_written_is_not_done(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    anna = person(vault, "anna", False)
    with monkeypatch.context() as broken:
        break_transactions(broken, vault)
        for change in (
            lambda: vault.create_subject(OFFICER, [email("bo")], []),
            lambda: _import_subjects(vault, anna),
            lambda: vault.update_subject(OFFICER, anna.subject_id, ["model"], None),
            lambda: vault.add_identity(OFFICER, anna.subject_id, email("anna.b")),
            lambda: vault.remove_identity(OFFICER, anna.subject_id, anna.email),
            lambda: vault.update_record(
                OFFICER, anna.record_id, RecordChanges(fields={"city": "Lund"})
            ),
            lambda: vault.import_records(OFFICER, [(anna.subject_id, draft("notes"))]),
        ):
            with pytest.raises(AuditUnavailable):
                change()
    with monkeypatch.context() as broken:
        break_commits(broken, vault)
        for change in (
            lambda: vault.erase_category(OFFICER, anna.subject_id, "contact"),
            lambda: vault.tokens.create(LOCAL, Role.AUDITOR),
            lambda: vault.rotate_keys(LOCAL),
        ):
            with pytest.raises(AuditUnavailable):
                change()
    for gone in ("bo", "imported.anna", "anna.b"):
        with pytest.raises(SubjectNotFound):
            vault.find_subject(LOCAL, email(gone))
    subject = vault.get_subject(LOCAL, anna.subject_id)
    assert subject.roles == ("student",)
    assert len(subject.identities) == 2
    [record] = vault.list_records(LOCAL, anna.subject_id, None, 10, "").records
    assert record.fields == {"city": "Malmö"}  # neither rectified nor erased
    assert vault.tokens.list(LOCAL) == []
    assert vault.keyring.current_version == 1


def test_a_read_whose_event_cannot_be_written_answers_nothing(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    eva = person(vault, "eva", True)
    break_commits(monkeypatch, vault)
    before = len(vault.access_notes.recent)  # type: ignore[attr-defined]
    stream = vault.stream_records(OFFICER, eva.subject_id, None)
    for read in (
        lambda: vault.get_subject(OFFICER, eva.subject_id),
        lambda: vault.find_subject(OFFICER, eva.email),
        lambda: asyncio.run(vault.get_subject_async(OFFICER, eva.subject_id)),
        lambda: vault.get_record(OFFICER, eva.record_id, eva.subject_id),
        lambda: asyncio.run(vault.get_record_async(OFFICER, eva.record_id, eva.subject_id)),
        lambda: vault.list_records(OFFICER, eva.subject_id, None, 10, ""),
        lambda: next(stream),  # before its first record
        lambda: vault.count_records(OFFICER, eva.subject_id),
        lambda: vault.export_subject(OFFICER, eva.subject_id),
        lambda: vault.tokens.list(OFFICER),
    ):
        with pytest.raises(AuditUnavailable):
            read()
    # The access notes of a protected identity go on as before.
    assert len(vault.access_notes.recent) > before  # type: ignore[attr-defined]


@contextmanager
def audit_log_refusing_inserts(vault: Vault, engine: str | None) -> Iterator[Callable[[str], int]]:
    """A real database-level failure: a trigger on the vault's own database
    that aborts every insert of an event. Yields how many rows a table holds,
    read straight from the database."""
    if engine is None:
        conn = sqlite3.connect(vault.records.path)  # type: ignore[attr-defined]
        conn.execute(
            "CREATE TRIGGER audit_broken BEFORE INSERT ON audit_events "
            "BEGIN SELECT RAISE(ABORT, 'audit broken'); END"
        )
        conn.commit()
        try:
            yield lambda table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        finally:
            conn.close()
        return
    with psycopg.connect(engine, autocommit=True) as pg:
        pg.execute(
            "CREATE FUNCTION audit_broken() RETURNS trigger AS "
            "$$ BEGIN RAISE EXCEPTION 'audit broken'; END $$ LANGUAGE plpgsql"
        )
        pg.execute(
            "CREATE TRIGGER audit_broken BEFORE INSERT ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_broken()"
        )
        yield lambda table: pg.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]


def test_a_database_that_refuses_events_refuses_the_operations(
    vault: Vault, engine: str | None
) -> None:
    anna = person(vault, "anna", False)
    with audit_log_refusing_inserts(vault, engine) as count:
        held = {table: count(table) for table in ("subjects", "records", "audit_events")}
        for operation in (
            lambda: vault.create_subject(OFFICER, [email("bo")], []),
            lambda: vault.create_record(OFFICER, anna.subject_id, draft("notes")),
            lambda: asyncio.run(
                vault.create_record_async(OFFICER, anna.subject_id, draft("notes"))
            ),
            lambda: vault.get_record(OFFICER, anna.record_id, anna.subject_id),
            lambda: asyncio.run(vault.get_record_async(OFFICER, anna.record_id, anna.subject_id)),
        ):
            with pytest.raises(AuditUnavailable):
                operation()
        assert {table: count(table) for table in held} == held


# ------------------------------------------------------------ over gRPC
def test_over_grpc_an_unwritable_event_is_unavailable_audit_unavailable(
    vault: Vault,
    subjects: vault_pb2_grpc.SubjectServiceStub,
    records: vault_pb2_grpc.RecordServiceStub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    anna = person(vault, "anna", False)
    name = f"subjects/{anna.subject_id}"
    break_commits(monkeypatch, vault)
    break_transactions(monkeypatch, vault)
    for call in (
        lambda: records.GetRecord(pb.GetRecordRequest(name=f"{name}/records/{anna.record_id}")),
        lambda: subjects.GetSubject(pb.GetSubjectRequest(name=name)),
        lambda: subjects.CreateSubject(
            pb.CreateSubjectRequest(
                identities=[pb.Identity(kind=pb.IDENTITY_KIND_EMAIL, value="bo@example.se")]
            )
        ),
    ):
        with pytest.raises(grpc.RpcError) as raised:
            call()
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
        assert error_info(raised.value).reason == "AUDIT_UNAVAILABLE"
    monkeypatch.undo()
    with pytest.raises(SubjectNotFound):
        vault.find_subject(LOCAL, email("bo"))
