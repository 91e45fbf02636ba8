"""ConsentService's StreamContactable: a thin translator over
vault.core.consent.contact."""

from __future__ import annotations


class ContactCalls:
    """StreamContactable, mixed into ConsentService."""
