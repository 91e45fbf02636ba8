"""One vault server against two on one PostgreSQL database (`python -m bench processes`).

Both servers are up throughout, each on a port of its own. "One" sends every
client thread to the first; "two" spreads the same number of threads over
both, as a gRPC-aware load balancer would. Put and get are measured in turns,
one then two, in several rounds, and the figure is the median of the rounds'
ratios two/one: a slow spell of the shared machine moves both sides alike.
Beside each rate, the CPU each part kept busy (bench.cpu), since on a small
machine the load generator, the servers and PostgreSQL share the same cores.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import cpu, postgres
from bench.load import PutsAndGets, channel_to, rate, server_process

console = Console()
MEASURES = ("one_put", "two_put", "one_get", "two_get")


def run(seconds: float, threads: int, rounds: int) -> dict[str, Any]:
    """The rates and the CPU each part kept busy; PostgreSQL must be reachable."""
    results: dict[str, Any] = {
        "threads": threads,
        "seconds": seconds,
        "rounds": rounds,
        "cores": os.cpu_count(),
    }
    with ExitStack() as stack:
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "vault"
        url = stack.enter_context(postgres.schema_of_its_own("bench_processes"))
        # One after the other, so the second finds the schema and keyring the first made.
        servers = [
            stack.enter_context(server_process("vault", data_dir, database=url)) for _ in range(2)
        ]
        channels = [stack.enter_context(channel_to(s)) for s in servers]
        one = PutsAndGets(channels[:1], threads, "one")
        two = PutsAndGets(channels, threads, "two")
        calls: dict[str, Callable[[int, int], Any]] = {
            "one_put": one.put,
            "two_put": two.put,
            "one_get": one.get,
            "two_get": two.get,
        }
        pids = [s.pid for s in servers]
        window = seconds / rounds
        rates: dict[str, list[float]] = {name: [] for name in MEASURES}
        used: dict[str, list[dict[str, float]]] = {name: [] for name in MEASURES}
        for _ in range(rounds):
            for name in MEASURES:
                before = cpu.read(pids)
                rates[name].append(rate(calls[name], threads, window))
                used[name].append(cpu.cores(before, cpu.read(pids)))
    for name in MEASURES:
        results[f"{name}_rps"] = statistics.median(rates[name])
        results[f"{name}_cores"] = {
            part: statistics.median(u[part] for u in used[name]) for part in used[name][0]
        }
    for call in ("put", "get"):
        results[f"{call}_two_over_one"] = statistics.median(
            t / o for t, o in zip(rates[f"two_{call}"], rates[f"one_{call}"], strict=True)
        )
    results["rounds_rps"] = rates
    return results


def report(results: dict[str, Any] | str) -> None:
    """The table, or why there is none (a string: it was skipped)."""
    if isinstance(results, str):
        console.print(f"1 vs 2 server processes on PostgreSQL: {results}")
        return
    table = Table(
        title=(
            f"1 vs 2 vault server processes on one PostgreSQL database ({results['threads']} "
            f"client threads in all, {results['cores']} cores, median of {results['rounds']} rounds)"
        )
    )
    for column in (
        "call",
        "servers",
        "calls/s",
        "2/1",
        "load generator",
        "servers",
        "busiest server thread",
        "PostgreSQL",
        "others",
        "machine busy",
    ):
        table.add_column(column, justify="left" if column == "call" else "right")
    for call in ("put", "get"):
        for count in ("one", "two"):
            used = results[f"{count}_{call}_cores"]
            ratio = f"{results[f'{call}_two_over_one']:.2f}x" if count == "two" else ""
            table.add_row(
                call,
                "1" if count == "one" else "2",
                f"{results[f'{count}_{call}_rps']:,.0f}",
                ratio,
                f"{used['load_generator']:.2f} cores",
                f"{used['servers']:.2f}" if "servers" in used else "",
                f"{used['busiest_server_thread']:.2f}" if "servers" in used else "",
                f"{used['postgres']:.2f}" if "servers" in used else "",
                f"{used['others']:.2f}" if "servers" in used else "",
                f"{used['machine_share']:.0%}" if "servers" in used else "",
            )
    console.print(table)
    console.print("CPU in cores (1.00 = one core busy all the window); aim for 2/1: >= 1.30x")
