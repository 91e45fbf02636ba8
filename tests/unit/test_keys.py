"""The key manager's cache: fast hits, never more keys than its bound, counts
of what it did, and never a key another process destroyed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vault import bootstrap
from vault.core.actor import LOCAL
from vault.core.errors import SubjectErased
from vault.core.identities import IdentityKind
from vault.core.keys import CacheStats, KeyManager
from vault.core.model import LegalBasis, RecordDraft
from vault.core.vault import IdentityInput, Vault
from vault.keyring import Keyring
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
        self.calls["subject_key"] = self.calls.get("subject_key", 0) + 1
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
    keys = KeyManager(store, Keyring.generate())  # type: ignore[arg-type]
    keys.create_subject_key("s1")
    first = keys.data_key("s1", "notes", "teaching", create=True)
    store.calls.clear()
    for _ in range(10):
        assert keys.data_key("s1", "notes", "teaching", create=False) == first
    assert store.calls == {"destruction_generation": 10}


def test_a_key_read_just_before_another_process_destroyed_it_is_not_cached(
    stores: tuple[SQLiteKeyStore, SQLiteKeyStore],
) -> None:
    here, there = stores
    ring = Keyring.generate()
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
        keys.data_key("s1", "notes", "teaching", create=True)


def _email(n: int) -> IdentityInput:
    return IdentityInput(IdentityKind.EMAIL, f"person{n}@example.se")


def _draft(category: str) -> RecordDraft:
    return RecordDraft(category, "course_delivery", LegalBasis.CONTRACT, "lms", {"n": category})


def test_the_cache_stays_within_its_bound_under_more_people_than_it_holds(vault: Vault) -> None:
    bound = 24
    vault.keys.resize(bound)
    people = []
    for n in range(20):
        person = vault.create_subject(LOCAL, [_email(n)], ["student"])
        for category in ("contact", "grades"):
            vault.create_record(LOCAL, person.subject_id, _draft(category))
        people.append(person.subject_id)
        assert vault.keys.stats().entries <= bound
    # Each person has four keys: their own, and their identities', contact's and
    # grades' data keys; only the last six people's stay.
    filled = vault.keys.stats()
    assert filled.entries == bound
    assert filled.evictions >= 20 * 4 - bound
    # Everyone still opens: an evicted key is read back from the store and unwrapped.
    for n, subject_id in enumerate(people):
        page = vault.list_records(LOCAL, subject_id, None, 10, "")
        assert sorted(record.fields["n"] for record in page.records) == ["contact", "grades"]
        assert vault.find_subject(LOCAL, _email(n)).subject_id == subject_id
        assert vault.keys.stats().entries <= bound
    assert vault.keys.stats().misses > filled.misses


def test_an_erased_persons_cached_keys_are_unusable_at_once_in_another_process(
    vault: Vault, data_dir: Path, engine: str | None
) -> None:
    # A second vault on the same databases, with store objects of its own, as
    # another server process has.
    other = bootstrap.open_vault(data_dir, database=engine)
    try:
        for opened in (vault, other):
            opened.keys.resize(8)
        anna = vault.create_subject(LOCAL, [_email(1)], ["student"]).subject_id
        bo = vault.create_subject(LOCAL, [_email(2)], ["student"]).subject_id
        records = {who: vault.create_record(LOCAL, who, _draft("contact")) for who in (anna, bo)}
        for who, record in records.items():
            assert other.get_record(LOCAL, record.record_id, who).fields == {"n": "contact"}
        hits = other.keys.stats().hits
        other.keys.subject_key(anna)
        other.keys.data_key(anna, "contact", "course_delivery", create=False)
        assert other.keys.stats().hits == hits + 2  # Anna's keys are in its cache

        vault.erase_subject(LOCAL, anna)

        for opened in (other, vault):
            with pytest.raises(SubjectErased):
                opened.keys.subject_key(anna)
            with pytest.raises(SubjectErased):
                opened.keys.data_key(anna, "contact", "course_delivery", create=False)
            with pytest.raises(SubjectErased):
                opened.keys.data_key(
                    anna, "contact", "course_delivery", create=True
                )  # nor a new one
        assert other.keys.stats().emptied == 1
        # Bo's keys, dropped with the rest, come back from the store.
        assert other.get_record(LOCAL, records[bo].record_id, bo).fields == {"n": "contact"}
    finally:
        bootstrap.close_vault(other)


def test_a_smaller_bound_evicts_the_least_recently_used_first(
    stores: tuple[SQLiteKeyStore, SQLiteKeyStore],
) -> None:
    store = CountingStore(stores[0])
    keys = KeyManager(store, Keyring.generate(), cache_entries=3)  # type: ignore[arg-type]
    for subject_id in ("s1", "s2", "s3"):
        keys.create_subject_key(subject_id)
    keys.subject_key("s1")  # s2 is now the least recently used
    keys.resize(2)
    store.calls.clear()
    keys.subject_key("s1")
    keys.subject_key("s3")
    assert "subject_key" not in store.calls
    keys.subject_key("s2")  # read again, and s1 goes to make room
    assert store.calls["subject_key"] == 1
    assert keys.stats() == CacheStats(
        capacity=2, entries=2, hits=3, misses=1, evictions=2, emptied=0
    )


def test_the_stats_count_lookups_and_a_destruction_elsewhere_emptying_the_cache(
    stores: tuple[SQLiteKeyStore, SQLiteKeyStore],
) -> None:
    here, there = stores
    ring = Keyring.generate()
    keys, elsewhere = KeyManager(here, ring), KeyManager(there, ring)
    elsewhere.create_subject_key("s1")
    elsewhere.create_subject_key("s2")
    keys.subject_key("s1")
    keys.subject_key("s1")
    keys.subject_key("s2")
    first = keys.stats()
    assert (first.hits, first.misses, first.entries) == (1, 2, 2)
    assert first.hit_rate == pytest.approx(1 / 3)
    elsewhere.destroy_subject("s2")
    keys.subject_key("s1")
    recent = keys.stats().since(first)
    assert (recent.hits, recent.misses, recent.emptied, recent.entries) == (0, 1, 1, 1)
    assert recent.summary().startswith("0.0% of 1 key lookups hit the cache (1 missed)")


def test_a_cache_of_no_entries_is_refused(stores: tuple[SQLiteKeyStore, SQLiteKeyStore]) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        KeyManager(stores[0], Keyring.generate(), cache_entries=0)
    keys = KeyManager(stores[0], Keyring.generate())
    with pytest.raises(ValueError, match="at least 1"):
        keys.resize(-1)


def test_a_rewrap_passes_by_a_key_that_does_not_open_and_renews_for_every_page_walked(
    stores: tuple[SQLiteKeyStore, SQLiteKeyStore],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from vault.core import keys as core_keys

    monkeypatch.setattr(core_keys, "REWRAP_PAGE", 2)
    store, _ = stores
    ring = Keyring.generate()
    manager = KeyManager(store, ring)
    for subject_id in ("s1", "s2", "s3", "s4"):
        manager.create_subject_key(subject_id)
    assert store.rewrap_subject_key("s2", 1, 1, b"not a wrapped key at all, tampered")
    newer = ring.with_new_version()
    manager.keyrings.replace(newer)
    walked: list[int] = []
    with caplog.at_level("ERROR", logger="vault.core.keys"):
        done = manager.rewrap(newer, walked=lambda: walked.append(1))
    assert (done.subject_keys, done.unopened) == (3, 1)
    assert store.kek_versions() == {1: 1, 2: 3}  # the tampered one left under 1
    assert "subject-key of s2 under key version 1 does not open" in caplog.text
    assert len(walked) == 2  # 4 subject keys walked, 2 a page
    # Nothing left to move: every page walked is still told, none stored.
    walked.clear()
    again = manager.rewrap(newer, {2}, walked=lambda: walked.append(1))
    assert (again.count, len(walked)) == (0, 2)
