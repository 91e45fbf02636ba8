"""Request-id replay (AIP-155), the one mechanism every mutating call uses.

A call with a request id is remembered in the same transaction as its change,
with a keyed fingerprint of what it asked for: a retry answers as the first
call did, and the same id with another request is REQUEST_ID_REUSED.

Clients put names in request ids (`erase-anna`), so an id is never stored: a
request is remembered under a keyed hash of its id (HMAC under the index key of
the keyring's current version), with that version's number, and found again
under the id's hash for every live version, so a retry after a rotation still
finds it. The fingerprint is keyed the same way, under the same version,
because what it covers may be personal data. A request remembered under a
version since retired is never found again, as if it had been forgotten.
One gap: for the second after a rotation in which a process has not yet seen
the new keyring, two copies of one request racing in two processes could each
be remembered, one under each version (and applied twice); a retry finds one.

Requests are forgotten `remember_for` after they were remembered (the
maintenance pass deletes them); a retry after that is a new request, which
AIP-155 allows. Those of a subject also go when the subject is erased, but an
erasure's own, which are forgotten with time alone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from vault.core import rules
from vault.core.clock import Clock, utc_now
from vault.core.errors import RequestIdReused
from vault.keyring import Keyring, KeyringSource
from vault.storage.base import RecordStore, RememberedRequest, Transaction

# How long a request is remembered unless [requests] remember_for says
# otherwise. AIP-155 leaves the period to the service (Google's APIs promise at
# least an hour); 30 days covers a client that retries after a long outage and
# an import run again days later with the --request-id the CLI printed, and
# bounds how long a request's trace outlives its subject's erasure.
DEFAULT_REMEMBER_FOR = dt.timedelta(days=30)

# What a request id's hash is made of, so it never equals an identity's blind
# index made under the same key.
_HASHED_AS = "request-id\x1f"


class Raced(Exception):
    """Another copy of this call remembered the request id first: look again."""


@dataclass(frozen=True)
class Fingerprint:
    """What a request asked for, held in memory only: it is stored as a keyed
    hash under the version its request id is hashed under, so a retry after a
    rotation compares under the key the first call used."""

    text: str

    def under(self, index_key: bytes) -> str:
        if not self.text:
            return ""
        return hmac.new(index_key, self.text.encode(), hashlib.sha256).hexdigest()


# A request that is compared by other means (an erasure, by its subject).
NO_FINGERPRINT = Fingerprint("")


def request_hash(keyring: Keyring, request_id: str, version: int | None = None) -> str:
    """The request id's keyed hash under one version's index key (the current
    one unless named)."""
    key = keyring.index_key if version is None else keyring.index_key_of(version)
    return hmac.new(key, (_HASHED_AS + request_id).encode(), hashlib.sha256).hexdigest()


class Replay:
    def __init__(
        self,
        store: RecordStore,
        keyrings: KeyringSource,
        clock: Clock,
        remember_for: dt.timedelta = DEFAULT_REMEMBER_FOR,
    ) -> None:
        self.store = store
        self.keyrings = keyrings
        self.clock = clock
        self.remember_for = remember_for

    def fingerprint(self, request_id: str, *parts: Any) -> Fingerprint:
        """What a request asked for; computed only when there is a request id."""
        if not request_id:
            return Fingerprint("")
        return Fingerprint(json.dumps(parts, sort_keys=True, default=str))

    def lookup(self, request_id: str) -> RememberedRequest | None:
        """The request remembered under this id (a valid one), under any live version."""
        rules.request_id(request_id)
        ring = self.keyrings.current()
        return self.store.replay.remembered(
            [request_hash(ring, request_id, version) for version in ring.live_versions()]
        )

    def replayed(
        self, request_id: str, operation: str, fingerprint: Fingerprint
    ) -> RememberedRequest | None:
        """The first call's answer, if this request id was applied before."""
        if not request_id:
            return None
        remembered = self.lookup(request_id)
        if remembered is None:
            return None
        ring = self.keyrings.current()
        if remembered.key_version is None or not ring.has(remembered.key_version):
            return None  # its version was retired this very moment: forgotten
        if remembered.operation != operation or remembered.fingerprint != fingerprint.under(
            ring.index_key_of(remembered.key_version)
        ):
            raise RequestIdReused(request_id)
        return remembered

    def request(
        self,
        request_id: str,
        operation: str,
        fingerprint: Fingerprint,
        subject_id: str,
        result: str,
    ) -> RememberedRequest:
        """The request as it is remembered: its id and fingerprint hashed under
        the current version, dated now."""
        ring = self.keyrings.current()
        return RememberedRequest(
            request_hash(ring, request_id),
            ring.current_version,
            operation,
            fingerprint.under(ring.index_key),
            subject_id,
            result,
            utc_now(self.clock),
        )

    def remember(
        self,
        tx: Transaction,
        request_id: str,
        operation: str,
        fingerprint: Fingerprint,
        subject_id: str,
        result: str,
    ) -> None:
        """Inside the change's transaction; raises Raced if a copy got there first."""
        if request_id and not tx.replay.remember(
            self.request(request_id, operation, fingerprint, subject_id, result)
        ):
            raise Raced()

    def forget_expired(self, batch: int = 500) -> int:
        """Forget the requests remembered longer than `remember_for` ago, in
        batches; how many went."""
        before = utc_now(self.clock) - self.remember_for
        total = 0
        while True:
            forgotten = self.store.maintenance.forget_requests(before, batch)
            total += forgotten
            if forgotten < batch:
                return total
