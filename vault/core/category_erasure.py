"""Erasing one category of a subject's records, or one purpose of it, by
crypto-shredding: the keys of (subject, category, purpose) are destroyed
first, told as intent and outcome (vault.core.audit.destruction), then the
records go in one transaction. The subject's other categories, and with a
purpose the category's other purposes, stay readable. A withdrawal of
consent erases this way, one purpose at a time.
"""

from __future__ import annotations

import datetime as dt
import json
import threading

from vault.core import rules
from vault.core.access import AccessNotes
from vault.core.actor import Actor
from vault.core.audit.destruction import KeyScope, destroy_keys
from vault.core.audit.events import Operation, counted
from vault.core.audit.trail import AuditTrail
from vault.core.clock import Clock, iso
from vault.core.keys import KeyManager
from vault.core.model import CategoryErasure
from vault.core.replay import Raced, Replay
from vault.core.subjects import ANSWERED_AGAIN, writable_subject
from vault.storage.base import RecordStore


class CategoryErasures:
    def __init__(
        self,
        store: RecordStore,
        keys: KeyManager,
        replay: Replay,
        clock: Clock,
        scrub_due: threading.Event,
        notes: AccessNotes,
        audit: AuditTrail,
    ) -> None:
        self.store = store
        self.keys = keys
        self.replay = replay
        self.clock = clock
        self.scrub_due = scrub_due
        self.notes = notes
        self.audit = audit

    def erase(
        self,
        actor: Actor,
        subject_id: str,
        category: str,
        request_id: str = "",
        purpose: str | None = None,
    ) -> CategoryErasure:
        """Crypto-shred the subject's records of `category`: every purpose's key
        and records, or with `purpose` that purpose's alone (the category's
        others stay readable; consent withdrawal erases this way). A category or
        purpose the subject has nothing of is answered as erased, with nothing
        destroyed: there is nothing left to read."""
        rules.category(category)
        if purpose is not None:
            rules.purpose(purpose)
        # A call without a purpose keeps the fingerprint it had before purposes,
        # so a retry of a call an earlier release answered is still the same call.
        scope = (subject_id, category) if purpose is None else (subject_id, category, purpose)
        fingerprint = self.replay.fingerprint(request_id, "erase_category", *scope)
        replayed = self.replay.replayed(request_id, "erase_category", fingerprint)
        scope_words = category if purpose is not None else f"{category}, every purpose"
        if replayed is not None:
            data = json.loads(replayed.result)
            state = self.store.subjects.subject(subject_id)
            self.audit.commit(
                self.audit.event(
                    actor,
                    Operation.ERASE_CATEGORY,
                    subject_id,
                    purpose=purpose or "",
                    sensitive=state is not None and state.protected_identity,
                    detail=f"{scope_words}; {ANSWERED_AGAIN}",
                )
            )
            return CategoryErasure(
                subject_id,
                category,
                data["records"],
                dt.datetime.fromisoformat(data["at"]),
                tuple(data.get("purposes", ())),
                # An earlier release destroyed the category's one key, if any.
                data.get("keys", 1 if data["records"] else 0),
            )
        protected = writable_subject(self.store.subjects, subject_id).protected_identity
        if protected:
            self.notes.note(actor, subject_id, "erase_category")
        erased_at = self.clock.now()
        # The keys go first: once they are gone the records are unreadable, and
        # a crash before the transaction below leaves only ciphertext that a
        # retry (or the same call again) deletes. Destroying is idempotent, and
        # told as intent and outcome (vault.core.audit.destruction): no key
        # goes unless the intent is stored.
        purposes = (
            (purpose,)
            if purpose is not None
            else tuple(
                sorted(s.purpose for s in self.keys.scopes(subject_id) if s.category == category)
            )
        )
        keys = destroy_keys(
            self.audit, actor, subject_id, KeyScope(category, purpose or ""), sensitive=protected
        )
        try:
            with self.store.write() as tx:
                count = tx.records.delete_category_records(subject_id, category, purpose)
                tx.subjects.touch_subject(subject_id, erased_at)
                result = json.dumps(
                    {
                        "records": count,
                        "at": iso(erased_at),
                        "purposes": list(purposes),
                        "keys": keys,
                    }
                )
                self.replay.remember(
                    tx, request_id, "erase_category", fingerprint, subject_id, result
                )
                event = self.audit.event(
                    actor,
                    Operation.ERASE_CATEGORY,
                    subject_id,
                    purpose=purpose or "",
                    sensitive=protected,
                    detail=f"{scope_words}: {counted(count, 'record')} deleted",
                )
                self.audit.written(tx.audit, event)
        except Raced:
            # A concurrent copy of this call committed first: answer as it did
            # (or, were it a different request under the same id, say so).
            return self.erase(actor, subject_id, category, request_id, purpose)
        self.scrub_due.set()
        return CategoryErasure(subject_id, category, count, erased_at, purposes, keys)
