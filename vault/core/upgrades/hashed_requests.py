"""Request ids an earlier release remembered in the clear, replaced by their
keyed hash under the keyring's current version and dated now, so they are
forgotten the configured time from the upgrade (an earlier release kept no
date). The scrub then takes the old ids out of the files (`Vault.upgrade`
wakes it).

The rows left to do are found through a partial index of those without a key
version, empty once done, so an upgraded vault's check at every opening is one
cheap query. Each row is replaced only while it is still in the clear, so two
processes upgrading at once change it once, and a crash part-way leaves the
rest for the next opening. Their fingerprints were made under the then current
index key, and are kept as they are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vault.core.clock import utc_now
from vault.core.replay import request_hash

if TYPE_CHECKING:
    from vault.core.upgrades import UpgradeContext

BATCH = 500


def hash_requests_in_clear(context: UpgradeContext) -> int:
    changed = 0
    while True:
        batch = context.records.replay.requests_in_clear(BATCH)
        if not batch:
            return changed
        ring = context.replay.keyrings.current()
        now = utc_now(context.replay.clock)
        with context.records.write() as tx:
            stored = sum(
                tx.replay.hash_request_in_clear(
                    row.request_hash,  # the id itself, as the earlier release kept it
                    request_hash(ring, row.request_hash),
                    ring.current_version,
                    now,
                )
                for row in batch
            )
        # A row not replaced was replaced by another process: it is not read again.
        changed += stored
