"""tlog-proof@v1: the golden receipt byte for byte, proofs for every entry, and tampering of each part."""

from __future__ import annotations

import base64
import dataclasses

import pytest

from ledger.checkpoint import Checkpoint, cosign, sign_checkpoint
from ledger.errors import MalformedError, ProofError, SignatureError
from ledger.keys import Signer
from ledger.merkle import MemoryTree, leaf_hash
from ledger.tlog_proof import TlogProof, verify_tlog_proof
from tests.vectorfiles import accord_golden

GOLDEN = accord_golden()
ORIGIN = GOLDEN["origin"]
ROOT_B64 = GOLDEN["root_b64"]
PROOF_TEXT = GOLDEN["tlog_proof_index_2"]
ENTRIES = [entry["bytes_utf8"].encode("utf-8") for entry in GOLDEN["entries"]]
LEAVES = [bytes.fromhex(entry["leaf_hash_hex"]) for entry in GOLDEN["entries"]]

OPERATOR = Signer.from_seed(ORIGIN, bytes.fromhex(GOLDEN["keys"]["operator"]["seed_hex"]))
OPERATOR_KEY = OPERATOR.verifier_key()
DE = Signer.from_seed(f"{ORIGIN}/de", bytes.fromhex(GOLDEN["keys"]["de"]["seed_hex"]))
FR = Signer.from_seed(f"{ORIGIN}/fr", bytes.fromhex(GOLDEN["keys"]["fr"]["seed_hex"]))
WITNESSES = [FR.cosigner_key(), DE.cosigner_key()]
CHECKPOINT = Checkpoint(ORIGIN, 4, base64.b64decode(ROOT_B64))

ROOT_MISMATCH = rf"^merkle: root mismatch: got \S+, want {ROOT_B64}$"


def golden_tree() -> MemoryTree:
    tree = MemoryTree()
    for entry in ENTRIES:
        tree.append(entry)
    return tree


def test_golden_proof_round_trips_byte_for_byte() -> None:
    proof = TlogProof.from_text(PROOF_TEXT)
    assert proof.to_text() == PROOF_TEXT
    assert TlogProof.from_text(proof.to_text()) == proof
    assert TlogProof.from_text(PROOF_TEXT.encode("utf-8")) == proof
    assert (proof.index, len(proof.hashes), proof.extra) == (2, 2, None)
    assert proof.checkpoint_note == GOLDEN["checkpoint_cosigned"]


def test_golden_proof_verifies_entry_2_under_the_cosigned_checkpoint() -> None:
    proof = TlogProof.from_text(PROOF_TEXT)
    assert verify_tlog_proof(proof, LEAVES[2], OPERATOR_KEY, WITNESSES, quorum=1) == CHECKPOINT
    assert verify_tlog_proof(proof, LEAVES[2], OPERATOR_KEY) == CHECKPOINT


def test_golden_proof_is_the_one_the_tree_of_the_golden_entries_gives() -> None:
    tree = golden_tree()
    assert [leaf_hash(entry) for entry in ENTRIES] == LEAVES
    assert tree.root() == CHECKPOINT.root_hash
    proof = TlogProof(2, tuple(tree.inclusion_proof(2)), GOLDEN["checkpoint_cosigned"])
    assert proof.to_text() == PROOF_TEXT


@pytest.mark.parametrize("index", range(len(ENTRIES)))
def test_proof_of_every_golden_entry_verifies_and_round_trips(index: int) -> None:
    proof = TlogProof(index, tuple(golden_tree().inclusion_proof(index)), GOLDEN["checkpoint_cosigned"])
    assert TlogProof.from_text(proof.to_text()) == proof
    assert verify_tlog_proof(proof, LEAVES[index], OPERATOR_KEY, WITNESSES, quorum=1) == CHECKPOINT


def test_proof_with_extra_data_round_trips_and_verifies_the_same() -> None:
    proof = dataclasses.replace(TlogProof.from_text(PROOF_TEXT), extra=b"context")
    text = proof.to_text()
    assert text.split("\n")[:3] == ["c2sp.org/tlog-proof@v1", "extra Y29udGV4dA==", "index 2"]
    assert TlogProof.from_text(text) == proof
    assert verify_tlog_proof(proof, LEAVES[2], OPERATOR_KEY) == CHECKPOINT


# -- tampering -------------------------------------------------------------


def test_proof_with_a_wrong_index_is_rejected() -> None:
    proof = TlogProof.from_text(PROOF_TEXT.replace("index 2\n", "index 3\n"))
    with pytest.raises(ProofError, match=ROOT_MISMATCH):
        verify_tlog_proof(proof, LEAVES[2], OPERATOR_KEY)


def test_proof_with_an_index_beyond_the_checkpoint_is_rejected() -> None:
    proof = TlogProof.from_text(PROOF_TEXT.replace("index 2\n", "index 4\n"))
    with pytest.raises(ProofError, match=r"^merkle: index 4 out of range for tree size 4$"):
        verify_tlog_proof(proof, LEAVES[2], OPERATOR_KEY)


def test_proof_with_a_modified_hash_is_rejected() -> None:
    proof = TlogProof.from_text(PROOF_TEXT)
    first = proof.hashes[0]
    modified = dataclasses.replace(proof, hashes=(bytes([first[0] ^ 1]) + first[1:], *proof.hashes[1:]))
    with pytest.raises(ProofError, match=ROOT_MISMATCH):
        verify_tlog_proof(modified, LEAVES[2], OPERATOR_KEY)


