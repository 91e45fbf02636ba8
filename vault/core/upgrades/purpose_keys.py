"""Data keys per (subject, category, purpose) from an earlier release's keys per
(subject, category), which the key migration moved across at purpose "",
marked `legacy` (wrapped with associated data that names no purpose).

Each legacy key of a record category is split by the purposes of the records
sealed under it:

- one purpose: the key is re-addressed to that purpose and re-wrapped with the
  new associated data; its records are not touched (a record's own associated
  data never named its key or purpose);
- several: the key is kept for the purpose with the most records (the first
  by name on a tie), and the records of each other purpose are sealed again
  under a fresh key of that purpose: re-encryption happens only here;
- none left: the key protects nothing and is destroyed.

The identities' key (of no purpose) is re-wrapped in place. A subject already
erased has its legacy keys destroyed, as its erasure wants.

Crashes and a second process running this at once: the legacy key is moved
(or destroyed) last, after every record of another purpose is sealed under its
own key, and only if a fresh count finds none left under it, so a run cut off
part-way leaves the key legacy for the next run to finish. Fresh keys are made
with `put_data_key`, which keeps the first writer's, so two runs seal into the
same key; a record sealed again twice holds the same data either way; the move
succeeds for one run only (`readdress_data_key` checks the old key is there),
and a run that finds a purpose's key with the legacy key's id (the other run
moved it after this one read it) stops there. The purpose kept is the same in every run: the other purposes' counts under
the legacy key only fall, and a purpose already given a key is never kept.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from vault.core.errors import SubjectErased
from vault.core.keys import DataKey
from vault.core.model import SubjectState
from vault.core.sealing import IDENTITY_CATEGORY
from vault.storage.base import DataKeyScope

if TYPE_CHECKING:
    from vault.core.upgrades import UpgradeContext

_log = logging.getLogger(__name__)

# Legacy scopes read a page at a time; records sealed again a page per transaction.
SCOPE_PAGE = 500
RECORD_PAGE = 200
# A line in the log every so many legacy keys, for vaults that take a while.
PROGRESS_EVERY = 10_000


def split_category_keys(context: UpgradeContext) -> int:
    """Every legacy key given its purpose (or split, or destroyed); how many
    keys were moved, made or destroyed. Nothing left: one indexed query."""
    changed = looked_at = resealed = 0
    after: DataKeyScope | None = None
    while scopes := context.keys.store.legacy_data_key_scopes(after, SCOPE_PAGE):
        for scope in scopes:
            keys, records = _split(context, scope)
            changed += keys
            resealed += records
            looked_at += 1
            if looked_at % PROGRESS_EVERY == 0:
                _log.info(
                    "upgrade purpose_keys: %s legacy keys done, %s records sealed again",
                    f"{looked_at:,}",
                    f"{resealed:,}",
                )
        after = scopes[-1]
    if looked_at:
        _log.info(
            "upgrade purpose_keys: %s legacy keys done (%s keys changed), "
            "%s records sealed again under keys of their purposes",
            f"{looked_at:,}",
            f"{changed:,}",
            f"{resealed:,}",
        )
    return changed


def _split(context: UpgradeContext, scope: DataKeyScope) -> tuple[int, int]:
    """(keys changed, records sealed again) for one legacy key."""
    keys = context.keys
    subject_id, category = scope.subject_id, scope.category
    state = context.records.subjects.subject_state(subject_id)
    try:
        legacy = keys.legacy_data_key(scope)
    except SubjectErased:
        return 0, 0  # its subject key is gone, and its data keys with it
    if legacy is None:
        return 0, 0  # another process moved it
    if state is SubjectState.ERASED:
        # An erasure a crash interrupted: its keys go anyway (`recover`).
        return int(keys.destroy_purpose(subject_id, category, scope.purpose)), 0
    if category == IDENTITY_CATEGORY:
        return int(keys.readdress_legacy_key(scope, scope, legacy)), 0

    counts = context.records.records.purpose_counts(subject_id, category, legacy.key_id)
    if not counts:
        return int(keys.destroy_purpose(subject_id, category, scope.purpose)), 0
    their_keys = {
        purpose: keys.store.data_key(DataKeyScope(subject_id, category, purpose))
        for purpose in counts
    }
    if any(key is not None and key.key_id == legacy.key_id for key in their_keys.values()):
        return 0, 0  # another process moved it since we read it
    keyed = {purpose for purpose, key in their_keys.items() if key is not None}
    unkeyed = sorted(set(counts) - keyed)
    kept = max(unkeyed, key=lambda purpose: counts[purpose]) if unkeyed else None
    changed = resealed = 0
    for purpose in sorted(counts):
        if purpose == kept:
            continue
        changed += purpose not in keyed
        into = keys.data_key(subject_id, category, purpose, create=True)
        if into.key_id == legacy.key_id:
            return changed, resealed  # moved there by another process meanwhile
        resealed += _reseal(context, legacy, scope, purpose, into)
    # Last, and only once no record of another purpose is left under the key:
    # a run cut off before this leaves it for the next.
    left = context.records.records.purpose_counts(subject_id, category, legacy.key_id)
    if set(left) - {kept}:
        return changed, resealed
    if kept is None:
        changed += keys.destroy_purpose(subject_id, category, scope.purpose)
    else:
        changed += keys.readdress_legacy_key(
            scope, DataKeyScope(subject_id, category, kept), legacy
        )
    return changed, resealed


def _reseal(
    context: UpgradeContext, legacy: DataKey, scope: DataKeyScope, purpose: str, into: DataKey
) -> int:
    """Seal the records of `purpose` still under the legacy key again under
    `into`, a page per transaction; how many."""
    resealed = 0
    after = 0
    while True:
        with context.records.write() as tx:
            rows = tx.records.records_page(scope.subject_id, scope.category, after, RECORD_PAGE)
            for row in rows:
                if row.purpose == purpose and row.key_id == legacy.key_id:
                    tx.records.update_record(context.sealing.resealed(row, legacy, into))
                    resealed += 1
        if len(rows) < RECORD_PAGE:
            return resealed
        after = rows[-1].seq
