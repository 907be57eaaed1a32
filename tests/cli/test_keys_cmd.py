"""Key commands (SPEC 13): keygen's .pub, key show, key upgrade, passphrase sources, modes, keys held by an ssh-agent."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.checkpoint import verify_cosignature
from ledger.keyfile import KeyFile, read_key_file
from ledger.note import Note, open_note
from tests.cli.conftest import (
    ORIGIN,
    PASSPHRASE,
    Council,
    invoke,
    label,
    no_traceback,
    ok,
    one_line_error,
    signer,
)
from tests.ledger.test_keyfile import write_legacy


def test_keygen_refuses_a_passphrase_under_12_characters_with_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ACCORD_PASSPHRASE", "hunter2")
    one_line_error("keygen", "--origin", ORIGIN, "--actor", "ee", "--out", "ee.key", code=2,
                   message="accord: key file: passphrase for ee.key has 7 characters, want at least 12")
    assert list(tmp_path.iterdir()) == []


def test_key_show_prints_the_verifier_and_cosigner_keys_without_a_passphrase(council: Council, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACCORD_PASSPHRASE")
    expected = f"verifier key: {council.verifier_key('fr')}\ncosigner key: {council.witness_key('fr')}\n"
    assert ok("key", "show", council.key("fr")) == expected
    Path("fr.pub").write_text(council.verifier_key("fr") + "\n")
    assert ok("key", "show", "fr.pub") == expected


def test_key_revoke_takes_the_key_file_itself_as_the_key_to_revoke(council: Council) -> None:
    new_key = council.key("de", 1)
    ok("key", "add", "--key", council.key("de"), "--new-key", new_key)
    assert ok("key", "revoke", "--key", new_key, "--revoke", council.key("de")) == f"entry 2: revoked key {label('de')}\n"


def test_option_wanting_a_verifier_key_refuses_a_file_holding_none(council: Council) -> None:
    Path("notes.txt").write_text("hello\n")
    result = invoke(["key", "revoke", "--key", council.key("de"), "--revoke", "notes.txt"])
    no_traceback(result)
    assert result.exit_code == 2
    assert "notes.txt holds neither a key file nor a verifier key" in result.stderr


def test_key_upgrade_rewrites_an_old_key_file_with_the_same_verifier_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ACCORD_NEW_PASSPHRASE")
    write_legacy(tmp_path / "de.key", signer("de"), PASSPHRASE.encode())
    assert ok("key", "upgrade", "de.key") == signer("de").verifier_key().to_text() + "\n"
    assert KeyFile.read("de.key").form == "scrypt"
    assert read_key_file("de.key", PASSPHRASE.encode()).verifier_key() == signer("de").verifier_key()


def test_key_upgrade_of_a_short_passphrase_asks_for_a_new_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ACCORD_NEW_PASSPHRASE")
    monkeypatch.setenv("ACCORD_PASSPHRASE", "short")
    write_legacy(tmp_path / "de.key", signer("de"), b"short")
    one_line_error("key", "upgrade", "de.key", code=2, message=(
        "accord: key file: passphrase for de.key has 5 characters, want at least 12: "
        "give a new one with --new-passphrase-env or --new-passphrase-file"
    ))
    Path("new.txt").write_text(PASSPHRASE + "\n")
    ok("key", "upgrade", "de.key", "--new-passphrase-file", "new.txt")
    assert read_key_file("de.key", PASSPHRASE.encode()).verifier_key() == signer("de").verifier_key()


def test_passphrase_file_gives_the_passphrase(council: Council, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACCORD_PASSPHRASE")
    Path("secret.txt").write_text(PASSPHRASE + "\n")
    assert ok("say", "--text", "Hello", "--key", council.key("de"), "--passphrase-file", "secret.txt") == "entry 1: statement made\n"


def test_checkpoint_sign_reads_the_operator_passphrase_from_a_file(council: Council, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACCORD_OPERATOR_PASSPHRASE", raising=False)
    Path("operator-secret.txt").write_text(PASSPHRASE + "\n")
    printed = ok("checkpoint", "--sign", "--operator-key", council.key("operator"), "--operator-passphrase-file", "operator-secret.txt")
    assert printed.startswith(ORIGIN + "\n") and f"\u2014 {ORIGIN} " in printed


def test_no_terminal_and_no_passphrase_is_one_line_naming_the_variable(council: Council, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACCORD_PASSPHRASE")
    council.refused("say", "--text", "Hello", "--key", council.key("de"), message=(
        "accord: passphrase: no passphrase for de.key: set ACCORD_PASSPHRASE, give a passphrase file, or run on a terminal"
    ))


def test_key_file_others_can_read_is_refused_for_signing(council: Council) -> None:
    Path(council.key("de")).chmod(0o644)
    council.refused("say", "--text", "Hello", "--key", "de.key", message=(
        "accord: key file: de.key has mode 0644: others may read it; want 0600 (chmod 600 de.key)"
    ))


# -- keys held by an ssh-agent ---------------------------------------------------


@pytest.fixture
def ssh_agent(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A real ssh-agent on a socket of its own, stopped by its pid at the end."""
    if shutil.which("ssh-agent") is None:
        pytest.skip("ssh-agent is not installed (apt-get install openssh-client; .ci/run does)")
    socket = tmp_path_factory.mktemp("agent") / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(socket)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if socket.exists():
                break
            time.sleep(0.05)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(socket))
        yield socket
    finally:
        agent.kill()
        agent.wait(timeout=10)


