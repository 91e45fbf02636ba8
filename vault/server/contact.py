"""ConsentService's StreamContactable: a thin translator over
vault.core.consent.contact.

Each page is one message, its audit event committed in the core before the
message is handed over; the stream runs on the stream pool."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from vault.core.consent.model import Contactable
from vault.core.model import LegalBasis
from vault.core.vault import Vault
from vault.server import convert
from vault.server.actor import actor_of
from vault.server.registration import CallContext
from vault.v1 import vault_pb2 as pb


class ContactCalls:
    """StreamContactable, mixed into ConsentService."""

    vault: Vault

    def StreamContactable(
        self, request: pb.StreamContactableRequest, context: CallContext
    ) -> Iterator[pb.StreamContactableResponse]:
        # The core checks the request when asked, before any page is read.
        pages = self.vault.stream_contactable(
            actor_of(context), request.purpose, request.resume_token, request.page_size
        )
        basis = self.vault.purposes.named(request.purpose).legal_basis
        for page in pages:
            yield pb.StreamContactableResponse(
                people=[contactable_message(person, basis) for person in page.people],
                resume_token=page.resume_token,
            )


def contactable_message(person: Contactable, basis: LegalBasis) -> pb.Contactable:
    """One person, with what the contact rests on: their consent, or `basis`."""
    fields: dict[str, Any] = {
        "subject": convert.subject_name(person.subject_id),
        "legal_basis": convert.BASIS_TO_PB[basis],
    }
    if person.consent_given_at is not None:
        fields["legal_basis"] = pb.LEGAL_BASIS_CONSENT
        fields["consent_time"] = convert.timestamp(person.consent_given_at)
        fields["policy_version"] = person.policy_version
    return pb.Contactable(**fields)
