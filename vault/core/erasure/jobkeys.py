"""An erasure job's own key: what the job needs that is personal data is sealed under it.

The person's own keys are destroyed at once (the vault step), so the
identifiers the other systems are searched by, the references they found and
the instructions for manual actions live under a key of the job's own, wrapped
by the KEK, destroyed when the job completes.
"""

from __future__ import annotations

from vault import crypto
from vault.connectors.base import NeedsAttention
from vault.core.vault import Vault


class JobKeys:
    def __init__(self, vault: Vault) -> None:
        self.vault = vault

    def create(self, request_id: str) -> bytes:
        return self.vault.keys.create_job_key(request_id)

    def key(self, request_id: str) -> bytes:
        key = self.vault.keys.job_key(request_id)
        if key is None:
            raise NeedsAttention("the job's key is gone; the identifiers cannot be read any more")
        return key

    def destroy(self, request_id: str) -> None:
        self.vault.keys.destroy_job_key(request_id)

    def seal(self, request_id: str, data: bytes, *context: str) -> bytes:
        """`context` is the associated data: what the bytes are, and whose."""
        return crypto.seal(self.key(request_id), data, crypto.associated_data(*context))

    def unseal(self, request_id: str, sealed: bytes, *context: str) -> bytes:
        return crypto.unseal(self.key(request_id), sealed, crypto.associated_data(*context))
