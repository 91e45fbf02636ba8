"""An erasure, and the maintenance and recovery after it, find their rows
through indexes on both engines: no statement they run reads a table of
people's rows (subjects, their records, identities, counts, requests, receipts,
keys, consent histories and standings, restrictions and objections) whole, so
an erasure costs the same whatever the vault holds. Checked from each engine's
own query plans, not by timing. Every statement is caught as it runs, so one
added to these paths later is checked without being listed here.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from vault import bootstrap
from vault.core.actor import LOCAL
from vault.core.clock import FixedClock
from vault.core.drafts import RecordDraft
from vault.core.identities import IdentityKind
from vault.core.model import LegalBasis
from vault.core.vault import IdentityInput, Vault
from vault.runtime import build_services
from vault.storage.sqlite.connections import Connections

# (where it ran: a SQLite file's path, or "postgresql"; the statement; its parameters)
Caught = list[tuple[str, str, Any]]

_QUERIES = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")

# The tables of a row or more per person, in the record and the key database.
# (The step engine's tables are the step store's to answer for: its claims
# find due steps by their state and time.)
_PER_PERSON = frozenset(
    {
        "subjects",
        "identities",
        "records",
        "record_counts",
        "requests",
        "erasures",
        "subject_keys",
        "data_keys",
        "consent_events",
        "consent_standing",
        "processing_limits",
    }
)


@pytest.fixture
def traced(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, clock: FixedClock, engine: str | None
) -> Iterator[tuple[Vault, Caught]]:
    """A vault whose every statement, on either database, is caught as it runs."""
    caught: Caught = []
    if engine is None:
        opened = Connections.open

        def open_traced(self: Connections) -> sqlite3.Connection:
            conn = opened(self)
            path = str(self.path)
            # SQLite hands the callback the statement with its values in place.
            conn.set_trace_callback(lambda sql: caught.append((path, sql, None)))
            return conn

        monkeypatch.setattr(Connections, "open", open_traced)
    else:
        execute = psycopg.Cursor.execute
        executemany = psycopg.Cursor.executemany

        def execute_traced(self: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
            caught.append(("postgresql", _text(query), params))
            return execute(self, query, params, **kwargs)

        def executemany_traced(self: Any, query: Any, params_seq: Any, **kwargs: Any) -> Any:
            params_seq = list(params_seq)
            if params_seq:
                caught.append(("postgresql", _text(query), params_seq[0]))
            return executemany(self, query, params_seq, **kwargs)

        monkeypatch.setattr(psycopg.Cursor, "execute", execute_traced)
        monkeypatch.setattr(psycopg.Cursor, "executemany", executemany_traced)
    vault = bootstrap.open_vault(data_dir, clock=clock, database=engine)
    yield vault, caught
    bootstrap.close_vault(vault)


def _text(query: Any) -> str:
    return query.decode() if isinstance(query, bytes) else str(query)


def _person(vault: Vault, n: int) -> str:
    subject = vault.create_subject(
        LOCAL, [IdentityInput(IdentityKind.EMAIL, f"person{n}@example.se")], ["student"]
    )
    vault.import_records(
        LOCAL,
        [
            (
                subject.subject_id,
                RecordDraft(category, "course_delivery", LegalBasis.CONTRACT, "lms", {"n": k}),
            )
            for category in ("contact", "grades")
            for k in range(3)
        ],
    )
    return subject.subject_id


def test_an_erasure_its_maintenance_and_recovery_read_no_table_of_people_whole(
    traced: tuple[Vault, Caught], engine: str | None
) -> None:
    vault, caught = traced
    services = build_services(vault)
    people = [_person(vault, n) for n in range(12)]
    # Erased and purged before: the next purge must pass them by.
    vault.erase_subject(LOCAL, people[0])
    vault.maintain()
    caught.clear()

    # EraseSubject: the request and its steps, the vault's own run at once; then
    # what a worker asks for (nothing is left due).
    accepted = services.coordinator.request(LOCAL, people[1])
    services.coordinator.engine.run_pending()
    assert services.coordinator.get(LOCAL, accepted.request_id).state == "completed"
    vault.erase_subject(LOCAL, people[2])
    vault.maintain()
    # A purge in batches smaller than the person's records, as with many records.
    vault.erase_subject(LOCAL, people[3])
    assert vault.purge_erased(batch=4) == 6
    assert vault.recover() == 0

    for erased in people[1:4]:
        assert vault.records.records.count_records(erased) == 0
    assert vault.records.records.count_records(people[4]) == 6
    statements = [(where, sql, params) for where, sql, params in caught if _is_query(sql)]
    purges = [sql for _, sql, _ in statements if sql.startswith("DELETE FROM records")]
    assert purges, "the purge's statements were not caught"
    # The erasure takes the person's restrictions and objections with their consent.
    limits = [sql for _, sql, _ in statements if sql.startswith("DELETE FROM processing_limits")]
    assert limits, "the erasure's delete of the limits was not caught"
    explain = _sqlite_scans if engine is None else _postgres_scans(engine)
    scans = [
        (" ".join(sql.split()), tables)
        for where, sql, params in statements
        if (tables := explain(where, sql, params))
    ]
    assert scans == []


def _is_query(sql: str) -> bool:
    return sql.lstrip().upper().startswith(_QUERIES)


# ------------------------------------------------------------------ SQLite --
def _sqlite_scans(path: str, sql: str, params: Any) -> list[str]:
    """The tables the statement reads whole ("SCAN t", with or without an index:
    a scan of an index is as long as the table), per EXPLAIN QUERY PLAN."""
    conn = sqlite3.connect(path)
    try:
        tables = {
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        }
        plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
    finally:
        conn.close()
    # The plan names a table by its alias where the statement gives one.
    aliases = {
        alias: table
        for table, alias in re.findall(r"\b(?:FROM|JOIN)\s+(\w+)\s+(?:AS\s+)?(\w+)", sql)
        if table in tables
    }
    scanned = [
        aliases.get(match.group(1), match.group(1))
        for detail in plan
        if (match := re.match(r"SCAN (\w+)", detail))
    ]
    return [name for name in scanned if name in _PER_PERSON]


# -------------------------------------------------------------- PostgreSQL --
def _postgres_scans(url: str) -> Any:
    def scans(where: str, sql: str, params: Any) -> list[str]:
        with psycopg.connect(url, autocommit=True) as conn:
            # A table of a few rows is rightly read whole, as these are here; with
            # sequential scans off, the planner still reads a table whole where
            # no index can serve the statement, which is what this looks for.
            conn.execute("SET enable_seqscan = off")
            (plan,) = conn.execute(f"EXPLAIN (FORMAT JSON) {sql}", params).fetchone() or (None,)
        if isinstance(plan, str):
            plan = json.loads(plan)
        return [name for name in _whole_reads(plan[0]["Plan"]) if name in _PER_PERSON]

    return scans


def _whole_reads(node: dict[str, Any]) -> Iterator[str]:
    """Tables read whole: a sequential scan, or an index scanned with no
    condition on it (as long as the table)."""
    kind = node["Node Type"]
    if kind == "Seq Scan" or (kind.startswith("Index") and "Index Cond" not in node):
        yield node["Relation Name"]
    for child in node.get("Plans", ()):
        yield from _whole_reads(child)
