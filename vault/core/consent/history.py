"""Each person's consent history: recording what they said, their standing
per purpose now, and the history itself, page by page.

Recording checks what a supervisory authority would ask of it: the purpose
is configured and rests on consent, the policy version was published, the
time is not in the future nor before the purpose's latest event (the history
reads in the order things happened), and a withdrawal or renewal has a
consent to act on. Each event's audit event says, by the person's pseudonym,
that consent was given or withdrawn and when: the proof that outlives the
history, which goes with the person when they are erased.

A consent that stood and no longer does (withdrawn, or refused while it
stood) has what is held for its purpose erased: the withdrawal goes to the
history's intake in the events' own transaction (vault.core.consent.withdrawal).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TypeVar

from vault import crypto
from vault.core import paging, rules
from vault.core.access import AccessNotes
from vault.core.actor import Actor, Role
from vault.core.audit.events import AuditEvent, Operation, counted
from vault.core.audit.trail import AuditTrail
from vault.core.clock import Clock, utc_now
from vault.core.consent.model import (
    STANDING,
    Channel,
    ConsentEvent,
    ConsentInput,
    ConsentPage,
    ConsentStatus,
    PurposeConsent,
    Standing,
)
from vault.core.consent.policy import Policies, version_name
from vault.core.consent.purposes import BASIS_WORDS, Purpose, Purposes
from vault.core.consent.store import ConsentRow, StandingRow
from vault.core.consent.withdrawal import (
    RecordedConsent,
    Withdrawal,
    WithdrawalIntake,
    withdrawals,
)
from vault.core.errors import (
    InvalidArgument,
    NoConsentToChange,
    PolicyVersionNotFound,
    PurposeNotAllowed,
    VaultError,
)
from vault.core.keys import DataKey, KeyManager
from vault.core.replay import Raced, Replay
from vault.core.subjects import ANSWERED_AGAIN, readable_subject, writable_subject
from vault.storage.base import RecordStore

# A person's consent history is sealed under a data key of its own, not a
# purpose's: shredding what was held for a withdrawn purpose must keep the
# proof that it was lawfully held until then.
CONSENT_CATEGORY = "vault.consent"
CONSENT_PURPOSE = ""
MAX_EVIDENCE = 500
# How far ahead of the vault's clock a caller's clock may be.
CLOCK_SKEW = dt.timedelta(minutes=5)
# Events read per page of a history.
_READ = 500
_E = TypeVar("_E", ConsentEvent, ConsentEvent | None)


class ConsentHistory:
    def __init__(
        self,
        store: RecordStore,
        keys: KeyManager,
        purposes: Purposes,
        policies: Policies,
        replay: Replay,
        clock: Clock,
        audit: AuditTrail,
        notes: AccessNotes,
    ) -> None:
        self.store = store
        self.keys = keys
        self.purposes = purposes
        self.policies = policies
        self.replay = replay
        self.clock = clock
        self.audit = audit
        self.notes = notes
        # Where a withdrawal's erasure goes (vault.core.consent.withdrawal): the
        # erasure coordinator's durable intake once the runtime wires it; with
        # none, `shred` erases what was held for the purpose after the commit.
        self.intake: WithdrawalIntake | None = None
        self.shred: Callable[[Withdrawal], object] | None = None

    # ------------------------------------------------------------ recording
    def record(
        self, actor: Actor, subject_id: str, given: ConsentInput, request_id: str = ""
    ) -> RecordedConsent:
        """Record one status for each purpose named (a withdrawal naming none:
        every consent that stands), all or nothing: the events recorded, and
        the erasure requests they started. A purpose whose consent stood and
        no longer does has what is held for it erased: the request is accepted
        with the events, and its vault step tried before this returns (a step
        that fails there is retried by the step engine's workers;
        vault.core.consent.withdrawal)."""
        now = utc_now(self.clock)
        at = self._time(given, now)
        # What was asked, not when it arrived: a retry a moment later is the same request.
        fingerprint = self.replay.fingerprint(request_id, "record_consent", subject_id, given)
        remembered = self.replay.replayed(request_id, "record_consent", fingerprint)
        if remembered is not None:
            return self._answered_again(actor, subject_id, json.loads(remembered.result))
        purposes = self._purposes(actor, given)
        version, policy_seq = self._version(given.policy_version, at)
        evidence = rules.one_line(given.evidence, "evidence", MAX_EVIDENCE)
        # Before the key: an unknown or erased subject has none to make.
        writable_subject(self.store.subjects, subject_id, "subject")
        key = self.keys.data_key(subject_id, CONSENT_CATEGORY, CONSENT_PURPOSE, create=True)
        submitted: list[str] = []
        try:
            with self.store.write() as tx:
                subject = writable_subject(tx.subjects, subject_id, "subject")
                latest = {row.purpose: row for row in tx.consents.standing(subject_id)}
                if given.status is ConsentStatus.WITHDRAWN and not purposes:
                    # An integrator's "everything" is its own system's purposes.
                    purposes = [
                        self.purposes.named(name)
                        for name, row in latest.items()
                        if ConsentStatus(row.status) in STANDING
                        and name in self.purposes
                        and (not actor.system or name in actor.purposes)
                    ]
                    if not purposes:
                        scope = (
                            f"any purpose {actor.system} processes for"
                            if actor.system
                            else "any purpose"
                        )
                        raise NoConsentToChange("purposes", scope, "withdraw")
                events = [
                    self._event(actor, subject_id, purpose, given, at, now, version, evidence)
                    for purpose in purposes
                ]
                for index, event in enumerate(events):
                    _check_order(event, latest.get(event.purpose), f"purposes[{index}]")
                tx.consents.append([_row(event, policy_seq, key) for event in events])
                ended = withdrawals(events, latest, subject.protected_identity)
                if self.intake is not None:
                    # With the events or not at all: a withdrawal never commits
                    # without the erasure it starts.
                    for withdrawal in ended:
                        submitted.append(self.intake.submit(tx, actor, withdrawal))
                self.replay.remember(
                    tx,
                    request_id,
                    "record_consent",
                    fingerprint,
                    subject_id,
                    json.dumps(
                        {
                            "events": [event.event_id for event in events],
                            "erasure_requests": submitted,
                        }
                    ),
                )
                self.audit.written(
                    tx.audit,
                    *(self._audited(actor, event, subject.protected_identity) for event in events),
                )
        except BaseException as failure:
            if self.intake is not None and submitted:
                self.intake.abandoned(submitted)
            if isinstance(failure, Raced):
                # A copy with the same request id committed first: asked again, the
                # replay answers it, or refuses the id if the copy asked otherwise.
                return self.record(actor, subject_id, given, request_id)
            if isinstance(failure, VaultError) and request_id:
                # A copy that committed first may be why this one is refused
                # (its withdrawal left nothing to withdraw): it is answered as
                # that copy was.
                remembered = self.replay.replayed(request_id, "record_consent", fingerprint)
                if remembered is not None:
                    return self._answered_again(actor, subject_id, json.loads(remembered.result))
            raise
        if subject.protected_identity:
            self.notes.note(actor, subject_id, "record_consent")
        if self.intake is not None:
            self.intake.started(submitted)
        elif self.shred is not None:
            for withdrawal in ended:
                self.shred(withdrawal)
        return RecordedConsent(events, submitted)

    def _time(self, given: ConsentInput, now: dt.datetime) -> dt.datetime:
        at = now if given.given_at is None else given.given_at.astimezone(dt.UTC)
        if at > now + CLOCK_SKEW:
            raise InvalidArgument("time", "must not be in the future")
        # A caller's clock a little ahead is taken as now: an event dated
        # ahead of the vault would make the next one, dated now, look earlier.
        at = min(at, now)
        if given.expires_at is not None:
            if given.status not in STANDING:
                raise InvalidArgument("expire_time", "is for consent given or renewed only")
            if given.expires_at <= at:
                raise InvalidArgument("expire_time", "must be after the time consent was given")
        return at

    def _purposes(self, actor: Actor, given: ConsentInput) -> list[Purpose]:
        if not given.purposes and given.status is not ConsentStatus.WITHDRAWN:
            raise InvalidArgument("purposes", "must name at least one purpose")
        if len(set(given.purposes)) != len(given.purposes):
            raise InvalidArgument("purposes", "must not repeat a purpose")
        found = []
        for index, name in enumerate(given.purposes):
            field = f"purposes[{index}]"
            purpose = self.purposes.named(name, field)
            if not purpose.rests_on_consent:
                raise InvalidArgument(
                    field,
                    f"{name} rests on {BASIS_WORDS[purpose.legal_basis]}, not on consent: "
                    "there is no consent to record for it",
                )
            if actor.system and name not in actor.purposes:
                raise PurposeNotAllowed(field, actor.system, name)
            found.append(purpose)
        return found

    def _version(self, named: str, at: dt.datetime) -> tuple[str, int]:
        """The policy version consent given at `at` is given under, and its
        seq: the one named, or the one in effect on that day ("" and 0 when
        none is published). A named one is the caller's word for what the
        person was shown (a form may show a version before it takes effect, a
        paper form be recorded under a version the vault learnt of later)."""
        if named:
            version_name(named, "policy_version")
            found = self.store.consents.policy_version(named)
            if found is None:
                raise PolicyVersionNotFound(named)
            return found.version, found.seq
        current = self.policies.in_effect(self.policies.day_of(at))
        return (current.version, current.seq) if current else ("", 0)

    def _event(
        self,
        actor: Actor,
        subject_id: str,
        purpose: Purpose,
        given: ConsentInput,
        at: dt.datetime,
        now: dt.datetime,
        version: str,
        evidence: str,
    ) -> ConsentEvent:
        return ConsentEvent(
            event_id=str(uuid.uuid4()),
            subject_id=subject_id,
            purpose=purpose.name,
            status=given.status,
            given_at=at,
            recorded_at=now,
            policy_version=version,
            channel=given.channel,
            evidence=evidence,
            recorded_by=actor.who,
            source_system=actor.system,
            expires_at=None if given.expires_at is None else given.expires_at.astimezone(dt.UTC),
        )

    def _audited(self, actor: Actor, event: ConsentEvent, protected: bool) -> AuditEvent:
        version = f" under policy {event.policy_version}" if event.policy_version else ""
        return self.audit.event(
            actor,
            Operation.RECORD_CONSENT,
            event.subject_id,
            purpose=event.purpose,
            sensitive=protected,
            detail=(
                f"consent {event.status.value}{version} via {event.channel.value}, "
                f"at {event.given_at.isoformat(timespec='seconds')}"
            ),
        )

    def _answered_again(
        self, actor: Actor, subject_id: str, remembered: list[str] | dict[str, list[str]]
    ) -> RecordedConsent:
        # An answer remembered before withdrawals started erasures is the events' ids alone.
        if isinstance(remembered, list):
            remembered = {"events": remembered, "erasure_requests": []}
        event_ids = remembered["events"]
        wanted = set(event_ids)
        found = {e.event_id: e for e in self.events(subject_id) if e.event_id in wanted}
        subject = readable_subject(self.store.subjects, subject_id, "subject")
        self.audit.commit(
            self.audit.event(
                actor,
                Operation.RECORD_CONSENT,
                subject_id,
                sensitive=subject.protected_identity,
                detail=ANSWERED_AGAIN,
            )
        )
        return RecordedConsent(
            [found[event_id] for event_id in event_ids if event_id in found],
            list(remembered.get("erasure_requests", [])),
        )

    # -------------------------------------------------------------- reading
    def events(self, subject_id: str, purpose: str | None = None) -> Iterator[ConsentEvent]:
        """The subject's whole history, oldest first, opened (for an export,
        whose event its caller commits)."""
        after = 0
        while True:
            rows = self.store.consents.events(subject_id, purpose, after, _READ)
            yield from (self._opened(row) for row in rows)
            if len(rows) < _READ:
                return
            after = rows[-1].seq

    def standing(self, actor: Actor, subject_id: str) -> list[PurposeConsent]:
        """The subject's standing for every consent-based purpose (an
        integrator: its system's), and for any other they have events for."""
        subject = readable_subject(self.store.subjects, subject_id, "subject")
        states = [
            replace(state, latest=_shown(actor, state.latest, subject.protected_identity))
            for state in self.standing_of(subject_id, actor)
        ]
        if subject.protected_identity:
            self.notes.note(actor, subject_id, "consent_state")
        self.audit.commit(
            self.audit.event(
                actor,
                Operation.GET_CONSENT_STATE,
                subject_id,
                sensitive=subject.protected_identity,
                detail=counted(len(states), "purpose"),
            )
        )
        return states

    def standing_of(self, subject_id: str, actor: Actor | None = None) -> list[PurposeConsent]:
        """`standing` without its audit event: for an export, which has its own."""
        rows = {row.purpose: row for row in self.store.consents.standing(subject_id)}
        names = sorted({*(p.name for p in self.purposes.consent_based()), *rows})
        if actor is not None and actor.system:
            names = [name for name in names if name in actor.purposes]
        # Only the events the standings rest on are opened, not the whole history.
        named = self.store.consents.events_named(
            subject_id, [rows[name].event_id for name in names if name in rows]
        )
        latest = {row.event_id: self._opened(row) for row in named}
        now = utc_now(self.clock)
        versions = self.policies.versions()
        states = []
        for name in names:
            row = rows.get(name)
            if row is None:
                states.append(PurposeConsent(name, Standing.NOT_ASKED))
                continue
            standing, changed_by = self.policies.standing(row, now, versions)
            states.append(PurposeConsent(name, standing, latest.get(row.event_id), changed_by))
        return states

    def history(
        self,
        actor: Actor,
        subject_id: str,
        purpose: str,
        page_size: int,
        page_token: str,
    ) -> ConsentPage:
        """One page of the subject's history, oldest first, of one purpose or all."""
        size = rules.page_size(page_size)
        if purpose:
            rules.purpose(purpose)
            if actor.system and purpose not in actor.purposes:
                raise PurposeNotAllowed("purpose", actor.system, purpose)
        query = {"subject": subject_id, "purpose": purpose}
        after = paging.read(page_token, query, (int,), "subject and purpose")
        subject = readable_subject(self.store.subjects, subject_id, "subject")
        rows = self._visible_events(actor, subject_id, purpose, after[0] if after else 0, size + 1)
        page, more = rows[:size], len(rows) > size
        events = [_shown(actor, self._opened(row), subject.protected_identity) for row in page]
        if subject.protected_identity:
            self.notes.note(actor, subject_id, "consent_history")
        self.audit.commit(
            self.audit.event(
                actor,
                Operation.LIST_CONSENT_EVENTS,
                subject_id,
                purpose=purpose,
                sensitive=subject.protected_identity,
                detail=counted(len(events), "event"),
            )
        )
        token = paging.token(query, [page[-1].seq]) if more else ""
        return ConsentPage(events, token)

    def _visible_events(
        self, actor: Actor, subject_id: str, purpose: str, after_seq: int, wanted: int
    ) -> list[ConsentRow]:
        """Up to `wanted` of the subject's events after `after_seq` that `actor`
        may see: an integrator its own system's purposes, read on past the others."""
        found: list[ConsentRow] = []
        while len(found) < wanted:
            rows = self.store.consents.events(subject_id, purpose or None, after_seq, _READ)
            found += [r for r in rows if not actor.system or r.purpose in actor.purposes]
            if len(rows) < _READ:
                break
            after_seq = rows[-1].seq
        return found[:wanted]

    def _opened(self, row: ConsentRow) -> ConsentEvent:
        key = self.keys.data_key(row.subject_id, CONSENT_CATEGORY, CONSENT_PURPOSE, create=False)
        sealed = json.loads(crypto.unseal(key.aead, row.sealed, _aad(row.subject_id, row.event_id)))
        return ConsentEvent(
            event_id=row.event_id,
            subject_id=row.subject_id,
            purpose=row.purpose,
            status=ConsentStatus(row.status),
            given_at=row.given_at,
            recorded_at=row.recorded_at,
            policy_version=row.policy_version,
            channel=Channel(sealed["channel"]),
            evidence=sealed["evidence"],
            recorded_by=sealed["recorded_by"],
            source_system=sealed["source_system"],
            expires_at=row.expires_at,
            seq=row.seq,
        )


