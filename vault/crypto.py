"""The vault's cryptography, built on `cryptography`'s AES-256-GCM.

Key hierarchy: a versioned key-encryption key (KEK, kept outside the databases)
wraps one random key per subject; each subject key wraps one random data key
per (subject, category); data keys encrypt record fields. Every ciphertext's
associated data names exactly where it belongs, so a blob copied to another
row, subject, category or field fails to decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
# First byte of every sealed blob; also bound into the associated data, so a
# future format can never be mistaken for this one.
FORMAT_VERSION = 1
KEYRING_FORMAT = "consent-vault-keyring/1"
KEYRING_ENV = "CONSENT_VAULT_KEYRING"


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


@dataclass
class Keyring:
    """The key-encryption keys (by version) and the blind-index key."""

    keks: dict[int, bytes]
    current_version: int
    index_key: bytes
    source: str = field(default="memory", compare=False)

    @classmethod
    def generate(cls) -> Keyring:
        return cls(keks={1: new_key()}, current_version=1, index_key=new_key())

    @property
    def current_kek(self) -> bytes:
        return self.keks[self.current_version]

    def kek(self, version: int) -> bytes:
        try:
            return self.keks[version]
        except KeyError:
            raise KeyringError(
                f"key-encryption key version {version} is not in the keyring"
            ) from None

    def with_new_kek(self) -> Keyring:
        """A copy with one more KEK version, made current (for rotation)."""
        version = max(self.keks) + 1
        return Keyring({**self.keks, version: new_key()}, version, self.index_key, self.source)

    def blind_index(self, text: str) -> str:
        """A keyed hash of an identity's canonical text: lookups without plaintext."""
        return hmac.new(self.index_key, text.encode(), hashlib.sha256).hexdigest()

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": KEYRING_FORMAT,
                "current_kek": self.current_version,
                "keks": {str(v): _b64(k) for v, k in sorted(self.keks.items())},
                "index_key": _b64(self.index_key),
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str, source: str) -> Keyring:
        try:
            data = json.loads(text)
            if data.get("format") != KEYRING_FORMAT:
                raise ValueError("unknown format")
            keks = {int(v): base64.b64decode(k, validate=True) for v, k in data["keks"].items()}
            ring = cls(keks, int(data["current_kek"]), base64.b64decode(data["index_key"]), source)
        except (ValueError, KeyError, TypeError) as exc:
            raise KeyringError(
                f"keyring from {source} is not a valid {KEYRING_FORMAT}: {exc}"
            ) from None
        if ring.current_version not in keks or any(
            len(k) != KEY_BYTES for k in [*keks.values(), ring.index_key]
        ):
            raise KeyringError(f"keyring from {source} has a missing or wrong-sized key")
        return ring


def load_or_create_keyring(path: Path, environ: dict[str, str] | None = None) -> Keyring:
    """The keyring from the environment if set there, else from `path`, created
    with mode 0600 on first run. A file others can read is refused."""
    env = os.environ if environ is None else environ
    if env.get(KEYRING_ENV):
        return Keyring.from_json(env[KEYRING_ENV], source=f"${KEYRING_ENV}")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        ring = Keyring.generate()
        write_keyring(path, ring)
        return Keyring.from_json(path.read_text(), source=str(path))
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        # The message is the whole answer a person gets (the CLI prints it as
        # one line): what is wrong, and the command that fixes it.
        raise KeyringError(
            f"keyring file {path} can be read by others (mode {mode:o}); "
            f"make it yours alone: chmod 600 {path}"
        )
    return Keyring.from_json(path.read_text(), source=str(path))


def write_keyring(path: Path, ring: Keyring) -> None:
    """Write atomically with mode 0600: a new file, fsynced, then renamed over the old."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(ring.to_json())
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
