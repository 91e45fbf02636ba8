"""The SQLite backend keeps the consent store's contract; its reads find their
rows through indexes (the people who must consent again among 100,000 are one
range of an index, in order); and a database from before the consent history
is upgraded to it."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlite_utils import Database

from tests.storage.consent_contract import (
    EMAIL,
    ConsentStoreContract,
    event,
    many_people,
    their_standing,
)
from tests.storage.records_contract import subject_row
from vault.core.consent.model import ConsentStatus
from vault.storage.schema import SchemaBehind
from vault.storage.sqlite import SQLiteRecordStore
from vault.storage.sqlite.migrations import record_migrations


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


class TestSQLiteConsentStore(ConsentStoreContract):
    pass


def fill(path: Path) -> None:
    """The many people of consent_contract, analysed as a long-running database is."""
    conn = sqlite3.connect(path)
    try:
        with conn:
            conn.executemany(
                "INSERT INTO subjects (subject_id, state, roles, protected_identity, created_at, "
                "updated_at) VALUES (?, ?, '[]', 0, '2026-01-01', '2026-01-01')",
                many_people(),
            )
            conn.executemany(
                "INSERT INTO consent_standing (subject_id, purpose, event_id, status, given_at, "
                "policy_version, policy_seq) VALUES (?, ?, ?, ?, '2026-01-01', '', ?)",
                their_standing(),
            )
            conn.execute("ANALYZE")
    finally:
        conn.close()


@pytest.fixture(scope="module")
def crowded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SQLiteRecordStore]:
    """A store over the many people, filled once for the tests that read their plans."""
    store = SQLiteRecordStore(tmp_path_factory.mktemp("crowded") / "records.db")
    fill(store.path)
    yield store
    store.close()


def caught(conn: sqlite3.Connection, call: Callable[[], object]) -> list[str]:
    """The statements `call()` ran on `conn`, with their values in place."""
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        call()
    finally:
        conn.set_trace_callback(None)
    return [sql for sql in statements if sql.lstrip().upper().startswith(("SELECT", "DELETE"))]


def plans(path: Path, statements: list[str]) -> list[list[str]]:
    """Each statement's EXPLAIN QUERY PLAN, its details."""
    conn = sqlite3.connect(path)
    try:
        return [[row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")] for sql in statements]
    finally:
        conn.close()


def reading(store: SQLiteRecordStore, call: Callable[[], object]) -> list[list[str]]:
    """The plans of what `call()` read on this thread's connection."""
    return plans(store.path, caught(store._connections.get(), call))


@pytest.mark.parametrize("after", ["", "p050000", "p099950"])
def test_the_people_who_must_consent_again_are_one_index_range_among_100000(
    crowded: SQLiteRecordStore, after: str
) -> None:
    store = crowded
    page = store.consents.stale(EMAIL, 2, after, 100)
    assert page and len(page) <= 100 and page[0].subject_id > after
    assert [row.subject_id for row in page] == sorted(row.subject_id for row in page)
    (plan,) = reading(store, lambda: store.consents.stale(EMAIL, 2, after, 100))
    # The purpose's range from the page's start, in subject order (no sort),
    # each subject by its key: never a scan of either table.
    assert plan == [
        "SEARCH c USING INDEX consent_standing_by_purpose (purpose=? AND subject_id>?)",
        "SEARCH s USING INDEX sqlite_autoindex_subjects_1 (subject_id=?)",
    ], plan


def test_a_persons_history_standing_and_erasure_read_only_their_rows(
    crowded: SQLiteRecordStore,
) -> None:
    store = crowded
    with store.write() as tx:
        tx.subjects.insert_subject(subject_row("s1"))
        tx.consents.append([event(1), event(2, status=ConsentStatus.WITHDRAWN)])
    for call in (
        lambda: store.consents.events("s1", EMAIL, 0, 10),
        lambda: store.consents.events("s1"),
        lambda: store.consents.standing("s1"),
    ):
        for plan in reading(store, call):
            assert plan and all(detail.startswith("SEARCH") for detail in plan), plan
    # The erasure's deletes, as its write transaction runs them.
    with store.write() as tx:
        erasure = caught(tx.conn, lambda: tx.consents.delete_subject("s1"))
    assert len(erasure) == 2
    for plan in plans(store.path, erasure):
        assert plan and all(detail.startswith("SEARCH") for detail in plan), plan


def test_a_database_from_before_the_consent_history_is_upgraded_to_it(tmp_path: Path) -> None:
    path = tmp_path / "records.db"
    conn = sqlite3.connect(path, isolation_level=None)
    record_migrations.apply(Database(conn), stop_before="0014_consent")
    conn.close()
    with pytest.raises(SchemaBehind, match="0014_consent"):
        SQLiteRecordStore(path)
    upgraded = SQLiteRecordStore(path, upgrade=True)
    try:
        assert upgraded.migrations_applied == ["0014_consent"]
        with upgraded.write() as tx:
            tx.subjects.insert_subject(subject_row("s1"))
            tx.consents.append([event(1)])
        assert [row.event_id for row in upgraded.consents.events("s1")] == ["event-1"]
    finally:
        upgraded.close()
