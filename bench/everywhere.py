"""Export and erasure of one person across the vault and the four stand-ins, over 200
people, against the vault-only calls measured in the same run, with the vault
on each storage engine in turn; and the salon connector alone against a
PostgreSQL salon database of 1,000 customers."""

from __future__ import annotations

import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import grpc
import tomli_w
from rich.console import Console
from rich.table import Table

from bench import postgres
from bench.load import Bearer
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc
from vault_standins import demo as standins
from vault_standins import salon
from vault_standins.people import Person, generated_people

console = Console()
TITLES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


class Server:
    def __init__(
        self,
        data_dir: Path,
        config: dict[str, Any] | None,
        env: dict[str, str],
        database: str | None = None,
    ) -> None:
        place = ["--data-dir", str(data_dir)]
        if database is not None:
            place += ["--database", database]
        self.token = _officer_token(place, env)
        args = [sys.executable, "-m", "vault.cli", "serve", "--address", "127.0.0.1:0", *place]
        if config is not None:
            path = data_dir.parent / f"{data_dir.name}.toml"
            path.write_text(tomli_w.dumps(config))
            args += ["--config", str(path)]
        self.log = (data_dir.parent / f"{data_dir.name}.log").open("w+")
        self.process = subprocess.Popen(
            args,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "COLUMNS": "200", **env},
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            self.log.seek(0)
            text = self.log.read()
            if "listening on" in text:
                self.address = text.split("listening on ")[1].split()[0]
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError("the vault server did not start:\n" + text)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


def _officer_token(place: list[str], env: dict[str, str]) -> str:
    """A privacy officer's token, made in the vault at `place` (its --data-dir
    and --database) before the server starts there: the calls measured need one."""
    made = subprocess.run(
        [sys.executable, "-m", "vault.cli", "tokens", "create", "--role", "privacy_officer",
         "--name", "benchmark", *place],
        capture_output=True, text=True, env={**os.environ, **env}, check=False,
    )  # fmt: skip
    if made.returncode != 0:
        raise RuntimeError("no token could be made for the vault:\n" + made.stderr)
    return made.stdout.splitlines()[-1]


# Each person's records in the vault itself: one for each of three of the
# school's purposes, on its basis (the vault refuses any other).
HELD = (
    ("contact", "course_delivery", pb.LEGAL_BASIS_CONTRACT, "lms"),
    ("billing", "bookkeeping", pb.LEGAL_BASIS_LEGAL_OBLIGATION, "accounting"),
    ("notes", "salon_booking", pb.LEGAL_BASIS_CONTRACT, "salon"),
)


def register(
    stub: pb_grpc.SubjectServiceStub, records: pb_grpc.RecordServiceStub, person: Person
) -> str:
    identities = [
        pb.Identity(kind=pb.IDENTITY_KIND_PERSONNUMMER, value=person.personnummer),
        pb.Identity(kind=pb.IDENTITY_KIND_EMAIL, value=person.email),
        pb.Identity(kind=pb.IDENTITY_KIND_PHONE, value=person.phone),
    ]
    name = stub.CreateSubject(pb.CreateSubjectRequest(identities=identities)).subject.name
    for category, purpose, basis, system in HELD:
        record = pb.Record(
            category=category, purpose=purpose, legal_basis=basis, source_system=system
        )
        record.fields.update({"name": person.name, "note": "benchmark record"})
        records.CreateRecord(pb.CreateRecordRequest(parent=name, record=record))
    return name


def timed(call: Callable[[str], None], names: list[str], threads: int) -> dict[str, float]:
    latencies: list[float] = []
    lock = threading.Lock()
    queue = list(names)

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                name = queue.pop()
            start = time.perf_counter()
            call(name)
            with lock:
                latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[int(len(latencies) * 0.95) - 1] * 1000,
        "per_s": len(latencies) / elapsed,
    }


def measure_server(
    server: Server, people: list[Person], threads: int
) -> dict[str, dict[str, float]]:
    with grpc.insecure_channel(
        server.address, options=[("grpc.max_receive_message_length", 64 << 20)]
    ) as opened:
        channel = grpc.intercept_channel(opened, Bearer(server.token))
        subjects, records = pb_grpc.SubjectServiceStub(channel), pb_grpc.RecordServiceStub(channel)
        names = [register(subjects, records, p) for p in people]

        def export(name: str) -> None:
            for _ in subjects.ExportSubject(pb.ExportSubjectRequest(name=name), timeout=60):
                pass

        def erase(name: str) -> None:
            last = list(subjects.EraseSubject(pb.EraseSubjectRequest(name=name), timeout=120))[
                -1
            ].request
            if last.state not in (
                pb.ERASURE_REQUEST_STATE_COMPLETED,
                pb.ERASURE_REQUEST_STATE_AWAITING_MANUAL_ACTION,
            ):
                raise RuntimeError(f"erasure ended {pb.ErasureRequestState.Name(last.state)}")

        return {"export": timed(export, names, threads), "erase": timed(erase, names, threads)}