def _shown(actor: Actor, event: _E, protected_identity: bool) -> _E:
    """The event as `actor` may see it: a protected identity's evidence (a
    form's id, a note) left out for every role that may not see who the
    person is, except an integrator reading what its own system recorded."""
    if (
        event is None
        or not protected_identity
        or actor.sees_protected
        or (actor.role is Role.INTEGRATOR and event.source_system == actor.system)
    ):
        return event
    return replace(event, evidence="")


def _check_order(event: ConsentEvent, latest: StandingRow | None, field: str) -> None:
    """A withdrawal or renewal needs a consent that stands; no event goes
    before the purpose's latest (the history reads in the order things happened)."""
    stands = latest is not None and ConsentStatus(latest.status) in STANDING
    if event.status is ConsentStatus.WITHDRAWN and not stands:
        raise NoConsentToChange(field, event.purpose, "withdraw")
    if event.status is ConsentStatus.RENEWED and not stands:
        raise NoConsentToChange(field, event.purpose, "renew")
    if latest is not None and event.given_at < latest.given_at:
        raise InvalidArgument(
            "time",
            f"must not be before {_when(latest.given_at)}, when the "
            f"latest event for {event.purpose} happened",
        )


def _when(moment: dt.datetime) -> str:
    """A time as the CLI and the reports print one: 2026-12-03 15:05 UTC."""
    return f"{moment.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"


def _aad(subject_id: str, event_id: str) -> bytes:
    return crypto.associated_data("consent", subject_id, event_id)


def _row(event: ConsentEvent, policy_seq: int, key: DataKey) -> ConsentRow:
    sealed = json.dumps(
        {
            "channel": event.channel.value,
            "evidence": event.evidence,
            "recorded_by": event.recorded_by,
            "source_system": event.source_system,
        }
    ).encode()
    return ConsentRow(
        event_id=event.event_id,
        subject_id=event.subject_id,
        purpose=event.purpose,
        status=event.status.value,
        given_at=event.given_at,
        recorded_at=event.recorded_at,
        policy_version=event.policy_version,
        policy_seq=policy_seq,
        expires_at=event.expires_at,
        key_id=key.key_id,
        sealed=crypto.seal(key.aead, sealed, _aad(event.subject_id, event.event_id)),
    )
