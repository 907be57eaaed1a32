"""Checkpoints and cosignatures: the golden checkpoint byte for byte, the C2SP examples, and every refusal."""

from __future__ import annotations

import base64

import pytest

from ledger.checkpoint import (
    Checkpoint,
    cosign,
    open_checkpoint,
    sign_checkpoint,
    verify_cosignature,
    verify_cosignatures,
)
from ledger.errors import MalformedError, SignatureError
from ledger.keys import COSIGNATURE_V1, Signer
from ledger.note import Note, NoteSignature, open_note, sign_note
from tests.vectorfiles import accord_golden

GOLDEN = accord_golden()
ORIGIN = GOLDEN["origin"]
ROOT = base64.b64decode(GOLDEN["root_b64"])
TIME = GOLDEN["cosignature_time"]
CHECKPOINT = Checkpoint(ORIGIN, 4, ROOT)

OPERATOR = Signer.from_seed(ORIGIN, bytes.fromhex(GOLDEN["keys"]["operator"]["seed_hex"]))
DE = Signer.from_seed(f"{ORIGIN}/de", bytes.fromhex(GOLDEN["keys"]["de"]["seed_hex"]))
FR = Signer.from_seed(f"{ORIGIN}/fr", bytes.fromhex(GOLDEN["keys"]["fr"]["seed_hex"]))
FR_WITNESS = FR.cosigner_key()
DE_WITNESS = DE.cosigner_key()

# c2sp.org/tlog-cosignature's example (keys unpublished: shape and layout only).
BEHIND_THE_SOFA = (
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    "\n"
    "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)


# -- golden vectors --------------------------------------------------------


def test_golden_checkpoint_is_reproduced_from_the_operator_seed_and_root() -> None:
    assert sign_checkpoint(CHECKPOINT, OPERATOR).to_text() == GOLDEN["checkpoint"]


def test_golden_cosigned_checkpoint_is_reproduced_from_frs_seed_and_time() -> None:
    signed = Note.from_text(GOLDEN["checkpoint"])
    cosignature = cosign(signed, FR, TIME)
    assert signed.with_signatures(cosignature).to_text() == GOLDEN["checkpoint_cosigned"]
    assert cosign(CHECKPOINT, FR, TIME) == cosignature


def test_golden_cosigned_checkpoint_opens_and_its_cosignature_gives_its_time() -> None:
    checkpoint, note = open_checkpoint(GOLDEN["checkpoint_cosigned"], OPERATOR.verifier_key())
    assert checkpoint == CHECKPOINT
    assert note.to_text() == GOLDEN["checkpoint_cosigned"]
    assert verify_cosignature(note, FR_WITNESS) == TIME == 1764000000
    assert verify_cosignatures(note, [FR_WITNESS, DE_WITNESS], quorum=1) == [FR_WITNESS]


def test_cosignature_spec_example_has_the_documented_layout() -> None:
    note = Note.from_text(BEHIND_THE_SOFA)
    assert note.to_text() == BEHIND_THE_SOFA
    assert Checkpoint.from_text(note.text) == Checkpoint(
        "example.com/behind-the-sofa", 20852163, base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    )
    operator_line, witness_line = note.signatures
    assert len(operator_line.signature) == 64
    assert len(witness_line.signature) == 8 + 64
    # The spec's example message reads "time 1679315147".
    assert int.from_bytes(witness_line.signature[:8], "big") == 1679315147


# -- the checkpoint body ---------------------------------------------------


@pytest.mark.parametrize(
    "checkpoint",
    [CHECKPOINT, Checkpoint(ORIGIN, 0, bytes(32)), Checkpoint("example.com/log42", 2**63 - 1, ROOT, ("ext one", "ext-2"))],
)
def test_checkpoint_text_round_trips(checkpoint: Checkpoint) -> None:
    assert Checkpoint.from_text(checkpoint.to_text()) == checkpoint
    assert Checkpoint.from_text(checkpoint.to_text()).to_text() == checkpoint.to_text()


def test_checkpoint_text_is_origin_size_root_then_extensions() -> None:
    assert Checkpoint(ORIGIN, 4, ROOT, ("x",)).to_text() == f"{ORIGIN}\n4\n{GOLDEN['root_b64']}\nx\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"{ORIGIN}\n4\n{GOLDEN['root_b64']}", "checkpoint: does not end in a newline"),
        (f"{ORIGIN}\n4\n", "checkpoint: got 2 lines, want at least 3: origin, size, root hash"),
        (f"\n4\n{GOLDEN['root_b64']}\n", "checkpoint: origin is empty"),
        (
            f"{ORIGIN}\n04\n{GOLDEN['root_b64']}\n",
            "checkpoint: size got '04', want a decimal from 0 to 2^63-1 without leading zeros",
        ),
        (
            f"{ORIGIN}\n+4\n{GOLDEN['root_b64']}\n",
            "checkpoint: size got '+4', want a decimal from 0 to 2^63-1 without leading zeros",
        ),
        (
            f"{ORIGIN}\n-1\n{GOLDEN['root_b64']}\n",
            "checkpoint: size got '-1', want a decimal from 0 to 2^63-1 without leading zeros",
        ),
        (
            f"{ORIGIN}\n\u0664\n{GOLDEN['root_b64']}\n",  # ARABIC-INDIC DIGIT FOUR: int() would take it
            "checkpoint: size got '\u0664', want a decimal from 0 to 2^63-1 without leading zeros",
        ),
        (
            f"{ORIGIN}\n{2**63}\n{GOLDEN['root_b64']}\n",
            "checkpoint: size got '9223372036854775808', want a decimal from 0 to 2^63-1 without leading zeros",
        ),
        (f"{ORIGIN}\n4\n{GOLDEN['root_b64'][:-1]}\n", "checkpoint: root hash: got invalid base64, want RFC 4648 standard base64"),
        (f"{ORIGIN}\n4\nAAAA\n", "checkpoint: root hash got 3 bytes, want 32"),
        (f"{ORIGIN}\n4\n{GOLDEN['root_b64']}\n\n", "checkpoint: extension line 1 is empty or holds a newline"),
    ],
)
def test_malformed_checkpoint_is_refused_naming_the_fault(text: str, message: str) -> None:
    with pytest.raises(MalformedError) as refused:
        Checkpoint.from_text(text)
    assert str(refused.value) == message


