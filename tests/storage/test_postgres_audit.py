"""The PostgreSQL backend keeps the audit log's contract; and what it alone
could get wrong: failing closed when the database refuses an event (a trigger
stands in for a full disk or a broken table), times in the session's time
zone, and the grouping of appends into few transactions."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
from collections.abc import Iterator
from urllib.parse import quote

import psycopg
import pytest

from tests.postgres import fresh_schema
from tests.storage.audit_contract import T0, AuditStoreContract, entry, everything, sequencer
from tests.storage.racing import BOUND_SECONDS, race
from tests.storage.records_contract import record_row, subject_row
from vault.core.audit.events import Operation
from vault.core.errors import AuditUnavailable
from vault.core.model import SubjectState
from vault.storage.base import NewRecord, RecordStore
from vault.storage.postgres import PostgresRecordStore


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


def execute(url: str, statement: str, *params: object) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement.encode(), params)


class TestPostgresAuditStore(AuditStoreContract):
    def tamper(self, store: RecordStore, statement: str, *params: object) -> None:
        assert isinstance(store, PostgresRecordStore)
        execute(store.url, statement.replace("?", "%s"), *params)


def refuse_events(url: str, at_commit: bool = False) -> None:
    """From now on the database refuses every new audit event, as a full disk
    or a broken table would: as it is inserted, or (`at_commit`) only as its
    transaction commits. The test's schema goes with the trigger."""
    execute(
        url,
        "CREATE FUNCTION refuse_events() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'no audit events today'; END $$",
    )
    if at_commit:
        execute(
            url,
            "CREATE CONSTRAINT TRIGGER refuse_events AFTER INSERT ON audit_events "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_events()",
        )
    else:
        execute(
            url,
            "CREATE TRIGGER refuse_events BEFORE INSERT ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION refuse_events()",
        )


def test_an_event_the_database_refuses_fails_closed_everywhere(
    store: PostgresRecordStore, other_store: PostgresRecordStore, url: str
) -> None:
    refuse_events(url)
    with pytest.raises(AuditUnavailable) as refused:
        store.audit.append([entry(0)])
    assert isinstance(refused.value.__cause__, psycopg.Error)
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


def test_an_event_refused_only_at_commit_is_audit_unavailable_too(
    store: PostgresRecordStore, other_store: PostgresRecordStore, url: str
) -> None:
    refuse_events(url, at_commit=True)
    with pytest.raises(AuditUnavailable) as refused:
        store.audit.append([entry(0)])
    assert isinstance(refused.value.__cause__, psycopg.Error)
    with pytest.raises(AuditUnavailable):
        asyncio.run(asyncio.wait_for(store.audit.append_async([entry(1)]), BOUND_SECONDS))
    assert everything(other_store) == []


def test_a_grouped_record_append_whose_event_is_refused_stores_no_record(
    store: PostgresRecordStore, other_store: PostgresRecordStore, url: str
) -> None:
    with store.write() as tx:
        tx.subjects.insert_subject(subject_row("s1"))
    refuse_events(url)
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
    landed = store.records.append_record(NewRecord(record_row("r3")), SubjectState.ACTIVE)
    assert landed.stored

    # Once the database takes events again, the writer is still there to write them.
    execute(url, "DROP TRIGGER refuse_events ON audit_events")
    assert store.records.append_record(audited, SubjectState.ACTIVE).stored
    store.audit.append([entry(4)])
    assert [e.entry for e in everything(other_store)] == [created.entry, entry(4).entry]
    assert other_store.records.count_records("s1") == 2


def transactions_that_stored_events(url: str) -> int:
    # xmin is the transaction that inserted the row: the database's own account.
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(DISTINCT xmin::text) FROM audit_events").fetchone()
    assert row is not None
    return int(row[0])


def test_a_burst_of_appends_commits_in_fewer_transactions_than_appends(
    store: PostgresRecordStore, url: str
) -> None:
    race([functools.partial(store.audit.append, [entry(n)]) for n in range(40)])
    threaded = transactions_that_stored_events(url)
    assert threaded < 40

    async def appends() -> None:
        await asyncio.gather(*(store.audit.append_async([entry(n)]) for n in range(100)))

    asyncio.run(asyncio.wait_for(appends(), BOUND_SECONDS))
    assert transactions_that_stored_events(url) - threaded < 100
    assert len(everything(store)) == 140


def test_times_come_back_as_aware_utc_datetimes_whatever_the_sessions_time_zone(
    url: str,
) -> None:
    store = PostgresRecordStore(url + quote(" -ctimezone=Asia/Tokyo"))
    try:
        store.audit.append([entry(0), entry(1, when=0.5)])
        store.audit.open_intent(entry(2), "subject-anna")
        sequencer(store).run_until_done()
        events = everything(store)
        head = store.audit.latest_head()
        assert head is not None
        times = [event.at for event in events] + [head.head.at]
        assert [event.at for event in events] == [T0, T0 + dt.timedelta(seconds=0.5), T0]
        assert all(moment.tzinfo is dt.UTC for moment in times), times
    finally:
        store.close()


def test_close_commits_the_events_queued(
    store: PostgresRecordStore, other_store: PostgresRecordStore
) -> None:
    async def queue_then_close() -> None:
        queued = [asyncio.ensure_future(store.audit.append_async([entry(n)])) for n in range(30)]
        await asyncio.sleep(0)  # each has run to its await: all 30 are queued
        store.close()
        await asyncio.gather(*queued)

    asyncio.run(asyncio.wait_for(queue_then_close(), BOUND_SECONDS))
    assert len(everything(other_store)) == 30
