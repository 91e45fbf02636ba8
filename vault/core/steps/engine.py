"""The durable step engine: requests whose steps run under leases until they rest.

A request and all its steps are committed before anything is done. Workers
claim due steps under leases, so a crashed worker's step is taken over once
its lease runs out. A failure is retried with exponential backoff and jitter,
kept as a next-attempt time so retries survive restarts; a step that cannot
succeed without a person moves to needs attention with the reason. The
request's state is always derived from its steps and its manual actions.

What a step does is its request kind's business (`StepKind`); an erasure is
one kind, and consent withdrawals, retention sweeps and rights requests are
meant to be others.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from vault.core import faults
from vault.core.clock import Clock
from vault.core.steps.model import (
    OPEN,
    RESTING,
    WAITING,
    EngineSettings,
    RequestState,
    StepState,
    StoredAction,
    StoredRequest,
    StoredStep,
)
from vault.core.steps.store import StepStore, StepWrites

log = logging.getLogger("vault.steps")
# The retry delays' jitter, from a generator of the engine's own: drawing from
# the module's shared one would move the sequence every other user of it sees
# (a seeded test, a property-based test's generator) from another thread.
_JITTER = random.Random()

View = TypeVar("View")


@dataclass(frozen=True)
class StepReport:
    """What a step did: its report (JSON, no personal data) and the actions it
    leaves for a person."""

    result: str
    actions: Sequence[StoredAction] = ()


class StepKind(Protocol):
    """What one kind of request does at each of its steps."""

    def perform(self, step: StoredStep, request: StoredRequest) -> StepReport:
        """Do the step (it may be a re-run: do it so that twice is as once). Raise to fail it."""
        ...

    def needs_person(self, error: Exception) -> bool:
        """True when retrying will not help: the step moves to needs attention at once."""
        ...

    def expected(self, error: Exception) -> bool:
        """True for failures that are part of the job (a system down): logged without a traceback."""
        ...

    def retried(self, step: StoredStep) -> tuple[bytes | None, Mapping[str, Any]]:
        """What a step that needed attention keeps when a person sends it round again."""
        ...

    def completed(self, request: StoredRequest) -> None:
        """The request completed: its secrets are about to be forgotten."""
        ...


class StepEngine:
    def __init__(
        self,
        store: StepStore,
        clock: Clock,
        settings: EngineSettings | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings or EngineSettings()
        self.kinds: dict[str, StepKind] = {}
        self.owner = f"{_this_host()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.work_available = threading.Event()
        # Notified whenever this process changes a request, so watchers wake at
        # once; changes by other processes are seen by polling.
        self._changed = threading.Condition()
        self._sweep_lock = threading.Lock()
        self._next_sweep = 0.0  # monotonic; the first idle pass sweeps

    def register(self, kind: str, steps: StepKind) -> None:
        """This process runs requests of `kind`: it claims their steps, and only theirs."""
        self.kinds[kind] = steps

    # -------------------------------------------------------------- intake
    def submit(self, tx: StepWrites, request: StoredRequest, steps: Sequence[str]) -> None:
        """Commit a new request and its steps within the caller's transaction."""
        if request.kind not in self.kinds:
            raise ValueError(f"no step kind {request.kind!r} is registered")
        tx.insert_request(request, steps, StepState.PENDING)

    def accepted(self) -> None:
        """A request was committed: wake the workers."""
        self._notify()
        self.work_available.set()

    # -------------------------------------------------------------- running
    def run_pending(self, limit: int | None = None) -> int:
        """Claim and run due steps until none is due (or `limit` ran); returns how many ran."""
        ran = 0
        while limit is None or ran < limit:
            now = self.clock.now()
            with self.store.write() as tx:
                step = tx.claim_step(
                    self.kinds.keys(),
                    OPEN,
                    StepState.RUNNING,
                    self._claimant(),
                    now,
                    self._lease_end(now),
                )
                if step is not None:
                    self._started(tx, step.request_id, now)
            if step is None:
                self._sweep_completed()
                return ran
            self._notify()
            self._execute(step)
            ran += 1
        return ran

    # How often an idle worker looks for completed requests that kept secrets.
    SWEEP_SECONDS = 30.0

    def _sweep_completed(self) -> None:
        """Completed requests whose secrets outlived them (forgetting failed after the
        completion committed: a lost connection, a crash in another process) lose
        them at the next sweep, not only when some process starts. One indexed
        query (the requests still holding secrets) every SWEEP_SECONDS at most."""
        now = time.monotonic()
        with self._sweep_lock:
            if now < self._next_sweep:
                return
            self._next_sweep = now + self.SWEEP_SECONDS
        for request in self.store.requests_holding_secrets(RequestState.COMPLETED):
            self.end_if_completed(request.request_id)

    def run_step(self, request_id: str, name: str) -> None:
        """Claim one particular step now, if it is still waiting."""
        now = self.clock.now()
        with self.store.write() as tx:
            step = tx.start_step(
                request_id,
                name,
                WAITING,
                StepState.RUNNING,
                self._claimant(),
                now,
                self._lease_end(now),
            )
            if step is not None:
                self._started(tx, request_id, now)
        if step is not None:
            self._notify()
            self._execute(step)

    def _started(self, tx: StepWrites, request_id: str, now: dt.datetime) -> None:
        """A step of the request now runs: a pending request is in progress."""
        request = tx.request(request_id)
        if request is not None and request.state is RequestState.PENDING:
            tx.set_request_state(request_id, RequestState.IN_PROGRESS, now, completed=False)

    def seconds_until_due(self) -> float | None:
        """Until a step of a kind this process runs is due; None when none is open."""
        due = self.store.next_due_at(self.kinds.keys(), OPEN)
        if due is None:
            return None
        return max(0.0, (due - self.clock.now()).total_seconds())

    def release_orphaned_leases(self) -> int:
        """Steps a crashed process on this host was running go back in the queue at once,
        rather than waiting for their leases to run out. Leases of live processes, and of
        other hosts, are left to expire."""
        host = _this_host()
        released = 0
        with self.store.write() as tx:
            for step in tx.steps_in_state(StepState.RUNNING):
                owner_host, _, rest = (step.lease_owner or "").partition(":")
                pid = rest.partition(":")[0]
                if owner_host == host and pid.isdigit() and not _process_alive(int(pid)):
                    now = self.clock.now()
                    released += tx.release_lease(
                        step.request_id,
                        step.name,
                        step.lease_owner or "",
                        StepState.RETRYING,
                        now,
                        now,
                    )
        if released:
            self.work_available.set()
        return released

    def recover(self) -> None:
        """At start: steps a crashed process held go back in the queue, and requests
        that completed just before a crash lose the secrets they still hold."""
        self.release_orphaned_leases()
        self._next_sweep = 0.0
        self._sweep_completed()

    def _claimant(self) -> str:
        """A lease holder's name for one claim: the process, and this claim alone, so
        an attempt that outlived its lease cannot finish a later attempt of the same
        process's (the host and pid come first: `release_orphaned_leases` reads them)."""
        return f"{self.owner}:{secrets.token_hex(4)}"

    def _lease_end(self, now: dt.datetime) -> dt.datetime:
        return now + dt.timedelta(seconds=self.settings.lease_seconds)

    def _execute(self, step: StoredStep) -> None:
        request = self.store.request(step.request_id)
        assert request is not None
        kind = self.kinds.get(request.kind)
        attempts = step.attempts + 1
        # A guard: claims take only this process's kinds, but one particular step
        # (run_step) may be of a kind this process does not run.
        if kind is None:
            reason = f"no step kind {request.kind!r} is registered in this process"
            self._finish_failed(step, attempts, StepState.NEEDS_ATTENTION, self.clock.now(), reason)
            return
        try:
            report = kind.perform(step, request)
        except Exception as error:  # every failure is recorded on the step, never lost
            self._record_failure(kind, step, attempts, error)
            return
        self._record_success(step, attempts, report)

    def _record_success(self, step: StoredStep, attempts: int, report: StepReport) -> None:
        now = self.clock.now()
        with self.store.write() as tx:
            if not tx.finish_step(
                step.request_id,
                step.name,
                step.lease_owner or self.owner,
                StepState.SUCCEEDED,
                attempts,
                now,
                None,
                report.result,
                now,
            ):
                return  # our lease was taken over; the other attempt's result counts
            for action in report.actions:
                tx.insert_action(action)
            self.settle(tx, step.request_id)
        self._notify()
        faults.crash_point("step_recorded")
        self.end_if_completed(step.request_id)

    def _record_failure(
        self, kind: StepKind, step: StoredStep, attempts: int, error: Exception
    ) -> None:
        now = self.clock.now()
        reason = describe(error)
        if kind.needs_person(error) or attempts >= self.settings.max_attempts:
            state, next_at = StepState.NEEDS_ATTENTION, now
            if not kind.needs_person(error):
                reason = f"gave up after {attempts} attempts; last: {reason}"
        else:
            # Exponential backoff with jitter, kept as a time so it survives restarts.
            delay = min(
                self.settings.backoff_cap_seconds,
                self.settings.backoff_base_seconds * 2 ** (attempts - 1),
            )
            state = StepState.RETRYING
            next_at = now + dt.timedelta(seconds=delay * _JITTER.uniform(0.5, 1.0))
        if not kind.expected(error):
            log.warning("step %s/%s failed: %s", step.request_id, step.name, reason, exc_info=error)
        self._finish_failed(step, attempts, state, next_at, reason)

    def _finish_failed(
        self, step: StoredStep, attempts: int, state: StepState, next_at: dt.datetime, reason: str
    ) -> None:
        now = self.clock.now()
        with self.store.write() as tx:
            if tx.finish_step(
                step.request_id,
                step.name,
                step.lease_owner or self.owner,
                state,
                attempts,
                next_at,
                reason,
                None,
                now,
            ):
                self.settle(tx, step.request_id)
        self._notify()
        self.work_available.set()

    # ------------------------------------------------------------- settling
    def settle(self, tx: StepWrites, request_id: str) -> RequestState:
        """Derive the request's state from its steps and manual actions."""
        steps = tx.steps(request_id)
        if any(s.state in OPEN for s in steps):
            state = RequestState.IN_PROGRESS
        elif any(s.state is StepState.NEEDS_ATTENTION for s in steps):
            state = RequestState.PARTIALLY_COMPLETED
        elif any(a.confirmed_at is None for a in tx.actions(request_id)):
            state = RequestState.AWAITING_MANUAL_ACTION
        else:
            state = RequestState.COMPLETED
        tx.set_request_state(
            request_id, state, self.clock.now(), completed=state is RequestState.COMPLETED
        )
        return state

    def end_if_completed(self, request_id: str) -> None:
        """A completed request's secrets go: what its steps needed is unreadable after."""
        request = self.store.request(request_id)
        if (
            request is not None
            and request.state is RequestState.COMPLETED
            and request.sealed_payload is not None
        ):
            self.kinds[request.kind].completed(request)
            with self.store.write() as tx:
                tx.forget_secrets(request_id)
            self._notify()

    def retry(self, tx: StepWrites, request_id: str) -> int:
        """Send the request's steps that need attention round again; how many went."""
        request = tx.request(request_id)
        assert request is not None
        kind = self.kinds[request.kind]
        count = 0
        for step in tx.steps(request_id):
            if step.state is StepState.NEEDS_ATTENTION:
                sealed, details = kind.retried(step)
                self.move_step(tx, request_id, step.name, StepState.PENDING, sealed, details)
                count += 1
        if count:
            tx.set_request_state(
                request_id, RequestState.IN_PROGRESS, self.clock.now(), completed=False
            )
        return count

    def move_step(
        self,
        tx: StepWrites,
        request_id: str,
        name: str,
        state: StepState,
        sealed: bytes | None,
        details: Mapping[str, Any],
    ) -> None:
        """A person moved a step no worker holds (a retry, a decision): its attempts
        start again from nought and it is due at once."""
        now = self.clock.now()
        tx.set_step(request_id, name, state, 0, now, sealed, details, now)

    def changed(self) -> None:
        """Someone changed a request outside the engine's own steps (a decision)."""
        self._notify()
        self.work_available.set()

    # -------------------------------------------------------------- watching
    def watch(
        self,
        request_id: str,
        view: Callable[[str], View],
        state_of: Callable[[View], RequestState],
        poll_seconds: float = 0.5,
        stop: threading.Event | None = None,
    ) -> Iterator[View]:
        """The request now, then each time it changes, until it rests (or `stop`).

        Wakes at once on changes made in this process; changes made by another
        process are seen at the next poll.
        """
        last = None
        while True:
            # Read outside the lock: the workers' notifications never wait behind it.
            current = view(request_id)
            if current == last and state_of(current) not in RESTING:
                with self._changed:
                    if stop is not None and stop.is_set():
                        return
                    self._changed.wait(poll_seconds)
                continue
            yield current
            last = current
            if state_of(current) in RESTING or (stop is not None and stop.is_set()):
                return

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()


def describe(error: Exception) -> str:
    """A failure as a short line for people; exception text from connectors is theirs
    to keep free of personal data, and is cut short."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    # A NUL is no character of any text a person reads, and some stores refuse it.
    text = text.replace("\x00", "")
    return f"{type(error).__name__}: {text[:300]}" if text else type(error).__name__


def _this_host() -> str:
    """Where a pid means one process: the host name and the pid namespace. Two
    containers on one host name (host networking) have pid namespaces of their
    own, and each would take the other's live pids for dead ones."""
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:  # no /proc (not Linux): the host name alone
        return socket.gethostname()
    return f"{socket.gethostname()}/{namespace}"


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
