"""Signed tree heads (vault.core.audit.heads): the signed bytes are the
documented ones, a head verifies under its key, and any change to its size,
root, time or signature, or another key, fails."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from vault.core.audit.heads import (
    SignedTreeHead,
    head_bytes,
    new_signing_key,
    public_key_from_pem,
    public_key_of,
    public_key_pem,
    sign_head,
    verify_head,
)

# RFC 8032 section 7.1, TEST 1: an Ed25519 secret key and its public key.
RFC_8032_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC_8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
ROOT = bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
AT = dt.datetime(2026, 5, 17, 9, 30, 15, 123000, tzinfo=dt.UTC)

KEY = new_signing_key()
OTHER_KEY = new_signing_key()


def flip(data: bytes, at: int = 0) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


# --------------------------------------------------------- the signed bytes
def test_the_signed_bytes_are_the_documented_encoding() -> None:
    assert head_bytes(8, ROOT, AT) == (
        b"consent-vault tree head v1"
        + bytes.fromhex("0000000000000008")  # size
        + bytes.fromhex("0000019e35459cd3")  # 1779010215123 ms: 2026-05-17T09:30:15.123Z
        + ROOT
    )


def test_a_head_signed_with_a_known_key_has_a_known_signature() -> None:
    # Ed25519 is deterministic: this pins the key handling and the encoding,
    # so a change to either cannot pass unnoticed by heads already signed.
    assert public_key_of(RFC_8032_SECRET) == RFC_8032_PUBLIC
    head = sign_head(RFC_8032_SECRET, 8, ROOT, AT)
    assert head.signature.hex() == (
        "91dd3278e3fce3087df3dfdb179c4912fabbdb814f7a6fabdbe7e97d52489f03"
        "ce9380804ee96ed571a39efd5ddcda56203d197975460fe92949cc13b7f41109"
    )
    assert verify_head(RFC_8032_PUBLIC, head)


# ------------------------------------------------------- sign and verify
@given(
    size=st.integers(0, 2**64 - 1),
    root=st.binary(min_size=32, max_size=32),
    at=st.datetimes(
        min_value=dt.datetime(1970, 1, 1),
        max_value=dt.datetime(2200, 1, 1),
        timezones=st.just(dt.UTC),
    ),
)
def test_a_signed_head_verifies_under_its_key_alone(
    size: int, root: bytes, at: dt.datetime
) -> None:
    head = sign_head(KEY, size, root, at)
    assert (head.size, head.root) == (size, root)
    assert head.at <= at < head.at + dt.timedelta(milliseconds=1)
    assert head.at.microsecond % 1000 == 0 and head.at.tzinfo == dt.UTC
    assert verify_head(public_key_of(KEY), head)
    assert not verify_head(public_key_of(OTHER_KEY), head)


def test_a_time_in_another_zone_is_signed_as_the_same_moment_in_utc() -> None:
    stockholm = AT.astimezone(dt.timezone(dt.timedelta(hours=2)))
    head = sign_head(KEY, 8, ROOT, stockholm)
    assert head.at == AT and head.at.utcoffset() == dt.timedelta(0)
    assert head.signature == sign_head(KEY, 8, ROOT, AT).signature


HEAD = sign_head(KEY, 1000, ROOT, AT)


@pytest.mark.parametrize(
    "changed",
    [
        dataclasses.replace(HEAD, size=999),
        dataclasses.replace(HEAD, size=1001),
        dataclasses.replace(HEAD, size=1000 + 2**32),
        dataclasses.replace(HEAD, root=flip(ROOT)),
        dataclasses.replace(HEAD, root=flip(ROOT, 31)),
        dataclasses.replace(HEAD, at=AT + dt.timedelta(milliseconds=1)),
        dataclasses.replace(HEAD, at=AT - dt.timedelta(days=1)),
        dataclasses.replace(HEAD, signature=flip(HEAD.signature)),
        dataclasses.replace(HEAD, signature=flip(HEAD.signature, 63)),
        # Unsignable heads: a changed time below the signed millisecond, a
        # root or signature of another length, a size that is no uint64.
        dataclasses.replace(HEAD, at=AT + dt.timedelta(microseconds=1)),
        dataclasses.replace(HEAD, at=AT.replace(tzinfo=None)),
        dataclasses.replace(HEAD, root=ROOT[:31]),
        dataclasses.replace(HEAD, signature=HEAD.signature[:63]),
        dataclasses.replace(HEAD, signature=HEAD.signature + b"\x00"),
        dataclasses.replace(HEAD, size=-1),
    ],
    ids=lambda head: repr(head)[:60],
)
def test_any_change_to_a_head_fails(changed: SignedTreeHead) -> None:
    assert verify_head(public_key_of(KEY), HEAD)
    assert not verify_head(public_key_of(KEY), changed)


def test_a_head_does_not_verify_under_a_changed_key() -> None:
    public = public_key_of(KEY)
    for at in (0, 17, 31):
        assert not verify_head(flip(public, at), HEAD)


def test_what_cannot_be_signed_or_checked_is_refused() -> None:
    with pytest.raises(ValueError):
        sign_head(KEY, -1, ROOT, AT)
    with pytest.raises(ValueError):
        sign_head(KEY, 2**64, ROOT, AT)
    with pytest.raises(ValueError):
        sign_head(KEY, 8, ROOT[:31], AT)
    with pytest.raises(ValueError):
        sign_head(KEY, 8, ROOT, AT.replace(tzinfo=None))
    with pytest.raises(ValueError):
        sign_head(KEY, 8, ROOT, dt.datetime(1969, 12, 31, 23, 59, tzinfo=dt.UTC))
    with pytest.raises(ValueError):
        sign_head(KEY[:31], 8, ROOT, AT)
    # A key of the wrong length is the caller's mistake, not a false head.
    with pytest.raises(ValueError):
        verify_head(public_key_of(KEY)[:31], HEAD)


# ------------------------------------------------- the auditor's public key
def test_the_public_key_goes_out_as_pem_and_comes_back_raw() -> None:
    public = public_key_of(KEY)
    pem = public_key_pem(public)
    assert pem.startswith("-----BEGIN PUBLIC KEY-----\n")
    assert public_key_from_pem(pem) == public_key_from_pem(pem.encode()) == public
    assert verify_head(public_key_from_pem(pem), HEAD)
    assert public_key_of(KEY) != public_key_of(OTHER_KEY)


def test_a_pem_of_another_kind_of_key_is_refused() -> None:
    p256 = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ValueError):
        public_key_from_pem(p256)
    with pytest.raises(ValueError):
        public_key_from_pem("not a pem")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_openssl_verifies_a_head_with_the_exported_pem(tmp_path: Path) -> None:
    # What the module's docstring tells an auditor to run, outside the vault.
    (tmp_path / "audit.pem").write_text(public_key_pem(public_key_of(KEY)))
    (tmp_path / "head.bin").write_bytes(head_bytes(HEAD.size, HEAD.root, HEAD.at))
    (tmp_path / "head.sig").write_bytes(HEAD.signature)
    (tmp_path / "other.sig").write_bytes(flip(HEAD.signature))
    command = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "audit.pem", "-rawin"]
    command += ["-in", "head.bin", "-sigfile"]
    good = subprocess.run([*command, "head.sig"], cwd=tmp_path, capture_output=True, check=False)
    bad = subprocess.run([*command, "other.sig"], cwd=tmp_path, capture_output=True, check=False)
    assert good.returncode == 0, good.stderr
    assert bad.returncode != 0
