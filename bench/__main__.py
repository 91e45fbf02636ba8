"""Run every benchmark and print the figures the README publishes: `make bench`.

Rates are ratios against the echo baseline measured in the same run, so a
noisy, shared machine moves both sides alike. Nothing here is a test: the
targets are printed next to the figures, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import grpc
from rich.console import Console
from rich.table import Table

from bench.servers import ECHO_METHOD
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc

console = Console()
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 64 << 20),
    ("grpc.max_send_message_length", 64 << 20),
]


@contextmanager
def server_process(kind: str, data_dir: Path | None = None, tree: Path | None = None):
    """A server of this tree, or of another checkout of the project (`tree`),
    which then runs its own code and its own `bench.servers`."""
    args = [sys.executable, "-m", "bench.servers", kind]
    if data_dir is not None:
        args.append(str(data_dir))
    env = None
    if tree is not None:
        paths = [tree, tree / "plugins", tree / "clients" / "python"]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in paths)}
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=tree, env=env)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("port "):
            raise RuntimeError(f"{kind} server did not start")
        yield int(line.split()[1])
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.stdout:
            process.stdout.close()


def sample_record(n: int = 0) -> pb.Record:
    record = pb.Record(
        category="contact",
        purpose="course_delivery",
        legal_basis=pb.LEGAL_BASIS_CONTRACT,
        source_system="lms",
    )
    record.fields.update(
        {
            "name": "Anna Andersson",
            "address": "Kalendegatan 10, 211 35 Malmö",
            "phone": "+46701234567",
            "n": n,
        }
    )
    return record


def rate(call: Callable[[int, int], Any], threads: int, seconds: float) -> float:
    """Calls per second with `threads` callers for `seconds`; call(thread, i)."""
    counts = [0] * threads
    stop = time.perf_counter() + seconds

    def worker(index: int) -> None:
        i = 0
        while time.perf_counter() < stop:
            call(index, i)
            i += 1
        counts[index] = i

    workers = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(counts) / (time.perf_counter() - start)


def new_subject(subjects: pb_grpc.SubjectServiceStub, label: str) -> str:
    identity = pb.Identity(kind=pb.IDENTITY_KIND_EXTERNAL_ID, system="bench", value=label)
    return subjects.CreateSubject(pb.CreateSubjectRequest(identities=[identity])).subject.name


def import_records(records: pb_grpc.RecordServiceStub, parent: str, count: int) -> float:
    items = [pb.ImportedRecord(parent=parent, record=sample_record(i)) for i in range(count)]
    messages = [pb.ImportRecordsRequest(records=items[b : b + 1000]) for b in range(0, count, 1000)]
    start = time.perf_counter()
    assert records.ImportRecords(iter(messages), timeout=600).imported_count == count
    return time.perf_counter() - start


class _PutsAndGets:
    """One vault's put and get calls, set up for `threads` callers."""

    def __init__(self, channel: grpc.Channel, threads: int) -> None:
        subjects = pb_grpc.SubjectServiceStub(channel)
        self.records = pb_grpc.RecordServiceStub(channel)
        parents = [new_subject(subjects, f"writer-{t}") for t in range(threads)]
        self.puts = [pb.CreateRecordRequest(parent=p, record=sample_record()) for p in parents]
        import_records(self.records, parents[0], 500)
        self.gets = [
            pb.GetRecordRequest(name=m.record.name)
            for m in self.records.StreamRecords(pb.StreamRecordsRequest(parent=parents[0]))
        ]
        self.records.CreateRecord(self.puts[0])

    def put(self, thread: int, i: int) -> Any:
        return self.records.CreateRecord(self.puts[thread])

    def get(self, thread: int, i: int) -> Any:
        return self.records.GetRecord(self.gets[(thread * 97 + i) % len(self.gets)])


