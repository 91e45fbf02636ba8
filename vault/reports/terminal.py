"""What the CLI prints for a person at a terminal: subjects, records, the
export summary, erasure requests and their report, connectors.

Each function writes to the console it is given. Names (`subjects/…`,
`…/records/…`, `erasureRequests/…`) go on lines of their own, never wrapped or
cut, so they can be copied at any width and through a pipe; the text around
them wraps at words and stays legible at 80 columns. `--json` output is the
CLI's own, not drawn here.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vault.reports import words
from vault.reports.words import HIDDEN, OUTCOME_WORDS, REQUEST_WORDS, STEP_WORDS, count
from vault_client import (
    ConnectorInfo,
    ErasureRequest,
    ErasureStep,
    ExportSummary,
    Record,
    Subject,
)


# ------------------------------------------------------------- subjects
def print_subject(console: Console, subject: Subject) -> None:
    # The name goes on a line of its own, never wrapped, so it can be copied;
    # so does each identity, whole, however long (an e-mail address can be).
    console.print(subject.name, soft_wrap=True, highlight=False)
    rows = [
        ("state", subject.state),
        ("roles", HIDDEN if subject.masked else ", ".join(subject.roles) or "-"),
        ("protected identity", "yes" if subject.protected_identity else "no"),
    ]
    for label, value in rows:
        console.print(f"  {label:<20}{value}", soft_wrap=True, highlight=False, markup=False)
    identities = subject.identities
    console.print(
        f"  {count(len(identities), 'identity')}" + (":" if identities else ""), highlight=False
    )
    for identity in identities:
        label = f"{identity.kind} ({identity.system})" if identity.system else identity.kind
        value = HIDDEN if subject.masked and not identity.value else identity.value
        console.print(f"    {label}: {value}", soft_wrap=True, highlight=False, markup=False)


# -------------------------------------------------------------- records
def print_records(console: Console, records: list[Record], purpose: str = "") -> None:
    """Each record by name, with what it is and why it is held. `purpose`,
    the one the list was read for: records it may not serve are not listed."""
    if not records:
        console.print(
            f"no records that may be read for {purpose} (those held for purposes it "
            "may not serve are not listed)"
            if purpose
            else "no records",
            highlight=False,
            markup=False,
        )
    # Each record's full name on a line of its own, never cut: it is what
    # `record get` takes.
    for record in records:
        stored = f"{record.create_time:%Y-%m-%d}" if record.create_time else "-"
        console.print(record.name, soft_wrap=True, highlight=False)
        # Wrapped at words beneath the name: the basis in words is long.
        summary = (
            f"{record.category}: for {record.purpose.replace('_', ' ')} "
            f"({words.basis(record.legal_basis)}), "
            f"from {record.source_system}, stored {stored}"
        )
        for line in textwrap.wrap(
            summary,
            width=max(console.width - 1, 20),
            initial_indent="  ",
            subsequent_indent="    ",
            break_long_words=False,
            break_on_hyphens=False,
        ):
            console.print(line, soft_wrap=True, highlight=False, markup=False)
        if record.masked:
            console.print(f"  fields {HIDDEN}", highlight=False, markup=False)


# --------------------------------------------------------------- export
def print_export_summary(console: Console, summary: ExportSummary, path: Path) -> None:
    """How each system's part went, with the notes the archive at `path` carries."""
    records = count(summary.records, "vault record")
    console.print(
        f"{records}, {count(summary.bytes_written, 'byte')} written to {path}",
        soft_wrap=True,
        highlight=False,
    )
    # Only here: the archive module loads the core, which every other command can do without.
    from vault.reports.archive import system_notes

    notes = system_notes(path)
    for system, state in sorted(summary.systems.items()):
        if system != "vault":
            console.print(escape(f"  {system}: {state}"), soft_wrap=True, highlight=False)
        for note in notes.get(system, []):
            console.print(escape(f"    note: {note}"), highlight=False)
    withheld = sorted(s for s, state in summary.systems.items() if state.startswith("withheld"))
    if withheld:
        console.print(
            "Withheld systems were left out: the records they found may be someone else's. "
            "Check them in the system; if they are this person's, export again with "
            + " ".join(f"--same-person {s}" for s in withheld)
            + " --by YOUR-NAME",
            soft_wrap=True,
            highlight=False,
        )


