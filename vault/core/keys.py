"""Per-subject and per-(subject, category, purpose) keys: creation, unwrapping,
caching, shredding.

Destroying a subject's key erases the whole person; destroying a category's
keys erases that category, and one purpose's key that purpose's records alone.
Unwrapped keys are cached for speed (`vault.core.keycache`), the cache
dropped whenever any process has destroyed a key since it was filled, so an
erased key is unusable at once everywhere.
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vault import crypto
from vault.core.errors import CategoryErased, SubjectErased
from vault.core.keycache import DEFAULT_CACHE_ENTRIES, CacheStats, KeyCache, Miss
from vault.crypto import KeyringError
from vault.keyring import Keyring, KeyringSource
from vault.storage.base import (
    DataKeyScope,
    KekRetired,
    KeyStore,
    Rewrap,
    WrappedDataKey,
    WrappedKey,
)

# Keys re-wrapped in one key-store transaction by a rotation: one commit (an
# fsync on SQLite) a page rather than a key, and a transaction short enough
# not to hold other writers back for long.
REWRAP_PAGE = 500

_T = TypeVar("_T")
_log = logging.getLogger(__name__)


class NeedsNewKey(Exception):
    """A category has no data key yet, and the caller asked not to write one."""


@dataclass(frozen=True)
class DataKey:
    """A category's key as one lookup returns it."""

    key_id: str
    key: bytes

    @functools.cached_property
    def aead(self) -> AESGCM:
        """The cipher object, made once per lookup rather than once per record.
        The cache keeps the key alone: an AESGCM object holds OpenSSL contexts of
        about 2.5 KB, six times the rest of a cache entry, and takes 6 us to make,
        a small part of a key-store read a miss would cost."""
        return AESGCM(self.key)


