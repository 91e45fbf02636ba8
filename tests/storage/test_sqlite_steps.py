"""The SQLite backend keeps the step store's contract, and migrates an erasure's old rows."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlite_utils import Database

from tests.storage.steps_contract import StepStoreContract
from vault.core.actor import LOCAL
from vault.core.steps import RequestState, StepState, StepStore
from vault.storage.sqlite import SQLiteRecordStore
from vault.storage.sqlite.migrations import record_migrations


@pytest.fixture
def records(tmp_path: Path) -> Iterator[SQLiteRecordStore]:
    store = SQLiteRecordStore(tmp_path / "records.db")
    yield store
    store.close()


@pytest.fixture
def store(records: SQLiteRecordStore) -> StepStore:
    return records.steps


@pytest.fixture
def other_store(records: SQLiteRecordStore) -> Iterator[StepStore]:
    # A second store object on the same file: what a second server process opens.
    other = SQLiteRecordStore(records.path)
    yield other.steps
    other.close()


@pytest.fixture
def subject(records: SQLiteRecordStore) -> str:
    conn = sqlite3.connect(records.path)
    with conn:
        conn.execute(
            "INSERT INTO subjects (subject_id, state, roles, protected_identity, created_at, updated_at) "
            "VALUES ('s1', 'active', '', 0, '2026-01-01', '2026-01-01')"
        )
    conn.close()
    return "s1"


class TestSQLiteStepStore(StepStoreContract):
    pass


def test_an_erasure_stored_before_the_step_engine_reads_back_whole(tmp_path: Path) -> None:
    path = tmp_path / "records.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    record_migrations.apply(Database(conn), stop_before="0005_step_engine")
    conn.execute(
        "INSERT INTO subjects (subject_id, state, roles, protected_identity, created_at, updated_at) "
        "VALUES ('s1', 'erasure_pending', '', 0, '2026-01-01', '2026-01-01')"
    )
    stamp = "2026-11-24T09:00:00.000000+00:00"
    conn.execute(
        "INSERT INTO erasure_requests VALUES ('r1', 's1', 'partially_completed', ?, ?, NULL, ?, ?)",
        (stamp, stamp, b"identities", stamp),
    )
    conflict = json.dumps(
        {"texts": ["the e-mail and the personnummer lead to different records"], "kinds": ["email"]}
    )
    for system in ("accounting", "vault", "lms"):
        conn.execute(
            "INSERT INTO erasure_steps (request_id, system, state, attempts, next_attempt_at, "
            "outcomes, updated_at, sealed_references, conflict, notes, decision, decided_by, "
            "decided_at) VALUES ('r1', ?, ?, 1, ?, '[]', ?, ?, ?, ?, ?, ?, ?)",
            (
                system,
                "needs_attention" if system == "accounting" else "succeeded",
                stamp,
                stamp,
                b"refs" if system == "accounting" else None,
                conflict if system == "accounting" else None,
                json.dumps(["a note"]) if system == "accounting" else None,
                None,
                None,
                None,
            ),
        )
    conn.execute(
        "INSERT INTO manual_actions VALUES ('x1', 'r1', 'lms', 'c', 'd', ?, ?, NULL, NULL)",
        (b"how", stamp),
    )
    conn.close()

    records = SQLiteRecordStore(path, upgrade=True)  # applies the rest
    try:
        request = records.steps.request("r1")
        assert request is not None and request.kind == "erasure"
        assert request.state is RequestState.PARTIALLY_COMPLETED
        assert request.sealed_payload == b"identities"
        # Before callers were named, every request was the local operator's.
        assert request.requested_by == LOCAL
        steps = records.steps.steps("r1")
        assert [s.name for s in steps] == ["vault", "accounting", "lms"]  # the vault's first
        accounting = steps[1]
        assert accounting.state is StepState.NEEDS_ATTENTION and accounting.sealed == b"refs"
        assert accounting.details["conflict"]["kinds"] == ["email"]
        assert accounting.details["notes"] == ["a note"]
        assert dict(steps[0].details) == {}
        (action,) = records.steps.actions("r1")
        assert action.step == "lms" and action.sealed_instructions == b"how"
    finally:
        records.close()


def test_steps_stored_before_requests_could_be_about_no_one_read_back_whole(
    tmp_path: Path,
) -> None:
    path = tmp_path / "records.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    record_migrations.apply(Database(conn), stop_before="0008_requests_about_no_one")
    conn.execute(
        "INSERT INTO subjects (subject_id, state, roles, protected_identity, created_at, updated_at) "
        "VALUES ('s1', 'erasure_pending', '', 0, '2026-01-01', '2026-01-01')"
    )
    stamp, lease = "2026-11-24T09:00:00.000000+00:00", "2026-11-24T09:01:30.000000+00:00"
    conn.execute(
        "INSERT INTO step_requests (request_id, kind, subject_id, state, received_at, "
        "deadline_at, sealed_payload, updated_at, requested_by_who, requested_by_role, "
        "requested_by_system) VALUES ('r1', 'erasure', 's1', 'in_progress', ?, ?, ?, ?, "
        "'ada', 'operator', 'lms')",
        (stamp, stamp, b"identities", stamp),
    )
    conn.execute(
        "INSERT INTO steps (request_id, name, position, state, attempts, next_attempt_at, "
        "lease_owner, lease_until, updated_at, sealed, details) "
        "VALUES ('r1', 'vault', 0, 'running', 0, ?, 'host:1:a:b', ?, ?, ?, ?)",
        (stamp, lease, stamp, b"refs", json.dumps({"notes": [1]})),
    )
    conn.execute(
        "INSERT INTO steps (request_id, name, position, state, attempts, next_attempt_at, "
        "updated_at) VALUES ('r1', 'lms', 1, 'retrying', 2, ?, ?)",
        (stamp, stamp),
    )
    conn.execute(
        "INSERT INTO manual_actions VALUES ('x1', 'r1', 'lms', 'c', 'd', ?, ?, NULL, NULL)",
        (b"how", stamp),
    )
    conn.close()

    records = SQLiteRecordStore(path, upgrade=True)  # applies the rest
    try:
        request = records.steps.request("r1")
        assert request is not None and request.subject_id == "s1"
        assert request.requested_by.who == "ada" and request.sealed_payload == b"identities"
        vault, lms = records.steps.steps("r1")
        # A step running at the upgrade is due again when its lease ends, as claims write.
        assert vault.state is StepState.RUNNING and vault.lease_owner == "host:1:a:b"
        assert vault.next_attempt_at == vault.lease_until and vault.sealed == b"refs"
        assert dict(vault.details) == {"notes": [1]}
        assert lms.state is StepState.RETRYING and lms.attempts == 2
        assert lms.next_attempt_at == dt.datetime.fromisoformat(stamp)
        (action,) = records.steps.actions("r1")
        assert action.sealed_instructions == b"how"
        # The foreign keys still hold, to the rebuilt tables.
        check = sqlite3.connect(path)
        check.execute("PRAGMA foreign_keys = ON")
        assert check.execute("PRAGMA foreign_key_check").fetchall() == []
        with pytest.raises(sqlite3.IntegrityError), check:
            check.execute(
                "INSERT INTO steps (request_id, name, position, state, attempts, "
                "next_attempt_at, updated_at) VALUES ('nope', 'a', 0, 'pending', 0, ?, ?)",
                (stamp, stamp),
            )
        with pytest.raises(sqlite3.IntegrityError), check:
            check.execute("UPDATE step_requests SET subject_id = 'nobody' WHERE request_id = 'r1'")
        check.close()
    finally:
        records.close()
