"""What the consent history and the policy versions need of a storage engine.

Each engine keeps, in the record database:
- the events, append-only, in the order they were recorded (`seq`); the
  evidence, who recorded it, the source system and the channel sealed under
  the subject's consent key, so erasing the person shreds them with their
  other data (the audit event names the channel too: how consent was given is
  part of the proof that outlives the history);
- each person's standing per purpose: their latest event's status, time and
  policy version, kept with the event in the same transaction, so a current
  state is one row and the people who must consent again one index range;
- the published policy versions, in the order they were published.

The contract suite (tests/storage/consent_contract.py) runs on every engine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import NamedTuple, Protocol

from vault.core.consent.model import PolicyVersion, limit_in_effect


class ConsentRow(NamedTuple):
    """One event as stored: `seq` is the store's (0 before it is appended)."""

    event_id: str
    subject_id: str
    purpose: str
    status: str  # a ConsentStatus value
    given_at: dt.datetime
    recorded_at: dt.datetime
    policy_version: str
    # The seq of the policy version it was given under; 0 for none.
    policy_seq: int
    expires_at: dt.datetime | None
    key_id: str
    sealed: bytes  # the channel, evidence, recorder and source system
    seq: int = 0


class StandingRow(NamedTuple):
    """A person's latest event for one purpose, as the standing table keeps it."""

    subject_id: str
    purpose: str
    event_id: str
    status: str
    given_at: dt.datetime
    policy_version: str
    policy_seq: int
    expires_at: dt.datetime | None
    # The subject's flag, joined in for lists (a protected identity is left
    # out of an integrator's).
    protected_identity: bool = False


class LimitRow(NamedTuple):
    """A restriction or objection as stored. What a person reads of it (the
    reasons, who recorded, lifted or overrode it) is `sealed` under the
    subject's consent key, so erasing the person shreds it; its kind,
    purposes and times are in the clear, for the checks every read makes."""

    limit_id: str
    subject_id: str
    kind: str  # a LimitKind value
    purposes: tuple[str, ...]  # empty: every purpose
    recorded_at: dt.datetime
    lifted_at: dt.datetime | None
    overridden_at: dt.datetime | None
    key_id: str
    sealed: bytes
    seq: int = 0

    @property
    def in_effect(self) -> bool:
        return limit_in_effect(self.lifted_at, self.overridden_at)


class ConsentReads(Protocol):
    def events(
        self, subject_id: str, purpose: str | None = None, after_seq: int = 0, limit: int = 100
    ) -> list[ConsentRow]:
        """The subject's events after `after_seq`, oldest first, of one purpose or all."""
        ...

    def events_named(self, subject_id: str, event_ids: Sequence[str]) -> list[ConsentRow]:
        """The subject's events of those ids, in seq order; ids of no event of
        theirs are left out."""
        ...

    def standing(self, subject_id: str) -> list[StandingRow]:
        """The subject's latest event per purpose, by purpose."""
        ...

    def stale(
        self, purpose: str, below_policy_seq: int, after_subject: str = "", limit: int = 100
    ) -> list[StandingRow]:
        """Active subjects whose latest event for `purpose` is given or renewed
        under a policy version before `below_policy_seq`, by subject id after
        `after_subject`: the people who must consent again."""
        ...

    def standing_page(
        self, purpose: str, at_least_policy_seq: int, after_subject: str = "", limit: int = 100
    ) -> list[StandingRow]:
        """Active subjects whose latest event for `purpose` is given or renewed
        under a policy version of seq `at_least_policy_seq` or later, by subject
        id after `after_subject`: the people whose consent may stand (expiry is
        the caller's to check)."""
        ...

    def limits(self, subject_id: str) -> list[LimitRow]:
        """The subject's restrictions and objections, oldest first."""
        ...

    def limits_in_effect(self) -> list[LimitRow]:
        """Every restriction and objection neither lifted nor overridden, of
        active subjects (few: a mailing run reads them once)."""
        ...

    def policy_versions(self) -> list[PolicyVersion]:
        """Every published policy version, in the order published (by seq)."""
        ...

    def policy_version(self, version: str) -> PolicyVersion | None: ...


class ConsentWrites(ConsentReads, Protocol):
    def append(self, rows: list[ConsentRow]) -> None:
        """Append the events (in this order) and make each its subject's
        latest for its purpose."""
        ...

    def delete_subject(self, subject_id: str) -> int:
        """Delete the subject's events, standing, restrictions and objections
        (their erasure); how many events."""
        ...

    def insert_limit(self, row: LimitRow) -> None:
        """Store a new restriction or objection."""
        ...

    def update_limit(self, row: LimitRow) -> bool:
        """Replace the limit's lifted and overridden times and its sealed part,
        only while it is in effect; False (nothing written) if it is not."""
        ...

    def insert_policy_version(self, version: PolicyVersion) -> bool:
        """Insert the version; False (nothing written) if one of that name exists."""
        ...


class ConsentStore(ConsentReads, Protocol):
    """The store's reads outside a transaction; writes go through `tx.consents`."""
