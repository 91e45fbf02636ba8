"""What a withdrawal of consent sets going, and the intake a consent history hands it to.

A person's consent for a purpose that stood and no longer does (withdrawn, or
refused while it stood) makes what is held for that purpose unlawful to keep
(GDPR art. 17(1)(b)). The consent history hands each such withdrawal to its
intake inside the consent event's own transaction, so the event never commits
without the erasure it starts; after the commit the intake does the vault's
own part at once (tried, not promised: what fails is retried by the step
engine). The erasure's coordinator provides the durable intake (a request of
the step engine); a vault with none (a bare one in a unit test) shreds the
purpose's keys itself after the commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from vault.core.actor import Actor
from vault.core.consent.model import STANDING, ConsentEvent, ConsentStatus
from vault.core.consent.store import StandingRow
from vault.storage.base import DataKeyScope, Transaction


@dataclass(frozen=True)
class Withdrawal:
    """One purpose whose consent no longer stands: whose, which, and when the person said so."""

    subject_id: str
    purpose: str
    status: ConsentStatus  # withdrawn, or refused while it stood
    at: dt.datetime
    protected_identity: bool = False


@dataclass(frozen=True)
class RecordedConsent:
    """What recording consent did: the events, and the erasure requests a
    withdrawal started (their ids; none when the vault shredded directly)."""

    events: list[ConsentEvent]
    erasure_requests: list[str] = field(default_factory=list)


class WithdrawalIntake(Protocol):
    def submit(self, tx: Transaction, actor: Actor, withdrawal: Withdrawal) -> str:
        """Within the consent event's transaction: accept the erasure of what
        is held for the purpose, asked for by `actor`; the request's id."""
        ...

    def started(self, request_ids: Sequence[str]) -> None:
        """After the commit: the vault's own part of each request, tried at once
        (what fails is the request's to retry; this answers nothing of it)."""
        ...

    def abandoned(self, request_ids: Sequence[str]) -> None:
        """The transaction did not commit: what `submit` made outside it goes."""
        ...


def withdrawals(
    events: Sequence[ConsentEvent], latest: dict[str, StandingRow], protected_identity: bool
) -> list[Withdrawal]:
    """The events after which a purpose's consent no longer stands, that stood
    before them. A refusal of a purpose never consented to starts nothing."""
    found = []
    for event in events:
        before = latest.get(event.purpose)
        stood = before is not None and ConsentStatus(before.status) in STANDING
        if stood and event.status not in STANDING:
            found.append(
                Withdrawal(
                    event.subject_id,
                    event.purpose,
                    event.status,
                    event.given_at,
                    protected_identity,
                )
            )
    return found


def held_for(scopes: Sequence[DataKeyScope], purpose: str) -> list[str]:
    """The categories the subject has a data key of for `purpose`, by name."""
    return sorted({scope.category for scope in scopes if scope.purpose == purpose})


def category_request_id(request_id: str, category: str) -> str:
    """The request id one category's shredding is remembered under, made from
    the withdrawal's (within a request id's 64 characters); "" for none."""
    if not request_id:
        return ""
    return f"{request_id}:{hashlib.sha256(category.encode()).hexdigest()[:16]}"
