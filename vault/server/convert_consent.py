"""Translation between the consent and policy messages of vault.v1 and the
core's consent objects (vault.core.consent); their resource names live here.

Subjects are named as everywhere (vault.server.convert); a consent event is
`subjects/{subject}/consentEvents/{event}`, a restriction
`subjects/{subject}/restrictions/{id}` and an objection
`subjects/{subject}/objections/{id}`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from google.protobuf import message as protobuf_message

from vault.core import rules
from vault.core.consent.model import (
    Channel,
    ConsentEvent,
    ConsentInput,
    ConsentStatus,
    LimitKind,
    PolicyDraft,
    PolicyVersion,
    ProcessingLimit,
    PurposeConsent,
    ReconsentNeeded,
    Standing,
)
from vault.core.consent.purposes import Purpose
from vault.core.errors import InvalidArgument
from vault.server import convert
from vault.v1 import vault_pb2 as pb

STATUS_FROM_PB: dict[int, ConsentStatus] = {
    pb.CONSENT_STATUS_GIVEN: ConsentStatus.GIVEN,
    pb.CONSENT_STATUS_REFUSED: ConsentStatus.REFUSED,
    pb.CONSENT_STATUS_WITHDRAWN: ConsentStatus.WITHDRAWN,
    pb.CONSENT_STATUS_RENEWED: ConsentStatus.RENEWED,
}
STATUS_TO_PB: dict[ConsentStatus, Any] = {status: n for n, status in STATUS_FROM_PB.items()}
CHANNEL_FROM_PB: dict[int, Channel] = {
    pb.CONSENT_CHANNEL_WEB_FORM: Channel.WEB_FORM,
    pb.CONSENT_CHANNEL_EMAIL: Channel.EMAIL,
    pb.CONSENT_CHANNEL_IN_PERSON: Channel.IN_PERSON,
    pb.CONSENT_CHANNEL_PHONE: Channel.PHONE,
    pb.CONSENT_CHANNEL_PAPER_FORM: Channel.PAPER_FORM,
    pb.CONSENT_CHANNEL_SMS: Channel.SMS,
    pb.CONSENT_CHANNEL_OTHER: Channel.OTHER,
}
CHANNEL_TO_PB: dict[Channel, Any] = {channel: n for n, channel in CHANNEL_FROM_PB.items()}
STANDING_TO_PB: dict[Standing, Any] = {
    Standing.NOT_ASKED: pb.CONSENT_STANDING_NOT_ASKED,
    Standing.GIVEN: pb.CONSENT_STANDING_GIVEN,
    Standing.RENEWED: pb.CONSENT_STANDING_RENEWED,
    Standing.REFUSED: pb.CONSENT_STANDING_REFUSED,
    Standing.WITHDRAWN: pb.CONSENT_STANDING_WITHDRAWN,
    Standing.EXPIRED: pb.CONSENT_STANDING_EXPIRED,
    Standing.RECONSENT_NEEDED: pb.CONSENT_STANDING_RECONSENT_NEEDED,
}

LIMIT_KIND_TO_PB: dict[LimitKind, Any] = {
    LimitKind.RESTRICTION: pb.PROCESSING_LIMIT_KIND_RESTRICTION,
    LimitKind.OBJECTION: pb.PROCESSING_LIMIT_KIND_OBJECTION,
}
_LIMIT_NAME = re.compile(r"subjects/([^/]+)/(restrictions|objections)/([^/]+)")
_LIMIT_KINDS = {kind.collection: kind for kind in LimitKind}

# fromisoformat alone would take 20260301 and 2026-W09-7 too: the API says YYYY-MM-DD.
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
# google.protobuf.Timestamp's own range: 0001-01-01 to 9999-12-31, UTC.
_EARLIEST_SECONDS = -62_135_596_800
_LATEST_SECONDS = 253_402_300_799


# ------------------------------------------------------------- requests
def consent_input(request: pb.RecordConsentRequest) -> ConsentInput:
    """What RecordConsent asks to record; the purposes, the evidence and the
    times against the history are the core's to judge."""
    status = STATUS_FROM_PB.get(request.status)
    if status is None:
        raise InvalidArgument(
            "status", f"must be one of {_known(pb.ConsentStatus, STATUS_FROM_PB)}"
        )
    channel = CHANNEL_FROM_PB.get(request.channel)
    if channel is None:
        raise InvalidArgument(
            "channel", f"must be one of {_known(pb.ConsentChannel, CHANNEL_FROM_PB)}"
        )
    return ConsentInput(
        purposes=tuple(request.purposes),
        status=status,
        channel=channel,
        evidence=request.evidence,
        policy_version=request.policy_version,
        given_at=moment(request, "time"),
        expires_at=moment(request, "expire_time"),
    )


def _known(enum: Any, known: dict[int, Any]) -> str:
    """The values of `enum` in `known` in words, as a caller names them: its
    names without the enum's prefix, lower case ("web_form, email, ... or other")."""
    prefix = enum.DESCRIPTOR.values[0].name.removesuffix("UNSPECIFIED")  # CONSENT_CHANNEL_
    words = [enum.Name(number).removeprefix(prefix).lower() for number in known]
    return f"{', '.join(words[:-1])} or {words[-1]}"


