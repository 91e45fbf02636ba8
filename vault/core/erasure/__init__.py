"""Erasing a person everywhere: one durable request of the step engine, one step per system.

- `coordinator`: the request's intake, a person's decisions (retry, confirm, same person), views;
- `intake`, `withdrawal`: an erasure of what is held for one purpose, which a
  withdrawal of consent starts: its intake, and what each of its steps does;
- `kind`: what each step does, for the step engine;
- `systems`: the vault's own step and a connector's step;
- `outcomes`: what a system reported, checked and kept;
- `views`, `model`, `jobkeys`: what readers see, the names, the job's own key.
"""

from vault.core.erasure.coordinator import ErasureCoordinator
from vault.core.erasure.model import (
    KIND,
    PURPOSE_KIND,
    VAULT_SYSTEM,
    AlreadyConfirmed,
    AlreadyRemoved,
    ErasureRequestNotFound,
    ErasureRequestView,
    ErasureSettings,
    ErasureStepNotFound,
    ManualActionNotFound,
    MatchConflict,
    MatchDecision,
    NoMatch,
    NothingToDecide,
    NothingToRetry,
    OutcomeView,
    Scope,
    StepView,
    one_month_after,
)
from vault.core.steps import RequestState, StepState

__all__ = [
    "KIND",
    "PURPOSE_KIND",
    "VAULT_SYSTEM",
    "AlreadyConfirmed",
    "AlreadyRemoved",
    "ErasureCoordinator",
    "ErasureRequestNotFound",
    "ErasureRequestView",
    "ErasureSettings",
    "ErasureStepNotFound",
    "ManualActionNotFound",
    "MatchConflict",
    "MatchDecision",
    "NoMatch",
    "NothingToDecide",
    "NothingToRetry",
    "OutcomeView",
    "RequestState",
    "Scope",
    "StepState",
    "StepView",
    "one_month_after",
]
