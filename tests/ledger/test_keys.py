"""Keys: key ids, verifier keys, signers (key files: test_keyfile.py)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Any

import pytest

from ledger.errors import MalformedError
from ledger.keys import COSIGNATURE_V1, ED25519, Signer, VerifierKey, key_id
from tests.vectorfiles import accord_golden

GOLDEN = accord_golden()
ORIGIN = GOLDEN["origin"]

# golang.org/x/mod/sumdb/note: the package documentation's example key pair.
PETER_PRIVATE = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_SEED_B64 = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"

def golden_signer(actor: str, sig_type: int = ED25519) -> Signer:
    name = ORIGIN if actor == "operator" else f"{ORIGIN}/{actor}"
    return Signer.from_seed(name, bytes.fromhex(GOLDEN["keys"][actor]["seed_hex"]), sig_type)


def golden_key_cases() -> Iterator[Any]:
    for actor, key in GOLDEN["keys"].items():
        yield pytest.param(actor, ED25519, key["vkey"], id=f"{actor}-vkey")
        if "cosigner_vkey" in key:
            yield pytest.param(actor, COSIGNATURE_V1, key["cosigner_vkey"], id=f"{actor}-cosigner_vkey")


# -- key ids and verifier keys ------------------------------------------------


def test_key_id_is_the_first_4_bytes_of_sha256_of_name_newline_type_and_public_key() -> None:
    signer = golden_signer("operator")
    public = signer.verifier_key().public
    expected = hashlib.sha256(ORIGIN.encode() + b"\n" + b"\x01" + public).digest()[:4]
    assert key_id(ORIGIN, ED25519, public) == expected == bytes.fromhex("3deffbc2")
    assert key_id(ORIGIN, COSIGNATURE_V1, public) != expected


@pytest.mark.parametrize(("actor", "sig_type", "vkey"), list(golden_key_cases()))
def test_golden_seeds_give_the_published_verifier_keys(actor: str, sig_type: int, vkey: str) -> None:
    signer = golden_signer(actor)
    key = signer.verifier_key() if sig_type == ED25519 else signer.cosigner_key()
    assert key.to_text() == vkey
    assert VerifierKey.from_text(vkey) == key
    assert golden_signer(actor, sig_type).verifier_key() == key


def test_cosigner_key_is_the_same_public_key_under_type_4_and_another_key_id() -> None:
    signer = golden_signer("fr")
    note_key, witness_key = signer.verifier_key(), signer.cosigner_key()
    assert witness_key.public == note_key.public
    assert (note_key.sig_type, witness_key.sig_type) == (ED25519, COSIGNATURE_V1)
    assert witness_key.key_id.hex() == "bb36bf23" != note_key.key_id.hex()


@pytest.mark.parametrize("vkey", [PETER_VKEY, ENOCH_VKEY, *(key["vkey"] for key in GOLDEN["keys"].values())])
def test_verifier_key_text_round_trips(vkey: str) -> None:
    key = VerifierKey.from_text(vkey)
    assert key.to_text() == vkey
    assert VerifierKey.from_text(key.to_text()) == key


def test_go_private_key_gives_gos_published_verifier_key() -> None:
    signer = Signer.from_go_private_key(PETER_PRIVATE)
    assert signer.name == "PeterNeumann"
    assert signer.key_id.hex() == "c74f20a3"
    assert signer.verifier_key().to_text() == PETER_VKEY


def test_every_substring_or_one_byte_change_of_a_verifier_key_is_refused() -> None:
    # Go's TestNewVerifier: no mangling of a valid key is accepted.
    manglings = {PETER_VKEY[i:j] for i in range(len(PETER_VKEY) + 1) for j in range(i + 1, len(PETER_VKEY) + 1)}
    manglings.discard(PETER_VKEY)
    manglings |= {PETER_VKEY[:i] + chr(ord(PETER_VKEY[i]) + 1) + PETER_VKEY[i + 1 :] for i in range(len(PETER_VKEY))}
    for mangled in manglings:
        with pytest.raises(MalformedError):
            VerifierKey.from_text(mangled)


@pytest.mark.parametrize(
    ("vkey", "message"),
    [
        (
            "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "verifier key: key id got c74f20a4, want c74f20a3",
        ),
        (
            "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "verifier key: key id got 'C74F20A3', want 8 lowercase hex digits",
        ),
        (
            # Go's test: unknown algorithm, with a key id adjusted to match.
            "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "verifier key: signature type got 0x65, want 0x01 (Ed25519) or 0x04 (cosignature/v1)",
        ),
        (
            # Go's test "wrong length key, with adjusted key hash": Go reads its
            # sloppy base64; a strict reader stops there.
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
            "verifier key: key: got non-canonical base64 (padding bits set), want canonical",
        ),
        (
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",
            "verifier key: key: got invalid base64, want RFC 4648 standard base64",
        ),
        ("PeterNeumann+c74f20a3", "verifier key: got 2 '+'-separated fields, want 3: <name>+<key id>+<key>"),
        ("+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "verifier key: key name is empty"),
        (
            "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "verifier key: key name 'Peter Neumann' contains a space (U+0020)",
        ),
        (
            "Peter\u3000Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            r"verifier key: key name 'Peter\u3000Neumann' contains a space (U+3000)",
        ),
        ("PeterNeumann+c74f20a3+", "verifier key: key is empty"),
    ],
)
def test_malformed_verifier_key_is_refused_naming_the_fault(vkey: str, message: str) -> None:
    with pytest.raises(MalformedError) as refused:
        VerifierKey.from_text(vkey)
    assert str(refused.value) == message


def test_verifier_key_of_the_wrong_length_is_refused_even_with_a_matching_key_id() -> None:
    typed_key = b"\x01" + VerifierKey.from_text(PETER_VKEY).public + b"\x00"
    id_hex = key_id("PeterNeumann", typed_key[0], typed_key[1:]).hex()
    with pytest.raises(MalformedError) as refused:
        VerifierKey.from_text(f"PeterNeumann+{id_hex}+{base64.b64encode(typed_key).decode()}")
    assert str(refused.value) == "verifier key: public key got 33 bytes, want 32"


def test_non_canonical_base64_in_a_verifier_key_is_refused() -> None:
    # "AR==" decodes to 0x01 with unused bits set; "AQ==" is its only spelling.
    with pytest.raises(MalformedError) as refused:
        VerifierKey.from_text("PeterNeumann+c74f20a3+AR==")
    assert str(refused.value) == "verifier key: key: got non-canonical base64 (padding bits set), want canonical"


def test_verifier_key_built_directly_checks_name_type_and_length() -> None:
    public = golden_signer("de").verifier_key().public
    with pytest.raises(MalformedError, match=r"^verifier key: key name 'a\+b' contains '\+'$"):
        VerifierKey("a+b", ED25519, public)
    with pytest.raises(MalformedError, match=r"^verifier key: signature type got 0x02, want 0x01 \(Ed25519\) or 0x04 \(cosignature/v1\)$"):
        VerifierKey("de", 0x02, public)
    with pytest.raises(MalformedError, match=r"^verifier key: public key got 31 bytes, want 32$"):
        VerifierKey("de", ED25519, public[:31])


# -- signers ---------------------------------------------------------------


def test_signature_verifies_only_for_its_message_and_its_bytes() -> None:
    # Go's testSignerAndVerifier.
    signer = Signer.generate("EnochRoot")
    key = signer.verifier_key()
    signature = signer.sign(b"hi")
    assert key.verify(b"hi", signature)
    assert not key.verify(b"hi", bytes([signature[0] ^ 1]) + signature[1:])
    assert not key.verify(b"hj", signature)
    assert not key.verify(b"hi", signature[:-1])


def test_signer_repr_and_str_never_show_the_private_key() -> None:
    signer = Signer.from_go_private_key(PETER_PRIVATE)
    seed = base64.b64decode(PETER_SEED_B64)[1:]
    assert Signer.from_seed("PeterNeumann", seed).verifier_key().to_text() == PETER_VKEY
    for shown in (repr(signer), str(signer), f"{signer}", f"{signer!r}"):
        assert shown == f"Signer({PETER_VKEY!r})"
        assert seed.hex() not in shown and base64.b64encode(seed).decode()[:8] not in shown


def test_every_substring_or_one_byte_change_of_a_go_private_key_is_refused_without_echoing_it() -> None:
    # Go's TestNewSigner; and no error message may carry the secret.
    manglings = {PETER_PRIVATE[i:j] for i in range(len(PETER_PRIVATE) + 1) for j in range(i + 1, len(PETER_PRIVATE) + 1)}
    manglings.discard(PETER_PRIVATE)
    manglings |= {
        PETER_PRIVATE[:i] + chr(ord(PETER_PRIVATE[i]) + 1) + PETER_PRIVATE[i + 1 :] for i in range(len(PETER_PRIVATE))
    }
    for mangled in manglings:
        with pytest.raises(MalformedError) as refused:
            Signer.from_go_private_key(mangled)
        assert PETER_SEED_B64[:8] not in str(refused.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("PUBLIC+KEY+PeterNeumann+c74f20a3+" + PETER_SEED_B64, "private key: want PRIVATE+KEY+<name>+<key id>+<key>"),
        (PETER_VKEY, "private key: want PRIVATE+KEY+<name>+<key id>+<key>"),
        ("PRIVATE+KEY+PeterNeumann+c74f20a4+" + PETER_SEED_B64, "private key: key id got c74f20a4, want c74f20a3"),
        ("PRIVATE+KEY+PeterNeumann+c74f20a3+Ag" + PETER_SEED_B64[2:], "private key: key: want 0x01 and a 32-byte Ed25519 seed"),
    ],
)
def test_malformed_go_private_key_is_refused(text: str, message: str) -> None:
    with pytest.raises(MalformedError) as refused:
        Signer.from_go_private_key(text)
    assert str(refused.value) == message


def test_seed_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(MalformedError, match=r"^key: seed got 31 bytes, want 32$"):
        Signer.from_seed("de", bytes(31))


def test_signer_with_an_invalid_name_is_refused() -> None:
    with pytest.raises(MalformedError, match=r"^key: key name 'a b' contains a space \(U\+0020\)$"):
        Signer.generate("a b")


def test_the_rules_import_no_module_that_reads_or_writes_key_files() -> None:
    # domain/ is pure: the writer and the verifier call the same rules, which must touch no disk.
    import subprocess
    import sys

    probe = "import domain.rules, sys; print(sorted(m for m in sys.modules if m in ('ledger.keyfile', 'ledger.agent', 'paramiko')))"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout == "[]\n"
