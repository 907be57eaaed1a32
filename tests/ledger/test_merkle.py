"""The Merkle tree, tested three ways: public JSON vectors, known answers, and
a naive RFC 9162 reference checked against the real tree for every size up to 64."""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from ledger import merkle
from ledger.errors import ProofError
from ledger.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MemoryTree,
    ProofPlan,
    completed_nodes,
    consistency_plan,
    inclusion_plan,
    leaf_hash,
    node_hash,
    root_from_inclusion_proof,
    root_plan,
    verify_consistency,
    verify_inclusion,
)
from tests.vectorfiles import VECTORS as VECTORFILES

VECTORS = VECTORFILES / "merkle"

# These three cases expect refusals that transparency-dev/merkle's
# proof.VerifyConsistency, whose semantics Accord follows, does not make:
# equal sizes need only equal roots, and every tree is consistent with the
# empty one given an empty proof. Upstream's own Go tests (proof/verify_test.go)
# accept (0, 0, same roots) and (0, 1, any roots) with empty proofs.


def b64(text: str) -> bytes:
    return base64.b64decode(text)


def h(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text)


def vector_cases(kind: str) -> list[Any]:
    return [
        pytest.param(path, id=path.relative_to(VECTORS).as_posix())
        for path in sorted((VECTORS / kind).rglob("*.json"))
    ]


def refused_message(call: Any, *args: Any) -> str:
    with pytest.raises(ProofError) as refusal:
        call(*args)
    return str(refusal.value)


# --- Shared vectors (transparency-dev/merkle testdata) ---


def test_vector_folder_holds_cases() -> None:
    assert len(vector_cases("inclusion")) > 50 and len(vector_cases("consistency")) > 50, VECTORS


@pytest.mark.parametrize("path", vector_cases("inclusion"))
def test_inclusion_vector(path: Path) -> None:
    case = json.loads(path.read_text())
    proof = [b64(hash_text) for hash_text in case["proof"] or []]
    args = (case["leafIdx"], case["treeSize"], b64(case["leafHash"]), proof, b64(case["root"]))
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("path", vector_cases("consistency"))
def test_consistency_vector(path: Path) -> None:
    case = json.loads(path.read_text())
    proof = [b64(hash_text) for hash_text in case["proof"] or []]
    args = (case["size1"], case["size2"], b64(case["root1"]), b64(case["root2"]), proof)
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


def test_roots_of_the_first_n_vector_leaves_match_for_memory_tree_and_compact_range() -> None:
    roots = json.loads((VECTORS / "roots.json").read_text())
    tree, frontier = MemoryTree(), CompactRange(0, [])
    assert tree.root() == frontier.root() == h(roots["root_hex_by_size"][0])
    for n, data_hex in enumerate(roots["leaf_inputs_hex"], start=1):
        tree.append(h(data_hex))
        frontier.append(leaf_hash(h(data_hex)))
        assert tree.root() == frontier.root() == h(roots["root_hex_by_size"][n]), n
    assert [tree.root_at(n) for n in range(9)] == [h(root) for root in roots["root_hex_by_size"]]


# --- Known answers ---

# The eight leaf inputs of tests/vectors/merkle/roots.json.
RFC_LEAVES = [
    h(x) for x in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
]


def test_hashes_of_known_inputs() -> None:
    # printf '' | sha256sum
    assert EMPTY_ROOT == h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    # printf '\x00' | sha256sum: the 0x00 leaf prefix alone
    assert leaf_hash(b"") == h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    # printf '\x00\x00' | sha256sum
    assert leaf_hash(b"\x00") == h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7")
    # printf '\x00data' | sha256sum
    assert leaf_hash(b"data") == h("0d3aed023148ffd2a259fbd0cdc7fb3cf975658760d3775b82af6f90aacc2dfc")
    # { printf '\x01'; the two hashes above as raw bytes; } | sha256sum: root of ["", "\x00"]
    root_of_two = h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")
    assert node_hash(leaf_hash(b""), leaf_hash(b"\x00")) == root_of_two


