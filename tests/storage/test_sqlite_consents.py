"""The SQLite backend keeps the consent store's contract; its reads find their
rows through indexes (the people who must consent again among 100,000, and
those a contact stream may reach, are one range of an index, in order); and a
database from before the consent history, or from before consent in effect, is
upgraded to it."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlite_utils import Database

from tests.storage.consent_contract import (
    EMAIL,
    HELD,
    ConsentStoreContract,
    event,
    limit_row,
    many_people,
    their_limits,
    their_records,
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
            conn.executemany(
                "INSERT INTO records (record_id, subject_id, category, purpose, legal_basis, "
                "source_system, key_id, sealed_payload, created_at, updated_at) VALUES "
                "(?, ?, 'contact', ?, 'contract', 'lms', 'k', x'00', '2026-01-01', '2026-01-01')",
                their_records(),
            )
            conn.executemany(
                "INSERT INTO processing_limits (limit_id, subject_id, kind, purposes, "
                "recorded_at, lifted_at, key_id, sealed) VALUES (?, ?, ?, '[]', "
                "'2026-01-01T00:00:00.000000+00:00', "
                "CASE WHEN ? THEN '2026-02-01T00:00:00.000000+00:00' END, 'k', x'00')",
                their_limits(),
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


@pytest.mark.parametrize("after", ["", "p050000", "p099950"])
def test_the_people_a_contact_stream_may_reach_are_one_index_range_among_100000(
    crowded: SQLiteRecordStore, after: str
) -> None:
    store = crowded
    page = store.consents.standing_page(EMAIL, 2, after, 100)
    assert page and len(page) <= 100 and page[0].subject_id > after
    assert [row.subject_id for row in page] == sorted(row.subject_id for row in page)
    (plan,) = reading(store, lambda: store.consents.standing_page(EMAIL, 2, after, 100))
    # As the people who must consent again: the purpose's range from the
    # page's start, in subject order (no sort), each subject by its key.
    assert plan == [
        "SEARCH c USING INDEX consent_standing_by_purpose (purpose=? AND subject_id>?)",
        "SEARCH s USING INDEX sqlite_autoindex_subjects_1 (subject_id=?)",
    ], plan
    holders = store.records.purpose_holders(HELD, after, 100)
    assert holders and len(holders) <= 100 and holders[0][0] > after
    assert [subject_id for subject_id, _ in holders] == sorted({s for s, _ in holders})
    (plan,) = reading(store, lambda: store.records.purpose_holders(HELD, after, 100))
    # A purpose on another basis: its records' range from the page's start, a
    # holder's records grouped as they come (no sort), each subject by its key.
    assert plan == [
        "SEARCH r USING COVERING INDEX records_by_purpose (purpose=? AND subject_id>?)",
        "SEARCH s USING INDEX sqlite_autoindex_subjects_1 (subject_id=?)",
    ], plan


def test_the_limits_in_effect_are_read_from_their_own_index_among_100000(
    crowded: SQLiteRecordStore,
) -> None:
    store = crowded
    in_effect = store.consents.limits_in_effect()
    assert in_effect and all(row.lifted_at is None for row in in_effect)
    (plan,) = reading(store, store.consents.limits_in_effect)
    # The partial index holds the limits in effect only: the thousands lifted
    # are never passed.
    assert plan == [
        "SCAN l USING INDEX processing_limits_in_effect",
        "SEARCH s USING INDEX sqlite_autoindex_subjects_1 (subject_id=?)",
    ], plan


def test_a_persons_history_standing_and_erasure_read_only_their_rows(
    crowded: SQLiteRecordStore,
) -> None:
    store = crowded
    with store.write() as tx:
        tx.subjects.insert_subject(subject_row("s1"))
        tx.consents.append([event(1), event(2, status=ConsentStatus.WITHDRAWN)])
        tx.consents.insert_limit(limit_row(1))
    for call in (
        lambda: store.consents.events("s1", EMAIL, 0, 10),
        lambda: store.consents.events("s1"),
        lambda: store.consents.standing("s1"),
        lambda: store.consents.limits("s1"),
    ):
        for plan in reading(store, call):
            assert plan and all(detail.startswith("SEARCH") for detail in plan), plan
    # The erasure's deletes, as its write transaction runs them.
    with store.write() as tx:
        erasure = caught(tx.conn, lambda: tx.consents.delete_subject("s1"))
    assert len(erasure) == 3
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
        assert upgraded.migrations_applied == ["0014_consent", "0015_consent_in_effect"]
        with upgraded.write() as tx:
            tx.subjects.insert_subject(subject_row("s1"))
            tx.consents.append([event(1)])
        assert [row.event_id for row in upgraded.consents.events("s1")] == ["event-1"]
    finally:
        upgraded.close()


def test_a_database_from_before_consent_in_effect_is_upgraded_to_it(tmp_path: Path) -> None:
    path = tmp_path / "records.db"
    conn = sqlite3.connect(path, isolation_level=None)
    record_migrations.apply(Database(conn), stop_before="0015_consent_in_effect")
    # A person with a record and a token, as the release before wrote them.
    conn.execute(
        "INSERT INTO subjects (subject_id, state, roles, protected_identity, created_at, "
        "updated_at) VALUES ('s1', 'active', '[]', 1, '2026-01-01', '2026-01-01')"
    )
    conn.execute(
        "INSERT INTO records (record_id, subject_id, category, purpose, legal_basis, "
        "source_system, key_id, sealed_payload, created_at, updated_at) VALUES "
        "('r1', 's1', 'contact', 'course_delivery', 'contract', 'lms', 'k', x'00', "
        "'2026-01-01', '2026-01-01')"
    )
    conn.execute(
        "INSERT INTO api_tokens (token_id, secret_hash, role, system, name, created_at) "
        "VALUES ('aaaaaaaaaaaa', x'00', 'integrator', 'lms', 'lms', "
        "'2026-01-01T00:00:00.000000+00:00')"
    )
    conn.close()
    with pytest.raises(SchemaBehind, match="0015_consent_in_effect"):
        SQLiteRecordStore(path)
    upgraded = SQLiteRecordStore(path, upgrade=True)
    try:
        assert upgraded.migrations_applied == ["0015_consent_in_effect"]
        token = upgraded.tokens.token("aaaaaaaaaaaa")
        assert token is not None and token.default_purpose == ""
        assert upgraded.records.purpose_holders("course_delivery") == [("s1", True)]
        with upgraded.write() as tx:
            tx.consents.insert_limit(limit_row(1))
        assert [row.limit_id for row in upgraded.consents.limits("s1")] == ["limit-1"]
        assert [row.limit_id for row in upgraded.consents.limits_in_effect()] == ["limit-1"]
    finally:
        upgraded.close()
