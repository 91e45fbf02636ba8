"""Upgrades that need the keys: what a schema migration cannot do, because only
the vault can open what it sealed (roles an earlier version kept in clear, a
data key an earlier version shared between a category's purposes).

A schema migration runs SQL alone and never sees a key; these run in the vault
after it, at opening, before any call is served, until nothing is left. Each
step is a function of its own module here, idempotent, and written so that a
crash part-way is finished by the next opening. Steps run in the order of
`STEPS`, which is append-only like the migrations.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from vault.core.keys import KeyManager
from vault.core.replay import Replay
from vault.core.sealing import Sealing
from vault.core.upgrades import hashed_requests, purpose_keys, sealed_roles
from vault.storage.base import RecordStore

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UpgradeContext:
    """What a step may use: the stores through the core's own objects."""

    records: RecordStore
    keys: KeyManager
    sealing: Sealing
    replay: Replay


# A step returns how many items it changed (0 when nothing was left to do).
Step = Callable[[UpgradeContext], int]

# (name, step), in the order they run; a name is its line in the log.
STEPS: list[tuple[str, Step]] = [
    ("purpose_keys", purpose_keys.split_category_keys),
    ("sealed_roles", sealed_roles.seal_clear_roles),
    ("hashed_requests", hashed_requests.hash_requests_in_clear),
]


def run(context: UpgradeContext) -> dict[str, int]:
    """Every step, in order; what each changed, for those that changed anything."""
    done: dict[str, int] = {}
    for name, step in STEPS:
        changed = step(context)
        if changed:
            _log.info("upgrade %s: %s changed", name, f"{changed:,}")
            done[name] = changed
    return done
