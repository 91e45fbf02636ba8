"""The vault: subjects, identities and records, sealed per subject and category.

This is the application core every front end (gRPC, CLI, tests) calls, each
operation with its caller (an `Actor`) first. It owns the rules: who may be
written to, what a retry returns, in which order an erasure destroys things so
that a crash at any point leaves nothing readable.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import secrets
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NoReturn

from vault import crypto
from vault.core import paging, rules
from vault.core.actor import Actor
from vault.core.clock import Clock, SystemClock
from vault.core.errors import (
    CategoryErased,
    ErasurePending,
    FailedPrecondition,
    IdentityInUse,
    InvalidArgument,
    RecordNotFound,
    SubjectErased,
    SubjectNotFound,
)
from vault.core.export import SubjectExport
from vault.core.identities import Identity, IdentityKind, canonical_identity
from vault.core.keys import DataKey, KeyManager, NeedsNewKey
from vault.core.model import (
    CategoryErasure,
    Content,
    ErasureReceipt,
    LegalBasis,
    Page,
    Record,
    RecordDraft,
    Subject,
    SubjectState,
)
from vault.core.replay import Raced, Replay
from vault.storage.base import (
    AppendOutcome,
    IdentityRow,
    KeyStore,
    NewRecord,
    RecordReads,
    RecordRow,
    RecordStore,
    RememberedRequest,
    SubjectRow,
)

# Identities are sealed under a data key of their own, so erasing any one
# record category never loses the means to recognise the person.
IDENTITY_CATEGORY = "vault.identity"
MAX_IMPORT_RECORDS = 200_000
EXPORT_KEY_REFRESH = 500
# Request ids of erasures outlive the subject, so a retried erasure finds its answer.
ERASURE_OPERATIONS = ("erase_subject", "erase_everywhere")


@dataclass(frozen=True)
class IdentityInput:
    """An identity as a client wrote it, not yet validated."""

    kind: IdentityKind
    value: str
    system: str = ""


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
class _CheckedDraft:
    """A validated draft and its fields already serialized (validation is serialization)."""

    draft: RecordDraft
    fields_json: str


@dataclass(frozen=True)
class _NewRecord:
    """A new record checked and sealed, for the store to append."""

    checked: _CheckedDraft
    new: NewRecord


class Vault:
    def __init__(
        self,
        records: RecordStore,
        keys: KeyStore,
        keyring: crypto.Keyring,
        clock: Clock | None = None,
    ) -> None:
        self.records = records
        self.keys = KeyManager(keys, keyring)
        self.keyring = keyring
        self.clock = clock or SystemClock()
        self.replay = Replay(records, keyring.index_key)
        # Set when deleted bytes wait to be scrubbed from the files.
        self.scrub_due = threading.Event()

    # ------------------------------------------------------------ subjects
    def create_subject(
        self,
        actor: Actor,
        identities: list[IdentityInput],
        roles: list[str],
        protected_identity: bool = False,
        request_id: str = "",
    ) -> Subject:
        if not identities:
            raise InvalidArgument("identities", "must hold at least one identity")
        canonical = self._canonical_all(identities, "identities")
        checked_roles = rules.roles(roles)
        fingerprint = self.replay.fingerprint(
            request_id, [i.index_text for i in canonical], checked_roles, protected_identity
        )
        replayed = self.replay.replayed(request_id, "create_subject", fingerprint)
        if replayed is not None:
            return self.get_subject(actor, replayed.subject_id)

        subject_id = secrets.token_hex(16)
        self.keys.create_subject_key(subject_id)
        identity_rows = [self._identity_row(subject_id, identity) for identity in canonical]
        now = self._now()
        try:
            with self.records.write() as tx:
                tx.insert_subject(
                    SubjectRow(
                        subject_id,
                        SubjectState.ACTIVE,
                        checked_roles,
                        protected_identity,
                        now,
                        now,
                    )
                )
                for index, row in enumerate(identity_rows):
                    if not tx.insert_identity(row):
                        raise IdentityInUse(
                            f"identities[{index}]: already belongs to a subject",
                            field=f"identities[{index}]",
                        )
                self.replay.remember(
                    tx, request_id, "create_subject", fingerprint, subject_id, subject_id
                )
        except (IdentityInUse, Raced) as failure:
            # The key made above protects nothing; destroy it rather than leave it.
            self.keys.destroy_subject(subject_id)
            if isinstance(failure, Raced):
                return self.create_subject(actor, identities, roles, protected_identity, request_id)
            raise
        return self.get_subject(actor, subject_id)

    def get_subject(self, actor: Actor, subject_id: str) -> Subject:
        row = self._readable_subject(self.records, subject_id)
        return self._subject(row)

    def find_subject(
        self, actor: Actor, identity: IdentityInput, field: str = "identity"
    ) -> Subject:
        canonical = self._canonical(identity, field)
        subject_id = self.records.subject_id_by_index(
            self.keyring.blind_index(canonical.index_text)
        )
        if subject_id is None:
            raise SubjectNotFound("no subject holds that identity")
        return self.get_subject(actor, subject_id)

    def update_subject(
        self,
        actor: Actor,
        subject_id: str,
        roles: list[str] | None,
        protected_identity: bool | None,
        request_id: str = "",
    ) -> Subject:
        checked_roles = None if roles is None else rules.roles(roles)
        fingerprint = self.replay.fingerprint(
            request_id, "update", subject_id, checked_roles, protected_identity
        )
        if self.replay.replayed(request_id, "update_subject", fingerprint) is not None:
            return self.get_subject(actor, subject_id)
        try:
            with self.records.write() as tx:
                row = self._writable_subject(tx, subject_id)
                tx.update_subject(
                    subject_id,
                    row.roles if checked_roles is None else checked_roles,
                    row.protected_identity if protected_identity is None else protected_identity,
                    self._now(),
                )
                self.replay.remember(
                    tx, request_id, "update_subject", fingerprint, subject_id, subject_id
                )
        except Raced:
            pass
        return self.get_subject(actor, subject_id)

    def add_identity(
        self, actor: Actor, subject_id: str, identity: IdentityInput, request_id: str = ""
    ) -> Subject:
        return self.rectify_identity(actor, subject_id, None, identity, request_id)

    def remove_identity(
        self, actor: Actor, subject_id: str, identity: IdentityInput, request_id: str = ""
    ) -> Subject:
        return self.rectify_identity(actor, subject_id, identity, None, request_id)

    def rectify_identity(
        self,
        actor: Actor,
        subject_id: str,
        old: IdentityInput | None,
        new: IdentityInput | None,
        request_id: str = "",
    ) -> Subject:
        """Replace `old` with `new`; either may be None (add, remove)."""
        old_canonical = (
            None if old is None else self._canonical(old, "old_identity" if new else "identity")
        )
        new_canonical = (
            None if new is None else self._canonical(new, "new_identity" if old else "identity")
        )
        if old_canonical and new_canonical and old_canonical.kind is not new_canonical.kind:
            raise InvalidArgument("new_identity.kind", "must be the same kind as old_identity")
        fingerprint = self.replay.fingerprint(
            request_id,
            "rectify",
            subject_id,
            old_canonical and old_canonical.index_text,
            new_canonical and new_canonical.index_text,
        )
        if self.replay.replayed(request_id, "rectify_identity", fingerprint) is not None:
            return self.get_subject(actor, subject_id)
        # Validate existence before sealing: an unknown subject has no key.
        self._writable_subject(self.records, subject_id)
        new_row = None if new_canonical is None else self._identity_row(subject_id, new_canonical)
        try:
            with self.records.write() as tx:
                self._writable_subject(tx, subject_id)
                held = {row.blind_index for row in tx.identities(subject_id)}
                if old_canonical is not None:
                    old_index = self.keyring.blind_index(old_canonical.index_text)
                    field = "old_identity" if new else "identity"
                    if old_index not in held:
                        raise InvalidArgument(field, "the subject does not hold this identity")
                    if new_row is None and len(held) == 1:
                        raise InvalidArgument(field, "a subject keeps at least one identity")
                    tx.delete_identity(old_index)
                if new_row is not None and not tx.insert_identity(new_row):
                    field = "new_identity" if old else "identity"
                    raise IdentityInUse(f"{field}: already belongs to a subject", field=field)
                tx.touch_subject(subject_id, self._now())
                self.replay.remember(
                    tx, request_id, "rectify_identity", fingerprint, subject_id, subject_id
                )
        except Raced:
            pass
        return self.get_subject(actor, subject_id)

    # ------------------------------------------------------------- records
    def create_record(
        self, actor: Actor, subject_id: str, draft: RecordDraft, request_id: str = ""
    ) -> Record:
        """Check and seal the record, then store it with the store's grouped write:
        one call down, which returns once the record is durable."""
        new = self._new_record(actor, subject_id, draft, request_id)
        if isinstance(new, Record):
            return new
        record = self._stored_record(new, self.records.append_record(new.new, SubjectState.ACTIVE))
        return record or self.create_record(actor, subject_id, draft, request_id)

    async def create_record_async(
        self, actor: Actor, subject_id: str, draft: RecordDraft, request_id: str = ""
    ) -> Record:
        """`create_record` for an event loop: checked and sealed on the loop, then
        the store's grouped write is awaited, so no thread waits out the commit.
        A subject's first record of a category must first write a new key, and a
        retry that lost a race answers as the winner: those rare cases run
        `create_record` on a thread."""
        try:
            new = self._new_record(actor, subject_id, draft, request_id, new_key=False)
        except NeedsNewKey:
            new = None
        if isinstance(new, Record):
            return new
        if new is not None:
            outcome = await self.records.append_record_async(new.new, SubjectState.ACTIVE)
            record = self._stored_record(new, outcome)
            if record is not None:
                return record
        return await asyncio.to_thread(self.create_record, actor, subject_id, draft, request_id)

    def _new_record(
        self,
        actor: Actor,
        subject_id: str,
        draft: RecordDraft,
        request_id: str,
        *,
        new_key: bool = True,
    ) -> _NewRecord | Record:
        """The record checked and sealed, ready for the store; or, when
        `request_id` replays a finished call, the record that call stored."""
        checked = self._checked_draft(draft, "record")
        fingerprint = self.replay.fingerprint(
            request_id, "record", subject_id, self._draft_digest(checked.draft)
        )
        replayed = self.replay.replayed(request_id, "create_record", fingerprint)
        if replayed is not None:
            return self.get_record(actor, replayed.result)
        row = self._sealed_row(
            subject_id,
            checked,
            secrets.token_hex(16),
            self._now(),
            self._write_key(subject_id, checked, new_key),
        )
        request = (
            RememberedRequest(request_id, "create_record", fingerprint, subject_id, row.record_id)
            if request_id
            else None
        )
        return _NewRecord(checked, NewRecord(row, request))

    def _stored_record(self, new: _NewRecord, outcome: AppendOutcome) -> Record | None:
        """The record the store took, or the precise reason it refused (the
        subject was not active when the write ran: an erasure accepted meanwhile
        wins). None when a concurrent call with the same request id stored first."""
        if outcome.request_taken:
            return None
        row, draft = new.new.row, new.checked.draft
        if not outcome.stored:
            self._refuse_write(row.subject_id, outcome.subject_state)
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

    def import_records(
        self, actor: Actor, items: Iterable[tuple[str, RecordDraft]], request_id: str = ""
    ) -> int:
        """Store many records, for one or many subjects, all or nothing."""
        digest = hashlib.sha256()
        rows: list[RecordRow] = []
        subjects: set[str] = set()
        data_keys: dict[tuple[str, str], DataKey] = {}
        now = self._now()
        for index, (subject_id, draft) in enumerate(items):
            if index >= MAX_IMPORT_RECORDS:
                raise InvalidArgument("records", f"at most {MAX_IMPORT_RECORDS} records per import")
            field = f"records[{index}]"
            checked = self._checked_draft(draft, f"{field}.record")
            if subject_id not in subjects:
                self._writable_subject(self.records, subject_id, field=f"{field}.parent")
                subjects.add(subject_id)
            if request_id:
                digest.update(
                    self.replay.fingerprint(
                        request_id, subject_id, self._draft_digest(checked.draft)
                    ).encode()
                )
            category = checked.draft.category
            key = data_keys.get((subject_id, category))
            if key is None:
                key = data_keys[subject_id, category] = self.keys.data_key(
                    subject_id, category, create=True
                )
            rows.append(self._sealed_row(subject_id, checked, secrets.token_hex(16), now, key))
        if not rows:
            raise InvalidArgument("records", "must hold at least one record")
        fingerprint = digest.hexdigest()
        if self.replay.replayed(request_id, "import_records", fingerprint) is not None:
            return len(rows)
        try:
            with self.records.write() as tx:
                for subject_id in subjects:
                    self._writable_subject(tx, subject_id)
                tx.insert_records(rows)
                self.replay.remember(
                    tx,
                    request_id,
                    "import_records",
                    fingerprint,
                    sorted(subjects)[0],
                    str(len(rows)),
                )
        except Raced:
            pass
        return len(rows)

    def get_record(self, actor: Actor, record_id: str, subject_id: str | None = None) -> Record:
        """The record; with `subject_id`, only if it belongs to that subject (a
        name that pairs a record with the wrong subject does not exist)."""
        row = self.records.record(record_id)
        # A store fills in the subject's state with the record; without it, nothing is read.
        if (
            row is None
            or row.subject_state is None
            or (subject_id is not None and row.subject_id != subject_id)
        ):
            # The maintenance pass deletes an erased subject's records, so the
            # subject's own state answers: the same before the purge as after.
            if subject_id is not None:
                state = self.records.subject_state(subject_id)
                if state is not None:
                    self._check_readable(subject_id, state)
            raise RecordNotFound(f"record {record_id} does not exist", record=record_id)
        self._check_readable(row.subject_id, row.subject_state)
        return self._open_record(row)

    def update_record(
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
            self._content_digest(changes.content),
            changes.clear_content,
        )
        if self.replay.replayed(request_id, "update_record", fingerprint) is not None:
            return self.get_record(actor, record_id, subject_id)
        current = self.get_record(actor, record_id, subject_id)
        checked = self._checked_draft(
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
        )
        row = self._sealed_row(
            current.subject_id,
            checked,
            record_id,
            self._now(),
            created_at=current.created_at,
        )
        try:
            with self.records.write() as tx:
                self._writable_subject(tx, current.subject_id)
                if tx.record(record_id) is None:
                    raise RecordNotFound(f"record {record_id} does not exist", record=record_id)
                tx.update_record(row)
                self.replay.remember(
                    tx, request_id, "update_record", fingerprint, current.subject_id, record_id
                )
        except Raced:
            pass
        return self.get_record(actor, record_id)

    def list_records(
        self, actor: Actor, subject_id: str, category: str | None, page_size: int, page_token: str
    ) -> Page:
        if category:
            rules.category(category)
        limit = rules.page_size(page_size)
        query = {"list": "records", "subject": subject_id, "category": category or ""}
        after = paging.read(page_token, query, (int,), "parent and category")
        self._readable_subject(self.records, subject_id)
        rows = self.records.records_page(
            subject_id, category or None, after[0] if after else 0, limit + 1
        )
        more = len(rows) > limit
        rows = rows[:limit]
        records = [self._open_record(row) for row in rows]
        token = paging.token(query, [rows[-1].seq]) if more else ""
        return Page(records, token)

    def stream_records(
        self, actor: Actor, subject_id: str, category: str | None
    ) -> Iterator[Record]:
        if category:
            rules.category(category)
        self._readable_subject(self.records, subject_id)
        for row in self.records.iter_records(subject_id, category or None):
            yield self._open_record(row)

    def readable_records(self, actor: Actor, subject_id: str) -> Iterator[Record]:
        """Every record still readable; rows left over from an erased category are skipped."""
        self._readable_subject(self.records, subject_id)
        # Keys are looked up once per category and page rather than per record;
        # an erasure still stops the export within one page.
        data_keys: dict[str, DataKey | None] = {}
        for index, row in enumerate(self.records.iter_records(subject_id)):
            if index % EXPORT_KEY_REFRESH == 0:
                data_keys.clear()
            if row.category not in data_keys:
                try:
                    data_keys[row.category] = self.keys.data_key(
                        subject_id, row.category, create=False
                    )
                except CategoryErased:
                    data_keys[row.category] = None
            key = data_keys[row.category]
            if key is None or key.key_id != row.key_id:
                continue  # left over from an erased category
            yield self._open_record(row, key)

    def count_records(self, actor: Actor, subject_id: str) -> int:
        return self.records.count_records(subject_id)

    def export_subject(self, actor: Actor, subject_id: str) -> SubjectExport:
        """Everything the vault itself holds about the subject, its records read
        as they are consumed (`vault.reports.archive` writes it as a zip)."""
        subject = self.get_subject(actor, subject_id)
        total = self.records.count_records(subject_id)
        return SubjectExport(
            subject, self.readable_records(actor, subject_id), total, self.clock.now()
        )

    # ------------------------------------------------------------- erasure
    def erase_subject(self, actor: Actor, subject_id: str, request_id: str = "") -> ErasureReceipt:
        """Destroy the subject's keys. Erasing an erased subject returns its receipt."""
        fingerprint = self.replay.fingerprint(request_id, "erase", subject_id)
        replayed = self.replay.replayed(request_id, "erase_subject", fingerprint)
        if replayed is not None:
            return self._receipt_from_json(replayed.result)
        row = self.records.subject(subject_id)
        if row is None:
            raise SubjectNotFound(f"subject {subject_id} does not exist", subject=subject_id)
        if row.state is SubjectState.ERASED:
            stored = self.records.erasure_receipt(subject_id)
            assert stored is not None
            return self._receipt_from_json(stored)

        categories = tuple(c for c in self.keys.categories(subject_id) if c != IDENTITY_CATEGORY)
        records_total = self.records.count_records(subject_id)
        erased_at = self.clock.now()
        try:
            with self.records.write() as tx:
                current = tx.subject(subject_id)
                if current is None or current.state is SubjectState.ERASED:
                    raise Raced()
                receipt = ErasureReceipt(
                    subject_id=subject_id,
                    erased_at=erased_at,
                    categories=categories,
                    keys_destroyed=len(self.keys.categories(subject_id)) + 1,
                    records_shredded=records_total,
                    identities_removed=tx.delete_identities(subject_id),
                )
                receipt_json = self._receipt_to_json(receipt)
                # Roles go with the person: an erased subject keeps only its id and state.
                tx.update_subject(subject_id, (), False, erased_at)
                tx.set_subject_state(subject_id, SubjectState.ERASED, erased_at)
                tx.save_erasure_receipt(subject_id, receipt_json, erased_at)
                # Earlier requests' fingerprints are keyed hashes of this
                # person's data: they go with the person.
                tx.forget_requests_of(subject_id, keep=ERASURE_OPERATIONS)
                self.replay.remember(
                    tx, request_id, "erase_subject", fingerprint, subject_id, receipt_json
                )
        except Raced:
            return self.erase_subject(actor, subject_id, request_id)
        # The subject is marked erased first, then its keys go: a crash between
        # the two is finished by `recover()`, and reads stop at the mark. The key
        # store is scrubbed at once (key bytes); the record store, which holds
        # no keys, in the next maintenance pass.
        self.keys.destroy_subject(subject_id)
        self.scrub_due.set()
        return receipt

    def erase_category(
        self, actor: Actor, subject_id: str, category: str, request_id: str = ""
    ) -> CategoryErasure:
        rules.category(category)
        fingerprint = self.replay.fingerprint(request_id, "erase_category", subject_id, category)
        replayed = self.replay.replayed(request_id, "erase_category", fingerprint)
        if replayed is not None:
            data = json.loads(replayed.result)
            return CategoryErasure(subject_id, category, data["records"], self._parse(data["at"]))
        self._writable_subject(self.records, subject_id)
        erased_at = self.clock.now()
        # The key goes first: once it is gone the records are unreadable, and a
        # crash before the transaction below leaves only ciphertext that a
        # retry (or the same call again) deletes. Destroying is idempotent.
        self.keys.destroy_category(subject_id, category)
        try:
            with self.records.write() as tx:
                count = tx.delete_category_records(subject_id, category)
                tx.touch_subject(subject_id, erased_at)
                result = json.dumps({"records": count, "at": self._iso(erased_at)})
                self.replay.remember(
                    tx, request_id, "erase_category", fingerprint, subject_id, result
                )
        except Raced:
            # A concurrent copy of this call committed first: answer as it did
            # (or, were it a different request under the same id, say so).
            return self.erase_category(actor, subject_id, category, request_id)
        self.scrub_due.set()
        return CategoryErasure(subject_id, category, count, erased_at)

    def recover(self) -> int:
        """Finish erasures a crash interrupted: erased subjects whose keys remain."""
        finished = 0
        for subject_id in self.records.subject_ids_in_state(SubjectState.ERASED):
            if self.keys.store.subject_key(subject_id) is not None:
                self.keys.destroy_subject(subject_id)
                finished += 1
        if finished:
            self.records.scrub()
        return finished

    def purge_erased(self, batch: int = 500) -> int:
        """Delete leftover ciphertext of erased subjects (already unreadable) in batches."""
        total = 0
        while True:
            deleted = self.records.purge_records(SubjectState.ERASED, batch)
            total += deleted
            if deleted < batch:
                break
        if total:
            self.scrub_due.set()
        return total

    def maintain(self) -> None:
        """One maintenance pass: purge leftovers of erasures, then make deleted
        bytes physically gone from both stores' files."""
        self.purge_erased()
        if self.scrub_due.is_set():
            self.scrub_due.clear()
            if not (self.records.scrub() and self.keys.store.scrub()):
                self.scrub_due.set()  # a reader held the WAL; try again next pass

    # ------------------------------------------------------------- helpers
    def _now(self) -> dt.datetime:
        # In UTC, as the stores give times back.
        return self.clock.now().astimezone(dt.UTC)

    @staticmethod
    def _iso(moment: dt.datetime) -> str:
        return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")

    @staticmethod
    def _parse(text: str) -> dt.datetime:
        return dt.datetime.fromisoformat(text)

    def _canonical(self, identity: IdentityInput, field: str) -> Identity:
        return canonical_identity(
            identity.kind,
            identity.value,
            identity.system,
            today=self.clock.now().date(),
            field=field,
        )

    def _canonical_all(self, identities: list[IdentityInput], field: str) -> list[Identity]:
        canonical = [
            self._canonical(identity, f"{field}[{i}]") for i, identity in enumerate(identities)
        ]
        seen: set[str] = set()
        for index, identity in enumerate(canonical):
            if identity.index_text in seen:
                raise InvalidArgument(f"{field}[{index}]", "repeats an earlier identity")
            seen.add(identity.index_text)
        return canonical

    def _identity_row(self, subject_id: str, identity: Identity) -> IdentityRow:
        blind_index = self.keyring.blind_index(identity.index_text)
        data_key = self.keys.data_key(subject_id, IDENTITY_CATEGORY, create=True)
        sealed = crypto.seal(
            data_key.aead,
            json.dumps([identity.kind.value, identity.system, identity.value]).encode(),
            crypto.associated_data("identity", subject_id, blind_index),
        )
        return IdentityRow(blind_index, subject_id, identity.kind, sealed)

    def _subject(self, row: SubjectRow) -> Subject:
        identities: list[Identity] = []
        for identity_row in self.records.identities(row.subject_id):
            data_key = self.keys.data_key(row.subject_id, IDENTITY_CATEGORY, create=False)
            kind, system, value = json.loads(
                crypto.unseal(
                    data_key.aead,
                    identity_row.sealed_value,
                    crypto.associated_data("identity", row.subject_id, identity_row.blind_index),
                )
            )
            identities.append(Identity(IdentityKind(kind), value, system))
        return Subject(
            subject_id=row.subject_id,
            identities=tuple(identities),
            roles=row.roles,
            protected_identity=row.protected_identity,
            state=SubjectState(row.state),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @staticmethod
    def _readable_subject(reads: RecordReads, subject_id: str, field: str = "name") -> SubjectRow:
        row = reads.subject(subject_id)
        if row is None:
            raise SubjectNotFound(
                f"subject {subject_id} does not exist", subject=subject_id, field=field
            )
        Vault._check_readable(subject_id, row.state)
        return row

    @staticmethod
    def _check_readable(subject_id: str, state: SubjectState) -> None:
        if state is SubjectState.ERASED:
            raise SubjectErased(subject_id)
        if state is SubjectState.ERASURE_PENDING:
            raise ErasurePending(subject_id)

    _writable_subject = _readable_subject

    @staticmethod
    def _refuse_write(subject_id: str, state: SubjectState | None) -> NoReturn:
        """Raise the precise reason a subject in `state` (None: no such
        subject) cannot take a new record (whose parent it is)."""
        if state is None:
            raise SubjectNotFound(
                f"subject {subject_id} does not exist", subject=subject_id, field="parent"
            )
        Vault._check_readable(subject_id, state)
        raise FailedPrecondition(f"subject {subject_id} cannot take new records")

    def _write_key(self, subject_id: str, checked: _CheckedDraft, new_key: bool = True) -> DataKey:
        """The data key to seal a new record under. A subject that does not
        exist, or is erased, has no key: the precise reason comes from its row,
        read only then, so the common case costs no extra query."""
        try:
            return self.keys.data_key(
                subject_id, checked.draft.category, create=True, write=new_key
            )
        except SubjectErased:
            state = self.records.subject_state(subject_id)
            if state is not SubjectState.ACTIVE:
                self._refuse_write(subject_id, state)
            raise

    def _checked_draft(self, draft: RecordDraft, field: str) -> _CheckedDraft:
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
        checked = RecordDraft(
            category=rules.category(draft.category, f"{field}.category"),
            purpose=rules.purpose(draft.purpose, f"{field}.purpose"),
            legal_basis=draft.legal_basis,
            source_system=rules.system(draft.source_system, f"{field}.source_system"),
            fields=draft.fields,
            content=content,
        )
        return _CheckedDraft(checked, rules.fields_json(draft.fields, f"{field}.fields"))

    def _sealed_row(
        self,
        subject_id: str,
        checked: _CheckedDraft,
        record_id: str,
        now: dt.datetime,
        data_key: DataKey | None = None,
        created_at: dt.datetime | None = None,
    ) -> RecordRow:
        draft = checked.draft
        if data_key is None:
            data_key = self.keys.data_key(subject_id, draft.category, create=True)
        content = draft.content
        content_meta = (
            "null"
            if content is None
            else json.dumps({"media_type": content.media_type, "filename": content.filename})
        )
        payload = f'{{"fields":{checked.fields_json},"content":{content_meta}}}'
        aad = ("record", subject_id, draft.category, record_id)
        return RecordRow(
            record_id=record_id,
            subject_id=subject_id,
            category=draft.category,
            purpose=draft.purpose,
            legal_basis=draft.legal_basis,
            source_system=draft.source_system,
            key_id=data_key.key_id,
            sealed_payload=crypto.seal(
                data_key.aead, payload.encode(), crypto.associated_data(*aad, "payload")
            ),
            sealed_content=None
            if content is None
            else crypto.seal(data_key.aead, content.data, crypto.associated_data(*aad, "content")),
            created_at=created_at or now,
            updated_at=now,
        )

    def _open_record(self, row: RecordRow, data_key: DataKey | None = None) -> Record:
        if data_key is None:
            data_key = self.keys.data_key(row.subject_id, row.category, create=False)
        if data_key.key_id != row.key_id:
            # Sealed under a category key that has since been destroyed.
            raise CategoryErased(
                f"category {row.category} of subject {row.subject_id} has been erased",
                subject=row.subject_id,
                category=row.category,
            )
        aad = ("record", row.subject_id, row.category, row.record_id)
        payload = json.loads(
            crypto.unseal(
                data_key.aead, row.sealed_payload, crypto.associated_data(*aad, "payload")
            )
        )
        content = None
        if payload["content"] is not None and row.sealed_content is not None:
            content = Content(
                crypto.unseal(
                    data_key.aead, row.sealed_content, crypto.associated_data(*aad, "content")
                ),
                payload["content"]["media_type"],
                payload["content"]["filename"],
            )
        return Record(
            record_id=row.record_id,
            subject_id=row.subject_id,
            category=row.category,
            purpose=row.purpose,
            legal_basis=row.legal_basis,
            source_system=row.source_system,
            fields=payload["fields"],
            content=content,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    # ------------------------------------------------- retries (AIP-155)
    @staticmethod
    def _draft_digest(draft: RecordDraft) -> tuple[Any, ...]:
        """A draft as a request's fingerprint covers it: its content by digest."""
        return (
            draft.category,
            draft.purpose,
            draft.legal_basis.value,
            draft.source_system,
            draft.fields,
            Vault._content_digest(draft.content),
        )

    @staticmethod
    def _content_digest(content: Content | None) -> Any:
        if content is None:
            return None
        return [hashlib.sha256(content.data).hexdigest(), content.media_type, content.filename]

    # ---------------------------------------------------------- receipts
    def _receipt_to_json(self, receipt: ErasureReceipt) -> str:
        return json.dumps(
            {
                "subject": receipt.subject_id,
                "at": self._iso(receipt.erased_at),
                "categories": list(receipt.categories),
                "keys": receipt.keys_destroyed,
                "records": receipt.records_shredded,
                "identities": receipt.identities_removed,
            }
        )

    def _receipt_from_json(self, text: str) -> ErasureReceipt:
        data = json.loads(text)
        return ErasureReceipt(
            data["subject"],
            self._parse(data["at"]),
            tuple(data["categories"]),
            data["keys"],
            data["records"],
            data["identities"],
        )
