"""Who may be contacted, over 100,000 people (`python -m bench contact`): the
contact stream's people a second over gRPC, on each engine, and the cost of
the purpose check on GetRecord against the echo in the same rounds.

The vault is built once per engine in the benchmark's own process: the
people through the core's bulk import (a batch of 1,000 a transaction), and
their consent to e-mail marketing written a batch of 1,000 events a
transaction as the consent history stores them (an event and its standing,
sealed under the person's consent key; no audit event each, which a
benchmark's set-up does not need). Most have consent that stands; the others
refused, withdrew, gave it under the version before a material change, or
gave it and then objected or were restricted, so the stream passes over
people it leaves out as a mailing's would. On SQLite the built data
directory is kept under the system's temporary directory, named for the
people and the storage code, so the next run starts at once; on PostgreSQL a
schema of the run's own is built and dropped.

Beside the gRPC figure, the same stream in the core alone (the vault opened
in this process) and the store's pages alone, so where the time goes is
measured, not guessed. GetRecord reads a record held for e-mail marketing
for that purpose (its consent, restrictions and objections checked on every
read), one held for course delivery for its own purpose (contract: no
consent to check) and, for the cost of the check itself, the first again
for a rights request (the privacy officer's default, which checks none),
each against the bare echo.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from rich.console import Console
from rich.table import Table

from bench import postgres
from bench.core import TITLES
from bench.load import channel_to, rate, sample_record, server_process
from bench.servers import ECHO_METHOD
from vault.bootstrap import close_vault, open_vault
from vault.core.actor import LOCAL
from vault.core.consent import history
from vault.core.consent.model import Channel, ConsentEvent, ConsentStatus, PolicyDraft
from vault.core.identities import IdentityKind
from vault.core.model import LegalBasis, RecordDraft
from vault.core.subject_import import NewSubject, SubjectBatch
from vault.core.subjects import IdentityInput
from vault.core.vault import Vault
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc

console = Console()
PEOPLE = 100_000
BATCH = 1_000
PURPOSE = "marketing_email"
# The aim the issue set for SQLite.
AIM = 50_000
# People whose records GetRecord reads, the first imported.
READ_PEOPLE = 500
# The storage code a built vault depends on: a change to it builds afresh.
_STORAGE = Path(__file__).resolve().parent.parent / "vault" / "storage"


@dataclass(frozen=True)
class Built:
    """A vault as built: the records GetRecord reads (for e-mail marketing and
    for course delivery), the people who may be contacted, and the seconds
    the build took (0 when a kept one was used)."""

    marketing_records: list[str]
    course_records: list[str]
    contactable: int
    seconds: float


# Of every 100 people, how many are in each state but "given" (the rest, 85).
_STATES = (
    ("refused", 3),
    ("withdrawn", 3),
    ("outdated", 3),  # given under the version before a material change
    ("objected", 1),
    ("restricted", 1),  # for every purpose
    ("not asked", 4),
)


def state(n: int) -> str:
    """Person n's state: 85 in 100 may be contacted."""
    left = n % 100
    for name, count in _STATES:
        if left < count:
            return name
        left -= count
    return "given"


def person(n: int) -> NewSubject:
    records = []
    if n < READ_PEOPLE:
        fields = {"name": f"Person {n}", "address": "Kalendegatan 10, 211 35 Malmö", "n": n}
        records = [
            RecordDraft("contact", PURPOSE, LegalBasis.CONSENT, "website", fields),
            RecordDraft("contact", "course_delivery", LegalBasis.CONTRACT, "lms", fields),
        ]
    return NewSubject(
        identities=[IdentityInput(IdentityKind.EMAIL, f"person{n}@contact.example")],
        records=records,
    )


