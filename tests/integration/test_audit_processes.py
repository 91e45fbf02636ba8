"""Two processes appending to one audit log at once, each running its own
sequencer as a server does: one log, every event in it exactly once, and it
verifies against every head either process signed."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

from vault import bootstrap
from vault.core.audit.events import AuditEvent
from vault.core.clock import FixedClock

EVENTS_EACH = 300

# One process: append events one at a time (as reads' events are), and fold
# the log every few, racing the other process's sequencer for the same size.
WORKER = """
import sys
from pathlib import Path
from vault import bootstrap
from vault.core.actor import Actor, Role
from vault.core.audit.events import Operation

name, data_dir, database, events = sys.argv[1], Path(sys.argv[2]), sys.argv[3] or None, int(sys.argv[4])
vault = bootstrap.open_vault(data_dir, database=database)
actor = Actor(name, Role.INTEGRATOR, system="lms")
sys.stdin.readline()  # both start together
for n in range(events):
    vault.audit.commit(vault.audit.event(actor, Operation.GET_RECORD, detail=f"{name} {n}"))
    if n % 7 == 0:
        vault.sequencer.run_once()
vault.sequencer.run_until_done()
bootstrap.close_vault(vault)
"""


def test_two_processes_append_and_sequence_one_log(
    data_dir: Path, engine: str | None, clock: FixedClock
) -> None:
    # Made once first, so the two processes share its keyring and audit key.
    bootstrap.close_vault(bootstrap.open_vault(data_dir, clock=clock, database=engine))
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, name, str(data_dir), engine or "", str(EVENTS_EACH)],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("first", "second")
    ]
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    for worker in workers:
        _, errors = worker.communicate(timeout=120)
        assert worker.returncode == 0, errors

    vault = bootstrap.open_vault(data_dir, clock=clock, database=engine)
    try:
        store = vault.records.audit
        assert not store.unsequenced(1)
        events = list(store.sequenced())
        assert [event.index for event in events] == list(range(len(events)))
        told = Counter(
            AuditEvent.from_entry(event.entry).detail
            for event in events
            if event.actor in ("first", "second")
        )
        expected = {f"{name} {n}" for name in ("first", "second") for n in range(EVENTS_EACH)}
        assert set(told) == expected and set(told.values()) == {1}
        assert store.size() == len(events)
        verification = vault.audit_log.verify()
        assert verification.ok, verification.findings
        # Both processes signed heads; either's heads hold for the one log.
        assert verification.heads > 1
    finally:
        bootstrap.close_vault(vault)
