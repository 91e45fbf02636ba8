"""Translation between vault.v1 messages and domain objects; resource names live here."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2

from vault.connectors.base import HealthReport
from vault.connectors.registry import InstalledConnector
from vault.core import rules
from vault.core.erasure import ErasureRequestView, MatchDecision, Scope
from vault.core.errors import InvalidArgument
from vault.core.identities import Identity, IdentityKind
from vault.core.model import (
    Content,
    LegalBasis,
    Record,
    RecordDraft,
    Subject,
    SubjectState,
)
from vault.core.vault import IdentityInput, NewSubject
from vault.v1 import vault_pb2 as pb

_SUBJECT_NAME = re.compile(r"subjects/([^/]+)")
_RECORD_NAME = re.compile(r"subjects/([^/]+)/records/([^/]+)")

KIND_FROM_PB: dict[int, IdentityKind] = {
    pb.IDENTITY_KIND_PERSONNUMMER: IdentityKind.PERSONNUMMER,
    pb.IDENTITY_KIND_EMAIL: IdentityKind.EMAIL,
    pb.IDENTITY_KIND_PHONE: IdentityKind.PHONE,
    pb.IDENTITY_KIND_EXTERNAL_ID: IdentityKind.EXTERNAL_ID,
}
KIND_TO_PB: dict[IdentityKind, Any] = {kind: number for number, kind in KIND_FROM_PB.items()}
BASIS_FROM_PB: dict[int, LegalBasis] = {
    pb.LEGAL_BASIS_CONSENT: LegalBasis.CONSENT,
    pb.LEGAL_BASIS_CONTRACT: LegalBasis.CONTRACT,
    pb.LEGAL_BASIS_LEGAL_OBLIGATION: LegalBasis.LEGAL_OBLIGATION,
    pb.LEGAL_BASIS_VITAL_INTERESTS: LegalBasis.VITAL_INTERESTS,
    pb.LEGAL_BASIS_PUBLIC_TASK: LegalBasis.PUBLIC_TASK,
    pb.LEGAL_BASIS_LEGITIMATE_INTEREST: LegalBasis.LEGITIMATE_INTEREST,
}
BASIS_TO_PB: dict[LegalBasis, Any] = {basis: number for number, basis in BASIS_FROM_PB.items()}
STATE_TO_PB: dict[SubjectState, Any] = {
    SubjectState.ACTIVE: pb.SUBJECT_STATE_ACTIVE,
    SubjectState.ERASURE_PENDING: pb.SUBJECT_STATE_ERASURE_PENDING,
    SubjectState.ERASED: pb.SUBJECT_STATE_ERASED,
}


# ----------------------------------------------------------------- names
def subject_id(name: str, field: str) -> str:
    match = _SUBJECT_NAME.fullmatch(name)
    if match is None:
        raise InvalidArgument(field, "must be a subject name, subjects/{subject}")
    return rules.resource_id(match[1], field)


def record_id(name: str, field: str) -> tuple[str, str]:
    match = _RECORD_NAME.fullmatch(name)
    if match is None:
        raise InvalidArgument(field, "must be a record name, subjects/{subject}/records/{record}")
    return rules.resource_id(match[1], field), rules.resource_id(match[2], field)


def subject_name(subject_id: str) -> str:
    return f"subjects/{subject_id}"


def record_name(record: Record) -> str:
    return f"subjects/{record.subject_id}/records/{record.record_id}"


# ------------------------------------------------------------- requests
def identity_input(message: pb.Identity, field: str) -> IdentityInput:
    kind = KIND_FROM_PB.get(message.kind)
    if kind is None:
        raise InvalidArgument(f"{field}.kind", "must be set to a known IdentityKind")
    return IdentityInput(kind, message.value, message.system)


def new_subject(message: pb.ImportedSubject, field: str) -> NewSubject:
    return NewSubject(
        identities=[
            identity_input(identity, f"{field}.identities[{index}]")
            for index, identity in enumerate(message.identities)
        ],
        roles=list(message.roles),
        protected_identity=message.protected_identity,
        records=[
            record_draft(record, f"{field}.records[{index}]")
            for index, record in enumerate(message.records)
        ],
    )


def record_draft(message: pb.Record, field: str) -> RecordDraft:
    basis = BASIS_FROM_PB.get(message.legal_basis)
    if basis is None:
        raise InvalidArgument(f"{field}.legal_basis", "must be set to a known LegalBasis")
    return RecordDraft(
        category=message.category,
        purpose=message.purpose,
        legal_basis=basis,
        source_system=message.source_system,
        fields=struct_to_dict(message.fields),
        content=content(message) if message.HasField("content") else None,
    )


def content(message: pb.Record) -> Content:
    return Content(message.content.data, message.content.media_type, message.content.filename)


def legal_basis(number: int, field: str) -> LegalBasis:
    basis = BASIS_FROM_PB.get(number)
    if basis is None:
        raise InvalidArgument(field, "must be set to a known LegalBasis")
    return basis


def struct_to_dict(message: struct_pb2.Struct) -> dict[str, Any]:
    # A direct walk of the Struct tree: json_format.MessageToDict is generic
    # and several times slower, and this is on every record's path.
    fields = message.fields
    # Keys then lookups: the map's items() goes through the slow generic Mapping view.
    return {key: _value(fields[key]) for key in fields}


def _value(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        return value.number_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return struct_to_dict(value.struct_value)
    if kind == "list_value":
        return [_value(item) for item in value.list_value.values]
    return None


# ------------------------------------------------------------ responses
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def timestamp(moment: dt.datetime) -> timestamp_pb2.Timestamp:
    # The vault's times are timezone-aware; arithmetic from the epoch is several
    # times cheaper than Timestamp.FromDatetime, and this runs twice per record.
    if moment.tzinfo is None:
        stamp = timestamp_pb2.Timestamp()
        stamp.FromDatetime(moment)
        return stamp
    since = moment - _EPOCH
    return timestamp_pb2.Timestamp(
        seconds=since.days * 86_400 + since.seconds, nanos=since.microseconds * 1000
    )


def subject_message(subject: Subject) -> pb.Subject:
    return pb.Subject(
        name=subject_name(subject.subject_id),
        identities=[identity_message(identity) for identity in subject.identities],
        roles=list(subject.roles),
        protected_identity=subject.protected_identity,
        state=STATE_TO_PB[subject.state],
        create_time=timestamp(subject.created_at),
        update_time=timestamp(subject.updated_at),
        masked=subject.masked,
    )


def identity_message(identity: Identity) -> pb.Identity:
    return pb.Identity(kind=KIND_TO_PB[identity.kind], value=identity.value, system=identity.system)


def record_message(
    record: Record, fields: struct_pb2.Struct | None = None, *, with_data: bool = True
) -> pb.Record:
    """The record as a message; `fields`, when given, is a Struct already
    holding the record's fields (the request's, on create), copied rather than
    rebuilt from the dictionary value by value. Answers to writes pass
    `with_data=False`: the content's size and digest, not its bytes again."""
    message = pb.Record(
        name=record_name(record),
        category=record.category,
        purpose=record.purpose,
        legal_basis=BASIS_TO_PB[record.legal_basis],
        source_system=record.source_system,
        create_time=timestamp(record.created_at),
        update_time=timestamp(record.updated_at),
        masked=record.masked,
    )
    if record.masked:
        # Nothing of the data, nor its size or digest: the media type alone.
        if record.content is not None:
            message.content.media_type = record.content.media_type
        return message
    if fields is not None:
        message.fields.CopyFrom(fields)
    else:
        message.fields.update(record.fields)
    if record.content is not None:
        data = record.content.data
        message.content.CopyFrom(
            pb.Content(
                data=data if with_data else b"",
                media_type=record.content.media_type,
                filename=record.content.filename,
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
            )
        )
    return message


