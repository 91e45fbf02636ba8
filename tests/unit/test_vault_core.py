"""The vault core without gRPC: subjects, records, retries, erasure, recovery."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import sqlite3
import threading
import zipfile
from pathlib import Path

import psycopg
import pytest

from vault import bootstrap
from vault.core.actor import LOCAL
from vault.core.clock import FixedClock
from vault.core.errors import (
    CategoryErased,
    IdentityInUse,
    InvalidArgument,
    RecordNotFound,
    RequestIdReused,
    SubjectErased,
    SubjectNotFound,
)
from vault.core.export import ExportProgress
from vault.core.identities import IdentityKind
from vault.core.model import Content, LegalBasis, Record, RecordDraft, SubjectState
from vault.core.vault import IdentityInput, RecordChanges, Vault
from vault.reports.archive import export_archive
from vault.storage.base import NewRecord

ANNA = [
    IdentityInput(IdentityKind.PERSONNUMMER, "811218-9876"),
    IdentityInput(IdentityKind.EMAIL, "anna@example.se"),
]


def draft(category: str = "contact", **fields: object) -> RecordDraft:
    return RecordDraft(
        category, "course_delivery", LegalBasis.CONTRACT, "lms", dict(fields or {"city": "Malmö"})
    )


def test_a_subject_is_found_by_any_written_form(vault: Vault) -> None:
    anna = vault.create_subject(LOCAL, ANNA, ["student"])
    for kind, written in [
        (IdentityKind.PERSONNUMMER, "198112189876"),
        (IdentityKind.PERSONNUMMER, "19811218-9876"),
        (IdentityKind.PERSONNUMMER, "8112189876"),
        (IdentityKind.EMAIL, "ANNA@EXAMPLE.SE"),
    ]:
        assert vault.find_subject(LOCAL, IdentityInput(kind, written)).subject_id == anna.subject_id
    with pytest.raises(SubjectNotFound):
        vault.find_subject(LOCAL, IdentityInput(IdentityKind.EMAIL, "nobody@example.se"))


def test_an_identity_belongs_to_one_subject(vault: Vault) -> None:
    vault.create_subject(LOCAL, ANNA, [])
    with pytest.raises(IdentityInUse) as raised:
        vault.create_subject(LOCAL, [IdentityInput(IdentityKind.EMAIL, "Anna@Example.se")], [])
    assert raised.value.metadata["field"] == "identities[0]"


def test_repeated_identities_in_one_request_are_refused(vault: Vault) -> None:
    with pytest.raises(InvalidArgument) as raised:
        vault.create_subject(
            LOCAL, [ANNA[1], IdentityInput(IdentityKind.EMAIL, "ANNA@example.se")], []
        )
    assert raised.value.field == "identities[1]"


def test_rectify_add_and_remove_identities(vault: Vault) -> None:
    anna = vault.create_subject(LOCAL, ANNA, [])
    new_mail = IdentityInput(IdentityKind.EMAIL, "anna.a@example.se")
    vault.rectify_identity(LOCAL, anna.subject_id, ANNA[1], new_mail)
    with pytest.raises(SubjectNotFound):
        vault.find_subject(LOCAL, ANNA[1])
    assert vault.find_subject(LOCAL, new_mail).subject_id == anna.subject_id
    phone = IdentityInput(IdentityKind.PHONE, "070-123 45 67")
    assert len(vault.add_identity(LOCAL, anna.subject_id, phone).identities) == 3
    assert len(vault.remove_identity(LOCAL, anna.subject_id, phone).identities) == 2
    with pytest.raises(InvalidArgument, match="does not hold"):
        vault.remove_identity(LOCAL, anna.subject_id, phone)
    with pytest.raises(InvalidArgument, match="same kind"):
        vault.rectify_identity(LOCAL, anna.subject_id, new_mail, phone)


def test_the_last_identity_cannot_be_removed(vault: Vault) -> None:
    bo = vault.create_subject(LOCAL, [ANNA[1]], [])
    with pytest.raises(InvalidArgument, match="at least one"):
        vault.remove_identity(LOCAL, bo.subject_id, ANNA[1])


def test_records_round_trip_with_content(vault: Vault) -> None:
    anna = vault.create_subject(LOCAL, ANNA, [])
    stored = vault.create_record(
        LOCAL,
        anna.subject_id,
        RecordDraft(
            "media",
            "distance_assignment",
            LegalBasis.CONTRACT,
            "lms",
            {"n": 1},
            Content(b"\x89PNG...", "image/png", "photo.png"),
        ),
    )
    read = vault.get_record(LOCAL, stored.record_id)
    assert read == stored
    assert read.content == Content(b"\x89PNG...", "image/png", "photo.png")


def test_rectifying_a_record_replaces_only_what_is_named(vault: Vault, clock: FixedClock) -> None:
    anna = vault.create_subject(LOCAL, ANNA, [])
    stored = vault.create_record(LOCAL, anna.subject_id, draft(city="Lund"))
    clock.advance(minutes=5)
    updated = vault.update_record(LOCAL, stored.record_id, RecordChanges(fields={"city": "Malmö"}))
    assert updated.fields == {"city": "Malmö"}
    assert updated.purpose == stored.purpose
    assert updated.created_at == stored.created_at
    assert updated.updated_at > stored.updated_at


def test_pages_cover_every_record_once(vault: Vault) -> None:
    anna = vault.create_subject(LOCAL, ANNA, [])
    vault.import_records(LOCAL, [(anna.subject_id, draft(n=i)) for i in range(25)])
    seen, token = [], ""
    while True:
        page = vault.list_records(LOCAL, anna.subject_id, None, 10, token)
        seen += [r.fields["n"] for r in page.records]
        token = page.next_page_token
        if not token:
            break
    assert seen == list(range(25))


def test_a_page_token_from_another_query_is_refused(vault: Vault) -> None:
    anna = vault.create_subject(LOCAL, ANNA, [])
    vault.import_records(LOCAL, [(anna.subject_id, draft(n=i)) for i in range(3)])
    token = vault.list_records(LOCAL, anna.subject_id, None, 1, "").next_page_token
    with pytest.raises(InvalidArgument) as raised:
        vault.list_records(LOCAL, anna.subject_id, "contact", 1, token)
    assert raised.value.field == "page_token"
    with pytest.raises(InvalidArgument):
        vault.list_records(LOCAL, anna.subject_id, None, 1, "garbage!!")


def test_a_retried_request_applies_once(vault: Vault) -> None:
    anna = vault.create_subject(LOCAL, ANNA, [], request_id="create-anna")
    again = vault.create_subject(LOCAL, ANNA, [], request_id="create-anna")
    assert again.subject_id == anna.subject_id
    first = vault.create_record(LOCAL, anna.subject_id, draft(), request_id="rec-1")
    second = vault.create_record(LOCAL, anna.subject_id, draft(), request_id="rec-1")
    assert first.record_id == second.record_id
    assert vault.count_records(LOCAL, anna.subject_id) == 1
    with pytest.raises(RequestIdReused):
        vault.create_record(LOCAL, anna.subject_id, draft(city="Lund"), request_id="rec-1")


def test_erasing_a_category_leaves_the_others_readable(vault: Vault) -> None:
    anna = vault.create_subject(LOCAL, ANNA, [])
    contact = vault.create_record(LOCAL, anna.subject_id, draft("contact"))
    notes = vault.create_record(LOCAL, anna.subject_id, draft("notes"))
    erasure = vault.erase_category(LOCAL, anna.subject_id, "notes")
    assert erasure.records_shredded == 1
    assert vault.get_record(LOCAL, contact.record_id).fields == contact.fields
    with pytest.raises(RecordNotFound):
        vault.get_record(LOCAL, notes.record_id)
    # New data in the category gets a new key; nothing old comes back.
    fresh = vault.create_record(LOCAL, anna.subject_id, draft("notes", text="new"))
    assert vault.get_record(LOCAL, fresh.record_id).fields == {"text": "new"}


def test_a_record_sealed_under_a_destroyed_category_key_reads_as_erased(vault: Vault) -> None:
    anna = vault.create_subject(LOCAL, ANNA, [])
    notes = vault.create_record(LOCAL, anna.subject_id, draft("notes"))
    # As if a crash hit between destroying the key and deleting the rows.
    vault.keys.destroy_category(anna.subject_id, "notes")
    with pytest.raises(CategoryErased):
        vault.get_record(LOCAL, notes.record_id)
    vault.create_record(LOCAL, anna.subject_id, draft("notes"))  # a new key for the category
    with pytest.raises(CategoryErased):
        vault.get_record(LOCAL, notes.record_id)


def test_erasure_stops_every_read_and_returns_a_receipt(vault: Vault) -> None:
    anna = vault.create_subject(LOCAL, ANNA, ["student"])
    stored = vault.create_record(LOCAL, anna.subject_id, draft())
    vault.create_record(LOCAL, anna.subject_id, draft("billing"))
    receipt = vault.erase_subject(LOCAL, anna.subject_id)
    assert receipt.categories == ("billing", "contact")
    assert receipt.keys_destroyed == 4  # subject, identity, billing, contact
    assert receipt.records_shredded == 2
    assert receipt.identities_removed == 2
    for read in (
        lambda: vault.get_subject(LOCAL, anna.subject_id),
        lambda: vault.get_record(LOCAL, stored.record_id),
        lambda: vault.list_records(LOCAL, anna.subject_id, None, 10, ""),
        lambda: vault.create_record(LOCAL, anna.subject_id, draft()),
        lambda: vault.export_subject(LOCAL, anna.subject_id),
    ):
        with pytest.raises(SubjectErased):
            read()
    with pytest.raises(SubjectNotFound):
        vault.find_subject(LOCAL, ANNA[0])
    # Erasing again is success ("already gone") with the same receipt.
    assert vault.erase_subject(LOCAL, anna.subject_id) == receipt
    # The identities are free for a new registration.
    vault.create_subject(LOCAL, ANNA, [])


def test_recover_finishes_an_erasure_a_crash_interrupted(data_dir: Path, clock: FixedClock) -> None:
    vault = bootstrap.open_vault(data_dir, clock=clock)
    anna = vault.create_subject(LOCAL, ANNA, [])
    vault.create_record(LOCAL, anna.subject_id, draft())
    # Simulate a crash after the erased mark was committed but before the keys went.
    destroy = vault.keys.destroy_subject
    vault.keys.destroy_subject = lambda subject_id: (_ for _ in ()).throw(SystemExit("crash"))  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        vault.erase_subject(LOCAL, anna.subject_id)
    vault.keys.destroy_subject = destroy  # type: ignore[method-assign]
    assert vault.keys.store.subject_key(anna.subject_id) is not None
    bootstrap.close_vault(vault)

    reopened = bootstrap.open_vault(data_dir, clock=clock)
    assert reopened.keys.store.subject_key(anna.subject_id) is None
    with pytest.raises(SubjectErased):
        reopened.get_subject(LOCAL, anna.subject_id)
    bootstrap.close_vault(reopened)


def test_purge_removes_leftover_ciphertext_of_erased_subjects(vault: Vault) -> None:
    anna = vault.create_subject(LOCAL, ANNA, [])
    vault.import_records(LOCAL, [(anna.subject_id, draft(n=i)) for i in range(1200)])
    vault.erase_subject(LOCAL, anna.subject_id)
    assert vault.records.records.count_records(anna.subject_id) == 1200
    assert vault.purge_erased(batch=500) == 1200
    assert vault.records.records.count_records(anna.subject_id) == 0


def test_export_is_a_zip_with_json_html_and_content(vault: Vault) -> None:
    anna = vault.create_subject(LOCAL, ANNA, ["student"])
    vault.create_record(LOCAL, anna.subject_id, draft(city="Malmö"))
    vault.create_record(
        LOCAL,
        anna.subject_id,
        RecordDraft(
            "media",
            "distance_assignment",
            LegalBasis.CONTRACT,
            "lms",
            {},
            Content(b"PNGDATA", "image/png", "model.png"),
        ),
    )
    events = list(export_archive(vault.export_subject(LOCAL, anna.subject_id)))
    progress = [e for e in events if isinstance(e, ExportProgress)]
    assert progress[-1] == ExportProgress(2, 2)
    archive = zipfile.ZipFile(io.BytesIO(b"".join(e for e in events if isinstance(e, bytes))))
    document = json.loads(archive.read("export.json"))
    assert document["format"] == "consent-vault-export/1"
    assert {i["value"] for i in document["subject"]["identities"]} == {
        "198112189876",
        "anna@example.se",
    }
    assert [r["category"] for r in document["records"]] == ["contact", "media"]
    media = document["records"][1]["content"]
    assert archive.read(media["file"]) == b"PNGDATA"
    page = archive.read("index.html").decode()
    assert "Malmö" in page and "model.png" in page


def test_the_readable_export_escapes_what_people_typed(vault: Vault, clock: FixedClock) -> None:
    anna = vault.create_subject(LOCAL, ANNA, [])
    vault.create_record(LOCAL, anna.subject_id, draft(note="<script>alert(1)</script> & co", n=2))
    events = list(export_archive(vault.export_subject(LOCAL, anna.subject_id)))
    archive = zipfile.ZipFile(io.BytesIO(b"".join(e for e in events if isinstance(e, bytes))))
    page = archive.read("index.html").decode()
    assert "<script>" not in page
    # Each field on a line of its own, what people typed escaped.
    assert "<dt>Note</dt><dd>&lt;script&gt;alert(1)&lt;/script&gt; &amp; co</dd>" in page
    assert "<dt>N</dt><dd>2</dd>" in page


def test_many_threads_writing_one_subject_lose_nothing(vault: Vault) -> None:
    anna = vault.create_subject(LOCAL, ANNA, [])
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for n in range(40):
                vault.create_record(
                    LOCAL, anna.subject_id, draft(f"cat{worker % 3}", w=worker, n=n)
                )
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    stored = {
        (r.fields["w"], r.fields["n"]) for r in vault.stream_records(LOCAL, anna.subject_id, None)
    }
    assert stored == {(w, n) for w in range(8) for n in range(40)}


def test_writes_grouped_together_keep_their_own_outcomes(vault: Vault) -> None:
    # Concurrent record writes share a transaction; one for an erased subject,
    # a missing one, or a reused request id must fail alone.
    anna = vault.create_subject(LOCAL, ANNA, [])
    gone = vault.create_subject(LOCAL, [IdentityInput(IdentityKind.EMAIL, "gone@example.se")], [])
    vault.erase_subject(LOCAL, gone.subject_id)
    outcomes: dict[str, list[object]] = {"anna": [], "gone": [], "missing": [], "same-id": []}
    barrier = threading.Barrier(8)

    def write(worker: int) -> None:
        barrier.wait()
        for n in range(25):
            for label, subject_id, request_id in (
                ("anna", anna.subject_id, ""),
                ("gone", gone.subject_id, ""),
                ("missing", "f" * 32, ""),
                ("same-id", anna.subject_id, f"same-{n}"),
            ):
                try:
                    record = vault.create_record(
                        LOCAL, subject_id, draft(w=worker, n=n), request_id
                    )
                    outcomes[label].append(record.record_id)
                except Exception as error:
                    outcomes[label].append(type(error))

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(outcomes["anna"])) == 200
    assert set(outcomes["gone"]) == {SubjectErased}
    assert set(outcomes["missing"]) == {SubjectNotFound}
    # Eight callers per request id: the first stored it, the others got its
    # record back or, with other fields, were told the id was reused.
    stored_by_id = [r for r in outcomes["same-id"] if isinstance(r, str)]
    assert set(stored_by_id) <= {
        r.record_id for r in vault.stream_records(LOCAL, anna.subject_id, None)
    }
    assert vault.count_records(LOCAL, anna.subject_id) == 200 + 25


def test_a_record_created_on_an_event_loop_is_the_same_as_one_created_blocking(
    vault: Vault,
) -> None:
    anna = vault.create_subject(LOCAL, ANNA, [])

    async def create(category: str, request_id: str = "") -> Record:
        return await vault.create_record_async(LOCAL, anna.subject_id, draft(category), request_id)

    # The first record of a category writes its key; the next is awaited on the loop.
    first = asyncio.run(create("contact"))
    second = asyncio.run(create("contact", "req-1"))
    assert vault.get_record(LOCAL, first.record_id) == first
    assert vault.get_record(LOCAL, second.record_id) == second
    assert asyncio.run(create("contact", "req-1")) == second  # a retry answers as before
    with pytest.raises(RequestIdReused):
        asyncio.run(create("notes", "req-1"))
    assert vault.count_records(LOCAL, anna.subject_id) == 2
    vault.erase_subject(LOCAL, anna.subject_id)
    with pytest.raises(SubjectErased):
        asyncio.run(create("contact"))


def test_a_batch_sqlite_rolled_back_fails_its_writers_and_the_next_writes_land(
    vault: Vault,
) -> None:
    # Disk full or an I/O error makes SQLite roll back the whole transaction,
    # not only the failing caller's savepoint. Stand-in: the body ends it itself.
    anna = vault.create_subject(LOCAL, ANNA, [])
    vault.create_record(LOCAL, anna.subject_id, draft(n=1))
    with pytest.raises(RuntimeError, match="disk"), vault.records.write() as tx:
        tx.subjects.touch_subject(anna.subject_id, dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
        tx.conn.execute("ROLLBACK")
        raise RuntimeError("disk full")
    assert vault.get_subject(LOCAL, anna.subject_id).updated_at.year != 2030
    # The writer is whole again: the writer lock is free and records land.
    vault.create_record(LOCAL, anna.subject_id, draft(n=2))
    assert vault.count_records(LOCAL, anna.subject_id) == 2


def test_a_record_group_that_fails_leaves_nothing_and_the_next_write_lands(
    vault: Vault,
) -> None:
    anna = vault.create_subject(LOCAL, ANNA, [])
    first = vault.create_record(LOCAL, anna.subject_id, draft(n=1))
    row = vault.records.records.record(first.record_id)
    assert row is not None
    # The same record id again breaks a UNIQUE constraint inside the group's write.
    with pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError)):
        vault.records.records.append_record(NewRecord(row), SubjectState.ACTIVE)
    assert vault.count_records(LOCAL, anna.subject_id) == 1  # the count was not bumped
    vault.create_record(LOCAL, anna.subject_id, draft(n=2))
    assert vault.count_records(LOCAL, anna.subject_id) == 2
    assert len(list(vault.stream_records(LOCAL, anna.subject_id, None))) == 2


def test_two_writers_on_one_database_lose_nothing(data_dir: Path, clock: FixedClock) -> None:
    # Two vaults on one data directory stand for two server processes: their
    # writes queue on the shared writer lock and all of them land.
    first = bootstrap.open_vault(data_dir, clock=clock)
    second = bootstrap.open_vault(data_dir, clock=clock)
    try:
        anna = first.create_subject(LOCAL, ANNA, [])
        errors: list[BaseException] = []

        def write(opened: Vault, worker: int) -> None:
            try:
                for n in range(30):
                    opened.create_record(LOCAL, anna.subject_id, draft(w=worker, n=n))
            except BaseException as error:
                errors.append(error)

        threads = [
            threading.Thread(target=write, args=(first if w % 2 else second, w)) for w in range(6)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert second.count_records(LOCAL, anna.subject_id) == 180
    finally:
        bootstrap.close_vault(second)
        bootstrap.close_vault(first)


def test_bad_record_fields_name_the_rule(vault: Vault) -> None:
    anna = vault.create_subject(LOCAL, ANNA, [])
    cases = [
        (RecordDraft("Contact", "course_delivery", LegalBasis.CONTRACT, "lms"), "record.category"),
        (
            RecordDraft("vault.identity", "course_delivery", LegalBasis.CONTRACT, "lms"),
            "record.category",
        ),
        (RecordDraft("contact", "", LegalBasis.CONTRACT, "lms"), "record.purpose"),
        # A purpose nobody configured, and a basis that is not the purpose's.
        (RecordDraft("contact", "teaching", LegalBasis.CONTRACT, "lms"), "record.purpose"),
        (
            RecordDraft("contact", "course_delivery", LegalBasis.CONSENT, "lms"),
            "record.legal_basis",
        ),
        (
            RecordDraft("contact", "course_delivery", LegalBasis.CONTRACT, ""),
            "record.source_system",
        ),
        (
            RecordDraft("contact", "course_delivery", LegalBasis.CONTRACT, "lms", {"a": "x\x00y"}),
            "record.fields.a",
        ),
        (
            RecordDraft(
                "contact", "course_delivery", LegalBasis.CONTRACT, "lms", {"a": float("nan")}
            ),
            "record.fields.a",
        ),
        (
            RecordDraft(
                "contact",
                "course_delivery",
                LegalBasis.CONTRACT,
                "lms",
                {},
                Content(b"x", "image/png", "../x"),
            ),
            "record.content.filename",
        ),
        (
            RecordDraft(
                "contact",
                "course_delivery",
                LegalBasis.CONTRACT,
                "lms",
                {},
                Content(b"x", "not a type", "x"),
            ),
            "record.content.media_type",
        ),
    ]
    for bad, field in cases:
        with pytest.raises(InvalidArgument) as raised:
            vault.create_record(LOCAL, anna.subject_id, bad)
        assert raised.value.field == field
    assert vault.count_records(LOCAL, anna.subject_id) == 0
