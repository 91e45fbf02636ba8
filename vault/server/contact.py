"""ConsentService's StreamContactable: a thin translator over
vault.core.consent.contact.

Each page is one message, its audit event committed in the core before the
message is handed over; the stream runs on the stream pool."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from vault.core.consent.model import ContactPage
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
        basis = convert.BASIS_TO_PB[self.vault.purposes.named(request.purpose).legal_basis]
        for page in pages:
            yield page_message(page, basis)


def page_message(page: ContactPage, basis: Any) -> pb.StreamContactableResponse:
    """One page; each person's contact rests on the purpose's basis (`basis`),
    and for consent on theirs, given at a time under a policy version."""
    message = pb.StreamContactableResponse(resume_token=page.resume_token)
    # Each person added in place, never built apart and copied in: this runs
    # for every person of a mailing, and costs half as much so.
    add = message.people.add
    for person in page.people:
        added = add(
            subject=convert.subject_name(person.subject_id),
            legal_basis=basis,
            policy_version=person.policy_version,
        )
        if person.consent_given_at is not None:
            added.consent_time.CopyFrom(convert.timestamp(person.consent_given_at))
    return message
