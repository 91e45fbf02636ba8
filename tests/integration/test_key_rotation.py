"""KEK and blind-index versions over their life, on both engines: a rotation
moves every key and identity to a new version, a crash part-way is finished by
the next, and a retirement leaves an older copy of either database useless:
a key-store copy unwraps nothing, a records copy neither opens nor matches."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import psycopg
import pytest

from tests import postgres
from tests.helpers import backdate
from vault import bootstrap, cli, crypto, purposes_file
from vault import keyring as keyring_module
from vault.core import keys as core_keys
from vault.core.actor import LOCAL
from vault.core.clock import FixedClock
from vault.core.errors import IdentityInUse, SubjectErased, SubjectNotFound
from vault.core.identities import IdentityKind, canonical_identity
from vault.core.keys import KeyManager, Rewrapped
from vault.core.model import LegalBasis, RecordDraft
from vault.core.rotation import Progress, Retirement, RetirementBlocked, Rotation, RotationBusy
from vault.core.vault import IdentityInput, NewSubject, SubjectBatch, Vault
from vault.crypto import KeyringError, TamperedError
from vault.keyring import Keyring, KeyringSource, read_keyring, write_keyring
from vault.storage.base import IdentityRow, KeyStore, RecordStore
from vault.storage.postgres import PostgresKeyStore, PostgresRecordStore
from vault.storage.sqlite import SQLiteKeyStore, SQLiteRecordStore

DAY = dt.timedelta(days=1)


def mail(name: str) -> IdentityInput:
    return IdentityInput(IdentityKind.EMAIL, f"{name}@example.se")


def person(vault: Vault, name: str) -> tuple[str, str]:
    """A subject with an e-mail and one record: its id and the record's."""
    subject = vault.create_subject(LOCAL, [mail(name)], ["salon_customer"])
    stored = vault.create_record(
        LOCAL,
        subject.subject_id,
        RecordDraft("contact", "salon_booking", LegalBasis.CONTRACT, "salon", {"name": name}),
    )
    return subject.subject_id, stored.record_id


def index_text(name: str) -> str:
    """What the blind index of `name`'s e-mail is computed over."""
    identity = canonical_identity(
        IdentityKind.EMAIL, f"{name}@example.se", "", today=dt.date(2025, 1, 1), field="identity"
    )
    return identity.index_text


def readable(vault: Vault, name: str, record_id: str) -> None:
    subject = vault.find_subject(LOCAL, mail(name))
    assert vault.get_record(LOCAL, record_id).fields == {"name": name}
    assert subject.identities[0].value == f"{name}@example.se"


# --------------------------------------------------------------- rotation
def test_a_rotation_moves_every_key_and_identity_to_a_new_version(vault: Vault) -> None:
    anna, anna_record = person(vault, "anna")
    job_key = vault.keys.create_job_key("erase-anna")
    rotation = vault.rotate_keys(LOCAL)
    assert rotation == Rotation(2, False, Rewrapped(1, 1), 1)
    assert vault.keyring.current_version == 2
    assert vault.keys.store.kek_versions() == {2: 2}
    assert vault.records.subjects.index_versions() == {2: 1}
    readable(vault, "anna", anna_record)
    assert vault.keys.job_key("erase-anna") == job_key
    # A new identity of the same person is indexed under the new version.
    vault.add_identity(LOCAL, anna, mail("anna.2"))
    assert vault.records.subjects.index_versions() == {2: 2}
    assert vault.rotate_keys(LOCAL).version == 3  # nothing unfinished: a new version


