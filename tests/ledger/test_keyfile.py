"""Key files: scrypt + ChaCha20-Poly1305 (accord-key-v2), older PKCS#8 files, upgrade, modes, .pub files."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.errors import KeyFileError
from ledger.keyfile import (
    KEY_FILE_SCRYPT,
    KeyFile,
    ScryptParameters,
    read_key_file,
    read_verifier_key,
    upgrade_key_file,
    write_agent_key_file,
    write_key_file,
    write_public_key_file,
)
from ledger.keys import COSIGNATURE_V1, ED25519, Signer
from tests.vectorfiles import accord_golden

GOLDEN = accord_golden()
ORIGIN = GOLDEN["origin"]
PASSPHRASE = b"correct horse battery staple"
FAST = ScryptParameters(log2_n=10)
"""Real scrypt at a low cost, so that these tests do not pay 0.5 s a file; the default is pinned below."""
PETER_PRIVATE = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"


def golden_signer(actor: str, sig_type: int = ED25519) -> Signer:
    name = ORIGIN if actor == "operator" else f"{ORIGIN}/{actor}"
    return Signer.from_seed(name, bytes.fromhex(GOLDEN["keys"][actor]["seed_hex"]), sig_type)


def write(path: Path, signer: Signer, passphrase: bytes = PASSPHRASE, **options: object) -> Path:
    write_key_file(path, signer, passphrase, scrypt=FAST, **options)  # type: ignore[arg-type]
    return path


def write_legacy(path: Path, signer: Signer, passphrase: bytes = PASSPHRASE) -> Path:
    """An accord-key-v1 file as keygen wrote them before scrypt: PKCS#8 under PBKDF2."""
    pem = Ed25519PrivateKey.from_private_bytes(signer.private_seed()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(passphrase)
    )
    path.write_bytes(f"accord-key-v1 {signer.verifier_key().to_text()}\n".encode() + pem)
    path.chmod(0o600)
    return path


# -- the format ---------------------------------------------------------------


@pytest.mark.parametrize("sig_type", [ED25519, COSIGNATURE_V1])
def test_key_file_written_then_read_gives_the_same_key(tmp_path: Path, sig_type: int) -> None:
    signer = golden_signer("fr", sig_type)
    read = read_key_file(write(tmp_path / "fr.key", signer), PASSPHRASE)
    assert read.verifier_key() == signer.verifier_key()
    assert read.sign(b"message") == signer.sign(b"message")


def test_new_key_file_stores_scrypt_n_2_17_r_8_p_1_and_costs_that_to_open(tmp_path: Path) -> None:
    # SPEC 13: a memory-hard KDF, scrypt N >= 2^17; the parameters are read from the file itself.
    path = tmp_path / "de.key"
    write_key_file(path, golden_signer("de"), PASSPHRASE)
    assert KeyFile.read(path).scrypt_parameters() == ScryptParameters(17, 8, 1) == KEY_FILE_SCRYPT
    assert path.read_text().split("\n")[1].startswith("scrypt log2N=17 r=8 p=1 salt=")


def test_key_file_names_its_key_in_clear_and_holds_the_private_key_sealed(tmp_path: Path) -> None:
    path = write(tmp_path / "de.key", golden_signer("de"))
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[0] == "accord-key-v2 " + GOLDEN["keys"]["de"]["vkey"]
    assert lines[1].startswith("scrypt log2N=10 r=8 p=1 salt=")
    assert lines[2].startswith("chacha20-poly1305 nonce=") and " sealed=" in lines[2]
    assert lines[3:] == [""]
    assert bytes.fromhex(GOLDEN["keys"]["de"]["seed_hex"]) not in path.read_bytes()
    assert read_verifier_key(path).to_text() == GOLDEN["keys"]["de"]["vkey"]


@pytest.mark.parametrize("line", [0, 1])
def test_changing_the_clear_lines_makes_the_file_fail_to_open(tmp_path: Path, line: int) -> None:
    # The name and the KDF parameters are the AEAD's associated data.
    path = write(tmp_path / "de.key", golden_signer("de"))
    lines = path.read_text().split("\n")
    lines[line] = "accord-key-v2 " + golden_signer("de").cosigner_key().to_text() if line == 0 else lines[1].replace("r=8", "r=9")
    path.write_text("\n".join(lines))
    with pytest.raises(KeyFileError) as refused:
        read_key_file(path, PASSPHRASE)
    assert str(refused.value) == f"key file: wrong passphrase for {path}"


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0)
    yield
    os.umask(previous)


