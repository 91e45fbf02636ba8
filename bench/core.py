"""The vault core against a bare gRPC echo service, on each storage engine in
one run (`python -m bench core`): put, get, erasure of 10 vs 10,000 records,
export and import.

Rates are ratios against the echo measured in the same rounds, so a noisy,
shared machine moves both sides alike.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import grpc
from rich.console import Console
from rich.table import Table

from bench import postgres
from bench import tls as bench_tls
from bench.load import (
    PutsAndGets,
    Served,
    channel_to,
    import_records,
    new_subject,
    rate,
    sample_record,
    server_process,
)
from bench.servers import ECHO_METHOD
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc

console = Console()
ENGINES = ("sqlite", "postgresql")
TITLES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def run(
    seconds: float,
    threads: int,
    rounds: int,
    engines: list[str],
    baseline: Path | None = None,
    puts_and_gets_only: bool = False,
    tls: bool = False,
) -> dict[str, Any]:
    """Echo, then each engine's put and get, are measured in turns, `rounds`
    times, with every server up throughout: each ratio is the median of its
    rounds' ratios, so a slow spell of this shared machine moves every side
    alike. The PostgreSQL vault lives in a schema of the run's own, dropped after.

    With `baseline` (another checkout, such as a `git worktree` of an earlier
    commit) its vault runs too, on SQLite, against the same echo: each round
    then ends with the baseline's put and get.

    With `tls` the echo and the vaults all serve TLS (a throwaway CA), so the
    ratios are the vault's cost, token check included, over a TLS echo."""
    results: dict[str, Any] = {
        "threads": threads,
        "seconds": seconds,
        "rounds": rounds,
        "engines": engines,
        "tls": tls,
    }
    put_request = pb.CreateRecordRequest(parent="subjects/" + "0" * 32, record=sample_record())
    payload = put_request.SerializeToString()
    results["payload_bytes"] = len(payload)

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        tls_dir = bench_tls.make(tmp / "tls") if tls else None

        def connect(served: Served, token: str | None = None) -> grpc.Channel:
            return stack.enter_context(channel_to(served, tls_dir, token))

        calls: dict[str, Callable[[int, int], Any]] = {}
        channels: dict[str, grpc.Channel] = {}
        token = ""
        for engine in engines:
            database = (
                stack.enter_context(postgres.schema_of_its_own("bench_core"))
                if engine == "postgresql"
                else None
            )
            served = stack.enter_context(
                server_process("vault", tmp / engine, database=database, tls_dir=tls_dir)
            )
            token = served.token
            channels[engine] = connect(served)
            vault = PutsAndGets([channels[engine]], threads)
            calls |= {f"{engine}_put": vault.put, f"{engine}_get": vault.get}
        if baseline is not None:
            older = stack.enter_context(server_process("vault", tmp / "baseline", baseline))
            earlier = PutsAndGets([connect(older)], threads)
            calls |= {"baseline_put": earlier.put, "baseline_get": earlier.get}
        # Bytes in and out: the payload goes as it is, and the answer is not parsed.
        # The echo is sent a vault's token too, so the client does the same work
        # for both; only the vault checks it.
        echo_server = stack.enter_context(server_process("echo", tls_dir=tls_dir))
        echo = connect(echo_server, token).unary_unary(ECHO_METHOD, None, None)
        calls = {"echo": lambda t, i: echo(payload), **calls}
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

        for engine, channel in channels.items():
            results |= {f"{engine}_{k}": v for k, v in _export_and_import(channel).items()}
        results |= _erasures(channels)
    return results


def _export_and_import(channel: grpc.Channel) -> dict[str, float]:
    subjects = pb_grpc.SubjectServiceStub(channel)
    records = pb_grpc.RecordServiceStub(channel)
    big = new_subject(subjects, "exported")
    imported = 20_000 / import_records(records, big, 20_000)
    start = time.perf_counter()
    size = sum(
        len(m.archive_chunk)
        for m in subjects.ExportSubject(pb.ExportSubjectRequest(name=big), timeout=600)
    )
    return {
        "import_records_per_s": imported,
        "export_records_per_s": 20_000 / (time.perf_counter() - start),
        "export_archive_bytes": size,
    }


