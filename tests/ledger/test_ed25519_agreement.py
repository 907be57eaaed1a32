"""libsodium (the default verifier) and OpenSSL (the fallback, the reference) accept exactly the same signatures.

Over the golden vectors, a fuzz corpus of mutated signatures, keys and
messages, and the encodings RFC 8032 leaves room for (the ZIP-215
question): small-order public keys and R, unreduced S, unreduced y.
Accord's rule (ledger.strict_ed25519) is libsodium's; the raw libraries
are tested too, to pin why the rule is checked before either is asked.
"""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError

from ledger.ed25519 import VERIFIERS  # the backends by name
from ledger.keys import ED25519, Signer, VerifierKey
from ledger.note import Note
from ledger.strict_ed25519 import L, P, SMALL_ORDER_Y, acceptable
from tests.vectorfiles import accord_golden


MESSAGES = [b"", b"a", b"a statement\n", b"x" * 10, b"y" * 37, bytes(range(256))]
IDENTITY = (1).to_bytes(32, "little")


def encoding(y: int, sign: int = 0) -> bytes:
    return (y | sign << 255).to_bytes(32, "little")


def raw_openssl(public: bytes, message: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except InvalidSignature:
        return False
    return True


def raw_libsodium(public: bytes, message: bytes, signature: bytes) -> bool:
    try:
        crypto_sign_open(signature + message, public)
    except (BadSignatureError, ValueError):
        return False
    return True


def verdicts(public: bytes, message: bytes, signature: bytes) -> dict[str, bool]:
    return {name: holds(public, message, signature) for name, holds in VERIFIERS.items()}


def golden_signatures() -> list[tuple[bytes, bytes, bytes]]:
    """(public key, message, signature) of every Ed25519 note signature in golden.json."""
    golden: dict[str, Any] = accord_golden()
    keys = [VerifierKey.from_text(entry["vkey"]) for entry in golden["keys"].values()]
    notes = [Note.from_text(case["note"]) for case in golden["statements"]] + [Note.from_text(golden["checkpoint"])]
    found = []
    for note in notes:
        for line in note.signatures:
            for key in keys:
                if key.sig_type == ED25519 and line.made_by(key):
                    found.append((key.public, note.text.encode("utf-8"), line.signature))
    return found


GOLDEN = golden_signatures()


def test_the_golden_vectors_hold_a_signature_of_every_statement_and_the_checkpoint() -> None:
    assert len(GOLDEN) == len(accord_golden()["statements"]) + 1


@pytest.mark.parametrize("number", range(len(GOLDEN)))
def test_both_backends_accept_every_golden_signature(number: int) -> None:
    assert verdicts(*GOLDEN[number]) == {"openssl": True, "libsodium": True}


MUTATIONS = st.tuples(
    st.sampled_from(GOLDEN),
    st.sampled_from(["public", "message", "signature"]),
    st.integers(0, 1023),
    st.integers(1, 255),
)


@settings(max_examples=300, deadline=None)
@given(MUTATIONS)
def test_both_backends_refuse_every_mutated_golden_signature_alike(case: tuple[tuple[bytes, bytes, bytes], str, int, int]) -> None:
    (public, message, signature), part, at, flip = case
    fields = {"public": public, "message": message, "signature": signature}
    target = bytearray(fields[part] or b"\x00")
    target[at % len(target)] ^= flip
    fields[part] = bytes(target)
    answers = verdicts(fields["public"], fields["message"], fields["signature"])
    assert answers == {"openssl": False, "libsodium": False}
    assert raw_openssl(fields["public"], fields["message"], fields["signature"]) == raw_libsodium(
        fields["public"], fields["message"], fields["signature"]
    )


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.binary(max_size=64), st.binary(min_size=64, max_size=64))
def test_both_backends_agree_on_random_keys_messages_and_signatures(public: bytes, message: bytes, signature: bytes) -> None:
    answers = verdicts(public, message, signature)
    assert answers["openssl"] == answers["libsodium"]


SMALL_ORDER_KEYS = [encoding(y, sign) for y in sorted(SMALL_ORDER_Y) for sign in (0, 1)]


def test_raw_openssl_accepts_forgeries_under_a_small_order_key_and_raw_libsodium_does_not() -> None:
    """Why the rule exists: R = identity, S = 0 verifies under the identity key for every message, in OpenSSL."""
    forged = IDENTITY + bytes(32)
    assert all(raw_openssl(IDENTITY, message, forged) for message in MESSAGES)
    assert not any(raw_libsodium(IDENTITY, message, forged) for message in MESSAGES)


@pytest.mark.parametrize("public", SMALL_ORDER_KEYS, ids=lambda key: key.hex()[:8] + key.hex()[-2:])
def test_both_backends_refuse_every_signature_under_a_small_order_key(public: bytes) -> None:
    for message in MESSAGES:
        for signature in (IDENTITY + bytes(32), public + bytes(32), encoding(0) + bytes(32)):
            assert verdicts(public, message, signature) == {"openssl": False, "libsodium": False}


def test_both_backends_refuse_a_small_order_r_and_an_unreduced_s() -> None:
    signer = Signer.from_seed("accord.test/x", bytes(32))
    public, message = signer.verifier_key().public, b"a statement\n"
    signature = signer.sign(message)
    s = int.from_bytes(signature[32:], "little")
    assert verdicts(public, message, signature) == {"openssl": True, "libsodium": True}
    unreduced = signature[:32] + (s + L).to_bytes(32, "little")
    assert verdicts(public, message, unreduced) == {"openssl": False, "libsodium": False}
    for r in SMALL_ORDER_KEYS:
        assert verdicts(public, message, r + signature[32:]) == {"openssl": False, "libsodium": False}


def test_both_backends_refuse_unreduced_encodings_of_keys_and_r() -> None:
    for y in range(P, 2**255):
        for sign in (0, 1):
            assert not acceptable(encoding(y, sign), IDENTITY + bytes(32))
            assert not acceptable(IDENTITY, encoding(y, sign) + bytes(32))
            assert verdicts(encoding(y, sign), b"m", encoding(y, sign) + bytes(32)) == {"openssl": False, "libsodium": False}


def test_a_key_of_large_order_with_a_reduced_signature_is_checked() -> None:
    signer = Signer.from_seed("accord.test/x", bytes(range(32)))
    signature = signer.sign(b"m")
    assert acceptable(signer.verifier_key().public, signature)
    assert not acceptable(signer.verifier_key().public, signature[:63])
