"""The SQLite backend keeps the key store's contract, upgrades an older keys.db,
and leaves no destroyed key's bytes in its files once scrubbed."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlite_utils import Database

from tests.storage.keys_contract import KeyStoreContract, OpenOther, notes
from vault.storage.base import WrappedDataKey, WrappedKey
from vault.storage.schema import SchemaBehind
from vault.storage.sqlite import SQLiteKeyStore
from vault.storage.sqlite import keys as sqlite_keys
from vault.storage.sqlite.migrations import key_migrations


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteKeyStore]:
    store = SQLiteKeyStore(tmp_path / "keys.db")
    yield store
    store.close()


@pytest.fixture
def open_other(store: SQLiteKeyStore) -> Iterator[OpenOther]:
    opened: list[SQLiteKeyStore] = []

    def open_other() -> SQLiteKeyStore:
        opened.append(SQLiteKeyStore(store.path))
        return opened[-1]

    yield open_other
    for other in opened:
        other.close()


class TestSQLiteKeyStore(KeyStoreContract):
    pass


def test_closing_twice_is_harmless(store: SQLiteKeyStore) -> None:
    store.close()
    store.close()


def test_a_keys_db_from_before_job_keys_upgrades_with_its_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    key_migrations.apply(Database(conn), stop_before="0002_job_keys")
    conn.execute("INSERT INTO subject_keys VALUES ('s1', 1, x'01')")
    conn.execute("INSERT INTO category_keys VALUES ('s1', 'notes', 'k1', x'02')")
    conn.execute("UPDATE shred_generation SET value = 7")
    conn.close()

    with pytest.raises(SchemaBehind, match=r"\(0002_job_keys, .*\); run: consent-vault migrate"):
        SQLiteKeyStore(path)  # a database that is behind is never upgraded in passing
    SQLiteKeyStore(path, upgrade=True).close()  # what `consent-vault migrate` does
    again = SQLiteKeyStore(path, upgrade=True)  # and again: nothing left to apply
    assert again.migrations_applied == []
    again.close()
    store = SQLiteKeyStore(path)
    try:
        assert store.subject_key("s1") == WrappedKey(1, b"\x01")
        # Moved with purpose "" and marked as wrapped before keys had purposes.
        assert store.data_key(notes(purpose="")) == WrappedDataKey("k1", b"\x02", legacy=True)
        assert store.legacy_data_key_scopes(None, 10) == [notes(purpose="")]
        assert store.destruction_generation() == 7
        store.put_job_key("r1", 1, b"job")
        assert store.job_key("r1") == WrappedKey(1, b"job")
    finally:
        store.close()
    applied = (
        sqlite3.connect(path)
        .execute(
            "SELECT name FROM _sqlite_migrations WHERE migration_set = ?", (key_migrations.name,)
        )
        .fetchall()
    )
    assert sorted(name for (name,) in applied) == sorted(
        m.name for m in key_migrations.pending(Database(memory=True))
    )


def test_destroyed_keys_bytes_are_gone_from_the_files_once_scrubbed(
    store: SQLiteKeyStore, open_other: OpenOther
) -> None:
    reader = open_other()
    marker = b"KEY-BYTES-THAT-MUST-GO"
    store.put_subject_key("s1", 1, marker + b"-subject")
    store.put_data_key(notes(), WrappedDataKey("k1", marker + b"-data"))
    store.put_job_key("r1", 1, marker + b"-job")
    assert reader.subject_key("s1") is not None  # another connection has read them
    store.destroy_subject("s1")
    store.destroy_job_key("r1")
    assert store.scrub() is True
    files = [p for p in store.path.parent.iterdir() if p.name.startswith("keys.db")]
    assert store.path in files
    for path in files:
        assert marker not in path.read_bytes(), path.name


def test_every_subject_key_is_walked_a_page_at_a_time(
    store: SQLiteKeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_keys, "KEY_PAGE", 2)
    for n in range(5):
        store.put_subject_key(f"s{n}", 1, bytes([n]))
    assert [(s, w.wrapped) for s, w in store.wrapped_subject_keys()] == [
        (f"s{n}", bytes([n])) for n in range(5)
    ]
