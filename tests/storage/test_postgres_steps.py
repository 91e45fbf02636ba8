"""The PostgreSQL backend keeps the step store's contract, and its row locks keep
several processes' workers apart without a database-wide lock."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from tests.postgres import fresh_schema
from tests.storage.racing import race
from tests.storage.steps_contract import ASKER, StepStoreContract, at, claim
from vault.core.clock import FixedClock
from vault.core.steps import (
    EngineSettings,
    RequestState,
    StepEngine,
    StepReport,
    StepState,
    StepStore,
    StoredRequest,
    StoredStep,
)
from vault.storage.postgres.database import Database
from vault.storage.postgres.migrations import record_migrations
from vault.storage.postgres.steps import PostgresStepStore, StepWrites

# Long enough that only a claim that waits for another transaction reaches it.
PATIENCE_SECONDS = 10.0


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_schema() as url:
        yield url


@pytest.fixture
def database(url: str) -> Iterator[Database]:
    opened = Database(url, record_migrations, "record database")
    yield opened
    opened.close()


@pytest.fixture
def store(database: Database) -> PostgresStepStore:
    return PostgresStepStore(database)


@pytest.fixture
def other_store(url: str, database: Database) -> Iterator[PostgresStepStore]:
    # Another Database object on the same schema: what a second server process opens.
    other = Database(url, record_migrations, "record database")
    yield PostgresStepStore(other)
    other.close()


@pytest.fixture
def subject(url: str, database: Database) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO subjects (subject_id, state, roles, protected_identity, created_at, "
            "updated_at) VALUES ('s1', 'active', '{}', false, now(), now())"
        )
    return "s1"


class TestPostgresStepStore(StepStoreContract):
    pass


def submit(
    store: StepStore, subject: str, request_id: str, steps: tuple[str, ...], received: float = 0
) -> None:
    request = StoredRequest(
        request_id,
        "test",
        subject,
        RequestState.PENDING,
        at(received),
        at(received + 3600),
        None,
        b"sealed",
        at(received),
        ASKER,
    )
    with store.write() as tx:
        tx.insert_request(request, steps, StepState.PENDING)


def test_claims_held_open_at_once_on_two_stores_each_take_a_step_of_their_own(
    store: PostgresStepStore, other_store: PostgresStepStore, subject: str
) -> None:
    for n in range(12):
        submit(store, subject, f"r{n:02}", ("a", "b"))
    workers = 8
    # Every claim keeps its transaction open until all have claimed: a claim that
    # waited for another's step, rather than skipping it, would never get here.
    all_claimed = threading.Barrier(workers, timeout=PATIENCE_SECONDS)

    def hold(on: PostgresStepStore, owner: str) -> StoredStep | None:
        with on.write() as tx:
            step = claim(tx, owner, at(1), at(61))
            all_claimed.wait()
        return step

    on = (store, other_store)
    taken = race([functools.partial(hold, on[n % 2], f"w{n}") for n in range(workers)])
    assert all(step is not None for step in taken)
    places = {(s.request_id, s.name) for s in taken if s is not None}
    assert len(places) == workers
    for step in taken:
        assert step is not None
        (stored,) = [s for s in other_store.steps(step.request_id) if s.name == step.name]
        assert stored.state is StepState.RUNNING and stored.lease_owner == step.lease_owner


def test_a_claim_passes_a_request_a_person_is_changing_without_waiting(
    store: PostgresStepStore, other_store: PostgresStepStore, subject: str
) -> None:
    submit(store, subject, "r1", ("a", "b"))
    # Due after both of r1's: a claim that took no heed of r1's row would take r1's b.
    submit(store, subject, "r2", ("c",), received=0.5)
    changing = threading.Event()
    claimed = threading.Event()

    def person() -> bool:
        # A retry or decision on r1, in a transaction still open when the claim runs.
        with store.write() as tx:
            tx.set_step("r1", "a", StepState.PENDING, 0, at(0), None, {"decision": "d"}, at(0))
            changing.set()
            return claimed.wait(PATIENCE_SECONDS)

    def worker() -> StoredStep | None:
        changing.wait(PATIENCE_SECONDS)
        try:
            with other_store.write() as tx:
                return claim(tx, "w1", at(1), at(61))
        finally:
            claimed.set()

    claimed_meanwhile, step = race([person, worker])
    assert claimed_meanwhile, "the claim waited for the person's transaction to end"
    assert step is not None and (step.request_id, step.name) == ("r2", "c")


class _MeetingWrites(StepWrites):
    """The store's writes, except that a read of a request's steps first waits a while
    for the other writer to read them too: two settles that can overlap will."""

    meeting: _Meeting

    def steps(self, request_id: str) -> list[StoredStep]:
        self.meeting.arrive()
        return super().steps(request_id)


class _Meeting:
    def __init__(self, expected: int, seconds: float) -> None:
        self.expected = expected
        self.seconds = seconds
        self.arrived = 0
        self.condition = threading.Condition()

    def arrive(self) -> None:
        with self.condition:
            self.arrived += 1
            self.condition.notify_all()
            self.condition.wait_for(lambda: self.arrived >= self.expected, self.seconds)


class _MeetingStore(PostgresStepStore):
    def __init__(self, database: Database, meeting: _Meeting) -> None:
        super().__init__(database)
        self.meeting = meeting

    @contextmanager
    def write(self) -> Iterator[StepWrites]:
        with self._database.transaction() as conn:
            writes = _MeetingWrites(conn)
            writes.meeting = self.meeting
            yield writes


class _Together:
    """A kind whose steps succeed once every step of the request is running."""

    def __init__(self, steps: int) -> None:
        self.all_running = threading.Barrier(steps, timeout=PATIENCE_SECONDS)

    def perform(self, step: StoredStep, request: StoredRequest) -> StepReport:
        self.all_running.wait()
        return StepReport(f'["{step.name} done"]')

    def needs_person(self, error: Exception) -> bool:
        return False

    def expected(self, error: Exception) -> bool:
        return False

    def retried(self, step: StoredStep) -> tuple[bytes | None, Mapping[str, Any]]:
        return step.sealed, step.details

    def completed(self, request: StoredRequest) -> None:
        pass


def test_two_steps_of_one_request_finishing_at_once_on_two_stores_complete_it(
    database: Database, url: str, subject: str
) -> None:
    other = Database(url, record_migrations, "record database")
    try:
        # Each settle waits up to two seconds for the other to read the steps as well;
        # a writer kept out by the request's row meanwhile only costs that wait.
        meeting = _Meeting(expected=2, seconds=2.0)
        stores = (_MeetingStore(database, meeting), _MeetingStore(other, meeting))
        clock = FixedClock(at(0))
        kind = _Together(steps=2)
        engines = [StepEngine(s, clock, EngineSettings()) for s in stores]
        for engine in engines:
            engine.register("test", kind)
        submit(stores[0], subject, "r1", ("a", "b"))

        race(
            [
                functools.partial(engines[0].run_step, "r1", "a"),
                functools.partial(engines[1].run_step, "r1", "b"),
            ]
        )

        assert [s.state for s in stores[1].steps("r1")] == [StepState.SUCCEEDED] * 2
        request = stores[1].request("r1")
        assert request is not None and request.state is RequestState.COMPLETED
        assert request.completed_at == at(0) and request.sealed_payload is None
    finally:
        other.close()
