"""Named Ed25519 keys for signed notes: key ids, verifier keys, signers.

A key is known by a name and a 4-byte key id (c2sp.org/signed-note): key id =
SHA-256(name || 0x0A || signature type || public key)[:4]. One Ed25519 key
serves two signature types: ``ED25519`` (0x01) signs note texts, and
``COSIGNATURE_V1`` (0x04, c2sp.org/tlog-cosignature) is the same key acting as
a witness, with its own key id. A public key is written as a verifier key,
``<name>+<8 hex key id>+<base64(type || public key)>``, the form
golang.org/x/mod/sumdb/note reads.

Nothing here touches a disk: key files are ``ledger.keyfile``, the
verification backends ``ledger.ed25519``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import ed25519
from ledger.encoding import decode_base64, encode_base64
from ledger.errors import MalformedError, SignatureError

ED25519 = 0x01
COSIGNATURE_V1 = 0x04
SIGNATURE_TYPES = {ED25519: "Ed25519", COSIGNATURE_V1: "cosignature/v1"}

KEY_ID_SIZE = 4
PUBLIC_KEY_SIZE = 32
SEED_SIZE = 32
MAX_TIMESTAMP = 2**63 - 1
COSIGNATURE_SIZE = 8 + 64

# Go's unicode.IsSpace (the White_Space property), which sumdb/note applies
# to names; Python's str.isspace disagrees on a few code points.
_WHITE_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_KEY_ID_HEX = re.compile(r"[0-9a-f]{8}")


def key_id(name: str, sig_type: int, public: bytes) -> bytes:
    """The 4-byte key id of ``public`` under ``name`` for signature type ``sig_type``."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([sig_type]) + public).digest()[:KEY_ID_SIZE]


def key_label(name: str, key_id: bytes) -> str:
    """How errors name a key: ``<name>+<8 hex key id>``, as Go's sumdb/note does."""
    return f"{name}+{key_id.hex()}"


_PLAIN_NAME = re.compile(r"[!-*,-~]+")
"""Printable ASCII but '+' and space: the names almost every key has, accepted without a walk."""


def check_key_name(name: str, component: str) -> None:
    """Require a signed-note key name: non-empty, no Unicode space, no '+', no control character."""
    if not name:
        raise MalformedError(component, "key name is empty")
    if _PLAIN_NAME.fullmatch(name):
        return
    for character in name:
        if character == "+":
            raise MalformedError(component, f"key name {name!r} contains '+'")
        if character in _WHITE_SPACE:
            raise MalformedError(component, f"key name {name!r} contains a space (U+{ord(character):04X})")
        if ord(character) < 0x20 or 0xD800 <= ord(character) <= 0xDFFF:
            raise MalformedError(component, f"key name {name!r} contains U+{ord(character):04X}")


def cosignature_message(body: bytes, timestamp: int) -> bytes:
    """The message a tlog-cosignature/v1 signs: header line, time line, the checkpoint body."""
    if isinstance(timestamp, bool) or not 0 <= timestamp <= MAX_TIMESTAMP:
        raise MalformedError("cosignature", f"timestamp got {timestamp}, want 0 to 2^63-1")
    return b"cosignature/v1\ntime %d\n" % timestamp + body


def _check_sig_type(sig_type: int, component: str) -> None:
    if sig_type not in SIGNATURE_TYPES:
        raise MalformedError(component, f"signature type got 0x{sig_type:02x}, want 0x01 (Ed25519) or 0x04 (cosignature/v1)")