def test_key_file_has_mode_0600_even_under_a_permissive_umask(tmp_path: Path, permissive_umask: None) -> None:
    path = write(tmp_path / "de.key", golden_signer("de"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    write(path, golden_signer("fr"), overwrite=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [entry.name for entry in tmp_path.iterdir()] == ["de.key"]  # no temporary file left


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_key_file_others_can_read_is_refused_for_signing_as_ssh_does(tmp_path: Path, mode: int) -> None:
    path = write(tmp_path / "de.key", golden_signer("de"))
    path.chmod(mode)
    with pytest.raises(KeyFileError) as refused:
        read_key_file(path, PASSPHRASE)
    assert str(refused.value) == f"key file: {path} has mode {mode:04o}: others may read it; want 0600 (chmod 600 {path})"
    assert read_verifier_key(path) == golden_signer("de").verifier_key()  # the public part stays readable


def test_key_file_read_with_a_wrong_passphrase_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "de.key", golden_signer("de"))
    for wrong in (b"correct horse battery stapler", b""):
        with pytest.raises(KeyFileError) as refused:
            read_key_file(path, wrong)
        assert str(refused.value) == f"key file: wrong passphrase for {path}"


@pytest.mark.parametrize(("passphrase", "message"), [
    (b"", "empty passphrase for {path}: a key file is always encrypted"),
    (b"eleven char", "passphrase for {path} has 11 characters, want at least 12"),
    ("äöüßäöüßäöü".encode(), "passphrase for {path} has 11 characters, want at least 12"),
])
def test_key_file_with_a_short_passphrase_is_never_written(tmp_path: Path, passphrase: bytes, message: str) -> None:
    path = tmp_path / "de.key"
    with pytest.raises(KeyFileError) as refused:
        write(path, golden_signer("de"), passphrase)
    assert str(refused.value) == "key file: " + message.format(path=path)
    assert list(tmp_path.iterdir()) == []


def test_existing_key_file_is_not_overwritten_unless_asked(tmp_path: Path) -> None:
    path = write(tmp_path / "de.key", golden_signer("de"))
    before = path.read_bytes()
    with pytest.raises(KeyFileError) as refused:
        write(path, golden_signer("fr"))
    assert str(refused.value) == f"key file: {path} already exists; refusing to overwrite a key"
    assert path.read_bytes() == before
    assert [entry.name for entry in tmp_path.iterdir()] == ["de.key"]
    write(path, golden_signer("fr"), overwrite=True)
    assert read_key_file(path, PASSPHRASE).name == f"{ORIGIN}/fr"


def test_missing_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "absent.key"
    with pytest.raises(KeyFileError) as refused:
        read_key_file(path, PASSPHRASE)
    assert str(refused.value) == f"key file: no key file at {path}"


def test_key_file_in_a_missing_directory_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "absent" / "de.key"
    with pytest.raises(KeyFileError) as refused:
        write(path, golden_signer("de"))
    assert str(refused.value) == f"key file: cannot write {path}: No such file or directory"


def test_file_that_is_not_a_key_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = tmp_path / "go.key"
    path.write_text(PETER_PRIVATE + "\n")
    with pytest.raises(KeyFileError) as refused:
        read_key_file(path, PASSPHRASE)
    assert str(refused.value) == f"key file: {path} is not an Accord key file: want a first line 'accord-key-v2 <verifier key>'"
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(KeyFileError, match=r"is not an Accord key file: not UTF-8 text$"):
        read_key_file(path, PASSPHRASE)


def test_key_file_with_a_malformed_first_line_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "de.key", golden_signer("de"))
    header, rest = path.read_text().split("\n", 1)
    path.write_text(header[:-1] + "\n" + rest)
    with pytest.raises(KeyFileError) as refused:
        read_key_file(path, PASSPHRASE)
    assert str(refused.value) == f"key file: {path}: first line: key: got invalid base64, want RFC 4648 standard base64"


@pytest.mark.parametrize(("change", "message"), [
    (lambda lines: lines[:2] + [""], "want a 'scrypt ...' line and a 'chacha20-poly1305 ...' line after the first"),
    (lambda lines: [lines[0], lines[1].replace("log2N=10", "log2N=30"), *lines[2:]], "scrypt parameters log2N=30 r=8 p=1 are out of bounds"),
    (lambda lines: [lines[0], lines[1], lines[2][:-4], ""], "want a 16-byte salt, a 12-byte nonce and a 48-byte sealed key"),
])
def test_key_file_with_a_damaged_sealed_key_is_refused(tmp_path: Path, change: object, message: str) -> None:
    path = write(tmp_path / "de.key", golden_signer("de"))
    path.write_text("\n".join(change(path.read_text().split("\n"))))  # type: ignore[operator]
    with pytest.raises(KeyFileError) as refused:
        read_key_file(path, PASSPHRASE)
    assert str(refused.value).startswith(f"key file: {path}: ")
    assert message in str(refused.value)


# -- files made before scrypt, and their upgrade -------------------------------


def test_key_file_made_before_this_format_still_signs(tmp_path: Path) -> None:
    path = write_legacy(tmp_path / "de.key", golden_signer("de"))
    assert KeyFile.read(path).form == "pkcs8"
    assert read_key_file(path, PASSPHRASE).sign(b"m") == golden_signer("de").sign(b"m")


def test_upgrade_rewrites_an_old_file_in_place_as_scrypt_with_the_same_key(tmp_path: Path) -> None:
    path = write_legacy(tmp_path / "de.key", golden_signer("de"))
    assert upgrade_key_file(path, PASSPHRASE) == golden_signer("de").verifier_key()
    assert KeyFile.read(path).form == "scrypt"
    assert KeyFile.read(path).scrypt_parameters() == KEY_FILE_SCRYPT
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_key_file(path, PASSPHRASE).verifier_key() == golden_signer("de").verifier_key()
    assert [entry.name for entry in tmp_path.iterdir()] == ["de.key"]


def test_upgrade_with_a_wrong_passphrase_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = write_legacy(tmp_path / "de.key", golden_signer("de"))
    before = path.read_bytes()
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        upgrade_key_file(path, b"not the passphrase at all")
    assert path.read_bytes() == before


def test_upgrade_of_a_file_with_a_short_passphrase_needs_a_new_one(tmp_path: Path) -> None:
    path = write_legacy(tmp_path / "de.key", golden_signer("de"), b"short")
    with pytest.raises(KeyFileError) as refused:
        upgrade_key_file(path, b"short")
    assert str(refused.value) == f"key file: passphrase for {path} has 5 characters, want at least 12"
    upgrade_key_file(path, b"short", PASSPHRASE)
    assert read_key_file(path, PASSPHRASE).verifier_key() == golden_signer("de").verifier_key()


def test_legacy_key_file_with_a_truncated_private_key_block_is_refused(tmp_path: Path) -> None:
    path = write_legacy(tmp_path / "de.key", golden_signer("de"))
    path.write_text("\n".join(path.read_text().split("\n")[:-2]) + "\n")
    with pytest.raises(KeyFileError) as refused:
        read_key_file(path, PASSPHRASE)
    assert str(refused.value) == f"key file: {path}: want an encrypted PKCS#8 PEM block after the first line"


def test_legacy_key_file_with_a_corrupted_private_key_block_is_refused(tmp_path: Path) -> None:
    path = write_legacy(tmp_path / "de.key", golden_signer("de"))
    lines = path.read_text().split("\n")
    lines[2] = "*" + lines[2][1:]
    path.write_text("\n".join(lines))
    with pytest.raises(KeyFileError) as refused:
        read_key_file(path, PASSPHRASE)
    assert str(refused.value) == f"key file: {path}: PEM block is not base64"


def test_legacy_key_file_holding_a_key_other_than_ed25519_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "de.key"
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(PASSPHRASE)
    )
    path.write_bytes(f"accord-key-v1 {GOLDEN['keys']['de']['vkey']}\n".encode() + other)
    path.chmod(0o600)
    with pytest.raises(KeyFileError) as refused:
        read_key_file(path, PASSPHRASE)
    assert str(refused.value) == f"key file: {path}: private key is not an Ed25519 key"


