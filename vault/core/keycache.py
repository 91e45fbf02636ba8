"""The cache of unwrapped keys: the least recently used go first once it holds
[keys] cache_entries, and all of it is dropped whenever any process has
destroyed a key since it was filled (the key store's destruction generation),
so an erased key is unusable at once everywhere. It counts what it does
(`stats`, logged by the runtime every five minutes).

It holds what `KeyManager` puts in it and knows nothing of how keys are made,
wrapped or stored.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

# The cache's bound unless [keys] cache_entries says otherwise. Measured on this
# machine (CPython 3.11, 64-bit, a subject key and three data keys a person,
# the cache full and evicting): an entry costs about 430 bytes of RSS (the
# (subject, category) tuple and its strings, the key, the OrderedDict's slot and
# links), so 50,000 entries take about 22 MB; 20,000 entries took 45 MB while
# each cached data key kept its AESGCM object. 100,000 people have about
# 400,000 keys: this holds those of the 12,500 people worked on most recently,
# and leaves half of the aim of 50 MB growth from 1,000 to 100,000 people to
# the databases' page caches, which fill as the databases grow.
DEFAULT_CACHE_ENTRIES = 50_000


@dataclass(frozen=True)
class CacheStats:
    """What the key cache did, counted since the KeyManager was made (or, from
    `since`, between two readings)."""

    capacity: int
    entries: int
    hits: int
    misses: int
    # Entries dropped, least recently used first, to stay within the capacity.
    evictions: int
    # Times a key destroyed in some process emptied the whole cache.
    emptied: int

    @property
    def lookups(self) -> int:
        return self.hits + self.misses

    @property
    def hit_rate(self) -> float:
        """Hits over lookups; 0 before the first lookup."""
        return self.hits / self.lookups if self.lookups else 0.0

    def since(self, earlier: CacheStats) -> CacheStats:
        """The counts between `earlier` and this reading, at this reading's size."""
        return replace(
            self,
            hits=self.hits - earlier.hits,
            misses=self.misses - earlier.misses,
            evictions=self.evictions - earlier.evictions,
            emptied=self.emptied - earlier.emptied,
        )

    def summary(self) -> str:
        return (
            f"{self.hit_rate:.1%} of {self.lookups:,} key lookups hit the cache "
            f"({self.misses:,} missed), {self.entries:,} of {self.capacity:,} entries held, "
            f"{self.evictions:,} evicted, emptied {self.emptied:,} times by destroyed keys"
        )


@dataclass(frozen=True)
class Miss:
    """Not in the cache, looked up at this destruction generation."""

    generation: int


# A cache entry: under (subject, "") the subject key, under (subject, category,
# purpose) the data key's id and key.
Cached = bytes | tuple[str, bytes]
Entry = tuple[str, ...]


class KeyCache:
    def __init__(self, generation: Callable[[], int], cache_entries: int) -> None:
        # The key store's destruction generation, read on every lookup.
        self._generation_now = generation
        self._lock = threading.Lock()
        self._cache: OrderedDict[Entry, Cached] = OrderedDict()
        self._generation = -1
        self._capacity = _capacity(cache_entries)
        self._hits = self._misses = self._evictions = self._emptied = 0

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(
                self._capacity,
                len(self._cache),
                self._hits,
                self._misses,
                self._evictions,
                self._emptied,
            )

    def resize(self, cache_entries: int) -> None:
        with self._lock:
            self._capacity = _capacity(cache_entries)
            self._evict()

    def lookup(self, key: Entry) -> Cached | Miss:
        """The cached key, or a miss that says which destruction generation the
        lookup saw: what is unwrapped after it is remembered only if no
        destruction came in between (see `remember`)."""
        generation = self._generation_now()
        with self._lock:
            value = self._cache.get(key) if self._caught_up(generation) else None
            if value is None:
                self._misses += 1
                return Miss(generation)
            self._hits += 1
            self._cache.move_to_end(key)
            return value

    def catch_up(self, generation: int) -> None:
        """Empty the cache if keys were destroyed since `generation` last moved
        (before new keys, read at `generation`, are remembered)."""
        with self._lock:
            self._caught_up(generation)

    def remember(self, key: Entry, value: Cached, generation: int) -> None:
        with self._lock:
            if generation != self._generation:
                # Another thread saw a destruction after our read: the key we
                # read may be a destroyed one, so it is not cached.
                return
            self._cache[key] = value
            self._evict()

    def forget(self, key: Entry) -> None:
        with self._lock:
            self._cache.pop(key, None)

    def forget_subject(self, subject_id: str) -> None:
        with self._lock:
            for key in [k for k in self._cache if k[0] == subject_id]:
                del self._cache[key]

    def forget_category(self, subject_id: str, category: str) -> None:
        """Every purpose's key of the category (entries are (subject, category, purpose))."""
        with self._lock:
            for key in [k for k in self._cache if k[0] == subject_id and k[1:2] == (category,)]:
                del self._cache[key]

    def _caught_up(self, generation: int) -> bool:
        """Whether the cache may answer for a lookup made at `generation`: it is
        emptied if keys were destroyed since it was filled. A thread that read an
        older generation than another (each reads the store on its own) is not
        answered from the cache, and the cache does not go back. `_lock` is held."""
        if generation == self._generation:
            return True
        if generation > self._generation:
            if self._cache:
                self._cache.clear()
                self._emptied += 1
            self._generation = generation
        return False

    def _evict(self) -> None:
        """`_lock` is held."""
        while len(self._cache) > self._capacity:
            self._cache.popitem(last=False)
            self._evictions += 1


def _capacity(cache_entries: int) -> int:
    if cache_entries < 1:
        raise ValueError(f"the key cache must hold at least 1 entry, not {cache_entries}")
    return cache_entries