def test_a_rotation_cut_short_is_finished_by_the_next_without_a_new_version(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(core_keys, "REWRAP_PAGE", 1)  # told after every key
    people = [person(vault, name) for name in ("anna", "bo", "cecilia")]

    class Crash(Exception):
        pass

    def crash_after_two(progress: Progress) -> None:
        if progress.stage == "keys" and progress.done == 2:
            raise Crash()

    with pytest.raises(Crash):
        vault.rotate_keys(LOCAL, crash_after_two)
    # The new version was saved before any re-wrap; the keys are split between them.
    assert read_keyring(vault.keyrings.path).current_version == 2  # type: ignore[arg-type]
    assert vault.keys.store.kek_versions() == {1: 1, 2: 2}
    assert vault.records.subjects.index_versions() == {1: 3}
    for (_, record_id), name in zip(people, ("anna", "bo", "cecilia"), strict=True):
        readable(vault, name, record_id)  # every one still opens, under either

    finished = vault.rotate_keys(LOCAL)  # the lease was released by the crash
    assert finished == Rotation(2, True, Rewrapped(1, 0), 3)
    assert vault.keys.store.kek_versions() == {2: 3}
    assert vault.records.subjects.index_versions() == {2: 3}
    for (_, record_id), name in zip(people, ("anna", "bo", "cecilia"), strict=True):
        readable(vault, name, record_id)


def test_an_identity_under_an_older_version_is_found_and_refused_until_reindexed(
    vault: Vault,
) -> None:
    anna, _ = person(vault, "anna")
    bo, _ = person(vault, "bo")
    # A version made, nothing re-indexed yet (a rotation under way, or cut short).
    vault.keyrings.replace(vault.keyring.with_new_version())
    assert vault.find_subject(LOCAL, mail("anna")).subject_id == anna
    with pytest.raises(IdentityInUse):
        vault.create_subject(LOCAL, [mail("anna")], [])
    with pytest.raises(IdentityInUse):
        vault.add_identity(LOCAL, bo, mail("anna"))
    with pytest.raises(IdentityInUse):
        vault.import_subjects(LOCAL, [SubjectBatch([NewSubject([mail("anna")])])])
    # Removed under the version its row is in.
    vault.add_identity(LOCAL, anna, mail("anna.2"))
    vault.remove_identity(LOCAL, anna, mail("anna"))
    assert [i.value for i in vault.get_subject(LOCAL, anna).identities] == ["anna.2@example.se"]
    assert vault.records.subjects.index_versions() == {1: 1, 2: 1}


def test_a_request_id_retried_across_a_rotation_is_answered_as_the_first(vault: Vault) -> None:
    first = vault.create_subject(LOCAL, [mail("anna")], [], request_id="create-1")
    vault.rotate_keys(LOCAL)
    again = vault.create_subject(LOCAL, [mail("anna")], [], request_id="create-1")
    assert again.subject_id == first.subject_id


def test_one_process_rotates_at_a_time(vault: Vault, clock: FixedClock) -> None:
    now = clock.now()
    vault.keys.store.claim_rotation("elsewhere", now, now + DAY)
    with pytest.raises(RotationBusy, match="elsewhere"):
        vault.rotate_keys(LOCAL)
    with pytest.raises(RotationBusy):
        vault.retire_keys(LOCAL, DAY)
    assert vault.rotation.scheduled(DAY, DAY) == []  # the holder does the work
    assert vault.keyring.current_version == 1


def test_a_keyring_given_whole_is_never_rotated(vault: Vault) -> None:
    given = Vault(
        vault.records,
        vault.keys.store,
        KeyringSource(vault.keyring),
        purposes=purposes_file.school(),
    )
    for change in (lambda: given.rotate_keys(LOCAL), lambda: given.retire_keys(LOCAL, DAY)):
        with pytest.raises(KeyringError, match=r"given whole .* cannot change"):
            change()
    assert vault.keys.store.kek_floor() == 0


# ------------------------------------------------------------- retirement
@contextmanager
def key_store_copy(vault: Vault, data_dir: Path, engine: str | None) -> Iterator[KeyStore]:
    """A copy of the key database as a backup would hold it."""
    if engine is None:
        copy = data_dir.parent / "backup"
        copy.mkdir()
        vault.keys.store.scrub()  # nothing of it left in the WAL only
        for suffix in ("", "-wal"):
            source = data_dir / f"keys.db{suffix}"
            if source.exists():
                shutil.copy(source, copy / source.name)
        store: KeyStore = SQLiteKeyStore(copy / "keys.db")
        try:
            yield store
        finally:
            store.close()
        return
    with schema_copy(engine, "subject_keys", "data_keys", "job_keys") as url:
        store = PostgresKeyStore(url)
        try:
            yield store
        finally:
            store.close()


@contextmanager
def schema_copy(url: str, *tables: str) -> Iterator[str]:
    """The schema of `url`, the tables named (and the migrations' record and
    the key store's counters) copied into a fresh one."""
    schema = parse_qs(urlparse(url).query)["options"][0].removeprefix("-csearch_path=")
    with postgres.fresh_schema("cv_backup") as copy, psycopg.connect(url, autocommit=True) as conn:
        into = parse_qs(urlparse(copy).query)["options"][0].removeprefix("-csearch_path=")
        names = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (schema,),
        ).fetchall()
        for (name,) in names:
            conn.execute(f'CREATE TABLE "{into}".{name} (LIKE "{schema}".{name} INCLUDING ALL)')
            if name in tables or name in ("schema_migrations", "shred_generation", "kek_floor"):
                conn.execute(
                    f'INSERT INTO "{into}".{name} OVERRIDING SYSTEM VALUE '
                    f'SELECT * FROM "{schema}".{name}'
                )
        yield copy


