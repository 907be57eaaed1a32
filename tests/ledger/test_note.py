"""Signed notes: Go's and the C2SP spec's examples, Accord's golden statements, and every refusal."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from ledger.errors import MalformedError, SignatureError
from ledger.keys import COSIGNATURE_V1, Signer, VerifierKey
from ledger.note import MAX_SIGNATURES, Note, NoteSignature, UnverifiedNoteError, VerifiedNote, known_signers, open_note, sign_note
from tests.vectorfiles import accord_golden

GOLDEN = accord_golden()
ORIGIN = GOLDEN["origin"]

# golang.org/x/mod/sumdb/note: package documentation and note_test.go.
PETER_PRIVATE = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER = VerifierKey.from_text("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
ENOCH = VerifierKey.from_text("EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop")
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIG = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
ENOCH_SIG = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"

# c2sp.org/signed-note's example: its text holds a blank line of its own.
QUASIMODO = (
    "Ognuno sta solo sul cuor della terra\n"
    "trafitto da un raggio di sole:\n"
    "\n"
    "ed è subito sera.\n"
    "\n"
    "— quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n"
)


def golden_signer(actor: str) -> Signer:
    return Signer.from_seed(f"{ORIGIN}/{actor}", bytes.fromhex(GOLDEN["keys"][actor]["seed_hex"]))


# -- public vectors --------------------------------------------------------


def test_go_example_key_reproduces_gos_published_signed_note() -> None:
    signed = sign_note(TEXT, Signer.from_go_private_key(PETER_PRIVATE))
    assert signed.to_text() == TEXT + "\n" + PETER_SIG


def test_go_doubly_signed_example_verifies_with_both_keys_in_line_order() -> None:
    note = Note.from_text(TEXT + "\n" + PETER_SIG + ENOCH_SIG)
    assert open_note(note, [ENOCH, PETER]).signers == [PETER, ENOCH]
    assert open_note(note, [PETER]).signers == [PETER]
    assert open_note(note, [ENOCH]).signers == [ENOCH]


def test_signed_note_spec_example_splits_at_the_last_blank_line() -> None:
    note = Note.from_text(QUASIMODO)
    assert note.text == "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n"
    [signature] = note.signatures
    assert (signature.name, signature.key_id.hex(), len(signature.signature)) == ("quasimodo.example/salvatore", "367ba04b", 64)
    assert note.to_text() == QUASIMODO


@pytest.mark.parametrize("statement", GOLDEN["statements"], ids=lambda statement: statement["json"]["kind"])
def test_golden_statement_notes_are_reproduced_from_text_and_seed(statement: dict[str, Any]) -> None:
    signer = golden_signer(statement["json"]["actor"])
    signed = sign_note(statement["text"], signer)
    assert signed.to_text() == statement["note"]
    assert open_note(Note.from_text(statement["note"]), [signer.verifier_key()]).signers == [signer.verifier_key()]


# -- round trips -----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        TEXT + "\n" + PETER_SIG,
        TEXT + "\n" + PETER_SIG + ENOCH_SIG,
        TEXT + "\n" + PETER_SIG + PETER_SIG,  # duplicates are kept as written
        QUASIMODO,
        GOLDEN["checkpoint_cosigned"],
        *(statement["note"] for statement in GOLDEN["statements"]),
    ],
)
def test_note_text_round_trips_byte_for_byte(text: str) -> None:
    note = Note.from_text(text)
    assert note.to_text() == text
    assert Note.from_text(note.to_text()) == note
    assert Note.from_text(text.encode("utf-8")) == note


# -- signing ---------------------------------------------------------------


def test_several_parties_sign_one_text_in_turn() -> None:
    de, fr = golden_signer("de"), golden_signer("fr")
    text = "{}\n"
    by_both = sign_note(sign_note(text, de), fr)
    assert by_both == sign_note(text, de, fr)
    assert [signature.name for signature in by_both.signatures] == [de.name, fr.name]
    assert open_note(by_both, [fr.verifier_key(), de.verifier_key()]).signers == [de.verifier_key(), fr.verifier_key()]


def test_signing_again_with_the_same_key_does_not_add_a_second_line() -> None:
    de = golden_signer("de")
    once = sign_note("{}\n", de)
    assert sign_note(once, de) == once
    assert sign_note("{}\n", de, de) == once


def test_signing_replaces_a_bad_signature_by_the_same_key() -> None:
    # Go's TestSign: an existing signature by the signer's key is replaced.
    stale = Note(TEXT, (NoteSignature("PeterNeumann", PETER.key_id, bytes(64)),))
    signed = sign_note(stale, Signer.from_go_private_key(PETER_PRIVATE))
    assert signed.to_text() == TEXT + "\n" + PETER_SIG


def test_text_without_a_final_newline_is_not_signed() -> None:
    with pytest.raises(MalformedError, match=r"^note: text does not end in a newline$"):
        sign_note("abc", golden_signer("de"))


def test_text_with_a_control_character_is_not_signed() -> None:
    with pytest.raises(MalformedError) as refused:
        sign_note("a\tb\n", golden_signer("de"))
    assert str(refused.value) == "note: text: got U+0009 at character 1, want UTF-8 with no control character but newline"


def test_note_without_signers_is_refused() -> None:
    with pytest.raises(MalformedError, match=r"^note: no signatures: want at least 1$"):
        sign_note(TEXT)


def test_witness_key_cannot_sign_a_note() -> None:
    witness = Signer.from_seed(f"{ORIGIN}/fr", bytes.fromhex(GOLDEN["keys"]["fr"]["seed_hex"]), COSIGNATURE_V1)
    with pytest.raises(SignatureError) as refused:
        sign_note(TEXT, witness)
    assert str(refused.value) == f"note: signer {ORIGIN}/fr has signature type cosignature/v1, want Ed25519"


# -- malformed notes -------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (TEXT, "note: no blank line between the text and the signatures"),
        (TEXT + "\n", "note: no signature lines after the blank line"),
        (TEXT + "\n" + PETER_SIG[:-1], "note: last signature line does not end in a newline"),
        (
            "\x01" + TEXT + "\n" + PETER_SIG,
            "note: got U+0001 at character 0, want UTF-8 with no control character but newline",
        ),
        (
            TEXT + "\n" + PETER_SIG[:-1] + "\r\n",
            "note: got U+000D at character 207, want UTF-8 with no control character but newline",
        ),
        (b"\xff" + (TEXT + "\n" + PETER_SIG).encode(), "note: not UTF-8: invalid byte at offset 0"),
        (TEXT + "\n" + PETER_SIG + "Unexpected line.\n", "note: signature line 2 does not start with '— ' (em dash, space)"),
        (TEXT + "\n" + PETER_SIG.replace("—", "-"), "note: signature line 1 does not start with '— ' (em dash, space)"),
        (TEXT + "\n— PeterNeumann\n", "note: signature line 1 has no space between key name and signature"),
        (
            TEXT + "\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
            "note: signature line 1: got invalid base64, want RFC 4648 standard base64",
        ),
        (TEXT + "\n— Peter+Neumann AAAAAAA=\n", "note: key name 'Peter+Neumann' contains '+'"),
        (TEXT + "\n— PeterNeumann !!!!\n", "note: signature line 1: got invalid base64, want RFC 4648 standard base64"),
        (TEXT + "\n— PeterNeumann AAAAAAB=\n", "note: signature line 1: got non-canonical base64 (padding bits set), want canonical"),
        (
            TEXT + "\n— PeterNeumann AAAAAA==\n",
            "note: signature line 1: signature got 4 bytes, want a 4-byte key id and a signature",
        ),
        (TEXT + "\n" + PETER_SIG * (MAX_SIGNATURES + 1), "note: too many signatures: got 101, want at most 100"),
    ],
)
def test_malformed_note_is_refused_naming_the_fault(data: str | bytes, message: str) -> None:
    with pytest.raises(MalformedError) as refused:
        Note.from_text(data)
    assert str(refused.value) == message


def test_note_with_100_signatures_is_accepted() -> None:
    note = Note.from_text(TEXT + "\n" + PETER_SIG * MAX_SIGNATURES)
    assert len(note.signatures) == MAX_SIGNATURES
    assert open_note(note, [PETER]).signers == [PETER]


# -- verification ----------------------------------------------------------


def test_note_signed_by_known_key_with_bad_signature_is_rejected() -> None:
    # Go's TestOpen "Invalid signature": four base64 characters spliced into the signature.
    note = Note.from_text(TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:])
    with pytest.raises(SignatureError) as refused:
        open_note(note, [PETER])
    assert str(refused.value) == "note: invalid signature by PeterNeumann+c74f20a3"


def test_forged_signature_by_a_known_key_rejects_the_note_even_beside_a_valid_one() -> None:
    forged = PETER_SIG.replace("x08go/ZJ", "x08go/ZK")
    note = Note.from_text(TEXT + "\n" + ENOCH_SIG + forged)
    with pytest.raises(SignatureError, match=r"^note: invalid signature by PeterNeumann\+c74f20a3$"):
        open_note(note, [ENOCH, PETER])


def test_duplicated_signature_line_by_a_known_key_is_verified_too() -> None:
    forged = PETER_SIG.replace("x08go/ZJ", "x08go/ZK")
    with pytest.raises(SignatureError, match=r"^note: invalid signature by PeterNeumann\+c74f20a3$"):
        open_note(Note.from_text(TEXT + "\n" + PETER_SIG + forged), [PETER])


def test_text_changed_after_signing_is_rejected() -> None:
    note = Note.from_text(TEXT.replace("problem,", "problem;") + "\n" + PETER_SIG)
    with pytest.raises(SignatureError, match=r"^note: invalid signature by PeterNeumann\+c74f20a3$"):
        open_note(note, [PETER])


def test_note_signed_by_unknown_keys_only_is_rejected_naming_what_was_found() -> None:
    note = Note.from_text(TEXT + "\n" + PETER_SIG + ENOCH_SIG + PETER_SIG)
    de = golden_signer("de").verifier_key()
    with pytest.raises(SignatureError) as refused:
        open_note(note, [de])
    assert str(refused.value) == (
        "note: no signature by a known key: got PeterNeumann+c74f20a3, EnochRoot+af0cfe78, "
        f"want one of: {ORIGIN}/de+3f9497c3"
    )
    with pytest.raises(SignatureError) as refused:
        open_note(Note.from_text(QUASIMODO), [])
    assert str(refused.value) == "note: no signature by a known key: got quasimodo.example/salvatore+367ba04b, want one of: none"


def test_signature_sharing_only_the_name_of_a_known_key_is_ignored_not_failed() -> None:
    # c2sp.org/signed-note: verifiers MUST ignore signatures from unknown keys
    # even if they share a name or id (but not both) with a known key.
    impostor = Signer.generate("PeterNeumann")
    note = sign_note(Note.from_text(TEXT + "\n" + PETER_SIG), impostor)
    assert len(note.signatures) == 2
    assert open_note(note, [PETER]).signers == [PETER]


def test_signature_sharing_only_the_key_id_of_a_known_key_is_ignored_not_failed() -> None:
    renamed = PETER_SIG.replace("PeterNeumann", "CarmenSandiego")
    note = Note.from_text(TEXT + "\n" + renamed + PETER_SIG)
    assert open_note(note, [PETER]).signers == [PETER]
    with pytest.raises(SignatureError, match=r"^note: no signature by a known key: got CarmenSandiego\+c74f20a3, "):
        open_note(Note.from_text(TEXT + "\n" + renamed), [PETER])


def test_two_known_keys_sharing_name_and_key_id_are_refused_as_ambiguous() -> None:
    # A 32-bit key id can be collided on purpose; a verifier given both keys must not pick one.
    colliding = VerifierKey(PETER.name, PETER.sig_type, ENOCH.public)
    object.__setattr__(colliding, "key_id", PETER.key_id)
    with pytest.raises(SignatureError) as refused:
        open_note(Note.from_text(TEXT + "\n" + PETER_SIG), [PETER, colliding])
    assert str(refused.value) == "note: ambiguous known key PeterNeumann+c74f20a3: two known keys share its name and key id"


def test_the_same_known_key_listed_twice_is_not_ambiguous() -> None:
    assert open_note(Note.from_text(TEXT + "\n" + PETER_SIG), [PETER, PETER]).signers == [PETER]


def test_note_built_directly_keeps_the_parsers_rules() -> None:
    note = Note.from_text(TEXT + "\n" + PETER_SIG)
    with pytest.raises(MalformedError, match=r"^note: too many signatures: got 101, want at most 100$"):
        dataclasses.replace(note, signatures=note.signatures * (MAX_SIGNATURES + 1))
    with pytest.raises(MalformedError, match=r"^note: key id got 3 bytes, want 4$"):
        NoteSignature("PeterNeumann", b"\xc7\x4f\x20", bytes(64))
    with pytest.raises(MalformedError, match=r"^note: signature by PeterNeumann\+c74f20a3 is empty$"):
        NoteSignature("PeterNeumann", PETER.key_id, b"")


# -- the opened note's type says what was checked (sumdb's note.Open) ---------


def test_open_note_from_text_separates_verified_signatures_from_unverified_ones() -> None:
    opened = open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [ENOCH])
    assert isinstance(opened, VerifiedNote)
    assert opened.text == TEXT
    assert [(signature.key, signature.line.label) for signature in opened.sigs] == [(ENOCH, ENOCH.label)]
    assert [signature.label for signature in opened.unverified_sigs] == [PETER.label]
    assert opened.signature_by(ENOCH) is opened.sigs[0].line
    assert opened.signature_by(PETER) is None


def test_open_note_with_no_known_signature_raises_carrying_the_unverified_note() -> None:
    with pytest.raises(UnverifiedNoteError) as refused:
        open_note(TEXT + "\n" + PETER_SIG, [ENOCH])
    assert refused.value.note.sigs == ()
    assert [signature.label for signature in refused.value.note.unverified_sigs] == [PETER.label]
    assert isinstance(refused.value, SignatureError)


def test_open_note_asks_the_given_check_for_every_line_by_a_known_key_and_refuses_its_no() -> None:
    asked: list[tuple[int, str]] = []

    def refuse_line_1(line: int, key: VerifierKey, message: bytes, signature: bytes) -> bool:
        asked.append((line, key.label))
        return line != 1

    note = Note.from_text(TEXT + "\n" + PETER_SIG + ENOCH_SIG)
    with pytest.raises(SignatureError) as refused:
        open_note(note, [PETER, ENOCH], refuse_line_1)
    assert str(refused.value) == f"note: invalid signature by {ENOCH.label}"
    assert asked == [(0, PETER.label), (1, ENOCH.label)]


def test_known_signers_answers_none_where_open_note_finds_no_known_signature() -> None:
    assert known_signers(Note.from_text(TEXT + "\n" + PETER_SIG), [ENOCH]) == []
    assert known_signers(Note.from_text(TEXT + "\n" + PETER_SIG), [ENOCH, PETER]) == [PETER]


def test_known_signers_for_one_line_and_one_key_says_what_open_note_says() -> None:
    """known_signers answers one line under one key (nearly every statement) without open_note;
    given the keys as an iterator, it goes through open_note: both must agree on a good line, a
    forged one, a line by another key, and a line whose name matches but whose key id does not."""
    peter_note = Note.from_text(TEXT + "\n" + PETER_SIG)
    forged = Note(TEXT, (NoteSignature(PETER.name, PETER.key_id, bytes(64)),))
    namesake = Signer.from_seed(PETER.name, bytes(32)).verifier_key()

    def outcome(note: Note, keys: Any) -> object:
        try:
            return [key.label for key in known_signers(note, keys)]
        except SignatureError as error:
            return f"SignatureError: {error}"

    cases = [(peter_note, PETER), (forged, PETER), (peter_note, ENOCH), (peter_note, namesake)]
    for note, key in cases:
        assert outcome(note, [key]) == outcome(note, (key,)) == outcome(note, iter([key])), key.label
    assert outcome(forged, [PETER]) == f"SignatureError: note: invalid signature by {PETER.label}"
    assert outcome(peter_note, [PETER]) == [PETER.label]
    assert outcome(peter_note, [ENOCH]) == outcome(peter_note, [namesake]) == []
