"""Subjects and their identities: create, find, update and rectify a person, and
the states in which a subject may be read or written to.

An identity is stored sealed and found only by its blind index, so the vault
can recognise a person without holding their identities in the clear.

Every operation writes its audit event (vault.core.audit.trail): a change in
its own transaction, a read before its answer leaves.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import NoReturn

from vault.core import access, rules
from vault.core.access import AccessNotes
from vault.core.actor import Actor
from vault.core.audit.events import AuditEvent, Operation
from vault.core.audit.trail import AuditTrail
from vault.core.clock import Clock, utc_now
from vault.core.errors import (
    AuditUnavailable,
    ErasurePending,
    FailedPrecondition,
    IdentityInUse,
    InvalidArgument,
    SubjectErased,
    SubjectNotFound,
)
from vault.core.identities import Identity, IdentityKind, canonical_identity
from vault.core.keys import KeyManager
from vault.core.model import Subject, SubjectState
from vault.core.replay import Raced, Replay
from vault.core.sealing import Sealing
from vault.storage.base import RecordStore, SubjectReads, SubjectRow

# An event's detail for a retried request answered from memory: nothing was
# done again, but the call was made, and an auditor sees it.
ANSWERED_AGAIN = "answered again from the request id"


@dataclass(frozen=True)
class IdentityInput:
    """An identity as a client wrote it, not yet validated."""

    kind: IdentityKind
    value: str
    system: str = ""


def readable_subject(reads: SubjectReads, subject_id: str, field: str = "name") -> SubjectRow:
    """The subject's row, if it may be read; else the precise reason it may not."""
    row = reads.subject(subject_id)
    if row is None:
        raise SubjectNotFound(
            f"subject {subject_id} does not exist", subject=subject_id, field=field
        )
    check_readable(subject_id, row.state)
    return row


# A subject takes changes exactly when it may be read: once an erasure is
# accepted, neither.
writable_subject = readable_subject


def check_readable(subject_id: str, state: SubjectState) -> None:
    if state is SubjectState.ERASED:
        raise SubjectErased(subject_id)
    if state is SubjectState.ERASURE_PENDING:
        raise ErasurePending(subject_id)


def refuse_write(subject_id: str, state: SubjectState | None) -> NoReturn:
    """Raise the precise reason a subject in `state` (None: no such
    subject) cannot take a new record (whose parent it is)."""
    if state is None:
        raise SubjectNotFound(
            f"subject {subject_id} does not exist", subject=subject_id, field="parent"
        )
    check_readable(subject_id, state)
    raise FailedPrecondition(f"subject {subject_id} cannot take new records")


