"""Figure: what a guess at a key file's passphrase costs (SPEC 13: at least 50 ms)."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.context import Bench
from bench.report import Figure
from bench.timing import paired_medians
from ledger.errors import KeyFileError
from ledger.keyfile import KEY_FILE_SCRYPT, read_key_file, write_key_file
from ledger.keys import Signer

PASSPHRASE = b"correct horse battery staple"
WRONG = b"correct horse battery stapler"
SAMPLES = 5


def keys_open(bench: Bench) -> Figure:
    """Milliseconds to open a new key file with a wrong passphrase, against an accord-key-v1 file (PKCS#8, PBKDF2).

    A guess costs the attacker at least what it costs here: one scrypt
    derivation at the file's parameters. The goal, at least 50 times the old
    file's cost, is what makes a guess at least ~50 ms on machines where
    PBKDF2-2048 costs ~1 ms; the value itself must be >= 50 ms (SPEC 13).
    """
    signer = Signer.generate("bench.example/keys")
    new = bench.scratch("new.key")
    write_key_file(new, signer, PASSPHRASE)
    old = bench.scratch("old.key")
    pem = Ed25519PrivateKey.from_private_bytes(signer.private_seed()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(PASSPHRASE)
    )
    old.write_bytes(f"accord-key-v1 {signer.verifier_key().to_text()}\n".encode() + pem)
    old.chmod(0o600)

    def refused(path: Path) -> None:
        try:
            read_key_file(path, WRONG)
        except KeyFileError:
            return
        raise AssertionError("a wrong passphrase opened the key file")

    new_us, old_us = paired_medians(lambda _: refused(new), lambda _: refused(old), SAMPLES)
    return Figure(
        name="keys.open",
        value=new_us / 1000,
        unit="ms per wrong guess",
        about="open an accord-key-v2 file (scrypt, ChaCha20-Poly1305) with a wrong passphrase",
        baseline=old_us / 1000,
        baseline_about="the same with an accord-key-v1 file (PKCS#8, PBKDF2 2048 iterations)",
        ratio_floor=50,
        parameters={"scrypt_N": 2**KEY_FILE_SCRYPT.log2_n, "scrypt_r": KEY_FILE_SCRYPT.r, "scrypt_p": KEY_FILE_SCRYPT.p, "samples": SAMPLES},
    )
