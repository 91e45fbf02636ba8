"""Erasing a subject from the vault itself: the subject marked erased with a
receipt, its identities and roles gone, then its keys destroyed, so every
sealed row of the person is unreadable wherever a copy of it lies.

(The erasure of a person everywhere, across connectors, is `vault.core.erasure`;
its vault step calls this.)
"""

from __future__ import annotations

import datetime as dt
import json
import threading

from vault.core.actor import Actor
from vault.core.audit.destruction import destroy_keys
from vault.core.audit.events import Operation
from vault.core.audit.trail import AuditTrail
from vault.core.clock import Clock, iso
from vault.core.errors import SubjectNotFound
from vault.core.keys import KeyManager
from vault.core.model import ErasureReceipt, SubjectState
from vault.core.replay import Raced, Replay
from vault.core.sealing import IDENTITY_CATEGORY
from vault.storage.base import RecordStore

# Request ids of erasures outlive the subject, so a retried erasure finds its answer.
ERASURE_OPERATIONS = ("erase_subject", "erase_everywhere")


class Shredding:
    def __init__(
        self,
        store: RecordStore,
        keys: KeyManager,
        replay: Replay,
        clock: Clock,
        scrub_due: threading.Event,
        audit: AuditTrail,
    ) -> None:
        self.store = store
        self.keys = keys
        self.replay = replay
        self.clock = clock
        self.scrub_due = scrub_due
        self.audit = audit

    def erase_subject(self, actor: Actor, subject_id: str, request_id: str = "") -> ErasureReceipt:
        """Destroy the subject's keys. Erasing an erased subject returns its receipt."""
        fingerprint = self.replay.fingerprint(request_id, "erase", subject_id)
        replayed = self.replay.replayed(request_id, "erase_subject", fingerprint)
        if replayed is not None:
            self._destroy_keys_left(actor, subject_id)
            self._answered_again(actor, subject_id)
            return receipt_from_json(replayed.result)
        row = self.store.subjects.subject(subject_id)
        if row is None:
            raise SubjectNotFound(f"subject {subject_id} does not exist", subject=subject_id)
        if row.state is SubjectState.ERASED:
            self._destroy_keys_left(actor, subject_id)
            stored = self.store.receipts.erasure_receipt(subject_id)
            assert stored is not None
            self._answered_again(actor, subject_id)
            return receipt_from_json(stored)

        categories = tuple(c for c in self.keys.categories(subject_id) if c != IDENTITY_CATEGORY)
        records_total = self.store.records.count_records(subject_id)
        erased_at = self.clock.now()
        try:
            with self.store.write() as tx:
                current = tx.subjects.subject(subject_id)
                if current is None or current.state is SubjectState.ERASED:
                    raise Raced()
                receipt = ErasureReceipt(
                    subject_id=subject_id,
                    erased_at=erased_at,
                    categories=categories,
                    keys_destroyed=len(self.keys.scopes(subject_id)) + 1,
                    records_shredded=records_total,
                    identities_removed=tx.subjects.delete_identities(subject_id),
                )
                receipt_json = receipt_to_json(receipt)
                sensitive = current.protected_identity
                # Made while the subject key, which the pseudonym is derived
                # from, still exists.
                erased = self.audit.event(
                    actor,
                    Operation.ERASE_SUBJECT,
                    subject_id,
                    sensitive=sensitive,
                    detail=(
                        f"marked erased; identities removed: {receipt.identities_removed}, "
                        f"keys to destroy: {receipt.keys_destroyed}, "
                        f"records they make unreadable: {receipt.records_shredded}"
                    ),
                )
                self.audit.written(tx.audit, erased)
                # Roles go with the person: an erased subject keeps only its id and state.
                tx.subjects.update_subject(subject_id, None, False, erased_at)
                tx.subjects.set_subject_state(subject_id, SubjectState.ERASED, erased_at)
                tx.receipts.save_erasure_receipt(subject_id, receipt_json, erased_at)
                # Their consent history goes with them; the audit trail keeps,
                # by pseudonym, that consent was given or withdrawn and when.
                tx.consents.delete_subject(subject_id)
                # Earlier requests' fingerprints are keyed hashes of this
                # person's data: they go with the person.
                tx.replay.forget_requests_of(subject_id, keep=ERASURE_OPERATIONS)
                self.replay.remember(
                    tx, request_id, "erase_subject", fingerprint, subject_id, receipt_json
                )
        except Raced:
            # Another erasure of the subject committed first: answer with its receipt.
            return self.erase_subject(actor, subject_id, request_id)
        # The subject is marked erased first, then its keys go: a crash between
        # the two is finished by `Maintenance.recover()`, and reads stop at the
        # mark. Both stores are scrubbed in the next maintenance pass, which this
        # wakes (a key store may also scrub its key bytes as it destroys them).
        destroy_keys(self.audit, actor, subject_id, sensitive=sensitive)
        self.scrub_due.set()
        return receipt

    def _destroy_keys_left(self, actor: Actor, subject_id: str) -> None:
        """An erasure answered again (a retried step, a retried call) finishes what
        the first left undone: if destroying the keys failed after the mark
        committed (a crash, a lost connection), the receipt must not be
        answered while they are still there."""
        if self.keys.store.subject_key(subject_id) is not None:
            destroy_keys(self.audit, actor, subject_id, note="keys an earlier attempt left")
            self.scrub_due.set()

    def _answered_again(self, actor: Actor, subject_id: str) -> None:
        """An erasure asked for again changes nothing, but is a call all the same:
        its event is committed before the receipt is answered."""
        self.audit.commit(
            self.audit.event(
                actor,
                Operation.ERASE_SUBJECT,
                subject_id,
                detail="already erased: answered with the erasure's receipt",
            )
        )


def receipt_to_json(receipt: ErasureReceipt) -> str:
    return json.dumps(
        {
            "subject": receipt.subject_id,
            "at": iso(receipt.erased_at),
            "categories": list(receipt.categories),
            "keys": receipt.keys_destroyed,
            "records": receipt.records_shredded,
            "identities": receipt.identities_removed,
        }
    )


def receipt_from_json(text: str) -> ErasureReceipt:
    data = json.loads(text)
    return ErasureReceipt(
        data["subject"],
        dt.datetime.fromisoformat(data["at"]),
        tuple(data["categories"]),
        data["keys"],
        data["records"],
        data["identities"],
    )