def test_a_key_store_copy_from_before_a_retirement_unwraps_nothing_after_it(
    vault: Vault, data_dir: Path, engine: str | None
) -> None:
    _, anna_record = person(vault, "anna")
    person(vault, "bo")
    vault.keys.create_job_key("erase-bo")
    backdate(vault, 40)
    with key_store_copy(vault, data_dir, engine) as backup:
        copied = [*backup.wrapped_subject_keys(), *backup.wrapped_job_keys()]
        assert [key.kek_version for _, key in copied] == [1, 1, 1]
        vault.rotate_keys(LOCAL)
        retirement = vault.retire_keys(LOCAL, 30 * DAY)
        assert retirement.retired == [1] and retirement.scrubbed
        ring = vault.keyring
        assert not ring.has(1) and 1 in ring.retired
        assert read_keyring(vault.keyrings.path) == ring  # type: ignore[arg-type]
        assert vault.keys.store.kek_floor() == 2

        # Through the vault's own code: the version is gone, and says so.
        old = KeyManager(backup, ring)
        for subject_id, _ in backup.wrapped_subject_keys():
            with pytest.raises(KeyringError, match="version 1 was retired"):
                old.subject_key(subject_id)
        with pytest.raises(KeyringError, match="retired"):
            old.job_key("erase-bo")
        # And by hand: no key of today's keyring opens any of the copied bytes.
        for key_for, (_, wrapped) in copied:
            for version in ring.versions:
                for kind in ("subject-key", "job-key"):
                    with pytest.raises(TamperedError):
                        crypto.unseal(
                            ring.kek(version),
                            wrapped,
                            crypto.associated_data(kind, 1, key_for),
                        )
        # A server given that copy refuses to start on it.
        with pytest.raises(KeyringError, match="retired on"):
            bootstrap.check_keyring(backup, ring)
    readable(vault, "anna", anna_record)  # today's keys, under today's version


@contextmanager
def records_copy(vault: Vault, data_dir: Path, engine: str | None) -> Iterator[RecordStore]:
    if engine is None:
        copy = data_dir.parent / "records-backup"
        copy.mkdir()
        vault.records.maintenance.scrub()
        for suffix in ("", "-wal"):
            source = data_dir / f"records.db{suffix}"
            if source.exists():
                shutil.copy(source, copy / source.name)
        store: RecordStore = SQLiteRecordStore(copy / "records.db")
        try:
            yield store
        finally:
            store.close()
        return
    with schema_copy(engine, *RECORD_TABLES) as url:
        store = PostgresRecordStore(url)
        try:
            yield store
        finally:
            store.close()


RECORD_TABLES = (
    "subjects",
    "identities",
    "records",
    "record_counts",
    "requests",
    "erasures",
    "step_requests",
    "steps",
    "manual_actions",
)


def test_a_records_copy_from_before_an_erasure_neither_opens_nor_matches_after_a_retirement(
    vault: Vault, data_dir: Path, engine: str | None
) -> None:
    anna, anna_record = person(vault, "anna")
    bo, bo_record = person(vault, "bo")
    backdate(vault, 40)
    with records_copy(vault, data_dir, engine) as backup:
        vault.erase_subject(LOCAL, anna)
        vault.rotate_keys(LOCAL)
        assert vault.retire_keys(LOCAL, 30 * DAY).retired == [1]
        # The old records beside today's keys and keyring.
        old = Vault(
            backup, vault.keys.store, vault.keyrings, vault.clock, purposes=purposes_file.school()
        )
        assert backup.subjects.subject(anna) is not None  # the copy still lists her
        with pytest.raises(SubjectErased):
            old.get_record(LOCAL, anna_record)  # her keys are gone
        with pytest.raises(SubjectErased):
            old.get_subject(LOCAL, anna)
        # Her identity's row is under the retired version: no live index key
        # computes it, so the copy does not confirm she was a subject.
        rows = backup.subjects.identities(anna)
        assert [row.index_version for row in rows] == [1]
        live = {index for _, index in vault.keyring.blind_indexes(index_text("anna"))}
        assert live.isdisjoint({row.blind_index for row in rows})
        for name in ("anna", "bo"):  # nobody in the copy is found by identity
            with pytest.raises(SubjectNotFound):
                old.find_subject(LOCAL, mail(name))
        # Today's vault still finds and reads the person who was not erased.
        assert vault.find_subject(LOCAL, mail("bo")).subject_id == bo
        readable(vault, "bo", bo_record)


