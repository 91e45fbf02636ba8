"""Importing people in bulk (ImportSubjects): batches of new subjects, each
with identities, roles, a protected-identity flag and records, each batch
stored all or nothing, in the order sent.

A batch costs two durable writes whatever its size. Its keys go first, in one
key-store transaction (`KeyManager.create_new_subjects_keys`, one
`KeyStore.put_keys`): each new subject's key and a data key for its identities
and for each (category, purpose) of its records. Then, once those are durable, its
subjects, identities, records and remembered request id go in one
record-store transaction.

A crash between the two leaves keys under which nothing stored is sealed:
harmless orphans. They are wrapped under the KEK like every key, name subject
ids that no record, identity or request ever held, and protect nothing; they
cost their rows in the key database, and a retry makes new ones rather than
reusing them. The other way round cannot happen: no record or identity reaches
the store before the keys it is sealed under are durable, so there are never
records without their keys. A batch refused after its keys were written (an
identity another call registered in between) destroys them at once, as
CreateSubject does.

Each new subject's audit event (IMPORT_SUBJECTS, one a person, so an auditor
filtering by subject finds how they came in) commits in the batch's
record-store transaction: a batch whose events cannot be written is not stored.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from vault.core import access, drafts, rules
from vault.core.access import AccessNotes
from vault.core.actor import Actor
from vault.core.audit.events import AuditEvent, Operation, counted
from vault.core.audit.trail import AuditTrail
from vault.core.clock import Clock, utc_now
from vault.core.consent.purposes import Purposes
from vault.core.drafts import CheckedDraft
from vault.core.errors import AuditUnavailable, IdentityInUse, InvalidArgument
from vault.core.identities import Identity
from vault.core.keys import DataKey, KeyManager
from vault.core.model import RecordDraft, SubjectState
from vault.core.replay import Raced, Replay
from vault.core.sealing import IDENTITY_CATEGORY, IDENTITY_PURPOSE, Sealing
from vault.core.subjects import (
    ANSWERED_AGAIN,
    IdentityInput,
    canonical_identities,
    identity_held,
)
from vault.storage.base import DataKeyScope, IdentityRow, RecordRow, RecordStore, SubjectRow

# A batch is one transaction in each database and sits in memory whole.
MAX_BATCH_SUBJECTS = 1_000
MAX_BATCH_RECORDS = 20_000
# The answer names every subject the call stored, 43 bytes each: 50,000 make
# 2.1 MB, well under the 4 MiB a gRPC client receives by default.
MAX_IMPORT_SUBJECTS = 50_000
OPERATION = "import_subjects"


@dataclass(frozen=True)
class NewSubject:
    """A person to register, as a client wrote them, not yet validated."""

    identities: list[IdentityInput]
    roles: list[str] = field(default_factory=list)
    protected_identity: bool = False
    records: list[RecordDraft] = field(default_factory=list)


@dataclass(frozen=True)
class SubjectBatch:
    """One batch of an import: stored all or nothing, once per request id."""

    subjects: list[NewSubject]
    request_id: str = ""


@dataclass(frozen=True)
class ImportedSubjects:
    """What an import stored: the new subjects' ids in the order sent, and how
    many records they hold. A protected identity's id is empty for a caller who
    may not see who it is: it never appears in a bulk answer to them."""

    subject_ids: list[str]
    record_count: int


@dataclass(frozen=True)
class _Checked:
    """A new subject validated, with where it came in the stream."""

    field: str  # `subjects[1234]`
    identities: list[Identity]
    # Each identity's blind index under every live version, the current first.
    blind_indexes: list[list[str]]
    roles: tuple[str, ...]
    protected_identity: bool
    records: list[CheckedDraft]

    def fingerprinted(self) -> tuple[object, ...]:
        return (
            [identity.index_text for identity in self.identities],
            self.roles,
            self.protected_identity,
            [drafts.digest(record.draft) for record in self.records],
        )


@dataclass(frozen=True)
class _Rows:
    """A batch sealed: its subjects, identities (each with the field that names
    it) and records, for one record-store transaction."""

    subjects: list[SubjectRow]
    identities: list[tuple[str, Identity, IdentityRow]]
    records: list[RecordRow]


class SubjectImport:
    def __init__(
        self,
        store: RecordStore,
        keys: KeyManager,
        sealing: Sealing,
        replay: Replay,
        clock: Clock,
        notes: AccessNotes,
        audit: AuditTrail,
        purposes: Purposes,
    ) -> None:
        self.store = store
        self.keys = keys
        self.sealing = sealing
        self.replay = replay
        self.clock = clock
        self.notes = notes
        self.audit = audit
        self.purposes = purposes

    def import_subjects(self, actor: Actor, batches: Iterable[SubjectBatch]) -> ImportedSubjects:
        """Store each batch as it comes, all or nothing. A bad item fails its
        batch and ends the import, named by its index in the whole stream; the
        batches before it stay stored."""
        subject_ids: list[str] = []
        records = 0
        for batch in batches:
            if len(subject_ids) + len(batch.subjects) > MAX_IMPORT_SUBJECTS:
                raise InvalidArgument(
                    "subjects",
                    f"at most {MAX_IMPORT_SUBJECTS:,} subjects per call; send the rest in another",
                )
            stored, protected = self._import_batch(actor, batch, len(subject_ids))
            for subject_id, is_protected in zip(stored.subject_ids, protected, strict=True):
                if is_protected:
                    self.notes.note(actor, subject_id, OPERATION)
                shown = actor.sees_protected or not is_protected
                subject_ids.append(subject_id if shown else "")
            records += stored.record_count
        if not subject_ids:
            raise InvalidArgument("subjects", "must hold at least one subject")
        return ImportedSubjects(subject_ids, records)

    def _import_batch(
        self, actor: Actor, batch: SubjectBatch, first: int
    ) -> tuple[ImportedSubjects, list[bool]]:
        """The batch stored, and which of its subjects are protected identities;
        `first` is the index of the batch's first subject in the stream."""
        if not batch.subjects:
            raise InvalidArgument("subjects", "each message must hold at least one subject")
        if len(batch.subjects) > MAX_BATCH_SUBJECTS:
            raise InvalidArgument(
                "subjects", f"at most {MAX_BATCH_SUBJECTS:,} subjects per message"
            )
        checked = self._checked(actor, batch.subjects, first)
        protected = [subject.protected_identity for subject in checked]
        fingerprint = self.replay.fingerprint(
            batch.request_id, OPERATION, [subject.fingerprinted() for subject in checked]
        )
        replayed = self.replay.replayed(batch.request_id, OPERATION, fingerprint)
        if replayed is not None:
            answer = json.loads(replayed.result)
            self.audit.commit(
                *self._events(actor, answer["subjects"], checked, lambda _subject: ANSWERED_AGAIN)
            )
            return ImportedSubjects(answer["subjects"], answer["records"]), protected
        # Before any key is made: a batch refused here leaves nothing behind.
        self._refuse_identities_held(checked)

        subject_ids = [secrets.token_hex(16) for _ in checked]
        data_keys = self.keys.create_new_subjects_keys(
            {
                subject_id: {
                    (IDENTITY_CATEGORY, IDENTITY_PURPOSE),
                    *((record.draft.category, record.draft.purpose) for record in subject.records),
                }
                for subject_id, subject in zip(subject_ids, checked, strict=True)
            }
        )
        rows = self._sealed(subject_ids, checked, data_keys)
        answer = json.dumps({"subjects": subject_ids, "records": len(rows.records)})
        # Made once the subject keys exist: each pseudonym is derived from one.
        events = self._events(
            actor,
            subject_ids,
            checked,
            lambda subject: f"with {counted(len(subject.records), 'record')}",
        )
        try:
            with self.store.write() as tx:
                for row in rows.subjects:
                    tx.subjects.insert_subject(row)
                for identity_field, identity, identity_row in rows.identities:
                    blind_indexes = self.sealing.blind_indexes(identity, fresh=True)
                    identity_row = self.sealing.current_identity_row(
                        identity_row.subject_id, identity, identity_row
                    )
                    if identity_held(tx.subjects, blind_indexes) or not tx.subjects.insert_identity(
                        identity_row
                    ):
                        raise IdentityInUse(
                            f"{identity_field}: already belongs to a subject",
                            field=identity_field,
                        )
                tx.records.insert_records(rows.records)
                self.replay.remember(
                    tx, batch.request_id, OPERATION, fingerprint, subject_ids[0], answer
                )
                self.audit.written(tx.audit, *events)
        except (IdentityInUse, Raced, AuditUnavailable) as failure:
            # The keys made above protect nothing; destroy them rather than leave them.
            for subject_id in subject_ids:
                self.keys.destroy_subject(subject_id)
            if isinstance(failure, Raced):
                return self._import_batch(actor, batch, first)  # answered as the copy that won
            raise
        return ImportedSubjects(subject_ids, len(rows.records)), protected

    def _events(
        self,
        actor: Actor,
        subject_ids: list[str],
        checked: list[_Checked],
        detail: Callable[[_Checked], str],
    ) -> list[AuditEvent]:
        """One event a subject of the batch, `detail` saying what of them."""
        return [
            self.audit.event(
                actor,
                Operation.IMPORT_SUBJECTS,
                subject_id,
                sensitive=subject.protected_identity,
                detail=detail(subject),
            )
            for subject_id, subject in zip(subject_ids, checked, strict=True)
        ]

    def _sealed(
        self,
        subject_ids: list[str],
        checked: list[_Checked],
        data_keys: dict[DataKeyScope, DataKey],
    ) -> _Rows:
        """The batch's rows, sealed under the keys made for it."""
        now = utc_now(self.clock)
        rows = _Rows([], [], [])
        for subject_id, subject in zip(subject_ids, checked, strict=True):
            rows.subjects.append(
                SubjectRow(
                    subject_id,
                    SubjectState.ACTIVE,
                    # Under the identity key made above, as the identities are.
                    self.sealing.seal_roles(subject_id, subject.roles),
                    subject.protected_identity,
                    now,
                    now,
                )
            )
            # Sealed under the identity key made above, found in the cache (or,
            # evicted, in the key store, where it is durable by now).
            rows.identities.extend(
                (
                    f"{subject.field}.identities[{index}]",
                    identity,
                    self.sealing.identity_row(subject_id, identity),
                )
                for index, identity in enumerate(subject.identities)
            )
            rows.records.extend(
                self.sealing.record_row(
                    subject_id,
                    record,
                    secrets.token_hex(16),
                    now,
                    data_keys[
                        DataKeyScope(subject_id, record.draft.category, record.draft.purpose)
                    ],
                )
                for record in subject.records
            )
        return rows

    def _checked(self, actor: Actor, subjects: list[NewSubject], first: int) -> list[_Checked]:
        today = self.clock.now().date()
        checked: list[_Checked] = []
        records = 0
        for offset, subject in enumerate(subjects):
            where = f"subjects[{first + offset}]"
            if not subject.identities:
                raise InvalidArgument(f"{where}.identities", "must hold at least one identity")
            identities = canonical_identities(subject.identities, f"{where}.identities", today)
            for index, identity in enumerate(identities):
                access.check_identity_write(
                    actor, identity, f"{where}.identities[{index}]", registering=True
                )
            roles = rules.roles(subject.roles, f"{where}.roles")
            records += len(subject.records)
            if records > MAX_BATCH_RECORDS:
                raise InvalidArgument(
                    f"{where}.records", f"at most {MAX_BATCH_RECORDS:,} records per message"
                )
            checked.append(
                _Checked(
                    where,
                    identities,
                    [self.sealing.blind_indexes(i) for i in identities],
                    roles,
                    subject.protected_identity,
                    [
                        self._checked_record(actor, draft, f"{where}.records[{index}]")
                        for index, draft in enumerate(subject.records)
                    ],
                )
            )
        return checked

    def _checked_record(self, actor: Actor, draft: RecordDraft, field: str) -> CheckedDraft:
        checked = drafts.check(draft, field, self.purposes)
        access.check_record_write(actor, checked.draft, field)
        return checked

    def _refuse_identities_held(self, checked: list[_Checked]) -> None:
        """IDENTITY_IN_USE, as CreateSubject answers, for an identity a subject
        holds already or an earlier subject of the batch repeats."""
        earlier: dict[str, str] = {}
        for subject in checked:
            for index, blind_indexes in enumerate(subject.blind_indexes):
                where = f"{subject.field}.identities[{index}]"
                blind_index = blind_indexes[0]  # the batch's are all under the current version
                if blind_index in earlier:
                    raise IdentityInUse(
                        f"{where}: already belongs to {earlier[blind_index]}, earlier in this batch",
                        field=where,
                    )
                if identity_held(self.store.subjects, blind_indexes) is not None:
                    raise IdentityInUse(f"{where}: already belongs to a subject", field=where)
                earlier[blind_index] = subject.field
