"""The RFC 9162 (RFC 6962) Merkle tree of the log: hashing, proofs, roots.

Pure: no I/O. Split as in transparency-dev/merkle into *compute* (which
stored nodes a proof or root needs, :class:`ProofPlan`, and how to combine
them) and *check* (:func:`root_from_inclusion_proof`, :func:`verify_inclusion`,
:func:`verify_consistency`).

A store keeps only complete-subtree nodes, each written once when completed
(:meth:`CompactRange.append` returns them). A node id ``(level, index)``
names the complete subtree over leaves ``[index << level, (index + 1) << level)``.
Any proof, and the root at any past size, then reads O(log n) stored nodes:
a tree whose size is not a power of two has at most one *ephemeral* node on
a proof's path, folded from the complete nodes that cover it.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ledger.errors import ProofError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
NodeId = tuple[int, int]


def leaf_hash(data: bytes) -> bytes:
    """The hash of a leaf: sha256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node: sha256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def completed_nodes(index: int) -> list[NodeId]:
    """The ids of the nodes completed by appending leaf ``index``, level 0 first.

    They are (0, index), (1, index >> 1), ... up to the level equal to the
    number of trailing one bits of ``index``. Requires index >= 0.
    """
    return [(level, index >> level) for level in range(_trailing_zeros(index + 1) + 1)]


@dataclass
class CompactRange:
    """The frontier of the tree of ``size`` leaves.

    ``hashes`` are the hashes of the complete subtrees covering [0, size), one
    per set bit of ``size``, largest (leftmost) first; their ids are
    :meth:`frontier_ids`. Raises ProofError if their count does not fit ``size``.
    """

    size: int
    hashes: list[bytes]

    def __post_init__(self) -> None:
        _check_size(self.size)
        if len(self.hashes) != self.size.bit_count():
            want = self.size.bit_count()
            raise ProofError("merkle", f"wrong frontier size {len(self.hashes)}, want {want} for tree size {self.size}")

    @staticmethod
    def frontier_ids(size: int) -> list[NodeId]:
        """The ids of the complete subtrees covering [0, size), left to right."""
        return _covering_ids(0, size)

    def append(self, leaf: bytes) -> list[bytes]:
        """Append the leaf whose hash (:func:`leaf_hash`) is ``leaf``.

        Returns the hashes of ``completed_nodes(old size)``, level 0 first, so
        that a store can persist them. Costs one hash per completed interior
        node: O(log size). Raises ProofError if ``leaf`` is not HASH_SIZE bytes.
        """
        _check_leaf_hash(leaf)
        completed = [leaf]
        bits = self.size
        while bits & 1:
            completed.append(node_hash(self.hashes.pop(), completed[-1]))
            bits >>= 1
        self.hashes.append(completed[-1])
        self.size += 1
        return completed

    def root(self) -> bytes:
        """The root hash of the tree of ``size`` leaves (EMPTY_ROOT when empty)."""
        if not self.hashes:
            return EMPTY_ROOT
        return _fold_leftwards(self.hashes[-1], reversed(self.hashes[:-1]))


@dataclass(frozen=True)
class ProofPlan:
    """Which stored complete-subtree nodes a proof needs and how to combine them.

    ``ids[begin:end]``, ordered right to left, are folded into the one
    ephemeral node the proof holds at position ``begin``; ``begin == end`` when
    there is none. Every other id stands for itself. (transparency-dev's
    ``proof.Nodes``.)
    """

    ids: tuple[NodeId, ...]
    begin: int
    end: int

    def rehash(self, hashes: Sequence[bytes]) -> list[bytes]:
        """The proof, given ``hashes[i]`` = the hash of ``ids[i]``.

        Raises ProofError if the number of hashes differs from that of ids.
        """
        if len(hashes) != len(self.ids):
            raise ProofError("merkle", f"wrong number of node hashes {len(hashes)}, want {len(self.ids)}")
        if self.begin == self.end:
            return list(hashes)
        ephemeral = _fold_leftwards(hashes[self.begin], hashes[self.begin + 1 : self.end])
        return [*hashes[: self.begin], ephemeral, *hashes[self.end :]]

    def _without_seed(self) -> ProofPlan:
        # The seed is what the verifier already holds: the leaf, or root1.
        return ProofPlan(self.ids[1:], self.begin - 1, self.end - 1)


