"""Consent as evidence: what a person said, for which purpose, when, under
which policy version, through which channel, recorded by whom, with what
proof; and the policy versions consent is given under.

Events are never changed or deleted while the person is in the vault (GDPR
art. 7(1): the controller must be able to show the consent); a withdrawal is
an event of its own and is not retroactive. A person's standing per purpose
(`Standing`) is read from their latest event and the policy versions since.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum


class ConsentStatus(StrEnum):
    """What a consent event records (DPV's status terms, vault.core.consent.dpv)."""

    GIVEN = "given"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"
    RENEWED = "renewed"


# Statuses after which consent stands (until withdrawn, expired or outdated).
STANDING = frozenset({ConsentStatus.GIVEN, ConsentStatus.RENEWED})


class Channel(StrEnum):
    """How the person said it."""

    WEB_FORM = "web form"
    EMAIL = "e-mail"
    IN_PERSON = "in person"
    PHONE = "phone"
    PAPER_FORM = "paper form"
    SMS = "sms"
    OTHER = "other"


class Standing(StrEnum):
    """A person's consent for one purpose as it stands now."""

    NOT_ASKED = "not asked"  # no event for the purpose
    GIVEN = "given"
    RENEWED = "renewed"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"  # given with an end, and the end has passed
    # Given under a policy version older than one in effect that changed the
    # purpose materially: the person must consent again.
    RECONSENT_NEEDED = "re-consent needed"

    @property
    def in_force(self) -> bool:
        return self in (Standing.GIVEN, Standing.RENEWED)


@dataclass(frozen=True)
class ConsentEvent:
    """One event of a person's consent history."""

    event_id: str
    subject_id: str
    purpose: str
    status: ConsentStatus
    # When the person said it (a paper form may be recorded a day later) and
    # when the vault recorded it.
    given_at: dt.datetime
    recorded_at: dt.datetime
    # The policy version the person was shown ("" when none was published).
    policy_version: str
    channel: Channel
    # A reference or short text: the form submission's id, the e-mail's.
    evidence: str
    # Who recorded it (the actor) and the source system it came from.
    recorded_by: str
    source_system: str = ""
    # Given or renewed until (None: until withdrawn).
    expires_at: dt.datetime | None = None
    seq: int = 0  # the order events were recorded in, across the vault


@dataclass(frozen=True)
class ConsentInput:
    """What a caller asks to record: one status for one or more purposes.
    Withdrawing with no purposes withdraws every consent that stands."""

    purposes: tuple[str, ...]
    status: ConsentStatus
    channel: Channel
    evidence: str = ""
    policy_version: str = ""  # "" is the version in effect at `given_at`
    given_at: dt.datetime | None = None  # None is now
    expires_at: dt.datetime | None = None


@dataclass(frozen=True)
class PurposeConsent:
    """A person's standing for one consent-based purpose, with the event it rests on."""

    purpose: str
    standing: Standing
    latest: ConsentEvent | None = None
    # For RECONSENT_NEEDED: the policy version that changed the purpose.
    changed_by: str = ""


@dataclass(frozen=True)
class PolicyDraft:
    """A policy version to publish: its text, or its text's SHA-256 and where
    it is published; the date it takes effect; the purposes it changed, and of
    those which changed materially (a changed purpose whose configuration says
    its changes are material counts as material too)."""

    version: str
    effective_from: dt.date
    text: str = ""
    text_sha256: str = ""
    url: str = ""
    changed_purposes: tuple[str, ...] = ()
    material_purposes: tuple[str, ...] = ()
    summary: str = ""


@dataclass(frozen=True)
class PolicyVersion:
    """A published policy version. `seq` orders versions (publishing keeps
    the effective dates in order, so it is also the order they take effect in)."""

    version: str
    seq: int
    effective_from: dt.date
    published_at: dt.datetime
    published_by: str
    text_sha256: str
    url: str = ""
    text: str = ""
    changed_purposes: tuple[str, ...] = ()
    material_purposes: tuple[str, ...] = ()
    summary: str = ""

    def in_effect(self, today: dt.date) -> bool:
        return self.effective_from <= today


@dataclass(frozen=True)
class ReconsentNeeded:
    """One person who must consent again for a purpose, and why."""

    subject_id: str
    purpose: str
    given_under: str  # the policy version their consent was given under
    changed_by: str  # the version in effect that changed the purpose materially
    given_at: dt.datetime
    protected_identity: bool = False


@dataclass(frozen=True)
class ConsentPage:
    events: list[ConsentEvent] = field(default_factory=list)
    next_page_token: str = ""


class LimitKind(StrEnum):
    """What limits processing for a person beyond their consent."""

    RESTRICTION = "restriction"  # GDPR art. 18
    OBJECTION = "objection"  # GDPR art. 21

    @property
    def collection(self) -> str:
        """Its resource collection: `subjects/{subject}/restrictions/{id}`."""
        return f"{self.value}s"

    @property
    def lifted(self) -> str:
        """What lifting it means, in words. A restriction is lifted; an
        objection is the person's, so lifting one records that they withdrew
        it (nothing else ends one to direct marketing: art. 21(3))."""
        return "withdrawn by the person" if self is LimitKind.OBJECTION else "lifted"


def limit_name(subject_id: str, kind: LimitKind, limit_id: str) -> str:
    """A restriction's or objection's resource name: `subjects/{s}/objections/{id}`."""
    return f"subjects/{subject_id}/{kind.collection}/{limit_id}"


def limit_in_effect(lifted_at: dt.datetime | None, overridden_at: dt.datetime | None) -> bool:
    """Whether a limit stops processing: neither lifted (an objection: withdrawn)
    nor overridden by compelling grounds."""
    return lifted_at is None and overridden_at is None


@dataclass(frozen=True)
class ProcessingLimit:
    """A restriction or an objection: for which purposes (a restriction with
    none covers every purpose), why, who recorded it and when; lifted, or (an
    objection to a legitimate-interest or public-task purpose) overridden by
    the controller's compelling grounds, both with who, when and why. An
    objection's lift fields record the person's withdrawal of it: when, who
    put it on record, and where the person said so."""

    limit_id: str
    subject_id: str
    kind: LimitKind
    purposes: tuple[str, ...]
    reason: str
    recorded_at: dt.datetime
    recorded_by: str
    lifted_at: dt.datetime | None = None
    lifted_by: str = ""
    lift_reason: str = ""
    overridden_at: dt.datetime | None = None
    overridden_by: str = ""
    override_reason: str = ""
    # The source system whose integrator recorded it ("" for none): it sees
    # the reason it recorded, as it sees the evidence of the consent it did.
    source_system: str = ""

    @property
    def name(self) -> str:
        return limit_name(self.subject_id, self.kind, self.limit_id)

    @property
    def in_effect(self) -> bool:
        return limit_in_effect(self.lifted_at, self.overridden_at)

    def covers(self, purpose: str) -> bool:
        return not self.purposes or purpose in self.purposes


@dataclass(frozen=True)
class Contactable:
    """One person who may be contacted for a purpose, and what it rests on:
    their consent (its time and policy version), or the purpose's other basis."""

    subject_id: str
    consent_given_at: dt.datetime | None = None
    policy_version: str = ""
    protected_identity: bool = False


@dataclass(frozen=True)
class ContactPage:
    """One page of a contact stream; `resume_token` continues after its last
    person ("" after the last page)."""

    people: list[Contactable]
    resume_token: str
