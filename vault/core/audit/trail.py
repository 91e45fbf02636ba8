"""The audit trail as the core writes it: one event per operation, which
fails closed.

- A change writes its event in its own transaction (`written`), or, for the
  grouped record append, with the record (`NewRecord.audit`): both commit or
  neither does.
- A read commits its event (`commit`, `commit_async`) before the data leaves
  the vault; concurrent commits share one group commit. If the event cannot
  be written the read raises AuditUnavailable and answers nothing.
- A call the edge refused, or that failed, is told by the edge with an event
  of its own (`CALL_REFUSED`, `CALL_FAILED`): nothing happened but the call.

Each operation module is given the trail and says what its operation was; the
trail turns a subject id into its audit pseudonym, never storing the id.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from vault.core.actor import Actor
from vault.core.audit.events import OK, AuditEvent
from vault.core.audit.pseudonyms import pseudonym
from vault.core.audit.store import AuditEntry, AuditStore, AuditWrites
from vault.core.clock import Clock, utc_now
from vault.core.errors import AuditUnavailable, NotFound, SubjectErased
from vault.core.keys import KeyManager


class AuditTrail:
    def __init__(self, store: AuditStore, keys: KeyManager, clock: Clock) -> None:
        self.store = store
        self.keys = keys
        self.clock = clock

    def pseudonym_of(self, subject_id: str) -> str:
        """The subject's audit pseudonym; "" once their key is destroyed (or
        for an id that names no one), so an event about an erased person
        names no one."""
        if not subject_id:
            return ""
        try:
            return pseudonym(self.keys.subject_key(subject_id), subject_id)
        except (SubjectErased, NotFound):
            return ""

    def event(
        self,
        actor: Actor,
        operation: str,
        subject_id: str = "",
        *,
        purpose: str = "",
        sensitive: bool = False,
        result: str = OK,
        detail: str = "",
    ) -> AuditEvent:
        """The event of `actor`'s `operation` now, its subject named by pseudonym."""
        return AuditEvent.of(
            actor,
            operation,
            utc_now(self.clock),
            self.pseudonym_of(subject_id),
            purpose=purpose,
            sensitive=sensitive,
            result=result,
            detail=detail,
        )

    # --------------------------------------------------------------- writes
    def written(self, log: AuditWrites, *events: AuditEvent) -> None:
        """Append the events to the log of a change's transaction (`tx.audit`):
        they commit with it, and if they cannot be written the change is not done."""
        with failing_closed():
            log.append([AuditEntry.of(event) for event in events])

    def commit(self, *events: AuditEvent) -> None:
        """Write the events durably before going on (a read's, before its answer)."""
        with failing_closed():
            self.store.append([AuditEntry.of(event) for event in events])

    async def commit_async(self, *events: AuditEvent) -> None:
        """`commit` for a caller on an event loop."""
        with failing_closed():
            await self.store.append_async([AuditEntry.of(event) for event in events])


@contextmanager
def failing_closed() -> Iterator[None]:
    """Whatever stops an event being written is AuditUnavailable to the caller:
    the engine's own error, or any other (a full disk, a lost connection)."""
    try:
        yield
    except AuditUnavailable:
        raise
    except Exception as exc:
        raise AuditUnavailable() from exc
