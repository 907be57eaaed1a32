"""Key files: a named Ed25519 key encrypted at rest, and the disk I/O that reads and writes it.

Key file format ``accord-key-v2``, UTF-8 text, three lines:

    accord-key-v2 <verifier key>
    scrypt log2N=17 r=8 p=1 salt=<base64, 16 bytes>
    chacha20-poly1305 nonce=<base64, 12 bytes> sealed=<base64, 32-byte seed + 16-byte tag>

The first line names the key in clear (``accord key show`` reads it with no
passphrase). The key that seals the RFC 8032 seed is scrypt(passphrase,
salt, N = 2^log2N, r, p) (RFC 7914, as age and minisign use); the AEAD's
associated data is the first two lines, so neither the name nor the KDF's
parameters can be changed without the file failing to open. A key held by
an ssh-agent has a second line ``ssh-agent`` and no third line: the file
holds no private key at all.

Files made before (``accord-key-v1 <verifier key>`` and a PKCS#8 PEM block
encrypted by PBKDF2) still load; :func:`upgrade_key_file` rewrites them.
Files are created with mode 0600 and never exist with a wider mode; a file
holding a private key that others may read is refused, as ssh refuses one.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ledger.encoding import decode_base64, encode_base64
from ledger.errors import KeyFileError, MalformedError
from ledger.keys import SEED_SIZE, Signer, VerifierKey

KEY_FILE_MAGIC = "accord-key-v2"
LEGACY_MAGIC = "accord-key-v1"
AGENT_LINE = "ssh-agent"
MIN_PASSPHRASE = 12
"""Characters a new key file's passphrase must have at least (SPEC 13)."""
SALT_SIZE = 16
NONCE_SIZE = 12
_PEM_BEGIN = "-----BEGIN ENCRYPTED PRIVATE KEY-----"
_PEM_END = "-----END ENCRYPTED PRIVATE KEY-----"
_KDF_LINE = re.compile(r"scrypt log2N=([0-9]{1,2}) r=([0-9]{1,2}) p=([0-9]{1,2}) salt=(\S+)")
_SEALED_LINE = re.compile(r"chacha20-poly1305 nonce=(\S+) sealed=(\S+)")

Passphrase = bytes | Callable[[], bytes]
"""A passphrase, or how to ask for it: asked only when the file holds an encrypted key."""


@dataclass(frozen=True)
class ScryptParameters:
    """scrypt's cost: N = 2^log2_n, block size r, parallelism p (RFC 7914). Memory is 128 * r * N bytes."""

    log2_n: int = 17
    r: int = 8
    p: int = 1

    def __post_init__(self) -> None:
        # Bounds for reading: a file cannot make the reader spend more than 1 GiB or minutes.
        if not (1 <= self.log2_n <= 20 and 1 <= self.r <= 32 and 1 <= self.p <= 16 and 128 * self.r * 2**self.log2_n <= 2**30):
            raise MalformedError("key file", f"scrypt parameters log2N={self.log2_n} r={self.r} p={self.p} are out of bounds")

    def derive(self, passphrase: bytes, salt: bytes) -> bytes:
        return Scrypt(salt=salt, length=32, n=2**self.log2_n, r=self.r, p=self.p).derive(passphrase)

    def to_text(self, salt: bytes) -> str:
        return f"scrypt log2N={self.log2_n} r={self.r} p={self.p} salt={encode_base64(salt)}"


KEY_FILE_SCRYPT = ScryptParameters()
"""What ``keygen`` and ``key upgrade`` write: N = 2^17, r = 8, p = 1 (128 MiB, about 0.5 s a guess)."""


def check_new_passphrase(passphrase: bytes, path: str | os.PathLike[str]) -> None:
    """Refuse a passphrase a new key file must not have: empty, or under MIN_PASSPHRASE characters."""
    if not passphrase:
        raise KeyFileError("key file", f"empty passphrase for {path}: a key file is always encrypted")
    length = len(passphrase.decode("utf-8", errors="replace"))
    if length < MIN_PASSPHRASE:
        raise KeyFileError("key file", f"passphrase for {path} has {length} characters, want at least {MIN_PASSPHRASE}")


