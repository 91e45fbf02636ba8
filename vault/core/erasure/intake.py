"""The durable intake of withdrawals: each one an erasure request of what is held for its purpose.

The consent history hands a withdrawal over inside the consent event's
transaction (vault.core.consent.withdrawal); here it becomes a request of the
step engine, committed with the event: the vault's own step first, then one
step per enabled connector whose holdings rest on the purpose. The person's
identities are sealed under a key of the job's own, as for an erasure, and the
key is destroyed when the request completes. After the commit the vault's own
step is tried at once, before the consent call answers; the answer names the
request, not the step done: a step that fails there is retried like any other,
one a worker (of this server or another) claimed first is that worker's, and a
crash in between leaves it pending for the next worker. The person stays active.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from vault.connectors.base import Holdings
from vault.core import faults
from vault.core.actor import THE_VAULT, Actor
from vault.core.audit.events import Operation, counted
from vault.core.clock import iso
from vault.core.consent.withdrawal import Withdrawal, held_for
from vault.core.erasure.jobkeys import JobKeys
from vault.core.erasure.jobs import new_request
from vault.core.erasure.model import PURPOSE_KIND, VAULT_SYSTEM
from vault.core.erasure.withdrawal import CATEGORIES, PURPOSE, WITHDRAWN_AT, categories_for
from vault.core.steps import StepEngine, StepState
from vault.core.vault import Vault
from vault.storage.base import Transaction


class DurableWithdrawals:
    """A `WithdrawalIntake` over the step engine (the erasure coordinator's)."""

    def __init__(
        self,
        vault: Vault,
        engine: StepEngine,
        keys: JobKeys,
        holdings: Mapping[str, Holdings],
    ) -> None:
        self.vault = vault
        self.engine = engine
        self.keys = keys
        # The enabled connectors' holdings: who holds what for which purpose.
        self.holdings = dict(holdings)

    def systems(self, purpose: str) -> list[str]:
        """The vault, then each enabled system that holds something for `purpose`."""
        holders = sorted(name for name, h in self.holdings.items() if categories_for(h, purpose))
        return [VAULT_SYSTEM, *holders]

    def submit(self, tx: Transaction, actor: Actor, withdrawal: Withdrawal) -> str:
        subject_id, purpose = withdrawal.subject_id, withdrawal.purpose
        # The job's own copy of whom to look for, read as the vault reads it.
        person = self.vault.subjects.view(THE_VAULT, subject_id, "withdraw_consent")
        now = self.vault.clock.now()
        request = new_request(self.keys, PURPOSE_KIND, person, actor, now)
        job_id = request.request_id
        systems = self.systems(purpose)
        self.engine.submit(tx.steps, request, systems)
        details = {PURPOSE: purpose, WITHDRAWN_AT: iso(withdrawal.at)}
        held = held_for(self.vault.keys.scopes(subject_id), purpose)
        for name in systems:
            kept = {**details, CATEGORIES: held} if name == VAULT_SYSTEM else details
            tx.steps.set_step(job_id, name, StepState.PENDING, 0, now, None, kept, now)
        self.vault.audit.written(
            tx.audit,
            self.vault.audit.event(
                actor,
                Operation.ERASE_FOR_PURPOSE,
                subject_id,
                purpose=purpose,
                sensitive=withdrawal.protected_identity,
                detail=(
                    f"consent {withdrawal.status.value}: what is held for {purpose} to be "
                    f"erased in {counted(len(systems), 'system')}: " + ", ".join(systems)
                ),
            ),
        )
        return job_id

    def started(self, request_ids: Sequence[str]) -> None:
        if not request_ids:
            return
        faults.crash_point("withdrawal_committed")
        # The vault's own part at once, before the consent call answers: the
        # engine records a failure on the step for its workers to retry, and
        # leaves alone a step another worker claimed first.
        for request_id in request_ids:
            self.engine.run_step(request_id, VAULT_SYSTEM)
        self.engine.accepted()

    def abandoned(self, request_ids: Sequence[str]) -> None:
        # Nothing was committed: the jobs' keys protect nothing.
        for request_id in request_ids:
            self.keys.destroy(request_id)
