"""The crypto module: sealing binds where a blob belongs; keyrings are private and versioned."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from vault import crypto
from vault.crypto import KeyringError, TamperedError
from vault.keyring import KEYRING_ENV, Keyring, load_or_create_keyring


def test_seal_round_trips_and_uses_a_fresh_nonce() -> None:
    key = crypto.new_key()
    aad = crypto.associated_data("record", "s1", "contact", "r1", "payload")
    first, second = crypto.seal(key, b"secret", aad), crypto.seal(key, b"secret", aad)
    assert first != second
    assert crypto.unseal(key, first, aad) == b"secret"
    assert b"secret" not in first


@pytest.mark.parametrize(
    "other",
    [
        ("record", "s2", "contact", "r1", "payload"),
        ("record", "s1", "billing", "r1", "payload"),
        ("record", "s1", "contact", "r2", "payload"),
        ("record", "s1", "contact", "r1", "content"),
    ],
)
def test_a_blob_moved_anywhere_else_fails(other: tuple[str, ...]) -> None:
    key = crypto.new_key()
    blob = crypto.seal(
        key, b"secret", crypto.associated_data("record", "s1", "contact", "r1", "payload")
    )
    with pytest.raises(TamperedError):
        crypto.unseal(key, blob, crypto.associated_data(*other))


def test_tampering_and_truncation_are_detected() -> None:
    key = crypto.new_key()
    aad = crypto.associated_data("x")
    blob = bytearray(crypto.seal(key, b"secret", aad))
    blob[-1] ^= 1
    with pytest.raises(TamperedError):
        crypto.unseal(key, bytes(blob), aad)
    with pytest.raises(TamperedError):
        crypto.unseal(key, bytes(blob[:10]), aad)
    with pytest.raises(TamperedError):
        crypto.unseal(crypto.new_key(), crypto.seal(key, b"s", aad), aad)


def test_keyring_file_is_created_private_and_reloads(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "keyring.json"
    ring = load_or_create_keyring(path, environ={})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_keyring(path, environ={}) == ring


def test_a_keyring_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    load_or_create_keyring(path, environ={})
    os.chmod(path, 0o644)
    with pytest.raises(KeyringError, match="chmod 600"):
        load_or_create_keyring(path, environ={})


def test_keyring_from_the_environment_wins(tmp_path: Path) -> None:
    ring = Keyring.generate()
    loaded = load_or_create_keyring(tmp_path / "none.json", environ={KEYRING_ENV: ring.to_json()})
    assert loaded == ring
    assert not (tmp_path / "none.json").exists()


@pytest.mark.parametrize("text", ["", "{}", '{"format": "consent-vault-keyring/1"}', "not json"])
def test_a_broken_keyring_is_a_clear_error(text: str) -> None:
    with pytest.raises(KeyringError):
        Keyring.from_json(text, source="test")


def test_rotation_adds_a_version_and_keeps_the_old_one() -> None:
    ring = Keyring.generate()
    rotated = ring.with_new_version()
    assert rotated.current_version == 2
    assert rotated.kek(1) == ring.kek(1)
    assert rotated.index_key_of(1) == ring.index_key
    assert rotated.index_key != ring.index_key  # each version has its own
    with pytest.raises(KeyringError):
        ring.kek(2)


def test_blind_index_is_keyed() -> None:
    one, two = Keyring.generate(), Keyring.generate()
    assert one.blind_index("email\x1f\x1fa@b.se") == one.blind_index("email\x1f\x1fa@b.se")
    assert one.blind_index("email\x1f\x1fa@b.se") != two.blind_index("email\x1f\x1fa@b.se")