@dataclass(frozen=True)
class VerifierKey:
    """A public key as a signed-note verifier knows it; ``key_id`` is computed, never given."""

    name: str
    key_id: bytes = field(init=False)
    sig_type: int
    public: bytes

    def __post_init__(self) -> None:
        check_key_name(self.name, "verifier key")
        _check_sig_type(self.sig_type, "verifier key")
        if len(self.public) != PUBLIC_KEY_SIZE:
            raise MalformedError("verifier key", f"public key got {len(self.public)} bytes, want {PUBLIC_KEY_SIZE}")
        object.__setattr__(self, "key_id", key_id(self.name, self.sig_type, self.public))

    @property
    def label(self) -> str:
        return key_label(self.name, self.key_id)

    @classmethod
    def from_text(cls, text: str) -> VerifierKey:
        """Parse ``<name>+<8 hex key id>+<base64(type || public key)>``; the id must match the key."""
        fields = text.split("+", 2)
        if len(fields) != 3:
            raise MalformedError("verifier key", f"got {len(fields)} '+'-separated fields, want 3: <name>+<key id>+<key>")
        name, id_hex, key_b64 = fields
        check_key_name(name, "verifier key")
        if not _KEY_ID_HEX.fullmatch(id_hex):
            raise MalformedError("verifier key", f"key id got {id_hex!r}, want 8 lowercase hex digits")
        typed_key = decode_base64(key_b64, "verifier key", "key")
        if not typed_key:
            raise MalformedError("verifier key", "key is empty")
        key = cls(name, typed_key[0], typed_key[1:])
        if key.key_id.hex() != id_hex:
            raise MalformedError("verifier key", f"key id got {id_hex}, want {key.key_id.hex()}")
        return key

    def to_text(self) -> str:
        return f"{self.label}+{encode_base64(bytes([self.sig_type]) + self.public)}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Report whether ``signature`` is this key's note signature over note text ``message``.

        ``signature`` is what follows the key id on a signature line. For
        ``ED25519`` it is an Ed25519 signature of ``message``; for
        ``COSIGNATURE_V1`` it is an 8-byte big-endian timestamp and an
        Ed25519 signature of :func:`cosignature_message`.
        """
        if self.sig_type == COSIGNATURE_V1:
            if len(signature) != COSIGNATURE_SIZE:
                return False
            timestamp = int.from_bytes(signature[:8], "big")
            if timestamp > MAX_TIMESTAMP:
                return False
            message, signature = cosignature_message(message, timestamp), signature[8:]
        return ed25519.holds(self.public, message, signature)


class Signer:
    """A named Ed25519 private key, held here or by an agent. Neither repr nor str ever shows the private key.

    ``sig_type`` is ``ED25519`` for signing notes, or ``COSIGNATURE_V1`` for a
    key kept only for witnessing; either way :meth:`cosigner_key` gives the
    key's witness form.
    """

    __slots__ = ("name", "sig_type", "_private_key", "_public", "_sign")

    def __init__(self, name: str, private_key: Ed25519PrivateKey, sig_type: int = ED25519) -> None:
        check_key_name(name, "key")
        _check_sig_type(sig_type, "key")
        self.name = name
        self.sig_type = sig_type
        self._private_key: Ed25519PrivateKey | None = private_key
        self._public = private_key.public_key().public_bytes_raw()
        self._sign: Callable[[bytes], bytes] = private_key.sign

    @classmethod
    def held_elsewhere(cls, name: str, public: bytes, sign: Callable[[bytes], bytes], sig_type: int = ED25519) -> Signer:
        """A key whose private half is not here: ``sign(message)`` returns its 64-byte Ed25519 signature (an ssh-agent's)."""
        key = VerifierKey(name, sig_type, public)  # checks the name, type and length
        signer = object.__new__(cls)
        signer.name, signer.sig_type, signer._public = key.name, key.sig_type, key.public
        signer._private_key, signer._sign = None, sign
        return signer

    def __repr__(self) -> str:
        return f"Signer({self.verifier_key().to_text()!r})"

    @classmethod
    def generate(cls, name: str, sig_type: int = ED25519) -> Signer:
        return cls(name, Ed25519PrivateKey.generate(), sig_type)

    @classmethod
    def from_seed(cls, name: str, seed: bytes, sig_type: int = ED25519) -> Signer:
        """The key RFC 8032 derives from a 32-byte ``seed`` (deterministic: for test vectors)."""
        if len(seed) != SEED_SIZE:
            raise MalformedError("key", f"seed got {len(seed)} bytes, want {SEED_SIZE}")
        return cls(name, Ed25519PrivateKey.from_private_bytes(seed), sig_type)

    @classmethod
    def from_go_private_key(cls, text: str) -> Signer:
        """Read Go's ``PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>`` (sumdb/note.NewSigner).

        For checking against Go's published examples; Accord keeps keys in
        key files. Errors never echo the key.
        """
        fields = text.split("+", 4)
        if len(fields) != 5 or fields[:2] != ["PRIVATE", "KEY"]:
            raise MalformedError("private key", "want PRIVATE+KEY+<name>+<key id>+<key>")
        _, _, name, id_hex, key_b64 = fields
        if not _KEY_ID_HEX.fullmatch(id_hex):
            raise MalformedError("private key", "key id: want 8 lowercase hex digits")
        typed_seed = decode_base64(key_b64, "private key", "key")
        if len(typed_seed) != 1 + SEED_SIZE or typed_seed[0] != ED25519:
            raise MalformedError("private key", f"key: want 0x01 and a {SEED_SIZE}-byte Ed25519 seed")
        signer = cls.from_seed(name, typed_seed[1:])
        if signer.key_id.hex() != id_hex:
            raise MalformedError("private key", f"key id got {id_hex}, want {signer.key_id.hex()}")
        return signer

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.sig_type, self._public)

    def verifier_key(self) -> VerifierKey:
        """The public half, with this signer's signature type."""
        return VerifierKey(self.name, self.sig_type, self._public)

    def cosigner_key(self) -> VerifierKey:
        """The public half as a tlog-cosignature/v1 witness key (type 0x04)."""
        return VerifierKey(self.name, COSIGNATURE_V1, self._public)

    def private_seed(self) -> bytes:
        """The 32-byte RFC 8032 seed, for writing a key file; SignatureError if the key is held elsewhere."""
        if self._private_key is None:
            raise SignatureError("key", f"{self.verifier_key().label} is held by an agent: its private key cannot be read")
        return self._private_key.private_bytes_raw()

    def sign(self, message: bytes) -> bytes:
        """The raw 64-byte Ed25519 signature of ``message``."""
        return self._sign(message)
