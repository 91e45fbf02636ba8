"""The SQLite backend keeps the audit log's contract, and fails closed when
the database refuses an event (a trigger stands in for a full disk or a
broken table)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.storage.audit_contract import AuditStoreContract, entry, everything
from tests.storage.racing import BOUND_SECONDS
from tests.storage.records_contract import record_row, subject_row
from vault.core.audit.events import Operation
from vault.core.errors import AuditUnavailable
from vault.core.model import SubjectState
from vault.storage.base import NewRecord, RecordStore
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


def execute(path: Path, statement: str, *params: object) -> None:
    conn = sqlite3.connect(path)
    try:
        with conn:
            conn.execute(statement, params)
    finally:
        conn.close()


class TestSQLiteAuditStore(AuditStoreContract):
    def tamper(self, store: RecordStore, statement: str, *params: object) -> None:
        assert isinstance(store, SQLiteRecordStore)
        execute(store.path, statement, *params)


def refuse_events(path: Path) -> None:
    """From now on the database refuses every new audit event."""
    execute(
        path,
        "CREATE TRIGGER refuse_events BEFORE INSERT ON audit_events "
        "BEGIN SELECT RAISE(ABORT, 'no audit events today'); END",
    )


def test_an_event_the_database_refuses_fails_closed_everywhere(
    store: SQLiteRecordStore, other_store: SQLiteRecordStore
) -> None:
    refuse_events(store.path)
    with pytest.raises(AuditUnavailable) as refused:
        store.audit.append([entry(0)])
    assert isinstance(refused.value.__cause__, sqlite3.Error)
    with pytest.raises(AuditUnavailable):
        asyncio.run(asyncio.wait_for(store.audit.append_async([entry(1)]), BOUND_SECONDS))
    # A change and its event: neither.
    with pytest.raises(AuditUnavailable), store.write() as tx:
        tx.subjects.insert_subject(subject_row("s2"))
        tx.audit.append([entry(2)])
    assert other_store.subjects.subject("s2") is None
    # Key destruction's intent: neither the event nor the intent.
    with pytest.raises(AuditUnavailable):
        store.audit.open_intent(entry(3, operation=Operation.DESTROY_KEYS), "subject-anna")
    assert other_store.audit.open_intents() == []
    assert everything(other_store) == []


def test_a_grouped_record_append_whose_event_is_refused_stores_no_record(
    store: SQLiteRecordStore, other_store: SQLiteRecordStore
) -> None:
    with store.write() as tx:
        tx.subjects.insert_subject(subject_row("s1"))
    refuse_events(store.path)
    created = entry(1, operation=Operation.CREATE_RECORD)
    audited = NewRecord(record_row("r1"), audit=created)
    with pytest.raises(AuditUnavailable):
        store.records.append_record(audited, SubjectState.ACTIVE)

    async def appended() -> None:
        await store.records.append_record_async(
            NewRecord(record_row("r2"), audit=entry(2)), SubjectState.ACTIVE
        )

    with pytest.raises(AuditUnavailable):
        asyncio.run(asyncio.wait_for(appended(), BOUND_SECONDS))
    assert other_store.records.record("r1") is None and other_store.records.record("r2") is None
    assert other_store.records.count_records("s1") == 0
    # A record with no event of its own is no audit write: it is stored.
    assert store.records.append_record(NewRecord(record_row("r3")), SubjectState.ACTIVE).stored

    # Once the database takes events again, the writer is still there to write them.
    execute(store.path, "DROP TRIGGER refuse_events")
    assert store.records.append_record(audited, SubjectState.ACTIVE).stored
    store.audit.append([entry(4)])
    assert [e.entry for e in everything(other_store)] == [created.entry, entry(4).entry]
    assert other_store.records.count_records("s1") == 2


def test_a_refused_event_leaves_the_database_free_for_other_writers(
    store: SQLiteRecordStore,
) -> None:
    with store.write() as tx:
        tx.subjects.insert_subject(subject_row("s1"))
    refuse_events(store.path)
    for refused in (
        lambda: store.audit.append([entry(0)]),
        lambda: store.records.append_record(
            NewRecord(record_row("r1"), audit=entry(1)), SubjectState.ACTIVE
        ),
    ):
        with pytest.raises(AuditUnavailable):
            refused()
        # Another process's write goes through at once: the failed group
        # ended its transaction rather than keeping the write lock.
        conn = sqlite3.connect(store.path, timeout=0.2)
        try:
            with conn:
                conn.execute("UPDATE subjects SET updated_at = updated_at WHERE subject_id = 's1'")
        finally:
            conn.close()