def ssh_add(actor: str, directory: Path) -> Path:
    """Give the agent ``actor``'s key (as an OpenSSH key file); return its ID.pub."""
    private = Ed25519PrivateKey.from_private_bytes(signer(actor).private_seed())
    identity = directory / f"id_{actor}"
    identity.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()))
    identity.chmod(0o600)
    public = directory / f"id_{actor}.pub"
    public.write_bytes(private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH) + b" test\n")
    subprocess.run(["ssh-add", "-q", str(identity)], check=True, timeout=30, capture_output=True)
    identity.unlink()
    return public


def test_agent_key_signs_a_vote_a_charter_and_a_cosignature_that_the_ordinary_verifier_accepts(
    council: Council, ssh_agent: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    public = ssh_add("fr", council.directory)
    out = ok("keygen", "--ssh-agent", str(public), "--origin", ORIGIN, "--actor", "fr", "--out", "fr-agent.key")
    assert out == council.verifier_key("fr") + "\n"
    assert Path("fr-agent.key").read_text() == f"accord-key-v2 {council.verifier_key('fr')}\nssh-agent\n"
    assert Path("fr-agent.key.pub").read_text() == out
    proposal = council.propose("de")
    monkeypatch.delenv("ACCORD_PASSPHRASE")  # an agent's key asks for none
    assert ok("vote", proposal, "approve", "--key", "fr-agent.key") == f"entry 2: approve on {proposal}\n"
    assert open_note(council.entry(2).statement, [signer("fr").verifier_key()]).signers == [signer("fr").verifier_key()]

    charter = Path("charter.note").read_text()
    ok("sign", "charter.note", "--key", "fr-agent.key", "--out", "charter-fr.note")
    signed = Path("charter-fr.note").read_text()
    assert Note.from_text(signed).text == Note.from_text(charter).text
    assert signer("fr").verifier_key() in open_note(signed, [signer("fr").verifier_key()]).signers

    monkeypatch.setenv("ACCORD_PASSPHRASE", PASSPHRASE)  # the operator's key file is an ordinary one
    council.checkpoint()
    assert ok("cosign", "--key", "fr-agent.key") == f"cosigned checkpoint of size 3 as {signer('fr').cosigner_key().label}\n"
    assert verify_cosignature(Note.from_text(ok("checkpoint")), signer("fr").cosigner_key()) > 0


def test_agent_key_file_without_an_agent_or_with_an_agent_lacking_the_key_is_one_line(
    council: Council, ssh_agent: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    public = ssh_add("pl", council.directory)
    ok("keygen", "--ssh-agent", str(public), "--origin", ORIGIN, "--actor", "pl", "--out", "pl-agent.key")
    ssh_add("ua", council.directory)
    Path("pl-agent.key").write_text(f"accord-key-v2 {council.verifier_key('fr')}\nssh-agent\n")
    council.refused("say", "--text", "Hello", "--key", "pl-agent.key", message=(
        f"accord: ssh-agent: the agent at SSH_AUTH_SOCK={ssh_agent} does not hold the key {label('fr')}: ssh-add it"
    ))
    monkeypatch.delenv("SSH_AUTH_SOCK")
    council.refused("say", "--text", "Hello", "--key", "pl-agent.key", message=(
        f"accord: ssh-agent: SSH_AUTH_SOCK is not set: start ssh-agent and ssh-add the key {label('fr')}"
    ))
