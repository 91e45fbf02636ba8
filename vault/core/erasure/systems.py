"""What one erasure step does in one system: the vault's own, or a connector's.

Each system's step is an object with one method, so the vault's own step is
run like any other system's: the erasure kind looks the step's system up and
calls it. Every call of a connector is told in the audit trail, as the
vault's (vault.core.connector_calls).
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import zoneinfo
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from vault.connectors.base import (
    Connector,
    ConnectorUnavailable,
    Holdings,
    Match,
    NeedsAttention,
    Outcome,
    Removed,
    Retained,
    takes_references,
)
from vault.core import faults, matching
from vault.core.actor import THE_VAULT
from vault.core.audit.events import counted
from vault.core.audit.trail import AuditTrail
from vault.core.connector_calls import CallTold, kinds_asked
from vault.core.erasure import outcomes
from vault.core.erasure.jobkeys import JobKeys
from vault.core.erasure.model import (
    AlreadyRemoved,
    ErasureSettings,
    MatchConflict,
    MatchDecision,
    NoMatch,
)
from vault.core.identities import Identity, IdentityKind
from vault.core.steps import StepStore, StoredRequest, StoredStep
from vault.core.vault import Vault


class SystemStep(Protocol):
    def erase(self, step: StoredStep, request: StoredRequest) -> list[outcomes.Reported]:
        """Erase the person in this system; a re-run must report as the first run did."""
        ...


class VaultStep:
    """The vault's own step: the person's keys go, their ciphertext is unreadable."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault

    def erase(self, step: StoredStep, request: StoredRequest) -> list[outcomes.Reported]:
        # The step runs as the vault itself, whoever asked for the erasure.
        receipt = self.vault.erase_subject(THE_VAULT, request.subject_id)
        faults.crash_point("vault_keys_destroyed")
        count = receipt.identities_removed
        return [
            *(
                Removed(category, "records made unreadable: their key was destroyed")
                for category in receipt.categories
            ),
            Removed(
                "identity",
                f"{count} {'identity' if count == 1 else 'identities'} removed from the lookup index",
            ),
        ]


