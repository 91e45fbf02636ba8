"""ConsentService: a thin translator over the vault's consent histories
(vault.core.consent.history) and their DPV export.

Each call commits its own audit event in the core before it answers, so
every method runs on the blocking pool, never on the event loop.
"""

from __future__ import annotations

from vault.core.vault import Vault
from vault.server import convert
from vault.server import convert_consent as consent
from vault.server.actor import actor_of
from vault.server.contact import ContactCalls
from vault.server.context import VaultServices
from vault.server.limits import ProcessingLimitCalls
from vault.server.registration import CallContext
from vault.v1 import vault_pb2 as pb

# What ExportConsentRecords' document is: JSON-LD, the DPV profile of ISO/IEC TS 27560.
JSON_LD = "application/ld+json"


class ConsentService(ProcessingLimitCalls, ContactCalls):
    def __init__(self, services: VaultServices) -> None:
        self.vault: Vault = services.vault
        self.controller = services.controller

    def RecordConsent(
        self, request: pb.RecordConsentRequest, context: CallContext
    ) -> pb.RecordConsentResponse:
        subject_id = convert.subject_id(request.subject, "subject")
        given = consent.consent_input(request)
        recorded = self.vault.record_consent(
            actor_of(context), subject_id, given, request.request_id
        )
        return pb.RecordConsentResponse(
            events=[consent.consent_event_message(event) for event in recorded.events],
            # A withdrawal's erasures, followed through ErasureService.
            erasure_requests=[f"erasureRequests/{rid}" for rid in recorded.erasure_requests],
        )

    def GetConsentState(
        self, request: pb.GetConsentStateRequest, context: CallContext
    ) -> pb.GetConsentStateResponse:
        subject_id = convert.subject_id(request.subject, "subject")
        actor = actor_of(context)
        states = self.vault.consent_state(actor, subject_id)
        limits = self.vault.consent_limits(actor, subject_id)
        return pb.GetConsentStateResponse(
            purposes=[consent.purpose_consent_message(state) for state in states],
            limits=[consent.processing_limit_message(limit) for limit in limits],
        )

    def ListConsentEvents(
        self, request: pb.ListConsentEventsRequest, context: CallContext
    ) -> pb.ListConsentEventsResponse:
        subject_id = convert.subject_id(request.subject, "subject")
        page = self.vault.consent_history(
            actor_of(context), subject_id, request.purpose, request.page_size, request.page_token
        )
        return pb.ListConsentEventsResponse(
            events=[consent.consent_event_message(event) for event in page.events],
            next_page_token=page.next_page_token,
        )

    def ExportConsentRecords(
        self, request: pb.ExportConsentRecordsRequest, context: CallContext
    ) -> pb.ExportConsentRecordsResponse:
        subject_id = convert.subject_id(request.subject, "subject")
        document, count = self.vault.export_consent_records(
            actor_of(context), subject_id, self.controller
        )
        return pb.ExportConsentRecordsResponse(
            document=document, media_type=JSON_LD, record_count=count
        )