def test_proofs_match_transparency_dev_known_answers() -> None:
    # Hex copied from transparency-dev/merkle proof/verify_test.go, over
    # RFC_LEAVES (whose table numbers leaves from 1).
    tree = MemoryTree()
    for data in RFC_LEAVES:
        tree.append(data)
    assert tree.inclusion_proof(0) == [
        h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    ]
    assert tree.inclusion_proof(1, 5) == [
        h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
    ]
    assert tree.consistency_proof(6, 7) == [
        h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    ]


def test_plans_name_stored_nodes_and_the_one_ephemeral_fold() -> None:
    # Leaf 0 of 7: siblings (0,1) and (1,1), then the ephemeral node over
    # leaves 4..6, folded from (0,6) and (1,2), listed right to left.
    assert inclusion_plan(0, 7) == ProofPlan(((0, 1), (1, 1), (0, 6), (1, 2)), 2, 4)
    # Leaf 2 of 5: the right border is the single complete node (0,4).
    assert inclusion_plan(2, 5) == ProofPlan(((0, 3), (1, 0), (0, 4)), 2, 3)
    # Leaf 6 of 7: no ephemeral node; the left border (1,2), (2,0) right to left.
    assert inclusion_plan(6, 7) == ProofPlan(((1, 2), (2, 0)), 0, 0)
    # 6 -> 7: the seed (1,2) ending at 6, then leaf 6, then (2,0).
    assert consistency_plan(6, 7) == ProofPlan(((1, 2), (0, 6), (2, 0)), 1, 2)
    # 4 -> 8: size1 is a power of two, so root1 itself is not repeated.
    assert consistency_plan(4, 8) == ProofPlan(((2, 1),), 1, 1)
    assert consistency_plan(0, 8) == consistency_plan(8, 8) == ProofPlan((), 0, 0)
    assert root_plan(7) == ProofPlan(((0, 6), (1, 2), (2, 0)), 0, 3)
    assert root_plan(0) == ProofPlan((), 0, 0)


def test_rehash_folds_right_to_left_into_the_ephemeral_node() -> None:
    plan = ProofPlan(((0, 1), (0, 6), (1, 2), (2, 0)), 1, 3)
    assert plan.rehash([b"a", b"six", b"two", b"z"]) == [b"a", node_hash(b"two", b"six"), b"z"]


def test_completed_nodes_climb_the_trailing_ones() -> None:
    assert completed_nodes(0) == [(0, 0)]
    assert completed_nodes(6) == [(0, 6)]
    assert completed_nodes(7) == [(0, 7), (1, 3), (2, 1), (3, 0)]
    assert completed_nodes(11) == [(0, 11), (1, 5), (2, 2)]


def test_compact_range_append_returns_completed_node_hashes() -> None:
    frontier = CompactRange(3, [b"L" * 32, b"c" * 32])
    leaf = leaf_hash(b"fourth")
    pair = node_hash(b"c" * 32, leaf)
    assert frontier.append(leaf) == [leaf, pair, node_hash(b"L" * 32, pair)]
    assert frontier == CompactRange(4, [node_hash(b"L" * 32, pair)])
    assert CompactRange.frontier_ids(13) == [(3, 0), (2, 2), (0, 12)]


# --- Naive reference: RFC 9162 section 2.1, written directly over leaf data ---


