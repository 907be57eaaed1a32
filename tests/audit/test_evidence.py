"""Equivocation evidence: two operator-signed checkpoints that cannot both be true, made portable.

The dishonest operator of these tests forks the council's history at an
observer's statement (before the first checkpoint) and signs checkpoints of
the fork; delegations that saw one and the other bring them together.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from domain.charter import OPERATOR
from ledger.checkpoint import Checkpoint
from ledger.errors import AccordError, MalformedError, VerificationError
from ledger.evidence import build_evidence, check_evidence
from ledger.keys import Signer
from ledger.merkle import MemoryTree
from ledger.note import Note
from tests.audit.history import (
    History,
    build_history,
    checkpoint_with_root,
    copy_store,
    ok,
    operator_checkpoint,
    refused,
    resigned,
    store_url,
)
from tests.domain.scenario import ORIGIN


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    return build_history(tmp_path_factory.mktemp("council"))


@pytest.fixture(scope="module")
def fork(history: History) -> list[bytes]:
    """The history with the observer's statement rewritten (validly signed by the observer)."""
    index = history.marks["observer_statement"]
    assert index < history.early_size
    entries = list(history.entries)
    entries[index] = resigned(entries[index], [history.keys["in"]], body={"text": "India says something else.", "about": "P-1"})
    return entries


def tree_of(entries: list[bytes]) -> MemoryTree:
    tree = MemoryTree()
    for data in entries:
        tree.append(data)
    return tree


def root(note_text: str) -> bytes:
    return Checkpoint.from_text(Note.from_text(note_text).text).root_hash


def operator(history: History) -> str:
    return history.keys[OPERATOR].verifier_key().to_text()


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


# Proven equivocations.


def test_same_size_different_roots_is_proven(history: History, fork: list[bytes], tmp_path: Path) -> None:
    seen_by_fr = write(tmp_path, "fr.checkpoint", history.checkpoint)
    seen_by_pl = write(tmp_path, "pl.checkpoint", operator_checkpoint(fork, history.keys[OPERATOR]))
    out = tmp_path / "equivocation.json"
    assert ok("evidence", seen_by_fr, seen_by_pl, "--out", out, "--store", history.url) == f"equivocation proven; evidence written to {out}\n"
    document = json.loads(out.read_text())
    assert (document["kind"], document["version"], document["operator"]) == ("accord-equivocation", 1, operator(history))
    assert "prefix" not in document
    said = ok("check-evidence", out, "--operator", operator(history))
    assert said == f"equivocation by {ORIGIN}: two roots signed for size {history.size}: {root(history.checkpoint).hex()} and {tree_of(fork).root().hex()}\n"


def test_different_sizes_are_proven_from_the_stores_tree(history: History, fork: list[bytes], tmp_path: Path) -> None:
    # pl saw the fork's checkpoint of the first entries; fr the genuine newest one. The store holds the genuine tree.
    small = operator_checkpoint(fork, history.keys[OPERATOR], size=history.early_size)
    seen_by_pl = write(tmp_path, "pl.checkpoint", small)
    seen_by_fr = write(tmp_path, "fr.checkpoint", history.checkpoint)
    out = tmp_path / "equivocation.json"
    ok("evidence", seen_by_pl, seen_by_fr, "--out", out, "--store", history.url)
    genuine_prefix = tree_of(history.entries).root_at(history.early_size)
    document = json.loads(out.read_text())
    assert document["prefix"]["root"] == base64.b64encode(genuine_prefix).decode()
    proven = check_evidence(out.read_text(), history.keys[OPERATOR].verifier_key())
    assert (proven.smaller.size, proven.larger.size, proven.prefix_root) == (history.early_size, history.size, genuine_prefix)
    said = ok("check-evidence", out, "--operator", operator(history))
    assert said == (
        f"equivocation by {ORIGIN}: the signed tree of size {history.size} has root {genuine_prefix.hex()} at size {history.early_size}, "
        f"but the signed checkpoint of size {history.early_size} has {root(small).hex()}\n"
    )


