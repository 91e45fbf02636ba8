"""Reading a subject's records: one by name, a page at a time, as a stream,
all of them for an export, and how many.

Every read names the purpose it is for (vault.core.consent.grounds): a record
is read only for the purpose it is held for or one compatible with it, and
not while the purpose is restricted, objected to or rests on consent that
does not stand. A refused read is audited with its reason and answers
nothing of the record; a list or a stream leaves out what its purpose may
not serve. An export reads under the vault's own purpose of answering the
person's request, which every record serves.

Every read writes its audit event before its answer leaves: a stream before
its first record, an export before it is handed back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from vault.core import access, paging, rules
from vault.core.access import AccessNotes
from vault.core.actor import Actor, Role
from vault.core.audit.events import AuditEvent, Operation, counted
from vault.core.audit.trail import AuditTrail
from vault.core.clock import Clock
from vault.core.consent.grounds import RIGHTS_REQUESTS, Grounds, SubjectGrounds
from vault.core.errors import CategoryErased, RecordNotFound, VaultError
from vault.core.export import SubjectExport
from vault.core.keys import DataKey, KeyManager
from vault.core.model import Page, Record
from vault.core.sealing import Sealing
from vault.core.subjects import Subjects, check_readable, readable_subject
from vault.storage.base import RecordRow, RecordStore

EXPORT_KEY_REFRESH = 500
# What one page of records may carry, under the server's 16 MiB message limit
# with room for the rest of the answer; a page always holds at least one record.
PAGE_BYTES = 12 << 20


@dataclass(frozen=True)
class ReadRecord:
    """A record as the actor may see it, and whether its subject is a
    protected identity (its event's `sensitive`)."""

    record: Record
    protected: bool


@dataclass(frozen=True)
class Refusal:
    """A read the grounds refuse: its event, to commit before the error is raised."""

    event: AuditEvent
    error: VaultError


class RecordReads:
    def __init__(
        self,
        store: RecordStore,
        keys: KeyManager,
        sealing: Sealing,
        clock: Clock,
        subjects: Subjects,
        notes: AccessNotes,
        audit: AuditTrail,
        grounds: Grounds,
    ) -> None:
        self.store = store
        self.keys = keys
        self.sealing = sealing
        self.clock = clock
        self.subjects = subjects
        self.notes = notes
        self.audit = audit
        # Whether a read may go ahead for the purpose it is made for.
        self.grounds = grounds

    # ---------------------------------------------------------- one record
    def get(
        self, actor: Actor, record_id: str, subject_id: str | None = None, purpose: str = ""
    ) -> Record:
        """The record, read for `purpose` (or the caller's default); with
        `subject_id`, only if it belongs to that subject (a name that pairs a
        record with the wrong subject does not exist)."""
        read = self._read_for(actor, record_id, subject_id, purpose)
        if isinstance(read, Refusal):
            self.grounds.refuse(read.event, read.error)
        found, read_for = read
        self.audit.commit(self.event(actor, Operation.GET_RECORD, found, purpose=read_for))
        return found.record

    async def get_async(
        self, actor: Actor, record_id: str, subject_id: str | None = None, purpose: str = ""
    ) -> Record:
        """`get` for an event loop: read on the loop as before (embedded stores
        answer at once), then the event's group commit awaited (a refusal's
        too), so the loop never waits out an fsync."""
        read = self._read_for(actor, record_id, subject_id, purpose)
        if isinstance(read, Refusal):
            await self.grounds.refuse_async(read.event, read.error)
        found, read_for = read
        await self.audit.commit_async(
            self.event(actor, Operation.GET_RECORD, found, purpose=read_for)
        )
        return found.record

    def _read_for(
        self, actor: Actor, record_id: str, subject_id: str | None, purpose: str
    ) -> tuple[ReadRecord, str] | Refusal:
        """The record as `actor` may see it and the purpose it is read for, or
        the refusal its grounds give (decided before the record is opened)."""
        read_for = self.grounds.read_purpose(actor, purpose)
        row = self.visible_row(actor, record_id, subject_id)
        refusal = self.grounds.read_refusal(row.subject_id, read_for, row.purpose)
        if refusal is not None:
            event = self.audit.event(
                actor,
                Operation.GET_RECORD,
                row.subject_id,
                purpose=read_for,
                sensitive=self.protected(row.subject_id),
                detail=row.category,
            )
            return Refusal(event, refusal)
        return self.shown(actor, self.sealing.open_record(row), "get_record"), read_for

    def protected(self, subject_id: str) -> bool:
        """Is the subject a protected identity?"""
        subject = self.store.subjects.subject(subject_id)
        return subject is not None and subject.protected_identity

    # ------------------------------------------------------ many records
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

    # ------------------------------------------------------------ grounds
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
        consent that does not stand) refuses the whole call, audited, when
        the caller holds records of the person at all: a system that holds
        nothing of them learns nothing of their limits (its list is empty)."""
        grounds = self.grounds.of(subject_id)
        if read_for != RIGHTS_REQUESTS:
            stopped = self.grounds.stopped(grounds, read_for)
            if stopped is not None and self._holds_any(actor, subject_id):
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

    def _holds_any(self, actor: Actor, subject_id: str) -> bool:
        """Has the subject a record `actor` may see (an integrator: its system's)?"""
        after = 0
        while True:
            batch = self.store.records.records_page(subject_id, None, after, 500)
            if any(access.sees_system(actor, row.source_system) for row in batch):
                return True
            if len(batch) < 500:
                return False
            after = batch[-1].seq

    # ------------------------------------------------ shared with the writes
    def opened(
        self, actor: Actor, record_id: str, subject_id: str | None, action: str
    ) -> ReadRecord:
        """The record as `actor` may see it, the access noted as `action`."""
        row = self.visible_row(actor, record_id, subject_id)
        return self.shown(actor, self.sealing.open_record(row), action)

    def shown(
        self, actor: Actor, record: Record, action: str, protected: bool | None = None
    ) -> ReadRecord:
        """`record` as `actor` may see it (vault.core.access), the access noted
        when its subject is a protected identity (read from its row unless given)."""
        if protected is None:
            subject = self.store.subjects.subject(record.subject_id)
            protected = subject is not None and subject.protected_identity
        if protected:
            self.notes.note(actor, record.subject_id, action)
        return ReadRecord(access.shown_record(actor, record, protected), protected)

    def event(
        self,
        actor: Actor,
        operation: Operation,
        read: ReadRecord,
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

    def visible_row(self, actor: Actor, record_id: str, subject_id: str | None) -> RecordRow:
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
