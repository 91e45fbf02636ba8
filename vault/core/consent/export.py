"""A person's consent records, read for an export: on their own
(`ConsentRecords.export_records`, audited here) or as the consent part of the
subject's export (`ConsentRecords.part`, whose event the export commits).
Both carry the same standard document (vault.core.consent.dpv), naming the
person by their audit pseudonym.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from vault.core import access
from vault.core.access import AccessNotes
from vault.core.actor import Actor
from vault.core.audit.events import Operation, counted
from vault.core.audit.trail import AuditTrail
from vault.core.clock import utc_now
from vault.core.consent import dpv
from vault.core.consent.history import ConsentHistory
from vault.core.consent.limits import ProcessingLimits
from vault.core.consent.policy import Policies
from vault.core.consent.purposes import Purposes
from vault.core.export import ConsentPart
from vault.core.model import Controller
from vault.core.subjects import readable_subject
from vault.storage.base import RecordStore


def consent_records(
    history: ConsentHistory,
    policies: Policies,
    purposes: Purposes,
    controller: Controller,
    subject_id: str,
    subject_ref: str,
) -> dict[str, Any]:
    """The subject's whole history and standing now as the DPV/27560
    document, the person named by `subject_ref`. No audit event: the caller's."""
    return dict(_read(history, policies, purposes, controller, subject_id, subject_ref).records)


class ConsentRecords:
    def __init__(
        self,
        store: RecordStore,
        history: ConsentHistory,
        policies: Policies,
        purposes: Purposes,
        audit: AuditTrail,
        notes: AccessNotes,
        limits: ProcessingLimits | None = None,
    ) -> None:
        self.store = store
        self.history = history
        self.policies = policies
        self.purposes = purposes
        self.audit = audit
        self.notes = notes
        # The person's restrictions and objections, for the subject's export.
        self.limits = limits

    def export_records(
        self, actor: Actor, subject_id: str, controller: Controller
    ) -> tuple[bytes, int]:
        """The subject's consent records as canonical JSON-LD bytes, and how
        many records (one per event) it holds. The whole history, evidence
        and recorders included, so only for a caller who may see anyone."""
        access.check_whole_person(actor, "ExportConsentRecords")
        subject = readable_subject(self.store.subjects, subject_id, "subject")
        if subject.protected_identity:
            self.notes.note(actor, subject_id, "export_consent_records")
        part = self._read(subject_id, controller)
        document = dpv.document_bytes(part.records)
        # Before the records leave the vault: they hold the person's choices.
        self.audit.commit(
            self.audit.event(
                actor,
                Operation.EXPORT_CONSENT_RECORDS,
                subject_id,
                sensitive=subject.protected_identity,
                detail=counted(len(part.events), "consent record"),
            )
        )
        return document, len(part.events)

    def part(self, actor: Actor, subject_id: str, controller: Controller) -> ConsentPart:
        """The consent part of the subject's export, with the person's
        restrictions and objections: part of an export whose event the export
        commits before this is read."""
        access.check_whole_person(actor, "ExportSubject")
        part = self._read(subject_id, controller)
        if self.limits is None:
            return part
        limits = tuple(self.limits.of(subject_id))
        # What each limit's purposes are for, beside the consent's own.
        named = {*part.purposes, *(name for limit in limits for name in limit.purposes)}
        purposes = {name: found for name in sorted(named) if (found := self.purposes.get(name))}
        return replace(part, limits=limits, purposes=purposes)

    def _read(self, subject_id: str, controller: Controller) -> ConsentPart:
        return _read(
            self.history,
            self.policies,
            self.purposes,
            controller,
            subject_id,
            self.audit.pseudonym_of(subject_id),
        )


def _read(
    history: ConsentHistory,
    policies: Policies,
    purposes: Purposes,
    controller: Controller,
    subject_id: str,
    subject_ref: str,
) -> ConsentPart:
    events = tuple(history.events(subject_id))
    standings = tuple(history.standing_of(subject_id))
    versions = {policy.version: policy for policy in policies.versions()}
    named = {e.purpose for e in events} | {s.purpose for s in standings}
    records = dpv.consent_document(
        events,
        standings,
        purposes,
        list(versions.values()),
        controller,
        subject_ref,
        utc_now(history.clock),
    )
    return ConsentPart(
        events=events,
        standings=standings,
        purposes={name: found for name in sorted(named) if (found := purposes.get(name))},
        policies=versions,
        records=records,
    )
