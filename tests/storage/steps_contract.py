"""The step store's contract: what the step engine relies on, whatever engine stores it.

Subclass `StepStoreContract` and give a `store` fixture (a fresh, empty
StepStore), an `other_store` fixture (a second StepStore object open on the
same database, as a second server process would open it; the fixture closes
it) and a `subject` fixture (the id of a subject the store's requests may
name). The SQLite backend runs it in test_sqlite_steps.py; a later backend
must pass it unchanged.

The races run threads on both store objects at once. What they hold a store
to is what several processes on one database need: a step is claimed by one
worker at a time, and only its lease holder finishes it.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools

import pytest

from tests.storage.racing import race
from vault.core.actor import THE_VAULT, Actor, Role
from vault.core.steps import (
    OPEN,
    WAITING,
    RequestState,
    StepState,
    StepStore,
    StepWrites,
    StoredAction,
    StoredRequest,
    StoredStep,
)

T0 = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
# Who asked, with every part set, so a store that drops one is caught.
ASKER = Actor("ada", Role.OPERATOR, "lms")


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def claim(
    tx: StepWrites,
    owner: str,
    now: dt.datetime,
    lease_until: dt.datetime,
    kinds: tuple[str, ...] = ("test",),
) -> StoredStep | None:
    """A claim as the engine makes it: an open step of these kinds, now running."""
    return tx.claim_step(kinds, OPEN, StepState.RUNNING, owner, now, lease_until)


def start(
    tx: StepWrites, request_id: str, name: str, owner: str, now: dt.datetime
) -> StoredStep | None:
    return tx.start_step(request_id, name, WAITING, StepState.RUNNING, owner, now, now + LEASE)


LEASE = dt.timedelta(seconds=60)


class StepStoreContract:
    def submit(
        self,
        store: StepStore,
        subject: str,
        request_id: str = "r1",
        kind: str = "test",
        received: float = 0,
        steps: tuple[str, ...] = ("b", "a", "c"),
        requested_by: Actor = ASKER,
    ) -> StoredRequest:
        request = StoredRequest(
            request_id,
            kind,
            subject,
            RequestState.PENDING,
            at(received),
            at(received + 3600),
            None,
            b"sealed",
            at(received),
            requested_by,
        )
        with store.write() as tx:
            tx.insert_request(request, steps, StepState.PENDING)
        return request

    def test_a_request_and_its_steps_read_back_as_written_steps_in_order(
        self, store: StepStore, subject: str
    ) -> None:
        written = self.submit(store, subject)
        assert store.request("r1") == written
        assert store.request("nope") is None
        steps = store.steps("r1")
        assert [s.name for s in steps] == ["b", "a", "c"]
        first = steps[0]
        assert first.state is StepState.PENDING and first.attempts == 0
        assert first.next_attempt_at == at(0) and first.lease_owner is None
        assert first.sealed is None and dict(first.details) == {} and first.result is None

    def test_who_asked_for_a_request_reads_back_as_written(
        self, store: StepStore, subject: str
    ) -> None:
        self.submit(store, subject, "r1")
        self.submit(store, subject, "r2", received=1, requested_by=THE_VAULT)
        assert store.request("r1").requested_by == ASKER  # type: ignore[union-attr]
        assert store.request("r2").requested_by == THE_VAULT  # type: ignore[union-attr]
        page = store.requests_page("test", None, 10, None)
        assert {r.request_id: r.requested_by for r in page} == {"r1": ASKER, "r2": THE_VAULT}

    def test_a_request_about_no_one_person_has_an_empty_subject(
        self, store: StepStore, subject: str
    ) -> None:
        written = self.submit(store, "", "sweep", kind="sweep", steps=("records",))
        self.submit(store, subject, "r1", kind="sweep", received=1)
        assert store.request("sweep") == written and written.subject_id == ""
        assert [r.request_id for r in store.requests_page("sweep", None, 10, None)] == [
            "r1",
            "sweep",
        ]
        assert store.latest_request("sweep", "").request_id == "sweep"  # type: ignore[union-attr]
        assert store.latest_request("sweep", subject).request_id == "r1"  # type: ignore[union-attr]
        with store.write() as tx:
            step = claim(tx, "w1", at(0), at(60), kinds=("sweep",))
            assert step is not None and step.request_id == "sweep"

    def test_claim_takes_the_step_due_first_under_a_lease_due_again_when_it_ends(
        self, store: StepStore, subject: str
    ) -> None:
        self.submit(store, subject)
        with store.write() as tx:
            step = claim(tx, "w1", at(1), at(61))
        assert step is not None and step.state is StepState.RUNNING
        assert step.lease_owner == "w1" and step.lease_until == at(61)
        assert step.next_attempt_at == at(61) and step.updated_at == at(1)
        # The store moves the step alone: the request's state is the engine's to set.
        assert store.request("r1").state is RequestState.PENDING  # type: ignore[union-attr]
        with store.write() as tx:
            others = [claim(tx, "w2", at(1), at(61)) for _ in range(3)]
        assert sorted(s.name for s in others if s) == sorted({"a", "b", "c"} - {step.name})
        assert others[-1] is None
        # A running step whose lease ran out is claimed again.
        with store.write() as tx:
            again = claim(tx, "w3", at(62), at(122))
        assert again is not None and again.lease_owner == "w3"

    def test_a_step_not_yet_due_is_not_claimed_and_next_due_says_when(
        self, store: StepStore, subject: str
    ) -> None:
        self.submit(store, subject, steps=("only",))
        with store.write() as tx:
            step = claim(tx, "w1", at(0), at(60))
            assert step is not None
            assert tx.finish_step(
                "r1", "only", "w1", StepState.RETRYING, 1, at(30), "down", None, at(0)
            )
        assert store.next_due_at({"test"}, OPEN) == at(30)
        with store.write() as tx:
            assert claim(tx, "w1", at(29), at(89)) is None
            assert claim(tx, "w1", at(30), at(90)) is not None
        assert store.next_due_at({"test"}, OPEN) == at(90)  # the running one's lease end
        assert store.next_due_at({"test"}, WAITING) is None
        assert store.next_due_at({"another"}, OPEN) is None

    def test_only_steps_of_the_kinds_given_are_claimed_or_due(
        self, store: StepStore, subject: str
    ) -> None:
        self.submit(store, subject, "r1", kind="test", steps=("a",))
        self.submit(store, subject, "r2", kind="another", received=5, steps=("b",))
        assert store.next_due_at({"another"}, OPEN) == at(5)
        assert store.next_due_at({"test", "another"}, OPEN) == at(0)
        assert store.next_due_at(set(), OPEN) is None
        with store.write() as tx:
            assert claim(tx, "w1", at(9), at(69), kinds=()) is None
            other = claim(tx, "w1", at(9), at(69), kinds=("another",))
            assert other is not None and (other.request_id, other.name) == ("r2", "b")
            assert claim(tx, "w1", at(9), at(69), kinds=("another",)) is None
            mine = claim(tx, "w2", at(9), at(69), kinds=("test", "another"))
            assert mine is not None and (mine.request_id, mine.name) == ("r1", "a")

    def test_a_claim_takes_only_steps_in_the_states_given(
        self, store: StepStore, subject: str
    ) -> None:
        self.submit(store, subject, steps=("a",))
        with store.write() as tx:
            assert (
                tx.claim_step({"test"}, {StepState.RETRYING}, StepState.RUNNING, "w", at(1), at(2))
                is None
            )
            taken = tx.claim_step(
                {"test"}, {StepState.PENDING}, StepState.RETRYING, "w", at(1), at(2)
            )
        assert taken is not None and taken.state is StepState.RETRYING  # as the engine said

    def test_only_the_lease_holder_finishes_and_a_missing_result_keeps_the_last(
        self, store: StepStore, subject: str
    ) -> None:
        self.submit(store, subject, steps=("only",))
        with store.write() as tx:
            claim(tx, "w1", at(0), at(60))
            assert not tx.finish_step(
                "r1", "only", "w2", StepState.SUCCEEDED, 1, at(1), None, "[]", at(1)
            )
            assert tx.finish_step(
                "r1", "only", "w1", StepState.SUCCEEDED, 1, at(1), None, '["x"]', at(1)
            )
            assert not tx.finish_step(
                "r1", "only", "w1", StepState.SUCCEEDED, 1, at(1), None, "[]", at(1)
            )
        (step,) = store.steps("r1")
        assert (
            step.state is StepState.SUCCEEDED
            and step.result == '["x"]'
            and step.lease_owner is None
        )
        with store.write() as tx:
            tx.set_step("r1", "only", StepState.PENDING, 0, at(2), None, {}, at(2))
            claim(tx, "w1", at(2), at(62))
            tx.finish_step(
                "r1", "only", "w1", StepState.NEEDS_ATTENTION, 1, at(3), "why", None, at(3)
            )
        (step,) = store.steps("r1")
        assert step.result == '["x"]' and step.last_error == "why"

    def test_start_takes_only_a_step_in_the_states_given(
        self, store: StepStore, subject: str
    ) -> None:
        self.submit(store, subject, steps=("a", "b"))
        with store.write() as tx:
            started = start(tx, "r1", "a", "w1", at(0))
            assert started is not None and started.state is StepState.RUNNING
            assert started.lease_owner == "w1" and started.lease_until == at(60)
            assert start(tx, "r1", "a", "w2", at(0)) is None  # running already
            assert start(tx, "r1", "zz", "w2", at(0)) is None
            # Whenever it is due: a step is taken at once when the engine says so.
            assert tx.finish_step("r1", "a", "w1", StepState.RETRYING, 1, at(30), "x", None, at(1))
            assert start(tx, "r1", "a", "w3", at(2)) is not None
            assert (
                tx.start_step("r1", "b", OPEN - WAITING, StepState.RUNNING, "w4", at(2), at(9))
                is None
            )

    def test_a_running_step_keeps_its_state_only_under_its_own_lease(
        self, store: StepStore, subject: str
    ) -> None:
        self.submit(store, subject, steps=("a",))
        details = {"conflict": {"texts": ["t"], "kinds": ["email"]}, "notes": ["n"]}
        with store.write() as tx:
            assert not tx.keep_step_state("r1", "a", "w1", b"refs", details)  # not running
            claim(tx, "w1", at(0), at(60))
            assert not tx.keep_step_state("r1", "a", "w2", b"refs", details)
            assert tx.keep_step_state("r1", "a", "w1", b"refs", details)
        (step,) = store.steps("r1")
        assert step.sealed == b"refs" and dict(step.details) == details

    def test_set_step_writes_the_state_attempts_and_due_time_given(
        self, store: StepStore, subject: str
    ) -> None:
        self.submit(store, subject, steps=("a",))
        with store.write() as tx:
            claim(tx, "w1", at(0), at(60))
            tx.finish_step("r1", "a", "w1", StepState.NEEDS_ATTENTION, 4, at(1), "x", None, at(1))
            tx.set_step(
                "r1", "a", StepState.NOT_APPLICABLE, 0, at(5), b"s", {"decision": "d"}, at(4)
            )
        (step,) = store.steps("r1")
        assert step.state is StepState.NOT_APPLICABLE and step.attempts == 0
        assert step.next_attempt_at == at(5) and step.sealed == b"s"
        assert step.updated_at == at(4) and dict(step.details) == {"decision": "d"}
        with store.write() as tx:
            tx.set_step("r1", "a", StepState.RETRYING, 2, at(9), None, {}, at(6))
        (step,) = store.steps("r1")
        assert step.state is StepState.RETRYING and step.attempts == 2
        assert step.next_attempt_at == at(9) and step.sealed is None and dict(step.details) == {}

    def test_set_step_ends_any_lease_so_its_old_holder_cannot_finish_it(
        self, store: StepStore, subject: str
    ) -> None:
        self.submit(store, subject, steps=("a",))
        with store.write() as tx:
            claim(tx, "w1", at(0), at(60))
            tx.set_step("r1", "a", StepState.PENDING, 0, at(1), None, {}, at(1))
            assert not tx.finish_step(
                "r1", "a", "w1", StepState.SUCCEEDED, 1, at(2), None, "[]", at(2)
            )
            assert not tx.keep_step_state("r1", "a", "w1", b"refs", {})
        (step,) = store.steps("r1")
        assert step.state is StepState.PENDING and step.lease_owner is None

    def test_leases_of_running_steps_can_be_released_by_their_holder(
        self, store: StepStore, subject: str
    ) -> None:
        self.submit(store, subject, steps=("a", "b"))
        with store.write() as tx:
            claim(tx, "dead", at(0), at(600))
        running = store.write()
        with running as tx:
            (step,) = tx.steps_in_state(StepState.RUNNING)
            assert step.lease_owner == "dead"
            assert sorted(s.name for s in tx.steps_in_state(StepState.PENDING)) == sorted(
                {"a", "b"} - {step.name}
            )
            assert not tx.release_lease(
                "r1", step.name, "someone-else", StepState.RETRYING, at(1), at(1)
            )
            assert tx.release_lease("r1", step.name, "dead", StepState.RETRYING, at(2), at(1))
            assert tx.steps_in_state(StepState.RUNNING) == []
            # Released, it has no holder: a second release finds none.
            assert not tx.release_lease("r1", step.name, "dead", StepState.PENDING, at(3), at(3))
        released = next(s for s in store.steps("r1") if s.name == step.name)
        assert released.state is StepState.RETRYING and released.next_attempt_at == at(2)
        assert released.lease_owner is None and released.lease_until is None
        assert released.updated_at == at(1)

    def test_an_action_is_kept_once_and_confirmed_once(
        self, store: StepStore, subject: str
    ) -> None:
        self.submit(store, subject)
        action = StoredAction("x1", "r1", "a", "membership", "remove", b"how", at(1), None, None)
        with store.write() as tx:
            tx.insert_action(action)
            tx.insert_action(action)  # a re-run step reports it again
        assert store.actions("r1") == [action] and store.action("x1") == action
        assert store.action("nope") is None
        with store.write() as tx:
            assert tx.confirm_action("x1", "admin", at(2))
            assert not tx.confirm_action("x1", "someone else", at(3))
        confirmed = store.action("x1")
        assert confirmed is not None
        assert confirmed.confirmed_by == "admin" and confirmed.confirmed_at == at(2)

    def test_request_state_and_completion_time(self, store: StepStore, subject: str) -> None:
        self.submit(store, subject)
        with store.write() as tx:
            tx.set_request_state("r1", RequestState.COMPLETED, at(5), completed=True)
            tx.set_request_state("r1", RequestState.COMPLETED, at(9), completed=True)
        request = store.request("r1")
        assert request is not None and request.completed_at == at(5) and request.updated_at == at(9)
        with store.write() as tx:
            tx.set_request_state("r1", RequestState.IN_PROGRESS, at(10), completed=False)
        assert store.request("r1").completed_at is None  # type: ignore[union-attr]

    def test_forgetting_secrets_leaves_no_sealed_bytes(
        self, store: StepStore, subject: str
    ) -> None:
        self.submit(store, subject, steps=("a",))
        with store.write() as tx:
            claim(tx, "w1", at(0), at(60))
            tx.keep_step_state("r1", "a", "w1", b"refs", {"notes": ["n"]})
            tx.insert_action(StoredAction("x1", "r1", "a", "c", "d", b"how", at(1), None, None))
            tx.forget_secrets("r1")
        assert store.request("r1").sealed_payload is None  # type: ignore[union-attr]
        (step,) = store.steps("r1")
        assert step.sealed is None and dict(step.details) == {"notes": ["n"]}
        assert store.actions("r1")[0].sealed_instructions is None

    def test_pages_are_newest_first_per_kind_filtered_by_state(
        self, store: StepStore, subject: str
    ) -> None:
        for n in range(5):
            self.submit(store, subject, request_id=f"r{n}", received=n)
        self.submit(store, subject, request_id="other", kind="another", received=9)
        with store.write() as tx:
            tx.set_request_state("r3", RequestState.COMPLETED, at(20), completed=True)
        page = store.requests_page("test", None, 2, None)
        assert [r.request_id for r in page] == ["r4", "r3"]
        rest = store.requests_page("test", (page[-1].received_at, page[-1].request_id), 10, None)
        assert [r.request_id for r in rest] == ["r2", "r1", "r0"]
        done = store.requests_page("test", None, 10, RequestState.COMPLETED)
        assert [r.request_id for r in done] == ["r3"]
        assert store.latest_request("test", subject).request_id == "r4"  # type: ignore[union-attr]
        assert store.latest_request("another", subject).request_id == "other"  # type: ignore[union-attr]
        assert store.latest_request("none", subject) is None

    def test_nothing_is_written_when_the_transaction_fails(
        self, store: StepStore, subject: str
    ) -> None:
        with pytest.raises(RuntimeError), store.write() as tx:
            tx.insert_request(
                StoredRequest(
                    "r9",
                    "test",
                    subject,
                    RequestState.PENDING,
                    at(0),
                    at(1),
                    None,
                    None,
                    at(0),
                    ASKER,
                ),
                ["a"],
                StepState.PENDING,
            )
            raise RuntimeError("the caller changed its mind")
        assert store.request("r9") is None and store.steps("r9") == []

    def test_requests_still_holding_secrets_are_found_by_state(
        self, store: StepStore, subject: str
    ) -> None:
        self.submit(store, subject, request_id="kept")
        self.submit(store, subject, request_id="forgotten")
        with store.write() as tx:
            tx.set_request_state("kept", RequestState.COMPLETED, at(1), completed=True)
            tx.set_request_state("forgotten", RequestState.COMPLETED, at(1), completed=True)
            tx.forget_secrets("forgotten")
        found = store.requests_holding_secrets(RequestState.COMPLETED)
        assert [r.request_id for r in found] == ["kept"]
        assert store.requests_holding_secrets(RequestState.PENDING) == []

    # ------------------------------------------------- several store objects
    def test_workers_on_two_stores_claiming_at_once_take_every_step_exactly_once(
        self, store: StepStore, other_store: StepStore, subject: str
    ) -> None:
        names = ("a", "b", "c", "d", "e")
        for n in range(8):
            self.submit(store, subject, f"r{n}", received=n / 10, steps=names)
        every_step = {(f"r{n}", name) for n in range(8) for name in names}

        def worker(on: StepStore, owner: str) -> list[tuple[str, str, str]]:
            taken: list[tuple[str, str, str]] = []
            empty = 0
            for _ in range(len(every_step) + 50):  # bounded: no claim repeats forever
                with on.write() as tx:
                    step = claim(tx, owner, at(1), at(61))
                if step is None:
                    # A claim may pass steps other claims hold at this moment
                    # (claim_step's contract): ask again while any is still due.
                    due = on.next_due_at(("test",), OPEN)
                    empty += 1
                    if due is None or due > at(1) or empty > 40:
                        return taken
                    continue
                assert step.lease_owner == owner
                taken.append((step.request_id, step.name, owner))
            raise AssertionError(f"{owner} claimed more steps than there are")

        on = itertools.cycle((store, other_store))
        workers = [functools.partial(worker, next(on), f"w{n}") for n in range(8)]
        claims = [c for taken in race(workers) for c in taken]
        assert sorted((r, name) for r, name, _ in claims) == sorted(every_step)
        holders = {(r, name): owner for r, name, owner in claims}
        for view in (store, other_store):
            for n in range(8):
                for step in view.steps(f"r{n}"):
                    assert step.state is StepState.RUNNING
                    assert step.lease_owner == holders[(step.request_id, step.name)]
        # While their leases last, no store hands any of them out again.
        for view in (store, other_store):
            with view.write() as tx:
                assert claim(tx, "late", at(60), at(120)) is None

    def test_of_finishes_racing_from_two_stores_only_the_lease_holders_first_counts(
        self, store: StepStore, other_store: StepStore, subject: str
    ) -> None:
        names = tuple(f"s{n}" for n in range(10))
        self.submit(store, subject, steps=names)
        holders: dict[str, str] = {}
        with store.write() as tx:
            for n in range(len(names)):
                step = claim(tx, f"holder{n}", at(0), at(60))
                assert step is not None
                holders[step.name] = f"holder{n}"

        def finish(on: StepStore, name: str, owner: str, result: str) -> tuple[bool, str, str]:
            with on.write() as tx:
                won = tx.finish_step(
                    "r1", name, owner, StepState.SUCCEEDED, 1, at(2), None, result, at(2)
                )
            return won, owner, result

        for name, holder in holders.items():
            # The holder twice (a duplicated attempt) and a stranger, through both stores.
            outcomes = race(
                [
                    functools.partial(finish, store, name, holder, "holder here"),
                    functools.partial(finish, other_store, name, holder, "holder there"),
                    functools.partial(finish, store, name, "stranger", "stranger here"),
                    functools.partial(finish, other_store, name, "stranger", "stranger there"),
                ]
            )
            winners = [(owner, result) for won, owner, result in outcomes if won]
            assert len(winners) == 1 and winners[0][0] == holder, name
            for view in (store, other_store):
                (step,) = [s for s in view.steps("r1") if s.name == name]
                assert step.state is StepState.SUCCEEDED and step.lease_owner is None
                assert step.result == winners[0][1] and step.attempts == 1

    @staticmethod
    def finish_late(on: StepStore, request_id: str) -> bool:
        with on.write() as tx:
            return tx.finish_step(
                request_id, "only", "old", StepState.SUCCEEDED, 1, at(61), None, "[]", at(61)
            )

    @staticmethod
    def take_over(on: StepStore) -> StoredStep | None:
        with on.write() as tx:
            return claim(tx, "new", at(61), at(121))

    def test_a_late_finish_racing_a_claim_of_its_ended_lease_one_of_them_wins(
        self, store: StepStore, other_store: StepStore, subject: str
    ) -> None:
        for n in range(10):
            self.submit(store, subject, f"r{n}", steps=("only",))
            with store.write() as tx:
                old = claim(tx, "old", at(0), at(60))
            assert old is not None and old.request_id == f"r{n}"

            finished, taken = race(
                [
                    functools.partial(self.finish_late, store, f"r{n}"),
                    functools.partial(self.take_over, other_store),
                ]
            )
            # The old holder finished in time, or the new one took the step: never both.
            assert finished != (taken is not None), (n, finished, taken)
            (step,) = other_store.steps(f"r{n}")
            if finished:
                assert step.state is StepState.SUCCEEDED and step.lease_owner is None
            else:
                assert taken is not None and taken.request_id == f"r{n}"
                assert step.state is StepState.RUNNING and step.lease_owner == "new"