def test_nothing_but_the_current_version_is_ever_retired(vault: Vault) -> None:
    person(vault, "anna")
    backdate(vault, 100)
    assert vault.retire_keys(LOCAL, DAY) == Retirement([], 1, Rewrapped(0, 0), 0, 0, True)
    vault.rotate_keys(LOCAL)
    vault.rotate_keys(LOCAL)  # versions 2 and 3 made now
    assert vault.retire_keys(LOCAL, DAY).retired == [1]
    assert vault.retire_keys(LOCAL, DAY).retired == []
    vault.clock.advance(seconds=1)  # type: ignore[attr-defined]
    assert vault.retire_keys(LOCAL, dt.timedelta(0)).retired == [2]
    assert sorted(vault.keyring.versions) == [3] and sorted(vault.keyring.retired) == [1, 2]


def test_a_retirement_moves_what_is_left_under_the_version_first(vault: Vault) -> None:
    _, anna_record = person(vault, "anna")
    vault.keys.create_job_key("erase-anna")
    backdate(vault, 40)
    # A new version alone: everything is still under the old one.
    vault.keyrings.replace(vault.keyring.with_new_version(vault.clock.now()))
    retirement = vault.retire_keys(LOCAL, 30 * DAY)
    assert (retirement.retired, retirement.rewrapped, retirement.reindexed) == (
        [1],
        Rewrapped(1, 1),
        1,
    )
    readable(vault, "anna", anna_record)
    assert vault.keys.job_key("erase-anna") is not None


def test_a_process_behind_the_keyring_puts_its_key_under_the_current_version(
    vault: Vault, data_dir: Path, engine: str | None
) -> None:
    """A second process whose ring still has the retired version current (it
    has not looked at the file since): its put is refused by the floor and made
    again under the version the file makes current; nothing is lost."""
    backdate(vault, 40)
    path = vault.keyrings.path
    assert path is not None
    behind = KeyringSource(read_keyring(path), path, check_every=1e9)  # never looks by itself
    stores = bootstrap.open_stores(engine or f"sqlite:///{data_dir}")
    second = Vault(
        stores.records, stores.keys, behind, vault.clock, purposes=purposes_file.school()
    )
    stale = vault.keyring  # a copy of the file as it was before the rotation
    try:
        vault.rotate_keys(LOCAL)
        vault.retire_keys(LOCAL, 30 * DAY)
        assert behind.current().current_version == 1  # still behind
        _, anna_record = person(second, "anna")
        assert second.keys.create_job_key("erase-anna")
        assert behind.current().current_version == 2  # read again when refused
        assert vault.keys.store.kek_versions() == {2: 2}
        assert vault.records.subjects.index_versions() == {2: 1}
        readable(vault, "anna", anna_record)

        # A process whose keyring is a copy of its own cannot follow: one line.
        stranded = Vault(
            stores.records,
            stores.keys,
            KeyringSource(stale),
            vault.clock,
            purposes=purposes_file.school(),
        )
        with pytest.raises(KeyringError, match="behind the key database"):
            stranded.create_subject(LOCAL, [mail("bo")], [])
        with pytest.raises(KeyringError, match="lacks key-encryption key version 2"):
            bootstrap.check_keyring(stores.keys, stale)
    finally:
        stores.close()