class KeyManager:
    def __init__(
        self,
        store: KeyStore,
        keyring: Keyring | KeyringSource,
        cache_entries: int = DEFAULT_CACHE_ENTRIES,
    ) -> None:
        self.store = store
        self.keyrings = KeyringSource.of(keyring)
        self._cache = KeyCache(store.destruction_generation, cache_entries)

    @property
    def keyring(self) -> Keyring:
        """The keyring as it is now (a rotation elsewhere is seen within a second)."""
        return self.keyrings.current()

    def kek(self, version: int) -> bytes:
        """The KEK of `version`; a version the ring in hand lacks may have been
        made by a rotation in another process since, so the file is read again."""
        ring = self.keyrings.current()
        if not ring.has(version):
            ring = self.keyrings.refresh()
        return ring.kek(version)

    # ---------------------------------------------------------------- cache
    def stats(self) -> CacheStats:
        return self._cache.stats()

    def resize(self, cache_entries: int) -> None:
        """Hold at most `cache_entries` keys from now on; a smaller bound evicts
        the least recently used at once."""
        self._cache.resize(cache_entries)

    # ----------------------------------------------------------------- keys
    def create_subject_key(self, subject_id: str) -> None:
        generation = self.store.destruction_generation()
        self._cache.catch_up(generation)
        key = crypto.new_key()

        def put(ring: Keyring) -> None:
            version = ring.current_version
            wrapped = crypto.seal(
                ring.current_kek, key, crypto.associated_data("subject-key", version, subject_id)
            )
            self.store.put_subject_key(subject_id, version, wrapped)

        self._under_current_kek(put)
        self._cache.remember((subject_id, ""), key, generation)

    def _under_current_kek(self, put: Callable[[Keyring], _T]) -> _T:
        """`put` a key wrapped under the current KEK. A store that refuses the
        version (a retirement raised its floor) means the ring in hand is behind
        the file: it is read again and the put made once more, under the
        version a rotation made current. A keyring that lacks it (a copy of its
        own, on another machine) cannot follow the rotation: KeyringError."""
        try:
            return put(self.keyring)
        except KekRetired as refused:
            ring = self.keyrings.refresh()
            if ring.current_version < refused.floor:
                raise KeyringError(
                    f"the keyring ({ring.source}) is behind the key database: its current "
                    f"key-encryption key version {ring.current_version} is retired there; "
                    "give this server the keyring file the others use"
                ) from None
            return put(ring)

    def subject_key(self, subject_id: str) -> bytes:
        cached = self._cache.lookup((subject_id, ""))
        if isinstance(cached, bytes):
            return cached
        assert isinstance(cached, Miss)  # a subject's entry holds its subject key
        stored = self.store.subject_key(subject_id)
        if stored is None:
            raise SubjectErased(subject_id)
        version, wrapped = stored
        key = crypto.unseal(
            self.kek(version),
            wrapped,
            crypto.associated_data("subject-key", version, subject_id),
        )
        self._cache.remember((subject_id, ""), key, cached.generation)
        return key

    def data_key(
        self, subject_id: str, category: str, purpose: str, *, create: bool, write: bool = True
    ) -> DataKey:
        """The data key of the subject's records of `category` held for `purpose`
        ("" for the vault's own keys, such as the identities'); made on first use
        when `create` is set, else CategoryErased if it does not exist (never
        made, or destroyed). With `write=False` a key that would have to be made
        raises NeedsNewKey."""
        cached = self._cache.lookup((subject_id, category, purpose))
        if isinstance(cached, tuple):
            return DataKey(*cached)
        assert isinstance(cached, Miss)  # a data key's entry holds its id and key
        subject_key = self.subject_key(subject_id)
        scope = DataKeyScope(subject_id, category, purpose)
        stored = self.store.data_key(scope)
        if stored is None:
            if not create:
                raise _erased(scope)
            if not write:
                raise NeedsNewKey(f"{_named(scope)} of subject {subject_id} has no key yet")
            key_id = secrets.token_hex(8)
            wrapped = crypto.seal(subject_key, crypto.new_key(), _wrap_aad(scope, key_id))
            stored = self.store.put_data_key(scope, WrappedDataKey(key_id, wrapped))
            if stored is None:
                # The subject key was destroyed between our read and our write.
                raise SubjectErased(subject_id)
        key = crypto.unseal(subject_key, stored.wrapped, _unwrap_aad(scope, stored))
        self._cache.remember(
            (subject_id, category, purpose), (stored.key_id, key), cached.generation
        )
        return DataKey(stored.key_id, key)

    def create_new_subjects_keys(
        self, scopes: Mapping[str, Iterable[tuple[str, str]]]
    ) -> dict[DataKeyScope, DataKey]:
        """Keys for new subjects, by subject id: each one's subject key and a data
        key for each of its (category, purpose) scopes, written with one
        `put_keys` (one durable key-store commit for a whole batch of an import),
        cached, and returned by scope."""
        generation = self.store.destruction_generation()
        self._cache.catch_up(generation)
        subject_keys: dict[str, bytes] = {}
        wrapped_data_keys: dict[DataKeyScope, WrappedDataKey] = {}
        data_keys: dict[DataKeyScope, DataKey] = {}
        for subject_id, pairs in scopes.items():
            subject_key = subject_keys[subject_id] = crypto.new_key()
            under = AESGCM(subject_key)  # made once for all the subject's data keys
            for category, purpose in pairs:
                scope = DataKeyScope(subject_id, category, purpose)
                key_id, key = secrets.token_hex(8), crypto.new_key()
                wrapped_data_keys[scope] = WrappedDataKey(
                    key_id, crypto.seal(under, key, _wrap_aad(scope, key_id))
                )
                data_keys[scope] = DataKey(key_id, key)

        def put(ring: Keyring) -> bool:
            version = ring.current_version
            wrapped = {
                subject_id: WrappedKey(
                    version,
                    crypto.seal(
                        ring.current_kek,
                        subject_key,
                        crypto.associated_data("subject-key", version, subject_id),
                    ),
                )
                for subject_id, subject_key in subject_keys.items()
            }
            return self.store.put_keys(wrapped, wrapped_data_keys)

        if not self._under_current_kek(put):
            # Subject ids are 128 random bits: one already keyed is a fault, not chance.
            raise RuntimeError("a new subject's id already has a key")
        for subject_id, subject_key in subject_keys.items():
            self._cache.remember((subject_id, ""), subject_key, generation)
        for scope, data_key in data_keys.items():
            self._cache.remember(
                (scope.subject_id, scope.category, scope.purpose),
                (data_key.key_id, data_key.key),
                generation,
            )
        return data_keys

    def categories(self, subject_id: str) -> list[str]:
        """The categories the subject has data keys in, sorted, each once."""
        return sorted({scope.category for scope in self.store.data_key_scopes(subject_id)})

    def scopes(self, subject_id: str) -> list[DataKeyScope]:
        """Every data key's scope the subject has, by category and purpose."""
        return self.store.data_key_scopes(subject_id)

    # ------------------------------------------------- keys of an earlier release
    def legacy_data_key(self, scope: DataKeyScope) -> DataKey | None:
        """The legacy key of `scope` (wrapped as before keys had purposes), for the
        upgrade step alone; None if it is not there (moved, or destroyed). Never
        cached: it is about to be moved."""
        stored = self.store.data_key(scope)
        if stored is None or not stored.legacy:
            return None
        key = crypto.unseal(
            self.subject_key(scope.subject_id), stored.wrapped, _unwrap_aad(scope, stored)
        )
        return DataKey(stored.key_id, key)

    def readdress_legacy_key(self, old: DataKeyScope, new: DataKeyScope, key: DataKey) -> bool:
        """Move the legacy key `key` of `old` to `new` (`old` itself for a key of
        no purpose), wrapped with `new`'s associated data; the records sealed
        under it stay as they are. False if another process moved it first."""
        wrapped = crypto.seal(self.subject_key(old.subject_id), key.key, _wrap_aad(new, key.key_id))
        return self.store.readdress_data_key(old, new, WrappedDataKey(key.key_id, wrapped))

    # ------------------------------------------------------------ shredding
    def destroy_subject(self, subject_id: str) -> int:
        self._cache.forget_subject(subject_id)
        count = self.store.destroy_subject(subject_id)
        self._cache.forget_subject(subject_id)
        return count

    def destroy_category(self, subject_id: str, category: str) -> int:
        """Destroy every data key of the category, each purpose's; how many went."""
        self._cache.forget_category(subject_id, category)
        destroyed = self.store.destroy_data_keys(subject_id, category)
        self._cache.forget_category(subject_id, category)
        return destroyed

    def destroy_purpose(self, subject_id: str, category: str, purpose: str) -> bool:
        """Destroy the data key of the category's records held for `purpose` alone."""
        entry = (subject_id, category, purpose)
        self._cache.forget(entry)
        destroyed = self.store.destroy_data_key(DataKeyScope(subject_id, category, purpose))
        self._cache.forget(entry)
        return destroyed

    # ------------------------------------------------------------ job keys
    def create_job_key(self, request_id: str) -> bytes:
        """A new key of a durable request's own, wrapped under the current KEK."""
        key = crypto.new_key()

        def put(ring: Keyring) -> None:
            version = ring.current_version
            self.store.put_job_key(
                request_id,
                version,
                crypto.seal(
                    ring.current_kek, key, crypto.associated_data("job-key", version, request_id)
                ),
            )

        self._under_current_kek(put)
        return key

    def job_key(self, request_id: str) -> bytes | None:
        """The request's key, or None once it is destroyed."""
        stored = self.store.job_key(request_id)
        if stored is None:
            return None
        version, wrapped = stored
        return crypto.unseal(
            self.kek(version),
            wrapped,
            crypto.associated_data("job-key", version, request_id),
        )

    def destroy_job_key(self, request_id: str) -> bool:
        return self.store.destroy_job_key(request_id)

    # ---------------------------------------------------------- vault keys
    def vault_key(self, name: str) -> bytes:
        """The vault's own key `name`, made and stored the first time it is
        asked for (the first one stored wins a race between processes).
        Wrapped under the KEK like every other key, so rotation re-wraps it
        and a database copy without the keyring cannot open it."""
        stored = self.store.vault_key(name)
        if stored is None:
            key = crypto.new_key()

            def put(ring: Keyring) -> WrappedKey:
                version = ring.current_version
                return self.store.put_vault_key(
                    name,
                    version,
                    crypto.seal(
                        ring.current_kek, key, crypto.associated_data("vault-key", version, name)
                    ),
                )

            stored = self._under_current_kek(put)
        version, wrapped = stored
        return crypto.unseal(
            self.kek(version), wrapped, crypto.associated_data("vault-key", version, name)
        )

    # ------------------------------------------------------------- rotation
    def rewrap(
        self,
        ring: Keyring,
        versions: set[int] | None = None,
        progress: Callable[[int], None] | None = None,
        walked: Callable[[], None] | None = None,
    ) -> Rewrapped:
        """Re-wrap the subject, job and vault keys under `versions` (every version
        but the current one if None) under `ring`'s current KEK, a page at a
        time (`REWRAP_PAGE` keys a transaction); `progress` is told after each
        page how many were re-wrapped so far, and `walked` called after every
        `REWRAP_PAGE` keys looked at, moved or not (a rotation renews its lease
        there). A key destroyed or re-wrapped by another process meanwhile is
        passed by; one whose wrap does not open (tampered) is logged by its
        subject or job id, left where it is and counted in `unopened`. Safe to
        run again after a crash: what was re-wrapped is under the current
        version and left alone."""
        current = ring.current_version
        moving = (lambda v: v != current) if versions is None else versions.__contains__
        counts = {"subject-key": 0, "job-key": 0, "vault-key": 0}
        unopened = 0
        for kind, walk, store in (
            ("subject-key", self.store.wrapped_subject_keys, self.store.rewrap_subject_keys),
            ("job-key", self.store.wrapped_job_keys, self.store.rewrap_job_keys),
            ("vault-key", self.store.wrapped_vault_keys, self.store.rewrap_vault_keys),
        ):
            page: list[Rewrap] = []
            looked = 0
            for key_for, (version, wrapped) in walk():
                looked += 1
                if walked is not None and looked % REWRAP_PAGE == 0:
                    walked()
                if not moving(version) or version == current:
                    continue
                try:
                    key = crypto.unseal(
                        ring.kek(version), wrapped, crypto.associated_data(kind, version, key_for)
                    )
                except crypto.TamperedError:
                    # Ids only: a subject id or a job id is no personal data.
                    _log.error(
                        "%s of %s under key version %d does not open (tampered?); "
                        "left under that version, not re-wrapped",
                        kind,
                        key_for,
                        version,
                    )
                    unopened += 1
                    continue
                page.append(
                    Rewrap(
                        key_for,
                        version,
                        current,
                        crypto.seal(
                            ring.current_kek, key, crypto.associated_data(kind, current, key_for)
                        ),
                    )
                )
                if len(page) == REWRAP_PAGE:
                    counts[kind] += store(page)
                    page = []
                    if progress is not None:
                        progress(sum(counts.values()))
            if page:
                counts[kind] += store(page)
                if progress is not None:
                    progress(sum(counts.values()))
        return Rewrapped(
            counts["subject-key"], counts["job-key"], unopened, vault_keys=counts["vault-key"]
        )


