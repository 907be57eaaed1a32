"""Equivocation evidence: two checkpoints of one origin, validly signed, that cannot both be true.

The operator equivocates when it signs two trees that are not one extending
the other. The evidence file holds both signed checkpoints and, when their
sizes differ, what shows the smaller one is not a prefix of the larger: the
root that the larger tree has at the smaller size, with the RFC 9162
consistency proof that binds it to the larger root. Anyone can check it with
the operator's verifier key alone.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.documents import load_document
from ledger.errors import AccordError, MalformedError, ProofError, VerificationError
from ledger.encoding import decode_base64
from ledger.keys import VerifierKey
from ledger.merkle import EMPTY_ROOT, CompactRange, NodeId, completed_nodes, consistency_plan, root_plan, verify_consistency

Prefix = Callable[[int, int], tuple[bytes, Sequence[bytes]]]
"""``prefix(m, n)``: the root at size m and the consistency proof to size n, from a copy of the larger tree."""

EVIDENCE_VERSION = 1
KIND = "accord-equivocation"
MAX_EVIDENCE = 64 * 1024
"""Two checkpoint notes and a consistency proof of at most 63 hashes: a few KiB."""


@dataclass(frozen=True)
class Equivocation:
    """Proven: the operator signed ``smaller`` and ``larger``, and ``larger`` does not extend ``smaller``."""

    origin: str
    smaller: Checkpoint
    larger: Checkpoint
    prefix_root: bytes
    """The root the larger tree has at the smaller size (differs from the smaller's root)."""


def _ordered(first: str, second: str, operator: VerifierKey) -> tuple[tuple[Checkpoint, str], tuple[Checkpoint, str]]:
    a, _ = open_checkpoint(first, operator)
    b, _ = open_checkpoint(second, operator)
    return ((a, first), (b, second)) if a.size <= b.size else ((b, second), (a, first))


def build_evidence(first: str, second: str, operator: VerifierKey, prefix: Prefix | None = None) -> str:
    """The evidence file for two checkpoint notes, or VerificationError if they are consistent.

    ``prefix(m, n)`` gives the root at size m and a consistency proof to size
    n from a copy of the larger checkpoint's tree; it is needed only when the
    sizes differ.
    """
    try:
        (small, small_text), (large, large_text) = _ordered(first, second, operator)
    except AccordError as error:
        raise VerificationError("evidence", f"a checkpoint is not signed by the operator: {error}") from error
    document: dict[str, object] = {"version": EVIDENCE_VERSION, "kind": KIND, "operator": operator.to_text(), "checkpoints": [small_text, large_text]}
    if small.size != large.size:
        if prefix is None:
            raise VerificationError("evidence", f"sizes {small.size} and {large.size} differ: a copy of the size-{large.size} tree is needed")
        root, proof = prefix(small.size, large.size)
        document["prefix"] = {"root": base64.b64encode(root).decode(), "proof": [base64.b64encode(h).decode() for h in proof]}
    text = json.dumps(document, indent=1) + "\n"
    check_evidence(text)
    return text


def check_evidence(text: str, operator: VerifierKey | None = None) -> Equivocation:
    """Check an evidence file; ``operator`` pins the key (else the one the file names is used).

    Raises VerificationError when the file does not prove an equivocation.
    """
    fields = load_document(text, "evidence", MAX_EVIDENCE)
    if fields.document.get("kind") != KIND:
        raise MalformedError("evidence", f"not equivocation evidence of version {EVIDENCE_VERSION}")
    fields.expect("version", EVIDENCE_VERSION)
    named = VerifierKey.from_text(fields.text("operator"))
    checkpoints = fields.texts("checkpoints")
    if len(checkpoints) != 2:
        raise MalformedError("evidence", f"checkpoints got {len(checkpoints)}, want 2")
    first, second = checkpoints
    prefix = fields.member("prefix") if fields.has("prefix") else None
    if operator is not None and operator != named:
        raise VerificationError("evidence", f"names operator key {named.label}, not the pinned {operator.label}")
    try:
        (small, _), (large, _) = _ordered(first, second, named)
    except AccordError as error:
        raise VerificationError("evidence", f"a checkpoint is not signed by the operator: {error}") from error
    if small.origin != large.origin:
        raise VerificationError("evidence", f"the checkpoints are of two origins: {small.origin!r} and {large.origin!r}")
    if small.size == large.size:
        if small.root_hash == large.root_hash:
            raise VerificationError("evidence", f"both checkpoints of size {small.size} have the same root: no equivocation")
        return Equivocation(small.origin, small, large, large.root_hash)
    if prefix is None:
        raise VerificationError("evidence", "sizes differ and no prefix root and consistency proof are given")
    root = decode_base64(prefix.text("root"), "evidence", "prefix.root")
    proof = [decode_base64(h, "evidence", "prefix.proof") for h in prefix.texts("proof")]
    try:
        verify_consistency(small.size, large.size, root, large.root_hash, proof)
    except ProofError as error:
        raise VerificationError("evidence", f"the prefix root is not bound to the larger checkpoint: {error.problem}") from error
    if root == small.root_hash:
        raise VerificationError("evidence", f"the size-{large.size} tree extends the size-{small.size} one: no equivocation")
    return Equivocation(small.origin, small, large, root)


def prefix_from_leaves(leaves: Iterable[bytes], size1: int, size2: int) -> tuple[bytes, list[bytes]]:
    """The root at ``size1`` and the consistency proof from it to ``size2`` of the tree of these leaf hashes.

    One pass over the first ``size2`` leaves, keeping only the nodes the two
    need: memory O(log size2), for a verifier that streamed a bundle and has
    no stored tree. VerificationError if there are fewer leaves.
    """
    proof_plan, root = consistency_plan(size1, size2), root_plan(size1)
    wanted = set(proof_plan.ids) | set(root.ids)
    found: dict[NodeId, bytes] = {}
    frontier = CompactRange(0, [])
    for index, leaf in enumerate(itertools.islice(leaves, size2)):
        for node, hashed in zip(completed_nodes(index), frontier.append(leaf)):
            if node in wanted:
                found[node] = hashed
    if frontier.size < size2:
        raise VerificationError("evidence", f"got {frontier.size} entries, want the {size2} of the larger tree")
    prefix = root.rehash([found[node] for node in root.ids])[0] if size1 else EMPTY_ROOT
    return prefix, proof_plan.rehash([found[node] for node in proof_plan.ids])
