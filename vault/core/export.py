"""What a subject's export holds: the subject, the vault's records, their
consent and each connected system's part, with progress, in the order they
arrive.

The core reads the data; `vault.reports` writes it as an archive (export.json,
index.html, files). The records are read lazily as the archive is written, so
a subject with many records never has to fit in memory.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from vault.connectors.base import ExportItem, Holdings
from vault.core.consent.model import ConsentEvent, PolicyVersion, ProcessingLimit, PurposeConsent
from vault.core.consent.purposes import Purpose
from vault.core.model import Controller, Record, Subject

PROGRESS_EVERY = 1000


@dataclass(frozen=True)
class ExportProgress:
    records_done: int
    records_total: int


@dataclass(frozen=True)
class SystemProgress:
    """One connector's part of an export: running, done (with its item count), failed,
    no_match (nobody found by the identity kinds tried) or withheld (the records found
    may belong to someone else; `error` says which identities disagree)."""

    system: str
    state: str  # running, done, failed, no_match, withheld
    items: int = 0
    error: str = ""
    tried: tuple[str, ...] = ()  # for no_match: the identity kinds searched by


@dataclass(frozen=True)
class SystemExport:
    """What one connector exported, or why it could not.

    `no_match` holds the identity kinds that were tried when the system found
    nobody; `withheld` says why records that were found were not exported (they
    may be someone else's); `notes` are differences a person should see (an
    e-mail on the system's record that differs from the vault's); `holdings`
    say what each category is, why it is held and for how long.
    """

    system: str
    items: tuple[ExportItem, ...] = ()
    error: str = ""
    no_match: tuple[str, ...] = ()
    withheld: str = ""
    notes: tuple[str, ...] = ()
    holdings: Holdings | None = None

    @property
    def status(self) -> str:
        """done, failed, no_match or withheld: how this system's part went."""
        if self.error:
            return "failed"
        if self.withheld:
            return "withheld"
        if self.no_match:
            return "no_match"
        return "done"


ExportEvent = Record | ExportProgress | SystemProgress | SystemExport


@dataclass(frozen=True)
class ConsentPart:
    """The person's consent in their export: every event of their history,
    oldest first, how each purpose stands now, the purposes and policy
    versions named, and the same as standard consent records (`records`, the
    DPV/ISO 27560 JSON-LD document of vault.core.consent.dpv); and their
    restrictions and objections, in effect or lifted, oldest first."""

    events: tuple[ConsentEvent, ...]
    standings: tuple[PurposeConsent, ...]
    purposes: Mapping[str, Purpose]
    policies: Mapping[str, PolicyVersion]
    records: Mapping[str, Any]
    limits: tuple[ProcessingLimit, ...] = ()


@dataclass(frozen=True)
class SubjectExport:
    """One subject's export, read once, as it is written out.

    `records` are the vault's own, read as they are consumed; `systems` yields
    each connector's progress and then its part, as each finishes. `controller`
    is who "we" are to the person (an empty name: none is configured);
    `consent` their consent history and standing (None: not read for this
    export).
    """

    subject: Subject
    records: Iterator[Record]
    records_total: int
    exported_at: dt.datetime
    systems: Iterable[SystemProgress | SystemExport] = ()
    controller: Controller = field(default_factory=Controller)
    consent: ConsentPart | None = None

    def events(self) -> Iterator[ExportEvent]:
        """The vault's records, with progress before the first, every
        PROGRESS_EVERY records and after the last; then the systems' events."""
        yield ExportProgress(0, self.records_total)
        done = 0
        for record in self.records:
            yield record
            done += 1
            if done % PROGRESS_EVERY == 0:
                yield ExportProgress(done, max(done, self.records_total))
        yield ExportProgress(done, done)
        yield from self.systems
