"""The tree of one appended batch: the frontier it followed and its leaves (pure).

Every node an inclusion proof of a batch entry needs, in the tree that ends
with the batch, is either a node of the frontier the batch followed (a
sibling entirely left of the batch is a maximal complete subtree there) or
a node the batch's own leaves complete. So a writer proves each entry of a
batch from what it holds in memory, without reading one stored node per
proof.
"""

from __future__ import annotations

from collections.abc import Sequence

from ledger.errors import ProofError
from ledger.merkle import CompactRange, NodeId, completed_nodes, inclusion_plan


class BatchTree:
    """Entries ``frontier.size`` to ``size - 1``: the leaves given, after the frontier given."""

    def __init__(self, frontier: CompactRange, leaves: Sequence[bytes]) -> None:
        self.first = frontier.size
        self._nodes: dict[NodeId, bytes] = dict(zip(CompactRange.frontier_ids(frontier.size), frontier.hashes))
        self._frontier = CompactRange(frontier.size, list(frontier.hashes))
        for index, leaf in enumerate(leaves, self.first):
            self._nodes.update(zip(completed_nodes(index), self._frontier.append(leaf)))

    @property
    def size(self) -> int:
        return self._frontier.size

    def root(self) -> bytes:
        return self._frontier.root()

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """The RFC 9162 inclusion proof of entry ``index`` in the tree of ``size``.

        Requires ``first <= index < size == self.size``: the batch's own entries, in the tree it ends.
        """
        if size != self.size or not self.first <= index < size:
            raise ProofError("batch", f"entry {index} in tree size {size}: this batch proves entries {self.first} to {self.size - 1} at size {self.size}")
        plan = inclusion_plan(index, size)
        return plan.rehash([self._nodes[node] for node in plan.ids])
