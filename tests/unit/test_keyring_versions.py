"""The keyring's versions: each with a KEK and an index key of its own, retired
versions gone but remembered, and a source that follows a replaced file."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from pathlib import Path

import pytest

from vault.crypto import KeyringError, new_key
from vault.keyring import Keyring, KeyringReplaced, KeyringSource, read_keyring, write_keyring

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_a_format_1_keyring_is_read_with_its_index_key_shared_by_every_version() -> None:
    index_key, kek1, kek2 = new_key(), new_key(), new_key()
    text = json.dumps(
        {
            "format": "consent-vault-keyring/1",
            "current_kek": 2,
            "keks": {"1": _b64(kek1), "2": _b64(kek2)},
            "index_key": _b64(index_key),
        }
    )
    ring = Keyring.from_json(text, source="test")
    assert (ring.current_version, ring.kek(1), ring.kek(2)) == (2, kek1, kek2)
    assert ring.index_key_of(1) == ring.index_key_of(2) == index_key
    # Versions of unknown age count as older than any date.
    assert ring.older_than(T0) == [1]
    # Written again, it is format 2 and reads back the same.
    assert json.loads(ring.to_json())["format"] == "consent-vault-keyring/2"
    assert Keyring.from_json(ring.to_json(), source="again") == ring


def test_a_retired_version_is_gone_but_named_and_its_number_never_comes_back() -> None:
    ring = Keyring.generate(T0).with_new_version(T0 + dt.timedelta(days=40))
    retired = ring.without([1], now=T0 + dt.timedelta(days=50))
    assert not retired.has(1)
    with pytest.raises(KeyringError, match="version 1 was retired on 2026-02-20"):
        retired.kek(1)
    with pytest.raises(KeyringError, match="version 1 was retired"):
        retired.blind_index("email\x1f\x1fa@b.se", version=1)
    with pytest.raises(KeyringError, match="version 7 is not in the keyring"):
        retired.kek(7)
    # A new version after the retirement is 3, never the retired 1 again.
    assert retired.with_new_version().current_version == 3
    restored = Keyring.from_json(retired.to_json(), source="file")
    assert restored.retired == {1: T0 + dt.timedelta(days=50)}
    assert "kek" not in json.dumps(json.loads(retired.to_json())["retired"])


def test_the_current_version_cannot_be_retired_and_older_than_spares_it() -> None:
    ring = Keyring.generate(T0).with_new_version(T0 + dt.timedelta(days=10))
    assert ring.older_than(T0 + dt.timedelta(days=365)) == [1]
    assert ring.older_than(T0) == []
    with pytest.raises(ValueError, match="current version"):
        ring.without([2])


def test_blind_indexes_try_the_current_version_first() -> None:
    ring = Keyring.generate(T0).with_new_version()
    text = "email\x1f\x1fa@b.se"
    indexes = ring.blind_indexes(text)
    assert [version for version, _ in indexes] == [2, 1]
    assert indexes[0][1] == ring.blind_index(text)
    assert indexes[1][1] == ring.blind_index(text, version=1) != indexes[0][1]


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_source_follows_a_replaced_file_within_its_interval(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    write_keyring(path, Keyring.generate(T0))
    clock = _Clock()
    source = KeyringSource(read_keyring(path), path, check_every=1.0, monotonic=clock)
    rotated = source.current().with_new_version()
    write_keyring(path, rotated)  # another process rotated
    assert source.current().current_version == 1  # not looked at yet
    clock.now = 1.5
    assert source.current().current_version == 2
    # `refresh` looks at once, as a lookup of a missing version does.
    write_keyring(path, source.current().with_new_version())
    assert source.refresh().current_version == 3


def test_a_source_keeps_its_ring_when_the_file_turns_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    write_keyring(path, Keyring.generate(T0))
    source = KeyringSource(read_keyring(path), path, check_every=0.0)
    ring = source.current()
    os.chmod(path, 0o644)
    assert source.refresh() == ring
    os.chmod(path, 0o600)
    write_keyring(path, ring.with_new_version())
    assert source.refresh().current_version == 2


def test_replace_writes_the_file_and_a_ring_given_whole_refuses(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    write_keyring(path, Keyring.generate(T0))
    source = KeyringSource(read_keyring(path), path)
    source.replace(source.current().with_new_version())
    assert read_keyring(path).current_version == 2
    assert source.current().current_version == 2

    given = KeyringSource(Keyring.generate(T0))  # as from $CONSENT_VAULT_KEYRING
    assert not given.changeable
    with pytest.raises(KeyringError, match="cannot change under a running server"):
        given.replace(given.current().with_new_version())
    assert given.current().current_version == 1

    memory = KeyringSource.of(Keyring.generate(T0))  # tools and tests
    memory.replace(memory.current().with_new_version())
    assert memory.current().current_version == 2


def test_replace_refuses_to_write_over_a_file_another_process_replaced(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    write_keyring(path, Keyring.generate(T0))
    source = KeyringSource(read_keyring(path), path, check_every=1e9)
    stale = source.current()
    write_keyring(path, stale.with_new_version())  # another process rotated
    with pytest.raises(KeyringReplaced, match="replaced by another process"):
        source.replace(stale.with_new_version())
    assert read_keyring(path).current_version == 2  # its version 2 kept
    # Built from the file as it is now, it is written.
    source.replace(source.refresh().with_new_version())
    assert sorted(read_keyring(path).versions) == [1, 2, 3]


def test_a_file_that_did_not_read_is_never_written_over(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    write_keyring(path, Keyring.generate(T0))
    source = KeyringSource(read_keyring(path), path, check_every=0.0)
    write_keyring(path, source.current().with_new_version())
    os.chmod(path, 0o644)  # replaced, but refused when read: the ring in use is kept
    assert source.refresh().current_version == 1
    with pytest.raises(KeyringReplaced):
        source.replace(source.current().with_new_version())
    os.chmod(path, 0o600)
    assert read_keyring(path).current_version == 2
