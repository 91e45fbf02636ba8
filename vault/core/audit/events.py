"""An audit event: who did what to whose data, when, and how it ended.

An event holds no personal data. A person is named by their audit pseudonym
(vault.core.audit.pseudonyms), never by a subject id, which integrators store
beside a name; record ids are left out for the same reason (a copy of the
records' database ties a record to its subject). What else an event says is
in words in `detail`: a category, a count, a connector's name.

`entry()` is the event as the log keeps it, and as its Merkle leaf hashes it
(after the leaf's index, vault.core.audit.log): canonical JSON, keys sorted,
no spaces, UTF-8, so the same event always has the same bytes.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from enum import StrEnum

from vault.core.actor import Actor
from vault.core.clock import iso

# The format's version, in every entry: a later release may add fields.
ENTRY_VERSION = 1
# An event's result when the operation succeeded; otherwise the error reason.
OK = "ok"


class Operation(StrEnum):
    """What an event says was done, in words an auditor reads. Every RPC has
    one; so do the vault's own acts (key destruction, connector calls)."""

    # subjects
    CREATE_SUBJECT = "create subject"
    IMPORT_SUBJECTS = "import subjects"
    GET_SUBJECT = "get subject"
    FIND_SUBJECT = "find subject"
    UPDATE_SUBJECT = "update subject"
    ADD_IDENTITY = "add identity"
    RECTIFY_IDENTITY = "rectify identity"
    REMOVE_IDENTITY = "remove identity"
    EXPORT_SUBJECT = "export subject"
    ERASE_SUBJECT = "erase subject"
    # records
    CREATE_RECORD = "create record"
    GET_RECORD = "get record"
    UPDATE_RECORD = "update record"
    LIST_RECORDS = "list records"
    STREAM_RECORDS = "stream records"
    COUNT_RECORDS = "count records"
    IMPORT_RECORDS = "import records"
    ERASE_CATEGORY = "erase category"
    # erasure requests
    GET_ERASURE_REQUEST = "get erasure request"
    LIST_ERASURE_REQUESTS = "list erasure requests"
    WATCH_ERASURE_REQUEST = "watch erasure request"
    RETRY_ERASURE_REQUEST = "retry erasure request"
    CONFIRM_MANUAL_ACTION = "confirm manual action"
    DECIDE_MATCH = "decide match"
    # connectors: the admin's views, and the vault's calls of a system
    LIST_CONNECTORS = "list connectors"
    CHECK_CONNECTOR = "check connector"
    CONNECTOR_CALL = "connector call"
    # tokens
    CREATE_TOKEN = "create token"
    LIST_TOKENS = "list tokens"
    REVOKE_TOKEN = "revoke token"
    # the audit trail's own readers
    LIST_AUDIT_EVENTS = "list audit events"
    GET_TREE_HEAD = "get tree head"
    GET_INCLUSION_PROOF = "get inclusion proof"
    GET_CONSISTENCY_PROOF = "get consistency proof"
    # consent and the policy it is given under
    RECORD_CONSENT = "record consent"
    GET_CONSENT_STATE = "get consent state"
    LIST_CONSENT_EVENTS = "list consent events"
    EXPORT_CONSENT_RECORDS = "export consent records"
    LIST_PURPOSES = "list purposes"
    PUBLISH_POLICY_VERSION = "publish policy version"
    LIST_POLICY_VERSIONS = "list policy versions"
    LIST_RECONSENT_NEEDED = "list re-consent needed"
    STREAM_RECONSENT_NEEDED = "stream re-consent needed"
    # consent in effect: restrictions, objections, who may be contacted, and
    # the erasure a withdrawal starts
    RECORD_RESTRICTION = "record restriction"
    RECORD_OBJECTION = "record objection"
    LIFT_PROCESSING_LIMIT = "lift processing limit"
    RECORD_OVERRIDING_GROUNDS = "record overriding grounds"
    STREAM_CONTACTABLE = "stream contactable"
    ERASE_FOR_PURPOSE = "erase for purpose"
    # keys: destruction is told as an intent and an outcome
    # (vault.core.audit.destruction), so a crash between them is told too
    DESTROY_KEYS = "destroy keys"
    KEYS_DESTROYED = "keys destroyed"
    ROTATE_KEYS = "rotate keys"
    RETIRE_KEYS = "retire keys"
    # a call the edge refused before it reached the vault (no token, a role
    # that may not make it, a rate exceeded) or that failed in the vault
    CALL_REFUSED = "call refused"
    CALL_FAILED = "call failed"


def counted(number: int, thing: str, plural: str = "") -> str:
    """ "1 record", "1,234 records", "2 matches", "3 identities": a count in
    an event's detail, or in any other sentence the core words. An irregular
    plural ("people") is given."""
    if number == 1:
        return f"1 {thing}"
    if not plural:
        if thing.endswith("y") and thing[-2:-1] not in "aeiou":
            plural = thing[:-1] + "ies"
        elif thing.endswith(("s", "ch", "sh", "x")):
            plural = thing + "es"
        else:
            plural = thing + "s"
    return f"{number:,} {plural}"


@dataclass(frozen=True)
class AuditEvent:
    at: dt.datetime
    actor: str
    role: str
    system: str
    operation: str
    # The subject's audit pseudonym, or "" when the event concerns no one.
    subject: str
    purpose: str = ""
    sensitive: bool = False
    result: str = OK
    detail: str = ""

    @classmethod
    def of(
        cls,
        actor: Actor,
        operation: str,
        at: dt.datetime,
        subject: str = "",
        *,
        purpose: str = "",
        sensitive: bool = False,
        result: str = OK,
        detail: str = "",
    ) -> AuditEvent:
        return cls(
            at=at.astimezone(dt.UTC),
            actor=actor.who,
            role=actor.role.value,
            system=actor.system,
            operation=str(operation),
            subject=subject,
            purpose=purpose,
            sensitive=sensitive,
            result=result,
            detail=detail,
        )

    def entry(self) -> bytes:
        """The event as the log keeps it (the module's docstring)."""
        return json.dumps(
            {
                "v": ENTRY_VERSION,
                "at": iso(self.at),
                "actor": self.actor,
                "role": self.role,
                "system": self.system,
                "operation": self.operation,
                "subject": self.subject,
                "purpose": self.purpose,
                "sensitive": self.sensitive,
                "result": self.result,
                "detail": self.detail,
            },
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode("utf-8")

    @classmethod
    def from_entry(cls, entry: bytes) -> AuditEvent:
        """The event an entry holds; ValueError if it is not one."""
        try:
            data = json.loads(entry.decode("utf-8"))
            return cls(
                at=dt.datetime.fromisoformat(data["at"]),
                actor=str(data["actor"]),
                role=str(data["role"]),
                system=str(data["system"]),
                operation=str(data["operation"]),
                subject=str(data["subject"]),
                purpose=str(data["purpose"]),
                sensitive=bool(data["sensitive"]),
                result=str(data["result"]),
                detail=str(data["detail"]),
            )
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"not an audit entry: {exc}") from exc