def test_checkpoint_built_directly_keeps_the_parsers_rules() -> None:
    with pytest.raises(MalformedError, match=r"^checkpoint: size got -1, want 0 to 2\^63-1$"):
        Checkpoint(ORIGIN, -1, ROOT)
    with pytest.raises(MalformedError, match=r"^checkpoint: origin holds a newline$"):
        Checkpoint(ORIGIN + "\n4", 4, ROOT)


# -- operator signatures ---------------------------------------------------


def test_operator_key_named_other_than_the_origin_cannot_sign_the_checkpoint() -> None:
    with pytest.raises(SignatureError) as refused:
        sign_checkpoint(CHECKPOINT, DE)
    assert str(refused.value) == f"checkpoint: operator key name got '{ORIGIN}/de', want the origin '{ORIGIN}'"


def test_checkpoint_signed_by_another_key_is_rejected() -> None:
    forged = sign_note(CHECKPOINT.to_text(), Signer.generate(ORIGIN))
    with pytest.raises(SignatureError, match=rf"^note: no signature by a known key: got {ORIGIN}\+[0-9a-f]{{8}}, want one of: {ORIGIN}\+3deffbc2$"):
        open_checkpoint(forged.to_text(), OPERATOR.verifier_key())


def test_checkpoint_with_a_changed_root_is_rejected() -> None:
    tampered = GOLDEN["checkpoint"].replace(GOLDEN["root_b64"], base64.b64encode(bytes(32)).decode())
    with pytest.raises(SignatureError, match=rf"^note: invalid signature by {ORIGIN}\+3deffbc2$"):
        open_checkpoint(tampered, OPERATOR.verifier_key())


def test_checkpoint_signatures_are_verified_before_its_text_is_parsed() -> None:
    junk = sign_note("not a checkpoint\n", Signer.generate(ORIGIN))
    with pytest.raises(SignatureError):
        open_checkpoint(junk.to_text(), OPERATOR.verifier_key())
    signed_junk = sign_note("not a checkpoint\n", OPERATOR)
    with pytest.raises(MalformedError, match=r"^checkpoint: got 1 lines, want at least 3: origin, size, root hash$"):
        open_checkpoint(signed_junk.to_text(), OPERATOR.verifier_key())


def test_checkpoint_of_another_origin_is_rejected_even_when_the_operator_signed_it() -> None:
    other = sign_note(Checkpoint("accord.example/elsewhere", 4, ROOT).to_text(), OPERATOR)
    with pytest.raises(SignatureError) as refused:
        open_checkpoint(other.to_text(), OPERATOR.verifier_key())
    assert str(refused.value) == f"checkpoint: origin got 'accord.example/elsewhere', want '{ORIGIN}'"


# -- cosignatures ----------------------------------------------------------


def cosigned(checkpoint: Checkpoint, *witnesses: Signer) -> Note:
    note = sign_checkpoint(checkpoint, OPERATOR)
    return note.with_signatures(*(cosign(note, witness, TIME) for witness in witnesses))


def test_cosignature_signs_header_time_and_checkpoint_body() -> None:
    line = cosign(CHECKPOINT, FR, TIME)
    message = f"cosignature/v1\ntime {TIME}\n".encode() + CHECKPOINT.to_text().encode()
    assert line.key_id == FR_WITNESS.key_id
    assert line.signature[:8] == TIME.to_bytes(8, "big")
    assert line.signature[8:] == FR.sign(message)


def test_cosignature_over_another_checkpoint_is_rejected() -> None:
    line = cosign(Checkpoint(ORIGIN, 3, bytes(32)), FR, TIME)
    moved = sign_checkpoint(CHECKPOINT, OPERATOR).with_signatures(line)
    with pytest.raises(SignatureError, match=rf"^note: invalid signature by {ORIGIN}/fr\+bb36bf23$"):
        verify_cosignature(moved, FR_WITNESS)