def test_proof_with_a_hash_missing_is_rejected() -> None:
    proof = TlogProof.from_text(PROOF_TEXT)
    with pytest.raises(ProofError, match=r"^merkle: wrong proof size 1, want 2$"):
        verify_tlog_proof(dataclasses.replace(proof, hashes=proof.hashes[:1]), LEAVES[2], OPERATOR_KEY)


def test_proof_for_another_entry_is_rejected() -> None:
    with pytest.raises(ProofError, match=ROOT_MISMATCH):
        verify_tlog_proof(TlogProof.from_text(PROOF_TEXT), LEAVES[1], OPERATOR_KEY)


def test_proof_under_a_validly_signed_checkpoint_with_a_wrong_root_is_rejected() -> None:
    # The operator signed it: only the inclusion check can catch it.
    wrong_root = sign_checkpoint(Checkpoint(ORIGIN, 4, bytes(32)), OPERATOR)
    proof = dataclasses.replace(TlogProof.from_text(PROOF_TEXT), checkpoint_note=wrong_root.to_text())
    with pytest.raises(ProofError, match=r"^merkle: root mismatch: got \S+, want AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=$"):
        verify_tlog_proof(proof, LEAVES[2], OPERATOR_KEY)


def test_proof_whose_checkpoint_root_was_edited_is_rejected_by_its_signature() -> None:
    edited = PROOF_TEXT.replace(ROOT_B64, base64.b64encode(bytes(32)).decode())
    with pytest.raises(SignatureError, match=rf"^note: invalid signature by {ORIGIN}\+3deffbc2$"):
        verify_tlog_proof(TlogProof.from_text(edited), LEAVES[2], OPERATOR_KEY)


def test_proof_under_a_checkpoint_by_another_operator_is_rejected() -> None:
    with pytest.raises(SignatureError, match=r"^note: no signature by a known key: "):
        verify_tlog_proof(TlogProof.from_text(PROOF_TEXT), LEAVES[2], Signer.generate(ORIGIN).verifier_key())


def test_proof_without_the_witness_quorum_is_rejected() -> None:
    with pytest.raises(SignatureError) as refused:
        verify_tlog_proof(TlogProof.from_text(PROOF_TEXT), LEAVES[2], OPERATOR_KEY, WITNESSES, quorum=2)
    assert str(refused.value) == "cosignature: too few witnesses cosigned: got 1, want at least 2"


def test_proof_with_a_forged_cosignature_is_rejected() -> None:
    proof = TlogProof.from_text(PROOF_TEXT)
    note = sign_checkpoint(CHECKPOINT, OPERATOR).with_signatures(cosign(Checkpoint(ORIGIN, 5, bytes(32)), FR, 1))
    forged = dataclasses.replace(proof, checkpoint_note=note.to_text())
    with pytest.raises(SignatureError, match=rf"^note: invalid signature by {ORIGIN}/fr\+bb36bf23$"):
        verify_tlog_proof(forged, LEAVES[2], OPERATOR_KEY, WITNESSES, quorum=1)


# -- malformed proofs ------------------------------------------------------


HEAD, _, NOTE = PROOF_TEXT.partition("\n\n")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (HEAD + "\n", "tlog-proof: no blank line before the checkpoint"),
        # Without its own blank line, the checkpoint's lines read as proof hashes.
        (HEAD + "\n" + NOTE, "tlog-proof: proof hash 3: got invalid base64, want RFC 4648 standard base64"),
        (
            PROOF_TEXT.replace("c2sp.org/tlog-proof@v1", "c2sp.org/tlog-proof@v2"),
            "tlog-proof: first line got 'c2sp.org/tlog-proof@v2', want 'c2sp.org/tlog-proof@v1'",
        ),
        (PROOF_TEXT.replace("index 2\n", ""), "tlog-proof: line 2: want 'index <decimal>'"),
        (PROOF_TEXT.replace("index 2\n", "index: 2\n"), "tlog-proof: line 2: want 'index <decimal>'"),
        (
            PROOF_TEXT.replace("index 2\n", "index 02\n"),
            "tlog-proof: index got '02', want a decimal from 0 to 2^63-1 without leading zeros",
        ),
        (
            PROOF_TEXT.replace("index 2\n", "index -2\n"),
            "tlog-proof: index got '-2', want a decimal from 0 to 2^63-1 without leading zeros",
        ),
        (
            PROOF_TEXT.replace("index 2\n", "extra !!\nindex 2\n"),
            "tlog-proof: extra: got invalid base64, want RFC 4648 standard base64",
        ),
        (
            PROOF_TEXT.replace("index 2\n", "index 2\nAAAA\n"),
            "tlog-proof: proof hash 1 got 3 bytes, want 32",
        ),
        (
            PROOF_TEXT.replace("index 2\nWpZI", "index 2\nWpZ-"),
            "tlog-proof: proof hash 1: got invalid base64, want RFC 4648 standard base64",
        ),
        (HEAD + "\n\n" + NOTE.replace("\n\n", "\n"), "note: no blank line between the text and the signatures"),
        (b"\xff" + PROOF_TEXT.encode(), "tlog-proof: not UTF-8: invalid byte at offset 0"),
    ],
)
def test_malformed_proof_is_refused_naming_the_fault(text: str | bytes, message: str) -> None:
    with pytest.raises(MalformedError) as refused:
        TlogProof.from_text(text)
    assert str(refused.value) == message


def test_proof_built_directly_keeps_the_parsers_rules() -> None:
    with pytest.raises(MalformedError, match=r"^tlog-proof: index got -1, want 0 or more$"):
        TlogProof(-1, (), GOLDEN["checkpoint"])
    with pytest.raises(MalformedError, match=r"^tlog-proof: proof hash 1 got 31 bytes, want 32$"):
        TlogProof(0, (bytes(31),), GOLDEN["checkpoint"])
