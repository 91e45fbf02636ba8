"""Key destruction, told in three steps, because the keys live in a database of
their own and no transaction spans it and the audit log:

1. the intent (`destroy keys`) is stored with a note that it is open, naming
   the subject by the pseudonym computed while their key still exists;
2. the keys are destroyed;
3. the outcome (`keys destroyed`, under the same pseudonym) is stored and the
   note removed, in one transaction.

A crash between the steps leaves the note. `finish_interrupted`, run when the
vault starts, destroys the keys again (destroying is idempotent) and stores
the outcome, saying it finished after an interruption.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass

from vault.core import faults
from vault.core.actor import THE_VAULT, Actor
from vault.core.audit.events import AuditEvent, Operation
from vault.core.audit.store import AuditEntry, AuditQuery
from vault.core.audit.trail import AuditTrail, failing_closed
from vault.core.clock import utc_now

log = logging.getLogger("vault.audit")

# What the outcome of a destruction finished at start-up adds to its detail.
FINISHED_AFTER_INTERRUPTION = "finished by recovery after an interruption"

_EVERY_KEY = "every key of the subject"
_CATEGORY = re.compile(r"every key of category (?P<category>[a-z0-9_.]+)")
_PURPOSE = re.compile(
    r"the key of category (?P<category>[a-z0-9_.]+) for purpose (?P<purpose>[a-z0-9_]+)"
)


@dataclass(frozen=True)
class KeyScope:
    """Which of a subject's keys go: every one (the person is erased), every
    key of one category, or one purpose's key of a category.

    The intent's detail says it in words, and those words are all recovery
    has to go on (an open intent keeps only the subject id), so they are read
    back here, by the module that wrote them."""

    category: str = ""
    purpose: str = ""

    def words(self) -> str:
        if not self.category:
            return _EVERY_KEY
        if not self.purpose:
            return f"every key of category {self.category}"
        return f"the key of category {self.category} for purpose {self.purpose}"

    @classmethod
    def from_words(cls, detail: str) -> KeyScope | None:
        """The scope an intent's detail names (words after a ';' are a note), or None."""
        words = detail.partition(";")[0].strip()
        if words == _EVERY_KEY:
            return EVERY_KEY
        if match := _CATEGORY.fullmatch(words):
            return cls(match["category"])
        if match := _PURPOSE.fullmatch(words):
            return cls(match["category"], match["purpose"])
        return None


EVERY_KEY = KeyScope()


def destroy_keys(
    trail: AuditTrail,
    actor: Actor,
    subject_id: str,
    scope: KeyScope = EVERY_KEY,
    *,
    sensitive: bool = False,
    note: str = "",
) -> int:
    """Destroy the subject's keys of `scope` as `actor`, telling it as intent
    and outcome; how many keys went. If the intent cannot be stored
    (AuditUnavailable), no key is destroyed. `note` is added to both details."""
    suffix = f"; {note}" if note else ""
    intent = trail.event(
        actor,
        Operation.DESTROY_KEYS,
        subject_id,
        sensitive=sensitive,
        detail=scope.words() + suffix,
    )
    with failing_closed():
        row_id = trail.store.open_intent(AuditEntry.of(intent), subject_id)
    faults.crash_point("keys_destruction_intended")
    destroyed = _destroy(trail, subject_id, scope)
    faults.crash_point("keys_destroyed_untold")
    outcome = dataclasses.replace(
        intent,
        at=utc_now(trail.clock),
        operation=str(Operation.KEYS_DESTROYED),
        detail=f"{scope.words()}: {_keys(destroyed)} destroyed{suffix}",
    )
    with failing_closed():
        trail.store.close_intent(row_id, AuditEntry.of(outcome))
    return destroyed


def finish_interrupted(trail: AuditTrail) -> int:
    """Finish every destruction whose outcome a crash kept from being told: its
    keys destroyed (again, or for the first time) and its outcome stored, as
    the vault, under the intent's pseudonym. How many were finished."""
    finished = 0
    for row_id, subject_id in trail.store.open_intents():
        intent = _intent(trail, row_id)
        scope = KeyScope.from_words(intent.detail) if intent is not None else None
        if intent is None or scope is None:
            # Nothing says which keys were meant; destroying a guess could take a
            # person's whole record. Left open, for a person to look at.
            log.warning("audit intent %d names no keys this vault destroys; left open", row_id)
            continue
        destroyed = _destroy(trail, subject_id, scope)
        outcome = AuditEvent.of(
            THE_VAULT,
            Operation.KEYS_DESTROYED,
            utc_now(trail.clock),
            # The intent's pseudonym: the subject key that computes it may be gone.
            intent.subject,
            sensitive=intent.sensitive,
            detail=(
                f"{scope.words()}: {FINISHED_AFTER_INTERRUPTION}, "
                f"{_keys(destroyed)} left to destroy"
            ),
        )
        trail.store.close_intent(row_id, AuditEntry.of(outcome))
        finished += 1
    return finished


def _destroy(trail: AuditTrail, subject_id: str, scope: KeyScope) -> int:
    keys = trail.keys
    if not scope.category:
        return keys.destroy_subject(subject_id)
    if not scope.purpose:
        return keys.destroy_category(subject_id, scope.category)
    return int(keys.destroy_purpose(subject_id, scope.category, scope.purpose))


def _intent(trail: AuditTrail, row_id: int) -> AuditEvent | None:
    """The intent event stored at `row_id` (one indexed read: the first event after it)."""
    found = trail.store.query(AuditQuery(after_row=row_id - 1, limit=1))
    if not found or found[0].row_id != row_id:
        return None
    try:
        return AuditEvent.from_entry(found[0].entry)
    except ValueError:
        return None


def _keys(count: int) -> str:
    return f"{count} {'key' if count == 1 else 'keys'}"
