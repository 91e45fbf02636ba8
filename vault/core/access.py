"""What a permitted caller may see and write of the data: an integrator's own
system and purposes, a protected identity masked, and every access to a
protected identity noted as sensitive.

The edge decides which calls a role may make (vault.server.permissions); the
rules here need the data itself, so the core applies them, and applies them
whatever the edge's table says.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from vault.core.actor import Actor, Role
from vault.core.errors import NotYourSystem, PurposeNotAllowed, RoleNotAllowed
from vault.core.identities import Identity, IdentityKind
from vault.core.model import Content, Record, RecordDraft, Subject

if TYPE_CHECKING:  # the erasure package imports the vault, which imports this
    from vault.core.erasure.model import ErasureRequestView

log = logging.getLogger("vault.access")

# How many sensitive accesses the default notes keep in memory.
KEPT_NOTES = 1_000
# What stands for free text about a protected identity (shown_erasure_request).
WITHHELD = "(withheld: the person's identity is protected)"


# ------------------------------------------------------- an integrator
def check_record_write(actor: Actor, draft: RecordDraft, field: str) -> None:
    """An integrator writes only its own system's records, for the purposes its
    system is configured for; `field` names the record (`record`,
    `records[3].record`)."""
    if actor.role is not Role.INTEGRATOR:
        return
    if draft.source_system != actor.system:
        raise NotYourSystem(f"{field}.source_system", actor.system)
    if draft.purpose not in actor.purposes:
        raise PurposeNotAllowed(f"{field}.purpose", actor.system, draft.purpose)


def check_identity_write(
    actor: Actor, identity: Identity, field: str, *, registering: bool = False
) -> None:
    """An integrator changes who someone is only by its own system's id for
    them: to a subject already in the vault it adds an external id of its own
    system and nothing else. Registering a new person (`registering`) it gives
    what it knows of them, an e-mail or a personnummer as well; an external id
    even then only its own. `field` names the identity (`identity`,
    `identities[1]`)."""
    if actor.role is not Role.INTEGRATOR:
        return
    system = actor.system
    if identity.kind is IdentityKind.EXTERNAL_ID and identity.system != system:
        raise NotYourSystem(
            f"{field}.system",
            system,
            f"an integrator for {system} gives only external ids of its own system, {system}",
        )
    if identity.kind is not IdentityKind.EXTERNAL_ID and not registering:
        raise NotYourSystem(
            f"{field}.kind",
            system,
            f"an integrator for {system} adds to a subject only its own external id "
            f"(IDENTITY_KIND_EXTERNAL_ID, system {system}); the privacy officer adds any other",
        )


def sees_system(actor: Actor, source_system: str) -> bool:
    """May the actor read records `source_system` wrote? An integrator reads
    its own system's alone; a record of another system does not exist for it."""
    return actor.role is not Role.INTEGRATOR or source_system == actor.system


def check_whole_person(actor: Actor, method: str) -> None:
    """Exports and erasures reach every system with the person's identifiers:
    only for a caller who may see who a protected identity is. The edge's
    table allows them to the privacy officer alone; the core does not mask
    them, it refuses."""
    if not actor.sees_protected:
        raise RoleNotAllowed(actor.role.value, method)


# ---------------------------------------------------- protected identity
def shown_subject(actor: Actor, subject: Subject) -> Subject:
    """The subject as the actor may see it: a protected identity masked (its
    identities' kinds and systems kept, their values emptied, no roles) for
    every role that may not see who it is."""
    if not subject.protected_identity or actor.sees_protected:
        return subject
    return dataclasses.replace(
        subject,
        identities=tuple(Identity(i.kind, "", i.system) for i in subject.identities),
        roles=(),
        masked=True,
    )


def shown_record(actor: Actor, record: Record, protected_identity: bool) -> Record:
    """The record as the actor may see it: a protected identity's record masked
    (no fields, content without bytes) for every role that may not see who it
    is, except an integrator reading what its own system wrote."""
    if (
        not protected_identity
        or actor.sees_protected
        or (actor.role is Role.INTEGRATOR and record.source_system == actor.system)
    ):
        return record
    content = record.content
    return dataclasses.replace(
        record,
        fields={},
        # The file name may name the person; the media type does not.
        content=None if content is None else Content(b"", content.media_type),
        masked=True,
    )


def shown_erasure_request(actor: Actor, view: ErasureRequestView) -> ErasureRequestView:
    """A protected identity's erasure request as the actor may see it: what was
    done, system by system, its free text withheld unless the actor may see
    who this is. A manual action's instructions are written for a person and
    may name a profile page; a connector writes the descriptions, errors and
    notes, and may quote what its system holds of the person in any of them.
    The vault's own step is the vault's words, kept."""
    from vault.core.erasure.model import VAULT_SYSTEM  # see the import above

    if actor.sees_protected:
        return view
    return dataclasses.replace(
        view,
        steps=tuple(
            step
            if step.system == VAULT_SYSTEM
            else dataclasses.replace(
                step,
                last_error=withheld(step.last_error),
                notes=tuple(withheld(note) for note in step.notes),
                outcomes=tuple(
                    dataclasses.replace(
                        outcome,
                        description=withheld(outcome.description),
                        instructions=withheld(outcome.instructions),
                    )
                    for outcome in step.outcomes
                ),
            )
            for step in view.steps
        ),
    )


def withheld(text: str) -> str:
    """Free text about a protected identity, for whoever may not see who it
    is: nothing of it, but words saying there was some (empty stays empty)."""
    return WITHHELD if text else ""


# ------------------------------------------------------ sensitive access
@dataclass(frozen=True)
class SensitiveAccess:
    """One read or write of a protected identity: who, in which role, did
    what to which subject (an id, never personal data)."""

    who: str
    role: Role
    subject_id: str
    action: str


class AccessNotes(Protocol):
    """Where the core notes every access to a protected identity, by anyone
    (the privacy officer included). The audit trail implements it; the
    default (`LoggedAccessNotes`) logs."""

    def note(self, actor: Actor, subject_id: str, action: str) -> None:
        """Called after the access was allowed; `action` is the operation's
        name (`get_subject`, `list_records`)."""
        ...


class LoggedAccessNotes:
    """One line on the `vault.access` logger per sensitive access, and the
    latest ones kept in memory (bounded) for whoever asks, tests included."""

    def __init__(self, keep: int = KEPT_NOTES) -> None:
        self._recent: collections.deque[SensitiveAccess] = collections.deque(maxlen=keep)
        self._lock = threading.Lock()

    def note(self, actor: Actor, subject_id: str, action: str) -> None:
        with self._lock:
            self._recent.append(SensitiveAccess(actor.who, actor.role, subject_id, action))
        log.info(
            "sensitive access: %s (%s) %s subjects/%s",
            actor.who,
            actor.role.value,
            action,
            subject_id,
        )

    @property
    def recent(self) -> list[SensitiveAccess]:
        """The latest sensitive accesses, oldest first."""
        with self._lock:
            return list(self._recent)