# --------------------------------------------------------------- erasure
_ERASURE_NAME = re.compile(r"erasureRequests/([^/]+)")
_ACTION_NAME = re.compile(r"erasureRequests/([^/]+)/manualActions/([^/]+)")
_STEP_NAME = re.compile(r"erasureRequests/([^/]+)/steps/([^/]+)")
REQUEST_STATE_TO_PB: dict[str, Any] = {
    "pending": pb.ERASURE_REQUEST_STATE_PENDING,
    "in_progress": pb.ERASURE_REQUEST_STATE_IN_PROGRESS,
    "partially_completed": pb.ERASURE_REQUEST_STATE_PARTIALLY_COMPLETED,
    "awaiting_manual_action": pb.ERASURE_REQUEST_STATE_AWAITING_MANUAL_ACTION,
    "completed": pb.ERASURE_REQUEST_STATE_COMPLETED,
}
REQUEST_STATE_FROM_PB: dict[int, str] = {
    number: state for state, number in REQUEST_STATE_TO_PB.items()
}
STEP_STATE_TO_PB: dict[str, Any] = {
    "pending": pb.ERASURE_STEP_STATE_PENDING,
    "running": pb.ERASURE_STEP_STATE_RUNNING,
    "retrying": pb.ERASURE_STEP_STATE_RETRYING,
    "succeeded": pb.ERASURE_STEP_STATE_SUCCEEDED,
    "needs_attention": pb.ERASURE_STEP_STATE_NEEDS_ATTENTION,
    "not_applicable": pb.ERASURE_STEP_STATE_NOT_APPLICABLE,
}
SCOPE_TO_PB: dict[str, Any] = {
    Scope.SUBJECT: pb.ERASURE_SCOPE_SUBJECT,
    Scope.PURPOSE: pb.ERASURE_SCOPE_PURPOSE,
}