@dataclass(frozen=True)
class Rewrapped:
    """What one `KeyManager.rewrap` re-wrapped."""

    subject_keys: int
    job_keys: int
    # Keys under a version to move whose wrap did not open (tampered): left
    # where they are, so a retirement of that version refuses.
    unopened: int = 0
    # The vault's own keys (the API tokens' hashing key).
    vault_keys: int = 0

    @property
    def count(self) -> int:
        return self.subject_keys + self.job_keys + self.vault_keys


def _wrap_aad(scope: DataKeyScope, key_id: str) -> bytes:
    """What a data key's wrap is bound to: its whole scope and its id, so a
    wrapped key copied to another subject, category or purpose never opens."""
    return crypto.associated_data(
        "data-key", scope.subject_id, scope.category, scope.purpose, key_id
    )


def _unwrap_aad(scope: DataKeyScope, stored: WrappedDataKey) -> bytes:
    """The associated data `stored` was wrapped with. A legacy key (an earlier
    release's, one per category, always at purpose "") was bound to its subject,
    category and id alone; the upgrade step re-wraps it. A record category's
    legacy key is found only by that step, since records ask for their
    purpose's key; the identities' is found by everyone, and opens either way."""
    if stored.legacy:
        return crypto.associated_data(
            "category-key", scope.subject_id, scope.category, stored.key_id
        )
    return _wrap_aad(scope, stored.key_id)


def _named(scope: DataKeyScope) -> str:
    return (
        f"category {scope.category} (purpose {scope.purpose})"
        if scope.purpose
        else f"category {scope.category}"
    )


def _erased(scope: DataKeyScope) -> CategoryErased:
    return CategoryErased(
        f"{_named(scope)} of subject {scope.subject_id} has been erased",
        subject=scope.subject_id,
        category=scope.category,
        **({"purpose": scope.purpose} if scope.purpose else {}),
    )
