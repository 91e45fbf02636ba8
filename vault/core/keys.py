"""Per-subject and per-(subject, category) keys: creation, unwrapping, caching, shredding.

Destroying a subject's key erases the whole person; destroying one category
key erases that category alone. Unwrapped keys are cached for speed, but the
cache is dropped whenever any process has destroyed a key since it was filled
(the key store's destruction generation), so an erased key is unusable at once
everywhere.
"""

from __future__ import annotations

import functools
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vault import crypto
from vault.core.errors import CategoryErased, SubjectErased
from vault.storage.base import DataKeyScope, KeyStore, WrappedDataKey

CACHE_ENTRIES = 20_000


class NeedsNewKey(Exception):
    """A category has no data key yet, and the caller asked not to write one."""


@dataclass(frozen=True)
class DataKey:
    key_id: str
    key: bytes

    @functools.cached_property
    def aead(self) -> AESGCM:
        """The cipher object, made once per cached key rather than once per record."""
        return AESGCM(self.key)


@dataclass(frozen=True)
class _Miss:
    """Not in the cache, looked up at this destruction generation."""

    generation: int


class KeyManager:
    def __init__(self, store: KeyStore, keyring: crypto.Keyring) -> None:
        self.store = store
        self.keyring = keyring
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, str], bytes | DataKey] = OrderedDict()
        self._generation = -1

    # ---------------------------------------------------------------- cache
    def _cached(self, key: tuple[str, str]) -> bytes | DataKey | _Miss:
        """The cached key, or a miss that says which destruction generation the
        lookup saw: what is unwrapped after it is remembered only if no
        destruction came in between (see `_remember`)."""
        generation = self.store.destruction_generation()
        with self._lock:
            value = self._cache.get(key) if self._caught_up(generation) else None
            if value is None:
                return _Miss(generation)
            self._cache.move_to_end(key)
            return value

    def _caught_up(self, generation: int) -> bool:
        """Whether the cache may answer for a lookup made at `generation`: it is
        emptied if keys were destroyed since it was filled. A thread that read an
        older generation than another (each reads the store on its own) is not
        answered from the cache, and the cache does not go back. `_lock` is held."""
        if generation == self._generation:
            return True
        if generation > self._generation:
            self._cache.clear()
            self._generation = generation
        return False

    def _remember(self, key: tuple[str, str], value: bytes | DataKey, generation: int) -> None:
        with self._lock:
            if generation != self._generation:
                # Another thread saw a destruction after our read: the key we
                # read may be a destroyed one, so it is not cached.
                return
            self._cache[key] = value
            if len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)

    def _forget_subject(self, subject_id: str) -> None:
        with self._lock:
            for key in [k for k in self._cache if k[0] == subject_id]:
                del self._cache[key]

    # ----------------------------------------------------------------- keys
    def create_subject_key(self, subject_id: str) -> None:
        generation = self.store.destruction_generation()
        with self._lock:
            self._caught_up(generation)
        key = crypto.new_key()
        version = self.keyring.current_version
        wrapped = crypto.seal(
            self.keyring.current_kek,
            key,
            crypto.associated_data("subject-key", version, subject_id),
        )
        self.store.put_subject_key(subject_id, version, wrapped)
        self._remember((subject_id, ""), key, generation)

    def subject_key(self, subject_id: str) -> bytes:
        cached = self._cached((subject_id, ""))
        if isinstance(cached, bytes):
            return cached
        assert isinstance(cached, _Miss)  # a subject's entry holds its subject key
        stored = self.store.subject_key(subject_id)
        if stored is None:
            raise SubjectErased(subject_id)
        version, wrapped = stored
        key = crypto.unseal(
            self.keyring.kek(version),
            wrapped,
            crypto.associated_data("subject-key", version, subject_id),
        )
        self._remember((subject_id, ""), key, cached.generation)
        return key

    def data_key(
        self, subject_id: str, category: str, *, create: bool, write: bool = True
    ) -> DataKey:
        """The category's data key; made on first use when `create` is set,
        else CategoryErased if it does not exist (never made, or destroyed).
        With `write=False` a key that would have to be made raises NeedsNewKey."""
        cached = self._cached((subject_id, category))
        if isinstance(cached, DataKey):
            return cached
        assert isinstance(cached, _Miss)  # a category's entry holds its data key
        subject_key = self.subject_key(subject_id)
        scope = DataKeyScope(subject_id, category)
        stored = self.store.data_key(scope)
        if stored is None:
            if not create:
                raise CategoryErased(
                    f"category {category} of subject {subject_id} has been erased",
                    subject=subject_id,
                    category=category,
                )
            if not write:
                raise NeedsNewKey(f"category {category} of subject {subject_id} has no key yet")
            key_id = secrets.token_hex(8)
            wrapped = crypto.seal(
                subject_key, crypto.new_key(), self._category_aad(subject_id, category, key_id)
            )
            stored = self.store.put_data_key(scope, WrappedDataKey(key_id, wrapped))
            if stored is None:
                # The subject key was destroyed between our read and our write.
                raise SubjectErased(subject_id)
        key_id, wrapped = stored
        data_key = DataKey(
            key_id,
            crypto.unseal(subject_key, wrapped, self._category_aad(subject_id, category, key_id)),
        )
        self._remember((subject_id, category), data_key, cached.generation)
        return data_key

    @staticmethod
    def _category_aad(subject_id: str, category: str, key_id: str) -> bytes:
        return crypto.associated_data("category-key", subject_id, category, key_id)

    def categories(self, subject_id: str) -> list[str]:
        return [scope.category for scope in self.store.data_key_scopes(subject_id)]

    # ------------------------------------------------------------ shredding
    def destroy_subject(self, subject_id: str) -> int:
        self._forget_subject(subject_id)
        count = self.store.destroy_subject(subject_id)
        self._forget_subject(subject_id)
        return count

    def destroy_category(self, subject_id: str, category: str) -> bool:
        with self._lock:
            self._cache.pop((subject_id, category), None)
        destroyed = self.store.destroy_data_key(DataKeyScope(subject_id, category))
        with self._lock:
            self._cache.pop((subject_id, category), None)
        return destroyed

    # ------------------------------------------------------------ job keys
    def create_job_key(self, request_id: str) -> bytes:
        """A new key of a durable request's own, wrapped under the current KEK."""
        key = crypto.new_key()
        version = self.keyring.current_version
        self.store.put_job_key(
            request_id,
            version,
            crypto.seal(
                self.keyring.current_kek,
                key,
                crypto.associated_data("job-key", version, request_id),
            ),
        )
        return key

    def job_key(self, request_id: str) -> bytes | None:
        """The request's key, or None once it is destroyed."""
        stored = self.store.job_key(request_id)
        if stored is None:
            return None
        version, wrapped = stored
        return crypto.unseal(
            self.keyring.kek(version),
            wrapped,
            crypto.associated_data("job-key", version, request_id),
        )

    def destroy_job_key(self, request_id: str) -> bool:
        return self.store.destroy_job_key(request_id)

    # ------------------------------------------------------------- rotation
    def rotate(self, new_ring: crypto.Keyring) -> int:
        """Re-wrap every subject key under the new ring's current KEK; data is untouched."""
        count = 0
        for subject_id, (version, wrapped) in self.store.wrapped_subject_keys():
            if version == new_ring.current_version:
                continue
            key = crypto.unseal(
                new_ring.kek(version),
                wrapped,
                crypto.associated_data("subject-key", version, subject_id),
            )
            rewrapped = crypto.seal(
                new_ring.current_kek,
                key,
                crypto.associated_data("subject-key", new_ring.current_version, subject_id),
            )
            if self.store.rewrap_subject_key(
                subject_id, version, new_ring.current_version, rewrapped
            ):
                count += 1
        self.keyring = new_ring
        return count
