"""Per-call costs as the vault grows (`python -m bench scale`): a vault of 1k,
10k and 100k people (2 identities and 5 records each) on each engine, served
by the real server process and called over gRPC against the same echo.

Each vault is built once per size in the benchmark's own process, through the
core's bulk import (Vault.import_subjects, a batch of 1,000 people a
transaction), then closed and served; an engine's vaults of every size are
served at once. Put, get, find, export and the echo are measured in turns, size
after size, `rounds` times, from `threads` client threads, every call timed, so
a slow spell of the shared machine moves every size alike; erasure runs one
call at a time, each on a different person, until the request rests (the server runs no maintenance passes, as in every benchmark
here, so the pass that follows an erasure is not in its figure). Beside them:
the server's resident memory (VmRSS) after the calls, and the bytes on disk
each person takes as built.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import psycopg
from rich.console import Console
from rich.table import Table

from bench import postgres
from bench.core import TITLES
from bench.load import CHANNEL_OPTIONS, Served, channel_to, sample_record, server_process
from bench.servers import ECHO_METHOD
from vault.bootstrap import close_vault, open_vault
from vault.core.actor import LOCAL
from vault.core.identities import IdentityKind
from vault.core.model import LegalBasis, RecordDraft
from vault.core.subject_import import NewSubject, SubjectBatch
from vault.core.subjects import IdentityInput
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc

console = Console()
SIZES = (1_000, 10_000, 100_000)
BATCH = 1_000
# Three categories over five records: each person then holds a subject key and
# four data keys (identities and three categories), as a school's would.
CATEGORIES = ("contact", "course", "billing", "course", "billing")
CALLS = ("echo", "put", "get", "find", "export")
# People whose records are read back for the gets, a sample across the vault.
SAMPLED = 500


def email(n: int) -> str:
    return f"person{n}@scale.example"


def person(n: int) -> NewSubject:
    return NewSubject(
        identities=[
            IdentityInput(IdentityKind.EMAIL, email(n)),
            IdentityInput(IdentityKind.EXTERNAL_ID, f"s{n}", "bench"),
        ],
        records=[
            RecordDraft(
                category=category,
                purpose="course_delivery",
                legal_basis=LegalBasis.CONTRACT,
                source_system="lms",
                fields={"name": f"Person {n}", "address": "Kalendegatan 10, 211 35 Malmö", "i": i},
            )
            for i, category in enumerate(CATEGORIES)
        ],
    )


@dataclass(frozen=True)
class Built:
    """A vault as built: its people in the order imported, some of their records'
    names, the seconds it took and the bytes it holds on disk."""

    subject_ids: list[str]
    record_names: list[str]
    seconds: float
    disk_bytes: int


def build(size: int, data_dir: Path, database: str | None, seed: int) -> Built:
    """`size` people through the core, a batch of 1,000 a transaction."""
    start = time.perf_counter()
    vault = open_vault(data_dir, database=database)
    try:
        subject_ids: list[str] = []
        for first in range(0, size, BATCH):
            people = [person(n) for n in range(first, min(first + BATCH, size))]
            subject_ids += vault.import_subjects(LOCAL, [SubjectBatch(people)]).subject_ids
        seconds = time.perf_counter() - start
        sampled = random.Random(seed).sample(subject_ids, min(SAMPLED, size))
        record_names = [
            f"subjects/{subject_id}/records/{record.record_id}"
            for subject_id in sampled
            for record in vault.stream_records(LOCAL, subject_id, None)
        ]
    finally:
        close_vault(vault)
    return Built(subject_ids, record_names, seconds, disk_bytes(data_dir, database))


def disk_bytes(data_dir: Path, database: str | None) -> int:
    """SQLite: the data directory's files but the keyring; PostgreSQL: the
    schema's tables with their indexes and TOAST."""
    if database is None:
        return sum(
            f.stat().st_size for f in data_dir.iterdir() if f.is_file() and f.suffix != ".json"
        )
    with psycopg.connect(database) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema() AND c.relkind = 'r'"
        ).fetchone()
    assert row is not None
    return int(row[0])


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def timed(call: Callable[[int, int], Any], threads: int, seconds: float) -> list[float]:
    """Every call's seconds from `threads` callers for `seconds`, and, last, the
    wall time they took together; call(thread, i)."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    stop = time.perf_counter() + seconds

    def worker(index: int) -> None:
        mine = latencies[index]
        i = 0
        while time.perf_counter() < stop:
            began = time.perf_counter()
            call(index, i)
            mine.append(time.perf_counter() - began)
            i += 1

    workers = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return [x for mine in latencies for x in mine] + [time.perf_counter() - start]


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * fraction))]


def figures(latencies: list[float], wall: float) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": percentile(ordered, 0.99) * 1000,
        "per_s": len(ordered) / wall,
        "calls": len(ordered),
    }


class Calls:
    """The calls measured on one served vault, each on people picked at random
    across it; the people kept for erasure are touched by nothing else."""

    def __init__(self, channel: grpc.Channel, built: Built, erasures: int, seed: int) -> None:
        self.subjects = pb_grpc.SubjectServiceStub(channel)
        self.records = pb_grpc.RecordServiceStub(channel)
        picks = random.Random(seed)
        indexes = list(range(len(built.subject_ids)))
        picks.shuffle(indexes)
        self.erased = [built.subject_ids[n] for n in indexes[:erasures]]
        kept = indexes[erasures:]
        chosen = [kept[picks.randrange(len(kept))] for _ in range(2_000)]
        names = [f"subjects/{built.subject_ids[n]}" for n in chosen]
        erased = set(self.erased)
        self.puts = [pb.CreateRecordRequest(parent=name, record=sample_record()) for name in names]
        self.gets = [
            pb.GetRecordRequest(name=name)
            for name in built.record_names
            if name.split("/")[1] not in erased
        ]
        self.finds = [
            pb.FindSubjectRequest(identity=pb.Identity(kind=pb.IDENTITY_KIND_EMAIL, value=email(n)))
            for n in chosen
        ]
        self.exports = [pb.ExportSubjectRequest(name=name) for name in names]

    def put(self, thread: int, i: int) -> Any:
        return self.records.CreateRecord(self.puts[(thread * 997 + i) % len(self.puts)])

    def get(self, thread: int, i: int) -> Any:
        return self.records.GetRecord(self.gets[(thread * 997 + i) % len(self.gets)])

    def find(self, thread: int, i: int) -> Any:
        return self.subjects.FindSubject(self.finds[(thread * 997 + i) % len(self.finds)])

    def export(self, thread: int, i: int) -> Any:
        request = self.exports[(thread * 997 + i) % len(self.exports)]
        return sum(len(m.archive_chunk) for m in self.subjects.ExportSubject(request))

    def erase(self, people: list[str]) -> list[float]:
        """Seconds for each erasure, one person after another, until it rests."""
        taken: list[float] = []
        for subject_id in people:
            request = pb.EraseSubjectRequest(name=f"subjects/{subject_id}")
            start = time.perf_counter()
            # With no connectors the call rests once the vault's keys are destroyed.
            last = list(self.subjects.EraseSubject(request))[-1]
            taken.append(time.perf_counter() - start)
            if last.request.state != pb.ERASURE_REQUEST_STATE_COMPLETED:
                raise RuntimeError(f"erasure of {subject_id} rested {last.request.state}")
        return taken


def run(
    seconds: float,
    threads: int,
    rounds: int,
    engines: list[str],
    sizes: list[int],
    erasures: int = 40,
    seed: int = 12,
) -> dict[str, Any]:
    """Each engine in turn: its vaults of every size built, then all served at
    once and measured in turns, `rounds` times, with the echo measured in every
    round too, so a slow spell of this shared machine moves every size alike.
    The echo runs throughout in a process of its own."""
    results: dict[str, Any] = {
        "threads": threads,
        "seconds": seconds,
        "rounds": rounds,
        "engines": engines,
        "sizes": sizes,
        "erasures": erasures,
        "runs": {},
    }
    payload = pb.CreateRecordRequest(
        parent="subjects/" + "0" * 32, record=sample_record()
    ).SerializeToString()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        echo_server = stack.enter_context(server_process("echo"))
        echo_channel = stack.enter_context(
            grpc.insecure_channel(f"127.0.0.1:{echo_server.port}", CHANNEL_OPTIONS)
        )
        echo = echo_channel.unary_unary(ECHO_METHOD, None, None)
        echo(payload)
        for engine in engines:
            results["runs"] |= _one_engine(
                engine,
                sizes,
                tmp / engine,
                lambda t, i: echo(payload),
                Measure(threads, rounds, seconds / rounds, erasures, seed),
            )
    return results


@dataclass(frozen=True)
class Measure:
    threads: int
    rounds: int
    window: float  # seconds each call is measured in a round
    erasures: int  # people erased in each vault, over all rounds
    seed: int


def _one_engine(
    engine: str, sizes: list[int], data_dir: Path, echo: Callable[[int, int], Any], m: Measure
) -> dict[str, dict[str, Any]]:
    with ExitStack() as stack:
        built: dict[int, Built] = {}
        served: dict[int, Served] = {}
        calls: dict[int, Calls] = {}
        for size in sizes:
            console.print(f"{TITLES[engine]}, {size:,} people: building", soft_wrap=True)
            database = (
                stack.enter_context(postgres.schema_of_its_own("bench_scale"))
                if engine == "postgresql"
                else None
            )
            built[size] = build(size, data_dir / str(size), database, m.seed)
            served[size] = stack.enter_context(
                server_process("vault", data_dir / str(size), database=database)
            )
            channel = stack.enter_context(channel_to(served[size]))
            calls[size] = Calls(channel, built[size], min(m.erasures, size // 10), m.seed)
        console.print(f"{TITLES[engine]}: measuring", soft_wrap=True)
        measured: dict[int, dict[str, Callable[[int, int], Any]]] = {
            size: {
                "echo": echo,
                "put": c.put,
                "get": c.get,
                "find": c.find,
                "export": c.export,
            }
            for size, c in calls.items()
        }
        for by_name in measured.values():
            for call in by_name.values():
                call(0, 0)
        latencies: dict[int, dict[str, list[float]]] = {
            size: {name: [] for name in (*CALLS, "erase")} for size in sizes
        }
        walls = {size: dict.fromkeys(CALLS, 0.0) for size in sizes}
        for round_ in range(m.rounds):
            for size in sizes:
                for name, call in measured[size].items():
                    *taken, wall = timed(call, m.threads, m.window)
                    latencies[size][name] += taken
                    walls[size][name] += wall
                people = calls[size].erased[round_ :: m.rounds]
                latencies[size]["erase"] += calls[size].erase(people)
        return {
            f"{engine}_{size}": {
                name: figures(latencies[size][name], walls[size][name]) for name in CALLS
            }
            | {
                "erase": figures(latencies[size]["erase"], sum(latencies[size]["erase"])),
                "build_people_per_s": size / built[size].seconds,
                "disk_bytes_per_subject": built[size].disk_bytes / size,
                "rss_bytes": rss_bytes(served[size].pid),
            }
            for size in sizes
        }


def report(results: dict[str, Any]) -> None:
    sizes: list[int] = results["sizes"]
    # A table per engine, so that three sizes fit in 80 columns.
    for engine in results["engines"]:
        table = Table(
            title=(
                f"{TITLES[engine]} at scale: p50 / p99 ms and calls/s by people in the vault "
                f"({results['threads']} client threads; erasure one at a time, "
                f"{results['erasures']} people)"
            )
        )
        table.add_column("call")
        for size in sizes:
            table.add_column(f"{size:,}", justify="right")
            table.add_column("/s", justify="right")
        runs = [results["runs"][f"{engine}_{size}"] for size in sizes]
        for call in (*CALLS, "erase"):
            cells = []
            for r in runs:
                f = r[call]
                cells += [f"{f['p50_ms']:.1f} / {f['p99_ms']:.1f}", f"{f['per_s']:,.0f}"]
            table.add_row(call, *cells)
        table.add_section()
        for measure, cells in (
            ("RSS", [f"{r['rss_bytes'] / 2**20:,.0f} MB" for r in runs]),
            ("disk/person", [f"{r['disk_bytes_per_subject'] / 1024:,.1f} KB" for r in runs]),
            ("built/s", [f"{r['build_people_per_s']:,.0f}" for r in runs]),
        ):
            table.add_row(measure, *[c for cell in cells for c in (cell, "")])
        console.print(table)
    if len(sizes) > 1:
        _report_aims(results, sizes[0], sizes[-1])


def _report_aims(results: dict[str, Any], smallest: int, largest: int) -> None:
    """The issue's aims, from the smallest vault to the largest: printed, never
    asserted. The echo's own ratio, measured in the same slots, shows how much
    of a ratio is the machine's."""
    table = Table(title=f"from {smallest:,} to {largest:,} people, against the aims")
    for column in ("engine", "measure", "ratio or growth", "aim", "met"):
        table.add_column(column, justify="left" if column in ("engine", "measure") else "right")
    for engine in results["engines"]:
        small = results["runs"][f"{engine}_{smallest}"]
        large = results["runs"][f"{engine}_{largest}"]
        for call in ("echo", "put", "get", "find", "export", "erase"):
            ratio = large[call]["p50_ms"] / small[call]["p50_ms"]
            aim = 1.2 if call == "erase" else 1.3
            table.add_row(
                TITLES[engine],
                f"{call} p50",
                f"{ratio:.2f}x",
                "" if call == "echo" else f"<= {aim}x",
                "" if call == "echo" else _met(ratio <= aim),
            )
        ratio = large["put"]["per_s"] / small["put"]["per_s"]
        table.add_row(TITLES[engine], "put calls/s", f"{ratio:.2f}x", ">= 0.8x", _met(ratio >= 0.8))
        growth = (large["rss_bytes"] - small["rss_bytes"]) / 2**20
        table.add_row(
            TITLES[engine], "server RSS", f"{growth:+,.0f} MB", "< 50 MB", _met(growth < 50)
        )
    console.print(table)


def _met(met: bool) -> str:
    return "met" if met else "not met"
