"""The vault's cryptography, built on `cryptography`'s AES-256-GCM.

Key hierarchy: a versioned key-encryption key (KEK, kept outside the databases
in the keyring, `vault.keyring`) wraps one random key per subject; each subject
key wraps one random data key per (subject, category, purpose); data keys
encrypt record fields. Every ciphertext's
associated data names exactly where it belongs, so a blob copied to another
row, subject, category or field fails to decrypt.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
# First byte of every sealed blob; also bound into the associated data, so a
# future format can never be mistaken for this one.
FORMAT_VERSION = 1


class CryptoError(Exception):
    """What this module raises. It knows no caller: the layer that calls it
    decides what its own caller is told (the server's error table answers
    DATA_LOSS for a tampered blob, the CLI prints a keyring's one line)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TamperedError(CryptoError):
    """A sealed blob failed authentication: changed, truncated, or moved to a
    place its associated data does not name."""


class KeyringError(CryptoError):
    """The keyring is missing, unreadable or insecure, or lacks the key version asked for."""


def new_key() -> bytes:
    """A fresh random 256-bit key. Never derived: a derived key could be derived again."""
    return AESGCM.generate_key(bit_length=256)


def associated_data(*parts: str | int) -> bytes:
    """Unambiguous associated data: the format version, then each part, unit-separated."""
    return "\x1f".join(["consent-vault", str(FORMAT_VERSION), *map(str, parts)]).encode()


def seal(key: bytes | AESGCM, plaintext: bytes, aad: bytes) -> bytes:
    """Encrypt and authenticate; the result is version byte + nonce + ciphertext.

    `key` may be an AESGCM object already made from the key, to save making one per call.
    """
    aead = key if isinstance(key, AESGCM) else AESGCM(key)
    nonce = os.urandom(NONCE_BYTES)
    return bytes([FORMAT_VERSION]) + nonce + aead.encrypt(nonce, plaintext, aad)


def unseal(key: bytes | AESGCM, blob: bytes, aad: bytes) -> bytes:
    """Decrypt a `seal` result; raises TamperedError if anything was changed or moved."""
    if len(blob) < 1 + NONCE_BYTES + 16 or blob[0] != FORMAT_VERSION:
        raise TamperedError("ciphertext has an unknown format or is truncated")
    aead = key if isinstance(key, AESGCM) else AESGCM(key)
    try:
        return aead.decrypt(blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :], aad)
    except InvalidTag:
        raise TamperedError("ciphertext failed authentication") from None
