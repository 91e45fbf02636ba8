"""Audit pseudonyms: how an audit event names a person.

A pseudonym is a keyed hash of the subject id under the subject's audit key,
and the audit key is derived (HKDF-SHA256) from the subject's own key. So:

- while the person exists, the vault computes their pseudonym again and an
  auditor can find their events;
- no one holding the log, or the log and the records' database, can compute
  it: the subject key lives in the key database, wrapped under the KEK;
- once the person is erased their subject key is destroyed, and with it the
  audit key: the log still verifies, but nothing ties an entry back to them,
  not even the subject id an integrator kept.

16 bytes (32 hex digits) keep pseudonyms of different people apart in any
log the vault will hold, and short enough to read in a table.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"consent-vault audit pseudonym v1"
PSEUDONYM_BYTES = 16


def audit_key(subject_key: bytes) -> bytes:
    """The subject's audit key, derived from their subject key."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(subject_key)


def pseudonym(subject_key: bytes, subject_id: str) -> str:
    """The subject's audit pseudonym, in hex."""
    digest = hmac.new(audit_key(subject_key), subject_id.encode("utf-8"), hashlib.sha256)
    return digest.digest()[:PSEUDONYM_BYTES].hex()