class Subjects:
    def __init__(
        self,
        store: RecordStore,
        keys: KeyManager,
        sealing: Sealing,
        replay: Replay,
        clock: Clock,
        notes: AccessNotes,
        audit: AuditTrail,
    ) -> None:
        self.store = store
        self.keys = keys
        self.sealing = sealing
        self.replay = replay
        self.clock = clock
        self.notes = notes
        self.audit = audit

    def create(
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
        for index, identity in enumerate(canonical):
            access.check_identity_write(actor, identity, f"identities[{index}]", registering=True)
        checked_roles = rules.roles(roles)
        fingerprint = self.replay.fingerprint(
            request_id, [i.index_text for i in canonical], checked_roles, protected_identity
        )
        replayed = self.replay.replayed(request_id, "create_subject", fingerprint)
        if replayed is not None:
            return self._answered_again(
                actor,
                Operation.CREATE_SUBJECT,
                self.view(actor, replayed.subject_id, "create_subject"),
            )

        subject_id = secrets.token_hex(16)
        self.keys.create_subject_key(subject_id)
        identity_rows = [self.sealing.identity_row(subject_id, identity) for identity in canonical]
        sealed_roles = self.sealing.seal_roles(subject_id, checked_roles)
        now = utc_now(self.clock)
        # Made once the subject key exists: the pseudonym is derived from it.
        event = self.audit.event(
            actor,
            Operation.CREATE_SUBJECT,
            subject_id,
            sensitive=protected_identity,
            detail=kinds_of(canonical),
        )
        try:
            with self.store.write() as tx:
                tx.subjects.insert_subject(
                    SubjectRow(
                        subject_id,
                        SubjectState.ACTIVE,
                        sealed_roles,
                        protected_identity,
                        now,
                        now,
                    )
                )
                for index, (identity, row) in enumerate(zip(canonical, identity_rows, strict=True)):
                    blind_indexes = self.sealing.blind_indexes(identity, fresh=True)
                    row = self.sealing.current_identity_row(subject_id, identity, row)
                    if identity_held(tx.subjects, blind_indexes) or not tx.subjects.insert_identity(
                        row
                    ):
                        raise IdentityInUse(
                            f"identities[{index}]: already belongs to a subject",
                            field=f"identities[{index}]",
                        )
                self.replay.remember(
                    tx, request_id, "create_subject", fingerprint, subject_id, subject_id
                )
                self.audit.written(tx.audit, event)
        except (IdentityInUse, Raced, AuditUnavailable) as failure:
            # The key made above protects nothing; destroy it rather than leave it.
            self.keys.destroy_subject(subject_id)
            if isinstance(failure, Raced):
                return self.create(actor, identities, roles, protected_identity, request_id)
            raise
        return self.view(actor, subject_id, "create_subject")

    def get(self, actor: Actor, subject_id: str) -> Subject:
        subject = self.view(actor, subject_id, "get_subject")
        self.audit.commit(self._read_event(actor, Operation.GET_SUBJECT, subject))
        return subject

    async def get_async(self, actor: Actor, subject_id: str) -> Subject:
        """`get` for an event loop: read on the loop (embedded stores answer at
        once), its event's commit awaited rather than waited out."""
        subject = self.view(actor, subject_id, "get_subject")
        await self.audit.commit_async(self._read_event(actor, Operation.GET_SUBJECT, subject))
        return subject

    def _read_event(
        self, actor: Actor, operation: Operation, subject: Subject, detail: str = ""
    ) -> AuditEvent:
        return self.audit.event(
            actor,
            operation,
            subject.subject_id,
            sensitive=subject.protected_identity,
            detail=detail,
        )

    def _answered_again(self, actor: Actor, operation: Operation, subject: Subject) -> Subject:
        """A retry answered from memory changes nothing, but is a call: its
        event is committed before the answer leaves."""
        self.audit.commit(self._read_event(actor, operation, subject, ANSWERED_AGAIN))
        return subject

    def view(self, actor: Actor, subject_id: str, action: str) -> Subject:
        """The subject as `actor` may see it (a protected identity masked, see
        `vault.core.access`), the access noted as `action` when it is sensitive."""
        row = readable_subject(self.store.subjects, subject_id)
        if row.protected_identity:
            self.notes.note(actor, subject_id, action)
        subject = Subject(
            subject_id=row.subject_id,
            identities=tuple(
                self.sealing.open_identity(row.subject_id, identity_row)
                for identity_row in self.store.subjects.identities(row.subject_id)
            ),
            roles=self.sealing.open_roles(row.subject_id, row.sealed_roles),
            protected_identity=row.protected_identity,
            state=SubjectState(row.state),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
        return access.shown_subject(actor, subject)

    def find(self, actor: Actor, identity: IdentityInput, field: str = "identity") -> Subject:
        subject = self.view(actor, self._holder(identity, field), "find_subject")
        event = self._read_event(
            actor, Operation.FIND_SUBJECT, subject, f"by {identity.kind.value}"
        )
        self.audit.commit(event)
        return subject

    async def find_async(
        self, actor: Actor, identity: IdentityInput, field: str = "identity"
    ) -> Subject:
        """`find` for an event loop, as `get_async` is `get`'s."""
        subject = self.view(actor, self._holder(identity, field), "find_subject")
        event = self._read_event(
            actor, Operation.FIND_SUBJECT, subject, f"by {identity.kind.value}"
        )
        await self.audit.commit_async(event)
        return subject

    def _holder(self, identity: IdentityInput, field: str) -> str:
        """The id of the subject holding `identity`, or SubjectNotFound."""
        canonical = self._canonical(identity, field)
        subject_id = identity_held(self.store.subjects, self.sealing.blind_indexes(canonical))
        if subject_id is None:
            # Another process may have re-indexed it a moment ago under a
            # version this process has not read yet.
            subject_id = identity_held(
                self.store.subjects, self.sealing.blind_indexes(canonical, fresh=True)
            )
        if subject_id is None:
            raise SubjectNotFound("no subject holds that identity")
        return subject_id

    def update(
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
            return self._answered_again(
                actor, Operation.UPDATE_SUBJECT, self.view(actor, subject_id, "update_subject")
            )
        changed = ", ".join(
            name
            for name, value in (("roles", roles), ("protected identity", protected_identity))
            if value is not None
        )
        sealed_roles = None
        if checked_roles is not None:
            # Validate existence before sealing: an unknown subject has no key.
            writable_subject(self.store.subjects, subject_id)
            sealed_roles = self.sealing.seal_roles(subject_id, checked_roles)
        try:
            with self.store.write() as tx:
                row = writable_subject(tx.subjects, subject_id)
                was_protected = row.protected_identity
                tx.subjects.update_subject(
                    subject_id,
                    row.sealed_roles if sealed_roles is None else sealed_roles,
                    row.protected_identity if protected_identity is None else protected_identity,
                    utc_now(self.clock),
                )
                self.replay.remember(
                    tx, request_id, "update_subject", fingerprint, subject_id, subject_id
                )
                # Sensitive when the flag is on before or after: taking it off
                # is an access to a protected identity too.
                event = self.audit.event(
                    actor,
                    Operation.UPDATE_SUBJECT,
                    subject_id,
                    sensitive=was_protected or bool(protected_identity),
                    detail=changed,
                )
                self.audit.written(tx.audit, event)
        except Raced:
            return self._answered_again(
                actor, Operation.UPDATE_SUBJECT, self.view(actor, subject_id, "update_subject")
            )
        subject = self.view(actor, subject_id, "update_subject")
        if was_protected and not subject.protected_identity:
            # The flag taken off is itself an access to a protected identity.
            self.notes.note(actor, subject_id, "update_subject")
        return subject

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
        # Before the subject is looked up: a refusal tells nothing of who is in the vault.
        for identity, field in ((old_canonical, "old_identity"), (new_canonical, "new_identity")):
            if identity is not None:
                access.check_identity_write(
                    actor, identity, field if old_canonical and new_canonical else "identity"
                )
        fingerprint = self.replay.fingerprint(
            request_id,
            "rectify",
            subject_id,
            old_canonical and old_canonical.index_text,
            new_canonical and new_canonical.index_text,
        )
        operation = (
            Operation.ADD_IDENTITY
            if old is None
            else Operation.REMOVE_IDENTITY
            if new is None
            else Operation.RECTIFY_IDENTITY
        )
        action = operation.name.lower()  # the access notes' word: add_identity
        if self.replay.replayed(request_id, "rectify_identity", fingerprint) is not None:
            return self._answered_again(actor, operation, self.view(actor, subject_id, action))
        kinds = kinds_of([i for i in (old_canonical, new_canonical) if i is not None])
        # Validate existence before sealing: an unknown subject has no key.
        writable_subject(self.store.subjects, subject_id)
        new_row = (
            None if new_canonical is None else self.sealing.identity_row(subject_id, new_canonical)
        )
        try:
            with self.store.write() as tx:
                subject_row = writable_subject(tx.subjects, subject_id)
                held = {row.blind_index for row in tx.subjects.identities(subject_id)}
                if old_canonical is not None:
                    field = "old_identity" if new else "identity"
                    # Under whichever live version its row is.
                    old_index = next(
                        (
                            i
                            for i in self.sealing.blind_indexes(old_canonical, fresh=True)
                            if i in held
                        ),
                        None,
                    )
                    if old_index is None:
                        raise InvalidArgument(field, "the subject does not hold this identity")
                    if new_row is None and len(held) == 1:
                        raise InvalidArgument(field, "a subject keeps at least one identity")
                    tx.subjects.delete_identity(old_index)
                if new_canonical is not None and new_row is not None:
                    blind_indexes = self.sealing.blind_indexes(new_canonical, fresh=True)
                    new_row = self.sealing.current_identity_row(subject_id, new_canonical, new_row)
                    if identity_held(tx.subjects, blind_indexes) or not tx.subjects.insert_identity(
                        new_row
                    ):
                        field = "new_identity" if old else "identity"
                        raise IdentityInUse(f"{field}: already belongs to a subject", field=field)
                tx.subjects.touch_subject(subject_id, utc_now(self.clock))
                self.replay.remember(
                    tx, request_id, "rectify_identity", fingerprint, subject_id, subject_id
                )
                event = self.audit.event(
                    actor,
                    operation,
                    subject_id,
                    sensitive=subject_row.protected_identity,
                    detail=kinds,
                )
                self.audit.written(tx.audit, event)
        except Raced:
            return self._answered_again(actor, operation, self.view(actor, subject_id, action))
        return self.view(actor, subject_id, action)

    def _canonical(self, identity: IdentityInput, field: str) -> Identity:
        return canonical_identity(
            identity.kind,
            identity.value,
            identity.system,
            today=self.clock.now().date(),
            field=field,
        )

    def _canonical_all(self, identities: list[IdentityInput], field: str) -> list[Identity]:
        return canonical_identities(identities, field, self.clock.now().date())


def kinds_of(identities: list[Identity]) -> str:
    """The kinds of `identities`, for an event's detail (never their values)."""
    return ", ".join(dict.fromkeys(identity.kind.value for identity in identities))


def identity_held(reads: SubjectReads, blind_indexes: list[str]) -> str | None:
    """The subject holding an identity, found by its blind index under each
    live version in turn (`Sealing.blind_indexes`); inside a write, so that no
    one registers it under another version meanwhile."""
    for blind_index in blind_indexes:
        subject_id = reads.subject_id_by_index(blind_index)
        if subject_id is not None:
            return subject_id
    return None


def canonical_identities(
    identities: list[IdentityInput], field: str, today: dt.date
) -> list[Identity]:
    """A person's identities in canonical form, none repeated; `field` names
    the list in an error (`identities`, `subjects[3].identities`)."""
    canonical = [
        canonical_identity(
            identity.kind, identity.value, identity.system, today=today, field=f"{field}[{i}]"
        )
        for i, identity in enumerate(identities)
    ]
    seen: set[str] = set()
    for index, identity in enumerate(canonical):
        if identity.index_text in seen:
            raise InvalidArgument(f"{field}[{index}]", "repeats an earlier identity")
        seen.add(identity.index_text)
    return canonical