# ---------------------------------------------------------------- schedule
def test_rotation_and_retirement_on_a_schedule(vault: Vault, clock: FixedClock) -> None:
    _, anna_record = person(vault, "anna")
    backdate(vault, 1)
    every, after = 90 * DAY, 180 * DAY
    assert vault.rotation.scheduled(every, after) == []  # version 1 is a day old
    clock.advance(days=89)
    rotation = vault.rotation.scheduled(every, after)
    assert [r.version for r in rotation if isinstance(r, Rotation)] == [2]
    clock.advance(days=91)  # version 1: 181 days old; version 2: 91
    done = vault.rotation.scheduled(every, after)
    assert [type(d) for d in done] == [Rotation, Retirement]
    assert done[0].version == 3  # type: ignore[union-attr]
    assert done[1].retired == [1]  # type: ignore[union-attr]
    assert vault.rotation.scheduled(every, after) == []
    assert vault.rotation.scheduled(None, None) == []
    readable(vault, "anna", anna_record)


# ------------------------------------------------- concurrency and damage
def test_a_retirement_whose_lease_ran_out_drops_no_version_made_meanwhile(
    vault: Vault, data_dir: Path, engine: str | None, clock: FixedClock
) -> None:
    """The lease lapses part-way (a stalled page); another process takes it and
    rotates to version 3. The first must not write back its old ring without
    version 3: everything is under version 3 by then."""
    _, anna_record = person(vault, "anna")
    vault.keys.create_job_key("erase-anna")
    backdate(vault, 40)
    vault.keyrings.replace(vault.keyring.with_new_version(clock.now()))  # nothing moved yet
    path = vault.keyrings.path
    assert path is not None
    stores = bootstrap.open_stores(engine or f"sqlite:///{data_dir}")
    other = Vault(
        stores.records,
        stores.keys,
        KeyringSource(read_keyring(path), path),
        clock,
        purposes=purposes_file.school(),
    )
    stalled: list[Progress] = []

    def stall_then_other_rotates(progress: Progress) -> None:
        if stalled:
            return
        stalled.append(progress)
        clock.advance(minutes=10)  # longer than the lease
        other.rotate_keys(LOCAL)  # finishes the rotation to version 2
        assert other.rotate_keys(LOCAL).version == 3

    try:
        with pytest.raises(RotationBusy, match="lease of this process ran out"):
            vault.retire_keys(LOCAL, 30 * DAY, stall_then_other_rotates)
        assert stalled
        ring = read_keyring(path)
        assert ring.current_version == 3 and sorted(ring.versions) == [1, 2, 3]
        assert vault.keys.store.kek_versions() == {3: 2}
        readable(vault, "anna", anna_record)
        readable(other, "anna", anna_record)
        # The lease was released: a retirement now goes through.
        assert vault.retire_keys(LOCAL, 30 * DAY).retired == [1]
        assert sorted(read_keyring(path).versions) == [2, 3]
    finally:
        stores.close()


