"""PolicyService: a thin translator over the configured purposes and the
policy versions (vault.core.consent.policy), and the people a material change
asks to consent again.

Every call commits its audit event in the core before it answers, so every
method runs on the blocking pool.
"""

from __future__ import annotations

from collections.abc import Iterator

from vault.core.vault import Vault
from vault.server import convert_consent as consent
from vault.server.actor import actor_of
from vault.server.context import VaultServices
from vault.server.registration import CallContext
from vault.v1 import vault_pb2 as pb


class PolicyService:
    def __init__(self, services: VaultServices) -> None:
        self.vault: Vault = services.vault

    def ListPurposes(
        self, request: pb.ListPurposesRequest, context: CallContext
    ) -> pb.ListPurposesResponse:
        purposes = self.vault.list_purposes(actor_of(context))
        return pb.ListPurposesResponse(
            purposes=[consent.purpose_message(purpose) for purpose in purposes]
        )

    def PublishPolicyVersion(
        self, request: pb.PublishPolicyVersionRequest, context: CallContext
    ) -> pb.PublishPolicyVersionResponse:
        draft = consent.policy_draft(request)
        version = self.vault.publish_policy(actor_of(context), draft, request.request_id)
        return pb.PublishPolicyVersionResponse(version=consent.policy_version_message(version))

    def ListPolicyVersions(
        self, request: pb.ListPolicyVersionsRequest, context: CallContext
    ) -> pb.ListPolicyVersionsResponse:
        versions = self.vault.policy_versions(actor_of(context))
        return pb.ListPolicyVersionsResponse(
            versions=[consent.policy_version_message(version) for version in versions]
        )

    def ListReconsentNeeded(
        self, request: pb.ListReconsentNeededRequest, context: CallContext
    ) -> pb.ListReconsentNeededResponse:
        people, token = self.vault.reconsent_needed(
            actor_of(context), request.purpose, request.page_size, request.page_token
        )
        return pb.ListReconsentNeededResponse(
            people=[consent.reconsent_message(person) for person in people],
            next_page_token=token,
        )

    def StreamReconsentNeeded(
        self, request: pb.StreamReconsentNeededRequest, context: CallContext
    ) -> Iterator[pb.StreamReconsentNeededResponse]:
        for person in self.vault.stream_reconsent_needed(actor_of(context), request.purpose):
            yield pb.StreamReconsentNeededResponse(person=consent.reconsent_message(person))
