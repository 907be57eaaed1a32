"""Named Ed25519 keys for signed notes, and the encrypted files that hold them.

A key is known by a name and a 4-byte key id (c2sp.org/signed-note): key id =
SHA-256(name || 0x0A || signature type || public key)[:4]. One Ed25519 key
serves two signature types: ``ED25519`` (0x01) signs note texts, and
``COSIGNATURE_V1`` (0x04, c2sp.org/tlog-cosignature) is the same key acting as
a witness, with its own key id. A public key is written as a verifier key,
``<name>+<8 hex key id>+<base64(type || public key)>``, the form
golang.org/x/mod/sumdb/note reads.

Key file format (``accord-key-v1``), UTF-8 text:

    accord-key-v1 <verifier key>
    -----BEGIN ENCRYPTED PRIVATE KEY-----
    <PKCS#8, PBES2-encrypted by cryptography's BestAvailableEncryption>
    -----END ENCRYPTED PRIVATE KEY-----

The first line names the key without the passphrase (which key, for which
signature type); reading checks that the decrypted private key matches it.
Files are created with mode 0600 and never exist with a wider mode.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError

from ledger.errors import KeyFileError, MalformedError
from ledger.strict_ed25519 import acceptable

ED25519 = 0x01
COSIGNATURE_V1 = 0x04
SIGNATURE_TYPES = {ED25519: "Ed25519", COSIGNATURE_V1: "cosignature/v1"}

KEY_ID_SIZE = 4
PUBLIC_KEY_SIZE = 32
SEED_SIZE = 32
MAX_TIMESTAMP = 2**63 - 1
COSIGNATURE_SIZE = 8 + 64

KEY_FILE_MAGIC = "accord-key-v1"
_PEM_BEGIN = "-----BEGIN ENCRYPTED PRIVATE KEY-----"
_PEM_END = "-----END ENCRYPTED PRIVATE KEY-----"

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


@lru_cache(maxsize=4096)
def _ed25519(public: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(public)


def _openssl_holds(public: bytes, message: bytes, signature: bytes) -> bool:
    if not acceptable(public, signature):
        return False
    try:
        _ed25519(public).verify(signature, message)
    except InvalidSignature:
        return False
    return True


def _libsodium_holds(public: bytes, message: bytes, signature: bytes) -> bool:
    if not acceptable(public, signature):
        return False
    try:
        crypto_sign_open(signature + message, public)
    except (BadSignatureError, ValueError):
        return False
    return True


ED25519_VERIFIERS = {"libsodium": _libsodium_holds, "openssl": _openssl_holds}
"""How Ed25519 signatures are checked: libsodium through PyNaCl (the default, the writer's),
about twice as fast on common x86-64 machines, or OpenSSL through ``cryptography`` (the
fallback and reference). Both take the same signatures: ``ledger.strict_ed25519`` is checked first."""


def ed25519_verifier(name: str = "libsodium") -> Callable[[bytes, bytes, bytes], bool]:
    """The named Ed25519 verifier; MalformedError if it is unknown or not installed."""
    if name not in ED25519_VERIFIERS:
        raise MalformedError("verifier", f"got {name!r}, want one of {', '.join(ED25519_VERIFIERS)}")
    if name == "libsodium":
        try:
            import nacl.bindings  # noqa: F401
        except ImportError:
            raise MalformedError("verifier", "libsodium needs PyNaCl: pip install 'accord[sodium]'") from None
    return ED25519_VERIFIERS[name]


def ed25519_holds(public: bytes, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is ``public``'s Ed25519 signature of ``message``, by the default verifier."""
    return _libsodium_holds(public, message, signature)


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


def as_text(data: str | bytes, component: str) -> str:
    """``data`` as text: bytes must be UTF-8."""
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MalformedError(component, f"not UTF-8: invalid byte at offset {error.start}") from None


def decode_base64(text: str, component: str, what: str) -> bytes:
    """Decode RFC 4648 standard base64, refusing anything but its canonical encoding.

    Canonical only, so that every value has one spelling: parsed formats
    re-serialize to the exact bytes they came from. Errors never echo
    ``text``, which may be secret.
    """
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedError(component, f"{what}: got invalid base64, want RFC 4648 standard base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise MalformedError(component, f"{what}: got non-canonical base64 (padding bits set), want canonical")
    return raw


def encode_base64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


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
        return ed25519_holds(self.public, message, signature)


class Signer:
    """A named Ed25519 private key. Neither repr nor str ever shows the private key.

    ``sig_type`` is ``ED25519`` for signing notes, or ``COSIGNATURE_V1`` for a
    key kept only for witnessing; either way :meth:`cosigner_key` gives the
    key's witness form.
    """

    __slots__ = ("name", "sig_type", "_private_key", "_public")

    def __init__(self, name: str, private_key: Ed25519PrivateKey, sig_type: int = ED25519) -> None:
        check_key_name(name, "key")
        _check_sig_type(sig_type, "key")
        self.name = name
        self.sig_type = sig_type
        self._private_key = private_key
        self._public = private_key.public_key().public_bytes_raw()

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

    def sign(self, message: bytes) -> bytes:
        """The raw 64-byte Ed25519 signature of ``message``."""
        return self._private_key.sign(message)


def write_key_file(path: str | os.PathLike[str], signer: Signer, passphrase: bytes, *, overwrite: bool = False) -> None:
    """Write ``signer`` encrypted under ``passphrase`` to ``path``, mode 0600.

    The file is written whole under a temporary name in the same directory
    and then moved into place, so ``path`` never holds a partial key. An
    existing file is kept (KeyFileError) unless ``overwrite``: losing a
    member's key to a repeated command is not recoverable.
    """
    path = Path(path)
    if not passphrase:
        raise KeyFileError("key file", f"empty passphrase for {path}: a key file is always encrypted")
    pem = signer._private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )
    content = f"{KEY_FILE_MAGIC} {signer.verifier_key().to_text()}\n".encode("utf-8") + pem
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(descriptor, 0o600)  # the umask may only have narrowed it further
            with os.fdopen(descriptor, "wb") as key_file:
                key_file.write(content)
                key_file.flush()
                os.fsync(key_file.fileno())
            if overwrite:
                os.replace(temporary, path)
            else:
                _link_new(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        _sync_directory(path.parent)
    except OSError as error:
        raise KeyFileError("key file", f"cannot write {path}: {error.strerror}") from None


def _link_new(source: Path, path: Path) -> None:
    """Give ``source`` the name ``path`` atomically, refusing to replace a file there."""
    try:
        os.link(source, path)
    except FileExistsError:
        raise KeyFileError("key file", f"{path} already exists; refusing to overwrite a key") from None


def _sync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def read_key_file(path: str | os.PathLike[str], passphrase: bytes) -> Signer:
    """Read and decrypt a key file written by :func:`write_key_file`."""
    path = Path(path)
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError("key file", f"no key file at {path}") from None
    except OSError as error:
        raise KeyFileError("key file", f"cannot read {path}: {error.strerror}") from None
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise KeyFileError("key file", f"{path} is not an Accord key file: not UTF-8 text") from None
    header, _, pem = text.partition("\n")
    magic, _, verifier_text = header.partition(" ")
    if magic != KEY_FILE_MAGIC:
        # The header is not echoed: a file given by mistake may hold a secret.
        raise KeyFileError("key file", f"{path} is not an Accord key file: want a first line '{KEY_FILE_MAGIC} <verifier key>'")
    try:
        verifier = VerifierKey.from_text(verifier_text)
    except MalformedError as error:
        raise KeyFileError("key file", f"{path}: first line: {error.problem}") from None
    private_key = _decrypt_pem(path, pem, passphrase)
    signer = Signer(verifier.name, private_key, verifier.sig_type)
    if signer.verifier_key() != verifier:
        raise KeyFileError("key file", f"{path}: private key does not match the key on its first line, {verifier.label}")
    return signer


def _decrypt_pem(path: Path, pem: str, passphrase: bytes) -> Ed25519PrivateKey:
    lines = pem.split("\n")
    body = "".join(lines[1:-2])
    if len(lines) < 4 or lines[0] != _PEM_BEGIN or lines[-2:] != [_PEM_END, ""]:
        raise KeyFileError("key file", f"{path}: want an encrypted PKCS#8 PEM block after the first line")
    try:
        base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise KeyFileError("key file", f"{path}: PEM block is not base64") from None
    if not passphrase:
        raise KeyFileError("key file", f"wrong passphrase for {path}")  # key files are never unencrypted
    try:
        private_key = serialization.load_pem_private_key(pem.encode("ascii"), passphrase)
    except ValueError:
        # The armour is intact, so this is the decryption failing.
        raise KeyFileError("key file", f"wrong passphrase for {path}") from None
    except (TypeError, UnsupportedAlgorithm) as error:
        raise KeyFileError("key file", f"{path}: unreadable private key: {error}") from None
    if not isinstance(private_key, Ed25519PrivateKey):
        raise KeyFileError("key file", f"{path}: private key is not an Ed25519 key")
    return private_key