# -------------------------------------------------------------- erasure
def request_in_words(request: ErasureRequest) -> str:
    return REQUEST_WORDS.get(request.state, request.state.replace("_", " "))


def scope_in_words(request: ErasureRequest) -> str:
    """What the request erases: the whole person, or one purpose's data."""
    if request.scope == "purpose":
        return f"consent for {request.purpose} no longer stands: what is held for it"
    return "the whole person, everywhere"


def step_in_words(step: ErasureStep) -> str:
    words = STEP_WORDS.get(step.state, step.state.replace("_", " "))
    if step.state == "succeeded" and any(
        item.outcome == "manual_action" and not item.confirmed_by for item in step.items
    ):
        return f"{words}, waiting for a manual action"
    return words


def steps_table(request: ErasureRequest) -> Table:
    """The live table while an erasure runs."""
    table = Table(
        "system",
        "state",
        "attempts",
        "last error",
        title=f"{request.name}: {request_in_words(request)}",
    )
    for step in request.steps:
        table.add_row(step.system, step_in_words(step), str(step.attempts), step.last_error or "")
    return table


def print_requests(console: Console, requests: list[ErasureRequest]) -> None:
    if not requests:
        console.print("no erasure requests", highlight=False)
    # Names whole, each on a line of its own: show, retry and confirm take them.
    for request in requests:
        console.print(request.name, soft_wrap=True, highlight=False)
        console.print(f"  state     {request_in_words(request)}", highlight=False)
        console.print(f"  subject   {request.subject}", soft_wrap=True, highlight=False)
        console.print(
            f"  erases    {scope_in_words(request)}", soft_wrap=True, highlight=False, markup=False
        )
        console.print(
            f"  received  {request.create_time:%Y-%m-%d}, "
            f"legal deadline {request.deadline_time:%Y-%m-%d}",
            highlight=False,
        )


def print_request(console: Console, request: ErasureRequest) -> None:
    """The erasure report a person reads: one section per system, each item's
    outcome first and its text wrapped beside it at words, so it stays legible
    in an 80-column terminal (the legal reasons are long) and no line ends in
    padding, in a terminal or through a pipe."""
    # Each name whole on a line of its own: together they wrap at 80 columns.
    console.print(request.name, soft_wrap=True, highlight=False, markup=False)
    console.print(request.subject, soft_wrap=True, highlight=False, markup=False)
    console.print(
        f"erases: {scope_in_words(request)}", soft_wrap=True, highlight=False, markup=False
    )
    console.print(f"state: [bold]{request_in_words(request)}[/bold]", highlight=False)
    console.print(
        f"received {request.create_time:%Y-%m-%d %H:%M} UTC; "
        f"legal deadline {request.deadline_time:%Y-%m-%d}",
        soft_wrap=True,
        highlight=False,
        markup=False,
    )
    waiting = []
    undecided: list[str] = []
    for step in request.steps:
        console.print()
        console.print(
            f"[bold]{escape(step.system)}[/bold]: {escape(step_in_words(step))}",
            highlight=False,
        )
        rows: list[tuple[str, str]] = []
        if step.conflict and not step.decision:
            rows.append(
                (
                    "conflict",
                    "nothing done here: the records found may be someone else's\n"
                    + "\n".join(f"- {text}" for text in step.conflict)
                    + "\nto decide: see below",
                )
            )
            undecided.append(step.system)
        elif step.state not in ("succeeded", "not_applicable"):
            rows.append((f"({count(step.attempts, 'attempt')})", step.last_error or ""))
        if step.decision:
            verdict = (
                "the same person: erased after all"
                if step.decision == "same_person"
                else "not this person: nothing erased here"
            )
            rows.append(("decided", f"by {step.decided_by}: {verdict}"))
        for note in step.notes:
            rows.append(("note", note))
        for item in step.items:
            text = f"{item.category}: {item.description}" if item.category else item.description
            if item.outcome == "retained":
                until = (
                    f"kept through {item.retained_until:%Y-%m-%d}"
                    if item.retained_until
                    else "kept"
                )
                text += f"\n{until}: {item.legal_reason}"
            elif item.outcome == "manual_action":
                if item.confirmed_by:
                    text += f"\nconfirmed by {item.confirmed_by}"
                else:
                    text += "\nwaiting: see below"
                    waiting.append(item)
            rows.append((OUTCOME_WORDS.get(item.outcome, item.outcome), text))
        if step.state == "succeeded" and not step.items and not rows:
            # Done with nothing to report: the system held nothing the request
            # reaches (a purpose the vault held no records for), said so.
            rows.append(("nothing", "nothing was held there for this request"))
        _print_rows(console, rows, indent=2)
    for system in undecided:
        # Printed whole, never cut to a column: the command is what the officer types.
        console.print(
            f"\n[bold]Is it the same person?[/bold] Check the records {escape(system)} found "
            "(look them up in the system), then one of:",
            highlight=False,
        )
        for decision in ("same-person", "not-this-person"):
            console.print(
                f"consent-vault requests decide {request.name} {system} {decision} --by YOUR-NAME",
                soft_wrap=True,
                highlight=False,
                markup=False,
            )
    for item in waiting:
        # The name on a line of its own, never cut to a column: the admin copies it.
        console.print("\n[bold]Manual action[/bold]", highlight=False)
        console.print(item.manual_action, soft_wrap=True, highlight=False, markup=False)
        # Wrapped at words: a profile's address or a command is never broken.
        for line in textwrap.wrap(
            item.instructions or "(instructions no longer readable)",
            width=max(console.width - 1, 20),
            break_long_words=False,
            break_on_hyphens=False,
        ):
            console.print(line, soft_wrap=True, highlight=False, markup=False)
        console.print(
            f"When done: consent-vault requests confirm {item.manual_action} --by YOUR-NAME",
            soft_wrap=True,
            highlight=False,
            markup=False,
        )