def build(vault: Vault, people: int) -> None:
    """`people` people, a batch of 1,000 a transaction; then their consent
    and limits."""
    # 2026-02 changed e-mail marketing materially: consent given under 2026-01 no longer stands.
    for name, effective in (("2026-01", dt.date(2026, 1, 1)), ("2026-02", dt.date(2026, 2, 1))):
        vault.policies.publish(
            LOCAL,
            PolicyDraft(
                name,
                effective,
                text=f"The school's privacy policy, version {name}.",
                changed_purposes=(PURPOSE,),
            ),
        )
    old, current = vault.policies.versions()
    for first in range(0, people, BATCH):
        numbers = range(first, min(first + BATCH, people))
        batch = SubjectBatch([person(n) for n in numbers])
        subject_ids = vault.import_subjects(LOCAL, [batch]).subject_ids
        rows = []
        for n, subject_id in zip(numbers, subject_ids, strict=True):
            said = state(n)
            if said == "not asked":
                continue
            status = ConsentStatus.REFUSED if said == "refused" else ConsentStatus.GIVEN
            version = old if said == "outdated" else current
            rows.append(_event(vault, subject_id, status, version.version, version.seq))
            if said == "withdrawn":
                withdrawn = ConsentStatus.WITHDRAWN
                rows.append(_event(vault, subject_id, withdrawn, current.version, current.seq))
        with vault.records.write() as tx:
            tx.consents.append(rows)
        for n, subject_id in zip(numbers, subject_ids, strict=True):
            if state(n) == "objected":
                vault.limits.record_objection(LOCAL, subject_id, [PURPOSE], "no more mail")
            elif state(n) == "restricted":
                vault.limits.record_restriction(LOCAL, subject_id, [], "accuracy contested")


def _event(vault: Vault, subject_id: str, status: ConsentStatus, version: str, seq: int) -> Any:
    """An event as the consent history stores it (history._row: sealed under
    the person's consent key), for a batch of many people's."""
    now = vault.clock.now()
    key = vault.keys.data_key(
        subject_id, history.CONSENT_CATEGORY, history.CONSENT_PURPOSE, create=True
    )
    event = ConsentEvent(
        event_id=str(uuid.uuid4()),
        subject_id=subject_id,
        purpose=PURPOSE,
        status=status,
        given_at=now,
        recorded_at=now,
        policy_version=version,
        channel=Channel.WEB_FORM,
        evidence="form submission 4711",
        recorded_by=LOCAL.who,
    )
    return history._row(event, seq, key)


def kept_directory(people: int) -> Path:
    """Where a built SQLite vault of `people` is kept between runs: named for
    the storage code, so a vault built by other code is never served."""
    digest = hashlib.sha256()
    for source in sorted(_STORAGE.rglob("*.py")):
        digest.update(source.read_bytes())
    name = f"consent-vault-bench-contact-{people}-{digest.hexdigest()[:12]}"
    return Path(tempfile.gettempdir()) / name


def ready(data_dir: Path | None, database: str | None, people: int) -> tuple[Path, float]:
    """A built vault's data directory, and the seconds building it took."""
    if data_dir is None:
        kept = kept_directory(people)
        if (kept / "built").exists():
            return kept, 0.0
        shutil.rmtree(kept, ignore_errors=True)
        data_dir = kept
    start = time.perf_counter()
    vault = open_vault(data_dir, database=database)
    try:
        build(vault, people)
    finally:
        close_vault(vault)
    if database is not None:
        # What autovacuum would do within a minute or so of a bulk load: fresh
        # statistics. Planned on the empty tables' estimates, a page sorts the
        # whole rest of the purpose's range (measured: 4,400 people/s).
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute("ANALYZE")
    (data_dir / "built").touch()
    return data_dir, time.perf_counter() - start


