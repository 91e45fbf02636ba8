"""The vault: the one object every front end (gRPC, CLI, tests) calls, each
operation with its caller (an `Actor`) first.

It holds the stores and delegates each job to its own module: `subjects`
(subjects and identities), `subject_import` (new people with their records, in
bulk), `records` (records), `consent` (purposes, consent histories, policy
versions), `sealing` (rows encrypted under
the subject's keys), `shredding` (erasing a subject from the vault itself),
`maintenance` (recovery, purge, scrub), `replay` (request ids) and `paging`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Iterable, Iterator, Sequence

from vault.core import upgrades
from vault.core.access import AccessNotes, LoggedAccessNotes
from vault.core.actor import THE_VAULT, Actor
from vault.core.audit.log import Sequencer
from vault.core.audit.reading import SIGNING_KEY, AuditLog
from vault.core.audit.trail import AuditTrail
from vault.core.category_erasure import CategoryErasures
from vault.core.clock import DEFAULT_TIME_ZONE, Clock, SystemClock
from vault.core.consent.contact import Contacts
from vault.core.consent.export import ConsentRecords
from vault.core.consent.grounds import Grounds
from vault.core.consent.history import ConsentHistory
from vault.core.consent.limits import ProcessingLimits
from vault.core.consent.model import (
    ConsentInput,
    ConsentPage,
    ContactPage,
    LimitKind,
    PolicyDraft,
    PolicyVersion,
    ProcessingLimit,
    PurposeConsent,
    ReconsentNeeded,
)
from vault.core.consent.policy import Policies
from vault.core.consent.purposes import Purpose, Purposes
from vault.core.consent.withdrawal import (
    RecordedConsent,
    Withdrawal,
    category_request_id,
    held_for,
)
from vault.core.export import SubjectExport
from vault.core.keys import KeyManager
from vault.core.maintenance import Maintenance
from vault.core.model import (
    CategoryErasure,
    Controller,
    ErasureReceipt,
    Page,
    Record,
    RecordDraft,
    Subject,
)
from vault.core.record_reads import RecordReads
from vault.core.records import RecordChanges, Records
from vault.core.replay import Replay
from vault.core.rotation import KeyRotation, ProgressCallback, Retirement, Rotation
from vault.core.sealing import Sealing
from vault.core.shredding import Shredding
from vault.core.subject_import import ImportedSubjects, NewSubject, SubjectBatch, SubjectImport
from vault.core.subjects import IdentityInput, Subjects
from vault.core.tokens import Tokens
from vault.keyring import Keyring, KeyringSource
from vault.storage.base import KeyStore, RecordStore

# What a caller writes (an identity, a record's changes) is named as the vault's.
__all__ = [
    "IdentityInput",
    "ImportedSubjects",
    "NewSubject",
    "RecordChanges",
    "SubjectBatch",
    "Vault",
]


class Vault:
    def __init__(
        self,
        records: RecordStore,
        keys: KeyStore,
        keyring: Keyring | KeyringSource,
        clock: Clock | None = None,
        access_notes: AccessNotes | None = None,
        *,
        purposes: Purposes,
        time_zone: str = DEFAULT_TIME_ZONE,
    ) -> None:
        self.records = records
        # Every purpose the vault processes for, with its legal basis.
        self.purposes = purposes
        self.keyrings = KeyringSource.of(keyring)
        self.keys = KeyManager(keys, self.keyrings)
        self.clock = clock or SystemClock()
        # Set when deleted bytes wait to be scrubbed from the files.
        self.scrub_due = threading.Event()
        self.replay = Replay(records, self.keyrings, self.clock)
        # Every operation's event (vault.core.audit.trail); the log as the
        # auditor reads it; the sequencer that folds it into the signed tree.
        self.audit = AuditTrail(records.audit, self.keys, self.clock)
        self.audit_log = AuditLog(self.audit, records.subjects, self.audit_signing_key)
        self.sequencer = Sequencer(records.audit, self.audit_signing_key, self.clock)
        self.sealing = Sealing(self.keys, self.keyrings)
        # Where every access to a protected identity is noted (vault.core.access).
        self.access_notes = access_notes or LoggedAccessNotes()
        self.subjects = Subjects(
            records, self.keys, self.sealing, self.replay, self.clock, self.access_notes, self.audit
        )
        self.subject_import = SubjectImport(
            records,
            self.keys,
            self.sealing,
            self.replay,
            self.clock,
            self.access_notes,
            self.audit,
            purposes,
        )
        # Consent as evidence, and the policy versions it is given under.
        # `time_zone` is the controller's ([controller] time_zone): the day a
        # policy version takes effect on.
        self.policies = Policies(records, purposes, self.replay, self.clock, self.audit, time_zone)
        # What every read and write of a record is checked against: its
        # purpose, the person's consent, restrictions and objections.
        self.grounds = Grounds(records, purposes, self.policies, self.clock, self.audit)
        self.record_reads = RecordReads(
            records,
            self.keys,
            self.sealing,
            self.clock,
            self.subjects,
            self.access_notes,
            self.audit,
            self.grounds,
        )
        self.recordkeeping = Records(
            records,
            self.keys,
            self.sealing,
            self.replay,
            self.clock,
            self.access_notes,
            self.audit,
            purposes,
            self.grounds,
            self.record_reads,
        )
        self.category_erasures = CategoryErasures(
            records,
            self.keys,
            self.replay,
            self.clock,
            self.scrub_due,
            self.access_notes,
            self.audit,
        )
        self.shredding = Shredding(
            records, self.keys, self.replay, self.clock, self.scrub_due, self.audit
        )
        self.maintenance = Maintenance(records, self.keys, self.replay, self.scrub_due, self.audit)
        self.rotation = KeyRotation(
            records, self.keys, self.sealing, self.clock, self.audit, self.scrub_due
        )
        self.tokens = Tokens(records, self.keys, self.clock, self.audit, purposes)
        self.consents = ConsentHistory(
            records,
            self.keys,
            purposes,
            self.policies,
            self.replay,
            self.clock,
            self.audit,
            self.access_notes,
        )
        # Until an erasure coordinator takes withdrawals, the vault shreds them itself.
        self.consents.shred = self._shred_withdrawn
        # Restrictions of processing and objections (GDPR arts. 18 and 21).
        self.limits = ProcessingLimits(
            records, self.keys, purposes, self.replay, self.clock, self.audit, self.access_notes
        )
        # The history as standard consent records (the DPV profile of ISO/IEC TS 27560).
        self.consent_records = ConsentRecords(
            records,
            self.consents,
            self.policies,
            purposes,
            self.audit,
            self.access_notes,
            self.limits,
        )
        # Who may be contacted for a purpose: a mailing's list.
        self.contacts = Contacts(
            records, purposes, self.policies, self.clock, self.audit, self.access_notes
        )

    def audit_signing_key(self) -> bytes:
        """The Ed25519 seed that signs the audit log's tree heads: a vault key,
        made the first time it is asked for."""
        return self.keys.vault_key(SIGNING_KEY)

    @property
    def keyring(self) -> Keyring:
        """The keyring as it is now."""
        return self.keyrings.current()

    # ------------------------------------------------------------ subjects
    def create_subject(
        self,
        actor: Actor,
        identities: list[IdentityInput],
        roles: list[str],
        protected_identity: bool = False,
        request_id: str = "",
    ) -> Subject:
        return self.subjects.create(actor, identities, roles, protected_identity, request_id)

    def import_subjects(self, actor: Actor, batches: Iterable[SubjectBatch]) -> ImportedSubjects:
        """Register many new subjects with their records, each batch all or nothing."""
        return self.subject_import.import_subjects(actor, batches)

    def get_subject(self, actor: Actor, subject_id: str) -> Subject:
        return self.subjects.get(actor, subject_id)

    async def get_subject_async(self, actor: Actor, subject_id: str) -> Subject:
        """`get_subject` for an event loop: its audit event's commit is awaited."""
        return await self.subjects.get_async(actor, subject_id)

    def find_subject(
        self, actor: Actor, identity: IdentityInput, field: str = "identity"
    ) -> Subject:
        return self.subjects.find(actor, identity, field)

    async def find_subject_async(
        self, actor: Actor, identity: IdentityInput, field: str = "identity"
    ) -> Subject:
        """`find_subject` for an event loop: its audit event's commit is awaited."""
        return await self.subjects.find_async(actor, identity, field)

    def update_subject(
        self,
        actor: Actor,
        subject_id: str,
        roles: list[str] | None,
        protected_identity: bool | None,
        request_id: str = "",
    ) -> Subject:
        return self.subjects.update(actor, subject_id, roles, protected_identity, request_id)

    def add_identity(
        self, actor: Actor, subject_id: str, identity: IdentityInput, request_id: str = ""
    ) -> Subject:
        return self.subjects.rectify_identity(actor, subject_id, None, identity, request_id)

    def remove_identity(
        self, actor: Actor, subject_id: str, identity: IdentityInput, request_id: str = ""
    ) -> Subject:
        return self.subjects.rectify_identity(actor, subject_id, identity, None, request_id)

    def rectify_identity(
        self,
        actor: Actor,
        subject_id: str,
        old: IdentityInput | None,
        new: IdentityInput | None,
        request_id: str = "",
    ) -> Subject:
        """Replace `old` with `new`; either may be None (add, remove)."""
        return self.subjects.rectify_identity(actor, subject_id, old, new, request_id)

    # ------------------------------------------------------------- records
    def create_record(
        self, actor: Actor, subject_id: str, draft: RecordDraft, request_id: str = ""
    ) -> Record:
        """Check and seal the record, then store it with the store's grouped write."""
        return self.recordkeeping.create(actor, subject_id, draft, request_id)

    async def create_record_async(
        self, actor: Actor, subject_id: str, draft: RecordDraft, request_id: str = ""
    ) -> Record:
        """`create_record` for an event loop: the store's grouped write is awaited."""
        return await self.recordkeeping.create_async(actor, subject_id, draft, request_id)

    def import_records(
        self, actor: Actor, items: Iterable[tuple[str, RecordDraft]], request_id: str = ""
    ) -> int:
        """Store many records, for one or many subjects, all or nothing."""
        return self.recordkeeping.import_records(actor, items, request_id)

    def get_record(
        self, actor: Actor, record_id: str, subject_id: str | None = None, purpose: str = ""
    ) -> Record:
        """The record, read for `purpose` ("": the caller's default), if its
        ground allows (vault.core.consent.grounds)."""
        return self.record_reads.get(actor, record_id, subject_id, purpose)

    async def get_record_async(
        self, actor: Actor, record_id: str, subject_id: str | None = None, purpose: str = ""
    ) -> Record:
        """`get_record` for an event loop: its audit event's commit is awaited."""
        return await self.record_reads.get_async(actor, record_id, subject_id, purpose)

    def update_record(
        self,
        actor: Actor,
        record_id: str,
        changes: RecordChanges,
        request_id: str = "",
        subject_id: str | None = None,
    ) -> Record:
        return self.recordkeeping.update(actor, record_id, changes, request_id, subject_id)

    def list_records(
        self,
        actor: Actor,
        subject_id: str,
        category: str | None,
        page_size: int,
        page_token: str,
        purpose: str = "",
    ) -> Page:
        """One page of the records that may be read for `purpose` ("": the
        caller's default)."""
        return self.record_reads.page(actor, subject_id, category, page_size, page_token, purpose)

    def stream_records(
        self, actor: Actor, subject_id: str, category: str | None, purpose: str = ""
    ) -> Iterator[Record]:
        return self.record_reads.stream(actor, subject_id, category, purpose)

    def readable_records(self, actor: Actor, subject_id: str) -> Iterator[Record]:
        """Every record still readable; rows left over from an erased category are
        skipped. Part of an export, whose event the export commits first."""
        return self.record_reads.readable(actor, subject_id)

    def count_records(self, actor: Actor, subject_id: str) -> int:
        return self.record_reads.count(actor, subject_id)

    def export_subject(self, actor: Actor, subject_id: str) -> SubjectExport:
        """Everything the vault itself holds about the subject, its records read
        as they are consumed, and their consent."""
        export = self.record_reads.export(actor, subject_id)
        consent = self.consent_records.part(actor, subject_id, export.controller)
        return dataclasses.replace(export, consent=consent)

    # ------------------------------------------------------------- erasure
    def erase_subject(self, actor: Actor, subject_id: str, request_id: str = "") -> ErasureReceipt:
        """Destroy the subject's keys. Erasing an erased subject returns its receipt."""
        return self.shredding.erase_subject(actor, subject_id, request_id)

    def erase_category(
        self,
        actor: Actor,
        subject_id: str,
        category: str,
        request_id: str = "",
        purpose: str | None = None,
    ) -> CategoryErasure:
        """Crypto-shred the subject's records of `category`, every purpose's, or
        with `purpose` that purpose's alone."""
        return self.category_erasures.erase(actor, subject_id, category, request_id, purpose)

    # ------------------------------------------------------------- consent
    def record_consent(
        self, actor: Actor, subject_id: str, given: ConsentInput, request_id: str = ""
    ) -> RecordedConsent:
        """Record one status for each purpose named, all or nothing: the events,
        and the erasure requests its withdrawals started
        (vault.core.consent.withdrawal)."""
        return self.consents.record(actor, subject_id, given, request_id)

    def consent_state(self, actor: Actor, subject_id: str) -> list[PurposeConsent]:
        """The subject's standing now for every consent-based purpose."""
        return self.consents.standing(actor, subject_id)

    def consent_history(
        self, actor: Actor, subject_id: str, purpose: str, page_size: int, page_token: str
    ) -> ConsentPage:
        return self.consents.history(actor, subject_id, purpose, page_size, page_token)

    def list_purposes(self, actor: Actor) -> list[Purpose]:
        """Every configured purpose, by name."""
        return self.policies.list_purposes(actor)

    def publish_policy(
        self, actor: Actor, draft: PolicyDraft, request_id: str = ""
    ) -> PolicyVersion:
        return self.policies.publish(actor, draft, request_id)

    def policy_versions(self, actor: Actor) -> list[PolicyVersion]:
        return self.policies.list_versions(actor)

    def reconsent_needed(
        self, actor: Actor, purpose: str, page_size: int, page_token: str
    ) -> tuple[list[ReconsentNeeded], str]:
        """One page of the people who must consent again."""
        return self.policies.reconsent_needed(actor, purpose, page_size, page_token)

    def stream_reconsent_needed(self, actor: Actor, purpose: str) -> Iterator[ReconsentNeeded]:
        return self.policies.stream_reconsent_needed(actor, purpose)

    def export_consent_records(
        self, actor: Actor, subject_id: str, controller: Controller
    ) -> tuple[bytes, int]:
        """The subject's consent records as the DPV profile of ISO/IEC TS 27560
        has them (JSON-LD, vault.core.consent.dpv.MEDIA_TYPE), and how many."""
        return self.consent_records.export_records(actor, subject_id, controller)

    # ---- restrictions and objections
    def record_restriction(
        self,
        actor: Actor,
        subject_id: str,
        purposes: Sequence[str],
        reason: str,
        request_id: str = "",
    ) -> ProcessingLimit:
        """Restrict processing for `purposes` (none: every purpose) until lifted."""
        return self.limits.record_restriction(actor, subject_id, purposes, reason, request_id)

    def record_objection(
        self,
        actor: Actor,
        subject_id: str,
        purposes: Sequence[str],
        reason: str,
        request_id: str = "",
    ) -> ProcessingLimit:
        """Record the person's objection to processing for `purposes`."""
        return self.limits.record_objection(actor, subject_id, purposes, reason, request_id)

    def lift_processing_limit(
        self,
        actor: Actor,
        subject_id: str,
        limit_id: str,
        kind: LimitKind,
        reason: str,
        request_id: str = "",
    ) -> ProcessingLimit:
        """Lift a restriction or an objection, with the reason."""
        return self.limits.lift(actor, subject_id, limit_id, kind, reason, request_id)

    def record_overriding_grounds(
        self, actor: Actor, subject_id: str, limit_id: str, reason: str, request_id: str = ""
    ) -> ProcessingLimit:
        """Set an objection aside by the controller's compelling grounds
        (never one to direct marketing)."""
        return self.limits.override(actor, subject_id, limit_id, reason, request_id)

    def consent_limits(self, actor: Actor, subject_id: str) -> list[ProcessingLimit]:
        """The subject's restrictions and objections as `actor` may see them,
        shown with `consent_state`, whose audit event covers the call."""
        return self.limits.shown(actor, subject_id)

    # ---- who may be contacted
    def stream_contactable(
        self, actor: Actor, purpose: str, resume_token: str = "", page_size: int = 0
    ) -> Iterator[ContactPage]:
        """The people who may be contacted for `purpose`, a page at a time,
        from after the person `resume_token` came with."""
        return self.contacts.stream(actor, purpose, resume_token, page_size)

    # ------------------------------------------------- withdrawal that acts
    def shred_for_purpose(
        self,
        actor: Actor,
        subject_id: str,
        purpose: str,
        categories: Iterable[str] = (),
        request_id: str = "",
    ) -> list[CategoryErasure]:
        """Crypto-shred the subject's records held for `purpose`: in each category
        they have a key of that purpose for (and `categories`, which may have
        gone already), that purpose's key alone; the other purposes' stay.
        With `request_id` each category's shredding is remembered under an id
        made from it, so a re-run answers as the first run did."""
        held = held_for(self.keys.scopes(subject_id), purpose)
        return [
            self.erase_category(
                actor,
                subject_id,
                category,
                category_request_id(request_id, category),
                purpose=purpose,
            )
            for category in sorted({*held, *categories})
        ]

    def _shred_withdrawn(self, withdrawal: Withdrawal) -> None:
        self.shred_for_purpose(THE_VAULT, withdrawal.subject_id, withdrawal.purpose)

    # ---------------------------------------------------------------- keys
    def rotate_keys(self, actor: Actor, progress: ProgressCallback | None = None) -> Rotation:
        """A new KEK and index-key version, every key re-wrapped and every
        identity re-indexed under it (or an unfinished rotation finished)."""
        return self.rotation.rotate(actor, progress)

    def retire_keys(
        self, actor: Actor, older_than: dt.timedelta, progress: ProgressCallback | None = None
    ) -> Retirement:
        """Retire the versions made more than `older_than` ago, but the current one."""
        return self.rotation.retire(actor, older_than, progress)

    # --------------------------------------------------------- maintenance
    def upgrade(self) -> dict[str, int]:
        """Finish what a schema migration cannot do without the keys (see
        `vault.core.upgrades`); what each step changed."""
        done = upgrades.run(
            upgrades.UpgradeContext(self.records, self.keys, self.sealing, self.replay)
        )
        # What a step rewrote (roles and request ids in the clear, say) leaves its
        # old bytes in the files: scrubbed now, or by the next maintenance pass.
        if done and not (self.records.maintenance.scrub() and self.keys.store.scrub()):
            self.scrub_due.set()
        return done

    def recover(self) -> int:
        """Finish erasures a crash interrupted: erased subjects whose keys remain."""
        return self.maintenance.recover()

    def purge_erased(self, batch: int = 500) -> int:
        """Delete leftover ciphertext of erased subjects (already unreadable) in batches."""
        return self.maintenance.purge_erased(batch)

    def maintain(self) -> None:
        """One maintenance pass: purge, forget old request ids, then scrub deleted
        bytes from the files."""
        self.maintenance.maintain()
