"""The SQLite backend keeps the record store's contract, and reads rows earlier versions wrote."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.storage.records_contract import T0, RecordStoreContract
from tests.storage.tokens_contract import TokenStoreContract
from vault.core.model import LegalBasis, SubjectState
from vault.storage.base import ClearRoles
from vault.storage.sqlite import SQLiteRecordStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteRecordStore]:
    records = SQLiteRecordStore(tmp_path / "records.db")
    yield records
    records.close()


@pytest.fixture
def other_store(store: SQLiteRecordStore) -> Iterator[SQLiteRecordStore]:
    # A second store object on the same file: what a second server process opens.
    other = SQLiteRecordStore(store.path)
    yield other
    other.close()


class TestSQLiteRecordStore(RecordStoreContract):
    pass


class TestSQLiteTokenStore(TokenStoreContract):
    pass


def test_times_are_kept_as_utc_text_and_rows_of_earlier_versions_read_back(
    store: SQLiteRecordStore,
) -> None:
    conn = sqlite3.connect(store.path)
    with conn:
        conn.execute(
            "INSERT INTO subjects (subject_id, state, roles, protected_identity, created_at, "
            "updated_at) VALUES ('s1', 'active', '[\"student\"]', 0, "
            "'2026-11-24T09:00:00.123456+00:00', '2026-11-24T09:00:00.123456+00:00')"
        )
        conn.execute(
            "INSERT INTO records (record_id, subject_id, category, purpose, legal_basis, "
            "source_system, key_id, sealed_payload, created_at, updated_at) VALUES "
            "('r1', 's1', 'contact', 'p', 'contract', 'lms', 'k', x'00', "
            "'2026-11-24T09:00:00.123456+00:00', '2026-11-24T09:00:00.123456+00:00')"
        )
    conn.close()
    subject = store.subjects.subject("s1")
    assert subject is not None and subject.created_at == T0 and subject.sealed_roles is None
    # Roles in the clear, as an earlier version wrote them, wait for the upgrade.
    assert store.subjects.subjects_with_clear_roles(10) == [
        ClearRoles("s1", SubjectState.ACTIVE, ("student",))
    ]
    record = store.records.record("r1")
    assert record is not None and record.created_at == T0
    assert record.legal_basis is LegalBasis.CONTRACT
    assert record.subject_state is SubjectState.ACTIVE
    with store.write() as tx:
        tx.subjects.touch_subject("s1", T0.astimezone(ZoneInfo("Europe/Stockholm")))
    conn = sqlite3.connect(store.path)
    (text,) = conn.execute("SELECT updated_at FROM subjects").fetchone()
    conn.close()
    assert text == "2026-11-24T09:00:00.123456+00:00"


def test_a_failed_write_leaves_the_write_lock_free_for_other_processes(
    store: SQLiteRecordStore, other_store: SQLiteRecordStore
) -> None:
    with pytest.raises(ValueError), store.write() as tx:
        tx.subjects.touch_subject("nobody", T0)
        raise ValueError("the core refused it")  # an identity in use, say
    done = threading.Event()

    def write_elsewhere() -> None:
        with other_store.write() as tx:
            tx.subjects.touch_subject("nobody", T0)
        done.set()

    writer = threading.Thread(target=write_elsewhere, daemon=True)
    writer.start()
    # Had the failed write left its transaction open, this would wait for the
    # busy timeout (30 s) or until the first store happened to write again.
    assert done.wait(5), "the other store could not write"