def _erasures(channels: dict[str, grpc.Channel]) -> dict[str, float]:
    """Median time to erase a subject of 10 and of 10,000 records, in five
    rounds that take each engine in turn."""
    times: dict[str, list[float]] = {f"{e}_erase_{n}": [] for e in channels for n in (10, 10_000)}
    for round_ in range(5):
        for engine, channel in channels.items():
            subjects = pb_grpc.SubjectServiceStub(channel)
            records = pb_grpc.RecordServiceStub(channel)
            for count in (10, 10_000):
                name = new_subject(subjects, f"erase-{count}-{round_}")
                import_records(records, name, count)
                start = time.perf_counter()
                # The call streams the request until it rests; with no connectors
                # that is as soon as the vault's keys are destroyed.
                last = list(subjects.EraseSubject(pb.EraseSubjectRequest(name=name)))[-1]
                times[f"{engine}_erase_{count}"].append(time.perf_counter() - start)
                assert last.request.state == pb.ERASURE_REQUEST_STATE_COMPLETED
    return {f"{key}_ms": statistics.median(values) * 1000 for key, values in times.items()}


def report(results: dict[str, Any]) -> None:
    engines: list[str] = results["engines"]
    table = Table(
        title=(
            f"consent-vault benchmark{' over TLS, token checked' if results.get('tls') else ''} "
            f"({results['threads']} client threads, "
            f"{results['payload_bytes']} B payload, median of {results['rounds']} rounds)"
        )
    )
    table.add_column("measure")
    for engine in engines:
        table.add_column(TITLES[engine], justify="right")
        table.add_column("ratio", justify="right")
    table.add_column("target", justify="right")

    echo = results["echo_rps"]
    table.add_row(
        "echo baseline (one for all)", *[f"{echo:,.0f} calls/s", "1.00x"] * len(engines), ""
    )
    for call, measure, target in (
        ("put", "record put (durable)", ">= 0.60x"),
        ("get", "record get", ">= 0.80x"),
    ):
        cells: list[str] = []
        for e in engines:
            cells += [
                f"{results[f'{e}_{call}_rps']:,.0f} calls/s",
                f"{results[f'{e}_{call}_ratio']:.2f}x",
            ]
        table.add_row(measure, *cells, target)
    if f"{engines[0]}_erase_10_ms" in results:
        cells = []
        for e in engines:
            many, few = results[f"{e}_erase_10000_ms"], results[f"{e}_erase_10_ms"]
            cells += [f"{many:.1f} ms vs {few:.1f} ms", f"{many / few:.2f}x"]
        table.add_row("erase 10,000 vs 10 records", *cells, "<= 1.50x")
        for what, measure in (("export", "export"), ("import", "bulk import")):
            cells = []
            for e in engines:
                cells += [f"{results[f'{e}_{what}_records_per_s']:,.0f} records/s", ""]
            table.add_row(measure, *cells, ">= 20,000/s")
    console.print(table)
    if "baseline_put_ratio" in results:
        _report_baseline(results)


def _report_baseline(results: dict[str, Any]) -> None:
    table = Table(title="this tree against the baseline tree, both on SQLite, same echo")
    for column in ("measure", "figure", "ratio to echo", "this tree vs baseline", "target"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    for call in ("put", "get"):
        table.add_row(
            f"record {call}, baseline tree",
            f"{results[f'baseline_{call}_rps']:,.0f} calls/s",
            f"{results[f'baseline_{call}_ratio']:.2f}x",
            f"{results[f'sqlite_{call}_ratio'] / results[f'baseline_{call}_ratio']:.2f}",
            ">= 0.90",
        )
    console.print(table)