def salon_alone(customers: int = 1000) -> dict[str, float] | str:
    if postgres.unreachable() is not None:
        return f"skipped: PostgreSQL is not reachable at {postgres.URL}"
    from vault import __version__
    from vault.connectors.registry import ConnectorRegistry
    from vault.core.identities import Identity, IdentityKind
    from vault.plugins.host import VaultHost
    from vault.plugins.manager import make_plugin_manager

    people = generated_people(customers, seed=11)
    schema = f"bench_salon_{secrets.token_hex(3)}"
    salon.create_postgres(postgres.URL, schema, people)
    registry = ConnectorRegistry.load(
        {"salon": standins.salon_section(postgres.URL, schema)},
        make_plugin_manager(),
        VaultHost(__version__),
        Path.cwd(),
        {},
    )
    connector = registry.get("salon").connector  # type: ignore[union-attr]
    assert connector is not None
    latencies = []
    today = time.gmtime()
    import datetime as dt

    day = dt.date(today.tm_year, today.tm_mon, today.tm_mday)
    start = time.perf_counter()
    for person in people:
        identities = [
            Identity(IdentityKind.EMAIL, person.email),
            Identity(IdentityKind.PHONE, person.phone),
            Identity(IdentityKind.PERSONNUMMER, person.personnummer),
        ]
        begun = time.perf_counter()
        connector.erase(identities, day)
        latencies.append(time.perf_counter() - begun)
    elapsed = time.perf_counter() - start
    registry.close()
    salon.drop_postgres(postgres.URL, schema)
    latencies.sort()
    return {
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[int(len(latencies) * 0.95) - 1] * 1000,
        "per_s": len(latencies) / elapsed,
    }


def run(
    people_count: int = 200, threads: int = 4, engines: tuple[str, ...] | list[str] = ("sqlite",)
) -> dict[str, Any]:
    """Each engine in turn: the vault alone, then the vault with the four
    systems (fresh stand-ins, so each engine's run erases the same people);
    on PostgreSQL each vault in a schema of its own, dropped after."""
    people = generated_people(people_count, seed=3)
    baseline_people = generated_people(people_count, seed=5, start=people_count)
    results: dict[str, Any] = {"people": people_count, "threads": threads, "engines": list(engines)}
    with tempfile.TemporaryDirectory() as tmp:
        for engine in engines:
            root = Path(tmp) / engine
            with ExitStack() as stack:
                environ: dict[str, str] = {}
                systems = standins.start(root / "systems", people=people, environ=environ)
                stack.callback(systems.stop)

                alone_at, everywhere_at = (
                    [
                        stack.enter_context(postgres.schema_of_its_own("bench_everywhere"))
                        for _ in range(2)
                    ]
                    if engine == "postgresql"
                    else [None, None]
                )
                vault_only = Server(root / "vault-only", None, {}, alone_at)
                try:
                    alone = measure_server(vault_only, baseline_people, threads)
                finally:
                    vault_only.stop()
                config = {"connectors": systems.sections, "erasure": {"backoff_base_s": 0.1}}
                everywhere = Server(root / "everywhere", config, environ, everywhere_at)
                try:
                    results[engine] = {
                        "vault_only": alone,
                        "everywhere": measure_server(everywhere, people, threads),
                    }
                finally:
                    everywhere.stop()
    results["salon_postgres"] = salon_alone()
    return results


def report(results: dict[str, Any]) -> None:
    table = Table(
        title=f"one person everywhere ({results['people']} people, {results['threads']} client threads)"
    )
    for column in ("call", "vault on", "where", "p50", "p95", "per second", "vs vault only"):
        table.add_column(
            column, justify="right" if column in ("p50", "p95", "per second") else "left"
        )
    for call in ("export", "erase"):
        for engine in results["engines"]:
            base = results[engine]["vault_only"][call]
            full = results[engine]["everywhere"][call]
            for where, figures, versus in (
                ("vault only", base, "1.00x"),
                ("vault + 4 systems", full, f"{full['p50_ms'] / base['p50_ms']:.2f}x latency"),
            ):
                table.add_row(
                    call,
                    TITLES[engine],
                    where,
                    f"{figures['p50_ms']:.1f} ms",
                    f"{figures['p95_ms']:.1f} ms",
                    f"{figures['per_s']:.1f}",
                    versus,
                )
    salon_result = results["salon_postgres"]
    if isinstance(salon_result, dict):
        table.add_row(
            "erase",
            "",
            "salon connector, PostgreSQL, 1,000 customers",
            f"{salon_result['p50_ms']:.1f} ms",
            f"{salon_result['p95_ms']:.1f} ms",
            f"{salon_result['per_s']:.1f}",
            "target < 40 ms",
        )
    else:
        table.add_row("erase", "", "salon connector, PostgreSQL", salon_result, "", "", "")
    console.print(table)