def test_a_retirement_refuses_when_the_keyring_was_rotated_under_it(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its lease still held (another process that ignored it, or a file put back
    by hand): the file's current version is not the one everything was moved to."""
    person(vault, "anna")
    backdate(vault, 40)
    vault.rotate_keys(LOCAL)
    path = vault.keyrings.path
    assert path is not None
    real = vault.rotation._refuse_if_left

    def then_rotated_elsewhere(*args: object) -> None:
        real(*args)  # type: ignore[arg-type]
        write_keyring(path, read_keyring(path).with_new_version())

    monkeypatch.setattr(vault.rotation, "_refuse_if_left", then_rotated_elsewhere)
    with pytest.raises(RetirementBlocked, match="current version is 3, not 2"):
        vault.retire_keys(LOCAL, 30 * DAY)
    assert sorted(read_keyring(path).versions) == [1, 2, 3]


def format_1(vault: Vault) -> None:
    """The vault's keyring file rewritten as an earlier release kept it: format 1,
    one index key for every version, version 2 added (current) beside version 1."""
    ring = vault.keyring
    path = vault.keyrings.path
    assert path is not None
    text = json.dumps(
        {
            "format": "consent-vault-keyring/1",
            "current_kek": 2,
            "keks": {"1": b64(ring.kek(1)), "2": b64(crypto.new_key())},
            "index_key": b64(ring.index_key_of(1)),
        }
    )
    write_keyring(path, Keyring.from_json(text, str(path)))
    path.write_text(text)
    assert vault.keyrings.refresh().current_version == 2


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_a_retirement_says_when_a_staying_version_shares_the_retired_ones_index_key(
    vault: Vault, data_dir: Path, engine: str | None
) -> None:
    anna, _ = person(vault, "anna")
    format_1(vault)
    with records_copy(vault, data_dir, engine) as backup:
        vault.erase_subject(LOCAL, anna)
        retirement = vault.retire_keys(LOCAL, 30 * DAY)
        assert retirement.retired == [1] and retirement.index_shared
        # As it says: the copy's row still matches her, through version 2's key.
        old = Vault(
            backup, vault.keys.store, vault.keyrings, vault.clock, purposes=purposes_file.school()
        )
        assert (
            old.records.subjects.subject_id_by_index(
                vault.keyring.blind_index(index_text("anna"), 2)
            )
            == anna
        )
        # A version with an index key of its own made current, version 2 retired:
        # nothing shares it any more, and the copy matches nobody.
        vault.rotate_keys(LOCAL)
        vault.clock.advance(seconds=1)  # type: ignore[attr-defined]
        last = vault.retire_keys(LOCAL, dt.timedelta(0))
        assert last.retired == [2] and not last.index_shared
        live = {i for _, i in vault.keyring.blind_indexes(index_text("anna"))}
        assert all(backup.subjects.subject_id_by_index(i) is None for i in live)


def test_a_rotation_removes_only_the_erased_subjects_row_at_a_blind_index(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A subject whose keys are gone has its rows removed by the re-index; if its
    blind index is another subject's by the time of the delete, that one stays."""
    anna, _ = person(vault, "anna")
    bo, _ = person(vault, "bo")
    vault.erase_subject(LOCAL, anna)
    anna_rows = vault.records.subjects.identities(anna)
    if not anna_rows:  # the erasure removed her rows: put one back, as a copy would
        row = vault.records.subjects.identities(bo)[0]
        anna_rows = [dataclasses.replace(row, blind_index="ab" * 32, subject_id=anna)]
        with vault.records.write() as tx:
            tx.subjects.insert_identity(anna_rows[0])
    taken = anna_rows[0].blind_index
    real = vault.sealing.reindexed_identity

    def taken_by_bo_meanwhile(row: IdentityRow, ring: Keyring | None = None) -> IdentityRow:
        if row.subject_id == anna:
            with vault.records.write() as tx:
                tx.subjects.delete_identity(row.blind_index)
                tx.subjects.insert_identity(dataclasses.replace(row, subject_id=bo))
            raise SubjectErased(anna)
        return real(row, ring)

    monkeypatch.setattr(vault.sealing, "reindexed_identity", taken_by_bo_meanwhile)
    rotation = vault.rotate_keys(LOCAL)
    assert rotation.removed == 0
    assert vault.records.subjects.subject_id_by_index(taken) == bo


def test_a_key_that_does_not_open_is_passed_by_and_its_version_not_retired(
    vault: Vault, caplog: pytest.LogCaptureFixture
) -> None:
    anna, _ = person(vault, "anna")
    _, bo_record = person(vault, "bo")
    backdate(vault, 40)
    assert vault.keys.store.rewrap_subject_key(anna, 1, 1, b"tampered" * 8)
    with caplog.at_level("ERROR"):
        rotation = vault.rotate_keys(LOCAL)  # no traceback: the others move
    assert (rotation.version, rotation.rewrapped) == (2, Rewrapped(1, 0, 1))
    assert f"subject-key of {anna} under key version 1 does not open" in caplog.text
    assert "anna@example.se" not in caplog.text
    readable(vault, "bo", bo_record)
    with pytest.raises(RetirementBlocked) as blocked:
        vault.retire_keys(LOCAL, 30 * DAY)
    assert str(blocked.value).startswith(
        "1 key and 0 identities are still under version 1 after every pass "
        "(1 key and 0 identities of them do not open"
    )
    assert vault.keyring.has(1)  # nothing retired
    # On a schedule: one line in the log, nothing raised.
    caplog.clear()
    with caplog.at_level("ERROR", logger="vault.core.rotation"):
        vault.rotation.scheduled(None, 30 * DAY)
    assert "scheduled key retirement refused" in caplog.text
    assert vault.keyring.has(1)


def test_a_key_that_does_not_open_does_not_hold_later_rotations_back(
    vault: Vault, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    """It is not an unfinished rotation: the next rotation makes a version; a
    rotation cut short beside it is still finished first, without one."""
    anna, _ = person(vault, "anna")
    _, bo_record = person(vault, "bo")
    assert vault.keys.store.rewrap_subject_key(anna, 1, 1, b"tampered" * 8)
    assert vault.rotate_keys(LOCAL).version == 2
    third = vault.rotate_keys(LOCAL)
    assert (third.version, third.resumed, third.rewrapped.unopened) == (3, False, 1)
    # A key left under version 3 by a rotation cut short opens: finished first.
    assert vault.keys.store.kek_versions() == {1: 1, 3: 1}
    cecilia, _ = person(vault, "cecilia")
    assert vault.keys.store.rewrap_subject_key(cecilia, 3, 2, rewrapped_under(vault, cecilia, 3, 2))
    finished = vault.rotate_keys(LOCAL)
    assert (finished.version, finished.resumed, finished.rewrapped.count) == (3, True, 1)
    assert vault.rotate_keys(LOCAL).version == 4
    readable(vault, "bo", bo_record)
    # On a schedule: the key is not tried again every interval while nothing changed.
    clock.advance(days=1)
    caplog.clear()
    with caplog.at_level("ERROR"):
        assert vault.rotation.scheduled(90 * DAY, None) == []
        assert vault.rotation.scheduled(90 * DAY, None) == []
    assert caplog.text.count("does not open") <= 1
    assert vault.keyring.current_version == 4
    backdate(vault, 40)
    with pytest.raises(RetirementBlocked):  # its version still cannot go
        vault.retire_keys(LOCAL, 30 * DAY)
    assert vault.keyring.has(1)


def rewrapped_under(vault: Vault, subject_id: str, old: int, new: int) -> bytes:
    """`subject_id`'s key, now under version `old`, wrapped under version `new`."""
    ((version, wrapped),) = [
        kv for key_for, kv in vault.keys.store.wrapped_subject_keys() if key_for == subject_id
    ]
    assert version == old
    ad = crypto.associated_data("subject-key", old, subject_id)
    key = crypto.unseal(vault.keyring.kek(old), wrapped, ad)
    ad = crypto.associated_data("subject-key", new, subject_id)
    return crypto.seal(vault.keyring.kek(new), key, ad)


def test_a_lease_left_by_a_killed_process_of_this_host_is_taken_over(
    vault: Vault, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    import subprocess
    import sys

    from vault.core.steps.engine import _this_host

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead = f"{_this_host()}:{int(gone.stdout)}:0badc0de"
    now = clock.now()
    vault.keys.store.claim_rotation(dead, now, now + DAY)
    with caplog.at_level("WARNING", logger="vault.core.rotation"):
        assert vault.rotate_keys(LOCAL).version == 2
    assert f"rotation lease of {dead}" in caplog.text
    # A live process of this host, and a process of another host, are waited for.
    for owner in (f"{_this_host()}:{os.getpid()}:0badc0de", f"elsewhere:{int(gone.stdout)}:x"):
        vault.keys.store.claim_rotation(owner, now, now + DAY)
        with pytest.raises(RotationBusy, match=owner):
            vault.rotate_keys(LOCAL)
        vault.keys.store.release_rotation(owner)
    assert vault.keyring.current_version == 2


# -------------------------------------------------------------------- CLI
def test_the_cli_says_a_shared_index_key_still_matches_old_copies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    vault = bootstrap.open_vault(data)
    try:
        person(vault, "anna")
        format_1(vault)
    finally:
        bootstrap.close_vault(vault)
    assert cli.main(["retire-kek", "--older-than", "0s", "--data-dir", str(data)]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert said.startswith("Key version 1 retired: its keys are gone from the keyring")
    assert "a copy of the records from before still matches people by identity" in said
    assert "no copy of the records from before matches anyone" not in said


def test_the_cli_says_in_one_line_that_the_keyring_cannot_be_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    bootstrap.close_vault(bootstrap.open_vault(data))

    def refused(path: Path, ring: Keyring) -> None:
        raise PermissionError(13, "Permission denied", str(path) + ".tmp")

    monkeypatch.setattr(keyring_module, "write_keyring", refused)
    assert cli.main(["rotate-kek", "--data-dir", str(data)]) == 2
    err = capsys.readouterr().err
    assert "Permission denied" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert read_keyring(data / "keyring.json").current_version == 1
