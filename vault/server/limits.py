"""ConsentService's calls on restrictions and objections (GDPR arts. 18 and
21): a thin translator over vault.core.consent.limits.

Each change commits its audit event in the core with the change, so every
method runs on the blocking pool."""

from __future__ import annotations

from vault.core.vault import Vault
from vault.server import convert
from vault.server import convert_consent as consent
from vault.server.actor import actor_of
from vault.server.registration import CallContext
from vault.v1 import vault_pb2 as pb


class ProcessingLimitCalls:
    """RecordRestriction, RecordObjection, LiftProcessingLimit and
    RecordOverridingGrounds, mixed into ConsentService."""

    vault: Vault

    def RecordRestriction(
        self, request: pb.RecordRestrictionRequest, context: CallContext
    ) -> pb.RecordRestrictionResponse:
        subject_id = convert.subject_id(request.subject, "subject")
        limit = self.vault.record_restriction(
            actor_of(context),
            subject_id,
            list(request.purposes),
            request.reason,
            request.request_id,
        )
        return pb.RecordRestrictionResponse(restriction=consent.processing_limit_message(limit))

    def RecordObjection(
        self, request: pb.RecordObjectionRequest, context: CallContext
    ) -> pb.RecordObjectionResponse:
        subject_id = convert.subject_id(request.subject, "subject")
        limit = self.vault.record_objection(
            actor_of(context),
            subject_id,
            list(request.purposes),
            request.reason,
            request.request_id,
        )
        return pb.RecordObjectionResponse(objection=consent.processing_limit_message(limit))

    def LiftProcessingLimit(
        self, request: pb.LiftProcessingLimitRequest, context: CallContext
    ) -> pb.LiftProcessingLimitResponse:
        subject_id, kind, limit_id = consent.limit_name(request.name)
        limit = self.vault.lift_processing_limit(
            actor_of(context), subject_id, limit_id, kind, request.reason, request.request_id
        )
        return pb.LiftProcessingLimitResponse(limit=consent.processing_limit_message(limit))

    def RecordOverridingGrounds(
        self, request: pb.RecordOverridingGroundsRequest, context: CallContext
    ) -> pb.RecordOverridingGroundsResponse:
        subject_id, limit_id = consent.objection_name(request.name)
        limit = self.vault.record_overriding_grounds(
            actor_of(context), subject_id, limit_id, request.reason, request.request_id
        )
        return pb.RecordOverridingGroundsResponse(objection=consent.processing_limit_message(limit))
