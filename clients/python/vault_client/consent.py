"""The consent and policy messages as the client's plain types (vault_client.types),
and the words a caller uses for their enums."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from google.protobuf import timestamp_pb2

from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc
from vault_client.errors import translate
from vault_client.types import (
    ConsentEvent,
    PolicyVersion,
    Purpose,
    PurposeConsent,
    ReconsentNeeded,
)

_UTC = dt.UTC


def squeezed(word: str) -> str:
    """A word as it is compared: lower case, without spaces, hyphens or
    underscores, so "Web form", "web-form" and "web_form" are one."""
    return re.sub(r"[\s_-]+", "", word.strip().lower())


# A word the server does not know is sent as UNSPECIFIED, which the server
# refuses naming the field: one place judges it, as for a record's legal basis.
STATUSES: dict[str, Any] = {
    "given": pb.CONSENT_STATUS_GIVEN,
    "refused": pb.CONSENT_STATUS_REFUSED,
    "withdrawn": pb.CONSENT_STATUS_WITHDRAWN,
    "renewed": pb.CONSENT_STATUS_RENEWED,
}
CHANNELS: dict[str, Any] = {
    "web_form": pb.CONSENT_CHANNEL_WEB_FORM,
    "email": pb.CONSENT_CHANNEL_EMAIL,
    "in_person": pb.CONSENT_CHANNEL_IN_PERSON,
    "phone": pb.CONSENT_CHANNEL_PHONE,
    "paper_form": pb.CONSENT_CHANNEL_PAPER_FORM,
    "sms": pb.CONSENT_CHANNEL_SMS,
    "other": pb.CONSENT_CHANNEL_OTHER,
}
_STATUS_NAMES = {number: name for name, number in STATUSES.items()}
# The words a caller may write for them, as the CLI and the README do: any
# case, with or without spaces, hyphens or underscores ("Web form", "e-mail",
# "in_person", "GIVEN").
_STATUS_WORDS = {squeezed(name): number for name, number in STATUSES.items()}
_CHANNEL_WORDS = {squeezed(name): number for name, number in CHANNELS.items()}
_CHANNEL_NAMES = {number: name for name, number in CHANNELS.items()}
_BASIS_NAMES: dict[int, str] = {
    pb.LEGAL_BASIS_CONSENT: "consent",
    pb.LEGAL_BASIS_CONTRACT: "contract",
    pb.LEGAL_BASIS_LEGAL_OBLIGATION: "legal_obligation",
    pb.LEGAL_BASIS_VITAL_INTERESTS: "vital_interests",
    pb.LEGAL_BASIS_PUBLIC_TASK: "public_task",
    pb.LEGAL_BASIS_LEGITIMATE_INTEREST: "legitimate_interest",
}


def status_number(word: str) -> Any:
    """The ConsentStatus a word names ("given", "Given"); UNSPECIFIED for
    any other, which the server refuses listing the words it takes."""
    return _STATUS_WORDS.get(squeezed(word), pb.CONSENT_STATUS_UNSPECIFIED)


def channel_number(word: str) -> Any:
    """The ConsentChannel a word names ("web_form", "web form", "Web-Form",
    "e-mail"); UNSPECIFIED for any other, which the server refuses listing
    the words it takes."""
    return _CHANNEL_WORDS.get(squeezed(word), pb.CONSENT_CHANNEL_UNSPECIFIED)


def timestamp(moment: dt.datetime) -> timestamp_pb2.Timestamp:
    """A time as the API takes it; a naive one is taken to be UTC."""
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment.astimezone(_UTC) if moment.tzinfo else moment)
    return stamp


def _time(message: Any, field: str) -> dt.datetime | None:
    if not message.HasField(field):
        return None
    return getattr(message, field).ToDatetime(tzinfo=_UTC)  # type: ignore[no-any-return]


def consent_event(message: pb.ConsentEvent) -> ConsentEvent:
    return ConsentEvent(
        name=message.name,
        purpose=message.purpose,
        status=_STATUS_NAMES.get(message.status, "unspecified"),
        time=message.time.ToDatetime(tzinfo=_UTC),
        record_time=message.record_time.ToDatetime(tzinfo=_UTC),
        policy_version=message.policy_version,
        channel=_CHANNEL_NAMES.get(message.channel, "unspecified"),
        evidence=message.evidence,
        recorded_by=message.recorded_by,
        source_system=message.source_system,
        expire_time=_time(message, "expire_time"),
    )


def purpose_consent(message: pb.PurposeConsent) -> PurposeConsent:
    standing = pb.ConsentStanding.Name(message.standing).removeprefix("CONSENT_STANDING_")
    return PurposeConsent(
        purpose=message.purpose,
        standing=standing.lower(),
        latest=consent_event(message.latest) if message.HasField("latest") else None,
        changed_by_version=message.changed_by_version,
    )


def purpose(message: pb.Purpose) -> Purpose:
    return Purpose(
        name=message.name,
        description=dict(message.description),
        legal_basis=_BASIS_NAMES.get(message.legal_basis, "unspecified"),
        categories=list(message.categories),
        systems=list(message.systems),
        compatible_purposes=list(message.compatible_purposes),
        special_category_condition=message.special_category_condition,
        material_changes=message.material_changes,
        direct_marketing=message.direct_marketing,
    )


def policy_version(message: pb.PolicyVersion) -> PolicyVersion:
    return PolicyVersion(
        version=message.version,
        effective_date=dt.date.fromisoformat(message.effective_date),
        publish_time=message.publish_time.ToDatetime(tzinfo=_UTC),
        published_by=message.published_by,
        text_sha256=message.text_sha256,
        url=message.url,
        text=message.text,
        changed_purposes=list(message.changed_purposes),
        material_purposes=list(message.material_purposes),
        summary=message.summary,
    )


def reconsent_needed(message: pb.ReconsentNeeded) -> ReconsentNeeded:
    return ReconsentNeeded(
        subject=message.subject,
        purpose=message.purpose,
        given_under_version=message.given_under_version,
        changed_by_version=message.changed_by_version,
        consent_time=message.consent_time.ToDatetime(tzinfo=_UTC),
    )


# ------------------------------------------------------ who may be contacted
@dataclass(frozen=True)
class Contactable:
    """A person (`subjects/{subject}`) who may be contacted for the stream's
    purpose, and what that rests on: `legal_basis` (consent, or the purpose's
    other basis, such as legitimate_interest); for consent, when it was given
    or renewed and the policy version it was given under."""

    subject: str
    legal_basis: str
    consent_time: dt.datetime | None = None
    policy_version: str = ""


def contactable(message: pb.Contactable) -> Contactable:
    return Contactable(
        subject=message.subject,
        legal_basis=_BASIS_NAMES.get(message.legal_basis, "unspecified"),
        consent_time=_time(message, "consent_time"),
        policy_version=message.policy_version,
    )


class ContactStream:
    """The people who may be contacted for a purpose, one at a time, read
    from ConsentService.StreamContactable a page at a time.

    A mailing run that breaks (a crash, Ctrl-C, a lost connection) starts a
    new stream with the `resume_token` it had: that continues after the
    person it was noted with, so nobody yielded after it is missed (at most
    the people of the page the run broke in are given again). The token is
    noted as each page's last person is yielded; it is "" before the first
    page, and again once the stream has come to its end (`finished`), when
    there is nobody left to continue to. Iterated again (after a `break`, or
    an error from a lost connection), the stream starts anew from that token.
    """

    def __init__(
        self,
        call: Callable[[pb.StreamContactableRequest], Iterable[pb.StreamContactableResponse]],
        purpose: str,
        resume_token: str = "",
        page_size: int = 0,
    ) -> None:
        self._call = call
        self.purpose = purpose
        self.page_size = page_size
        self.resume_token = resume_token
        self.finished = False
        # People yielded, and pages read, by this stream.
        self.people = 0
        self.pages = 0

    def __iter__(self) -> Iterator[Contactable]:
        # Each iteration is a stream of its own, from where the last one got to.
        if self.finished:
            return
        request = pb.StreamContactableRequest(
            purpose=self.purpose, resume_token=self.resume_token, page_size=self.page_size
        )
        try:
            for page in self._call(request):
                self.pages += 1
                last = len(page.people) - 1
                for index, message in enumerate(page.people):
                    if index == last:
                        self._noted(page.resume_token)
                    self.people += 1
                    yield contactable(message)
                if last < 0:
                    self._noted(page.resume_token)
        except grpc.RpcError as error:
            raise translate(error) from None

    def _noted(self, token: str) -> None:
        self.resume_token = token
        self.finished = not token


# ---------------------------------------------- restrictions and objections
@dataclass(frozen=True)
class ProcessingLimit:
    """A restriction of processing (GDPR art. 18) or an objection (art. 21),
    named `subjects/{subject}/restrictions/{id}` or
    `subjects/{subject}/objections/{id}`. kind: restriction or objection;
    `purposes` those it covers (a restriction with none: every purpose);
    `reason` why, `record_time` and `recorded_by` when and by whom. Lifted
    (for an objection: withdrawn by the person): `lift_time`, `lifted_by`,
    `lift_reason`; an objection set aside by the
    controller's compelling grounds: `override_time`, `overridden_by`,
    `override_reason`. `in_effect` while it stops processing."""

    name: str
    kind: str
    purposes: list[str]
    reason: str
    record_time: dt.datetime
    recorded_by: str
    lift_time: dt.datetime | None = None
    lifted_by: str = ""
    lift_reason: str = ""
    override_time: dt.datetime | None = None
    overridden_by: str = ""
    override_reason: str = ""
    in_effect: bool = True


T = TypeVar("T")
_LIMIT_KINDS: dict[int, str] = {
    pb.PROCESSING_LIMIT_KIND_RESTRICTION: "restriction",
    pb.PROCESSING_LIMIT_KIND_OBJECTION: "objection",
}


def processing_limit(message: pb.ProcessingLimit) -> ProcessingLimit:
    return ProcessingLimit(
        name=message.name,
        kind=_LIMIT_KINDS.get(message.kind, "unspecified"),
        purposes=list(message.purposes),
        reason=message.reason,
        record_time=message.record_time.ToDatetime(tzinfo=_UTC),
        recorded_by=message.recorded_by,
        lift_time=_time(message, "lift_time"),
        lifted_by=message.lifted_by,
        lift_reason=message.lift_reason,
        override_time=_time(message, "override_time"),
        overridden_by=message.overridden_by,
        override_reason=message.override_reason,
        in_effect=message.in_effect,
    )


def _request_id(given: str | None) -> str:
    # A retry of the call by gRPC itself applies once even without the caller's id.
    return given or str(uuid.uuid4())


def _called(method: Callable[..., T], request: Any, timeout: float) -> T:
    """A unary call, its error the client's."""
    try:
        return method(request, timeout=timeout)
    except grpc.RpcError as error:
        raise translate(error) from None


