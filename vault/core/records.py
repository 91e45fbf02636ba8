"""Records: create, read, rectify, list, stream, import and export a subject's
records, and erase one category of them.

A record is checked (`drafts`) and sealed (`sealing`) here, in the core, and
reaches the store as a sealed row: the store never sees its fields or content.

Every operation writes its audit event (vault.core.audit.trail), its detail the
category: a change with the change (a new record in the grouped append that
stores it), a read before its answer leaves, a stream before its first record,
an export before it is handed back. Erasing a category tells its keys'
destruction as well, as intent and outcome, before the records go.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from vault.core import access, drafts, paging, rules
from vault.core.access import AccessNotes
from vault.core.actor import Actor, Role
from vault.core.audit.destruction import KeyScope, destroy_keys
from vault.core.audit.events import AuditEvent, Operation, counted
from vault.core.audit.store import AuditEntry
from vault.core.audit.trail import AuditTrail
from vault.core.clock import Clock, iso, utc_now
from vault.core.consent.grounds import RIGHTS_REQUESTS, Grounds, SubjectGrounds
from vault.core.consent.purposes import Purposes
from vault.core.drafts import CheckedDraft
from vault.core.errors import CategoryErased, InvalidArgument, RecordNotFound, SubjectErased
from vault.core.export import SubjectExport
from vault.core.keys import DataKey, KeyManager, NeedsNewKey
from vault.core.model import (
    CategoryErasure,
    Content,
    LegalBasis,
    Page,
    Record,
    RecordDraft,
    SubjectState,
)
from vault.core.replay import Fingerprint, Raced, Replay
from vault.core.sealing import Sealing
from vault.core.subjects import (
    ANSWERED_AGAIN,
    Subjects,
    check_readable,
    readable_subject,
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
EXPORT_KEY_REFRESH = 500
# What one page of records may carry, under the server's 16 MiB message limit
# with room for the rest of the answer; a page always holds at least one record.
PAGE_BYTES = 12 << 20


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


@dataclass(frozen=True)
class _Read:
    """A record as the actor may see it, and whether its subject is a
    protected identity (its event's `sensitive`)."""

    record: Record
    protected: bool


class Records:
    def __init__(
        self,
        store: RecordStore,
        keys: KeyManager,
        sealing: Sealing,
        replay: Replay,
        clock: Clock,
        subjects: Subjects,
        scrub_due: threading.Event,
        notes: AccessNotes,
        audit: AuditTrail,
        purposes: Purposes,
        grounds: Grounds,
    ) -> None:
        self.store = store
        self.keys = keys
        self.sealing = sealing
        self.replay = replay
        self.clock = clock
        self.subjects = subjects
        self.scrub_due = scrub_due
        self.notes = notes
        self.audit = audit
        self.purposes = purposes
        # Whether a read may go ahead for the purpose it is made for.
        self.grounds = grounds

    # -------------------------------------------------------------- writes
    def create(
        self, actor: Actor, subject_id: str, draft: RecordDraft, request_id: str = ""
    ) -> Record:
        """Check and seal the record, then store it with the store's grouped write:
        one call down, which returns once the record is durable."""
        new = self._new_record(actor, subject_id, draft, request_id)
        if isinstance(new, _Read):
            self.audit.commit(self._event(actor, Operation.CREATE_RECORD, new, ANSWERED_AGAIN))
            return new.record
        record = self._stored_record(
            new, self.store.records.append_record(new.new, SubjectState.ACTIVE)
        )
        if record is None:
            return self.create(actor, subject_id, draft, request_id)
        return self._shown(actor, record, "create_record", new.protected).record

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
        if isinstance(new, _Read):
            event = self._event(actor, Operation.CREATE_RECORD, new, ANSWERED_AGAIN)
            await self.audit.commit_async(event)
            return new.record
        if new is not None:
            outcome = await self.store.records.append_record_async(new.new, SubjectState.ACTIVE)
            record = self._stored_record(new, outcome)
            if record is not None:
                return self._shown(actor, record, "create_record", new.protected).record
        return await asyncio.to_thread(self.create, actor, subject_id, draft, request_id)

    def _new_record(
        self,
        actor: Actor,
        subject_id: str,
        draft: RecordDraft,
        request_id: str,
        *,
        new_key: bool = True,
    ) -> _NewRecord | _Read:
        """The record checked and sealed, ready for the store with its event;
        or, when `request_id` replays a finished call, the record that call
        stored."""
        checked = drafts.check(draft, "record", self.purposes)
        access.check_record_write(actor, checked.draft, "record")
        fingerprint = self.replay.fingerprint(
            request_id, "record", subject_id, drafts.digest(checked.draft)
        )
        replayed = self.replay.replayed(request_id, "create_record", fingerprint)
        if replayed is not None:
            return self._read(actor, replayed.result, None, "create_record")
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

    # --------------------------------------------------------------- reads
    def get(
        self, actor: Actor, record_id: str, subject_id: str | None = None, purpose: str = ""
    ) -> Record:
        """The record, read for `purpose` (or the caller's default: vault.core.
        consent.grounds); with `subject_id`, only if it belongs to that subject
        (a name that pairs a record with the wrong subject does not exist)."""
        read, read_for = self._read_for(actor, record_id, subject_id, purpose)
        self.audit.commit(self._event(actor, Operation.GET_RECORD, read, purpose=read_for))
        return read.record

    async def get_async(
        self, actor: Actor, record_id: str, subject_id: str | None = None, purpose: str = ""
    ) -> Record:
        """`get` for an event loop: read on the loop as before (embedded stores
        answer at once), then the event's group commit awaited, so the loop
        never waits out an fsync."""
        read, read_for = self._read_for(actor, record_id, subject_id, purpose)
        event = self._event(actor, Operation.GET_RECORD, read, purpose=read_for)
        await self.audit.commit_async(event)
        return read.record

    def _read_for(
        self, actor: Actor, record_id: str, subject_id: str | None, purpose: str
    ) -> tuple[_Read, str]:
        """The record as `actor` may see it, once its ground for the read's
        purpose is checked (a refusal audited and raised before it is opened);
        and that purpose."""
        read_for = self.grounds.read_purpose(actor, purpose)
        row = self._visible_row(actor, record_id, subject_id)
        if read_for != RIGHTS_REQUESTS:
            grounds = self.grounds.of(row.subject_id)
            refusal = self.grounds.refusal(grounds, read_for, row.purpose)
            if refusal is not None:
                self.grounds.refuse(
                    self.audit.event(
                        actor,
                        Operation.GET_RECORD,
                        row.subject_id,
                        purpose=read_for,
                        sensitive=self._protected(row.subject_id),
                        detail=row.category,
                    ),
                    refusal,
                )
        return self._shown(actor, self.sealing.open_record(row), "get_record"), read_for

    def _protected(self, subject_id: str) -> bool:
        subject = self.store.subjects.subject(subject_id)
        return subject is not None and subject.protected_identity

    def _readable_for(self, grounds: SubjectGrounds, read_for: str, row: RecordRow) -> bool:
        """May a row of a list or a stream read for `read_for` be shown? Rows
        held for a purpose it may not serve are left out, as another system's
        are for an integrator."""
        return (
            read_for == RIGHTS_REQUESTS
            or self.grounds.refusal(grounds, read_for, row.purpose) is None
        )

    def _purpose_stopped(
        self,
        actor: Actor,
        operation: Operation,
        subject_id: str,
        read_for: str,
        protected: bool,
        detail: str,
    ) -> SubjectGrounds:
        """The subject's grounds for a list or stream read for `read_for`; a
        purpose that nothing may be read for now (restricted, objected to,
        consent that does not stand) refuses the whole call, audited."""
        grounds = self.grounds.of(subject_id)
        if read_for != RIGHTS_REQUESTS:
            stopped = self.grounds.stopped(grounds, read_for)
            if stopped is not None:
                self.grounds.refuse(
                    self.audit.event(
                        actor,
                        operation,
                        subject_id,
                        purpose=read_for,
                        sensitive=protected,
                        detail=detail,
                    ),
                    stopped,
                )
        return grounds

    def _read(self, actor: Actor, record_id: str, subject_id: str | None, action: str) -> _Read:
        """The record as `actor` may see it, the access noted as `action`."""
        row = self._visible_row(actor, record_id, subject_id)
        return self._shown(actor, self.sealing.open_record(row), action)

    def _shown(
        self, actor: Actor, record: Record, action: str, protected: bool | None = None
    ) -> _Read:
        """`record` as `actor` may see it (vault.core.access), the access noted
        when its subject is a protected identity (read from its row unless given)."""
        if protected is None:
            subject = self.store.subjects.subject(record.subject_id)
            protected = subject is not None and subject.protected_identity
        if protected:
            self.notes.note(actor, record.subject_id, action)
        return _Read(access.shown_record(actor, record, protected), protected)

    def _event(
        self,
        actor: Actor,
        operation: Operation,
        read: _Read,
        again: str = "",
        purpose: str = "",
    ) -> AuditEvent:
        """The event of `operation` on one record: the purpose it was read for
        (a read's) or is held for, its category."""
        record = read.record
        detail = record.category
        if purpose and purpose != record.purpose:
            detail += f", held for {record.purpose}"
        return self.audit.event(
            actor,
            operation,
            record.subject_id,
            purpose=purpose or record.purpose,
            sensitive=read.protected,
            detail=f"{detail}; {again}" if again else detail,
        )

    def _visible_row(self, actor: Actor, record_id: str, subject_id: str | None) -> RecordRow:
        """The record's row, if it exists for `actor` and may be read."""
        row = self.store.records.record(record_id)
        # A store fills in the subject's state with the record; without it, nothing is read.
        if (
            row is None
            or row.subject_state is None
            or (subject_id is not None and row.subject_id != subject_id)
            # Another system's record does not exist for an integrator: the
            # same answer as for no record at all (permission before existence).
            or not access.sees_system(actor, row.source_system)
        ):
            # The maintenance pass deletes an erased subject's records, so the
            # subject's own state answers: the same before the purge as after.
            if subject_id is not None:
                state = self.store.subjects.subject_state(subject_id)
                if state is not None:
                    check_readable(subject_id, state)
            raise RecordNotFound(f"record {record_id} does not exist", record=record_id)
        check_readable(row.subject_id, row.subject_state)
        return row

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
            read = self._read(actor, record_id, subject_id, "update_record")
            self.audit.commit(self._event(actor, Operation.UPDATE_RECORD, read, ANSWERED_AGAIN))
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
        # Unmasked: what the changes leave as it is is written back.
        current = self.sealing.open_record(self._visible_row(actor, record_id, subject_id))
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
            read = self._read(actor, record_id, None, "update_record")
            self.audit.commit(self._event(actor, Operation.UPDATE_RECORD, read, ANSWERED_AGAIN))
            return read.record
        return self._read(actor, record_id, None, "update_record").record

    def page(
        self,
        actor: Actor,
        subject_id: str,
        category: str | None,
        page_size: int,
        page_token: str,
        purpose: str = "",
    ) -> Page:
        """One page of the subject's records that may be read for `purpose`
        (or the caller's default)."""
        if category:
            rules.category(category)
        limit = rules.page_size(page_size)
        read_for = self.grounds.read_purpose(actor, purpose)
        # A page read for one purpose does not go on as a page for another.
        query = {
            "list": "records",
            "subject": subject_id,
            "category": category or "",
            "purpose": read_for,
        }
        after = paging.read(page_token, query, (int,), "parent, category and purpose")
        subject = readable_subject(self.store.subjects, subject_id)
        what = category or "every category"
        grounds = self._purpose_stopped(
            actor, Operation.LIST_RECORDS, subject_id, read_for, subject.protected_identity, what
        )
        rows = self._visible_rows(
            actor,
            subject_id,
            category,
            after[0] if after else 0,
            limit,
            lambda row: self._readable_for(grounds, read_for, row),
        )
        # A page also ends before its records' bytes would pass what one answer
        # may carry: two 8 MiB photos would not fit in a 16 MiB message.
        kept: list[RecordRow] = []
        size = 0
        for row in rows[:limit]:
            size += len(row.sealed_payload) + len(row.sealed_content or b"")
            if kept and size > PAGE_BYTES:
                break
            kept.append(row)
        protected = subject.protected_identity
        if protected:
            self.notes.note(actor, subject_id, "list_records")
        records = [
            access.shown_record(actor, self.sealing.open_record(row), protected) for row in kept
        ]
        token = paging.token(query, [kept[-1].seq]) if len(rows) > len(kept) else ""
        self.audit.commit(
            self.audit.event(
                actor,
                Operation.LIST_RECORDS,
                subject_id,
                purpose=read_for,
                sensitive=protected,
                detail=f"{what}: {counted(len(records), 'record')}",
            )
        )
        return Page(records, token)

    def _visible_rows(
        self,
        actor: Actor,
        subject_id: str,
        category: str | None,
        after_seq: int,
        limit: int,
        readable: Callable[[RecordRow], bool],
    ) -> list[RecordRow]:
        """More than `limit` of the subject's records `actor` may see after
        `after_seq` and that are `readable` for the read's purpose, unless
        fewer remain: an integrator's are its own system's, read past the
        others a store's page at a time."""
        rows: list[RecordRow] = []
        while True:
            batch = self.store.records.records_page(
                subject_id, category or None, after_seq, limit + 1
            )
            rows += [
                row
                for row in batch
                if access.sees_system(actor, row.source_system) and readable(row)
            ]
            if len(batch) <= limit or len(rows) > limit:
                return rows
            after_seq = batch[-1].seq

    def stream(
        self, actor: Actor, subject_id: str, category: str | None, purpose: str = ""
    ) -> Iterator[Record]:
        """The subject's records that may be read for `purpose` (or the
        caller's default), oldest first. Checked before the first record: a
        refusal is raised by the first `next`."""
        if category:
            rules.category(category)
        read_for = self.grounds.read_purpose(actor, purpose)
        subject = readable_subject(self.store.subjects, subject_id)
        what = category or "every category"
        grounds = self._purpose_stopped(
            actor, Operation.STREAM_RECORDS, subject_id, read_for, subject.protected_identity, what
        )
        if subject.protected_identity:
            self.notes.note(actor, subject_id, "stream_records")
        # One event for the stream, committed before its first record.
        self.audit.commit(
            self.audit.event(
                actor,
                Operation.STREAM_RECORDS,
                subject_id,
                purpose=read_for,
                sensitive=subject.protected_identity,
                detail=what,
            )
        )
        for row in self.store.records.iter_records(subject_id, category or None):
            if access.sees_system(actor, row.source_system) and self._readable_for(
                grounds, read_for, row
            ):
                yield access.shown_record(
                    actor, self.sealing.open_record(row), subject.protected_identity
                )

    def readable(self, actor: Actor, subject_id: str) -> Iterator[Record]:
        """Every record still readable; rows left over from an erased category are
        skipped. For an export: the whole person, to a caller who may see them.
        A part of an export, not an operation of its own: the export commits
        its event before this is read (`export` here, `export_everywhere`)."""
        access.check_whole_person(actor, "ExportSubject")
        readable_subject(self.store.subjects, subject_id)
        # Keys are looked up once per category, purpose and page rather than per
        # record; an erasure still stops the export within one page.
        data_keys: dict[tuple[str, str], DataKey | None] = {}
        for index, row in enumerate(self.store.records.iter_records(subject_id)):
            if index % EXPORT_KEY_REFRESH == 0:
                data_keys.clear()
            scope = (row.category, row.purpose)
            if scope not in data_keys:
                try:
                    data_keys[scope] = self.keys.data_key(
                        subject_id, row.category, row.purpose, create=False
                    )
                except CategoryErased:
                    data_keys[scope] = None
            key = data_keys[scope]
            if key is None or key.key_id != row.key_id:
                continue  # left over from an erased category or purpose
            yield self.sealing.open_record(row, key)

    def count(self, actor: Actor, subject_id: str) -> int:
        """How many of the subject's records `actor` may see."""
        if actor.role is Role.INTEGRATOR:
            count = sum(
                1
                for row in self.store.records.iter_records(subject_id)
                if access.sees_system(actor, row.source_system)
            )
        else:
            count = self.store.records.count_records(subject_id)
        subject = self.store.subjects.subject(subject_id)
        self.audit.commit(
            self.audit.event(
                actor,
                Operation.COUNT_RECORDS,
                subject_id,
                sensitive=subject is not None and subject.protected_identity,
                detail=counted(count, "record"),
            )
        )
        return count

    def export(self, actor: Actor, subject_id: str) -> SubjectExport:
        """Everything the vault itself holds about the subject, its records read
        as they are consumed (`vault.reports.archive` writes it as a zip)."""
        access.check_whole_person(actor, "ExportSubject")
        subject = self.subjects.view(actor, subject_id, "export_subject")
        total = self.store.records.count_records(subject_id)
        # Before the export is handed back: it holds the person already.
        self.audit.commit(
            self.audit.event(
                actor,
                Operation.EXPORT_SUBJECT,
                subject_id,
                purpose=RIGHTS_REQUESTS,
                sensitive=subject.protected_identity,
                detail=counted(total, "record"),
            )
        )
        return SubjectExport(subject, self.readable(actor, subject_id), total, self.clock.now())

    # ------------------------------------------------------------- erasure
    def erase_category(
        self,
        actor: Actor,
        subject_id: str,
        category: str,
        request_id: str = "",
        purpose: str | None = None,
    ) -> CategoryErasure:
        """Crypto-shred the subject's records of `category`: every purpose's key
        and records, or with `purpose` that purpose's alone (the category's
        others stay readable; consent withdrawal erases this way). A category or
        purpose the subject has nothing of is answered as erased, with nothing
        destroyed: there is nothing left to read."""
        rules.category(category)
        if purpose is not None:
            rules.purpose(purpose)
        # A call without a purpose keeps the fingerprint it had before purposes,
        # so a retry of a call an earlier release answered is still the same call.
        scope = (subject_id, category) if purpose is None else (subject_id, category, purpose)
        fingerprint = self.replay.fingerprint(request_id, "erase_category", *scope)
        replayed = self.replay.replayed(request_id, "erase_category", fingerprint)
        scope_words = category if purpose is not None else f"{category}, every purpose"
        if replayed is not None:
            data = json.loads(replayed.result)
            state = self.store.subjects.subject(subject_id)
            self.audit.commit(
                self.audit.event(
                    actor,
                    Operation.ERASE_CATEGORY,
                    subject_id,
                    purpose=purpose or "",
                    sensitive=state is not None and state.protected_identity,
                    detail=f"{scope_words}; {ANSWERED_AGAIN}",
                )
            )
            return CategoryErasure(
                subject_id,
                category,
                data["records"],
                dt.datetime.fromisoformat(data["at"]),
                tuple(data.get("purposes", ())),
                # An earlier release destroyed the category's one key, if any.
                data.get("keys", 1 if data["records"] else 0),
            )
        protected = writable_subject(self.store.subjects, subject_id).protected_identity
        if protected:
            self.notes.note(actor, subject_id, "erase_category")
        erased_at = self.clock.now()
        # The keys go first: once they are gone the records are unreadable, and
        # a crash before the transaction below leaves only ciphertext that a
        # retry (or the same call again) deletes. Destroying is idempotent, and
        # told as intent and outcome (vault.core.audit.destruction): no key
        # goes unless the intent is stored.
        purposes = (
            (purpose,)
            if purpose is not None
            else tuple(
                sorted(s.purpose for s in self.keys.scopes(subject_id) if s.category == category)
            )
        )
        keys = destroy_keys(
            self.audit, actor, subject_id, KeyScope(category, purpose or ""), sensitive=protected
        )
        try:
            with self.store.write() as tx:
                count = tx.records.delete_category_records(subject_id, category, purpose)
                tx.subjects.touch_subject(subject_id, erased_at)
                result = json.dumps(
                    {
                        "records": count,
                        "at": iso(erased_at),
                        "purposes": list(purposes),
                        "keys": keys,
                    }
                )
                self.replay.remember(
                    tx, request_id, "erase_category", fingerprint, subject_id, result
                )
                event = self.audit.event(
                    actor,
                    Operation.ERASE_CATEGORY,
                    subject_id,
                    purpose=purpose or "",
                    sensitive=protected,
                    detail=f"{scope_words}: {counted(count, 'record')} deleted",
                )
                self.audit.written(tx.audit, event)
        except Raced:
            # A concurrent copy of this call committed first: answer as it did
            # (or, were it a different request under the same id, say so).
            return self.erase_category(actor, subject_id, category, request_id, purpose)
        self.scrub_due.set()
        return CategoryErasure(subject_id, category, count, erased_at, purposes, keys)
