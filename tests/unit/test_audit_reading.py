"""The audit log as the auditor reads it, over a real vault (both engines):
listings and their own events, heads, proofs that check by RFC 9162, the
subject filter that ends with the person, and verify."""

from __future__ import annotations

import pytest

from vault.core.actor import Actor, Role
from vault.core.audit import merkle
from vault.core.audit.events import AuditEvent, Operation
from vault.core.audit.heads import verify_head
from vault.core.audit.store import AuditQuery
from vault.core.errors import (
    AuditEntryNotFound,
    InvalidArgument,
    SubjectErased,
    SubjectNotFound,
)
from vault.core.identities import IdentityKind
from vault.core.vault import IdentityInput, Vault

AUDITOR = Actor("auditor (tok_9)", Role.AUDITOR)
OFFICER = Actor("dpo (tok_2)", Role.PRIVACY_OFFICER)


def _events(vault: Vault, n: int, subject_id: str = "") -> None:
    for _ in range(n):
        vault.audit.commit(vault.audit.event(OFFICER, Operation.GET_SUBJECT, subject_id))


def test_listing_is_itself_an_event_and_filters_hold(vault: Vault) -> None:
    anna = vault.create_subject(OFFICER, [IdentityInput(IdentityKind.EMAIL, "anna@example.se")], [])
    _events(vault, 3, anna.subject_id)
    _events(vault, 2)
    pseudonym = vault.audit_log.subject_pseudonym(anna.subject_id)
    assert pseudonym and anna.subject_id not in pseudonym
    listed = vault.audit_log.events(AUDITOR, AuditQuery(subject=pseudonym, limit=100))
    mine = [AuditEvent.from_entry(e.entry) for e in listed]
    assert [e.operation for e in mine].count(Operation.GET_SUBJECT) == 3
    assert all(e.subject == pseudonym for e in mine)
    # The listing told of itself before it answered.
    own = vault.audit_log.store.query(AuditQuery(operation=Operation.LIST_AUDIT_EVENTS))
    assert [e.actor for e in own] == [AUDITOR.who]
    page = vault.audit_log.store.query(AuditQuery(limit=2))
    rest = vault.audit_log.store.query(AuditQuery(after_row=page[-1].row_id, limit=100))
    assert {e.row_id for e in page}.isdisjoint({e.row_id for e in rest})


def test_the_subject_filter_ends_with_the_person(vault: Vault) -> None:
    anna = vault.create_subject(OFFICER, [IdentityInput(IdentityKind.EMAIL, "anna@example.se")], [])
    _events(vault, 2, anna.subject_id)
    pseudonym = vault.audit_log.subject_pseudonym(anna.subject_id)
    with pytest.raises(SubjectNotFound):
        vault.audit_log.subject_pseudonym("sub_nobody")
    vault.erase_subject(OFFICER, anna.subject_id)
    with pytest.raises(SubjectErased):
        vault.audit_log.subject_pseudonym(anna.subject_id)
    # Her events are still there, and still verify, but nothing names her now.
    assert vault.audit_log.store.query(AuditQuery(subject=pseudonym))
    assert vault.audit.pseudonym_of(anna.subject_id) == ""
    vault.sequencer.run_until_done()
    assert vault.audit_log.verify().ok


def test_heads_and_proofs_check_as_rfc_9162_says(vault: Vault) -> None:
    with pytest.raises(AuditEntryNotFound):
        vault.audit_log.head(AUDITOR)
    _events(vault, 5)
    vault.sequencer.run_until_done()
    first = vault.audit_log.head(AUDITOR)
    _events(vault, 6)
    vault.sequencer.run_until_done()
    latest = vault.audit_log.head(AUDITOR)
    public_key = vault.audit_log.public_key()
    assert verify_head(public_key, first.head) and verify_head(public_key, latest.head)
    assert latest.head.size > first.head.size
    assert vault.audit_log.head(AUDITOR, first.head.size) == first
    with pytest.raises(AuditEntryNotFound):
        vault.audit_log.head(AUDITOR, first.head.size + 1)

    proof = vault.audit_log.inclusion(AUDITOR, 3, latest.head.size)
    assert merkle.verify_inclusion(
        3, latest.head.size, proof.leaf_hash, proof.path, latest.head.root
    )
    assert not merkle.verify_inclusion(
        4, latest.head.size, proof.leaf_hash, proof.path, latest.head.root
    )
    with pytest.raises(AuditEntryNotFound):
        vault.audit_log.inclusion(AUDITOR, latest.head.size + 50)
    with pytest.raises(InvalidArgument):
        vault.audit_log.inclusion(AUDITOR, -1)

    consistent = vault.audit_log.consistency(AUDITOR, first.head.size, latest.head.size)
    assert merkle.verify_consistency(
        first.head.size, latest.head.size, first.head.root, latest.head.root, consistent.proof
    )
    with pytest.raises(InvalidArgument):
        vault.audit_log.consistency(AUDITOR, latest.head.size + 1)
    assert vault.audit_log.verify().ok
