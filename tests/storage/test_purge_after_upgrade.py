"""A record database from before the purge kept its due subjects apart
(SQLite 0009_subjects_by_state, PostgreSQL 0002_subjects_by_state): after the
upgrade the purge still finds what an erasure left, and passes by the erased
subjects earlier purges emptied."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from sqlite_utils import Database as SQLiteDatabase

from tests.postgres import fresh_schema
from vault.core.model import SubjectState
from vault.storage.base import RecordStore
from vault.storage.postgres import PostgresRecordStore
from vault.storage.postgres import migrations as postgres_migrations
from vault.storage.postgres.database import Database, MigrationSet
from vault.storage.sqlite import SQLiteRecordStore
from vault.storage.sqlite import migrations as sqlite_migrations

STAMP = "2026-11-24T09:00:00.000000+00:00"

# Subjects as an earlier release left them: erased and emptied by its purge,
# erased with its records still there, and active with a record.
SUBJECTS = [("gone", "erased"), ("left", "erased"), ("kept", "active")]
RECORDS = [("l1", "left"), ("l2", "left"), ("k1", "kept")]


def _fill(execute: Callable[[str, tuple[Any, ...]], object], roles: object) -> None:
    for subject_id, state in SUBJECTS:
        execute(
            "INSERT INTO subjects (subject_id, state, roles, protected_identity, created_at, "
            "updated_at) VALUES (%s, %s, %s, false, %s, %s)",
            (subject_id, state, roles, STAMP, STAMP),
        )
    for record_id, subject_id in RECORDS:
        execute(
            "INSERT INTO records (record_id, subject_id, category, purpose, legal_basis, "
            "source_system, key_id, sealed_payload, created_at, updated_at) "
            "VALUES (%s, %s, 'contact', 'p', 'contract', 'lms', 'k', %s, %s, %s)",
            (record_id, subject_id, b"sealed", STAMP, STAMP),
        )
    execute(
        "INSERT INTO record_counts (subject_id, category, count) "
        "VALUES ('left', 'contact', 2), ('kept', 'contact', 1)",
        (),
    )


def _purges_what_erasures_left_and_only_that(
    store: RecordStore, due: Callable[[], dict[str, bool]]
) -> None:
    assert due() == {"gone": False, "left": True, "kept": True}
    assert store.maintenance.purge_records(SubjectState.ERASED, 10) == 2
    assert due() == {"gone": False, "left": False, "kept": True}
    assert store.records.count_records("left") == 0
    assert [r.record_id for r in store.records.iter_records("kept")] == ["k1"]
    assert store.records.count_records("kept") == 1
    assert store.maintenance.purge_records(SubjectState.ERASED, 10) == 0


def test_on_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "records.db"
    conn = sqlite3.connect(path, isolation_level=None)
    sqlite_migrations.record_migrations.apply(
        SQLiteDatabase(conn), stop_before="0009_subjects_by_state"
    )
    _fill(lambda sql, args: conn.execute(sql.replace("%s", "?"), args), "[]")
    conn.close()

    def due() -> dict[str, bool]:
        check = sqlite3.connect(path)
        try:
            rows = check.execute("SELECT subject_id, purge_due FROM subjects").fetchall()
        finally:
            check.close()
        return {subject_id: bool(flag) for subject_id, flag in rows}

    store = SQLiteRecordStore(path, upgrade=True)
    try:
        _purges_what_erasures_left_and_only_that(store, due)
    finally:
        store.close()


def test_on_postgresql() -> None:
    migrations = postgres_migrations.record_migrations
    with fresh_schema() as url:
        first = MigrationSet(migrations.name, migrations.migrations[:1])
        Database(url, first, "record database").close()  # as the first release left it
        with psycopg.connect(url, autocommit=True) as conn:
            _fill(lambda sql, args: conn.execute(sql, args), [])

        def due() -> dict[str, bool]:
            with psycopg.connect(url) as check:
                rows = check.execute("SELECT subject_id, purge_due FROM subjects").fetchall()
            return dict(rows)

        store = PostgresRecordStore(url, upgrade=True)
        try:
            _purges_what_erasures_left_and_only_that(store, due)
        finally:
            store.close()
