"""The PostgreSQL backend keeps the consent store's contract; and what it alone
could get wrong: times in the session's time zone, the plans of the list of
people who must consent again among 100,000 and of those a contact stream may
reach (one range of an index, in order), and the upgrade of a database from
before the consent history, or from before consent in effect."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import psycopg
import pytest

from tests.postgres import fresh_schema
from tests.storage.consent_contract import (
    EMAIL,
    HELD,
    T0,
    ConsentStoreContract,
    event,
    limit_row,
    many_people,
    policy,
    their_limits,
    their_records,
    their_standing,
)
from tests.storage.records_contract import subject_row
from vault.core.consent.model import ConsentStatus
from vault.storage.postgres import PostgresRecordStore
from vault.storage.postgres.database import Database, MigrationSet
from vault.storage.postgres.migrations import record_migrations
from vault.storage.schema import SchemaBehind


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_schema() as schema_url:
        yield schema_url


@pytest.fixture
def store(url: str) -> Iterator[PostgresRecordStore]:
    records = PostgresRecordStore(url)
    yield records
    records.close()


@pytest.fixture
def other_store(store: PostgresRecordStore) -> Iterator[PostgresRecordStore]:
    # A second store object on the same database: what a second server process opens.
    other = PostgresRecordStore(store.url)
    yield other
    other.close()


class TestPostgresConsentStore(ConsentStoreContract):
    pass


def test_times_come_back_as_aware_utc_whatever_the_sessions_time_zone(url: str) -> None:
    store = PostgresRecordStore(url + quote(" -ctimezone=Asia/Tokyo"))
    try:
        written = event(1, status=ConsentStatus.RENEWED, expires=T0 + dt.timedelta(days=365))
        with store.write() as tx:
            tx.subjects.insert_subject(subject_row("s1"))
            tx.consents.append([written])
            tx.consents.insert_policy_version(policy("2026-1", 1))
            tx.consents.insert_limit(limit_row(1, lifted_at=T0, overridden_at=T0))
        (stored,) = store.consents.events("s1")
        (standing,) = store.consents.standing("s1")
        (version,) = store.consents.policy_versions()
        (limit,) = store.consents.limits("s1")
        assert stored == written._replace(seq=stored.seq)
        times = [
            stored.given_at,
            stored.recorded_at,
            stored.expires_at,
            standing.given_at,
            standing.expires_at,
            version.published_at,
            limit.recorded_at,
            limit.lifted_at,
            limit.overridden_at,
        ]
        assert all(moment is not None and moment.tzinfo is dt.UTC for moment in times), times
        assert version == policy("2026-1", 1)
    finally:
        store.close()


def fill(url: str) -> None:
    """The many people of consent_contract, analysed as a long-running database is."""
    columns = "subject_id, state, roles, protected_identity, created_at, updated_at"
    standing = "subject_id, purpose, event_id, status, policy_seq, given_at, policy_version"
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cursor:
        with cursor.copy(f"COPY subjects ({columns}) FROM STDIN") as copy:
            for subject_id, state in many_people():
                copy.write_row((subject_id, state, [], False, T0, T0))
        with cursor.copy(f"COPY consent_standing ({standing}) FROM STDIN") as copy:
            for row in their_standing():
                copy.write_row((*row, T0, ""))
        records = (
            "record_id, subject_id, purpose, category, legal_basis, source_system, key_id, "
            "sealed_payload, created_at, updated_at"
        )
        with cursor.copy(f"COPY records ({records}) FROM STDIN") as copy:
            for record in their_records():
                copy.write_row((*record, "contact", "contract", "lms", "k", b"\x00", T0, T0))
        limits = "limit_id, subject_id, kind, lifted_at, purposes, recorded_at, key_id, sealed"
        with cursor.copy(f"COPY processing_limits ({limits}) FROM STDIN") as copy:
            for limit_id, subject_id, kind, lifted in their_limits():
                lifted_at = T0 if lifted else None
                copy.write_row((limit_id, subject_id, kind, lifted_at, [], T0, "k", b"\x00"))
        cursor.execute("ANALYZE subjects, consent_standing, records, processing_limits")


@pytest.fixture(scope="module")
def crowded() -> Iterator[PostgresRecordStore]:
    """A store over the many people, filled once for the tests that read their plans."""
    with fresh_schema() as url:
        store = PostgresRecordStore(url)
        fill(url)
        yield store
        store.close()


def plans_of(
    url: str, monkeypatch: pytest.MonkeyPatch, call: Callable[[], object], *, run: bool = False
) -> list[dict[str, Any]]:
    """The plan of each statement `call()` ran, as PostgreSQL would plan it
    with no table read whole that an index could serve; with `run`, as it
    plans and runs it again (EXPLAIN ANALYZE: the rows each node read)."""
    caught: list[tuple[str, Any]] = []
    execute = psycopg.Cursor.execute

    def traced(self: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
        caught.append((query.decode() if isinstance(query, bytes) else str(query), params))
        return execute(self, query, params, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(psycopg.Cursor, "execute", traced)
        call()
    explain = "EXPLAIN (ANALYZE, FORMAT JSON)" if run else "EXPLAIN (FORMAT JSON)"
    plans = []
    with psycopg.connect(url, autocommit=True) as conn:
        if not run:
            # A table of a few rows (one person's events) is rightly read whole;
            # with sequential scans off, the planner still reads a table whole
            # where no index can serve the statement, which is what is looked for.
            conn.execute("SET enable_seqscan = off")
        for sql, params in caught:
            if sql.lstrip().upper().startswith(("SELECT", "DELETE")):
                (plan,) = conn.execute(f"{explain} {sql}", params).fetchone() or ("",)
                plans.append((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"])
    return plans


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from nodes(child)


@pytest.mark.parametrize("after", ["", "p050000", "p099950"])
def test_the_people_who_must_consent_again_are_one_index_range_among_100000(
    crowded: PostgresRecordStore, monkeypatch: pytest.MonkeyPatch, after: str
) -> None:
    store, url = crowded, crowded.url
    page = store.consents.stale(EMAIL, 2, after, 100)
    assert page and len(page) <= 100 and page[0].subject_id > after
    assert [row.subject_id for row in page] == sorted(row.subject_id for row in page)
    (plan,) = plans_of(
        url, monkeypatch, lambda: store.consents.stale(EMAIL, 2, after, 100), run=True
    )
    read = list(nodes(plan))
    # No table read whole, and no index either: each scan is a range from the
    # page's start, or one subject's row by its key. (Which index the planner
    # takes for the purpose's range is its call: consent_standing_by_purpose,
    # or the primary key with the purpose as its second column.)
    assert not [node for node in read if node["Node Type"] == "Seq Scan"], plan
    scans = [node for node in read if "Index Name" in node]
    assert scans and all("subject_id" in node.get("Index Cond", "") for node in scans), plan
    # What a page costs: the rows it passes, a few thousand at most, not the
    # 100,000 people before or after it.
    assert touched(read) < 10_000, plan


def touched(read: list[dict[str, Any]]) -> int:
    """The rows the scans of a plan run with EXPLAIN ANALYZE passed."""
    return sum(
        node["Actual Rows"] * node.get("Actual Loops", 1) + node.get("Rows Removed by Filter", 0)
        for node in read
        if node["Node Type"].endswith("Scan")
    )


@pytest.mark.parametrize("after", ["", "p050000", "p099950"])
def test_the_people_a_contact_stream_may_reach_are_one_index_range_among_100000(
    crowded: PostgresRecordStore, monkeypatch: pytest.MonkeyPatch, after: str
) -> None:
    store, url = crowded, crowded.url
    page = store.consents.standing_page(EMAIL, 2, after, 100)
    assert page and len(page) <= 100 and page[0].subject_id > after
    assert [row.subject_id for row in page] == sorted(row.subject_id for row in page)
    holders = store.records.purpose_holders(HELD, after, 100)
    assert holders and len(holders) <= 100 and holders[0][0] > after
    assert [subject_id for subject_id, _ in holders] == sorted({s for s, _ in holders})
    for call in (
        lambda: store.consents.standing_page(EMAIL, 2, after, 100),
        lambda: store.records.purpose_holders(HELD, after, 100),
    ):
        (plan,) = plans_of(url, monkeypatch, call, run=True)
        read = list(nodes(plan))
        # As the people who must consent again: each scan a range from the
        # page's start or one subject's row by its key, whichever index the
        # planner takes for it; a page costs the rows it passes.
        assert not [node for node in read if node["Node Type"] == "Seq Scan"], plan
        scans = [node for node in read if "Index Name" in node]
        assert scans and all("subject_id" in node.get("Index Cond", "") for node in scans), plan
        assert not [node for node in read if node["Node Type"] == "Sort"], plan
        assert touched(read) < 10_000, plan


def test_the_limits_in_effect_are_read_from_their_own_index_among_100000(
    crowded: PostgresRecordStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, url = crowded, crowded.url
    in_effect = store.consents.limits_in_effect()
    assert in_effect and all(row.lifted_at is None for row in in_effect)
    (plan,) = plans_of(url, monkeypatch, store.consents.limits_in_effect, run=True)
    read = list(nodes(plan))
    # The partial index holds the limits in effect only: the thousands lifted
    # are never passed, nor the people without any.
    assert not [node for node in read if node["Node Type"] == "Seq Scan"], plan
    indexes = {node["Index Name"] for node in read if "Index Name" in node}
    assert "processing_limits_in_effect" in indexes, plan
    assert touched(read) < 2 * len(in_effect) + 1_000, plan


def test_a_persons_history_standing_and_erasure_read_only_their_rows(
    crowded: PostgresRecordStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, url = crowded, crowded.url
    with store.write() as tx:
        tx.subjects.insert_subject(subject_row("s1"))
        tx.consents.append([event(1), event(2, status=ConsentStatus.WITHDRAWN)])
        tx.consents.insert_limit(limit_row(1))

    def erase() -> None:
        with store.write() as tx:
            tx.consents.delete_subject("s1")

    for call in (
        lambda: store.consents.events("s1", EMAIL, 0, 10),
        lambda: store.consents.events("s1"),
        lambda: store.consents.standing("s1"),
        lambda: store.consents.limits("s1"),
        erase,
    ):
        for plan in plans_of(url, monkeypatch, call):
            for node in nodes(plan):
                assert node["Node Type"] != "Seq Scan", plan
                if node["Node Type"].startswith("Index"):
                    assert "Index Cond" in node, plan


def before(name: str) -> MigrationSet:
    """The record migrations up to the one of that name."""
    return MigrationSet(
        record_migrations.name,
        record_migrations.migrations[: record_migrations.names.index(name)],
    )


def test_a_database_from_before_the_consent_history_is_upgraded_to_it(url: str) -> None:
    Database(url, before("0007_consent"), "record database").close()
    with pytest.raises(SchemaBehind, match="0007_consent"):
        PostgresRecordStore(url)
    upgraded = PostgresRecordStore(url, upgrade=True)
    try:
        assert upgraded.migrations_applied == ["0007_consent", "0008_consent_in_effect"]
        with upgraded.write() as tx:
            tx.subjects.insert_subject(subject_row("s1"))
            tx.consents.append([event(1)])
        assert [row.event_id for row in upgraded.consents.events("s1")] == ["event-1"]
    finally:
        upgraded.close()


def test_a_database_from_before_consent_in_effect_is_upgraded_to_it(url: str) -> None:
    Database(url, before("0008_consent_in_effect"), "record database").close()
    # A person with a record and a token, as the release before wrote them.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO subjects (subject_id, state, roles, protected_identity, created_at, "
            "updated_at) VALUES ('s1', 'active', '{}', true, %s, %s)",
            (T0, T0),
        )
        conn.execute(
            "INSERT INTO records (record_id, subject_id, category, purpose, legal_basis, "
            "source_system, key_id, sealed_payload, created_at, updated_at) VALUES "
            "('r1', 's1', 'contact', 'course_delivery', 'contract', 'lms', 'k', '\\x00', %s, %s)",
            (T0, T0),
        )
        conn.execute(
            "INSERT INTO api_tokens (token_id, secret_hash, role, system, name, created_at) "
            "VALUES ('aaaaaaaaaaaa', '\\x00', 'integrator', 'lms', 'lms', %s)",
            (T0,),
        )
    with pytest.raises(SchemaBehind, match="0008_consent_in_effect"):
        PostgresRecordStore(url)
    upgraded = PostgresRecordStore(url, upgrade=True)
    try:
        assert upgraded.migrations_applied == ["0008_consent_in_effect"]
        token = upgraded.tokens.token("aaaaaaaaaaaa")
        assert token is not None and token.default_purpose == ""
        assert upgraded.records.purpose_holders("course_delivery") == [("s1", True)]
        with upgraded.write() as tx:
            tx.consents.insert_limit(limit_row(1))
        assert [row.limit_id for row in upgraded.consents.limits("s1")] == ["limit-1"]
        assert [row.limit_id for row in upgraded.consents.limits_in_effect()] == ["limit-1"]
    finally:
        upgraded.close()