def key_file_text(signer: Signer, passphrase: bytes, scrypt: ScryptParameters = KEY_FILE_SCRYPT) -> str:
    """The ``accord-key-v2`` text holding ``signer`` sealed under ``passphrase``."""
    salt, nonce = secrets.token_bytes(SALT_SIZE), secrets.token_bytes(NONCE_SIZE)
    header = f"{KEY_FILE_MAGIC} {signer.verifier_key().to_text()}\n{scrypt.to_text(salt)}\n"
    sealed = ChaCha20Poly1305(scrypt.derive(passphrase, salt)).encrypt(nonce, signer.private_seed(), header.encode("utf-8"))
    return header + f"chacha20-poly1305 nonce={encode_base64(nonce)} sealed={encode_base64(sealed)}\n"


def write_key_file(
    path: str | os.PathLike[str],
    signer: Signer,
    passphrase: bytes,
    *,
    overwrite: bool = False,
    scrypt: ScryptParameters = KEY_FILE_SCRYPT,
) -> None:
    """Write ``signer`` encrypted under ``passphrase`` to ``path``, mode 0600.

    The file is written whole under a temporary name in the same directory
    and then moved into place, so ``path`` never holds a partial key. An
    existing file is kept (KeyFileError) unless ``overwrite``: losing a
    member's key to a repeated command is not recoverable.
    """
    check_new_passphrase(passphrase, path)
    _write(Path(path), key_file_text(signer, passphrase, scrypt), overwrite)


def write_agent_key_file(path: str | os.PathLike[str], key: VerifierKey) -> None:
    """Write a key file for a key an ssh-agent holds: its name and public key, no private key."""
    _write(Path(path), f"{KEY_FILE_MAGIC} {key.to_text()}\n{AGENT_LINE}\n", overwrite=False)


def write_public_key_file(path: str | os.PathLike[str], key: VerifierKey) -> None:
    """Write ``key``'s verifier key alone on one line (``FILE.pub``), replacing what was there."""
    _write(Path(path), key.to_text() + "\n", overwrite=True, mode=0o644)


def _write(path: Path, content: str, overwrite: bool, mode: int = 0o600) -> None:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            os.fchmod(descriptor, mode)  # the umask may only have narrowed it further
            with os.fdopen(descriptor, "wb") as key_file:
                key_file.write(content.encode("utf-8"))
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


def _read(path: Path) -> tuple[str, os.stat_result]:
    try:
        with open(path, "rb") as key_file:
            status = os.fstat(key_file.fileno())
            content = key_file.read()
    except FileNotFoundError:
        raise KeyFileError("key file", f"no key file at {path}") from None
    except OSError as error:
        raise KeyFileError("key file", f"cannot read {path}: {error.strerror}") from None
    try:
        return content.decode("utf-8"), status
    except UnicodeDecodeError:
        raise KeyFileError("key file", f"{path} is not an Accord key file: not UTF-8 text") from None