def run(
    seconds: float,
    threads: int,
    rounds: int,
    baseline: Path | None = None,
    puts_and_gets_only: bool = False,
) -> dict[str, Any]:
    """Echo, put and get are measured in turns, `rounds` times, with both servers
    up throughout: each ratio is the median of its rounds' ratios, so a slow
    spell of this shared machine moves both sides of a ratio alike.

    With `baseline` (another checkout, such as a `git worktree` of an earlier
    commit) its vault runs too, against the same echo: each round then measures
    echo, put, get, the baseline's put and the baseline's get, in that order."""
    results: dict[str, Any] = {"threads": threads, "seconds": seconds, "rounds": rounds}
    put_request = pb.CreateRecordRequest(parent="subjects/" + "0" * 32, record=sample_record())
    payload = put_request.SerializeToString()
    results["payload_bytes"] = len(payload)

    with (
        tempfile.TemporaryDirectory() as tmp,
        server_process("echo") as echo_port,
        server_process("vault", Path(tmp) / "vault") as port,
        server_process("vault", Path(tmp) / "baseline", baseline)
        if baseline is not None
        else nullcontext(None) as baseline_port,
        grpc.insecure_channel(f"127.0.0.1:{echo_port}", CHANNEL_OPTIONS) as echo_channel,
        grpc.insecure_channel(f"127.0.0.1:{port}", CHANNEL_OPTIONS) as channel,
        grpc.insecure_channel(
            f"127.0.0.1:{baseline_port or port}", CHANNEL_OPTIONS
        ) as baseline_channel,
    ):
        echo = echo_channel.unary_unary(ECHO_METHOD)
        subjects = pb_grpc.SubjectServiceStub(channel)
        records = pb_grpc.RecordServiceStub(channel)
        vault = _PutsAndGets(channel, threads)
        calls: dict[str, Callable[[int, int], Any]] = {
            "echo": lambda t, i: echo(payload),
            "put": vault.put,
            "get": vault.get,
        }
        if baseline is not None:
            older = _PutsAndGets(baseline_channel, threads)
            calls |= {"baseline_put": older.put, "baseline_get": older.get}
        echo(payload)

        window = seconds / rounds
        measured: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(rounds):
            for name, call in calls.items():
                measured[name].append(rate(call, threads, window))
        for name, rates in measured.items():
            results[f"{name}_rps"] = statistics.median(rates)
        for name in measured.keys() - {"echo"}:
            results[f"{name}_ratio"] = statistics.median(
                r / e for r, e in zip(measured[name], measured["echo"], strict=True)
            )
        results["rounds_rps"] = measured
        if puts_and_gets_only:
            return results

        big = new_subject(subjects, "exported")
        results["import_records_per_s"] = 20_000 / import_records(records, big, 20_000)
        start = time.perf_counter()
        size = sum(
            len(m.archive_chunk)
            for m in subjects.ExportSubject(pb.ExportSubjectRequest(name=big), timeout=600)
        )
        results["export_records_per_s"] = 20_000 / (time.perf_counter() - start)
        results["export_archive_bytes"] = size

        erase_times: dict[int, list[float]] = {10: [], 10_000: []}
        for round_ in range(5):
            for count in (10, 10_000):
                name = new_subject(subjects, f"erase-{count}-{round_}")
                import_records(records, name, count)
                start = time.perf_counter()
                # The call streams the request until it rests; with no connectors
                # that is as soon as the vault's keys are destroyed.
                last = list(subjects.EraseSubject(pb.EraseSubjectRequest(name=name)))[-1]
                erase_times[count].append(time.perf_counter() - start)
                assert last.request.state == pb.ERASURE_REQUEST_STATE_COMPLETED
        results["erase_10_ms"] = statistics.median(erase_times[10]) * 1000
        results["erase_10000_ms"] = statistics.median(erase_times[10_000]) * 1000
    return results


def report(results: dict[str, Any]) -> None:
    table = Table(
        title=(
            f"consent-vault benchmark ({results['threads']} client threads, "
            f"{results['payload_bytes']} B payload, median of {results['rounds']} rounds)"
        )
    )
    table.add_column("measure")
    table.add_column("figure", justify="right")
    table.add_column("ratio", justify="right")
    table.add_column("target", justify="right")
    echo = results["echo_rps"]
    table.add_row("echo baseline", f"{echo:,.0f} calls/s", "1.00x", "")
    table.add_row(
        "record put (durable)",
        f"{results['put_rps']:,.0f} calls/s",
        f"{results['put_ratio']:.2f}x",
        ">= 0.60x",
    )
    table.add_row(
        "record get",
        f"{results['get_rps']:,.0f} calls/s",
        f"{results['get_ratio']:.2f}x",
        ">= 0.80x",
    )
    if "erase_10_ms" in results:
        ratio = results["erase_10000_ms"] / results["erase_10_ms"]
        table.add_row(
            "erase 10,000 vs 10 records",
            f"{results['erase_10000_ms']:.1f} ms vs {results['erase_10_ms']:.1f} ms",
            f"{ratio:.2f}x",
            "<= 1.50x",
        )
        table.add_row(
            "export", f"{results['export_records_per_s']:,.0f} records/s", "", ">= 20,000/s"
        )
        table.add_row(
            "bulk import", f"{results['import_records_per_s']:,.0f} records/s", "", ">= 20,000/s"
        )
    if "baseline_put_ratio" in results:
        for name in ("put", "get"):
            table.add_row(
                f"record {name}, baseline tree",
                f"{results[f'baseline_{name}_rps']:,.0f} calls/s",
                f"{results[f'baseline_{name}_ratio']:.2f}x",
                "",
            )
            table.add_row(
                f"record {name}, this tree vs baseline",
                "",
                f"{results[f'{name}_ratio'] / results[f'baseline_{name}_ratio']:.2f}",
                ">= 0.90",
            )
    console.print(table)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("which", nargs="?", choices=["all", "core", "everywhere"], default="all")
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="time each rate is measured, over all rounds"
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="turns of echo, put and get, in that order"
    )
    parser.add_argument("--threads", type=int, default=8, help="concurrent client threads")
    parser.add_argument("--people", type=int, default=200, help="people erased across all systems")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout (a git worktree) whose vault's put and get are measured too",
    )
    parser.add_argument(
        "--core-only",
        action="store_true",
        help="with core: only echo, put and get (no import, export or erase)",
    )
    args = parser.parse_args()
    results: dict[str, Any] = {}
    if args.which in ("all", "core"):
        results["core"] = run(
            args.seconds, args.threads, args.rounds, args.baseline, args.core_only
        )
        report(results["core"])
    if args.which in ("all", "everywhere"):
        from bench import everywhere

        results["everywhere"] = everywhere.run(args.people)
        everywhere.report(results["everywhere"])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
