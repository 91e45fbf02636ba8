"""A record draft checked against the rules, and what a request's fingerprint
covers of it (its content by digest, so a fingerprint stays small)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from vault.core import rules
from vault.core.consent.purposes import Purposes
from vault.core.errors import InvalidArgument
from vault.core.model import Content, LegalBasis, RecordDraft


@dataclass(frozen=True)
class CheckedDraft:
    """A validated draft and its fields already serialized (validation is serialization)."""

    draft: RecordDraft
    fields_json: str


def check(draft: RecordDraft, field: str, purposes: Purposes) -> CheckedDraft:
    """The draft with every value checked, its purpose one of `purposes` and
    its legal basis that purpose's; `field` names it in an error."""
    content = draft.content
    if content is not None:
        content = Content(
            rules.content_data(content.data, f"{field}.content.data"),
            rules.media_type(
                content.media_type or "application/octet-stream", f"{field}.content.media_type"
            ),
            rules.filename(content.filename, f"{field}.content.filename"),
        )
    if not isinstance(draft.legal_basis, LegalBasis):
        raise InvalidArgument(f"{field}.legal_basis", "must be set")
    purposes.check_record(draft.purpose, draft.legal_basis, field)
    checked = RecordDraft(
        category=rules.category(draft.category, f"{field}.category"),
        purpose=rules.purpose(draft.purpose, f"{field}.purpose"),
        legal_basis=draft.legal_basis,
        source_system=rules.system(draft.source_system, f"{field}.source_system"),
        fields=draft.fields,
        content=content,
    )
    return CheckedDraft(checked, rules.fields_json(draft.fields, f"{field}.fields"))


def digest(draft: RecordDraft) -> tuple[Any, ...]:
    """A draft as a request's fingerprint covers it."""
    return (
        draft.category,
        draft.purpose,
        draft.legal_basis.value,
        draft.source_system,
        draft.fields,
        content_digest(draft.content),
    )


def content_digest(content: Content | None) -> Any:
    if content is None:
        return None
    return [hashlib.sha256(content.data).hexdigest(), content.media_type, content.filename]