def test_different_sizes_need_a_copy_of_the_larger_tree(history: History, fork: list[bytes], tmp_path: Path) -> None:
    small = operator_checkpoint(fork, history.keys[OPERATOR], size=history.early_size)
    with pytest.raises(VerificationError) as raised:
        build_evidence(small, history.checkpoint, history.keys[OPERATOR].verifier_key())
    assert str(raised.value) == f"evidence: sizes {history.early_size} and {history.size} differ: a copy of the size-{history.size} tree is needed"
    early = copy_store(history.early, tmp_path / "early.db")
    out = tmp_path / "equivocation.json"
    message = f"accord: evidence: the store holds {history.early_size} entries, not the size-{history.size} tree"
    assert refused("evidence", write(tmp_path, "a", small), write(tmp_path, "b", history.checkpoint), "--out", out, "--store", store_url(early)) == message
    assert not out.exists()


# Not equivocations.


def test_consistent_checkpoints_are_refused(history: History, tmp_path: Path) -> None:
    early, late = write(tmp_path, "early", history.early_checkpoint), write(tmp_path, "late", history.checkpoint)
    out = tmp_path / "equivocation.json"
    message = f"accord: evidence: the size-{history.size} tree extends the size-{history.early_size} one: no equivocation"
    assert refused("evidence", early, late, "--out", out, "--store", history.url) == message
    # The same checkpoint with and without its cosignatures is one tree.
    bare = Note.from_text(history.checkpoint)
    bare_path = write(tmp_path, "bare", Note(bare.text, bare.signatures[:1]).to_text())
    message = f"accord: evidence: both checkpoints of size {history.size} have the same root: no equivocation"
    assert refused("evidence", late, bare_path, "--out", out, "--store", history.url) == message
    assert not out.exists()


def test_checkpoint_not_signed_by_the_operator_is_no_evidence(history: History, fork: list[bytes], tmp_path: Path) -> None:
    impostor = Signer.from_seed(ORIGIN, b"\x07" * 32)
    forged = write(tmp_path, "forged", checkpoint_with_root(impostor, history.size, tree_of(fork).root()))
    out = tmp_path / "equivocation.json"
    operator_label = history.keys[OPERATOR].verifier_key().label
    message = f"accord: evidence: a checkpoint is not signed by the operator: note: no signature by a known key: got {impostor.verifier_key().label}, want one of: {operator_label}"
    assert refused("evidence", write(tmp_path, "genuine", history.checkpoint), forged, "--out", out, "--store", history.url) == message
    assert not out.exists()


# Tampered evidence, pinned keys.


@pytest.fixture
def evidence(history: History, fork: list[bytes]) -> str:
    """Evidence of different sizes (it carries a prefix root and a consistency proof)."""
    small = operator_checkpoint(fork, history.keys[OPERATOR], size=history.early_size)
    tree = tree_of(history.entries)
    return build_evidence(small, history.checkpoint, history.keys[OPERATOR].verifier_key(), lambda m, n: (tree.root_at(m), tree.consistency_proof(m, n)))


def tampered(text: str, change: Any) -> str:
    document = json.loads(text)
    change(document)
    return json.dumps(document, indent=1)


def refusal(text: str, pinned: Any = None) -> str:
    with pytest.raises(AccordError) as raised:
        check_evidence(text, pinned)
    return str(raised.value)


def test_tampered_prefix_root_is_refused(history: History, evidence: str, fork: list[bytes]) -> None:
    # Claiming the larger tree had the smaller checkpoint's root at its size would "disprove" the equivocation;
    # the consistency proof does not bind that root to the larger one.
    small_root = tree_of(fork).root_at(history.early_size)
    text = tampered(evidence, lambda d: d["prefix"].update(root=base64.b64encode(small_root).decode()))
    genuine_prefix = tree_of(history.entries).root_at(history.early_size)
    got, want = base64.b64encode(genuine_prefix).decode(), base64.b64encode(small_root).decode()
    assert refusal(text) == f"evidence: the prefix root is not bound to the larger checkpoint: root mismatch: got {got}, want {want}"


