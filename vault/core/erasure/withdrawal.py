"""What each step of an erasure for one purpose does, after a withdrawal of consent.

The request is an erasure of its own kind (PURPOSE_KIND), run by the step
engine as an erasure is, with these systems: the vault's own step shreds the
purpose's keys; a connector that declares `Capability.WITHDRAW_CONSENT` is
told the purpose and its categories for it, and reports as an erasure step
does; one that does not declare it gets a manual action for a person, with
instructions, and its step succeeds with that action pending. Every step's
details name the purpose and when the consent was withdrawn (no personal
data), so a step and the request's readers know them after the job's secrets go.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Mapping
from typing import Any

from vault.connectors import Capability
from vault.connectors.base import (
    Connector,
    ConnectorUnavailable,
    Holdings,
    ManualAction,
    NeedsAttention,
    Outcome,
    Removed,
)
from vault.core import faults
from vault.core.actor import THE_VAULT
from vault.core.audit.events import Operation, counted
from vault.core.audit.trail import AuditTrail
from vault.core.connector_calls import CallTold
from vault.core.erasure import outcomes
from vault.core.erasure.model import AlreadyRemoved
from vault.core.erasure.systems import ConnectorStep
from vault.core.errors import ErasurePending, SubjectErased
from vault.core.identities import Identity
from vault.core.steps import StoredRequest, StoredStep
from vault.core.vault import Vault
from vault.storage.base import RecordStore

# What every step of the kind keeps in its details.
PURPOSE = "purpose"
WITHDRAWN_AT = "withdrawn_at"
# The vault step's: the categories the person had a key of the purpose for
# when the request was accepted (a re-run shreds them even once gone).
CATEGORIES = "categories"
# A manual step's: the vault has audited the manual actions it asked.
ASKED = "manual_actions_asked"


def purpose_of(step: StoredStep) -> str:
    purpose = step.details.get(PURPOSE)
    if not isinstance(purpose, str) or not purpose:
        raise NeedsAttention("the step does not name the purpose whose consent was withdrawn")
    return purpose


def categories_for(holdings: Holdings, purpose: str) -> list[str]:
    """The categories a system declares it holds for `purpose`."""
    return [held.category for held in holdings.categories if held.purpose == purpose]


def tells(connector: Connector) -> bool:
    """Is the connector told of a withdrawal? Its declaration alone says."""
    return Capability.WITHDRAW_CONSENT in connector.capabilities


class PurposeVaultStep:
    """The vault's own step: the person's keys of the purpose go, their other keys stay."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault

    def erase(self, step: StoredStep, request: StoredRequest) -> list[outcomes.Reported]:
        purpose = purpose_of(step)
        try:
            # The step runs as the vault itself, whoever withdrew; each
            # category's shredding is remembered under the job's id, so a
            # re-run reports what the first run did.
            erased = self.vault.shred_for_purpose(
                THE_VAULT,
                request.subject_id,
                purpose,
                step.details.get(CATEGORIES, ()),
                request_id=f"withdrawal:{request.request_id}",
            )
        except (SubjectErased, ErasurePending):
            return [
                AlreadyRemoved(
                    f"the person was erased since: their keys, those for {purpose} "
                    "with them, are gone or going"
                )
            ]
        faults.crash_point("purpose_keys_destroyed")
        return [
            Removed(
                erasure.category,
                f"{counted(erasure.records_shredded, 'record')} held for {purpose} made "
                "unreadable: their key was destroyed; the category's other purposes' stay",
            )
            for erasure in erased
        ]