def test_legacy_key_file_whose_first_line_names_another_key_is_refused(tmp_path: Path) -> None:
    path = write_legacy(tmp_path / "de.key", golden_signer("de"))
    rest = path.read_text().split("\n", 1)[1]
    path.write_text(f"accord-key-v1 {GOLDEN['keys']['fr']['vkey']}\n{rest}")
    with pytest.raises(KeyFileError) as refused:
        read_key_file(path, PASSPHRASE)
    assert str(refused.value) == f"key file: {path}: private key does not match the key on its first line, {ORIGIN}/fr+8eac8ec4"


# -- public files ---------------------------------------------------------------


def test_pub_file_and_agent_key_file_give_the_verifier_key_with_no_passphrase(tmp_path: Path) -> None:
    key = golden_signer("de").verifier_key()
    write_public_key_file(tmp_path / "de.pub", key)
    assert (tmp_path / "de.pub").read_text() == key.to_text() + "\n"
    write_agent_key_file(tmp_path / "agent.key", key)
    assert (tmp_path / "agent.key").read_text() == f"accord-key-v2 {key.to_text()}\nssh-agent\n"
    assert read_verifier_key(tmp_path / "de.pub") == read_verifier_key(tmp_path / "agent.key") == key

    def never_asked() -> bytes:
        raise AssertionError("an agent key file must not ask for a passphrase")

    monkey = os.environ.pop("SSH_AUTH_SOCK", None)
    try:
        with pytest.raises(KeyFileError) as refused:
            read_key_file(tmp_path / "agent.key", never_asked)
    finally:
        if monkey is not None:
            os.environ["SSH_AUTH_SOCK"] = monkey
    assert str(refused.value) == f"ssh-agent: SSH_AUTH_SOCK is not set: start ssh-agent and ssh-add the key {key.label}"


def test_a_file_holding_neither_a_key_file_nor_a_verifier_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    with pytest.raises(KeyFileError) as refused:
        read_verifier_key(path)
    assert str(refused.value) == f"key file: {path} holds neither a key file nor a verifier key: got 1 '+'-separated fields, want 3: <name>+<key id>+<key>"
