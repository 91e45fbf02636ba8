"""After erasure, the raw bytes of every file hold no plaintext and no usable key.

The test reads the database files the way an attacker with a disk image would,
and tries an old backup of the records against the current key store.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.residue import found, places
from vault import bootstrap, crypto, purposes_file
from vault.core.actor import LOCAL
from vault.core.clock import FixedClock
from vault.core.errors import SubjectErased
from vault.core.identities import IdentityKind
from vault.core.model import Content, LegalBasis, RecordDraft
from vault.core.vault import IdentityInput, Vault
from vault.crypto import TamperedError
from vault.storage.sqlite import SQLiteRecordStore

MARKERS = [b"MARKER-ADDRESS-7f3a", b"MARKER-RECIPE-91bc", b"MARKER-PHOTO-c0de"]
# A role and request ids with names in them: sealed and hashed, never in a file.
ROLE_MARKER = "model_xyz_marker"
REQUEST_MARKERS = ["create-anna-marker", "record-anna-marker", "erase-anna-marker"]


def database_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.name.endswith((".db", ".db-wal", ".db-shm")))


def seed(vault: Vault) -> tuple[str, list[bytes]]:
    """A subject with marker data; returns its id and every key byte string that protects it."""
    subject = vault.create_subject(
        LOCAL,
        [IdentityInput(IdentityKind.EMAIL, "marker.person@example.se")],
        ["salon_customer", ROLE_MARKER],
        request_id=REQUEST_MARKERS[0],
    )
    sid = subject.subject_id
    vault.create_record(
        LOCAL,
        sid,
        RecordDraft(
            "contact",
            "salon_booking",
            LegalBasis.CONTRACT,
            "salon",
            {"address": MARKERS[0].decode()},
        ),
        request_id=REQUEST_MARKERS[1],
    )
    vault.create_record(
        LOCAL,
        sid,
        RecordDraft(
            "notes", "salon_booking", LegalBasis.CONTRACT, "salon", {"recipe": MARKERS[1].decode()}
        ),
    )
    vault.create_record(
        LOCAL,
        sid,
        RecordDraft(
            "media",
            "distance_assignment",
            LegalBasis.CONTRACT,
            "lms",
            {},
            Content(MARKERS[2] * 50, "image/png", "m.png"),
        ),
    )
    keys = [vault.keys.subject_key(sid)]
    for scope in vault.keys.scopes(sid):
        keys.append(vault.keys.data_key(sid, scope.category, scope.purpose, create=False).key)
    wrapped = [vault.keys.store.subject_key(sid)[1]]  # type: ignore[index]
    wrapped += [vault.keys.store.data_key(s)[1] for s in vault.keys.store.data_key_scopes(sid)]  # type: ignore[index]
    return sid, keys + [bytes(w) for w in wrapped]


def test_no_marker_plaintext_ever_reaches_disk(
    vault: Vault, data_dir: Path, engine: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seed(vault)
    for path in database_files(data_dir):
        raw = path.read_bytes()
        for marker in [*MARKERS, b"marker.person@example.se"]:
            assert marker not in raw, f"{marker!r} in {path.name}"
    markers = [*(m.decode() for m in MARKERS), "marker.person@example.se", ROLE_MARKER]
    assert found(places(data_dir, engine, caplog.text), [*markers, *REQUEST_MARKERS[:2]]) == []


def test_erasure_leaves_no_usable_key_in_any_file(
    data_dir: Path, clock: FixedClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    vault = bootstrap.open_vault(data_dir, clock=clock)
    # Another subject that stays, so the files are not simply emptied.
    other = vault.create_subject(LOCAL, [IdentityInput(IdentityKind.EMAIL, "stays@example.se")], [])
    vault.create_record(
        LOCAL,
        other.subject_id,
        RecordDraft("contact", "course_delivery", LegalBasis.CONTRACT, "lms", {"a": "b"}),
    )
    sid, key_material = seed(vault)
    # A backup of the record database (and its WAL) taken before the erasure.
    backup = tmp_path / "backup"
    backup.mkdir()
    for path in data_dir.glob("records.db*"):
        shutil.copy(path, backup / path.name)

    vault.erase_subject(LOCAL, sid, request_id=REQUEST_MARKERS[2])
    # Key bytes are gone from the key store's files at once ...
    for path in data_dir.glob("keys.db*"):
        raw = path.read_bytes()
        assert not any(secret in raw for secret in key_material), f"key material in {path.name}"
    assert (data_dir / "keys.db-wal").stat().st_size == 0
    # ... and everything else after the maintenance pass the erasure triggers.
    assert vault.scrub_due.is_set()
    vault.maintain()

    files = database_files(data_dir)
    assert any(p.name == "keys.db" for p in files)
    for path in files:
        raw = path.read_bytes()
        for secret in key_material:
            assert secret not in raw, f"key material of the erased subject in {path.name}"
        for marker in MARKERS:
            assert marker not in raw
    for wal in data_dir.glob("*.db-wal"):
        assert wal.stat().st_size == 0, f"{wal.name} was not truncated"
    # Nor the role or a request id, in any form, in any file or the log.
    assert found(places(data_dir, None, caplog.text), [ROLE_MARKER, *REQUEST_MARKERS]) == []

    # The old backup cannot be read with the current key store.
    old_records = SQLiteRecordStore(backup / "records.db")
    restored = Vault(
        old_records, vault.keys.store, vault.keyring, clock, purposes=purposes_file.school()
    )
    with pytest.raises(SubjectErased):
        restored.get_subject(LOCAL, sid)
    rows = list(old_records.records.iter_records(sid))
    assert len(rows) == 3
    for row in rows:
        with pytest.raises(SubjectErased):
            restored.sealing.open_record(row)
    # Nor with any key that is left anywhere in the key store, unwrapped.
    conn = sqlite3.connect(data_dir / "keys.db")
    usable = []
    for owner, version, wrapped in conn.execute(
        "SELECT subject_id, kek_version, wrapped FROM subject_keys"
    ):
        subject_key = crypto.unseal(
            vault.keyring.kek(version),
            wrapped,
            crypto.associated_data("subject-key", version, owner),
        )
        usable.append(subject_key)
        for category, purpose, key_id, wrapped_data in conn.execute(
            "SELECT category, purpose, key_id, wrapped FROM data_keys WHERE subject_id = ?",
            (owner,),
        ):
            usable.append(
                crypto.unseal(
                    subject_key,
                    wrapped_data,
                    crypto.associated_data("data-key", owner, category, purpose, key_id),
                )
            )
    conn.close()
    assert len(usable) >= 3, "the subject that stays has keys"
    for row in rows:
        for key in [*usable, *(v.kek for v in vault.keyring.versions.values())]:
            with pytest.raises(TamperedError):
                crypto.unseal(
                    key,
                    row.sealed_payload,
                    crypto.associated_data("record", sid, row.category, row.record_id, "payload"),
                )
    # The subject that stayed is untouched.
    assert vault.get_subject(LOCAL, other.subject_id).identities[0].value == "stays@example.se"
    old_records.close()
    bootstrap.close_vault(vault)


def test_an_erased_key_is_unusable_at_once_in_another_process(
    data_dir: Path, clock: FixedClock
) -> None:
    # Two vaults over the same files stand for two server processes; each has
    # its own key cache.
    first = bootstrap.open_vault(data_dir, clock=clock)
    second = bootstrap.open_vault(data_dir, clock=clock)
    subject = first.create_subject(LOCAL, [IdentityInput(IdentityKind.EMAIL, "two@example.se")], [])
    stored = first.create_record(
        LOCAL,
        subject.subject_id,
        RecordDraft("contact", "course_delivery", LegalBasis.CONTRACT, "lms", {"a": 1}),
    )
    assert second.get_record(LOCAL, stored.record_id).fields == {"a": 1}  # fills the second cache
    assert second.keys.data_key(subject.subject_id, "contact", "course_delivery", create=False)

    first.erase_subject(LOCAL, subject.subject_id)

    with pytest.raises(SubjectErased):
        second.get_record(LOCAL, stored.record_id)
    with pytest.raises(SubjectErased):
        second.keys.data_key(subject.subject_id, "contact", "course_delivery", create=False)
    bootstrap.close_vault(first)
    bootstrap.close_vault(second)


def test_an_erased_category_key_is_unusable_at_once_in_another_process(
    data_dir: Path, clock: FixedClock
) -> None:
    first = bootstrap.open_vault(data_dir, clock=clock)
    second = bootstrap.open_vault(data_dir, clock=clock)
    subject = first.create_subject(LOCAL, [IdentityInput(IdentityKind.EMAIL, "cat@example.se")], [])
    sid = subject.subject_id
    first.create_record(
        LOCAL, sid, RecordDraft("notes", "course_delivery", LegalBasis.CONTRACT, "lms", {"a": 1})
    )
    second.keys.data_key(
        sid, "notes", "course_delivery", create=False
    )  # cached in the second process
    first.erase_category(LOCAL, sid, "notes")
    from vault.core.errors import CategoryErased

    with pytest.raises(CategoryErased):
        second.keys.data_key(sid, "notes", "course_delivery", create=False)
    bootstrap.close_vault(first)
    bootstrap.close_vault(second)


def test_kek_rotation_rewraps_and_old_data_stays_readable(
    data_dir: Path, clock: FixedClock
) -> None:
    vault = bootstrap.open_vault(data_dir, clock=clock)
    subject = vault.create_subject(LOCAL, [IdentityInput(IdentityKind.EMAIL, "rot@example.se")], [])
    stored = vault.create_record(
        LOCAL,
        subject.subject_id,
        RecordDraft("contact", "course_delivery", LegalBasis.CONTRACT, "lms", {"a": 1}),
    )
    rotation = vault.rotate_keys(LOCAL)
    assert (rotation.version, rotation.rewrapped.count) == (2, 1)
    bootstrap.close_vault(vault)

    reopened = bootstrap.open_vault(data_dir, clock=clock)
    assert reopened.keyring.current_version == 2
    assert reopened.keys.store.subject_key(subject.subject_id)[0] == 2  # type: ignore[index]
    assert reopened.get_record(LOCAL, stored.record_id).fields == {"a": 1}
    bootstrap.close_vault(reopened)
