"""The key manager's cache: fast hits, and never a key another process destroyed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vault import crypto
from vault.core.errors import SubjectErased
from vault.core.keys import KeyManager
from vault.storage.base import WrappedKey
from vault.storage.sqlite import SQLiteKeyStore


class CountingStore:
    """A key store that counts the calls the manager makes and can act in the
    middle of a subject key's read, as another thread or process would."""

    def __init__(self, inner: SQLiteKeyStore) -> None:
        self.inner = inner
        self.calls: dict[str, int] = {}
        self.during_subject_key_read: Any = None

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        def counted(*args: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            return method(*args)

        return counted

    def subject_key(self, subject_id: str) -> WrappedKey | None:
        stored = self.inner.subject_key(subject_id)
        action, self.during_subject_key_read = self.during_subject_key_read, None
        if action is not None:
            action()
        return stored


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[SQLiteKeyStore, SQLiteKeyStore]]:
    here, there = SQLiteKeyStore(tmp_path / "keys.db"), SQLiteKeyStore(tmp_path / "keys.db")
    yield here, there
    here.close()
    there.close()


def test_a_cached_key_costs_one_generation_read_and_nothing_else(
    stores: tuple[SQLiteKeyStore, SQLiteKeyStore],
) -> None:
    store = CountingStore(stores[0])
    keys = KeyManager(store, crypto.Keyring.generate())  # type: ignore[arg-type]
    keys.create_subject_key("s1")
    first = keys.data_key("s1", "notes", create=True)
    store.calls.clear()
    for _ in range(10):
        assert keys.data_key("s1", "notes", create=False) is first
    assert store.calls == {"destruction_generation": 10}


def test_a_key_read_just_before_another_process_destroyed_it_is_not_cached(
    stores: tuple[SQLiteKeyStore, SQLiteKeyStore],
) -> None:
    here, there = stores
    ring = crypto.Keyring.generate()
    elsewhere = KeyManager(there, ring)
    elsewhere.create_subject_key("s1")
    elsewhere.create_subject_key("s2")
    store = CountingStore(here)
    keys = KeyManager(store, ring)  # type: ignore[arg-type]
    keys.subject_key("s2")

    def destroyed_and_seen_by_another_thread() -> None:
        elsewhere.destroy_subject("s1")
        keys.subject_key("s2")  # this thread's next lookup sees the destruction

    # The read returns the key as it was before the destruction: usable for the
    # call in flight, but it must not stay in the cache.
    store.during_subject_key_read = destroyed_and_seen_by_another_thread
    keys.subject_key("s1")
    with pytest.raises(SubjectErased):
        keys.subject_key("s1")
    with pytest.raises(SubjectErased):
        keys.data_key("s1", "notes", create=True)