OUTCOME_TO_PB: dict[str, Any] = {
    "removed": pb.ERASURE_OUTCOME_REMOVED,
    "retained": pb.ERASURE_OUTCOME_RETAINED,
    "manual_action": pb.ERASURE_OUTCOME_MANUAL_ACTION_REQUIRED,
    "no_match": pb.ERASURE_OUTCOME_NO_MATCH,
    "already_removed": pb.ERASURE_OUTCOME_ALREADY_REMOVED,
}
DECISION_TO_PB: dict[str, Any] = {
    MatchDecision.SAME_PERSON: pb.MATCH_DECISION_SAME_PERSON,
    MatchDecision.NOT_THIS_PERSON: pb.MATCH_DECISION_NOT_THIS_PERSON,
}
DECISION_FROM_PB: dict[int, str] = {number: name for name, number in DECISION_TO_PB.items()}


def match_decision(number: int, field: str) -> str:
    decision = DECISION_FROM_PB.get(number)
    if decision is None:
        raise InvalidArgument(
            field, "must be MATCH_DECISION_SAME_PERSON or MATCH_DECISION_NOT_THIS_PERSON"
        )
    return decision


def erasure_step_id(name: str, field: str) -> tuple[str, str]:
    """(request id, system) from `erasureRequests/{request}/steps/{system}`."""
    match = _STEP_NAME.fullmatch(name)
    if match is None:
        raise InvalidArgument(
            field, "must be a step name, erasureRequests/{request}/steps/{system}"
        )
    return rules.resource_id(match[1], field), rules.system(match[2], field)


def erasure_request_id(name: str, field: str) -> str:
    match = _ERASURE_NAME.fullmatch(name)
    if match is None:
        raise InvalidArgument(field, "must be an erasure request name, erasureRequests/{request}")
    return rules.resource_id(match[1], field)


def manual_action_id(name: str, field: str) -> tuple[str, str]:
    """(request id, action id) from `erasureRequests/{request}/manualActions/{action}`."""
    match = _ACTION_NAME.fullmatch(name)
    if match is None:
        raise InvalidArgument(
            field, "must be a manual action name, erasureRequests/{request}/manualActions/{action}"
        )
    return rules.resource_id(match[1], field), rules.resource_id(match[2], field)


def erasure_request_message(view: ErasureRequestView) -> pb.ErasureRequest:
    message = pb.ErasureRequest(
        name=f"erasureRequests/{view.request_id}",
        subject=subject_name(view.subject_id),
        state=REQUEST_STATE_TO_PB[view.state],
        create_time=timestamp(view.received_at),
        deadline_time=timestamp(view.deadline_at),
        update_time=timestamp(view.updated_at),
        scope=SCOPE_TO_PB[view.scope],
        purpose=view.purpose,
    )
    if view.completed_at:
        message.complete_time.CopyFrom(timestamp(view.completed_at))
    for step in view.steps:
        step_message = message.steps.add(
            system=step.system,
            state=STEP_STATE_TO_PB[step.state],
            attempts=step.attempts,
            last_error=step.last_error,
            update_time=timestamp(step.updated_at),
        )
        if step.next_attempt_at:
            step_message.next_attempt_time.CopyFrom(timestamp(step.next_attempt_at))
        if step.conflict:
            step_message.conflict.disagreements.extend(step.conflict)
            step_message.conflict.kinds.extend(
                KIND_TO_PB[IdentityKind(kind)] for kind in step.conflict_kinds
            )
        step_message.notes.extend(step.notes)
        if step.decision:
            step_message.decision = DECISION_TO_PB[step.decision]
            step_message.decided_by = step.decided_by
        if step.decided_at:
            step_message.decide_time.CopyFrom(timestamp(step.decided_at))
        for outcome in step.outcomes:
            item = step_message.items.add(
                outcome=OUTCOME_TO_PB[outcome.kind],
                category=outcome.category,
                description=outcome.description,
                legal_reason=outcome.legal_reason,
                retained_until=outcome.until.isoformat() if outcome.until else "",
                manual_action=f"erasureRequests/{view.request_id}/manualActions/{outcome.action_id}"
                if outcome.action_id
                else "",
                instructions=outcome.instructions,
                confirmed_by=outcome.confirmed_by,
            )
            if outcome.confirmed_at:
                item.confirm_time.CopyFrom(timestamp(outcome.confirmed_at))
            item.tried_kinds.extend(KIND_TO_PB[IdentityKind(kind)] for kind in outcome.tried)
    return message


def connector_message(installed: InstalledConnector, health: HealthReport | None) -> pb.Connector:
    message = pb.Connector(
        name=installed.name, version=installed.version, enabled=installed.enabled
    )
    if health is not None:
        message.healthy, message.health_detail = health.healthy, health.detail
    message.capabilities.extend(sorted(c.value for c in installed.capabilities))
    if installed.holdings is not None:
        message.description = installed.holdings.description
        message.location = installed.holdings.location
        for held in installed.holdings.categories:
            message.holdings.add(
                category=held.category,
                description=held.description,
                purpose=held.purpose,
                legal_basis=BASIS_TO_PB[held.legal_basis],
                retention=held.retention,
                erasable=held.erasable,
                legal_reason=held.legal_reason,
            )
    return message
