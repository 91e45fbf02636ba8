"""A vault made in the format of the release before keys had purposes (one data
key per subject and category, in category_keys, wrapped with associated data
naming no purpose), opened by this release: the key migration moves the keys
across and the upgrade step gives each its purpose. Every record reads back,
with one key per purpose afterwards; a crash part-way is finished by the next
opening; two processes upgrading at once do no harm. On both engines.

The key database is built with the released key migrations alone and its rows
written here with that release's conventions; the record database's schema is
the same in both releases, so its rows go in through the record store."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlite_utils import Database as SQLiteDatabase

from tests.postgres import fresh_schema
from tests.storage.racing import race
from vault import bootstrap, crypto, purposes_file
from vault.core.actor import LOCAL
from vault.core.identities import Identity, IdentityKind
from vault.core.model import LegalBasis, SubjectState
from vault.core.sealing import Sealing
from vault.core.upgrades import purpose_keys
from vault.core.vault import IdentityInput, Vault
from vault.keyring import Keyring
from vault.storage.base import DataKeyScope, IdentityRow, RecordRow, SubjectRow
from vault.storage.postgres import migrations as postgres_migrations
from vault.storage.postgres.database import Database, MigrationSet
from vault.storage.postgres.records import PostgresRecordStore
from vault.storage.sqlite import migrations as sqlite_migrations
from vault.storage.sqlite.records import SQLiteRecordStore

STAMP = "2026-11-24T09:00:00+00:00"

# Each subject's records as (category, purpose, how many); "grades" has a key
# and no records left (a category whose rows a crash left deleted).
PEOPLE = {
    "anna@example.se": [
        ("contact", "course_delivery", 3),  # one purpose: re-addressed
        ("notes", "marketing", 3),  # two: marketing keeps the key...
        ("notes", "teaching", 2),  # ...teaching is sealed again under its own
        ("grades", "teaching", 0),
    ],
    "bo@example.se": [("contact", "a", 2), ("contact", "b", 2)],  # a tie: "a" keeps it
}
KEPT = {("contact", "course_delivery"), ("notes", "marketing"), ("contact", "a")}


@dataclass
class Legacy:
    """A vault as the earlier release left it, and what it held."""

    url: str
    keyring: Keyring
    # record id -> (subject id, category, purpose, fields, sealed payload)
    records: dict[str, tuple[str, str, str, dict[str, Any], bytes]]
    # (subject id, category) -> the legacy key's id
    key_ids: dict[tuple[str, str], str]
    subjects: dict[str, str]  # e-mail -> subject id


def _legacy_keys(
    ring: Keyring, subject_id: str, categories: list[str]
) -> tuple[tuple[Any, ...], list[tuple[Any, ...]], dict[str, tuple[str, bytes]]]:
    """A subject's key row and category key rows as the earlier release wrapped them."""
    version = ring.current_version
    subject_key = crypto.new_key()
    subject_row = (
        subject_id,
        version,
        crypto.seal(
            ring.current_kek,
            subject_key,
            crypto.associated_data("subject-key", version, subject_id),
        ),
    )
    rows, keys = [], {}
    for category in categories:
        key_id, key = secrets.token_hex(8), crypto.new_key()
        wrapped = crypto.seal(
            subject_key, key, crypto.associated_data("category-key", subject_id, category, key_id)
        )
        rows.append((subject_id, category, key_id, wrapped))
        keys[category] = (key_id, key)
    return subject_row, rows, keys