def test_cosignature_with_a_changed_timestamp_is_rejected() -> None:
    line = cosign(CHECKPOINT, FR, TIME)
    later = NoteSignature(line.name, line.key_id, (TIME + 1).to_bytes(8, "big") + line.signature[8:])
    note = sign_checkpoint(CHECKPOINT, OPERATOR).with_signatures(later)
    with pytest.raises(SignatureError, match=rf"^note: invalid signature by {ORIGIN}/fr\+bb36bf23$"):
        verify_cosignature(note, FR_WITNESS)


def test_cosignature_of_the_wrong_length_is_rejected() -> None:
    line = cosign(CHECKPOINT, FR, TIME)
    short = NoteSignature(line.name, line.key_id, line.signature[:-1])
    with pytest.raises(SignatureError, match=rf"^note: invalid signature by {ORIGIN}/fr\+bb36bf23$"):
        verify_cosignature(sign_checkpoint(CHECKPOINT, OPERATOR).with_signatures(short), FR_WITNESS)


def test_missing_cosignature_is_reported_naming_the_witness() -> None:
    with pytest.raises(SignatureError) as refused:
        verify_cosignature(Note.from_text(GOLDEN["checkpoint"]), FR_WITNESS)
    assert str(refused.value) == f"cosignature: no cosignature by {ORIGIN}/fr+bb36bf23"


def test_witness_note_key_does_not_verify_its_cosignature() -> None:
    # Type 0x04 gives the witness form its own key id: a cosignature is never
    # taken for an Ed25519 note signature by the same key, nor the reverse.
    note = Note.from_text(GOLDEN["checkpoint_cosigned"])
    with pytest.raises(SignatureError, match=r"^note: no signature by a known key: "):
        open_note(note, [FR.verifier_key()])
    with pytest.raises(SignatureError) as refused:
        verify_cosignature(note, FR.verifier_key())
    assert str(refused.value) == f"cosignature: witness key {ORIGIN}/fr+8eac8ec4 has type 0x01, want 0x04 (cosignature/v1)"


def test_operator_and_witness_keys_verify_together_in_one_pass() -> None:
    note = Note.from_text(GOLDEN["checkpoint_cosigned"])
    assert open_note(note, [FR_WITNESS, OPERATOR.verifier_key()]).signers == [OPERATOR.verifier_key(), FR_WITNESS]


def test_witness_signer_of_type_4_cosigns_the_same_as_its_note_form() -> None:
    witness = Signer.from_seed(FR.name, bytes.fromhex(GOLDEN["keys"]["fr"]["seed_hex"]), COSIGNATURE_V1)
    assert cosign(CHECKPOINT, witness, TIME) == cosign(CHECKPOINT, FR, TIME)


def test_only_checkpoints_are_cosigned() -> None:
    with pytest.raises(MalformedError, match=r"^checkpoint: got 1 lines, want at least 3: origin, size, root hash$"):
        cosign(sign_note("a statement\n", OPERATOR), FR, TIME)


@pytest.mark.parametrize("timestamp", [-1, 2**63])
def test_cosignature_timestamp_outside_0_to_2_63_minus_1_is_refused(timestamp: int) -> None:
    with pytest.raises(MalformedError) as refused:
        cosign(CHECKPOINT, FR, timestamp)
    assert str(refused.value) == f"cosignature: timestamp got {timestamp}, want 0 to 2^63-1"


def test_quorum_of_witnesses_is_met_or_the_checkpoint_is_rejected() -> None:
    note = cosigned(CHECKPOINT, FR, DE)
    assert verify_cosignatures(note, [DE_WITNESS, FR_WITNESS], quorum=2) == [FR_WITNESS, DE_WITNESS]
    only_fr = cosigned(CHECKPOINT, FR)
    with pytest.raises(SignatureError) as refused:
        verify_cosignatures(only_fr, [DE_WITNESS, FR_WITNESS], quorum=2)
    assert str(refused.value) == "cosignature: too few witnesses cosigned: got 1, want at least 2"
    assert verify_cosignatures(sign_checkpoint(CHECKPOINT, OPERATOR), [], quorum=0) == []


def test_one_witness_listed_twice_counts_once_towards_the_quorum() -> None:
    with pytest.raises(SignatureError) as refused:
        verify_cosignatures(cosigned(CHECKPOINT, FR), [FR_WITNESS, FR_WITNESS], quorum=2)
    assert str(refused.value) == "cosignature: quorum of 2 cannot be met by 1 distinct witness keys"


def test_forged_cosignature_by_a_listed_witness_rejects_even_when_the_quorum_is_met() -> None:
    good = cosigned(CHECKPOINT, FR)
    forged = cosign(Checkpoint(ORIGIN, 3, bytes(32)), DE, TIME)
    with pytest.raises(SignatureError, match=rf"^note: invalid signature by {ORIGIN}/de\+[0-9a-f]{{8}}$"):
        verify_cosignatures(good.with_signatures(forged), [FR_WITNESS, DE_WITNESS], quorum=1)
