"""Telling the audit trail of each call the vault makes of a connector for a
person (match, export, erase): which connector, what was asked, what came
back, counted, or how it failed. An erasure's steps and the export
everywhere call connectors through it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vault.core.actor import Actor
from vault.core.audit.events import OK, Operation, counted
from vault.core.audit.trail import AuditTrail
from vault.core.identities import Identity


class CallTold:
    """Calls of one connector for one person, each told by an event of its own
    once it has answered: what was asked, and what came back or how it failed
    (the failure's kind only: a connector's message may carry what it was sent).

    The event follows the call, for it tells the answer. If it cannot be
    written the call's caller fails (AuditUnavailable) and nothing it returned
    is used or shown; an erasure step is then run again, and its calls with it."""

    def __init__(
        self, audit: AuditTrail, actor: Actor, connector: str, subject_id: str, sensitive: bool
    ) -> None:
        self.audit = audit
        self.actor = actor
        self.connector = connector
        self.subject_id = subject_id
        self.sensitive = sensitive

    def __call__(self, asked: str, call: Callable[[], Any], item: str) -> Any:
        """`call()`'s answer, told as `asked` and how many `item`s came back."""
        try:
            answer = call()
        except Exception as error:
            self._tell(asked, "", type(error).__name__)
            raise
        self._tell(asked, answered(answer, item), OK)
        return answer

    def _tell(self, asked: str, answer: str, result: str) -> None:
        detail = f"{self.connector}: {asked}" + (f": {answer}" if answer else "")
        event = self.audit.event(
            self.actor,
            Operation.CONNECTOR_CALL,
            self.subject_id,
            sensitive=self.sensitive,
            result=result,
            detail=detail,
        )
        self.audit.commit(event)


def answered(answer: object, item: str) -> str:
    """What a connector answered, counted ("2 matches"): never the answer itself."""
    if isinstance(answer, list):
        return counted(len(answer), item)
    return f"a {type(answer).__name__}, not a list"


def kinds_asked(identities: list[Identity]) -> str:
    """The kinds of identity a connector was sent, in words ("email, phone")."""
    return ", ".join(sorted({i.kind.value for i in identities})) or "no identity"