def _fill(
    records_store: Any, insert_keys: Callable[[str, list[tuple[Any, ...]]], None], url: str
) -> Legacy:
    ring = Keyring.generate()
    legacy = Legacy(url, ring, {}, {}, {})
    subject_rows, key_rows = [], []
    with records_store.write() as tx:
        for address, held in PEOPLE.items():
            subject_id = secrets.token_hex(16)
            legacy.subjects[address] = subject_id
            categories = ["vault.identity", *dict.fromkeys(c for c, _, _ in held)]
            subject_row, rows, keys = _legacy_keys(ring, subject_id, categories)
            subject_rows.append(subject_row)
            key_rows += rows
            for category, (key_id, _) in keys.items():
                legacy.key_ids[subject_id, category] = key_id
            now = dt.datetime.fromisoformat(STAMP)
            tx.subjects.insert_subject(
                SubjectRow(subject_id, SubjectState.ACTIVE, None, False, now, now)
            )
            identity = Identity(IdentityKind.EMAIL, address)
            blind_index = ring.blind_index(identity.index_text)
            tx.subjects.insert_identity(
                IdentityRow(
                    blind_index,
                    subject_id,
                    IdentityKind.EMAIL,
                    _seal(
                        keys["vault.identity"][1],
                        json.dumps(["email", "", address]).encode(),
                        ("identity", subject_id, blind_index),
                    ),
                )
            )
            rows_of: list[RecordRow] = []
            for category, purpose, count in held:
                key_id, key = keys[category]
                for n in range(count):
                    record_id = secrets.token_hex(16)
                    fields = {"n": n, "purpose": purpose}
                    payload = f'{{"fields":{json.dumps(fields)},"content":null}}'
                    sealed = _seal(
                        key,
                        payload.encode(),
                        ("record", subject_id, category, record_id, "payload"),
                    )
                    legacy.records[record_id] = (subject_id, category, purpose, fields, sealed)
                    rows_of.append(
                        RecordRow(
                            record_id,
                            subject_id,
                            category,
                            purpose,
                            LegalBasis.CONSENT,
                            "lms",
                            key_id,
                            sealed,
                            None,
                            now,
                            now,
                        )
                    )
            tx.records.insert_records(rows_of)
    insert_keys("INSERT INTO subject_keys (subject_id, kek_version, wrapped) VALUES ", subject_rows)
    insert_keys(
        "INSERT INTO category_keys (subject_id, category, key_id, wrapped) VALUES ", key_rows
    )
    return legacy


def _seal(key: bytes, data: bytes, aad: tuple[str, ...]) -> bytes:
    return crypto.seal(key, data, crypto.associated_data(*aad))


@pytest.fixture(params=["sqlite", "postgresql"])
def legacy(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Legacy]:
    if request.param == "sqlite":
        records = SQLiteRecordStore(tmp_path / "records.db")
        conn = sqlite3.connect(tmp_path / "keys.db", isolation_level=None)
        sqlite_migrations.key_migrations.apply(
            SQLiteDatabase(conn), stop_before="0003_data_keys_by_purpose"
        )

        def insert(sql: str, rows: list[tuple[Any, ...]]) -> None:
            marks = "(" + ", ".join("?" * len(rows[0])) + ")"
            conn.executemany(sql + marks, rows)

        try:
            yield _fill(records, insert, f"{bootstrap.SQLITE}{tmp_path}")
        finally:
            records.close()
            conn.close()
        return
    with fresh_schema() as url:
        migrations = postgres_migrations.key_migrations
        released = MigrationSet(migrations.name, migrations.migrations[:1])
        Database(url, released, "key database").close()  # as the released version left it
        records = PostgresRecordStore(url)
        with psycopg.connect(url, autocommit=True) as pg:

            def insert(sql: str, rows: list[tuple[Any, ...]]) -> None:
                marks = "(" + ", ".join(["%s"] * len(rows[0])) + ")"
                with pg.cursor() as cursor:
                    cursor.executemany(sql + marks, rows)

            try:
                yield _fill(records, insert, url)
            finally:
                records.close()


def _open(legacy: Legacy) -> Vault:
    """What a server does after `consent-vault migrate`: the vault over the stores,
    upgraded before it serves."""
    return bootstrap.vault_over(bootstrap.open_stores(legacy.url, upgrade=True), legacy.keyring)


def _every_record_reads_back(vault: Vault, legacy: Legacy) -> None:
    for record_id, (subject_id, category, purpose, fields, _) in legacy.records.items():
        record = vault.get_record(LOCAL, record_id, subject_id)
        assert (record.category, record.purpose, record.fields) == (category, purpose, fields)
    for address, subject_id in legacy.subjects.items():
        found = vault.find_subject(LOCAL, IdentityInput(IdentityKind.EMAIL, address))
        assert found.subject_id == subject_id


def _one_key_per_purpose(vault: Vault, legacy: Legacy) -> None:
    store = vault.keys.store
    assert store.legacy_data_key_scopes(None, 10) == []
    for address, held in PEOPLE.items():
        subject_id = legacy.subjects[address]
        expected = sorted({(c, p) for c, p, count in held if count} | {("vault.identity", "")})
        assert [(s.category, s.purpose) for s in store.data_key_scopes(subject_id)] == expected
        for category, purpose in expected:
            key = store.data_key(DataKeyScope(subject_id, category, purpose))
            assert key is not None and not key.legacy
            # The kept purposes (and the identities) keep the legacy key's id.
            kept = (category, purpose) in KEPT or category == "vault.identity"
            assert (key.key_id == legacy.key_ids[subject_id, category]) is kept
    # Records of the kept purposes were not encrypted again; the others were.
    for record_id, (_, category, purpose, _, sealed) in legacy.records.items():
        row = vault.records.records.record(record_id)
        assert row is not None
        assert (row.sealed_payload == sealed) is ((category, purpose) in KEPT)


