"""Request-id replay (AIP-155), the one mechanism every mutating call uses.

A call with a request id is remembered in the same transaction as its change,
with a keyed fingerprint of what it asked for: a retry answers as the first
call did, and the same id with another request is REQUEST_ID_REUSED. The
fingerprint is keyed (HMAC under the blind-index key) because what it covers
may be personal data, and the remembered rows go with the subject.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from vault.core import rules
from vault.core.errors import RequestIdReused
from vault.keyring import KeyringSource
from vault.storage.base import RecordStore, RememberedRequest, Transaction


class Fingerprint(str):
    """A fingerprint under the current version; `also` the same under the other
    live versions, so a retry across a rotation is still known for itself."""

    also: tuple[str, ...] = ()


class Raced(Exception):
    """Another copy of this call remembered the request id first: look again."""


class Replay:
    def __init__(self, store: RecordStore, keyrings: KeyringSource) -> None:
        self.store = store
        self.keyrings = keyrings

    def fingerprint(self, request_id: str, *parts: Any) -> str:
        """What a request asked for; computed only when there is a request id,
        under the current version's index key (and, in `Fingerprint.also`, the
        other live versions', which a request remembered before a rotation has)."""
        if not request_id:
            return ""
        text = json.dumps(parts, sort_keys=True, default=str).encode()
        ring = self.keyrings.current()
        digests = [
            hmac.new(ring.index_key_of(v), text, hashlib.sha256).hexdigest()
            for v in ring.live_versions()
        ]
        fingerprint = Fingerprint(digests[0])
        fingerprint.also = tuple(digests[1:])
        return fingerprint

    def replayed(
        self, request_id: str, operation: str, fingerprint: str
    ) -> RememberedRequest | None:
        """The first call's answer, if this request id was applied before."""
        if not request_id:
            return None
        rules.request_id(request_id)
        remembered = self.store.replay.remembered(request_id)
        if remembered is None:
            return None
        if remembered.operation != operation or (
            remembered.fingerprint != fingerprint
            and remembered.fingerprint not in getattr(fingerprint, "also", ())
        ):
            raise RequestIdReused(request_id)
        return remembered

    def remember(
        self,
        tx: Transaction,
        request_id: str,
        operation: str,
        fingerprint: str,
        subject_id: str,
        result: str,
    ) -> None:
        """Inside the change's transaction; raises Raced if a copy got there first."""
        if request_id and not tx.replay.remember(
            RememberedRequest(request_id, operation, fingerprint, subject_id, result)
        ):
            raise Raced()
