"""Run every benchmark and print the figures the README publishes: `make bench`.

Nothing here is a test: the targets are printed next to the figures, never
asserted. Where PostgreSQL is not reachable, the benchmarks say so in one line
and run on SQLite alone.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from bench import core, postgres, processes

console = Console()


def engines_here(asked: str) -> list[str]:
    """The engines asked for that this machine can run."""
    engines = [e.strip() for e in asked.split(",") if e.strip()]
    unknown = [e for e in engines if e not in core.ENGINES]
    if unknown or not engines:
        raise SystemExit(f"--engines: give some of {', '.join(core.ENGINES)}, not {asked!r}")
    if "postgresql" in engines:
        reason = postgres.unreachable()
        if reason is not None:
            console.print(f"{reason}: the benchmarks run on SQLite only", soft_wrap=True)
            engines = [e for e in engines if e != "postgresql"] or ["sqlite"]
    return engines


def sizes_asked(asked: str) -> list[int]:
    """The vault sizes of --sizes, smallest first."""
    try:
        sizes = sorted({int(s.replace("_", "")) for s in asked.split(",") if s.strip()})
    except ValueError:
        sizes = []
    if not sizes or sizes[0] < 10:
        raise SystemExit(f"--sizes: give numbers of people of 10 or more, not {asked!r}")
    return sizes


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument(
        "which",
        nargs="?",
        choices=["all", "core", "processes", "everywhere", "audit", "consent", "contact", "scale"],
        default="all",
        help="all runs every benchmark but scale, which takes about 10 minutes on its own",
    )
    parser.add_argument(
        "--engines",
        default=",".join(core.ENGINES),
        help="where the vault keeps its data: sqlite, postgresql or both (the default)",
    )
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="time each rate is measured, over all rounds"
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="turns of every rate measured, in the same order"
    )
    parser.add_argument("--threads", type=int, default=8, help="concurrent client threads")
    parser.add_argument("--people", type=int, default=200, help="people erased across all systems")
    parser.add_argument(
        "--sizes",
        default="1000,10000,100000",
        help="with scale: the numbers of people in the vaults measured",
    )
    parser.add_argument(
        "--events",
        type=int,
        default=1_000_000,
        help="with audit: the events in the log audit verify checks",
    )
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
    parser.add_argument(
        "--tls",
        action="store_true",
        help="with core: the echo and the vaults serve TLS (a throwaway CA), tokens checked",
    )
    args = parser.parse_args()
    engines = engines_here(args.engines)
    if args.baseline is not None and "sqlite" not in engines:
        raise SystemExit("--baseline runs the other tree on SQLite: include sqlite in --engines")
    results: dict[str, Any] = {}
    if args.which in ("all", "core"):
        results["core"] = core.run(
            args.seconds,
            args.threads,
            args.rounds,
            engines,
            args.baseline,
            args.core_only,
            args.tls,
        )
        core.report(results["core"])
    if args.which in ("all", "processes"):
        if "postgresql" in engines:
            results["processes"] = processes.run(args.seconds, args.threads, args.rounds)
        else:
            results["processes"] = "skipped: it runs on PostgreSQL only"
        processes.report(results["processes"])
    if args.which in ("all", "everywhere"):
        from bench import everywhere

        results["everywhere"] = everywhere.run(args.people, engines=engines)
        everywhere.report(results["everywhere"])
    if args.which in ("all", "audit"):
        from bench import audit

        seconds = args.seconds / args.rounds
        results["audit"] = audit.run(engines, args.threads, seconds, args.events)
        audit.report(results["audit"])
    if args.which in ("all", "consent"):
        from bench import consent

        results["consent"] = consent.run(args.seconds, args.threads, args.rounds, engines)
        consent.report(results["consent"])
    if args.which in ("all", "contact"):
        from bench import contact

        results["contact"] = contact.run(args.seconds, args.threads, args.rounds, engines)
        contact.report(results["contact"])
    if args.which == "scale":
        from bench import scale

        results["scale"] = scale.run(
            args.seconds, args.threads, args.rounds, engines, sizes_asked(args.sizes)
        )
        scale.report(results["scale"])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