def test_a_vault_of_the_earlier_format_is_upgraded_and_every_record_reads_back(
    legacy: Legacy,
) -> None:
    vault = _open(legacy)
    try:
        _every_record_reads_back(vault, legacy)
        _one_key_per_purpose(vault, legacy)
        assert vault.upgrade() == {}  # nothing left at the next opening
        # And the purposes are apart now: erasing one leaves the other.
        anna = legacy.subjects["anna@example.se"]
        vault.erase_category(LOCAL, anna, "notes", purpose="teaching")
        left = sorted(
            r.purpose for r in vault.readable_records(LOCAL, anna) if r.category == "notes"
        )
        assert left == ["marketing"] * 3
    finally:
        bootstrap.close_vault(vault)


class Crash(Exception):
    pass


@pytest.mark.parametrize("when", ["mid_reseal", "before_the_move"])
def test_an_upgrade_cut_off_part_way_is_finished_by_the_next_opening(
    legacy: Legacy, when: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_reseal = purpose_keys._reseal
    monkeypatch.setattr(purpose_keys, "RECORD_PAGE", 1)
    if when == "before_the_move":
        # Every minority record sealed again under its own key, then a crash
        # before the legacy key is moved to its purpose.
        def reseal_then_crash(*args: Any) -> int:
            real_reseal(*args)
            raise Crash()

        monkeypatch.setattr(purpose_keys, "_reseal", reseal_then_crash)
    else:
        # A crash after the first record of a page-at-a-time re-sealing.
        real = Sealing.resealed
        calls = []

        def resealed_once(self: Sealing, *args: Any) -> Any:
            calls.append(1)
            if len(calls) > 1:
                raise Crash()
            return real(self, *args)

        monkeypatch.setattr(Sealing, "resealed", resealed_once)
    with pytest.raises(Crash):
        _open(legacy)  # the vault does not serve
    monkeypatch.undo()

    vault = _open(legacy)
    try:
        _every_record_reads_back(vault, legacy)
        _one_key_per_purpose(vault, legacy)
    finally:
        bootstrap.close_vault(vault)


def test_two_processes_upgrading_at_once_do_no_harm(legacy: Legacy) -> None:
    # Both migrated and opened, not yet upgraded, as two servers starting together.
    stores = [bootstrap.open_stores(legacy.url, upgrade=True) for _ in range(2)]
    vaults = [
        Vault(s.records, s.keys, legacy.keyring, purposes=purposes_file.school()) for s in stores
    ]
    try:
        race([vault.upgrade for vault in vaults])
        for vault in vaults:
            _every_record_reads_back(vault, legacy)
        _one_key_per_purpose(vaults[0], legacy)
    finally:
        for s in stores:
            s.close()


def test_an_upgraded_category_erased_leaves_no_copy_of_its_old_keys_in_the_key_files(
    legacy: Legacy,
) -> None:
    if not legacy.url.startswith(bootstrap.SQLITE):
        pytest.skip("PostgreSQL does not zero deleted rows (see the README)")
    directory = Path(legacy.url.removeprefix(bootstrap.SQLITE))
    wrapped_before = [
        bytes(row[0])
        for row in sqlite3.connect(directory / "keys.db").execute(
            "SELECT wrapped FROM category_keys WHERE category = 'notes'"
        )
    ]
    vault = _open(legacy)
    try:
        anna = legacy.subjects["anna@example.se"]
        wrapped_after = [
            vault.keys.store.data_key(s).wrapped  # type: ignore[union-attr]
            for s in vault.keys.scopes(anna)
            if s.category == "notes"
        ]
        vault.erase_category(LOCAL, anna, "notes")
        secrets_ = [*wrapped_before, *wrapped_after]
        assert (len(wrapped_before), len(wrapped_after)) == (1, 2)  # Anna's, before and after
        # The dropped table's rows, the moved rows' old wraps and the erased
        # keys: zeroed in the file, the WAL cut by the erasure.
        for path in directory.glob("keys.db*"):
            raw = path.read_bytes()
            for secret in secrets_:
                for form in (secret, secret.hex().encode(), base64.b64encode(secret)):
                    assert form not in raw, path.name
    finally:
        bootstrap.close_vault(vault)
