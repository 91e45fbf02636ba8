"""Writing a subject's records: create one, import many, rectify one.

A record is checked (`drafts`) and sealed (`sealing`) here, in the core, and
reaches the store as a sealed row: the store never sees its fields or content.
It is not written for a purpose the person said no to, nor while the purpose
is restricted (vault.core.consent.grounds: `write_refusal`); a rectification
by a source system is processing for the record's purpose, and is refused
as a read for it would be. Reading is vault.core.record_reads, erasing a
category vault.core.category_erasure.

Every write commits its audit event with the change (a new record in the
grouped append that stores it); a refusal is audited before it is raised.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from vault.core import access, drafts
from vault.core.access import AccessNotes
from vault.core.actor import Actor
from vault.core.audit.events import AuditEvent, Operation, counted
from vault.core.audit.store import AuditEntry
from vault.core.audit.trail import AuditTrail
from vault.core.clock import Clock, utc_now
from vault.core.consent.grounds import ANSWERS_REQUESTS, Grounds
from vault.core.consent.purposes import Purposes
from vault.core.drafts import CheckedDraft
from vault.core.errors import InvalidArgument, RecordNotFound, SubjectErased
from vault.core.keys import DataKey, KeyManager, NeedsNewKey
from vault.core.model import (
    Content,
    LegalBasis,
    Record,
    RecordDraft,
    SubjectState,
)
from vault.core.record_reads import ReadRecord, RecordReads, Refusal
from vault.core.replay import Fingerprint, Raced, Replay
from vault.core.sealing import Sealing
from vault.core.subjects import (
    ANSWERED_AGAIN,
    refuse_write,
    writable_subject,
)
from vault.storage.base import (
    AppendOutcome,
    NewRecord,
    RecordRow,
    RecordStore,
)

MAX_IMPORT_RECORDS = 200_000


@dataclass(frozen=True)
class RecordChanges:
    """What a rectification replaces; None leaves a value as it is."""

    purpose: str | None = None
    legal_basis: LegalBasis | None = None
    source_system: str | None = None
    fields: dict[str, Any] | None = None
    content: Content | None = None
    clear_content: bool = False


@dataclass(frozen=True)
class _NewRecord:
    """A new record checked and sealed, for the store to append with its
    creation's event; whether its subject is a protected identity."""

    checked: CheckedDraft
    new: NewRecord
    protected: bool


