"""The audit log on its own, in-process, on each engine: how fast events are
appended by concurrent callers (each one durable before its caller goes on,
as a read's event must be), and how long `audit verify` takes over a log of
a million events. Each figure stands beside a baseline measured in the same
run: the append rate beside the same threads each storing one API token row
(a durable insert of similar size through the same store, with no audit in
it), verify beside hashing every entry once (the least a verifier can do).

The figures of put and get with their audit events, against the echo, are
`python -m bench core`'s.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import postgres
from vault.core.actor import Actor, Role
from vault.core.audit.events import AuditEvent, Operation
from vault.core.audit.heads import new_signing_key, public_key_of
from vault.core.audit.log import Sequencer, verify
from vault.core.audit.store import AuditEntry
from vault.core.clock import SystemClock
from vault.storage.base import RecordStore, TokenRow

console = Console()
TITLES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
READER = Actor("integrator (tok_b3nch)", Role.INTEGRATOR, system="lms")
T0 = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)


def _entry(n: int) -> AuditEntry:
    return AuditEntry.of(
        AuditEvent.of(
            READER,
            Operation.GET_RECORD,
            T0 + dt.timedelta(milliseconds=n),
            f"{n % 100_000:032x}",
            purpose="course_delivery",
            detail="contact",
        )
    )


@contextmanager
def _store(engine: str) -> Iterator[RecordStore]:
    if engine == "sqlite":
        from vault.storage.sqlite import SQLiteRecordStore

        with tempfile.TemporaryDirectory() as directory:
            store = SQLiteRecordStore(Path(directory) / "records.db")
            try:
                yield store
            finally:
                store.close()
        return
    from vault.storage.postgres import PostgresRecordStore

    with postgres.schema_of_its_own("bench_audit") as url:
        pg = PostgresRecordStore(url)
        try:
            yield pg
        finally:
            pg.close()


def _rate(threads: int, seconds: float, call: Callable[[int], None]) -> float:
    """Calls per second of `threads` threads each calling `call` until `seconds` pass."""
    done = [0] * threads
    deadline = time.perf_counter() + seconds

    def work(slot: int) -> None:
        n = slot * 10_000_000
        while time.perf_counter() < deadline:
            call(n)
            n += 1
            done[slot] += 1

    workers = [threading.Thread(target=work, args=(slot,)) for slot in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(done) / (time.perf_counter() - started)


def _append_rates(store: RecordStore, threads: int, seconds: float) -> dict[str, float]:
    def append(n: int) -> None:
        store.audit.append([_entry(n)])

    def token(n: int) -> None:
        store.tokens.touch_token("bench", T0 + dt.timedelta(microseconds=n))

    store.tokens.insert_token(TokenRow("bench", b"h" * 32, "integrator", "lms", "bench", T0, None))
    return {
        "appends_per_second": _rate(threads, seconds, append),
        "baseline_writes_per_second": _rate(threads, seconds, token),
    }


def _verify_times(store: RecordStore, events: int) -> dict[str, float]:
    key = new_signing_key()
    started = time.perf_counter()
    batch = 2_000
    for first in range(0, events, batch):
        store.audit.append([_entry(n) for n in range(first, min(first + batch, events))])
    written = time.perf_counter() - started
    started = time.perf_counter()
    sequencer = Sequencer(store.audit, lambda: key, SystemClock())
    sequencer.run_until_done()
    sequenced = time.perf_counter() - started
    started = time.perf_counter()
    verification = verify(store.audit, public_key_of(key))
    verified = time.perf_counter() - started
    if not verification.ok:
        raise SystemExit(f"the benchmark's own log did not verify: {verification.findings[:3]}")
    started = time.perf_counter()
    for stored in store.audit.sequenced():
        hashlib.sha256(stored.entry).digest()
    hashed = time.perf_counter() - started
    return {
        "events": events,
        "heads": verification.heads,
        "write_seconds": written,
        "sequence_seconds": sequenced,
        "verify_seconds": verified,
        "read_and_hash_seconds": hashed,
    }


def run(engines: list[str], threads: int, seconds: float, events: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for engine in engines:
        console.print(f"{TITLES[engine]}: appending for {seconds:g} s with {threads} threads")
        with _store(engine) as store:
            rates = _append_rates(store, threads, seconds)
        console.print(f"{TITLES[engine]}: a log of {events:,} events, sequenced and verified")
        with _store(engine) as store:
            results[engine] = {**rates, **_verify_times(store, events)}
    return results


def report(results: dict[str, Any]) -> None:
    table = Table(title="The audit log")
    table.add_column("measure")
    for engine in results:
        table.add_column(TITLES[engine], justify="right")
    rows: list[tuple[str, Callable[[dict[str, float]], str]]] = [
        ("audit appends/s, each durable", lambda r: f"{r['appends_per_second']:,.0f}"),
        ("baseline: durable token inserts/s", lambda r: f"{r['baseline_writes_per_second']:,.0f}"),
        (
            "ratio to the baseline",
            lambda r: f"{r['appends_per_second'] / r['baseline_writes_per_second']:.2f}x",
        ),
        ("events in the log", lambda r: f"{r['events']:,}"),
        ("writing them (batches of 2,000)", lambda r: f"{r['write_seconds']:.1f} s"),
        ("sequencing and signing them", lambda r: f"{r['sequence_seconds']:.1f} s"),
        ("audit verify", lambda r: f"{r['verify_seconds']:.1f} s"),
        ("baseline: read and hash every entry", lambda r: f"{r['read_and_hash_seconds']:.1f} s"),
        (
            "verify / baseline",
            lambda r: f"{r['verify_seconds'] / r['read_and_hash_seconds']:.2f}x",
        ),
    ]
    for title, figure in rows:
        table.add_row(title, *(figure(results[engine]) for engine in results))
    console.print(table)
