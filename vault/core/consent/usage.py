"""The records a vault holds against the purposes configured now: which
(purpose, legal basis, source system) the records use that no configured
purpose allows, with the reason in words.

A database written before the purposes were configured (or by hand) may hold
records for a purpose nobody configured, or on a basis the purpose does not
rest on. The vault refuses both for new records; for the old ones this says
which, and nothing is changed: a person decides what to do with each, so
each record of a use can be named too (`records_of`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from vault.core.consent.purposes import BASIS_WORDS, Purposes
from vault.core.model import LegalBasis


class PurposeUsageReads(Protocol):
    """What the check reads of the record store (vault.storage.base.RecordRowReads)."""

    def purpose_usage(self) -> list[tuple[str, LegalBasis, str, int]]: ...

    def records_using(
        self,
        purpose: str,
        legal_basis: LegalBasis,
        source_system: str,
        after_record_id: str = "",
        limit: int = 100,
    ) -> list[tuple[str, str]]: ...


# Records named a page at a time: the first are at hand at once, and a long
# list is never held whole.
RECORDS_PAGE = 1000


class Problem(StrEnum):
    """Why a use is not allowed, as --json names it."""

    NOT_CONFIGURED = "purpose_not_configured"
    BASIS_CONTRADICTS = "legal_basis_contradicts"


@dataclass(frozen=True)
class Unconfigured:
    """Records of one (purpose, legal basis, source system) that the
    configured purposes do not allow, how many, and why."""

    purpose: str
    legal_basis: LegalBasis
    source_system: str
    records: int
    problem: Problem
    reason: str


def unconfigured(records_reads: PurposeUsageReads, purposes: Purposes) -> list[Unconfigured]:
    """Each use of the records whose purpose is not configured, or whose legal
    basis is not the configured purpose's, by purpose, basis and system."""
    return judged(records_reads.purpose_usage(), purposes)


def judged(
    usage: Iterable[tuple[str, LegalBasis, str, int]], purposes: Purposes
) -> list[Unconfigured]:
    """`unconfigured` over uses read already (`purpose_usage()`'s answer)."""
    found = []
    for purpose, basis, system, records in usage:
        configured = purposes.get(purpose)
        if configured is None:
            problem = Problem.NOT_CONFIGURED
            reason = f"{purpose} is not a configured purpose"
        elif basis is not configured.legal_basis:
            problem = Problem.BASIS_CONTRADICTS
            reason = (
                f"{purpose} rests on {BASIS_WORDS[configured.legal_basis]}, "
                f"not {BASIS_WORDS[basis]}"
            )
        else:
            continue
        found.append(Unconfigured(purpose, basis, system, records, problem, reason))
    return found


def records_of(
    records_reads: PurposeUsageReads, use: Unconfigured, page_size: int | None = None
) -> Iterator[str]:
    """The name (subjects/{subject}/records/{record}) of each record of `use`,
    by record id, read a page (of RECORDS_PAGE) at a time as they are asked for."""
    page_size = page_size or RECORDS_PAGE
    after = ""
    while True:
        page = records_reads.records_using(
            use.purpose, use.legal_basis, use.source_system, after, page_size
        )
        for subject_id, record_id in page:
            yield f"subjects/{subject_id}/records/{record_id}"
        if len(page) < page_size:
            return
        after = page[-1][1]