def root_plan(size: int) -> ProofPlan:
    """The frontier of ``size`` folded into one node: the root is ``rehash(...)[0]``.

    Empty plan for size 0, whose root is EMPTY_ROOT. Requires size >= 0.
    """
    _check_size(size)
    ids = tuple(reversed(_covering_ids(0, size)))
    return ProofPlan(ids, 0, len(ids))


def inclusion_plan(index: int, size: int) -> ProofPlan:
    """The plan of the inclusion proof of leaf ``index`` in the tree of ``size``.

    Requires 0 <= index < size; raises ProofError otherwise.
    """
    _check_index(index, size)
    return _path_plan(index, 0, size)._without_seed()


def consistency_plan(size1: int, size2: int) -> ProofPlan:
    """The plan of the consistency proof from tree size1 to tree size2.

    Empty when size1 == size2 or size1 == 0. Requires 0 <= size1 <= size2;
    raises ProofError otherwise.
    """
    _check_sizes(size1, size2)
    if size1 in (0, size2):
        return ProofPlan((), 0, 0)
    # The proof is the inclusion path, in tree size2, of the largest complete
    # subtree ending at size1, plus that subtree's hash unless it is root1.
    level = _trailing_zeros(size1)
    index = (size1 - 1) >> level
    plan = _path_plan(index, level, size2)
    return plan._without_seed() if index == 0 else plan


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root of the tree of ``size`` implied by leaf hash ``leaf`` at ``index`` and ``proof``.

    Requires 0 <= index < size, a HASH_SIZE leaf hash and a proof of the size
    the shape of the tree dictates; raises ProofError otherwise.
    """
    _check_index(index, size)
    _check_leaf_hash(leaf)
    return _root_from_path(index, 0, size, leaf, proof)


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``proof`` shows leaf hash ``leaf`` at ``index`` in the tree of ``size`` with ``root``.

    Raises ProofError if it does not.
    """
    _check_match(root_from_inclusion_proof(index, size, leaf, proof), root)


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]) -> None:
    """Check that the tree of size2 with root2 extends the tree of size1 with root1.

    As transparency-dev/merkle ``proof.VerifyConsistency``, requires
    0 <= size1 <= size2 and equal sizes need an empty proof and equal roots;
    as the public vectors want, a proof from the empty tree to a larger one
    is refused and the empty tree's root must be EMPTY_ROOT. Raises
    ProofError if the proof does not hold.
    """
    _check_sizes(size1, size2)
    if size1 == 0:
        # The empty tree has one root and proves nothing about a larger one:
        # shared/vectors/merkle wants both refusals (so does RFC 6962-bis).
        if size2 != 0:
            raise ProofError("merkle", f"consistency from the empty tree to size {size2} proves nothing")
        _check_match(root1, EMPTY_ROOT)
    if size1 == size2:
        if proof:
            raise ProofError("merkle", f"wrong proof size {len(proof)}, want 0")
        _check_match(root1, root2)
        return
    level = _trailing_zeros(size1)
    index = (size1 - 1) >> level
    if index == 0:
        # size1 is a power of two: root1 is the seed of the path to root2.
        _check_match(_root_from_path(index, level, size2, root1, proof), root2)
        return
    # The proof must reach root2, and the root at size1 it carries must be root1.
    _check_match(prefix_root(size1, size2, root2, proof), root1)