class Records:
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
        grounds: Grounds,
        reads: RecordReads,
    ) -> None:
        self.store = store
        self.keys = keys
        self.sealing = sealing
        self.replay = replay
        self.clock = clock
        self.notes = notes
        self.audit = audit
        self.purposes = purposes
        # Whether a record may be written, or rectified, for its purpose.
        self.grounds = grounds
        # What a write answers with: the record as the caller may see it.
        self.reads = reads

    # -------------------------------------------------------------- writes
    def create(
        self, actor: Actor, subject_id: str, draft: RecordDraft, request_id: str = ""
    ) -> Record:
        """Check and seal the record, then store it with the store's grouped write:
        one call down, which returns once the record is durable."""
        new = self._new_record(actor, subject_id, draft, request_id)
        if isinstance(new, Refusal):
            self.grounds.refuse(new.event, new.error)
        if isinstance(new, ReadRecord):
            self.audit.commit(self.reads.event(actor, Operation.CREATE_RECORD, new, ANSWERED_AGAIN))
            return new.record
        record = self._stored_record(
            new, self.store.records.append_record(new.new, SubjectState.ACTIVE)
        )
        if record is None:
            return self.create(actor, subject_id, draft, request_id)
        return self.reads.shown(actor, record, "create_record", new.protected).record

    async def create_async(
        self, actor: Actor, subject_id: str, draft: RecordDraft, request_id: str = ""
    ) -> Record:
        """`create` for an event loop: checked and sealed on the loop, then the
        store's grouped write is awaited, so no thread waits out the commit.
        A subject's first record of a category must first write a new key, and a
        retry that lost a race answers as the winner: those rare cases run
        `create` on a thread."""
        try:
            new = self._new_record(actor, subject_id, draft, request_id, new_key=False)
        except NeedsNewKey:
            new = None
        if isinstance(new, Refusal):
            await self.grounds.refuse_async(new.event, new.error)
        if isinstance(new, ReadRecord):
            event = self.reads.event(actor, Operation.CREATE_RECORD, new, ANSWERED_AGAIN)
            await self.audit.commit_async(event)
            return new.record
        if new is not None:
            outcome = await self.store.records.append_record_async(new.new, SubjectState.ACTIVE)
            record = self._stored_record(new, outcome)
            if record is not None:
                return self.reads.shown(actor, record, "create_record", new.protected).record
        return await asyncio.to_thread(self.create, actor, subject_id, draft, request_id)

    def _new_record(
        self,
        actor: Actor,
        subject_id: str,
        draft: RecordDraft,
        request_id: str,
        *,
        new_key: bool = True,
    ) -> _NewRecord | ReadRecord | Refusal:
        """The record checked and sealed, ready for the store with its event;
        or, when `request_id` replays a finished call, the record that call
        stored; or the refusal of a purpose that may not be written for."""
        checked = drafts.check(draft, "record", self.purposes)
        access.check_record_write(actor, checked.draft, "record")
        fingerprint = self.replay.fingerprint(
            request_id, "record", subject_id, drafts.digest(checked.draft)
        )
        replayed = self.replay.replayed(request_id, "create_record", fingerprint)
        if replayed is not None:
            return self.reads.opened(actor, replayed.result, None, "create_record")
        refusal = self._write_refusal(
            actor,
            Operation.CREATE_RECORD,
            subject_id,
            checked.draft.purpose,
            checked.draft.category,
        )
        if refusal is not None:
            return refusal
        row = self.sealing.record_row(
            subject_id,
            checked,
            secrets.token_hex(16),
            utc_now(self.clock),
            self._write_key(subject_id, checked, new_key),
        )
        request = (
            self.replay.request(request_id, "create_record", fingerprint, subject_id, row.record_id)
            if request_id
            else None
        )
        # Read before the append rather than after it, for the event written with it.
        subject = self.store.subjects.subject(subject_id)
        protected = subject is not None and subject.protected_identity
        event = self.audit.event(
            actor,
            Operation.CREATE_RECORD,
            subject_id,
            purpose=checked.draft.purpose,
            sensitive=protected,
            detail=checked.draft.category,
        )
        return _NewRecord(checked, NewRecord(row, request, AuditEntry.of(event)), protected)

    def _write_refusal(
        self, actor: Actor, operation: Operation, subject_id: str, purpose: str, category: str
    ) -> Refusal | None:
        """The refusal of a write for `purpose`, with its event, or None."""
        error = self.grounds.write_refusal(actor, subject_id, purpose)
        if error is None:
            return None
        event = self.audit.event(
            actor,
            operation,
            subject_id,
            purpose=purpose,
            sensitive=self.reads.protected(subject_id),
            detail=category,
        )
        return Refusal(event, error)

    def _check_rectification(self, actor: Actor, row: RecordRow, purpose: str | None) -> None:
        """A source system's rectification is processing for the record's
        purpose, refused as a read for it would be; the privacy officer's
        answers the person's request (art. 16), which a restriction waits for.
        A new purpose must be one the record may be written for. A refusal is
        audited and raised before the record is opened."""
        error = None
        if actor.role not in ANSWERS_REQUESTS:
            error = self.grounds.read_refusal(row.subject_id, row.purpose, row.purpose)
        if error is None and purpose is not None and purpose != row.purpose:
            error = self.grounds.write_refusal(actor, row.subject_id, purpose)
        if error is not None:
            event = self.audit.event(
                actor,
                Operation.UPDATE_RECORD,
                row.subject_id,
                purpose=purpose or row.purpose,
                sensitive=self.reads.protected(row.subject_id),
                detail=row.category,
            )
            self.grounds.refuse(event, error)

    def _stored_record(self, new: _NewRecord, outcome: AppendOutcome) -> Record | None:
        """The record the store took, or the precise reason it refused (the
        subject was not active when the write ran: an erasure accepted meanwhile
        wins). None when a concurrent call with the same request id stored first."""
        if outcome.request_taken:
            return None
        row, draft = new.new.row, new.checked.draft
        if not outcome.stored:
            refuse_write(row.subject_id, outcome.subject_state)
        # Answer from what was sealed, rather than decrypting it straight back.
        return Record(
            record_id=row.record_id,
            subject_id=row.subject_id,
            category=draft.category,
            purpose=draft.purpose,
            legal_basis=draft.legal_basis,
            source_system=draft.source_system,
            fields=json.loads(new.checked.fields_json),
            content=draft.content,
            created_at=row.created_at,
            updated_at=row.created_at,
        )

    def _write_key(self, subject_id: str, checked: CheckedDraft, new_key: bool = True) -> DataKey:
        """The data key to seal a new record under. A subject that does not
        exist, or is erased, has no key: the precise reason comes from its row,
        read only then, so the common case costs no extra query."""
        try:
            draft = checked.draft
            return self.keys.data_key(
                subject_id, draft.category, draft.purpose, create=True, write=new_key
            )
        except SubjectErased:
            state = self.store.subjects.subject_state(subject_id)
            if state is not SubjectState.ACTIVE:
                refuse_write(subject_id, state)
            raise

    def import_records(
        self, actor: Actor, items: Iterable[tuple[str, RecordDraft]], request_id: str = ""
    ) -> int:
        """Store many records, for one or many subjects, all or nothing."""
        digest = hashlib.sha256()
        rows: list[RecordRow] = []
        subjects: set[str] = set()
        protected: set[str] = set()
        # The categories of each subject's records for each purpose: an event each.
        held: dict[tuple[str, str], list[str]] = {}
        data_keys: dict[tuple[str, str, str], DataKey] = {}
        now = utc_now(self.clock)
        for index, (subject_id, draft) in enumerate(items):
            if index >= MAX_IMPORT_RECORDS:
                raise InvalidArgument("records", f"at most {MAX_IMPORT_RECORDS} records per import")
            field = f"records[{index}]"
            checked = drafts.check(draft, f"{field}.record", self.purposes)
            access.check_record_write(actor, checked.draft, f"{field}.record")
            if subject_id not in subjects:
                subject = writable_subject(self.store.subjects, subject_id, field=f"{field}.parent")
                subjects.add(subject_id)
                if subject.protected_identity:
                    protected.add(subject_id)
            if request_id:
                # Held in memory only; what is stored is the keyed fingerprint of it.
                digest.update(json.dumps([subject_id, drafts.digest(checked.draft)]).encode())
            if (subject_id, checked.draft.purpose) not in held:
                refusal = self._write_refusal(
                    actor,
                    Operation.IMPORT_RECORDS,
                    subject_id,
                    checked.draft.purpose,
                    checked.draft.category,
                )
                if refusal is not None:
                    self.grounds.refuse(refusal.event, refusal.error)
            scope = (subject_id, checked.draft.category, checked.draft.purpose)
            key = data_keys.get(scope)
            if key is None:
                key = data_keys[scope] = self.keys.data_key(*scope, create=True)
            rows.append(
                self.sealing.record_row(subject_id, checked, secrets.token_hex(16), now, key)
            )
            held.setdefault((subject_id, checked.draft.purpose), []).append(checked.draft.category)
        if not rows:
            raise InvalidArgument("records", "must hold at least one record")
        fingerprint = self.replay.fingerprint(request_id, "import_records", digest.hexdigest())

        def events(again: bool = False) -> list[AuditEvent]:
            return [
                self.audit.event(
                    actor,
                    Operation.IMPORT_RECORDS,
                    subject_id,
                    purpose=purpose,
                    sensitive=subject_id in protected,
                    detail=f"{counted(len(categories), 'record')} of "
                    f"{', '.join(sorted(set(categories)))}"
                    + (f"; {ANSWERED_AGAIN}" if again else ""),
                )
                for (subject_id, purpose), categories in held.items()
            ]

        replayed = self.replay.replayed(request_id, "import_records", fingerprint) is not None
        if replayed or not self._insert_records(rows, subjects, request_id, fingerprint, events()):
            self.audit.commit(*events(again=True))
        for subject_id in sorted(protected):
            self.notes.note(actor, subject_id, "import_records")
        return len(rows)

    def _insert_records(
        self,
        rows: list[RecordRow],
        subjects: set[str],
        request_id: str,
        fingerprint: Fingerprint,
        events: list[AuditEvent],
    ) -> bool:
        """The import's rows in one transaction, its request id remembered and
        its events written with them; False if a copy of the call stored first."""
        try:
            with self.store.write() as tx:
                for subject_id in subjects:
                    writable_subject(tx.subjects, subject_id)
                tx.records.insert_records(rows)
                self.replay.remember(
                    tx,
                    request_id,
                    "import_records",
                    fingerprint,
                    sorted(subjects)[0],
                    str(len(rows)),
                )
                self.audit.written(tx.audit, *events)
        except Raced:
            return False
        return True

    def update(
        self,
        actor: Actor,
        record_id: str,
        changes: RecordChanges,
        request_id: str = "",
        subject_id: str | None = None,
    ) -> Record:
        fingerprint = self.replay.fingerprint(
            request_id,
            "update_record",
            record_id,
            changes.purpose,
            changes.legal_basis and changes.legal_basis.value,
            changes.source_system,
            changes.fields,
            drafts.content_digest(changes.content),
            changes.clear_content,
        )
        if self.replay.replayed(request_id, "update_record", fingerprint) is not None:
            read = self.reads.opened(actor, record_id, subject_id, "update_record")
            self.audit.commit(
                self.reads.event(actor, Operation.UPDATE_RECORD, read, ANSWERED_AGAIN)
            )
            return read.record
        changed = [
            name
            for name, given in (
                ("purpose", changes.purpose is not None),
                ("legal basis", changes.legal_basis is not None),
                ("source system", changes.source_system is not None),
                ("fields", changes.fields is not None),
                ("content", changes.content is not None or changes.clear_content),
            )
            if given
        ]
        held = self.reads.visible_row(actor, record_id, subject_id)
        self._check_rectification(actor, held, changes.purpose)
        # Unmasked: what the changes leave as it is is written back.
        current = self.sealing.open_record(held)
        checked = drafts.check(
            RecordDraft(
                category=current.category,
                purpose=current.purpose if changes.purpose is None else changes.purpose,
                legal_basis=current.legal_basis
                if changes.legal_basis is None
                else changes.legal_basis,
                source_system=current.source_system
                if changes.source_system is None
                else changes.source_system,
                fields=current.fields if changes.fields is None else changes.fields,
                content=None
                if changes.clear_content
                else (current.content if changes.content is None else changes.content),
            ),
            "record",
            self.purposes,
        )
        access.check_record_write(actor, checked.draft, "record")
        row = self.sealing.record_row(
            current.subject_id,
            checked,
            record_id,
            utc_now(self.clock),
            created_at=current.created_at,
        )
        try:
            with self.store.write() as tx:
                subject = writable_subject(tx.subjects, current.subject_id)
                if tx.records.record(record_id) is None:
                    raise RecordNotFound(f"record {record_id} does not exist", record=record_id)
                tx.records.update_record(row)
                self.replay.remember(
                    tx, request_id, "update_record", fingerprint, current.subject_id, record_id
                )
                event = self.audit.event(
                    actor,
                    Operation.UPDATE_RECORD,
                    current.subject_id,
                    purpose=checked.draft.purpose,
                    sensitive=subject.protected_identity,
                    detail=f"{current.category}: {', '.join(changed)}",
                )
                self.audit.written(tx.audit, event)
        except Raced:
            read = self.reads.opened(actor, record_id, None, "update_record")
            self.audit.commit(
                self.reads.event(actor, Operation.UPDATE_RECORD, read, ANSWERED_AGAIN)
            )
            return read.record
        return self.reads.opened(actor, record_id, None, "update_record").record
