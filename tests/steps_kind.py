"""A kind of request other than erasure, for testing the step engine: a "notice" sent
to named systems, each step appending one line to a file of its own.

Run as `python -m tests.steps_kind DATA_DIR submit|resume` to drive the engine in
a process of its own (the kill -9 test); `CONSENT_VAULT_CRASH_AT=notice_sent`
kills it right after a step's effect, before the step is recorded.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vault.core import faults
from vault.core.actor import LOCAL
from vault.core.clock import SystemClock
from vault.core.steps import (
    EngineSettings,
    RequestState,
    StepEngine,
    StepReport,
    StoredRequest,
    StoredStep,
)
from vault.storage.sqlite import SQLiteRecordStore


class NoticeFailed(Exception):
    pass


class NeedsAPerson(Exception):
    pass


class Notices:
    """Each step writes a line to DIR/<step>.log once (a re-run does not write it twice)."""

    def __init__(self, directory: Path, fail: Mapping[str, int] | None = None) -> None:
        self.directory = directory
        self.fail = dict(fail or {})  # step -> how many attempts fail first
        self.completed_requests: list[str] = []

    def perform(self, step: StoredStep, request: StoredRequest) -> StepReport:
        if self.fail.get(step.name, 0) < 0:
            raise NeedsAPerson("the system refused the notice")
        if self.fail.get(step.name, 0) > 0:
            self.fail[step.name] -= 1
            raise NoticeFailed("the system did not answer")
        log = self.directory / f"{step.name}.log"
        lines = log.read_text().splitlines() if log.exists() else []
        if request.request_id not in lines:
            with log.open("a") as out:
                out.write(request.request_id + "\n")
        faults.crash_point("notice_sent")
        return StepReport(f'["sent to {step.name}"]')

    def needs_person(self, error: Exception) -> bool:
        return isinstance(error, NeedsAPerson)

    def expected(self, error: Exception) -> bool:
        return isinstance(error, NoticeFailed | NeedsAPerson)

    def retried(self, step: StoredStep) -> tuple[bytes | None, Mapping[str, Any]]:
        return step.sealed, step.details

    def completed(self, request: StoredRequest) -> None:
        self.completed_requests.append(request.request_id)


def add_subject(records: SQLiteRecordStore, subject_id: str = "s1") -> str:
    conn = sqlite3.connect(records.path)
    with conn:
        conn.execute(
            "INSERT OR IGNORE INTO subjects (subject_id, state, roles, protected_identity, "
            "created_at, updated_at) VALUES (?, 'active', '', 0, '2026-01-01', '2026-01-01')",
            (subject_id,),
        )
    conn.close()
    return subject_id


def notice(request_id: str, subject: str, now: dt.datetime) -> StoredRequest:
    return StoredRequest(
        request_id, "notice", subject, RequestState.PENDING, now, now, None, b"x", now, LOCAL
    )


def main(directory: str, mode: str) -> int:
    data = Path(directory)
    records = SQLiteRecordStore(data / "records.db")
    engine = StepEngine(records.steps, SystemClock(), EngineSettings(lease_seconds=30))
    engine.register("notice", Notices(data))
    if mode == "submit":
        subject = add_subject(records)
        with records.steps.write() as tx:
            engine.submit(tx, notice("n1", subject, SystemClock().now()), ["lms", "salon"])
    else:
        engine.release_orphaned_leases()
    engine.run_pending()
    state = records.steps.request("n1")
    print(state.state.value if state else "missing", flush=True)
    records.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