class ConnectorStep:
    """A connector's step: match, examine, seal what was found, then erase exactly that.

    At the first attempt the connector is asked which records the person's
    identities lead to; the matches are examined for records that may be
    someone else's (a conflict waits for a privacy officer's decision), and
    the references are sealed in the step, so every later attempt erases the
    records the first one found, even once their identifiers are blanked.
    """

    def __init__(
        self,
        connector: Connector,
        holdings: Holdings,
        store: StepStore,
        keys: JobKeys,
        settings: ErasureSettings,
        identities: Callable[[StoredRequest], list[Identity]],
        clock_now: Callable[[], Any],
        owner: str,
        audit: AuditTrail,
        protected_identity: Callable[[StoredRequest], bool],
    ) -> None:
        self.connector = connector
        self.holdings = holdings
        self.store = store
        self.keys = keys
        self.settings = settings
        self.identities = identities
        self.now = clock_now
        self.owner = owner
        self.audit = audit
        self.protected_identity = protected_identity
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=4, thread_name_prefix=f"connector-{connector.name}"
        )

    def erase(self, step: StoredStep, request: StoredRequest) -> list[outcomes.Reported]:
        identities = self.identities(request)
        call = CallTold(
            self.audit,
            THE_VAULT,
            self.connector.name,
            request.subject_id,
            self.protected_identity(request),
        )
        references = self._references(step, identities, call)
        if step.details.get("conflict") and step.details.get("decision") != (
            MatchDecision.SAME_PERSON
        ):
            raise conflict(step.details)
        today = self.now().astimezone(zoneinfo.ZoneInfo(self.settings.time_zone)).date()
        result = self._act(step, identities, today, references, call)
        faults.crash_point("connector_erased")
        reported: list[outcomes.Reported] = [*self._checked(step, result)]
        if not references and not any(isinstance(o, Removed | Retained) for o in reported):
            tried = matching.tried_kinds(self.holdings, identities)
            reported.insert(
                0, NoMatch(tried, matching.no_match_text(self.holdings, identities, tried))
            )
        elif not reported:
            # A re-run after an attempt that erased everything but was not recorded.
            reported.append(AlreadyRemoved())
        return reported

    def _act(
        self,
        step: StoredStep,
        identities: list[Identity],
        today: dt.date,
        references: list[str],
        call: CallTold,
    ) -> object:
        """Ask the system to erase the records found (a withdrawal's step asks
        for what is held for one purpose instead: vault.core.erasure.withdrawal)."""
        erase = self.connector.erase
        asked = f"erase {counted(len(references), 'reference')}"
        if takes_references(erase):
            return call(
                asked,
                lambda: self._call(erase, identities, today, references=references),
                "outcome",
            )
        # A connector written before erase() took references.
        return call(asked, lambda: self._call(erase, identities, today), "outcome")

    def _checked(self, step: StoredStep, result: object) -> list[Outcome]:
        return outcomes.checked(self.holdings, result)

    def _references(
        self, step: StoredStep, identities: list[Identity], call: CallTold
    ) -> list[str]:
        """The system's own references to the person: found at the step's first attempt,
        examined for conflicts and sealed in the step; read back on every later attempt."""
        context = ("job-references", step.request_id, step.name)
        if step.sealed is not None:
            return list(json.loads(self.keys.unseal(step.request_id, step.sealed, *context)))
        asked = f"match by {kinds_asked(identities)}"
        matches = checked_matches(
            call(asked, lambda: self._call(self.connector.match, identities), "match")
        )
        report = matching.examine(step.name, identities, matches)
        references = list(dict.fromkeys(m.reference for m in matches))
        sealed = self.keys.seal(step.request_id, json.dumps(references).encode(), *context)
        details: dict[str, Any] = dict(step.details)
        details.pop("conflict", None)
        details.pop("notes", None)
        if report.conflicts:
            details["conflict"] = {
                "texts": list(report.conflicts),
                "kinds": [k.value for k in report.conflict_kinds],
            }
        if report.notes:
            details["notes"] = list(report.notes)
        with self.store.write() as tx:
            kept = tx.keep_step_state(
                step.request_id, step.name, step.lease_owner or self.owner, sealed, details
            )
        if not kept:
            raise ConnectorUnavailable("another worker took this step over")
        faults.crash_point("matches_sealed")
        if report.conflicts and details.get("decision") != MatchDecision.SAME_PERSON:
            raise MatchConflict(conflict_text(report.conflicts))
        return references

    def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call the connector on this system's pool, under the step's deadline."""
        future = self._pool.submit(method, *args, **kwargs)
        try:
            return future.result(timeout=self.settings.call_timeout_seconds)
        except concurrent.futures.TimeoutError:
            raise ConnectorUnavailable(
                f"no answer within {self.settings.call_timeout_seconds:g} s"
            ) from None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def checked_matches(result: object) -> list[Match]:
    if not isinstance(result, list) or not all(
        isinstance(m, Match) and isinstance(m.reference, str) and m.reference for m in result
    ):
        raise NeedsAttention("connector's match() did not return a list of Match with references")
    return result


def conflict_text(conflicts: list[str] | tuple[str, ...]) -> str:
    return (
        "identities disagree: "
        + "; ".join(conflicts)
        + ". Nothing was erased here; a privacy officer decides whether it is the same person"
    )


def conflict(details: Mapping[str, Any]) -> MatchConflict:
    return MatchConflict(conflict_text(details.get("conflict", {}).get("texts", [])))


def sealed_identities(
    identities: tuple[Identity, ...] | list[Identity], protected_identity: bool = False
) -> bytes:
    """The job's payload: the person's identities and, sealed with them rather
    than in the clear, whether they have a protected identity (the erasure
    blanks the subject's own flag at once; the request's readers still need it
    while the job runs)."""
    identities_json = [[i.kind.value, i.system, i.value] for i in identities]
    if not protected_identity:
        return json.dumps(identities_json).encode()
    return json.dumps({"identities": identities_json, "protected_identity": True}).encode()


def read_identities(raw: bytes) -> list[Identity]:
    payload = json.loads(raw)
    if isinstance(payload, dict):
        payload = payload["identities"]
    return [Identity(IdentityKind(kind), value, system) for kind, system, value in payload]


def read_protected_identity(raw: bytes) -> bool:
    """Was the job's person a protected identity? (A job sealed before this
    was kept, or for anyone else, holds the identities alone.)"""
    payload = json.loads(raw)
    return isinstance(payload, dict) and payload.get("protected_identity") is True
