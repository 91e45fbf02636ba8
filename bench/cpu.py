"""CPU time of the benchmark's parts over a measured window: the load generator
(this process, from os.times), the servers and their busiest thread, and
PostgreSQL's processes (from /proc, where there is one), against the wall time.
A part's figure is in cores: 1.0 is one core kept busy the whole window."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _ticks(stat: Path) -> int:
    """utime + stime of a process or thread, in clock ticks (0 once it is gone)."""
    try:
        text = stat.read_text()
    except OSError:
        return 0
    # The command name may hold spaces and brackets: the fields follow its last ')'.
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def _threads(pid: int) -> dict[int, int]:
    try:
        tasks = list((PROC / str(pid) / "task").iterdir())
    except OSError:
        return {}
    return {int(task.name): _ticks(task / "stat") for task in tasks}


def _postgres_ticks() -> dict[int, int]:
    ticks = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    ticks[int(entry.name)] = _ticks(entry / "stat")
            except OSError:
                continue
    return ticks


def _machine_ticks() -> tuple[int, int]:
    """Busy and total ticks of every core since boot."""
    # user nice system idle iowait irq softirq steal (guest time is within user)
    values = [int(v) for v in (PROC / "stat").read_text().split("\n")[0].split()[1:9]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


@dataclass(frozen=True)
class Reading:
    wall: float
    own: float
    servers: dict[int, dict[int, int]]
    postgres: dict[int, int]
    machine: tuple[int, int]


def read(server_pids: list[int]) -> Reading:
    times = os.times()
    readable = PROC.is_dir()
    return Reading(
        wall=time.perf_counter(),
        own=times.user + times.system,
        servers={pid: _threads(pid) for pid in server_pids} if readable else {},
        postgres=_postgres_ticks() if readable else {},
        machine=_machine_ticks() if readable else (0, 0),
    )


def cores(before: Reading, after: Reading) -> dict[str, float]:
    """Cores each part kept busy between two readings; the whole machine's as a
    share of all its cores, and what of it none of the parts accounts for."""
    wall = after.wall - before.wall
    used = {"load_generator": (after.own - before.own) / wall}
    if after.servers:
        servers = busiest = 0.0
        for pid, threads in after.servers.items():
            earlier = before.servers.get(pid, {})
            spent = [ticks - earlier.get(tid, 0) for tid, ticks in threads.items()]
            servers += sum(spent) / TICKS / wall
            busiest = max(busiest, max(spent, default=0) / TICKS / wall)
        used["servers"] = servers
        used["busiest_server_thread"] = busiest
        # Every postgres process, others' sessions too (ours alone on a quiet
        # machine); one that ended within the window is left out, not subtracted.
        spent_by_postgres = sum(
            t - before.postgres[p] for p, t in after.postgres.items() if p in before.postgres
        )
        used["postgres"] = spent_by_postgres / TICKS / wall
        busy = after.machine[0] - before.machine[0]
        total = after.machine[1] - before.machine[1]
        used["machine_share"] = busy / total if total else 0.0
        # Whatever else ran meanwhile (other people's work on a shared machine).
        machine = used["machine_share"] * (os.cpu_count() or 1)
        used["others"] = max(
            0.0, machine - sum(used[p] for p in ("load_generator", "servers", "postgres"))
        )
    return used