def mth(d: Sequence[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = split(n)
    return hashlib.sha256(b"\x01" + mth(d[:k]) + mth(d[k:])).digest()


def split(n: int) -> int:
    """The largest power of two smaller than n."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def path(m: int, d: Sequence[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = split(n)
    if m < k:
        return path(m, d[:k]) + [mth(d[k:])]
    return path(m - k, d[k:]) + [mth(d[:k])]


def proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    return subproof(m, d, True)


def subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = split(n)
    if m <= k:
        return subproof(m, d[:k], b) + [mth(d[k:])]
    return subproof(m - k, d[k:], False) + [mth(d[:k])]


REFERENCE_SIZE = 64
REFERENCE_LEAVES = [bytes([i]) * (i % 5) for i in range(REFERENCE_SIZE)]


@pytest.fixture(scope="module")
def reference_tree() -> MemoryTree:
    tree = MemoryTree()
    for data in REFERENCE_LEAVES:
        tree.append(data)
    return tree


def test_roots_match_reference_for_every_size(reference_tree: MemoryTree) -> None:
    frontier = CompactRange(0, [])
    for n in range(REFERENCE_SIZE + 1):
        want = mth(REFERENCE_LEAVES[:n])
        assert reference_tree.root_at(n) == frontier.root() == want, n
        if n < REFERENCE_SIZE:
            frontier.append(leaf_hash(REFERENCE_LEAVES[n]))


def test_inclusion_proofs_match_reference_and_verify_for_every_index_and_size(
    reference_tree: MemoryTree,
) -> None:
    for n in range(REFERENCE_SIZE + 1):
        root = mth(REFERENCE_LEAVES[:n])
        for m in range(n):
            got = reference_tree.inclusion_proof(m, n)
            assert got == path(m, REFERENCE_LEAVES[:n]), (m, n)
            verify_inclusion(m, n, leaf_hash(REFERENCE_LEAVES[m]), got, root)


def test_consistency_proofs_match_reference_and_verify_for_every_pair_of_sizes(
    reference_tree: MemoryTree,
) -> None:
    roots = [mth(REFERENCE_LEAVES[:n]) for n in range(REFERENCE_SIZE + 1)]
    for n in range(REFERENCE_SIZE + 1):
        for m in range(n + 1):
            got = reference_tree.consistency_proof(m, n)
            assert got == ([] if m == 0 else proof(m, REFERENCE_LEAVES[:n])), (m, n)
            if m == 0 < n:
                with pytest.raises(ProofError, match="from the empty tree"):
                    verify_consistency(m, n, roots[m], roots[n], got)
            else:
                verify_consistency(m, n, roots[m], roots[n], got)
            if 0 < m < n:
                with pytest.raises(ProofError):
                    verify_consistency(m, n, roots[m - 1], roots[n], got)


def test_memory_tree_holds_every_complete_subtree(reference_tree: MemoryTree) -> None:
    every_complete = [(level, index) for level in range(7) for index in range(REFERENCE_SIZE >> level)]
    assert reference_tree.read_nodes(every_complete) == [
        mth(REFERENCE_LEAVES[index << level : (index + 1) << level]) for level, index in every_complete
    ]


# --- Refusals ---


def test_proof_of_wrong_size_is_refused() -> None:
    leaf = leaf_hash(b"x")
    message = refused_message(root_from_inclusion_proof, 0, 8, leaf, [leaf] * 2)
    assert message == "merkle: wrong proof size 2, want 3"
    assert refused_message(verify_consistency, 6, 8, leaf, leaf, [leaf] * 4) == "merkle: wrong proof size 4, want 3"
    assert refused_message(verify_consistency, 4, 8, leaf, leaf, []) == "merkle: wrong proof size 0, want 1"
    assert refused_message(verify_consistency, 5, 5, leaf, leaf, [leaf]) == "merkle: wrong proof size 1, want 0"
    assert refused_message(verify_consistency, 0, 5, EMPTY_ROOT, leaf, []) == (
        "merkle: consistency from the empty tree to size 5 proves nothing"
    )
    assert refused_message(verify_consistency, 0, 0, leaf, leaf, []) == (
        f"merkle: root mismatch: got {base64.b64encode(leaf).decode()}, want {base64.b64encode(EMPTY_ROOT).decode()}"
    )


def test_index_out_of_range_is_refused() -> None:
    leaf = leaf_hash(b"x")
    assert refused_message(inclusion_plan, 8, 8) == "merkle: index 8 out of range for tree size 8"
    assert refused_message(inclusion_plan, -1, 8) == "merkle: index -1 out of range for tree size 8"
    message = refused_message(verify_inclusion, 0, 0, leaf, [], EMPTY_ROOT)
    assert message == "merkle: index 0 out of range for tree size 0"
    assert refused_message(MemoryTree().inclusion_proof, 0) == "merkle: index 0 out of range for tree size 0"


def test_size1_beyond_size2_is_refused() -> None:
    assert refused_message(consistency_plan, 5, 3) == "merkle: size1 5 > size2 3"
    assert refused_message(verify_consistency, 2, 1, EMPTY_ROOT, EMPTY_ROOT, []) == "merkle: size1 2 > size2 1"
    assert refused_message(consistency_plan, -1, 3) == "merkle: negative tree size -1"


def test_root_mismatch_is_refused_with_both_roots() -> None:
    tree = MemoryTree()
    for data in RFC_LEAVES[:3]:
        tree.append(data)
    forged = leaf_hash(b"forged")
    want = base64.b64encode(tree.root()).decode()
    got = base64.b64encode(root_from_inclusion_proof(2, 3, forged, tree.inclusion_proof(2))).decode()
    message = refused_message(verify_inclusion, 2, 3, forged, tree.inclusion_proof(2), tree.root())
    assert message == f"merkle: root mismatch: got {got}, want {want}"
    message = refused_message(verify_consistency, 3, 3, EMPTY_ROOT, tree.root(), [])
    assert message == f"merkle: root mismatch: got {base64.b64encode(EMPTY_ROOT).decode()}, want {want}"


def test_leaf_hash_of_wrong_size_is_refused() -> None:
    assert refused_message(root_from_inclusion_proof, 0, 1, b"data", []) == "merkle: leaf hash size 4, want 32"
    assert refused_message(CompactRange(0, []).append, b"data") == "merkle: leaf hash size 4, want 32"


def test_frontier_that_does_not_fit_its_size_is_refused() -> None:
    message = refused_message(CompactRange, 5, [EMPTY_ROOT])
    assert message == "merkle: wrong frontier size 1, want 2 for tree size 5"


def test_rehash_with_wrong_number_of_hashes_is_refused() -> None:
    message = refused_message(inclusion_plan(0, 8).rehash, [EMPTY_ROOT])
    assert message == "merkle: wrong number of node hashes 1, want 3"


def test_memory_tree_refuses_sizes_it_does_not_hold() -> None:
    tree = MemoryTree()
    tree.append(b"only")
    assert refused_message(tree.root_at, 2) == "merkle: tree size 2 out of range for log size 1"
    assert refused_message(tree.inclusion_proof, 0, 2) == "merkle: tree size 2 out of range for log size 1"
    assert refused_message(tree.consistency_proof, 1, 2) == "merkle: tree size 2 out of range for log size 1"
    assert refused_message(tree.read_nodes, [(1, 0)]) == "merkle: no node (1, 0) in tree of size 1"


# --- Cost: O(log n) stored nodes per proof, O(log n) hashes per append ---

LARGE_SIZES = [10**6, 2**40 + 12345, 2**40 - 1, 2**40, 2**63 + 2**31 + 7]


@pytest.mark.parametrize("size", LARGE_SIZES)
def test_plans_read_logarithmically_many_complete_nodes(size: int) -> None:
    bound = 2 * math.ceil(math.log2(size)) + 2
    points = {1, 2, 3, size // 3, size // 2, size - 2, size - 1}
    plans = [inclusion_plan(index, size) for index in points]
    plans += [consistency_plan(size1, size) for size1 in points]
    plans.append(root_plan(size))
    for plan in plans:
        assert len(plan.ids) <= bound
        assert 0 <= plan.begin <= plan.end <= len(plan.ids)
        # Every id is complete within the tree, so a store already holds it.
        assert all((index + 1) << level <= size for level, index in plan.ids)


def test_append_at_a_full_frontier_costs_one_hash_per_level(monkeypatch: pytest.MonkeyPatch) -> None:
    size = 2**40 - 1
    frontier = CompactRange(size, [bytes([level]) * 32 for level in range(40)])
    hashed = []
    original = merkle.node_hash

    def counting_node_hash(left: bytes, right: bytes) -> bytes:
        hashed.append(1)
        return original(left, right)

    monkeypatch.setattr(merkle, "node_hash", counting_node_hash)
    completed = frontier.append(leaf_hash(b"last"))
    assert len(completed) == len(completed_nodes(size)) == 41
    assert len(hashed) == 40
    assert frontier.size == 2**40 and frontier.hashes == [completed[-1]]
