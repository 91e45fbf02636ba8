"""Signed tree heads: the audit log's size and Merkle root at a moment,
signed with the vault's Ed25519 audit key, so an auditor holding the public
key can check the log without trusting the vault or its database.

The signature covers exactly these bytes (all integers big-endian):

    b"consent-vault tree head v1"   26 bytes, the format's name and version
    size                            uint64, the number of leaves
    timestamp                       uint64, milliseconds since 1970-01-01 UTC
    root                            32 bytes, the RFC 9162 root of those leaves

so a head can be verified outside the vault, e.g. with OpenSSL 3 and the
exported PEM: `openssl pkeyutl -verify -pubin -inkey audit.pem -rawin -in
head.bin -sigfile head.sig`. The name keeps a signature over a head from
being valid for any other message signed with the same key.
"""

from __future__ import annotations

import datetime as dt
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from vault.core.audit.merkle import HASH_SIZE

HEAD_FORMAT = b"consent-vault tree head v1"
SIGNATURE_BYTES = 64
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MILLISECOND = dt.timedelta(milliseconds=1)
_UINT64 = 1 << 64


@dataclass(frozen=True)
class SignedTreeHead:
    """The log had `size` leaves with root `root` at `at` (UTC, whole
    milliseconds, as signed), and the audit key says so."""

    size: int
    root: bytes
    at: dt.datetime
    signature: bytes


def head_bytes(size: int, root: bytes, at: dt.datetime) -> bytes:
    """The bytes a head's signature covers (the module's docstring)."""
    if not 0 <= size < _UINT64:
        raise ValueError("a tree head's size is an unsigned 64-bit integer")
    if len(root) != HASH_SIZE:
        raise ValueError(f"a tree head's root is {HASH_SIZE} bytes")
    return HEAD_FORMAT + struct.pack(">QQ", size, _milliseconds(at)) + root


def _milliseconds(at: dt.datetime) -> int:
    if at.tzinfo is None:
        raise ValueError("a tree head's time must be timezone-aware")
    ms = (at - EPOCH) // _MILLISECOND
    if not 0 <= ms < _UINT64:
        raise ValueError("a tree head's time is after 1970 and before 2^64 milliseconds")
    return ms


def new_signing_key() -> bytes:
    """A fresh Ed25519 private key, raw (32 bytes), for the keyring to keep."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )


def public_key_of(private_key: bytes) -> bytes:
    """The raw (32-byte) Ed25519 public key of a raw private key."""
    return (
        Ed25519PrivateKey.from_private_bytes(private_key)
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )


def public_key_pem(public_key: bytes) -> str:
    """A raw public key as PEM (SubjectPublicKeyInfo), as OpenSSL and most
    libraries read it."""
    return (
        Ed25519PublicKey.from_public_bytes(public_key)
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def public_key_from_pem(pem: str | bytes) -> bytes:
    """The raw public key in a PEM; ValueError unless it is an Ed25519 public key."""
    key = serialization.load_pem_public_key(pem.encode("ascii") if isinstance(pem, str) else pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def sign_head(private_key: bytes, size: int, root: bytes, at: dt.datetime) -> SignedTreeHead:
    """Sign the head of a tree of `size` leaves with `root`, at `at`
    (truncated to the millisecond the signature covers)."""
    at = EPOCH + _milliseconds(at) * _MILLISECOND
    signature = Ed25519PrivateKey.from_private_bytes(private_key).sign(head_bytes(size, root, at))
    return SignedTreeHead(size=size, root=root, at=at, signature=signature)


def verify_head(public_key: bytes, head: SignedTreeHead) -> bool:
    """Whether `head` is exactly what the holder of `public_key`'s private key
    signed. A head that cannot even be encoded (a root of the wrong length, a
    time between milliseconds) was not signed either, and is False; a public
    key that is not 32 bytes is the caller's mistake, and a ValueError."""
    key = Ed25519PublicKey.from_public_bytes(public_key)
    try:
        message = head_bytes(head.size, head.root, head.at)
    except ValueError:
        return False
    if head.at.microsecond % 1000 or len(head.signature) != SIGNATURE_BYTES:
        return False
    try:
        key.verify(head.signature, message)
    except InvalidSignature:
        return False
    return True
