"""Restriction of processing (GDPR art. 18) and objection (art. 21): recorded
with when, for which purposes, why and by whom; a restriction lifted
explicitly; an objection withdrawn by the person (lifting one records that
they did, and where they said so); an objection to a legitimate-interest or
public-task purpose set aside by the compelling grounds a privacy officer
records, never one to direct marketing, which is absolute (art. 21(3)): only
the person ends it.

This module changes the limits and reads them for the consent state and the
export; every read of records checks the ones in effect
(vault.core.consent.grounds). Reasons and who recorded, lifted or overrode a
limit may be personal data: they are sealed under the person's consent key,
so erasing the person shreds them, and an audit event says in words what was
done, for which purposes, never why.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import replace

from vault import crypto
from vault.core import access, rules
from vault.core.access import AccessNotes
from vault.core.actor import Actor, Role
from vault.core.audit.events import AuditEvent, Operation
from vault.core.audit.trail import AuditTrail
from vault.core.clock import Clock, utc_now
from vault.core.consent.grounds import RIGHTS_REQUESTS
from vault.core.consent.history import CONSENT_CATEGORY, CONSENT_PURPOSE, MAX_EVIDENCE
from vault.core.consent.model import LimitKind, ProcessingLimit, limit_name
from vault.core.consent.purposes import BASIS_WORDS, Purpose, Purposes
from vault.core.consent.store import LimitRow
from vault.core.errors import (
    AlreadyLifted,
    FailedPrecondition,
    InvalidArgument,
    ObjectionAbsolute,
    ProcessingLimitNotFound,
    PurposeNotAllowed,
)
from vault.core.keys import DataKey, KeyManager
from vault.core.replay import Raced, Replay
from vault.core.subjects import ANSWERED_AGAIN, readable_subject, writable_subject
from vault.storage.base import RecordStore

# A reason is as long as a consent's evidence may be: one line a report prints.
MAX_REASON = MAX_EVIDENCE
# A limit's id is 16 hex digits: random enough among one person's limits, and
# short enough that its whole name (subjects/{32}/restrictions/{16}) fits on
# one line of an 80-column terminal, where it is copied from.
_ID_BYTES = 8

# Each change by its request-id operation and its audit operation.
_RECORDED = {
    LimitKind.RESTRICTION: ("record_restriction", Operation.RECORD_RESTRICTION),
    LimitKind.OBJECTION: ("record_objection", Operation.RECORD_OBJECTION),
}
_LIFT = ("lift_processing_limit", Operation.LIFT_PROCESSING_LIMIT)
_OVERRIDE = ("record_overriding_grounds", Operation.RECORD_OVERRIDING_GROUNDS)


class ProcessingLimits:
    def __init__(
        self,
        store: RecordStore,
        keys: KeyManager,
        purposes: Purposes,
        replay: Replay,
        clock: Clock,
        audit: AuditTrail,
        notes: AccessNotes,
    ) -> None:
        self.store = store
        self.keys = keys
        self.purposes = purposes
        self.replay = replay
        self.clock = clock
        self.audit = audit
        self.notes = notes

    # ------------------------------------------------------------ recording
    def record_restriction(
        self,
        actor: Actor,
        subject_id: str,
        purposes: Sequence[str],
        reason: str,
        request_id: str = "",
    ) -> ProcessingLimit:
        """Restrict processing of the person's data for `purposes` (none:
        every purpose) until the restriction is lifted."""
        return self._record(actor, subject_id, LimitKind.RESTRICTION, purposes, reason, request_id)

    def record_objection(
        self,
        actor: Actor,
        subject_id: str,
        purposes: Sequence[str],
        reason: str,
        request_id: str = "",
    ) -> ProcessingLimit:
        """Record the person's objection to processing for `purposes`, each
        one a person may object to (art. 21)."""
        return self._record(actor, subject_id, LimitKind.OBJECTION, purposes, reason, request_id)

    def _record(
        self,
        actor: Actor,
        subject_id: str,
        kind: LimitKind,
        purposes: Sequence[str],
        reason: str,
        request_id: str,
    ) -> ProcessingLimit:
        operation, audited = _RECORDED[kind]
        fingerprint = self.replay.fingerprint(
            request_id, operation, subject_id, list(purposes), reason
        )
        remembered = self.replay.replayed(request_id, operation, fingerprint)
        if remembered is not None:
            return self._answered_again(actor, subject_id, remembered.result, audited)
        named = self._purposes(actor, kind, purposes)
        why = _reason(reason, "reason")
        # Before the key: an unknown or erased subject has none to make.
        writable_subject(self.store.subjects, subject_id, "subject")
        key = self.keys.data_key(subject_id, CONSENT_CATEGORY, CONSENT_PURPOSE, create=True)
        limit = ProcessingLimit(
            limit_id=secrets.token_hex(_ID_BYTES),
            subject_id=subject_id,
            kind=kind,
            purposes=named,
            reason=why,
            recorded_at=utc_now(self.clock),
            recorded_by=actor.who,
            source_system=actor.system,
        )
        try:
            with self.store.write() as tx:
                subject = writable_subject(tx.subjects, subject_id, "subject")
                tx.consents.insert_limit(_row(limit, key))
                self.replay.remember(
                    tx, request_id, operation, fingerprint, subject_id, limit.limit_id
                )
                self.audit.written(
                    tx.audit,
                    self._audited(
                        actor,
                        audited,
                        limit,
                        subject.protected_identity,
                        f"{scope(limit)} recorded",
                    ),
                )
        except Raced:
            # A copy with the same request id committed first: asked again, the
            # replay answers it, or refuses the id if the copy asked otherwise.
            return self._record(actor, subject_id, kind, purposes, reason, request_id)
        if subject.protected_identity:
            self.notes.note(actor, subject_id, operation)
        return limit

    def _purposes(self, actor: Actor, kind: LimitKind, purposes: Sequence[str]) -> tuple[str, ...]:
        """The purposes named, each configured, none twice; an objection's
        each one the person may object to; an integrator's its system's."""
        if not purposes:
            if kind is LimitKind.OBJECTION:
                raise InvalidArgument("purposes", "must name at least one purpose objected to")
            if actor.system:
                # A restriction of everything would reach other systems' purposes.
                raise InvalidArgument(
                    "purposes",
                    f"must name the purposes of {actor.system} processing is restricted for",
                )
            return ()
        if len(set(purposes)) != len(purposes):
            raise InvalidArgument("purposes", "must not repeat a purpose")
        for index, name in enumerate(purposes):
            field = f"purposes[{index}]"
            if name == RIGHTS_REQUESTS:
                # Its reads skip every limit (grounds.py): named here, it would stop nothing.
                raise InvalidArgument(
                    field,
                    f"{RIGHTS_REQUESTS} is the vault's own purpose of answering the person's "
                    "requests (access, rectification, erasure), which no restriction or "
                    "objection stops",
                )
            purpose = self.purposes.named(name, field)
            if kind is LimitKind.OBJECTION and not purpose.open_to_objection:
                raise InvalidArgument(field, _no_objection(purpose))
            if actor.system and name not in actor.purposes:
                raise PurposeNotAllowed(field, actor.system, name)
        return tuple(purposes)

    # --------------------------------------------------- lifting, overriding
    def lift(
        self,
        actor: Actor,
        subject_id: str,
        limit_id: str,
        kind: LimitKind,
        reason: str,
        request_id: str = "",
    ) -> ProcessingLimit:
        """Lift a restriction, with the reason; or record that the person
        withdrew their objection, `reason` saying where they did (their
        words, a letter, a form). It stays in the person's history, no longer
        in effect. Nothing but the person's withdrawal ends an objection to
        direct marketing: a privacy officer's grounds never do (`override`)."""

        def lifted(limit: ProcessingLimit, now: dt.datetime, why: str) -> ProcessingLimit:
            _still_in_effect(limit)
            return replace(limit, lifted_at=now, lifted_by=actor.who, lift_reason=why)

        return self._change(
            actor, subject_id, limit_id, kind, reason, request_id, _LIFT, kind.lifted, lifted
        )

    def override(
        self, actor: Actor, subject_id: str, limit_id: str, reason: str, request_id: str = ""
    ) -> ProcessingLimit:
        """Record the compelling legitimate grounds (art. 21(1)) that set an
        objection aside: processing for its purposes goes on. Never for an
        objection to direct marketing."""

        def overridden(limit: ProcessingLimit, now: dt.datetime, why: str) -> ProcessingLimit:
            _still_in_effect(limit)
            for name in limit.purposes:
                purpose = self.purposes.get(name)
                if purpose is not None and purpose.direct_marketing:
                    raise ObjectionAbsolute(limit.name, name)
            return replace(limit, overridden_at=now, overridden_by=actor.who, override_reason=why)

        return self._change(
            actor,
            subject_id,
            limit_id,
            LimitKind.OBJECTION,
            reason,
            request_id,
            _OVERRIDE,
            "overridden by compelling grounds",
            overridden,
        )

    def _change(
        self,
        actor: Actor,
        subject_id: str,
        limit_id: str,
        kind: LimitKind,
        reason: str,
        request_id: str,
        operations: tuple[str, Operation],
        done: str,
        change: Callable[[ProcessingLimit, dt.datetime, str], ProcessingLimit],
    ) -> ProcessingLimit:
        """Change one limit in effect (lift it, override it) in one
        transaction with its audit event; `done` says what in the event."""
        operation, audited = operations
        fingerprint = self.replay.fingerprint(
            request_id, operation, subject_id, limit_id, kind, reason
        )
        remembered = self.replay.replayed(request_id, operation, fingerprint)
        if remembered is not None:
            return self._answered_again(actor, subject_id, remembered.result, audited)
        why = _reason(reason, "reason")
        name = limit_name(subject_id, kind, limit_id)
        writable_subject(self.store.subjects, subject_id, "name")
        if _find(self.store.consents.limits(subject_id), limit_id, kind) is None:
            raise ProcessingLimitNotFound(name)
        # The limit was sealed under it: it exists while the person does.
        key = self.keys.data_key(subject_id, CONSENT_CATEGORY, CONSENT_PURPOSE, create=False)
        try:
            with self.store.write() as tx:
                subject = writable_subject(tx.subjects, subject_id, "name")
                row = _find(tx.consents.limits(subject_id), limit_id, kind)
                if row is None:
                    raise ProcessingLimitNotFound(name)
                changed = change(self._opened(row), utc_now(self.clock), why)
                if not tx.consents.update_limit(_row(changed, key)):
                    # Lifted or overridden by a call that committed in between.
                    raise AlreadyLifted(name, f"{kind.lifted} or overridden")
                self.replay.remember(tx, request_id, operation, fingerprint, subject_id, limit_id)
                self.audit.written(
                    tx.audit,
                    self._audited(
                        actor,
                        audited,
                        changed,
                        subject.protected_identity,
                        f"{scope(changed)} {done}",
                    ),
                )
        except Raced:
            return self._change(
                actor, subject_id, limit_id, kind, reason, request_id, operations, done, change
            )
        except FailedPrecondition:
            # A copy with the same request id that committed after this one
            # looked its id up finds the limit changed already: it is answered
            # as that copy was.
            remembered = self.replay.replayed(request_id, operation, fingerprint)
            if remembered is None:
                raise
            return self._answered_again(actor, subject_id, remembered.result, audited)
        if subject.protected_identity:
            self.notes.note(actor, subject_id, operation)
        return changed

    def _audited(
        self,
        actor: Actor,
        operation: Operation,
        limit: ProcessingLimit,
        protected: bool,
        detail: str,
    ) -> AuditEvent:
        # The reason stays out: it may be personal data, and the event outlives the person.
        return self.audit.event(
            actor,
            operation,
            limit.subject_id,
            purpose=limit.purposes[0] if len(limit.purposes) == 1 else "",
            sensitive=protected,
            detail=f"{detail} ({limit.kind.collection}/{limit.limit_id})",
        )

    def _answered_again(
        self, actor: Actor, subject_id: str, limit_id: str, operation: Operation
    ) -> ProcessingLimit:
        subject = readable_subject(self.store.subjects, subject_id, "subject")
        self.audit.commit(
            self.audit.event(
                actor,
                operation,
                subject_id,
                sensitive=subject.protected_identity,
                detail=ANSWERED_AGAIN,
            )
        )
        # As it stands now: a later call may have lifted what this one recorded.
        [found] = [limit for limit in self.of(subject_id) if limit.limit_id == limit_id]
        return found

    # -------------------------------------------------------------- reading
    def of(self, subject_id: str) -> list[ProcessingLimit]:
        """The subject's restrictions and objections, oldest first, opened:
        for an export or a consent state, whose caller writes the audit event."""
        return [self._opened(row) for row in self.store.consents.limits(subject_id)]

    def shown(self, actor: Actor, subject_id: str) -> list[ProcessingLimit]:
        """The subject's limits as `actor` may see them, for the consent state
        (whose audit event covers this read): an integrator's those that cover
        a purpose of its system; a protected identity's reasons withheld from
        a role that may not see who the person is."""
        subject = readable_subject(self.store.subjects, subject_id, "subject")
        limits = self.of(subject_id)
        if actor.system:
            limits = [
                limit
                for limit in limits
                if not limit.purposes or any(name in actor.purposes for name in limit.purposes)
            ]
        return [_shown(actor, limit, subject.protected_identity) for limit in limits]

    def _opened(self, row: LimitRow) -> ProcessingLimit:
        key = self.keys.data_key(row.subject_id, CONSENT_CATEGORY, CONSENT_PURPOSE, create=False)
        kind = LimitKind(row.kind)
        sealed = json.loads(
            crypto.unseal(key.aead, row.sealed, _aad(row.subject_id, row.limit_id, kind))
        )
        return ProcessingLimit(
            limit_id=row.limit_id,
            subject_id=row.subject_id,
            kind=kind,
            purposes=tuple(row.purposes),
            reason=sealed["reason"],
            recorded_at=row.recorded_at,
            recorded_by=sealed["recorded_by"],
            source_system=sealed["source_system"],
            lifted_at=row.lifted_at,
            lifted_by=sealed["lifted_by"],
            lift_reason=sealed["lift_reason"],
            overridden_at=row.overridden_at,
            overridden_by=sealed["overridden_by"],
            override_reason=sealed["override_reason"],
        )


