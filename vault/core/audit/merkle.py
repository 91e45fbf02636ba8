"""The audit log's Merkle tree, exactly as RFC 9162 section 2.1 (RFC 6962's,
unchanged) defines it: hashes, roots, inclusion and consistency proofs and
their verification, plus a builder that folds a log of any length in O(log n)
memory.

Everything here works on leaf hashes, not on entries: a log stores each
event's `leaf_hash(entry bytes)` once, and every root and proof is built from
those. Proofs are lists of 32-byte hashes, in the order the RFC gives them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

HASH_SIZE = 32

# RFC 9162 2.1.1: the hash of an empty list is the hash of an empty string.
EMPTY_ROOT = hashlib.sha256(b"").digest()

# RFC 9162 2.1.1: domain separation between leaves and interior nodes, so no
# leaf can be passed off as a node (the second-preimage attack on plain trees).
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(entry: bytes) -> bytes:
    """MTH({d(0)}) = SHA-256(0x00 || d(0)) (RFC 9162 2.1.1)."""
    return hashlib.sha256(_LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right) (RFC 9162 2.1.1)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1): where RFC 9162 2.1.1
    splits a tree of n leaves into a complete left subtree and the rest."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """The Merkle Tree Hash of the leaves (RFC 9162 2.1.1)."""
    if not leaf_hashes:
        return EMPTY_ROOT
    return _mth(leaf_hashes, 0, len(leaf_hashes))


def _mth(leaves: Sequence[bytes], start: int, end: int) -> bytes:
    """MTH(D[start:end]) for a non-empty range, without copying the list."""
    n = end - start
    if n == 1:
        return leaves[start]
    k = _split(n)
    return node_hash(_mth(leaves, start, start + k), _mth(leaves, start + k, end))


# ------------------------------------------------------------------ inclusion
def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(m, D[n]) (RFC 9162 2.1.3.1): the hashes that, with leaf `index`,
    rebuild the root of the tree of all `leaf_hashes`."""
    if not 0 <= index < len(leaf_hashes):
        raise ValueError(f"leaf {index} is not in a tree of {len(leaf_hashes)}")
    return _path(leaf_hashes, index, 0, len(leaf_hashes))


def _path(leaves: Sequence[bytes], m: int, start: int, end: int) -> list[bytes]:
    n = end - start
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return [*_path(leaves, m, start, start + k), _mth(leaves, start + k, end)]
    return [*_path(leaves, m - k, start + k, end), _mth(leaves, start, start + k)]


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether `proof` shows the leaf hash `leaf` at `index` in the tree of
    `size` leaves whose root is `root`: RFC 9162 2.1.3.2, step by step."""
    # Step 1.
    if not 0 <= index < size:
        return False
    # Steps 2 and 3.
    fn, sn, r = index, size - 1, leaf
    # Step 4.
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            # (ii) Unless LSB(fn) is set, shift until it is or fn is 0.
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    # Step 5.
    return sn == 0 and r == root


# ---------------------------------------------------------------- consistency
def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """PROOF(m, D[n]) (RFC 9162 2.1.4.1): the hashes that show the tree of
    the first `old_size` leaves is a prefix of the tree of all of them.

    The RFC defines it for 0 < m < n; a tree is consistent with the empty tree
    and with itself by definition, and the proof of either is empty.
    """
    n = len(leaf_hashes)
    if not 0 <= old_size <= n:
        raise ValueError(f"a tree of {n} cannot extend one of {old_size}")
    if old_size in (0, n):
        return []
    return _subproof(leaf_hashes, old_size, 0, n, True)


def _subproof(leaves: Sequence[bytes], m: int, start: int, end: int, whole: bool) -> list[bytes]:
    """SUBPROOF(m, D[start:end], b); `whole` is b: whether D[0:m] is a
    subtree the verifier already knows the hash of (the old root)."""
    n = end - start
    if m == n:
        return [] if whole else [_mth(leaves, start, end)]
    k = _split(n)
    if m <= k:
        return [*_subproof(leaves, m, start, start + k, whole), _mth(leaves, start + k, end)]
    return [*_subproof(leaves, m - k, start + k, end, False), _mth(leaves, start, start + k)]


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether `proof` shows the tree of `old_size` leaves with root
    `old_root` is a prefix of the one of `new_size` with `new_root`: RFC 9162
    2.1.4.2, step by step, for 0 < old_size < new_size."""
    if not 0 <= old_size <= new_size:
        return False
    # Outside the RFC's range the proof is empty: the empty tree has one root,
    # and a tree is consistent with itself only if the roots are equal.
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if old_size == new_size:
        return not proof and old_root == new_root
    # Step 1.
    if not proof:
        return False
    path = list(proof)
    # Step 2: a complete old tree is itself a node of the new one, and the
    # proof leaves it out because the verifier holds its hash.
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    # Step 3.
    fn, sn = old_size - 1, new_size - 1
    # Step 4.
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    # Step 5.
    fr = sr = path[0]
    # Step 6.
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            # (iii) Unless LSB(fn) is set, shift until it is or fn is 0.
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    # Step 7.
    return fr == old_root and sr == new_root and sn == 0


# --------------------------------------------------------------- the builder
class TreeBuilder:
    """Folds leaf hashes in order, keeping only the roots of the complete
    subtrees the leaves so far make (a "compact range": one per set bit of
    the size, so at most 64), and gives the root at any size.

    A verifier streams a log of millions through one; a sequencer keeps its
    `frontier` with the last signed head and resumes from it (`resume`)
    instead of reading the whole log again.
    """

    def __init__(self) -> None:
        self._size = 0
        # The complete subtrees' roots, largest (leftmost) first; their sizes
        # are the set bits of `_size`, from the highest down.
        self._frontier: list[bytes] = []

    @classmethod
    def resume(cls, size: int, frontier: Sequence[bytes]) -> TreeBuilder:
        """A builder that continues a tree of `size` leaves from its frontier."""
        if size < 0 or len(frontier) != size.bit_count():
            raise ValueError(f"a tree of {size} leaves has {size.bit_count()} frontier hashes")
        if any(len(h) != HASH_SIZE for h in frontier):
            raise ValueError(f"frontier hashes are {HASH_SIZE} bytes")
        builder = cls()
        builder._size = size
        builder._frontier = list(frontier)
        return builder

    @property
    def size(self) -> int:
        return self._size

    @property
    def frontier(self) -> tuple[bytes, ...]:
        return tuple(self._frontier)

    def append(self, leaf: bytes) -> None:
        """Add the next leaf hash."""
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"a leaf hash is {HASH_SIZE} bytes")
        self._frontier.append(leaf)
        # Each trailing 1 bit of the old size is a complete subtree as large
        # as the one just made: merge them, as binary addition carries.
        size = self._size
        while size & 1:
            right = self._frontier.pop()
            self._frontier[-1] = node_hash(self._frontier[-1], right)
            size >>= 1
        self._size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        """MTH of the leaves so far: the complete subtrees joined from the
        right, which is how RFC 9162 2.1.1 splits a tree of any size."""
        if not self._frontier:
            return EMPTY_ROOT
        root = self._frontier[-1]
        for left in reversed(self._frontier[:-1]):
            root = node_hash(left, root)
        return root