def in_process(data_dir: Path, database: str | None) -> dict[str, float]:
    """The stream's people a second in the core alone, and the store's pages
    alone, on the built vault opened in this process."""
    vault = open_vault(data_dir, database=database)
    try:
        # The median of three whole streams, as the gRPC figure is of its rounds.
        took = []
        for _ in range(3):
            start = time.perf_counter()
            pages = vault.stream_contactable(LOCAL, PURPOSE, page_size=1000)
            given = sum(len(page.people) for page in pages)
            took.append(time.perf_counter() - start)
        core = statistics.median(took)
        start = time.perf_counter()
        after, read = "", 0
        while True:
            rows = vault.records.consents.standing_page(PURPOSE, 2, after, 1000)
            read += len(rows)
            if len(rows) < 1000:
                break
            after = rows[-1].subject_id
        store = time.perf_counter() - start
        start = time.perf_counter()
        vault.records.consents.limits_in_effect()
        limits = time.perf_counter() - start
    finally:
        close_vault(vault)
    return {
        "contactable": given,
        "core_pps": given / core,
        "store_rows_per_second": read / store,
        "limits_seconds": limits,
    }


def record_names(data_dir: Path, database: str | None) -> tuple[list[str], list[str]]:
    """The names of the records GetRecord reads: those held for e-mail
    marketing of the people a read for it is allowed for, and those held for
    course delivery."""
    vault = open_vault(data_dir, database=database)
    try:
        marketing: list[str] = []
        course: list[str] = []
        for subject_id, _ in vault.records.records.purpose_holders(PURPOSE, "", READ_PEOPLE):
            grounds = vault.grounds.of(subject_id)
            for record in vault.stream_records(LOCAL, subject_id, None):
                # Only reads that are allowed: a refusal is another path.
                if vault.grounds.stopped(grounds, record.purpose) is not None:
                    continue
                name = f"subjects/{subject_id}/records/{record.record_id}"
                (course if record.purpose == "course_delivery" else marketing).append(name)
    finally:
        close_vault(vault)
    return marketing, course


def run(
    seconds: float, threads: int, rounds: int, engines: list[str], people: int = PEOPLE
) -> dict[str, Any]:
    """Each engine's vault built (or kept) and served; then, `rounds` times in
    turns, the whole stream and the echo and GetRecord rates."""
    results: dict[str, Any] = {"people": people, "threads": threads, "engines": engines}
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        calls: dict[str, Callable[[int, int], Any]] = {}
        streams: dict[str, Callable[[], tuple[int, float]]] = {}
        token = ""
        for engine in engines:
            database = (
                stack.enter_context(postgres.schema_of_its_own("bench_contact"))
                if engine == "postgresql"
                else None
            )
            data_dir, built = ready(tmp / engine if database else None, database, people)
            results[f"{engine}_build_seconds"] = built
            results |= {f"{engine}_{k}": v for k, v in in_process(data_dir, database).items()}
            marketing, course = record_names(data_dir, database)
            served = stack.enter_context(server_process("vault", data_dir, database=database))
            token = served.token
            channel = stack.enter_context(channel_to(served))
            consent = pb_grpc.ConsentServiceStub(channel)
            reads = pb_grpc.RecordServiceStub(channel)
            streams[engine] = _stream(consent, 1000)
            calls |= _gets(engine, reads, marketing, course)
        echo_server = stack.enter_context(server_process("echo"))
        echo = stack.enter_context(channel_to(echo_server, token=token)).unary_unary(
            ECHO_METHOD, None, None
        )
        payload = pb.CreateRecordRequest(
            parent="subjects/" + "0" * 32, record=sample_record()
        ).SerializeToString()
        calls = {"echo": lambda t, i: echo(payload), **calls}
        for call in calls.values():
            call(0, 0)
        measured: dict[str, list[float]] = {name: [] for name in calls}
        streamed: dict[str, list[float]] = {engine: [] for engine in streams}
        for _ in range(rounds):
            for engine, stream in streams.items():
                given, took = stream()
                results[f"{engine}_streamed"] = given
                streamed[engine].append(given / took)
            for name, call in calls.items():
                measured[name].append(rate(call, threads, seconds / rounds))
    for engine, rates in streamed.items():
        results[f"{engine}_stream_pps"] = statistics.median(rates)
    for name, rates in measured.items():
        results[f"{name}_rps"] = statistics.median(rates)
        if name != "echo":
            results[f"{name}_ratio"] = statistics.median(
                r / e for r, e in zip(rates, measured["echo"], strict=True)
            )
    return results


