"""The PostgreSQL backend keeps the record store's contract; and what it alone
could get wrong: appends from several processes against a change of state, the
grouping of appends into few transactions, times in the session's time zone."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import time
from collections.abc import Iterator
from urllib.parse import quote
from zoneinfo import ZoneInfo

import psycopg
import pytest

from tests.postgres import fresh_schema
from tests.storage.racing import BOUND_SECONDS, race
from tests.storage.records_contract import (
    T0,
    RecordStoreContract,
    at,
    record_row,
    subject_row,
)
from tests.storage.tokens_contract import TokenStoreContract
from vault.core.model import SubjectState
from vault.storage.base import AppendOutcome, NewRecord
from vault.storage.postgres import PostgresRecordStore

LANDED = AppendOutcome(SubjectState.ACTIVE, stored=True)


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


class TestPostgresRecordStore(RecordStoreContract):
    pass


class TestPostgresTokenStore(TokenStoreContract):
    pass


def add_subject(store: PostgresRecordStore, subject_id: str = "s1") -> None:
    with store.write() as tx:
        tx.subjects.insert_subject(subject_row(subject_id))


def transactions_that_stored_records(url: str) -> int:
    # xmin is the transaction that inserted the row: the database's own account.
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(DISTINCT xmin::text) FROM records").fetchone()
    assert row is not None
    return int(row[0])


def test_appends_from_two_stores_racing_a_state_change_never_land_after_it(
    store: PostgresRecordStore, other_store: PostgresRecordStore
) -> None:
    add_subject(store)
    changer = PostgresRecordStore(store.url)  # a third process moves the subject on

    def appender(on: PostgresRecordStore, t: int) -> list[AppendOutcome]:
        return [
            on.records.append_record(NewRecord(record_row(f"t{t}-{n}")), SubjectState.ACTIVE)
            for n in range(50)
        ]

    def change() -> tuple[int, int]:
        # Once appends are landing, so that the change falls among them.
        give_up = time.monotonic() + BOUND_SECONDS
        while changer.records.count_records("s1") < 20 and time.monotonic() < give_up:
            time.sleep(0.001)
        with changer.write() as tx:
            tx.subjects.set_subject_state("s1", SubjectState.ERASURE_PENDING, at(1))
        # Committed: whatever is stored now is all that may ever be.
        return changer.records.count_records("s1"), len(list(changer.records.iter_records("s1")))

    try:
        *outcomes, (counted, listed) = race(
            [
                *(functools.partial(appender, (store, other_store)[t % 2], t) for t in range(6)),
                change,
            ]
        )
    finally:
        changer.close()
    refused = AppendOutcome(SubjectState.ERASURE_PENDING, stored=False)
    for each in outcomes:
        assert set(each) <= {LANDED, refused}, each
        assert each == sorted(each, key=lambda o: not o.stored), each
    stored = sum(o.stored for each in outcomes for o in each)
    assert 20 <= stored < 300  # the change fell among the appends
    assert counted == listed == stored
    for view in (store, other_store):
        assert view.records.count_records("s1") == stored
        assert len(list(view.records.iter_records("s1"))) == stored


def test_a_burst_of_appends_commits_in_fewer_transactions_than_appends(
    store: PostgresRecordStore,
) -> None:
    add_subject(store)
    outcomes = race(
        [
            functools.partial(
                store.records.append_record, NewRecord(record_row(f"r{n}")), SubjectState.ACTIVE
            )
            for n in range(40)
        ]
    )
    assert outcomes == [LANDED] * 40
    threaded = transactions_that_stored_records(store.url)
    assert threaded < 40

    async def appends() -> list[AppendOutcome]:
        return await asyncio.gather(
            *(
                store.records.append_record_async(
                    NewRecord(record_row(f"a{n}")), SubjectState.ACTIVE
                )
                for n in range(100)
            )
        )

    assert asyncio.run(asyncio.wait_for(appends(), BOUND_SECONDS)) == [LANDED] * 100
    assert transactions_that_stored_records(store.url) - threaded < 100
    assert store.records.count_records("s1") == 140


def test_appends_racing_erasures_of_their_category_never_deadlock(
    store: PostgresRecordStore, other_store: PostgresRecordStore
) -> None:
    # An erasure of a category deletes its counts and touches the subject; a
    # group holds the subject's row and updates the same counts. Taken in
    # different orders, each would wait for the other until PostgreSQL
    # aborted one of them.
    add_subject(store)

    def appender(t: int) -> None:
        for n in range(60):
            store.records.append_record(NewRecord(record_row(f"t{t}-{n}")), SubjectState.ACTIVE)

    def erase_category() -> None:
        for n in range(30):
            with other_store.write() as tx:
                tx.records.delete_category_records("s1", "contact")
                tx.subjects.touch_subject("s1", at(n))

    race([*(functools.partial(appender, t) for t in range(4)), erase_category])
    assert store.records.count_records("s1") == len(list(store.records.iter_records("s1")))


def test_times_come_back_as_aware_utc_datetimes_whatever_the_sessions_time_zone(
    url: str,
) -> None:
    tokyo = url + quote(" -ctimezone=Asia/Tokyo")
    with psycopg.connect(tokyo) as conn:
        row = conn.execute("SELECT %s::timestamptz", (T0,)).fetchone()
    assert row is not None and row[0] == T0 and row[0].utcoffset() == dt.timedelta(hours=9)

    store = PostgresRecordStore(tokyo)
    try:
        stockholm = T0.astimezone(ZoneInfo("Europe/Stockholm"))
        with store.write() as tx:
            tx.subjects.insert_subject(subject_row())
            tx.subjects.touch_subject("s1", stockholm)
            tx.records.insert_records([record_row("r1")])
            written = tx.subjects.subject("s1")
        store.records.append_record(NewRecord(record_row("r2")), SubjectState.ACTIVE)
        subject = store.subjects.subject("s1")
        assert subject is not None and written == subject
        records = [store.records.record("r1"), *store.records.records_page("s1", None, 0, 10)]
        times = [subject.created_at, subject.updated_at]
        times += [t for r in records if r is not None for t in (r.created_at, r.updated_at)]
        assert len(times) == 8
        assert all(t == T0 and t.tzinfo is dt.UTC for t in times), times
    finally:
        store.close()


def test_close_commits_what_is_queued_and_may_be_called_twice(
    store: PostgresRecordStore, other_store: PostgresRecordStore
) -> None:
    add_subject(store)

    async def queue_then_close() -> list[AppendOutcome]:
        queued = [
            asyncio.ensure_future(
                store.records.append_record_async(
                    NewRecord(record_row(f"r{n}")), SubjectState.ACTIVE
                )
            )
            for n in range(50)
        ]
        await asyncio.sleep(0)  # each has run to its await: all 50 are queued
        store.close()
        return await asyncio.gather(*queued)

    assert asyncio.run(asyncio.wait_for(queue_then_close(), BOUND_SECONDS)) == [LANDED] * 50
    assert other_store.records.count_records("s1") == 50
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.records.append_record(NewRecord(record_row("late")), SubjectState.ACTIVE)
