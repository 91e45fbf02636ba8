"""Consent over gRPC, on each engine, against the bare echo in the same rounds
(`python -m bench consent`): consent events written a second (RecordConsent,
each durable with its audit event before the answer) and current-state reads
a second (GetConsentState of a person with a short history: their standing
for every consent-based purpose, its audit event committed first).

Each thread records for a person of its own, so the figure is the vault's
write path and not one person's row lock; reads spread over 100 people.
"""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import grpc
from rich.console import Console
from rich.table import Table

from bench import postgres
from bench.load import channel_to, new_subject, rate, sample_record, server_process
from bench.servers import ECHO_METHOD
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc

console = Console()
TITLES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
PURPOSES = ("marketing_email", "marketing_sms", "customer_surveys")
READ_PEOPLE = 100


def _given(subject: str, purpose: str) -> pb.RecordConsentRequest:
    return pb.RecordConsentRequest(
        subject=subject,
        purposes=[purpose],
        status=pb.CONSENT_STATUS_GIVEN,
        channel=pb.CONSENT_CHANNEL_WEB_FORM,
        evidence="form submission 4711",
    )


class Consents:
    """RecordConsent and GetConsentState calls for `threads` callers."""

    def __init__(self, channel: grpc.Channel, threads: int) -> None:
        subjects = pb_grpc.SubjectServiceStub(channel)
        self.stub = pb_grpc.ConsentServiceStub(channel)
        writers = [new_subject(subjects, f"consenting-{t}") for t in range(threads)]
        self.records = [[_given(s, p) for p in PURPOSES] for s in writers]
        readers = [new_subject(subjects, f"reader-{n}") for n in range(READ_PEOPLE)]
        for subject in readers:
            for purpose in PURPOSES[:2]:
                self.stub.RecordConsent(_given(subject, purpose))
        self.reads = [pb.GetConsentStateRequest(subject=s) for s in readers]

    def record(self, thread: int, i: int) -> Any:
        return self.stub.RecordConsent(self.records[thread][i % len(PURPOSES)])

    def state(self, thread: int, i: int) -> Any:
        return self.stub.GetConsentState(self.reads[(thread * 31 + i) % len(self.reads)])


def run(seconds: float, threads: int, rounds: int, engines: list[str]) -> dict[str, Any]:
    """Echo, then each engine's record and state, in turns, `rounds` times;
    each ratio is the median of its rounds' ratios."""
    results: dict[str, Any] = {"threads": threads, "seconds": seconds, "engines": engines}
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        calls: dict[str, Callable[[int, int], Any]] = {}
        token = ""
        for engine in engines:
            database = (
                stack.enter_context(postgres.schema_of_its_own("bench_consent"))
                if engine == "postgresql"
                else None
            )
            served = stack.enter_context(server_process("vault", tmp / engine, database=database))
            token = served.token
            consents = Consents(stack.enter_context(channel_to(served)), threads)
            calls |= {f"{engine}_record": consents.record, f"{engine}_state": consents.state}
        echo_server = stack.enter_context(server_process("echo"))
        echo = stack.enter_context(channel_to(echo_server, token=token)).unary_unary(
            ECHO_METHOD, None, None
        )
        # The echo's message is the put's, as in `bench core`: one baseline for all.
        payload = pb.CreateRecordRequest(
            parent="subjects/" + "0" * 32, record=sample_record()
        ).SerializeToString()
        calls = {"echo": lambda t, i: echo(payload), **calls}
        echo(payload)
        measured: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(rounds):
            for name, call in calls.items():
                measured[name].append(rate(call, threads, seconds / rounds))
    for name, rates in measured.items():
        results[f"{name}_rps"] = statistics.median(rates)
        if name != "echo":
            results[f"{name}_ratio"] = statistics.median(
                r / e for r, e in zip(rates, measured["echo"], strict=True)
            )
    return results


def report(results: dict[str, Any]) -> None:
    table = Table(title=f"consent over gRPC, {results['threads']} threads, against the echo")
    table.add_column("measure")
    for engine in results["engines"]:
        table.add_column(TITLES[engine], justify="right")
    table.add_row("echo baseline", *[f"{results['echo_rps']:,.0f}/s"] * len(results["engines"]))
    for measure, words in (("record", "consent events written"), ("state", "current-state reads")):
        table.add_row(
            words,
            *[
                f"{results[f'{e}_{measure}_rps']:,.0f}/s ({results[f'{e}_{measure}_ratio']:.2f}x)"
                for e in results["engines"]
            ],
        )
    console.print(table)