def prefix_root(size1: int, size2: int, root2: bytes, proof: Sequence[bytes]) -> bytes:
    """The root at ``size1`` of the tree that ``proof``, a consistency proof, binds to ``root2``.

    What a witness holds when a log sends a proof from its own fork: the
    fork's root at the size the witness cosigned. Raises ProofError when the
    proof does not reach ``root2``, or does not carry that root (size1 a power
    of two: the proof then starts from root1 itself, which it never shows).
    """
    _check_sizes(size1, size2)
    level = _trailing_zeros(size1) if size1 else 0
    index = (size1 - 1) >> level if size1 else 0
    if size1 in (0, size2) or index == 0:
        raise ProofError("merkle", f"a consistency proof from size {size1} to {size2} does not carry the root at size {size1}")
    inner, ephemeral, left = _proof_shape(index, level, size2)
    if len(proof) != 1 + inner + ephemeral + left:
        raise ProofError("merkle", f"wrong proof size {len(proof)}, want {1 + inner + ephemeral + left}")
    seed, path = proof[0], proof[1:]
    _check_match(_root_from_path(index, level, size2, seed, path), root2)
    # root1 is rebuilt from the same path using only the hashes on its left:
    # right siblings and the ephemeral node hold leaves added after size1.
    hash1 = seed
    for i, sibling in enumerate(path[:inner]):
        if (index >> i) & 1:
            hash1 = node_hash(sibling, hash1)
    return _fold_leftwards(hash1, path[inner + ephemeral :])