def test_tampered_consistency_proof_is_refused(evidence: str) -> None:
    def shorten(document: dict[str, Any]) -> None:
        document["prefix"]["proof"] = document["prefix"]["proof"][:-1]

    proof_size = len(json.loads(evidence)["prefix"]["proof"])
    text = tampered(evidence, shorten)
    assert refusal(text) == f"evidence: the prefix root is not bound to the larger checkpoint: wrong proof size {proof_size - 1}, want {proof_size}"


def test_tampered_checkpoint_is_refused(history: History, evidence: str) -> None:
    def change_size(document: dict[str, Any]) -> None:
        document["checkpoints"][0] = document["checkpoints"][0].replace(f"\n{history.early_size}\n", f"\n{history.early_size + 1}\n", 1)

    label = history.keys[OPERATOR].verifier_key().label
    assert refusal(tampered(evidence, change_size)) == f"evidence: a checkpoint is not signed by the operator: note: invalid signature by {label}"


def test_evidence_without_its_prefix_is_refused(evidence: str) -> None:
    text = tampered(evidence, lambda d: d.pop("prefix"))
    assert refusal(text) == "evidence: sizes differ and no prefix root and consistency proof are given"


@pytest.mark.parametrize(
    "text, message",
    [
        ("not json", "evidence: not JSON: Expecting value at char 0"),
        ('{"version": 1, "kind": "accord-bundle"}', "evidence: not equivocation evidence of version 1"),
        ('{"version": 1, "kind": "accord-equivocation"}', "evidence: operator is missing"),
        ('{"version": true, "kind": "accord-equivocation"}', "evidence: version got true, want 1"),
        ('{"version": 1e400, "kind": "accord-equivocation"}', "evidence: number 1e400 is not allowed: numbers must be exact integers"),
        ('{"version": 1, "version": 1}', "evidence: duplicate key 'version'"),
        ('{"a":' + "[" * 70 + "]" * 70 + "}", "evidence: JSON nested deeper than 64 levels"),
        ('{"version": 1, "kind": "accord-equivocation", "operator": 7}', "evidence: operator got 7, want a string"),
    ],
    ids=["not json", "another kind", "missing field", "boolean version", "huge number", "duplicate key", "deep nesting", "wrong type"],
)
def test_malformed_evidence_is_refused(text: str, message: str) -> None:
    with pytest.raises(MalformedError) as raised:
        check_evidence(text)
    assert str(raised.value) == message


def test_tampered_evidence_is_refused_on_the_command_line(history: History, evidence: str, tmp_path: Path) -> None:
    path = write(tmp_path, "tampered.json", tampered(evidence, lambda d: d.pop("prefix")))
    assert refused("check-evidence", path, "--operator", operator(history)) == "accord: evidence: sizes differ and no prefix root and consistency proof are given"
    ok("check-evidence", write(tmp_path, "genuine.json", evidence), "--operator", operator(history))


def test_pinned_wrong_operator_key_is_refused(history: History, evidence: str, tmp_path: Path) -> None:
    other = Signer.from_seed(ORIGIN, b"\x07" * 32).verifier_key()
    named = history.keys[OPERATOR].verifier_key()
    message = f"evidence: names operator key {named.label}, not the pinned {other.label}"
    assert refusal(evidence, other) == message
    assert refused("check-evidence", write(tmp_path, "e.json", evidence), "--operator", other.to_text()) == f"accord: {message}"


def test_evidence_fabricated_with_another_key_is_refused_once_the_operator_is_pinned(history: History, tmp_path: Path) -> None:
    # Anyone can make a key named like the origin and sign two contradicting checkpoints with it. The file is
    # self-consistent, so only pinning the operator's real key tells it apart.
    impostor = Signer.from_seed(ORIGIN, b"\x07" * 32)
    first = checkpoint_with_root(impostor, history.size, root(history.checkpoint))
    second = checkpoint_with_root(impostor, history.size, b"\x01" * 32)
    fabricated = build_evidence(first, second, impostor.verifier_key())
    assert check_evidence(fabricated).origin == ORIGIN
    named, pinned = impostor.verifier_key().label, history.keys[OPERATOR].verifier_key().label
    message = f"accord: evidence: names operator key {named}, not the pinned {pinned}"
    assert refused("check-evidence", write(tmp_path, "fabricated.json", fabricated), "--operator", operator(history)) == message
