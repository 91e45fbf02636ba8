"""The step engine with a kind of request other than erasure: intake, leases,
retries with backoff, needs attention, a person's retry, completion, watching,
and a kill -9 in the middle of a step."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import START
from tests.steps_kind import Notices, add_subject, notice
from vault.core.clock import FixedClock
from vault.core.steps import OPEN, EngineSettings, RequestState, StepEngine, StepState
from vault.storage.sqlite import SQLiteRecordStore


@pytest.fixture
def records(tmp_path: Path):  # type: ignore[no-untyped-def]
    store = SQLiteRecordStore(tmp_path / "records.db")
    yield store
    store.close()


def engine_for(records: SQLiteRecordStore, kind: Notices, clock: FixedClock) -> StepEngine:
    engine = StepEngine(
        records.steps,
        clock,
        EngineSettings(
            lease_seconds=30, max_attempts=3, backoff_base_seconds=1, backoff_cap_seconds=4
        ),
    )
    engine.register("notice", kind)
    return engine


def submit(engine: StepEngine, records: SQLiteRecordStore, clock: FixedClock, *steps: str) -> None:
    subject = add_subject(records)
    with records.steps.write() as tx:
        engine.submit(tx, notice("n1", subject, clock.now()), list(steps))
    engine.accepted()


def test_a_notice_runs_every_step_once_and_completes(records, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    clock = FixedClock(START)
    kind = Notices(tmp_path)
    engine = engine_for(records, kind, clock)
    submit(engine, records, clock, "lms", "salon")
    assert records.steps.request("n1").state is RequestState.PENDING  # type: ignore[union-attr]
    assert engine.run_pending() == 2
    request = records.steps.request("n1")
    assert request is not None and request.state is RequestState.COMPLETED
    assert request.completed_at == START and request.sealed_payload is None  # secrets forgotten
    assert kind.completed_requests == ["n1"]
    assert (tmp_path / "lms.log").read_text() == "n1\n"
    assert [s.result for s in records.steps.steps("n1")] == ['["sent to lms"]', '["sent to salon"]']


def test_failures_are_retried_with_backoff_until_they_give_up(records, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    clock = FixedClock(START)
    engine = engine_for(records, Notices(tmp_path, fail={"lms": 5}), clock)
    submit(engine, records, clock, "lms")
    engine.run_pending()
    (step,) = records.steps.steps("n1")
    assert step.state is StepState.RETRYING and step.attempts == 1
    assert START < step.next_attempt_at <= START + dt.timedelta(seconds=1)
    assert engine.run_pending() == 0  # not due yet
    for _ in range(2):
        clock.advance(seconds=5)
        engine.run_pending()
    (step,) = records.steps.steps("n1")
    assert step.state is StepState.NEEDS_ATTENTION
    assert (
        step.last_error == "gave up after 3 attempts; last: NoticeFailed: the system did not answer"
    )
    assert records.steps.request("n1").state is RequestState.PARTIALLY_COMPLETED  # type: ignore[union-attr]


def test_a_step_that_needs_a_person_waits_and_a_retry_finishes_it(records, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    clock = FixedClock(START)
    kind = Notices(tmp_path, fail={"lms": -1})
    engine = engine_for(records, kind, clock)
    submit(engine, records, clock, "lms", "salon")
    engine.run_pending()
    states = {s.name: s.state for s in records.steps.steps("n1")}
    assert states == {"lms": StepState.NEEDS_ATTENTION, "salon": StepState.SUCCEEDED}
    assert records.steps.steps("n1")[0].attempts == 1  # at once, no retries
    kind.fail["lms"] = 0  # someone fixed the system
    with records.steps.write() as tx:
        assert engine.retry(tx, "n1") == 1
    assert records.steps.request("n1").state is RequestState.IN_PROGRESS  # type: ignore[union-attr]
    engine.run_pending()
    assert records.steps.request("n1").state is RequestState.COMPLETED  # type: ignore[union-attr]
    with records.steps.write() as tx:
        assert engine.retry(tx, "n1") == 0


def test_watch_yields_each_change_until_the_request_rests(records, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    clock = FixedClock(START)
    engine = engine_for(records, Notices(tmp_path), clock)
    submit(engine, records, clock, "lms")
    seen = []

    def view(request_id: str) -> RequestState:
        request = records.steps.request(request_id)
        assert request is not None
        return request.state

    watching = engine.watch("n1", view, lambda state: state, poll_seconds=0.05)
    seen.append(next(watching))
    engine.run_pending()
    seen += list(watching)
    assert seen == [RequestState.PENDING, RequestState.COMPLETED]


def test_an_unknown_kind_is_refused_before_anything_is_written(records, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    clock = FixedClock(START)
    engine = engine_for(records, Notices(tmp_path), clock)
    subject = add_subject(records)
    request = notice("n2", subject, clock.now())
    with pytest.raises(ValueError), records.steps.write() as tx:
        engine.submit(
            tx,
            type(request)(
                *[*vars(request).values()][:1], "nothing", *[*vars(request).values()][2:]
            ),
            ["a"],
        )
    assert records.steps.request("n2") is None


@pytest.mark.slow
def test_a_kill_in_the_middle_of_a_step_is_finished_after_restart_and_nothing_is_done_twice(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "CONSENT_VAULT_CRASH_AT": "notice_sent"}
    command = [sys.executable, "-m", "tests.steps_kind", str(tmp_path)]
    killed = subprocess.run(
        [*command, "submit"], env=env, capture_output=True, text=True, timeout=60
    )
    assert killed.returncode == -9
    assert (tmp_path / "lms.log").read_text() == "n1\n"  # its effect happened, unrecorded
    env.pop("CONSENT_VAULT_CRASH_AT")
    resumed = subprocess.run(
        [*command, "resume"], env=env, capture_output=True, text=True, timeout=60
    )
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip() == "completed"
    assert (tmp_path / "lms.log").read_text() == "n1\n"  # not sent twice
    assert (tmp_path / "salon.log").read_text() == "n1\n"


def test_a_request_that_completed_just_before_a_crash_loses_its_secrets_at_start(
    records, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    clock = FixedClock(START)
    kind = Notices(tmp_path)
    engine = engine_for(records, kind, clock)
    submit(engine, records, clock, "lms")
    # As if the process died between the completing commit and forgetting the secrets.
    with records.steps.write() as tx:
        tx.set_request_state("n1", RequestState.COMPLETED, clock.now(), completed=True)
    assert records.steps.requests_holding_secrets(RequestState.COMPLETED) != []
    engine.recover()
    assert records.steps.request("n1").sealed_payload is None  # type: ignore[union-attr]
    assert kind.completed_requests == ["n1"]
    assert records.steps.requests_holding_secrets(RequestState.COMPLETED) == []


def test_each_claim_holds_a_lease_of_its_own(records, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    clock = FixedClock(START)
    engine = engine_for(records, Notices(tmp_path), clock)
    submit(engine, records, clock, "lms")
    with records.steps.write() as tx:
        stale = tx.claim_step(
            {"notice"}, OPEN, StepState.RUNNING, engine._claimant(), clock.now(), clock.now()
        )
    assert stale is not None
    clock.advance(seconds=1)
    with records.steps.write() as tx:
        current = tx.claim_step(
            {"notice"}, OPEN, StepState.RUNNING, engine._claimant(), clock.now(), clock.now()
        )
    assert current is not None and current.lease_owner != stale.lease_owner
    # The first attempt of this same process, past its lease, cannot finish the step.
    with records.steps.write() as tx:
        assert not tx.finish_step(
            "n1",
            "lms",
            stale.lease_owner or "",
            StepState.SUCCEEDED,
            1,
            clock.now(),
            None,
            "[]",
            clock.now(),
        )


def test_a_step_of_a_kind_this_process_does_not_run_needs_attention(
    records, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    clock = FixedClock(START)
    engine = engine_for(records, Notices(tmp_path), clock)
    submit(engine, records, clock, "lms")
    other = StepEngine(records.steps, clock, EngineSettings())  # knows no kinds
    # It never claims what it cannot do...
    assert other.run_pending() == 0 and other.seconds_until_due() is None
    (step,) = records.steps.steps("n1")
    assert step.state is StepState.PENDING
    # ...and a step asked for by name needs attention rather than staying running.
    other.run_step("n1", "lms")
    (step,) = records.steps.steps("n1")
    assert step.state is StepState.NEEDS_ATTENTION
    assert step.last_error == "no step kind 'notice' is registered in this process"


def test_a_process_claims_only_the_kinds_registered_with_its_engine(
    records, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    clock = FixedClock(START)
    notices = Notices(tmp_path / "notices")
    (tmp_path / "notices").mkdir()
    engine = engine_for(records, notices, clock)
    submit(engine, records, clock, "lms")
    sweeps = Notices(tmp_path)
    other = StepEngine(records.steps, clock, EngineSettings())
    other.register("sweep", sweeps)
    with records.steps.write() as tx:
        other.submit(tx, replace(notice("w1", "", clock.now()), kind="sweep"), ["records"])
    clock.advance(seconds=1)
    assert other.seconds_until_due() == 0.0
    assert other.run_pending() == 1  # its own, not the notice
    assert records.steps.request("w1").state is RequestState.COMPLETED  # type: ignore[union-attr]
    assert records.steps.steps("n1")[0].state is StepState.PENDING
    assert engine.run_pending() == 1
    assert records.steps.request("n1").state is RequestState.COMPLETED  # type: ignore[union-attr]
    assert sweeps.completed_requests == ["w1"] and notices.completed_requests == ["n1"]


def test_the_engine_moves_a_request_in_progress_when_its_first_step_runs(
    records, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    clock = FixedClock(START)
    engine = engine_for(records, Notices(tmp_path, fail={"lms": 1}), clock)
    submit(engine, records, clock, "lms")
    clock.advance(seconds=2)
    engine.run_step("n1", "lms")
    request = records.steps.request("n1")
    assert request is not None and request.state is RequestState.IN_PROGRESS
    assert request.updated_at == clock.now()
    (step,) = records.steps.steps("n1")
    assert step.state is StepState.RETRYING and step.attempts == 1


def test_a_persons_retry_starts_attempts_again_and_is_due_at_once(records, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    clock = FixedClock(START)
    kind = Notices(tmp_path, fail={"lms": 3})
    engine = engine_for(records, kind, clock)
    submit(engine, records, clock, "lms")
    for _ in range(3):
        engine.run_pending()
        clock.advance(seconds=5)
    (step,) = records.steps.steps("n1")
    assert step.state is StepState.NEEDS_ATTENTION and step.attempts == 3
    with records.steps.write() as tx:
        assert engine.retry(tx, "n1") == 1
    (step,) = records.steps.steps("n1")
    assert step.state is StepState.PENDING and step.attempts == 0
    assert step.next_attempt_at == clock.now()
    assert engine.run_pending() == 1
    assert records.steps.request("n1").state is RequestState.COMPLETED  # type: ignore[union-attr]


def test_an_orphaned_lease_goes_back_in_the_queue_retrying_and_due_at_once(
    records, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    clock = FixedClock(START)
    engine = engine_for(records, Notices(tmp_path), clock)
    submit(engine, records, clock, "lms")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    here = engine.owner.split(":")[0]  # this host and pid namespace, as the engine names it
    owner = f"{here}:{dead.stdout.strip()}:dead:beef"
    with records.steps.write() as tx:
        tx.claim_step(
            {"notice"},
            OPEN,
            StepState.RUNNING,
            owner,
            clock.now(),
            clock.now() + dt.timedelta(hours=1),
        )
    clock.advance(seconds=3)
    assert engine.release_orphaned_leases() == 1
    (step,) = records.steps.steps("n1")
    assert step.state is StepState.RETRYING and step.lease_owner is None
    assert step.next_attempt_at == clock.now()
    assert engine.run_pending() == 1


def test_a_failure_is_described_without_nul_characters() -> None:
    from vault.core.steps.engine import describe

    assert describe(RuntimeError("bad\x00 answer")) == "RuntimeError: bad answer"


def test_a_lease_of_another_pid_namespace_on_this_host_name_is_left_to_expire(
    records, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    clock = FixedClock(START)
    engine = engine_for(records, Notices(tmp_path), clock)
    submit(engine, records, clock, "lms")
    # The host name alone, as a process in another pid namespace under this
    # host name might be named: its pid 999999 means nothing here.
    other = f"{socket.gethostname()}:999999:dead:beef"
    with records.steps.write() as tx:
        tx.claim_step(
            {"notice"},
            OPEN,
            StepState.RUNNING,
            other,
            clock.now(),
            clock.now() + dt.timedelta(hours=1),
        )
    assert engine.release_orphaned_leases() == 0
    (step,) = records.steps.steps("n1")
    assert step.state is StepState.RUNNING and step.lease_owner == other