def scope(limit: ProcessingLimit) -> str:
    """What a limit covers, in words: "restriction of every purpose",
    "objection to statistics, alumni_offers"."""
    if limit.kind is LimitKind.RESTRICTION:
        covered = ", ".join(limit.purposes) if limit.purposes else "every purpose"
        return f"restriction of {covered}"
    return f"objection to {', '.join(limit.purposes)}"


def _no_objection(purpose: Purpose) -> str:
    """Why the person cannot object to `purpose` (art. 21 covers legitimate
    interest, public task and direct marketing), and what they can do instead."""
    basis = BASIS_WORDS[purpose.legal_basis]
    if purpose.rests_on_consent:
        return (
            f"{purpose.name} rests on {basis}: the person withdraws their consent "
            "instead of objecting"
        )
    return (
        f"{purpose.name} rests on {basis}: there is no right to object to it (GDPR art. 21 "
        "covers legitimate interest, public task and direct marketing)"
    )


def _still_in_effect(limit: ProcessingLimit) -> None:
    """Refuse to change a limit no longer in effect, saying what ended it."""
    if limit.in_effect:
        return
    raise AlreadyLifted(limit.name, "overridden" if limit.lifted_at is None else limit.kind.lifted)


def _shown(actor: Actor, limit: ProcessingLimit, protected_identity: bool) -> ProcessingLimit:
    """The limit as `actor` may see it: a protected identity's reasons
    withheld from every role that may not see who the person is, but the
    reason an integrator's own system recorded."""
    if not protected_identity or actor.sees_protected:
        return limit
    own = actor.role is Role.INTEGRATOR and limit.source_system == actor.system
    return replace(
        limit,
        reason=limit.reason if own else access.withheld(limit.reason),
        lift_reason=access.withheld(limit.lift_reason),
        override_reason=access.withheld(limit.override_reason),
    )


