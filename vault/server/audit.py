"""AuditService: a thin translator over the audit log as the auditor reads it
(vault.core.audit.reading): listings paged and filtered, signed tree heads,
inclusion and consistency proofs.

Each read commits its own event first (the core does), so every method here
runs on the blocking pool, never on the event loop.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import unicodedata

from vault.core import paging, rules
from vault.core.audit.events import AuditEvent, Operation
from vault.core.audit.heads import public_key_pem
from vault.core.audit.reading import AuditLog
from vault.core.audit.store import AuditQuery, StoredEvent, StoredHead
from vault.core.errors import InvalidArgument
from vault.server import convert
from vault.server.actor import actor_of
from vault.server.context import VaultServices
from vault.server.registration import CallContext
from vault.v1 import vault_pb2 as pb

SENSITIVE_FROM_PB: dict[int, bool | None] = {
    pb.SENSITIVE_FILTER_UNSPECIFIED: None,
    pb.SENSITIVE_FILTER_ONLY: True,
    pb.SENSITIVE_FILTER_EXCLUDED: False,
}
OPERATIONS = frozenset(operation.value for operation in Operation)
# An actor is a token's label and name, with mutual TLS a certificate's subject too.
MAX_ACTOR_CHARS = 400
# google.protobuf.Timestamp's own range: 0001-01-01 to 9999-12-31, UTC.
_EARLIEST_SECONDS = -62_135_596_800
_LATEST_SECONDS = 253_402_300_799
# What an entry that does not read as an event is shown with, in place of its words.
UNREADABLE = "the entry does not read as an audit event: run `consent-vault audit verify`"


class AuditService:
    def __init__(self, services: VaultServices) -> None:
        self.log: AuditLog = services.vault.audit_log

    def ListAuditEvents(
        self, request: pb.ListAuditEventsRequest, context: CallContext
    ) -> pb.ListAuditEventsResponse:
        limit = rules.page_size(request.page_size)
        query = audit_query(request)
        # A token continues only the listing with the same filters; they are
        # kept in it as a digest, so it carries no subject or actor.
        listing = {"list": "audit events", "filters": filters_digest(request)}
        after = paging.read(request.page_token, listing, (int,), "filters")
        if request.subject:
            subject_id = convert.subject_id(request.subject, "subject")
            query = dataclasses.replace(query, subject=self.log.subject_pseudonym(subject_id))
        query = dataclasses.replace(query, after_row=after[0] if after else 0, limit=limit + 1)
        found = self.log.events(actor_of(context), query)
        page = found[:limit]
        token = paging.token(listing, [page[-1].row_id]) if len(found) > limit else ""
        return pb.ListAuditEventsResponse(
            events=[event_message(stored) for stored in page], next_page_token=token
        )

    def GetTreeHead(
        self, request: pb.GetTreeHeadRequest, context: CallContext
    ) -> pb.GetTreeHeadResponse:
        head = self.log.head(actor_of(context), request.size)
        public_key = self.log.public_key()
        return pb.GetTreeHeadResponse(
            head=head_message(head),
            public_key=public_key,
            public_key_pem=public_key_pem(public_key),
        )

    def GetInclusionProof(
        self, request: pb.GetInclusionProofRequest, context: CallContext
    ) -> pb.GetInclusionProofResponse:
        proof = self.log.inclusion(actor_of(context), request.index, request.tree_size)
        return pb.GetInclusionProofResponse(
            event=event_message(proof.event),
            head=head_message(proof.head),
            leaf_hash=proof.leaf_hash,
            audit_path=proof.path,
        )

    def GetConsistencyProof(
        self, request: pb.GetConsistencyProofRequest, context: CallContext
    ) -> pb.GetConsistencyProofResponse:
        proof = self.log.consistency(actor_of(context), request.first_size, request.second_size)
        return pb.GetConsistencyProofResponse(
            first=head_message(proof.first), second=head_message(proof.second), proof=proof.proof
        )


# ------------------------------------------------------------- requests
def audit_query(request: pb.ListAuditEventsRequest) -> AuditQuery:
    """The listing's filters, each checked, but for the subject (a name the
    servicer turns into a pseudonym)."""
    if request.sensitive not in SENSITIVE_FROM_PB:
        raise InvalidArgument("sensitive", "must be a known SensitiveFilter")
    since = moment(request, "start_time")
    until = moment(request, "end_time")
    if since is not None and until is not None and until <= since:
        raise InvalidArgument("end_time", "must be later than start_time")
    if request.operation and request.operation not in OPERATIONS:
        raise InvalidArgument(
            "operation", "must be an operation as events name it, such as `get record`"
        )
    if request.actor and not _printable(request.actor, MAX_ACTOR_CHARS):
        raise InvalidArgument(
            "actor",
            f"must be an actor as events name it, at most {MAX_ACTOR_CHARS} printable characters",
        )
    return AuditQuery(
        since=since,
        until=until,
        actor=request.actor or None,
        operation=request.operation or None,
        sensitive=SENSITIVE_FROM_PB[request.sensitive],
    )


def filters_digest(request: pb.ListAuditEventsRequest) -> str:
    """The request's filters, as a short digest (paging aside)."""
    filters = pb.ListAuditEventsRequest()
    filters.CopyFrom(request)
    filters.ClearField("page_size")
    filters.ClearField("page_token")
    return hashlib.sha256(filters.SerializeToString(deterministic=True)).hexdigest()[:32]


def moment(request: pb.ListAuditEventsRequest, field: str) -> dt.datetime | None:
    if not request.HasField(field):
        return None
    stamp = getattr(request, field)
    if not (_EARLIEST_SECONDS <= stamp.seconds <= _LATEST_SECONDS and 0 <= stamp.nanos < 10**9):
        raise InvalidArgument(field, "must be a time from the year 1 to 9999")
    return stamp.ToDatetime(tzinfo=dt.UTC)  # type: ignore[no-any-return]


def _printable(text: str, limit: int) -> bool:
    return len(text) <= limit and not any(
        unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") for ch in text
    )


# ------------------------------------------------------------ responses
def event_message(stored: StoredEvent) -> pb.AuditEvent:
    """An event as its entry says it, with its place in the log. An entry that
    does not read as an event (edited in the database) is shown by its filter
    columns, saying so: one edit does not hide the rest of a listing."""
    try:
        event = AuditEvent.from_entry(stored.entry)
        message = pb.AuditEvent(
            time=convert.timestamp(event.at),
            actor=event.actor,
            role=event.role,
            system=event.system,
            operation=event.operation,
            subject_pseudonym=event.subject,
            purpose=event.purpose,
            sensitive=event.sensitive,
            result=event.result,
            detail=event.detail,
        )
    except ValueError:  # not JSON, a field missing, text protobuf cannot carry
        message = pb.AuditEvent(
            time=convert.timestamp(stored.at),
            actor=stored.actor,
            operation=stored.operation,
            subject_pseudonym=stored.subject,
            sensitive=stored.sensitive,
            detail=UNREADABLE,
        )
    message.entry = stored.entry
    if stored.index is not None:
        message.index = stored.index
    return message


def head_message(stored: StoredHead) -> pb.TreeHead:
    head = stored.head
    return pb.TreeHead(
        size=head.size,
        root_hash=head.root,
        time=convert.timestamp(head.at),
        signature=head.signature,
    )