class WithdrawalConnectorStep(ConnectorStep):
    """A connector that declares the capability: found as an erasure finds the
    person (matches examined, references sealed), then told of the withdrawal."""

    def _act(
        self,
        step: StoredStep,
        identities: list[Identity],
        today: dt.date,
        references: list[str],
        call: CallTold,
    ) -> object:
        purpose = purpose_of(step)
        categories = categories_for(self.holdings, purpose)
        withdraw = self.connector.withdraw_consent
        asked = (
            f"withdraw consent for {purpose} ({', '.join(categories)}): "
            f"{counted(len(references), 'reference')}"
        )
        return call(
            asked,
            lambda: self._call(
                withdraw, identities, purpose, categories, today, references=references
            ),
            "outcome",
        )

    def _checked(self, step: StoredStep, result: object) -> list[Outcome]:
        checked = outcomes.checked(self.holdings, result)
        purpose = purpose_of(step)
        told = set(categories_for(self.holdings, purpose))
        for index, outcome in enumerate(checked):
            if outcome.category not in told:
                raise NeedsAttention(
                    f"outcome {index} names category {outcome.category!r}, which the "
                    f"connector does not hold for {purpose}"
                )
        return checked


class ManualWithdrawalStep:
    """A connector that does not declare the capability: a person is asked to act
    in the system, category by category, and to confirm it in the vault."""

    def __init__(
        self,
        holdings: Holdings,
        identities: Callable[[StoredRequest], list[Identity]],
        time_zone: str,
        audit: AuditTrail,
        protected_identity: Callable[[StoredRequest], bool],
        store: RecordStore,
        owner: str,
    ) -> None:
        self.holdings = holdings
        self.identities = identities
        self.time_zone = time_zone
        self.audit = audit
        self.protected_identity = protected_identity
        self.store = store
        self.owner = owner

    def erase(self, step: StoredStep, request: StoredRequest) -> list[outcomes.Reported]:
        purpose = purpose_of(step)
        on = self._day(step.details)
        who = _found_by(self.holdings, self.identities(request))
        system = self.holdings.system
        actions: list[outcomes.Reported] = []
        for category in categories_for(self.holdings, purpose):
            held = self.holdings.category(category)
            assert held is not None  # named by the holdings themselves
            actions.append(
                ManualAction(
                    category,
                    f"what {system} holds in {category} for {purpose}",
                    f"The person withdrew their consent for {purpose} on {on}. "
                    f"{system} ({self.holdings.description}) holds {category} for that "
                    f"purpose: {held.description}. Its connector is not told of "
                    f"withdrawals, so it is done by hand: in {system}, find the person "
                    f"by {who}, and erase what is held about them in {category} (or stop "
                    f"its use for {purpose}); leave what is held for other purposes. "
                    "Then confirm this action in the vault.",
                )
            )
        if not step.details.get(ASKED):
            self._told(step, request, purpose, len(actions))
        return actions

    def _told(self, step: StoredStep, request: StoredRequest, purpose: str, asked: int) -> None:
        """No connector call tells the system, so the vault says what it asked
        instead: once, however often the step runs (its details remember it,
        in the event's own transaction)."""
        event = self.audit.event(
            THE_VAULT,
            Operation.ERASE_FOR_PURPOSE,
            request.subject_id,
            purpose=purpose,
            sensitive=self.protected_identity(request),
            detail=(
                f"{self.holdings.system} is not told of withdrawals: "
                f"{counted(asked, 'manual action')} asked of a person"
            ),
        )
        with self.store.write() as tx:
            if not tx.steps.keep_step_state(
                step.request_id,
                step.name,
                step.lease_owner or self.owner,
                step.sealed,
                {**step.details, ASKED: True},
            ):
                raise ConnectorUnavailable("another worker took this step over")
            self.audit.written(tx.audit, event)

    def _day(self, details: Mapping[str, Any]) -> str:
        """The day the person withdrew, in the controller's time zone."""
        at = details.get(WITHDRAWN_AT)
        if not isinstance(at, str):
            return "a day the request does not say"
        moment = dt.datetime.fromisoformat(at).astimezone(zoneinfo.ZoneInfo(self.time_zone))
        return moment.date().isoformat()


def _found_by(holdings: Holdings, identities: list[Identity]) -> str:
    """The person's identities of the kinds the system finds people by (all of
    them when it does not say), in words."""
    kinds = set(holdings.identified_by)
    shown = [i for i in identities if not kinds or i.kind in kinds] or identities
    if not shown:
        return "the identities the vault no longer holds"
    return "; ".join(
        f"{i.kind.value.replace('_', ' ')}{f' ({i.system})' if i.system else ''} {i.value}"
        for i in shown
    )
