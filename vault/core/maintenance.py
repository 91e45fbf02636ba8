"""The vault's own upkeep: finishing erasures a crash interrupted, purging an
erased subject's leftover ciphertext, forgetting request ids remembered longer
than the configured time, and scrubbing deleted bytes from the files.

None of it is asked for by a caller; the runtime's workers run it as the vault.
"""

from __future__ import annotations

import threading

from vault.core.actor import THE_VAULT
from vault.core.audit.destruction import (
    FINISHED_AFTER_INTERRUPTION,
    destroy_keys,
    finish_interrupted,
)
from vault.core.audit.trail import AuditTrail
from vault.core.keys import KeyManager
from vault.core.model import SubjectState
from vault.core.replay import Replay
from vault.storage.base import RecordStore


class Maintenance:
    def __init__(
        self,
        store: RecordStore,
        keys: KeyManager,
        replay: Replay,
        scrub_due: threading.Event,
        audit: AuditTrail,
    ) -> None:
        self.store = store
        self.keys = keys
        self.replay = replay
        self.audit = audit
        # Set (by an erasure or a purge) when deleted bytes wait to be scrubbed.
        self.scrub_due = scrub_due

    def recover(self) -> int:
        """Finish what a crash interrupted: key destructions whose outcome was not
        told, and erased subjects whose keys remain. How many were finished."""
        # Open intents first (one query, empty when nothing crashed): their
        # keys go and their outcome is told, so the loop below finds their
        # subjects' keys gone and tells nothing twice.
        finished = finish_interrupted(self.audit)
        # Every erased subject, through the store's index on state, and not only
        # those still due for the purge: another process may have purged one
        # whose keys a crash left. At start only, so its cost (a key read per
        # erased subject) falls on no erasure.
        for subject_id in self.store.subjects.subject_ids_in_state(SubjectState.ERASED):
            if self.keys.store.subject_key(subject_id) is not None:
                # Marked erased, then a crash before the intent was stored.
                destroy_keys(self.audit, THE_VAULT, subject_id, note=FINISHED_AFTER_INTERRUPTION)
                finished += 1
        # Both stores, at once, rather than at the next pass: a key store need
        # not scrub as it destroys keys.
        if finished and not (self.store.maintenance.scrub() and self.keys.store.scrub()):
            self.scrub_due.set()
        return finished

    def purge_erased(self, batch: int = 500) -> int:
        """Delete leftover ciphertext of erased subjects (already unreadable) in batches."""
        total = 0
        while True:
            deleted = self.store.maintenance.purge_records(SubjectState.ERASED, batch)
            total += deleted
            if deleted < batch:
                break
        if total:
            self.scrub_due.set()
        return total

    def maintain(self) -> None:
        """One maintenance pass: purge leftovers of erasures, forget old request
        ids, then make deleted bytes physically gone from both stores' files."""
        self.purge_erased()
        # Only keyed hashes go: nothing here for the scrub to wake for.
        self.replay.forget_expired()
        if self.scrub_due.is_set():
            self.scrub_due.clear()
            if not (self.store.maintenance.scrub() and self.keys.store.scrub()):
                self.scrub_due.set()  # a reader held the WAL; try again next pass
