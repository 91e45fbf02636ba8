"""The audit log's Merkle tree (vault.core.audit.merkle) against RFC 6962's
reference data, every proof of every small tree, and every way of editing a
log an auditor has a root of."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vault.core.audit.merkle import (
    EMPTY_ROOT,
    TreeBuilder,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)

# Certificate Transparency's reference tree (RFC 6962's test data, kept in
# transparency-dev/merkle): eight leaf inputs, the roots of their first 1..8,
# and proofs in it, as the reference implementations publish them.
REFERENCE_INPUTS = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
REFERENCE_ROOTS = [
    bytes.fromhex(h)
    for h in (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  # the empty tree
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]
# (leaf index, tree size, PATH)
REFERENCE_INCLUSION = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
# (old size, new size, PROOF)
REFERENCE_CONSISTENCY = [
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]
REFERENCE_LEAVES = [leaf_hash(entry) for entry in REFERENCE_INPUTS]


def tree(n: int) -> list[bytes]:
    return [leaf_hash(b"event %d" % i) for i in range(n)]


# Logs of distinct entries, so any edit, swap or removal changes the leaves.
logs = st.lists(st.binary(max_size=6), min_size=1, max_size=64, unique=True).map(
    lambda entries: [leaf_hash(e) for e in entries]
)


# ------------------------------------------------------------ reference data
def test_the_hashes_are_rfc_6962s() -> None:
    assert EMPTY_ROOT == hashlib.sha256(b"").digest() == REFERENCE_ROOTS[0]
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert node_hash(b"L", b"R") == hashlib.sha256(b"\x01LR").digest()


@pytest.mark.parametrize("size", range(9))
def test_the_roots_of_the_reference_tree_are_the_published_ones(size: int) -> None:
    assert root_of(REFERENCE_LEAVES[:size]) == REFERENCE_ROOTS[size]
    builder = TreeBuilder()
    builder.extend(REFERENCE_LEAVES[:size])
    assert builder.root() == REFERENCE_ROOTS[size]


@pytest.mark.parametrize(("index", "size", "path"), REFERENCE_INCLUSION)
def test_the_reference_inclusion_proofs_are_built_and_verify(
    index: int, size: int, path: list[str]
) -> None:
    proof = inclusion_proof(REFERENCE_LEAVES[:size], index)
    assert [h.hex() for h in proof] == path
    assert verify_inclusion(index, size, REFERENCE_LEAVES[index], proof, REFERENCE_ROOTS[size])


@pytest.mark.parametrize(("old", "new", "path"), REFERENCE_CONSISTENCY)
def test_the_reference_consistency_proofs_are_built_and_verify(
    old: int, new: int, path: list[str]
) -> None:
    proof = consistency_proof(REFERENCE_LEAVES[:new], old)
    assert [h.hex() for h in proof] == path
    assert verify_consistency(old, new, REFERENCE_ROOTS[old], REFERENCE_ROOTS[new], proof)


# ------------------------------------------------------- every small tree
def test_every_inclusion_proof_of_every_tree_up_to_64_verifies() -> None:
    for size in range(1, 65):
        leaves = tree(size)
        root = root_of(leaves)
        for index in range(size):
            proof = inclusion_proof(leaves, index)
            assert verify_inclusion(index, size, leaves[index], proof, root), (index, size)
            # The same proof proves no other position and no other leaf.
            if size > 1:
                other = (index + 1) % size
                assert not verify_inclusion(other, size, leaves[index], proof, root)
                assert not verify_inclusion(index, size, leaves[other], proof, root)


def test_every_consistency_proof_between_sizes_up_to_64_verifies() -> None:
    leaves = tree(64)
    roots = [root_of(leaves[:n]) for n in range(65)]
    for new in range(65):
        for old in range(new + 1):
            proof = consistency_proof(leaves[:new], old)
            assert verify_consistency(old, new, roots[old], roots[new], proof), (old, new)
            if 0 < old < new:
                # Nor does it join any other pair of roots.
                assert not verify_consistency(old, new, roots[old - 1], roots[new], proof)
                assert not verify_consistency(old, new, roots[old], roots[new - 1], proof)


def test_the_builders_root_is_the_tree_hash_at_every_size() -> None:
    leaves = tree(300)
    builder = TreeBuilder()
    assert builder.root() == EMPTY_ROOT
    for n, leaf in enumerate(leaves, start=1):
        builder.append(leaf)
        assert builder.size == n
        assert len(builder.frontier) == n.bit_count()
        assert builder.root() == root_of(leaves[:n]), n


@given(logs, st.data())
def test_a_builder_resumed_from_its_frontier_goes_on_as_the_first_would(
    leaves: list[bytes], data: st.DataObject
) -> None:
    cut = data.draw(st.integers(0, len(leaves)))
    first = TreeBuilder()
    first.extend(leaves[:cut])
    resumed = TreeBuilder.resume(first.size, first.frontier)
    resumed.extend(leaves[cut:])
    assert resumed.size == len(leaves)
    assert resumed.root() == root_of(leaves)


# ------------------------------------------------------- an edited log fails
@given(logs, st.data())
def test_a_changed_leaf_fails_against_the_signed_root(
    leaves: list[bytes], data: st.DataObject
) -> None:
    size, root = len(leaves), root_of(leaves)
    index = data.draw(st.integers(0, size - 1))
    edited = list(leaves)
    edited[index] = leaf_hash(b"edited!")  # longer than any drawn entry: a real change
    assert root_of(edited) != root
    # The edited leaf proves nothing against the root the auditor holds,
    # whether the proof comes from the edited log or the original one.
    for proof in (inclusion_proof(edited, index), inclusion_proof(leaves, index)):
        assert not verify_inclusion(index, size, edited[index], proof, root)


@given(logs.filter(lambda leaves: len(leaves) > 1), st.data())
def test_a_swapped_pair_fails_against_the_signed_root(
    leaves: list[bytes], data: st.DataObject
) -> None:
    size, root = len(leaves), root_of(leaves)
    i = data.draw(st.integers(0, size - 2))
    j = data.draw(st.integers(i + 1, size - 1))
    swapped = list(leaves)
    swapped[i], swapped[j] = swapped[j], swapped[i]
    assert root_of(swapped) != root
    assert not verify_inclusion(i, size, swapped[i], inclusion_proof(swapped, i), root)
    assert not verify_inclusion(j, size, swapped[j], inclusion_proof(swapped, j), root)


@given(logs.filter(lambda leaves: len(leaves) > 1), st.data())
def test_a_removed_leaf_breaks_consistency_with_an_earlier_head(
    leaves: list[bytes], data: st.DataObject
) -> None:
    # The auditor holds a head at `old`; the log has since lost a leaf before
    # it, and grown (or not) so that its length hides the loss.
    old = data.draw(st.integers(1, len(leaves)))
    removed = data.draw(st.integers(0, old - 1))
    later = data.draw(st.integers(0, 3))
    log = (
        leaves[:removed]
        + leaves[removed + 1 :]
        + [leaf_hash(b"later %d" % k) for k in range(later)]
    )
    if len(log) < old:
        return  # shorter than the head: the verifier needs no proof to see it
    old_root = root_of(leaves[:old])
    assert root_of(log[:old]) != old_root
    proof = consistency_proof(log, old)
    assert not verify_consistency(old, len(log), old_root, root_of(log), proof)


# --------------------------------------------------- a forged proof fails
@given(logs, st.data())
def test_any_change_to_an_inclusion_proof_fails(leaves: list[bytes], data: st.DataObject) -> None:
    size, root = len(leaves), root_of(leaves)
    index = data.draw(st.integers(0, size - 1))
    proof = inclusion_proof(leaves, index)
    leaf = leaves[index]
    # Sizes a path of another depth would need. (A neighbouring size may share
    # this one's path shape: a proof binds its size only through the signed
    # head that names size and root together.)
    forged: list[tuple[int, int, list[bytes]]] = [
        (index, 2 * size, proof),
        (index, size // 2, proof),
        (size, size, proof),
        (index, size, [*proof, root]),
        (index, size, [root, *proof]),
    ]
    if index ^ 1 < size:
        forged.append((index ^ 1, size, proof))
    if proof:
        flip = data.draw(st.integers(0, len(proof) - 1))
        changed = list(proof)
        changed[flip] = bytes([changed[flip][0] ^ 0x08]) + changed[flip][1:]
        forged += [(index, size, proof[:-1]), (index, size, changed)]
    for at, of, path in forged:
        assert not verify_inclusion(at, of, leaf, path, root), (at, of, len(path))


@given(logs.filter(lambda leaves: len(leaves) > 1), st.data())
def test_any_change_to_a_consistency_proof_fails(leaves: list[bytes], data: st.DataObject) -> None:
    new = len(leaves)
    old = data.draw(st.integers(1, new - 1))
    old_root, new_root = root_of(leaves[:old]), root_of(leaves)
    proof = consistency_proof(leaves, old)
    flip = data.draw(st.integers(0, len(proof) - 1))
    changed = list(proof)
    changed[flip] = bytes([changed[flip][0] ^ 0x10]) + changed[flip][1:]
    for forged in (changed, proof[:-1], [*proof, new_root], [old_root, *proof], []):
        assert not verify_consistency(old, new, old_root, new_root, forged)
    assert not verify_consistency(old, new, new_root, old_root, proof)
    assert not verify_consistency(new, old, old_root, new_root, proof)


# ---------------------------------------------------------------- the edges
def test_the_edges_of_the_definitions() -> None:
    leaves = tree(5)
    root = root_of(leaves)
    assert root_of(leaves[:1]) == leaves[0]
    assert inclusion_proof(leaves[:1], 0) == []
    assert verify_inclusion(0, 1, leaves[0], [], leaves[0])
    assert not verify_inclusion(0, 0, leaves[0], [], EMPTY_ROOT)
    # Every tree extends the empty one, and itself, with an empty proof.
    assert consistency_proof(leaves, 0) == consistency_proof(leaves, 5) == []
    assert verify_consistency(0, 5, EMPTY_ROOT, root, [])
    assert not verify_consistency(0, 5, root, root, [])
    assert verify_consistency(5, 5, root, root, [])
    assert not verify_consistency(5, 5, root, root, [root])
    assert not verify_consistency(5, 5, root, EMPTY_ROOT, [])
    with pytest.raises(ValueError):
        inclusion_proof(leaves, 5)
    with pytest.raises(ValueError):
        inclusion_proof(leaves, -1)
    with pytest.raises(ValueError):
        consistency_proof(leaves, 6)
    with pytest.raises(ValueError):
        TreeBuilder().append(b"short")
    with pytest.raises(ValueError):
        TreeBuilder.resume(3, [leaves[0]])