class ProcessingLimitMethods:
    """VaultClient's calls on restrictions and objections, mixed into it."""

    _consent: pb_grpc.ConsentServiceStub
    timeout: float

    def record_restriction(
        self,
        subject: str,
        purposes: str | Iterable[str],
        reason: str,
        *,
        request_id: str | None = None,
    ) -> ProcessingLimit:
        """Restrict processing of the person's data (`subjects/{subject}`)
        for `purposes` (one may be a str; none: every purpose) until it is
        lifted, with `reason` (one line, such as "accuracy contested",
        art. 18(1)(a)). The restriction recorded."""
        request = pb.RecordRestrictionRequest(
            subject=subject,
            purposes=[purposes] if isinstance(purposes, str) else list(purposes),
            reason=reason,
            request_id=_request_id(request_id),
        )
        answer = _called(self._consent.RecordRestriction, request, self.timeout)
        return processing_limit(answer.restriction)

    def record_objection(
        self,
        subject: str,
        purposes: str | Iterable[str],
        reason: str,
        *,
        request_id: str | None = None,
    ) -> ProcessingLimit:
        """Record the person's objection to processing for `purposes` (at
        least one; each resting on legitimate interest or public task, or
        direct marketing), with `reason` (their words, or where they are).
        The objection recorded."""
        request = pb.RecordObjectionRequest(
            subject=subject,
            purposes=[purposes] if isinstance(purposes, str) else list(purposes),
            reason=reason,
            request_id=_request_id(request_id),
        )
        answer = _called(self._consent.RecordObjection, request, self.timeout)
        return processing_limit(answer.objection)

    def lift_processing_limit(
        self, name: str, reason: str, *, request_id: str | None = None
    ) -> ProcessingLimit:
        """Lift the restriction `name`, or record that the person withdrew the
        objection `name` (only they end one to direct marketing), with
        `reason`; it stays in the person's history. The limit, lifted."""
        request = pb.LiftProcessingLimitRequest(
            name=name, reason=reason, request_id=_request_id(request_id)
        )
        answer = _called(self._consent.LiftProcessingLimit, request, self.timeout)
        return processing_limit(answer.limit)

    def record_overriding_grounds(
        self, name: str, reason: str, *, request_id: str | None = None
    ) -> ProcessingLimit:
        """Record the compelling legitimate grounds (`reason`) that set the
        objection `name` aside (art. 21(1)); never one to direct marketing.
        The objection, overridden."""
        request = pb.RecordOverridingGroundsRequest(
            name=name, reason=reason, request_id=_request_id(request_id)
        )
        answer = _called(self._consent.RecordOverridingGrounds, request, self.timeout)
        return processing_limit(answer.objection)

    def consent_state_and_limits(
        self, subject: str
    ) -> tuple[list[PurposeConsent], list[ProcessingLimit]]:
        """The person's standing per consent-based purpose (as `consent_state`)
        and their restrictions and objections, in effect or lifted, oldest
        first: one call."""
        try:
            answer = self._consent.GetConsentState(
                pb.GetConsentStateRequest(subject=subject), timeout=self.timeout
            )
        except grpc.RpcError as error:
            raise translate(error) from None
        return (
            [purpose_consent(state) for state in answer.purposes],
            [processing_limit(limit) for limit in answer.limits],
        )

    def processing_limits(self, subject: str) -> list[ProcessingLimit]:
        """The person's restrictions and objections, in effect or lifted, oldest first."""
        return self.consent_state_and_limits(subject)[1]