def _reason(text: str, field: str) -> str:
    return rules.one_line(text, field, MAX_REASON, required=True)


def _find(rows: list[LimitRow], limit_id: str, kind: LimitKind) -> LimitRow | None:
    """The row of that id and kind: a restriction's id named as an objection's is no limit."""
    return next((r for r in rows if r.limit_id == limit_id and r.kind == kind.value), None)


def _aad(subject_id: str, limit_id: str, kind: LimitKind) -> bytes:
    return crypto.associated_data("processing limit", subject_id, limit_id, kind.value)


def _row(limit: ProcessingLimit, key: DataKey) -> LimitRow:
    sealed = json.dumps(
        {
            "reason": limit.reason,
            "recorded_by": limit.recorded_by,
            "source_system": limit.source_system,
            "lifted_by": limit.lifted_by,
            "lift_reason": limit.lift_reason,
            "overridden_by": limit.overridden_by,
            "override_reason": limit.override_reason,
        }
    ).encode()
    return LimitRow(
        limit_id=limit.limit_id,
        subject_id=limit.subject_id,
        kind=limit.kind.value,
        purposes=limit.purposes,
        recorded_at=limit.recorded_at,
        lifted_at=limit.lifted_at,
        overridden_at=limit.overridden_at,
        key_id=key.key_id,
        sealed=crypto.seal(key.aead, sealed, _aad(limit.subject_id, limit.limit_id, limit.kind)),
    )
