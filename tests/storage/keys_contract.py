"""The key store's contract: what the core relies on, whatever engine stores the keys.

Subclass `KeyStoreContract` and give a `store` fixture (a fresh, empty
KeyStore) and an `open_other` fixture: a callable that opens another store
object on the same database, as a second server process would (the fixture
closes what it opened). The SQLite backend runs it in test_sqlite_keys.py; a
later backend must pass it unchanged.

The races run threads on several store objects at once: a key destroyed
through one is gone for every reader of another the moment the call returns,
and of two processes making the same data key, both end up with the first's.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import threading
from collections.abc import Callable

import pytest

from tests.storage.racing import BOUND_SECONDS, race
from vault.core.errors import CategoryErased, SubjectErased
from vault.core.keys import KeyManager
from vault.keyring import Keyring
from vault.storage.base import (
    DataKeyScope,
    KekRetired,
    KeyStore,
    Rewrap,
    RotationLease,
    WrappedDataKey,
    WrappedKey,
)

# How many reads each concurrent reader makes at most before, and after, a destruction.
READS_BEFORE, READS_AFTER = 2_000, 20

OpenOther = Callable[[], KeyStore]


def notes(subject_id: str = "s1", purpose: str = "teaching") -> DataKeyScope:
    return DataKeyScope(subject_id, "notes", purpose)


def contact(subject_id: str = "s1") -> DataKeyScope:
    return DataKeyScope(subject_id, "contact", "course_delivery")


class KeyStoreContract:
    def with_subject(self, store: KeyStore, subject_id: str = "s1") -> None:
        store.put_subject_key(subject_id, 1, b"wrapped-" + subject_id.encode())

    # ------------------------------------------------------------ subject keys
    def test_a_subject_key_reads_back_as_written_and_an_unknown_one_is_none(
        self, store: KeyStore, open_other: OpenOther
    ) -> None:
        assert store.subject_key("s1") is None
        store.put_subject_key("s1", 3, b"wrapped")
        assert store.subject_key("s1") == WrappedKey(3, b"wrapped")
        version, wrapped = store.subject_key("s1")  # type: ignore[misc]
        assert (version, wrapped) == (3, b"wrapped")
        assert open_other().subject_key("s1") == WrappedKey(3, b"wrapped")
        assert store.subject_key("s2") is None

    def test_every_subject_key_is_listed_by_subject_id_for_rotation(self, store: KeyStore) -> None:
        assert list(store.wrapped_subject_keys()) == []
        for subject_id, version in (("s2", 1), ("s1", 2), ("s3", 1)):
            store.put_subject_key(subject_id, version, subject_id.encode())
        assert list(store.wrapped_subject_keys()) == [
            ("s1", WrappedKey(2, b"s1")),
            ("s2", WrappedKey(1, b"s2")),
            ("s3", WrappedKey(1, b"s3")),
        ]

    def test_a_rewrap_replaces_the_key_only_if_it_is_still_under_the_old_version(
        self, store: KeyStore, open_other: OpenOther
    ) -> None:
        store.put_subject_key("s1", 1, b"under-1")
        assert not store.rewrap_subject_key("s1", 2, 3, b"under-3")  # not under 2
        assert store.subject_key("s1") == WrappedKey(1, b"under-1")
        assert store.rewrap_subject_key("s1", 1, 2, b"under-2")
        assert not store.rewrap_subject_key("s1", 1, 2, b"again")  # a second rotation lost
        assert open_other().subject_key("s1") == WrappedKey(2, b"under-2")
        assert not store.rewrap_subject_key("gone", 1, 2, b"x")
        assert store.subject_key("gone") is None

    def test_a_rewrap_leaves_the_data_keys_under_the_subject_key_as_they_were(
        self, store: KeyStore
    ) -> None:
        self.with_subject(store)
        store.put_data_key(notes(), WrappedDataKey("k1", b"data"))
        assert store.rewrap_subject_key("s1", 1, 2, b"rewrapped")
        assert store.data_key(notes()) == WrappedDataKey("k1", b"data")

    def test_rotation_through_the_store_keeps_every_key_readable(
        self, store: KeyStore, open_other: OpenOther
    ) -> None:
        old_ring = Keyring.generate()
        keys = KeyManager(store, old_ring)
        keys.create_subject_key("s1")
        subject_key = keys.subject_key("s1")
        data_key = keys.data_key("s1", "notes", "teaching", create=True)
        new_ring = old_ring.with_new_version()
        # The key store's part of a rotation (vault.core.rotation does the rest).
        keys.keyrings.replace(new_ring)
        assert keys.rewrap(new_ring).count == 1
        assert store.subject_key("s1").kek_version == new_ring.current_version  # type: ignore[union-attr]
        # A process that starts afresh with the new ring reads the same keys.
        fresh = KeyManager(open_other(), new_ring)
        assert fresh.subject_key("s1") == subject_key
        assert fresh.data_key("s1", "notes", "teaching", create=False) == data_key
        assert keys.rewrap(new_ring).count == 0  # nothing left under an old version

    def test_job_keys_are_walked_and_rewrapped_like_subject_keys(
        self, store: KeyStore, open_other: OpenOther
    ) -> None:
        for request_id in ("r2", "r1", "r3"):
            store.put_job_key(request_id, 1, request_id.encode())
        assert [r for r, _ in store.wrapped_job_keys()] == ["r1", "r2", "r3"]
        assert (
            store.rewrap_job_keys(
                [Rewrap("r1", 1, 2, b"r1 under 2"), Rewrap("r2", 2, 3, b"not under 2")]
            )
            == 1
        )
        assert open_other().job_key("r1") == WrappedKey(2, b"r1 under 2")
        assert store.job_key("r2") == WrappedKey(1, b"r2")
        assert store.rewrap_job_keys([]) == 0

    def test_many_subject_keys_are_rewrapped_in_one_call(self, store: KeyStore) -> None:
        for n in range(3):
            store.put_subject_key(f"s{n}", 1, b"old")
        store.destroy_subject("s1")
        rewraps = [Rewrap(f"s{n}", 1, 2, f"new {n}".encode()) for n in range(3)]
        assert store.rewrap_subject_keys(rewraps) == 2  # s1 is gone
        assert store.subject_key("s0") == WrappedKey(2, b"new 0")
        assert store.subject_key("s1") is None
        assert store.subject_key("s2") == WrappedKey(2, b"new 2")

    def test_keys_are_counted_by_kek_version(self, store: KeyStore) -> None:
        assert store.kek_versions() == {}
        store.put_subject_key("s1", 1, b"a")
        store.put_subject_key("s2", 2, b"b")
        store.put_job_key("r1", 1, b"c")
        store.put_data_key(notes(), WrappedDataKey("k1", b"under the subject key"))
        assert store.kek_versions() == {1: 2, 2: 1}
        store.destroy_job_key("r1")
        assert store.kek_versions() == {1: 1, 2: 1}

    def test_the_newest_kek_version_is_that_of_the_newest_subject_key(
        self, store: KeyStore, open_other: OpenOther
    ) -> None:
        assert store.newest_kek_version() is None
        store.put_subject_key("s1", 1, b"a")
        store.put_job_key("r1", 5, b"a job key is no subject key")
        assert store.newest_kek_version() == 1
        store.put_subject_key("s2", 3, b"b")
        # Another process's store sees it at once (a server checking whether
        # its keyring is behind reads it through its own store).
        assert open_other().newest_kek_version() == 3
        store.destroy_subject("s2")
        assert store.newest_kek_version() == 1

    def test_a_put_below_the_floor_is_refused_storing_nothing(
        self, store: KeyStore, open_other: OpenOther
    ) -> None:
        assert store.kek_floor() == 0
        store.put_subject_key("s1", 1, b"under 1")
        assert store.raise_kek_floor(2) == 2
        assert store.raise_kek_floor(1) == 2  # never lowered
        other = open_other()
        assert other.kek_floor() == 2
        refusals = [
            lambda: other.put_subject_key("s2", 1, b"x"),
            lambda: other.put_job_key("r1", 1, b"x"),
            lambda: other.put_keys(
                {"s3": WrappedKey(2, b"ok"), "s4": WrappedKey(1, b"x")},
                {notes("s3"): WrappedDataKey("k", b"d")},
            ),
            lambda: other.rewrap_subject_key("s1", 1, 1, b"x"),
            lambda: other.rewrap_job_keys([Rewrap("r1", 2, 1, b"x")]),
        ]
        for refused in refusals:
            with pytest.raises(KekRetired) as caught:
                refused()
            assert (caught.value.kek_version, caught.value.floor) == (1, 2)
        for subject_id in ("s2", "s3", "s4"):
            assert other.subject_key(subject_id) is None
        assert other.data_key(notes("s3")) is None
        assert other.job_key("r1") is None
        # At and above the floor, and the key left under 1, all as before.
        other.put_subject_key("s2", 2, b"under 2")
        assert store.subject_key("s2") == WrappedKey(2, b"under 2")
        assert store.rewrap_subject_key("s1", 1, 3, b"under 3")

    def test_one_owner_holds_the_rotation_lease_until_it_ends_or_is_released(
        self, store: KeyStore, open_other: OpenOther
    ) -> None:
        t0 = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
        minute = dt.timedelta(minutes=1)
        other = open_other()
        assert store.claim_rotation("a", t0, t0 + 5 * minute) == RotationLease("a", t0 + 5 * minute)
        assert other.claim_rotation("b", t0 + minute, t0 + 6 * minute).owner == "a"
        # Its holder extends it.
        assert store.claim_rotation("a", t0 + 2 * minute, t0 + 9 * minute).until == t0 + 9 * minute
        assert other.claim_rotation("b", t0 + 8 * minute, t0 + 13 * minute).owner == "a"
        # Ended: another takes it over.
        assert other.claim_rotation("b", t0 + 9 * minute, t0 + 14 * minute).owner == "b"
        store.release_rotation("a")  # not a's any more: nothing changes
        assert store.claim_rotation("a", t0 + 10 * minute, t0 + 15 * minute).owner == "b"
        other.release_rotation("b")
        assert store.claim_rotation("a", t0 + 10 * minute, t0 + 15 * minute).owner == "a"

    def test_a_floor_raised_while_a_put_runs_lets_it_commit_first_or_refuses_it(
        self, store: KeyStore, open_other: OpenOther
    ) -> None:
        # Puts from two store objects race a raise of the floor: every put the
        # raise did not refuse is stored, and none below the floor lands after it.
        writers = [open_other() for _ in range(3)]
        outcomes: dict[str, str] = {}

        def put(n: int) -> None:
            subject_id = f"s{n}"
            try:
                writers[n % 3].put_subject_key(subject_id, 1, b"x")
                outcomes[subject_id] = "stored"
            except KekRetired:
                outcomes[subject_id] = "refused"

        threads = [threading.Thread(target=put, args=(n,)) for n in range(30)]
        for thread in threads[:15]:
            thread.start()
        store.raise_kek_floor(2)
        after = store.kek_versions().get(1, 0)
        for thread in threads[15:]:
            thread.start()
        for thread in threads:
            thread.join()
        stored = [s for s, outcome in outcomes.items() if outcome == "stored"]
        assert all(store.subject_key(s) is not None for s in stored)
        assert all(store.subject_key(s) is None for s in outcomes if s not in stored)
        # Everything under 1 was committed before the raise returned.
        assert store.kek_versions().get(1, 0) == after == len(stored)
        assert all(outcomes[f"s{n}"] == "refused" for n in range(15, 30))

    # --------------------------------------------------------------- data keys
    def test_a_data_key_reads_back_as_written_and_an_unknown_scope_is_none(
        self, store: KeyStore, open_other: OpenOther
    ) -> None:
        self.with_subject(store)
        assert store.data_key(notes()) is None
        assert store.put_data_key(notes(), WrappedDataKey("k1", b"data")) == WrappedDataKey(
            "k1", b"data"
        )
        assert store.data_key(notes()) == WrappedDataKey("k1", b"data")
        assert open_other().data_key(notes()) == WrappedDataKey("k1", b"data")
        assert store.data_key(contact()) is None
        assert store.data_key(notes("s2")) is None

    def test_the_first_data_key_of_a_scope_stays_and_a_later_put_gets_it_back(
        self, store: KeyStore, open_other: OpenOther
    ) -> None:
        self.with_subject(store)
        store.put_data_key(notes(), WrappedDataKey("k1", b"first"))
        # What a second process gets when it raced to make the same key.
        assert open_other().put_data_key(notes(), WrappedDataKey("k2", b"second")) == (
            WrappedDataKey("k1", b"first")
        )
        assert store.data_key(notes()) == WrappedDataKey("k1", b"first")

    def test_no_data_key_is_stored_without_its_subject_key(
        self, store: KeyStore, open_other: OpenOther
    ) -> None:
        assert store.put_data_key(notes(), WrappedDataKey("k1", b"data")) is None
        assert store.data_key(notes()) is None
        self.with_subject(store)
        open_other().destroy_subject("s1")
        assert store.put_data_key(notes(), WrappedDataKey("k1", b"data")) is None
        assert store.data_key_scopes("s1") == []

    def test_a_subjects_data_key_scopes_are_listed_by_category(self, store: KeyStore) -> None:
        self.with_subject(store)
        self.with_subject(store, "s2")
        assert store.data_key_scopes("s1") == []
        for scope in (notes(), contact(), notes("s2")):
            store.put_data_key(scope, WrappedDataKey("k", b"data"))
        assert store.data_key_scopes("s1") == [contact(), notes()]
        assert store.data_key_scopes("s2") == [notes("s2")]
        assert store.data_key_scopes("nobody") == []

    # ---------------------------------------------------------- grouped puts
    def test_keys_put_together_read_back_for_every_store_and_go_with_their_subject(
        self, store: KeyStore, open_other: OpenOther
    ) -> None:
        subject_keys = {f"s{n}": WrappedKey(1, f"subject {n}".encode()) for n in range(3)}
        data_keys = {
            scope: WrappedDataKey(f"{scope.subject_id}-{scope.category}", b"data")
            for subject_id in subject_keys
            for scope in (notes(subject_id), contact(subject_id))
        }
        other = open_other()
        before = other.destruction_generation()
        assert store.put_keys(subject_keys, data_keys) is True
        for view in (store, other):
            for subject_id, key in subject_keys.items():
                assert view.subject_key(subject_id) == key
                assert view.data_key_scopes(subject_id) == [contact(subject_id), notes(subject_id)]
            for scope, data_key in data_keys.items():
                assert view.data_key(scope) == data_key
        assert other.destruction_generation() == before  # writing keys is no destruction
        assert store.destroy_subject("s1") == 3
        assert other.data_key(notes("s1")) is None
        assert other.data_key(notes("s2")) == data_keys[notes("s2")]

    def test_a_grouped_put_with_one_subject_already_keyed_stores_none_of_its_keys(
        self, store: KeyStore, open_other: OpenOther
    ) -> None:
        self.with_subject(store, "s2")
        subject_keys = {s: WrappedKey(2, f"new {s}".encode()) for s in ("s1", "s2", "s3")}
        data_keys = {notes(s): WrappedDataKey(f"k-{s}", b"data") for s in subject_keys}
        assert store.put_keys(subject_keys, data_keys) is False
        for view in (store, open_other()):
            assert view.subject_key("s1") is None and view.subject_key("s3") is None
            assert view.subject_key("s2") == WrappedKey(1, b"wrapped-s2")  # as it was
            assert [view.data_key(scope) for scope in data_keys] == [None] * 3
        del subject_keys["s2"], data_keys[notes("s2")]
        assert store.put_keys(subject_keys, data_keys) is True
        assert open_other().data_key(notes("s3")) == WrappedDataKey("k-s3", b"data")

    def test_a_grouped_put_refuses_a_data_key_under_no_subject_key_of_the_call(
        self, store: KeyStore
    ) -> None:
        self.with_subject(store)  # s1 has its key, but not from this call
        with pytest.raises(ValueError, match="under no subject key"):
            store.put_keys(
                {"s2": WrappedKey(1, b"s2")},
                {notes("s1"): WrappedDataKey("k1", b"a"), notes("s2"): WrappedDataKey("k2", b"b")},
            )
        assert store.subject_key("s2") is None
        assert store.data_key(notes("s1")) is None and store.data_key(notes("s2")) is None

    def test_each_purpose_of_a_category_has_a_key_of_its_own(
        self, store: KeyStore, open_other: OpenOther
    ) -> None:
        self.with_subject(store)
        store.put_data_key(notes(purpose="teaching"), WrappedDataKey("k1", b"teaching"))
        store.put_data_key(notes(purpose="marketing"), WrappedDataKey("k2", b"marketing"))
        store.put_data_key(DataKeyScope("s1", "notes", ""), WrappedDataKey("k3", b"none"))
        for view in (store, open_other()):
            assert view.data_key(notes(purpose="teaching")) == WrappedDataKey("k1", b"teaching")
            assert view.data_key(notes(purpose="marketing")) == WrappedDataKey("k2", b"marketing")
            assert view.data_key(DataKeyScope("s1", "notes", "")) == WrappedDataKey("k3", b"none")
            assert view.data_key(notes(purpose="other")) is None
            assert view.data_key_scopes("s1") == [
                DataKeyScope("s1", "notes", ""),
                notes(purpose="marketing"),
                notes(purpose="teaching"),
            ]

    def test_destroying_a_category_takes_every_purposes_key_and_no_other(
        self, store: KeyStore, open_other: OpenOther
    ) -> None:
        other = open_other()
        self.with_subject(store)
        self.with_subject(store, "s2")
        for scope in (notes(), notes(purpose="marketing"), contact(), notes("s2")):
            store.put_data_key(scope, WrappedDataKey("k", b"data"))
        before = other.destruction_generation()
        assert store.destroy_data_keys("s1", "notes") == 2
        assert other.destruction_generation() > before
        for view in (store, other):
            assert view.data_key_scopes("s1") == [contact()]
            assert view.data_key(notes()) is None
            assert view.data_key(notes(purpose="marketing")) is None
            assert view.data_key(notes("s2")) == WrappedDataKey("k", b"data")
        assert store.destroy_data_keys("s1", "notes") == 0
        assert other.destroy_data_keys("s1", "never") == 0

    def test_legacy_keys_are_listed_a_page_at_a_time_and_only_they(self, store: KeyStore) -> None:
        assert store.legacy_data_key_scopes(None, 10) == []
        legacy = []
        for subject_id in ("s2", "s1", "s3"):
            self.with_subject(store, subject_id)
            for category in ("notes", "contact"):
                scope = DataKeyScope(subject_id, category, "")
                store.put_data_key(scope, WrappedDataKey("k", b"old", legacy=True))
                legacy.append(scope)
            store.put_data_key(notes(subject_id), WrappedDataKey("k", b"new"))
        legacy.sort()
        assert store.data_key(legacy[0]) == WrappedDataKey("k", b"old", legacy=True)
        assert store.legacy_data_key_scopes(None, 4) == legacy[:4]
        assert store.legacy_data_key_scopes(legacy[3], 4) == legacy[4:]
        assert store.legacy_data_key_scopes(legacy[-1], 4) == []

    def test_a_legacy_key_is_readdressed_once_keeping_its_id(
        self, store: KeyStore, open_other: OpenOther
    ) -> None:
        other = open_other()
        self.with_subject(store)
        old = DataKeyScope("s1", "notes", "")
        store.put_data_key(old, WrappedDataKey("k1", b"old", legacy=True))
        store.put_data_key(contact(), WrappedDataKey("k2", b"contact"))
        generation = other.destruction_generation()
        # Another id, or a scope that has a key already: nothing changes.
        assert not store.readdress_data_key(old, notes(), WrappedDataKey("k9", b"new"))
        assert not store.readdress_data_key(
            DataKeyScope("s1", "contact", ""), contact(), WrappedDataKey("k2", b"x")
        )
        store.put_data_key(notes(purpose="taken"), WrappedDataKey("k3", b"taken"))
        assert not store.readdress_data_key(
            old, notes(purpose="taken"), WrappedDataKey("k1", b"new")
        )
        assert store.data_key(old) == WrappedDataKey("k1", b"old", legacy=True)
        assert store.data_key(notes(purpose="taken")) == WrappedDataKey("k3", b"taken")

        assert store.readdress_data_key(old, notes(), WrappedDataKey("k1", b"new"))
        assert not other.readdress_data_key(old, notes(), WrappedDataKey("k1", b"again"))
        for view in (store, other):
            assert view.data_key(old) is None
            assert view.data_key(notes()) == WrappedDataKey("k1", b"new")
            assert view.legacy_data_key_scopes(None, 10) == []
        assert other.destruction_generation() == generation  # a move destroys no key

    def test_a_legacy_key_of_no_purpose_is_rewrapped_in_place(self, store: KeyStore) -> None:
        self.with_subject(store)
        scope = DataKeyScope("s1", "vault.identity", "")
        store.put_data_key(scope, WrappedDataKey("k1", b"old", legacy=True))
        assert store.readdress_data_key(scope, scope, WrappedDataKey("k1", b"new"))
        assert store.data_key(scope) == WrappedDataKey("k1", b"new")
        assert not store.readdress_data_key(scope, scope, WrappedDataKey("k1", b"again"))
        assert store.legacy_data_key_scopes(None, 10) == []

    def test_of_two_stores_moving_one_legacy_key_at_once_one_does(
        self, store: KeyStore, open_other: OpenOther
    ) -> None:
        other = open_other()
        for n in range(10):
            subject_id = f"s{n}"
            self.with_subject(store, subject_id)
            old = DataKeyScope(subject_id, "notes", "")
            store.put_data_key(old, WrappedDataKey("k", b"old", legacy=True))
            moved = race(
                [
                    functools.partial(
                        view.readdress_data_key,
                        old,
                        notes(subject_id, purpose),
                        WrappedDataKey("k", purpose.encode()),
                    )
                    for view, purpose in ((store, "a"), (other, "b"), (store, "c"))
                ]
            )
            assert sorted(moved) == [False, False, True]
            winner = "abc"[moved.index(True)]
            for view in (store, other):
                assert view.data_key_scopes(subject_id) == [notes(subject_id, winner)]

    # ------------------------------------------------------------- destruction
    def test_a_destroyed_subject_takes_its_data_keys_and_is_gone_for_every_store(
        self, store: KeyStore, open_other: OpenOther
    ) -> None:
        other = open_other()
        self.with_subject(store)
        self.with_subject(store, "s2")
        for scope in (notes(), contact(), notes("s2")):
            store.put_data_key(scope, WrappedDataKey("k", b"data"))
        assert other.subject_key("s1") is not None  # read once before, as a cache would
        assert store.destroy_subject("s1") == 3  # the subject key and two data keys
        for view in (store, other, open_other()):
            assert view.subject_key("s1") is None
            assert view.data_key(notes()) is None and view.data_key(contact()) is None
            assert view.data_key_scopes("s1") == []
            assert [s for s, _ in view.wrapped_subject_keys()] == ["s2"]
            assert view.data_key(notes("s2")) == WrappedDataKey("k", b"data")

    def test_destroying_twice_is_harmless(self, store: KeyStore, open_other: OpenOther) -> None:
        self.with_subject(store)
        store.put_data_key(notes(), WrappedDataKey("k", b"data"))
        store.put_job_key("r1", 1, b"job")
        assert store.destroy_data_key(notes()) is True
        assert store.destroy_data_key(notes()) is False
        assert open_other().destroy_data_key(notes()) is False
        assert store.destroy_subject("s1") == 1
        assert store.destroy_subject("s1") == 0
        assert open_other().destroy_subject("s1") == 0
        assert store.destroy_subject("never-made") == 0
        assert store.destroy_job_key("r1") is True
        assert store.destroy_job_key("r1") is False
        assert store.subject_key("s1") is None and store.job_key("r1") is None

    def test_a_destroyed_data_key_is_gone_for_every_store_and_the_others_stay(
        self, store: KeyStore, open_other: OpenOther
    ) -> None:
        other = open_other()
        self.with_subject(store)
        store.put_data_key(notes(), WrappedDataKey("k1", b"notes"))
        store.put_data_key(contact(), WrappedDataKey("k2", b"contact"))
        assert other.data_key(notes()) is not None
        assert store.destroy_data_key(notes()) is True
        for view in (store, other):
            assert view.data_key(notes()) is None
            assert view.data_key(contact()) == WrappedDataKey("k2", b"contact")
            assert view.data_key_scopes("s1") == [contact()]
            assert view.subject_key("s1") is not None

    def test_the_destruction_generation_grows_with_every_destruction_for_every_store(
        self, store: KeyStore, open_other: OpenOther
    ) -> None:
        other = open_other()
        self.with_subject(store)
        store.put_data_key(notes(), WrappedDataKey("k", b"data"))
        store.put_job_key("r1", 1, b"job")
        seen = [other.destruction_generation()]
        # Writing keys is no destruction: caches keep what they hold.
        store.put_data_key(contact(), WrappedDataKey("k", b"data"))
        assert store.rewrap_subject_key("s1", 1, 2, b"rewrapped")
        assert other.destruction_generation() == seen[-1]
        for destroy in (
            lambda: store.destroy_data_key(notes()),
            lambda: store.destroy_job_key("r1"),
            lambda: store.destroy_subject("s1"),
        ):
            destroy()
            now = other.destruction_generation()
            assert now > seen[-1]
            assert store.destruction_generation() == now
            seen.append(now)
        # Read again, it does not move; a store opened afterwards sees no less.
        assert other.destruction_generation() == seen[-1]
        assert open_other().destruction_generation() >= seen[-1]

    def test_a_key_cached_by_another_process_is_unusable_once_destroyed(
        self, store: KeyStore, open_other: OpenOther
    ) -> None:
        ring = Keyring.generate()
        here, there = KeyManager(store, ring), KeyManager(open_other(), ring)
        here.create_subject_key("s1")
        here.create_subject_key("s2")
        for subject_id in ("s1", "s2"):
            there.data_key(subject_id, "notes", "teaching", create=True)
            there.data_key(subject_id, "contact", "teaching", create=True)
        kept = there.data_key("s2", "notes", "teaching", create=False)  # cached there
        here.destroy_category("s1", "contact")
        with pytest.raises(CategoryErased):
            there.data_key("s1", "contact", "teaching", create=False)
        there.data_key("s1", "notes", "teaching", create=False)
        here.destroy_subject("s1")
        with pytest.raises(SubjectErased):
            there.subject_key("s1")
        with pytest.raises(SubjectErased):
            there.data_key("s1", "notes", "teaching", create=False)
        assert there.data_key("s2", "notes", "teaching", create=False) == kept

    def test_scrub_completes_on_a_quiet_store_and_destroyed_keys_stay_gone(
        self, store: KeyStore, open_other: OpenOther
    ) -> None:
        assert store.scrub() is True  # nothing destroyed: nothing to do
        self.with_subject(store)
        store.put_data_key(notes(), WrappedDataKey("k", b"data"))
        store.put_job_key("r1", 1, b"job")
        store.destroy_subject("s1")
        store.destroy_job_key("r1")
        assert store.scrub() is True
        assert store.scrub() is True  # and again: nothing left to do
        other = open_other()
        assert other.subject_key("s1") is None and other.data_key(notes()) is None
        assert other.job_key("r1") is None

    # ---------------------------------------------------------------- job keys
    def test_a_job_key_reads_back_as_written_until_destroyed_for_every_store(
        self, store: KeyStore, open_other: OpenOther
    ) -> None:
        other = open_other()
        assert store.job_key("r1") is None
        store.put_job_key("r1", 2, b"job-1")
        store.put_job_key("r2", 1, b"job-2")
        assert store.job_key("r1") == WrappedKey(2, b"job-1")
        assert other.job_key("r1") == WrappedKey(2, b"job-1")
        assert store.destroy_job_key("r1") is True
        assert store.job_key("r1") is None and other.job_key("r1") is None
        assert other.job_key("r2") == WrappedKey(1, b"job-2")

    def test_job_keys_are_apart_from_subject_keys(self, store: KeyStore) -> None:
        store.put_job_key("x", 1, b"job")
        assert store.subject_key("x") is None
        assert list(store.wrapped_subject_keys()) == []
        self.with_subject(store, "y")
        assert store.job_key("y") is None
        store.destroy_subject("x")
        assert store.job_key("x") == WrappedKey(1, b"job")

    # -------------------------------------------------------------- vault keys
    def test_a_vault_key_reads_back_by_name_for_every_store(
        self, store: KeyStore, open_other: OpenOther
    ) -> None:
        assert store.vault_key("api-tokens") is None
        assert store.put_vault_key("api-tokens", 2, b"wrapped") == WrappedKey(2, b"wrapped")
        assert store.vault_key("api-tokens") == WrappedKey(2, b"wrapped")
        assert open_other().vault_key("api-tokens") == WrappedKey(2, b"wrapped")
        assert store.vault_key("another") is None
        # Apart from the subject and job keys of the same name.
        assert store.subject_key("api-tokens") is None and store.job_key("api-tokens") is None
        assert list(store.wrapped_subject_keys()) == []

    def test_the_first_vault_key_stored_stays_and_a_later_put_gets_it_back(
        self, store: KeyStore, open_other: OpenOther
    ) -> None:
        store.put_vault_key("api-tokens", 1, b"first")
        assert open_other().put_vault_key("api-tokens", 2, b"second") == WrappedKey(1, b"first")
        assert store.vault_key("api-tokens") == WrappedKey(1, b"first")

    def test_of_vault_keys_made_at_once_by_several_stores_every_one_gets_the_same(
        self, store: KeyStore, open_other: OpenOther
    ) -> None:
        stores = [store, *(open_other() for _ in range(3))]
        for round_ in range(5):
            name = f"key-{round_}"
            puts = [
                functools.partial(view.put_vault_key, name, 1, f"from {n}".encode())
                for n, view in enumerate(stores)
            ]
            got = race(puts)
            assert len(set(got)) == 1, got
            assert all(view.vault_key(name) == got[0] for view in stores)

    def test_vault_keys_are_walked_and_rewrapped_like_job_keys(
        self, store: KeyStore, open_other: OpenOther
    ) -> None:
        for name in ("b", "a", "c"):
            store.put_vault_key(name, 1, name.encode())
        assert list(store.wrapped_vault_keys()) == [
            ("a", WrappedKey(1, b"a")),
            ("b", WrappedKey(1, b"b")),
            ("c", WrappedKey(1, b"c")),
        ]
        rewraps = [Rewrap("a", 1, 2, b"a under 2"), Rewrap("b", 2, 3, b"not under 2")]
        assert store.rewrap_vault_keys([*rewraps, Rewrap("none", 1, 2, b"x")]) == 1
        assert open_other().vault_key("a") == WrappedKey(2, b"a under 2")
        assert store.vault_key("b") == WrappedKey(1, b"b")
        assert store.vault_key("none") is None
        assert store.rewrap_vault_keys([Rewrap("a", 1, 3, b"again")]) == 0  # moved already
        assert store.rewrap_vault_keys([]) == 0

    def test_vault_keys_are_counted_by_kek_version(self, store: KeyStore) -> None:
        store.put_subject_key("s1", 1, b"a")
        store.put_vault_key("api-tokens", 1, b"b")
        store.put_vault_key("other", 3, b"c")
        assert store.kek_versions() == {1: 2, 3: 1}
        store.rewrap_vault_keys([Rewrap("api-tokens", 1, 3, b"b under 3")])
        assert store.kek_versions() == {1: 1, 3: 2}
        # A vault key is no subject key: a keyring behind is told by subject keys.
        assert store.newest_kek_version() == 1

    def test_a_vault_key_put_or_rewrapped_below_the_floor_is_refused(
        self, store: KeyStore, open_other: OpenOther
    ) -> None:
        store.put_vault_key("kept", 1, b"under 1")
        store.raise_kek_floor(2)
        other = open_other()
        for refused in (
            lambda: other.put_vault_key("api-tokens", 1, b"x"),
            lambda: other.put_vault_key("kept", 1, b"x"),
            lambda: other.rewrap_vault_keys([Rewrap("kept", 1, 1, b"x")]),
        ):
            with pytest.raises(KekRetired) as caught:
                refused()
            assert (caught.value.kek_version, caught.value.floor) == (1, 2)
        assert store.vault_key("api-tokens") is None
        assert store.vault_key("kept") == WrappedKey(1, b"under 1")
        assert other.put_vault_key("api-tokens", 2, b"under 2") == WrappedKey(2, b"under 2")

    def test_a_vault_key_made_through_the_key_manager_is_one_key_for_every_process(
        self, store: KeyStore, open_other: OpenOther
    ) -> None:
        ring = Keyring.generate()
        key = KeyManager(store, ring).vault_key("api-tokens")
        assert len(key) == 32
        assert KeyManager(open_other(), ring).vault_key("api-tokens") == key
        assert KeyManager(store, ring).vault_key("another") != key
        # Rotated: re-wrapped under the new version, the same key still.
        new_ring = ring.with_new_version()
        manager = KeyManager(store, ring)
        manager.keyrings.replace(new_ring)
        assert manager.rewrap(new_ring).vault_keys == 2
        assert store.vault_key("api-tokens").kek_version == new_ring.current_version  # type: ignore[union-attr]
        assert KeyManager(open_other(), new_ring).vault_key("api-tokens") == key

    # ------------------------------------------------------------------ close
    def test_what_was_written_outlives_the_store_object(
        self, store: KeyStore, open_other: OpenOther
    ) -> None:
        writer = open_other()
        self.with_subject(writer)
        writer.put_data_key(notes(), WrappedDataKey("k", b"data"))
        writer.put_job_key("r1", 1, b"job")
        writer.close()
        assert store.subject_key("s1") == WrappedKey(1, b"wrapped-s1")
        assert store.data_key(notes()) == WrappedDataKey("k", b"data")
        assert store.job_key("r1") == WrappedKey(1, b"job")

    # ------------------------------------------------- several store objects
    def test_a_key_destroyed_through_one_store_is_gone_at_once_for_readers_of_another(
        self, store: KeyStore, open_other: OpenOther
    ) -> None:
        for subject_id in ("s1", "s2"):
            self.with_subject(store, subject_id)
            store.put_data_key(notes(subject_id), WrappedDataKey("k", b"notes"))
            store.put_data_key(contact(subject_id), WrappedDataKey("k", b"contact"))
        views = [open_other(), open_other()]
        before = views[0].destruction_generation()
        destroyed = threading.Event()

        def reader(view: KeyStore) -> int:
            """Reads s1's keys while they are destroyed; how many reads came after."""
            after = 0
            for n in itertools.count():
                if n == READS_BEFORE:
                    destroyed.wait(BOUND_SECONDS)  # bounded: no more reads before than this
                gone = destroyed.is_set()  # set once the destroying call returned
                subject_key, data_key = view.subject_key("s1"), view.data_key(notes())
                # Read after the keys: a key seen gone is a destruction seen counted.
                generation = view.destruction_generation()
                if gone:
                    assert subject_key is None and data_key is None
                    assert generation > before and view.data_key_scopes("s1") == []
                    after += 1
                    if after == READS_AFTER:
                        break
                else:
                    assert subject_key is not None or generation > before
            assert view.data_key(notes("s2")) == WrappedDataKey("k", b"notes")
            return after

        def destroy() -> None:
            assert store.destroy_subject("s1") == 3
            destroyed.set()

        readers = [functools.partial(reader, view) for view in views for _ in range(3)]
        *afters, _ = race([*readers, destroy])
        assert afters == [READS_AFTER] * len(readers)

    def test_a_key_cached_by_readers_of_another_store_is_unusable_once_destroyed(
        self, store: KeyStore, open_other: OpenOther
    ) -> None:
        ring = Keyring.generate()
        here, there = KeyManager(store, ring), KeyManager(open_other(), ring)
        here.create_subject_key("s1")
        here.create_subject_key("s2")
        kept = there.data_key("s2", "notes", "teaching", create=True)
        there.data_key("s1", "notes", "teaching", create=True)  # cached there before it goes
        destroyed = threading.Event()

        def reader() -> int:
            after = 0
            for n in itertools.count():
                if n == READS_BEFORE:
                    destroyed.wait(BOUND_SECONDS)
                gone = destroyed.is_set()
                try:
                    there.data_key("s1", "notes", "teaching", create=False)
                except SubjectErased:
                    pass
                else:
                    assert not gone, "a destroyed key was used"
                if gone:
                    with pytest.raises(SubjectErased):
                        there.subject_key("s1")
                    after += 1
                    if after == READS_AFTER:
                        break
            assert there.data_key("s2", "notes", "teaching", create=False) == kept
            return after

        def destroy() -> None:
            here.destroy_subject("s1")
            destroyed.set()

        *afters, _ = race([*(reader for _ in range(4)), destroy])
        assert afters == [READS_AFTER] * 4

    def test_of_data_keys_put_at_once_through_two_stores_the_first_stays_for_both(
        self, store: KeyStore, open_other: OpenOther
    ) -> None:
        other = open_other()
        self.with_subject(store)
        categories = [f"c{n}" for n in range(10)]

        def put(view: KeyStore, category: str, n: int) -> WrappedDataKey | None:
            return view.put_data_key(
                DataKeyScope("s1", category, "teaching"),
                WrappedDataKey(f"k{n}", f"key {n}".encode()),
            )

        for category in categories:
            on = itertools.cycle((store, other))
            got = race([functools.partial(put, next(on), category, n) for n in range(4)])
            first = got[0]
            assert first is not None and got == [first] * 4, got
            assert first in [WrappedDataKey(f"k{n}", f"key {n}".encode()) for n in range(4)]
            for view in (store, other):
                assert view.data_key(DataKeyScope("s1", category, "teaching")) == first
        assert [s.category for s in other.data_key_scopes("s1")] == categories

    def test_key_managers_on_two_stores_making_one_data_key_at_once_get_the_same(
        self, store: KeyStore, open_other: OpenOther
    ) -> None:
        ring = Keyring.generate()
        managers = [KeyManager(store, ring), KeyManager(open_other(), ring)]
        managers[0].create_subject_key("s1")
        for category in (f"c{n}" for n in range(10)):
            made = race(
                [
                    functools.partial(manager.data_key, "s1", category, "teaching", create=True)
                    for manager in managers * 2
                ]
            )
            assert made == [made[0]] * 4, category
            fresh = KeyManager(open_other(), ring)  # a process that starts afterwards
            assert fresh.data_key("s1", category, "teaching", create=False) == made[0]

    def test_a_data_key_put_racing_its_subjects_destruction_does_not_outlive_it(
        self, store: KeyStore, open_other: OpenOther
    ) -> None:
        other = open_other()
        for n in range(10):
            subject_id = f"s{n}"
            self.with_subject(store, subject_id)
            put, destroyed = race(
                [
                    functools.partial(
                        other.put_data_key, notes(subject_id), WrappedDataKey("k", b"data")
                    ),
                    functools.partial(store.destroy_subject, subject_id),
                ]
            )
            # The put came first and went with the subject, or found it gone.
            assert (put, destroyed) in ((WrappedDataKey("k", b"data"), 2), (None, 1))
            for view in (store, other):
                assert view.subject_key(subject_id) is None
                assert view.data_key(notes(subject_id)) is None
                assert view.data_key_scopes(subject_id) == []
