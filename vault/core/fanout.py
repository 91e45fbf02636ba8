"""Exporting a person from the vault and every enabled connector's system, concurrently.

Each connector runs in its own thread under its own deadline; one that fails,
hangs or returns malformed data is reported as failed in the export, and the
rest of the export completes.

The export's event is committed before anything of it leaves, and each call
of a connector is told (`CallTold`) before its part of the export is given:
a part whose event cannot be written fails, as a system that failed.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from collections.abc import Collection, Iterator, Mapping

from vault.connectors.base import (
    Connector,
    ExportFile,
    ExportItem,
    Holdings,
    Match,
    takes_references,
)
from vault.core import access, matching, rules
from vault.core.actor import Actor
from vault.core.audit.events import Operation, counted
from vault.core.connector_calls import CallTold, kinds_asked
from vault.core.errors import InvalidArgument
from vault.core.export import SubjectExport, SystemExport, SystemProgress
from vault.core.model import Controller
from vault.core.vault import Vault

log = logging.getLogger("vault.export")


def export_everywhere(
    actor: Actor,
    vault: Vault,
    connectors: Mapping[str, Connector],
    holdings: Mapping[str, Holdings],
    subject_id: str,
    timeout_seconds: float = 30.0,
    same_person: Collection[str] = (),
    controller: Controller | None = None,
    decided_by: str = "",
) -> SubjectExport:
    """The subject's export: the vault's records and every system's part.

    A system whose records may be someone else's (see `matching`) is withheld,
    unless a privacy officer (`decided_by`) checked it and named it in
    `same_person`; the export then says so beside that system.
    """
    # Every system is sent the person's identifiers: a privacy officer's order
    # (the edge allows it to no one else), never masked, refused to anyone else.
    access.check_whole_person(actor, "ExportSubject")
    for index, name in enumerate(same_person):
        if name not in connectors:
            raise InvalidArgument(f"same_person_systems[{index}]", "names no enabled connector")
    if same_person:
        decided_by = rules.person_named(decided_by, "decided_by")
    # Erased or erasure-pending subjects stop here.
    subject = vault.subjects.view(actor, subject_id, "export_subject")
    identities = list(subject.identities)
    sensitive = subject.protected_identity
    # Before any connector is called, and before anything of the export leaves.
    vault.audit.commit(
        vault.audit.event(
            actor,
            Operation.EXPORT_SUBJECT,
            subject_id,
            sensitive=sensitive,
            detail=_systems_detail(connectors, same_person),
        )
    )
    # Read before any connector is called: their threads are not left running
    # behind a history that could not be read.
    controller = controller or Controller()
    consent = vault.consent_records.part(actor, subject_id, controller)
    pool = concurrent.futures.ThreadPoolExecutor(
        max_workers=max(1, len(connectors)), thread_name_prefix="export"
    )
    started = time.monotonic()

    def export_one(name: str, connector: Connector) -> SystemExport:
        call = CallTold(vault.audit, actor, name, subject_id, sensitive)
        matches = call(
            f"match by {kinds_asked(identities)}", lambda: connector.match(identities), "match"
        )
        if not isinstance(matches, list) or not all(isinstance(m, Match) for m in matches):
            raise ValueError("the connector's match() returned something that is not Match")
        report = matching.examine(name, identities, matches)
        notes = report.notes
        if report.conflicts and name not in same_person:
            return SystemExport(
                name,
                withheld="identities disagree: " + "; ".join(report.conflicts),
                notes=notes,
                holdings=holdings[name],
            )
        if report.conflicts:
            log.info("export of %s: %s included after a privacy officer's check", subject_id, name)
            notes = (
                f"included after {decided_by} checked that these records are this person's, "
                "although " + "; ".join(report.conflicts),
                *notes,
            )
        # What was examined is what is exported: the records the match found,
        # not a second search that might reach others.
        references = list(dict.fromkeys(m.reference for m in matches))
        asked = f"export {counted(len(references), 'reference')}"
        if takes_references(connector.export):
            exported = call(
                asked, lambda: list(connector.export(identities, references=references)), "item"
            )
        else:  # a connector written before export() took references
            exported = call(asked, lambda: list(connector.export(identities)), "item")
        items = _checked(exported, holdings[name])
        tried: tuple[str, ...] = ()
        if not matches and not items:
            tried = tuple(k.value for k in matching.tried_kinds(holdings[name], identities))
        return SystemExport(
            name, tuple(items), no_match=tried, notes=notes, holdings=holdings[name]
        )

    futures = {name: pool.submit(export_one, name, c) for name, c in connectors.items()}

    def systems() -> Iterator[SystemProgress | SystemExport]:
        for name in futures:
            yield SystemProgress(name, "running")
        for name, future in futures.items():
            remaining = max(0.0, timeout_seconds - (time.monotonic() - started))
            try:
                part = future.result(timeout=remaining)
            except concurrent.futures.TimeoutError:
                error = f"no answer within {timeout_seconds:g} s"
            except Exception as exc:  # a connector's failure is reported, never fatal to the export
                error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}".rstrip(
                    ": "
                )
            else:
                yield _progress(part)
                yield part
                continue
            yield SystemProgress(name, "failed", 0, error)
            yield SystemExport(name, error=error, holdings=holdings[name])
        pool.shutdown(wait=False, cancel_futures=True)

    total = vault.count_records(actor, subject_id)
    return SubjectExport(
        subject,
        vault.readable_records(actor, subject_id),
        total,
        vault.clock.now(),
        systems(),
        controller=controller,
        consent=consent,
    )


def _systems_detail(connectors: Mapping[str, Connector], same_person: Collection[str]) -> str:
    """The systems exported from, and those a privacy officer vouched for (never by name:
    who decided is a person)."""
    systems = ", ".join(["vault", *connectors])
    if not same_person:
        return f"from {systems}"
    return f"from {systems}; checked as the same person in {', '.join(sorted(same_person))}"


def _progress(part: SystemExport) -> SystemProgress:
    if part.withheld:
        return SystemProgress(part.system, "withheld", 0, part.withheld)
    if part.no_match:
        return SystemProgress(part.system, "no_match", 0, tried=part.no_match)
    return SystemProgress(part.system, "done", len(part.items))


def _checked(items: object, holdings: Holdings) -> list[ExportItem]:
    if not isinstance(items, list) or not all(isinstance(i, ExportItem) for i in items):
        raise ValueError("the connector returned malformed export data")
    for item in items:
        if holdings.category(item.category) is None:
            raise ValueError(f"the connector exported undeclared category {item.category!r}")
        if not isinstance(item.data, Mapping) or not all(isinstance(k, str) for k in item.data):
            raise ValueError("the connector exported data that is not a mapping with text keys")
        if not all(isinstance(f, ExportFile) and isinstance(f.data, bytes) for f in item.files):
            raise ValueError("the connector exported a file that is not an ExportFile of bytes")
    return items