class MemoryTree:
    """A log whose complete-subtree nodes are all held in a dict.

    For tests, small tools and bundles; it reads nodes through the same plans
    a database-backed store uses.
    """

    def __init__(self) -> None:
        self._nodes: dict[NodeId, bytes] = {}
        self._frontier = CompactRange(0, [])

    @property
    def size(self) -> int:
        """The number of leaves appended so far."""
        return self._frontier.size

    def append(self, data: bytes) -> int:
        """Append a leaf with content ``data``; returns its index."""
        return self.append_leaf(leaf_hash(data))

    def append_leaf(self, leaf: bytes) -> int:
        """Append a leaf given its hash; returns its index."""
        index = self.size
        self._nodes.update(zip(completed_nodes(index), self._frontier.append(leaf)))
        return index

    def root(self) -> bytes:
        """The root of the tree as it is now."""
        return self._frontier.root()

    def root_at(self, size: int) -> bytes:
        """The root of the tree when it had ``size`` leaves; requires 0 <= size <= self.size."""
        self._check_held(size)
        if size == 0:
            return EMPTY_ROOT
        plan = root_plan(size)
        return plan.rehash(self.read_nodes(plan.ids))[0]

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """The inclusion proof of leaf ``index`` in the tree of ``size`` (default: now).

        Requires 0 <= index < size <= self.size.
        """
        size = self.size if size is None else size
        plan = inclusion_plan(index, size)
        self._check_held(size)
        return plan.rehash(self.read_nodes(plan.ids))

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """The consistency proof from tree size1 to tree size2 (default: now).

        Requires 0 <= size1 <= size2 <= self.size.
        """
        size2 = self.size if size2 is None else size2
        plan = consistency_plan(size1, size2)
        self._check_held(size2)
        return plan.rehash(self.read_nodes(plan.ids))

    def read_nodes(self, ids: Iterable[NodeId]) -> list[bytes]:
        """The hashes of the complete subtrees ``ids``; raises ProofError for one not yet complete."""
        try:
            return [self._nodes[node_id] for node_id in ids]
        except KeyError as missing:
            raise ProofError("merkle", f"no node {missing.args[0]} in tree of size {self.size}") from None

    def _check_held(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise ProofError("merkle", f"tree size {size} out of range for log size {self.size}")


def _trailing_zeros(n: int) -> int:
    return (n & -n).bit_length() - 1


def _covering_ids(begin: int, end: int) -> list[NodeId]:
    """The ids of the complete subtrees covering [begin, end), largest first.

    Requires begin to be a multiple of a power of two greater than end - begin
    (true of 0, and of the end of a subtree whose sibling holds ``end``).
    """
    ids = []
    count = end - begin
    for level in reversed(range(count.bit_length())):
        if (count >> level) & 1:
            ids.append((level, begin >> level))
            begin += 1 << level
    return ids


def _fork(index: int, level: int, size: int) -> tuple[int, int, int]:
    """Where the path up from complete subtree (level, index) meets the path to leaf ``size``.

    Returns (inner, begin, end): the fork is ``inner`` levels above the node
    and covers leaves [begin, end). Leaves [end, size), if any, make up the
    ephemeral node beside it; [0, begin) is covered by complete subtrees.
    """
    inner = (index ^ (size >> level)).bit_length() - 1
    begin = (index >> inner) << (level + inner)
    return inner, begin, begin + (1 << (level + inner))


def _proof_shape(index: int, level: int, size: int) -> tuple[int, int, int]:
    """The inclusion path of (level, index) in the tree of ``size`` as counts of hashes.

    Returns (inner, ephemeral, left): siblings below the fork, then 0 or 1
    ephemeral node beside it, then complete subtrees left of it.
    """
    inner, begin, end = _fork(index, level, size)
    return inner, int(end < size), begin.bit_count()


def _path_plan(index: int, level: int, size: int) -> ProofPlan:
    """The node (level, index) followed by the plan of its inclusion path in the tree of ``size``."""
    inner, fork_begin, fork_end = _fork(index, level, size)
    ids = [(level, index)]
    ids += [(level + i, (index >> i) ^ 1) for i in range(inner)]
    begin = len(ids)
    # Both border stretches are listed right to left, the order they are folded in.
    ids += reversed(_covering_ids(fork_end, size))
    end = len(ids)
    ids += reversed(_covering_ids(0, fork_begin))
    return ProofPlan(tuple(ids), begin, end)


def _root_from_path(index: int, level: int, size: int, node: bytes, proof: Sequence[bytes]) -> bytes:
    """The root implied by ``node``, the hash of (level, index), and its inclusion path ``proof``.

    Raises ProofError if ``proof`` has the wrong number of hashes.
    """
    inner, ephemeral, left = _proof_shape(index, level, size)
    if len(proof) != inner + ephemeral + left:
        raise ProofError("merkle", f"wrong proof size {len(proof)}, want {inner + ephemeral + left}")
    for i, sibling in enumerate(proof[:inner]):
        node = node_hash(sibling, node) if (index >> i) & 1 else node_hash(node, sibling)
    if ephemeral:
        node = node_hash(node, proof[inner])
    return _fold_leftwards(node, proof[inner + ephemeral :])


def _fold_leftwards(right: bytes, lefts: Iterable[bytes]) -> bytes:
    """``right`` combined with each of ``lefts`` in turn as its left sibling."""
    for left in lefts:
        right = node_hash(left, right)
    return right


def _check_index(index: int, size: int) -> None:
    if not 0 <= index < size:
        raise ProofError("merkle", f"index {index} out of range for tree size {size}")


def _check_size(size: int) -> None:
    if size < 0:
        raise ProofError("merkle", f"negative tree size {size}")


def _check_sizes(size1: int, size2: int) -> None:
    _check_size(size1)
    if size1 > size2:
        raise ProofError("merkle", f"size1 {size1} > size2 {size2}")


def _check_leaf_hash(leaf: bytes) -> None:
    if len(leaf) != HASH_SIZE:
        raise ProofError("merkle", f"leaf hash size {len(leaf)}, want {HASH_SIZE}")


def _check_match(got: bytes, want: bytes) -> None:
    if got != want:
        raise ProofError("merkle", f"root mismatch: got {_b64(got)}, want {_b64(want)}")


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")
