"""Whether a read of a person's records may go ahead for the purpose it is
made for: the ground the processing rests on, checked on every read.

A read names its purpose (or its caller's default: an integrator token's,
or for the privacy officer the vault's own purpose of answering
data-subject requests). It is refused, in this order, when:
- the record is held for another purpose that the read's is not configured
  as compatible with (GDPR art. 6(4)): PURPOSE_MISMATCH;
- processing for the purpose is restricted (art. 18): RESTRICTED;
- the person objected to it and no overriding grounds are recorded
  (art. 21): OBJECTED;
- it rests on consent that does not stand: never given, refused, withdrawn,
  expired, or outdated by a material policy change: CONSENT_REQUIRED. A
  record held for a consent-based purpose needs that consent too, whatever
  purpose it is read for.

Answering a rights request (an export, a privacy officer's read) is the one
purpose every record may be read for, whatever limits the person set: the
person's own right of access (art. 15) is what a restriction keeps intact.

The person's grounds are read once per call (their standing rows and
limits, a few rows each); a refusal is audited before it is raised, with
the reason as the event's result, and reveals nothing of the record.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from functools import cached_property
from typing import NoReturn

from vault.core import rules
from vault.core.actor import Actor, Role
from vault.core.audit.events import AuditEvent
from vault.core.audit.trail import AuditTrail
from vault.core.clock import Clock, utc_now
from vault.core.consent.model import LimitKind, PolicyVersion, Standing, limit_name
from vault.core.consent.policy import Policies
from vault.core.consent.purposes import Purposes
from vault.core.consent.store import LimitRow, StandingRow
from vault.core.errors import (
    ConsentRequired,
    InvalidArgument,
    Objected,
    PurposeMismatch,
    PurposeNotAllowed,
    Restricted,
    VaultError,
)
from vault.storage.base import RecordStore

# The vault's own purpose of answering data-subject requests (access,
# rectification, erasure): the school's catalogue configures it by this name.
RIGHTS_REQUESTS = "rights_requests"
# The roles that answer rights requests, and so read under that purpose.
ANSWERS_REQUESTS = frozenset({Role.PRIVACY_OFFICER, Role.OPERATOR, Role.VAULT})


class SubjectGrounds:
    """What one person's consent and limits say, read once for a call: the
    limits in effect at once (every check needs them), their standing and
    the policy versions only when a purpose that rests on consent is checked."""

    def __init__(self, store: RecordStore, policies: Policies, subject_id: str, now: dt.datetime):
        self._store = store
        self._policies = policies
        self.subject_id = subject_id
        self.now = now
        self.limits = [row for row in store.consents.limits(subject_id) if row.in_effect]

    @cached_property
    def standing(self) -> dict[str, StandingRow]:
        return {row.purpose: row for row in self._store.consents.standing(self.subject_id)}

    @cached_property
    def versions(self) -> list[PolicyVersion]:
        return self._policies.versions()


class Grounds:
    def __init__(
        self,
        store: RecordStore,
        purposes: Purposes,
        policies: Policies,
        clock: Clock,
        audit: AuditTrail,
    ) -> None:
        self.store = store
        self.purposes = purposes
        self.policies = policies
        self.clock = clock
        self.audit = audit

    def read_purpose(self, actor: Actor, given: str, field: str = "purpose") -> str:
        """The purpose a read is for: `given`, else the caller's default. An
        integrator reads only for its system's purposes, and never under the
        vault's own purpose of answering rights requests."""
        if given:
            rules.purpose(given, field)
            purpose = self.purposes.named(given, field).name if given != RIGHTS_REQUESTS else given
        elif actor.default_purpose:
            purpose = actor.default_purpose
        elif actor.role in ANSWERS_REQUESTS:
            purpose = RIGHTS_REQUESTS
        else:
            raise InvalidArgument(
                field,
                "name the purpose the records are read for (or issue the token with a "
                "default purpose: `consent-vault tokens create --default-purpose`)",
            )
        if purpose == RIGHTS_REQUESTS and actor.role not in ANSWERS_REQUESTS:
            raise PurposeNotAllowed(field, actor.system or actor.role.value, purpose)
        if actor.system and purpose not in actor.purposes:
            # Named by the token, not the call: the error says where it came from.
            raise PurposeNotAllowed(
                field if given else "token.default_purpose", actor.system, purpose
            )
        return purpose

    def of(self, subject_id: str) -> SubjectGrounds:
        """The person's standing and limits, for the checks of one call."""
        return SubjectGrounds(self.store, self.policies, subject_id, utc_now(self.clock))

    def read_refusal(self, subject_id: str, purpose: str, held_for: str) -> VaultError | None:
        """Why the subject's record held for `held_for` may not be read for
        `purpose` now, or None; a rights request's read is not looked into."""
        if purpose == RIGHTS_REQUESTS:
            return None
        return self.refusal(self.of(subject_id), purpose, held_for)

    def refusal(self, grounds: SubjectGrounds, purpose: str, held_for: str) -> VaultError | None:
        """Why a record held for `held_for` may not be read for `purpose`
        now, or None when it may."""
        if purpose == RIGHTS_REQUESTS:
            return None
        if not self.purposes.compatible(held_for, purpose):
            return PurposeMismatch(purpose, held_for)
        return self.stopped(grounds, purpose) or (
            self.stopped(grounds, held_for) if held_for != purpose else None
        )

    def stopped(self, grounds: SubjectGrounds, purpose: str) -> VaultError | None:
        """Why nothing of the person may be processed for `purpose` now
        (a restriction, an objection, consent that does not stand), or None."""
        # A restriction is named before an objection: it stops everything it covers.
        for limit in sorted(grounds.limits, key=lambda row: row.kind != LimitKind.RESTRICTION):
            if limit.purposes and purpose not in limit.purposes:
                continue
            if limit.kind == LimitKind.RESTRICTION:
                return Restricted(purpose, _limit_name(limit))
            return Objected(purpose, _limit_name(limit))
        found = self.purposes.get(purpose)
        if found is None or not found.rests_on_consent:
            return None
        row = grounds.standing.get(purpose)
        if row is None:
            return ConsentRequired(purpose, Standing.NOT_ASKED.value)
        standing, _ = self.policies.standing(row, grounds.now, grounds.versions)
        if not standing.in_force:
            return ConsentRequired(purpose, standing.value)
        return None

    def write_refusal(self, actor: Actor, subject_id: str, purpose: str) -> VaultError | None:
        """Why a record may not be written for `purpose` now, or None: the
        person said no to it (refused or withdrew their consent, let it expire
        or must give it again, or objected), or it is restricted, which stops
        every writer but those answering requests (a rectification the
        restriction waits for). Consent not asked yet stops nothing: a form
        sends the data and the consent it was given with one after the other."""
        grounds = self.of(subject_id)
        for limit in grounds.limits:
            if limit.purposes and purpose not in limit.purposes:
                continue
            if limit.kind == LimitKind.OBJECTION:
                return Objected(purpose, _limit_name(limit))
            if actor.role not in ANSWERS_REQUESTS:
                return Restricted(purpose, _limit_name(limit))
        found = self.purposes.get(purpose)
        row = grounds.standing.get(purpose) if found and found.rests_on_consent else None
        if row is not None:
            standing, _ = self.policies.standing(row, grounds.now, grounds.versions)
            if not standing.in_force:
                return ConsentRequired(purpose, standing.value)
        return None

    def refused(self, event: AuditEvent, error: VaultError) -> AuditEvent:
        """The event of a refused call: its result the reason, its detail why."""
        return replace(event, result=str(error.reason), detail=f"{event.detail}; refused")

    def refuse(self, event: AuditEvent, error: VaultError) -> NoReturn:
        """Audit a refused call, then raise the refusal."""
        self.audit.commit(self.refused(event, error))
        raise error

    async def refuse_async(self, event: AuditEvent, error: VaultError) -> NoReturn:
        """`refuse` on an event loop: the event's group commit awaited."""
        await self.audit.commit_async(self.refused(event, error))
        raise error


def _limit_name(limit: LimitRow) -> str:
    return limit_name(limit.subject_id, LimitKind(limit.kind), limit.limit_id)