def limit_name(name: str, field: str = "name") -> tuple[str, LimitKind, str]:
    """(subject id, kind, limit id) from a restriction's or an objection's
    name; a name of neither form is INVALID_FIELD (one of no limit is the
    core's PROCESSING_LIMIT_NOT_FOUND)."""
    match = _LIMIT_NAME.fullmatch(name)
    if match is None:
        raise InvalidArgument(
            field,
            "must be a restriction's or an objection's name, "
            "subjects/{subject}/restrictions/{id} or subjects/{subject}/objections/{id}",
        )
    return (
        rules.resource_id(match[1], field),
        _LIMIT_KINDS[match[2]],
        rules.resource_id(match[3], field),
    )


def objection_name(name: str, field: str = "name") -> tuple[str, str]:
    """(subject id, objection id) from an objection's name: overriding
    grounds set aside an objection, never a restriction."""
    subject_id, kind, limit_id = limit_name(name, field)
    if kind is not LimitKind.OBJECTION:
        raise InvalidArgument(
            field,
            "must be an objection's name, subjects/{subject}/objections/{id}: "
            "overriding grounds are recorded against an objection, and a restriction is lifted",
        )
    return subject_id, limit_id


def policy_draft(request: pb.PublishPolicyVersionRequest) -> PolicyDraft:
    return PolicyDraft(
        version=request.version,
        effective_from=date(request.effective_date, "effective_date"),
        text=request.text,
        text_sha256=request.text_sha256,
        url=request.url,
        changed_purposes=tuple(request.changed_purposes),
        material_purposes=tuple(request.material_purposes),
        summary=request.summary,
    )


def moment(message: protobuf_message.Message, field: str) -> dt.datetime | None:
    """A Timestamp field as an aware time in UTC; None when it is unset."""
    if not message.HasField(field):
        return None
    stamp = getattr(message, field)
    if not (_EARLIEST_SECONDS <= stamp.seconds <= _LATEST_SECONDS and 0 <= stamp.nanos < 10**9):
        raise InvalidArgument(field, "must be a time from the year 1 to 9999")
    return stamp.ToDatetime(tzinfo=dt.UTC)  # type: ignore[no-any-return]


def date(text: str, field: str) -> dt.date:
    if _DATE.fullmatch(text):
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            pass  # a month or day that does not exist, said below
    raise InvalidArgument(field, "must be a date, YYYY-MM-DD")


# ------------------------------------------------------------ responses
def consent_event_name(event: ConsentEvent) -> str:
    return f"{convert.subject_name(event.subject_id)}/consentEvents/{event.event_id}"


def consent_event_message(event: ConsentEvent) -> pb.ConsentEvent:
    message = pb.ConsentEvent(
        name=consent_event_name(event),
        purpose=event.purpose,
        status=STATUS_TO_PB[event.status],
        time=convert.timestamp(event.given_at),
        record_time=convert.timestamp(event.recorded_at),
        policy_version=event.policy_version,
        channel=CHANNEL_TO_PB[event.channel],
        evidence=event.evidence,
        recorded_by=event.recorded_by,
        source_system=event.source_system,
    )
    if event.expires_at is not None:
        message.expire_time.CopyFrom(convert.timestamp(event.expires_at))
    return message


def purpose_consent_message(state: PurposeConsent) -> pb.PurposeConsent:
    message = pb.PurposeConsent(
        purpose=state.purpose,
        standing=STANDING_TO_PB[state.standing],
        changed_by_version=state.changed_by,
    )
    if state.latest is not None:
        message.latest.CopyFrom(consent_event_message(state.latest))
    return message


def processing_limit_message(limit: ProcessingLimit) -> pb.ProcessingLimit:
    message = pb.ProcessingLimit(
        name=limit.name,
        kind=LIMIT_KIND_TO_PB[limit.kind],
        purposes=list(limit.purposes),
        reason=limit.reason,
        record_time=convert.timestamp(limit.recorded_at),
        recorded_by=limit.recorded_by,
        lifted_by=limit.lifted_by,
        lift_reason=limit.lift_reason,
        overridden_by=limit.overridden_by,
        override_reason=limit.override_reason,
        in_effect=limit.in_effect,
    )
    if limit.lifted_at is not None:
        message.lift_time.CopyFrom(convert.timestamp(limit.lifted_at))
    if limit.overridden_at is not None:
        message.override_time.CopyFrom(convert.timestamp(limit.overridden_at))
    return message


def purpose_message(purpose: Purpose) -> pb.Purpose:
    return pb.Purpose(
        name=purpose.name,
        description=dict(purpose.description),
        legal_basis=convert.BASIS_TO_PB[purpose.legal_basis],
        special_category_condition=purpose.special_category_condition,
        categories=list(purpose.categories),
        systems=list(purpose.systems),
        compatible_purposes=list(purpose.compatible_with),
        material_changes=purpose.material_changes,
        direct_marketing=purpose.direct_marketing,
    )


def policy_version_message(version: PolicyVersion) -> pb.PolicyVersion:
    return pb.PolicyVersion(
        version=version.version,
        effective_date=version.effective_from.isoformat(),
        publish_time=convert.timestamp(version.published_at),
        published_by=version.published_by,
        text_sha256=version.text_sha256,
        url=version.url,
        text=version.text,
        changed_purposes=list(version.changed_purposes),
        material_purposes=list(version.material_purposes),
        summary=version.summary,
    )


def reconsent_message(person: ReconsentNeeded) -> pb.ReconsentNeeded:
    return pb.ReconsentNeeded(
        subject=convert.subject_name(person.subject_id),
        purpose=person.purpose,
        given_under_version=person.given_under,
        changed_by_version=person.changed_by,
        consent_time=convert.timestamp(person.given_at),
    )
