"""The host handle plugins receive: what the vault offers them, and nothing of its internals."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class VaultHost:
    """Passed to every hook. Grows by new attributes, never by changed ones."""

    version: str
    today: Callable[[], dt.date] = field(default=lambda: dt.datetime.now(dt.UTC).date())
