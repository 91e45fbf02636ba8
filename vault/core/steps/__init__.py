"""One durable step engine for every kind of request that runs as steps.

An erasure is one kind (vault.core.erasure); consent-withdrawal notices,
retention sweeps and rights requests are meant to be others, each with its own
step kinds, never a second copy of this machinery.
"""

from vault.core.steps.engine import StepEngine, StepKind, StepReport, describe
from vault.core.steps.model import (
    OPEN,
    RESTING,
    WAITING,
    EngineSettings,
    RequestState,
    StepState,
    StoredAction,
    StoredRequest,
    StoredStep,
)
from vault.core.steps.store import StepReads, StepStore, StepWrites

__all__ = [
    "OPEN",
    "RESTING",
    "WAITING",
    "EngineSettings",
    "RequestState",
    "StepEngine",
    "StepKind",
    "StepReads",
    "StepReport",
    "StepState",
    "StepStore",
    "StepWrites",
    "StoredAction",
    "StoredRequest",
    "StoredStep",
    "describe",
]