def _stream(stub: pb_grpc.ConsentServiceStub, page_size: int) -> Callable[[], tuple[int, float]]:
    request = pb.StreamContactableRequest(purpose=PURPOSE, page_size=page_size)

    def whole() -> tuple[int, float]:
        start = time.perf_counter()
        people = sum(len(message.people) for message in stub.StreamContactable(request))
        return people, time.perf_counter() - start

    return whole


def _gets(
    engine: str, stub: pb_grpc.RecordServiceStub, marketing: list[str], course: list[str]
) -> dict[str, Callable[[int, int], Any]]:
    consent_reads = [pb.GetRecordRequest(name=n, purpose=PURPOSE) for n in marketing]
    contract_reads = [pb.GetRecordRequest(name=n, purpose="course_delivery") for n in course]
    # No purpose: the privacy officer's default, answering a rights request,
    # which no consent, restriction or objection stops.
    rights_reads = [pb.GetRecordRequest(name=n) for n in marketing]
    return {
        f"{engine}_get_rights": lambda t, i: stub.GetRecord(
            rights_reads[(t * 97 + i) % len(rights_reads)]
        ),
        f"{engine}_get_consent": lambda t, i: stub.GetRecord(
            consent_reads[(t * 97 + i) % len(consent_reads)]
        ),
        f"{engine}_get_contract": lambda t, i: stub.GetRecord(
            contract_reads[(t * 97 + i) % len(contract_reads)]
        ),
    }


def report(results: dict[str, Any]) -> None:
    engines = results["engines"]
    table = Table(title=f"who may be contacted, {results['people']:,} people")
    table.add_column("measure")
    for engine in engines:
        table.add_column(TITLES[engine], justify="right")

    def row(words: str, cell: Callable[[str], str]) -> None:
        table.add_row(words, *[cell(e) for e in engines])

    row("people who may be contacted", lambda e: f"{results[f'{e}_streamed']:,}")
    row(
        f"contact stream over gRPC (aim {AIM:,}/s on SQLite)",
        lambda e: f"{results[f'{e}_stream_pps']:,.0f}/s",
    )
    row("the same stream in the core alone", lambda e: f"{results[f'{e}_core_pps']:,.0f}/s")
    row("the store's pages alone", lambda e: f"{results[f'{e}_store_rows_per_second']:,.0f}/s")
    row(
        "limits in effect, read once",
        lambda e: f"{results[f'{e}_limits_seconds'] * 1000:,.1f} ms",
    )
    row(
        "building the vault",
        lambda e: (
            f"{results[f'{e}_build_seconds']:,.0f} s" if results[f"{e}_build_seconds"] else "kept"
        ),
    )
    console.print(table)
    reads = Table(
        title=f"GetRecord's purpose check, {results['threads']} threads, against the echo"
    )
    reads.add_column("measure")
    for engine in engines:
        reads.add_column(TITLES[engine], justify="right")
    reads.add_row("echo baseline", *[f"{results['echo_rps']:,.0f}/s"] * len(engines))
    for measure, words in (
        ("get_rights", "GetRecord for a rights request (no purpose check)"),
        ("get_contract", "GetRecord for course delivery (contract)"),
        ("get_consent", "GetRecord for e-mail marketing (consent checked)"),
    ):
        reads.add_row(
            words,
            *[
                f"{results[f'{e}_{measure}_rps']:,.0f}/s ({results[f'{e}_{measure}_ratio']:.2f}x)"
                for e in engines
            ],
        )
    console.print(reads)