@dataclass(frozen=True)
class KeyFile:
    """A key file as read, before any passphrase: which key, and how its private half is kept."""

    path: Path
    key: VerifierKey
    form: str
    """``scrypt`` (accord-key-v2), ``ssh-agent`` (no private key here) or ``pkcs8`` (accord-key-v1)."""
    rest: str
    mode: int

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> KeyFile:
        path = Path(path)
        text, status = _read(path)
        header, _, rest = text.partition("\n")
        magic, _, verifier_text = header.partition(" ")
        if magic not in (KEY_FILE_MAGIC, LEGACY_MAGIC):
            # The header is not echoed: a file given by mistake may hold a secret.
            raise KeyFileError("key file", f"{path} is not an Accord key file: want a first line '{KEY_FILE_MAGIC} <verifier key>'")
        try:
            key = VerifierKey.from_text(verifier_text)
        except MalformedError as error:
            raise KeyFileError("key file", f"{path}: first line: {error.problem}") from None
        if magic == LEGACY_MAGIC:
            form = "pkcs8"
        elif rest == AGENT_LINE + "\n":
            form = AGENT_LINE
        else:
            form = "scrypt"
        return cls(path, key, form, rest, stat.S_IMODE(status.st_mode))

    def scrypt_parameters(self) -> ScryptParameters:
        """The KDF's parameters as stored (``scrypt`` form only)."""
        return self._sealed()[0]

    def _sealed(self) -> tuple[ScryptParameters, bytes, bytes, bytes]:
        lines = self.rest.split("\n")
        kdf = _KDF_LINE.fullmatch(lines[0])
        sealed = _SEALED_LINE.fullmatch(lines[1]) if len(lines) == 3 and lines[2] == "" else None
        if kdf is None or sealed is None:
            raise KeyFileError("key file", f"{self.path}: want a 'scrypt ...' line and a 'chacha20-poly1305 ...' line after the first")
        try:
            parameters = ScryptParameters(int(kdf[1]), int(kdf[2]), int(kdf[3]))
            salt = decode_base64(kdf[4], "key file", "salt")
            nonce = decode_base64(sealed[1], "key file", "nonce")
            ciphertext = decode_base64(sealed[2], "key file", "sealed key")
        except MalformedError as error:
            raise KeyFileError("key file", f"{self.path}: {error.problem}") from None
        if len(salt) != SALT_SIZE or len(nonce) != NONCE_SIZE or len(ciphertext) != SEED_SIZE + 16:
            raise KeyFileError("key file", f"{self.path}: want a 16-byte salt, a 12-byte nonce and a 48-byte sealed key")
        return parameters, salt, nonce, ciphertext

    def signer(self, passphrase: Passphrase) -> Signer:
        """The key, decrypted with ``passphrase`` (asked for only if needed), or asked of the ssh-agent."""
        if self.form == AGENT_LINE:
            from ledger.agent import agent_signer

            return agent_signer(self.key)
        if self.mode & 0o077:
            raise KeyFileError(
                "key file", f"{self.path} has mode {self.mode:04o}: others may read it; want 0600 (chmod 600 {self.path})"
            )
        secret = passphrase() if callable(passphrase) else passphrase
        if not secret:
            raise KeyFileError("key file", f"wrong passphrase for {self.path}")  # key files are never unencrypted
        if self.form == "pkcs8":
            private_key = _decrypt_pem(self.path, self.rest, secret)
        else:
            parameters, salt, nonce, ciphertext = self._sealed()
            header = f"{KEY_FILE_MAGIC} {self.key.to_text()}\n{self.rest.split(chr(10), 1)[0]}\n"
            try:
                seed = ChaCha20Poly1305(parameters.derive(secret, salt)).decrypt(nonce, ciphertext, header.encode("utf-8"))
            except InvalidTag:
                raise KeyFileError("key file", f"wrong passphrase for {self.path}") from None
            private_key = Ed25519PrivateKey.from_private_bytes(seed)
        signer = Signer(self.key.name, private_key, self.key.sig_type)
        if signer.verifier_key() != self.key:
            raise KeyFileError("key file", f"{self.path}: private key does not match the key on its first line, {self.key.label}")
        return signer


def read_key_file(path: str | os.PathLike[str], passphrase: Passphrase) -> Signer:
    """Read and decrypt a key file written by :func:`write_key_file` (or an older one), or reach its agent."""
    return KeyFile.read(path).signer(passphrase)


def read_verifier_key(source: str | os.PathLike[str]) -> VerifierKey:
    """The verifier key in a key file's first line or in a ``.pub`` file, with no passphrase."""
    path = Path(source)
    text, _ = _read(path)
    if text.startswith((KEY_FILE_MAGIC + " ", LEGACY_MAGIC + " ")):
        return KeyFile.read(path).key
    try:
        return VerifierKey.from_text(text.strip())
    except MalformedError as error:
        raise KeyFileError("key file", f"{path} holds neither a key file nor a verifier key: {error.problem}") from None


def upgrade_key_file(path: str | os.PathLike[str], passphrase: Passphrase, new_passphrase: bytes | None = None) -> VerifierKey:
    """Rewrite a key file in place as ``accord-key-v2``, same key; the new passphrase defaults to the old one."""
    key_file = KeyFile.read(path)
    if key_file.form == AGENT_LINE:
        raise KeyFileError("key file", f"{key_file.path} holds no private key (ssh-agent): nothing to upgrade")
    secret = passphrase() if callable(passphrase) else passphrase
    signer = key_file.signer(secret)
    replacement = secret if new_passphrase is None else new_passphrase
    check_new_passphrase(replacement, key_file.path)
    _write(key_file.path, key_file_text(signer, replacement), overwrite=True)
    return signer.verifier_key()


def _decrypt_pem(path: Path, pem: str, passphrase: bytes) -> Ed25519PrivateKey:
    lines = pem.split("\n")
    body = "".join(lines[1:-2])
    if len(lines) < 4 or lines[0] != _PEM_BEGIN or lines[-2:] != [_PEM_END, ""]:
        raise KeyFileError("key file", f"{path}: want an encrypted PKCS#8 PEM block after the first line")
    try:
        base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise KeyFileError("key file", f"{path}: PEM block is not base64") from None
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
