"""The consent and policy messages as the client's plain types (vault_client.types),
and the words a caller uses for their enums."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from google.protobuf import timestamp_pb2

from vault.v1 import vault_pb2 as pb
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
