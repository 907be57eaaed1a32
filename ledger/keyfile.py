"""Key files: a named Ed25519 key encrypted at rest, and the disk I/O that reads and writes it.

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
import os
import secrets
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.errors import KeyFileError, MalformedError
from ledger.keys import Signer, VerifierKey

KEY_FILE_MAGIC = "accord-key-v1"
_PEM_BEGIN = "-----BEGIN ENCRYPTED PRIVATE KEY-----"
_PEM_END = "-----END ENCRYPTED PRIVATE KEY-----"


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
    pem = Ed25519PrivateKey.from_private_bytes(signer.private_seed()).private_bytes(
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