def _print_rows(console: Console, rows: list[tuple[str, str]], indent: int) -> None:
    """Label and text side by side, the text wrapped at words beside the
    labels' column; a word longer than the line (a name) is never broken."""
    if not rows:
        return
    label_width = max(len(label) for label, _ in rows)
    margin = " " * (indent + label_width + 2)
    width = max(console.width - len(margin), 20)
    for label, text in rows:
        lines = [
            wrapped
            for paragraph in text.split("\n")
            for wrapped in textwrap.wrap(
                paragraph, width, break_long_words=False, break_on_hyphens=False
            )
            or [""]
        ]
        first = f"{' ' * indent}{label.ljust(label_width)}  {lines[0]}"
        console.print(first.rstrip(), soft_wrap=True, highlight=False, markup=False)
        for line in lines[1:]:
            console.print((margin + line).rstrip(), soft_wrap=True, highlight=False, markup=False)


# ----------------------------------------------------------- connectors
def print_connectors(console: Console, connectors: list[ConnectorInfo], checked: bool) -> None:
    """One section per connector, its holdings beneath it: long retention
    texts wrap in their own column and stay legible at 80 columns. `checked`:
    health was asked for, and is shown for each enabled connector."""
    for c in connectors:
        heading = f"[bold]{c.name}[/bold] {c.version}: " + (
            # The words serve prints at start-up: one thing, one name.
            "enabled" if c.enabled else "installed, not enabled"
        )
        if c.location:
            heading += f", hosted in {c.location}"
        if checked and c.enabled:
            heading += "; health " + ("ok" if c.healthy else "[bold]FAILING[/bold]")
            heading += f" ({c.health_detail})" if c.health_detail else ""
        console.print(heading, highlight=False)
        # Whether a withdrawal reaches the system by itself, or by a person.
        if "withdraw_consent" in c.capabilities:
            console.print("  told when consent is withdrawn", highlight=False, markup=False)
        elif any(h.legal_basis == "consent" for h in c.holdings):
            console.print(
                "  not told when consent is withdrawn: a person is asked to act",
                highlight=False,
                markup=False,
            )
        # Each category, then why it is held and how long, wrapped at words
        # beside it: no padded table lines, at 80 columns or through a pipe.
        _print_rows(
            console,
            [
                (
                    h.category,
                    words.basis(h.legal_basis)
                    + ("" if h.erasable else ", kept by law")
                    + f"; {h.retention}",
                )
                for h in c.holdings
            ],
            indent=2,
        )
        console.print()


def print_connector_check(console: Console, connector: ConnectorInfo) -> None:
    state = "ok" if connector.healthy else "FAILING"
    console.print(
        f"{connector.name} {connector.version}: {state} ({connector.health_detail})", soft_wrap=True
    )
