"""The erasure as a kind of request for the step engine: one step per system."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vault.connectors.base import ConnectorUnavailable, NeedsAttention
from vault.core.erasure import outcomes
from vault.core.erasure.jobkeys import JobKeys
from vault.core.erasure.model import ErasureSettings
from vault.core.erasure.systems import SystemStep, read_identities, read_protected_identity
from vault.core.identities import Identity
from vault.core.steps import StepReport, StoredRequest, StoredStep
from vault.core.vault import Vault


class ErasureSteps:
    """What each step of an erasure does: its system's erase, reported."""

    def __init__(self, vault: Vault, keys: JobKeys, settings: ErasureSettings) -> None:
        self.vault = vault
        self.keys = keys
        self.settings = settings
        self.systems: dict[str, SystemStep] = {}

    def perform(self, step: StoredStep, request: StoredRequest) -> StepReport:
        system = self.systems.get(step.name)
        if system is None:
            raise NeedsAttention(
                f"connector {step.name} is not enabled any more; enable it and retry"
            )
        reported = system.erase(step, request)
        return outcomes.report(
            request.request_id,
            step.name,
            reported,
            self.keys,
            self.settings.time_zone,
            self.vault.clock.now(),
        )

    def needs_person(self, error: Exception) -> bool:
        return isinstance(error, NeedsAttention)

    def expected(self, error: Exception) -> bool:
        return isinstance(error, ConnectorUnavailable | NeedsAttention)

    def retried(self, step: StoredStep) -> tuple[bytes | None, Mapping[str, Any]]:
        # A conflict nobody decided is looked at afresh: whoever retries may
        # have corrected the record in the system. A decided one stands.
        if step.details.get("conflict") and not step.details.get("decision"):
            details = {k: v for k, v in step.details.items() if k not in ("conflict", "notes")}
            return None, details
        return step.sealed, step.details

    def completed(self, request: StoredRequest) -> None:
        # The job is over: its identifiers and instructions become unreadable,
        # and the record store is scrubbed of what the erasure left.
        self.keys.destroy(request.request_id)
        self.vault.scrub_due.set()

    def identities(self, request: StoredRequest) -> list[Identity]:
        return read_identities(self._payload(request))

    def protected_identity(self, request: StoredRequest) -> bool:
        """Was the job's person a protected identity? (Their calls are sensitive.)"""
        return read_protected_identity(self._payload(request))

    def _payload(self, request: StoredRequest) -> bytes:
        if request.sealed_payload is None:
            raise NeedsAttention("the job's identifiers were already destroyed")
        return self.keys.unseal(
            request.request_id,
            request.sealed_payload,
            "job-identities",
            request.request_id,
        )
