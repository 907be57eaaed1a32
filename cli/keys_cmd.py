"""Keys: generate them, add and revoke them on the ledger."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Unpack

import click

from cli.acting import SubmitOptions, act, acting
from cli.options import (
    VERIFIER_KEY,
    BadInput,
    Session,
    new_passphrase_option,
    output_path,
    passphrase,
    passphrase_env_option,
)
from ledger.agent import public_key_of_openssh_line
from ledger.errors import KeyFileError, MalformedError
from ledger.keyfile import (
    check_new_passphrase,
    read_verifier_key,
    upgrade_key_file,
    write_agent_key_file,
    write_key_file,
    write_public_key_file,
)
from ledger.keys import COSIGNATURE_V1, ED25519, Signer, VerifierKey
from ledger.statement import check_actor_id


def _actor_id(value: str | None) -> str | None:
    if value is not None:
        try:
            check_actor_id(value, "--actor")
        except MalformedError as error:
            raise click.BadParameter(error.problem) from error
    return value


@click.command()
@click.option("--origin", required=True, help="The ledger's origin, e.g. accord.example/european-security.")
@click.option("--actor", callback=lambda ctx, param, value: _actor_id(value), help="Your actor id (e.g. de); without it, the operator's key, named after the origin.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), callback=output_path, help="Where to write the key file (mode 0600); FILE.pub gets the verifier key.")
@click.option("--ssh-agent", "agent_public", type=click.Path(exists=True, dir_okay=False), metavar="ID.pub",
              help="Keep no private key: sign with this Ed25519 key through the ssh-agent (SSH_AUTH_SOCK).")
@passphrase_env_option
def keygen(origin: str, actor: str | None, out: str, agent_public: str | None, passphrase_env: str) -> None:
    """Make a new Ed25519 key, encrypted at rest (scrypt, ChaCha20-Poly1305); print its verifier key.

    Also writes OUT.pub, the verifier key, to hand to whoever checks your
    signatures. With --ssh-agent the key file names the agent's key and
    holds no private key.

    \b
    Example:
      accord keygen --origin accord.example/european-security --actor de --out de.key
      accord keygen --origin accord.example/european-security --actor de --ssh-agent ~/.ssh/id_ed25519.pub --out de.key
    """
    name = origin if actor is None else f"{origin}/{actor}"
    if agent_public is not None:
        key = VerifierKey(name, ED25519, public_key_of_openssh_line(Path(agent_public).read_text(encoding="utf-8")))
        write_agent_key_file(out, key)
    else:
        signer = Signer.generate(name)
        secret = passphrase(passphrase_env, confirm=True, key_file=out)
        try:
            check_new_passphrase(secret, out)
        except KeyFileError as error:
            raise BadInput(str(error)) from error
        write_key_file(out, signer, secret)
        key = signer.verifier_key()
    write_public_key_file(out + ".pub", key)
    click.echo(key.to_text())


@click.group()
def key() -> None:
    """Show, upgrade, add or revoke your keys.

    \b
    Example:
      accord key show de.key
      accord key add --key de.key --new-key de-2027.key
    """


@key.command("show")
@click.argument("key_file", metavar="FILE", type=click.Path(exists=True, dir_okay=False))
def key_show(key_file: str) -> None:
    """Print a key file's (or .pub file's) verifier key and cosigner key; no passphrase needed.

    \b
    Example:
      accord key show de.key
    """
    verifier = read_verifier_key(key_file)
    click.echo(f"verifier key: {verifier.to_text()}")
    click.echo(f"cosigner key: {VerifierKey(verifier.name, COSIGNATURE_V1, verifier.public).to_text()}")


@key.command("upgrade")
@click.argument("key_file", metavar="FILE", type=click.Path(exists=True, dir_okay=False))
@passphrase_env_option
@new_passphrase_option
def key_upgrade(key_file: str, passphrase_env: str, new_passphrase_env: str) -> None:
    """Rewrite a key file in place in the current format (scrypt), same key; print its verifier key.

    The passphrase stays unless ACCORD_NEW_PASSPHRASE (or --new-passphrase-*)
    gives a new one; a passphrase under 12 characters needs a new one.

    \b
    Example:
      accord key upgrade de.key
    """
    old = passphrase(passphrase_env, key_file=key_file)
    has_new = os.environ.get(new_passphrase_env) is not None or _new_passphrase_file_given()
    new = passphrase(new_passphrase_env, key_file=key_file) if has_new else None
    try:
        key = upgrade_key_file(key_file, old, new)
    except KeyFileError as error:
        if error.problem.startswith("passphrase for") or error.problem.startswith("empty passphrase"):
            raise BadInput(f"{error}: give a new one with --new-passphrase-env or --new-passphrase-file") from error
        raise
    click.echo(key.to_text())


def _new_passphrase_file_given() -> bool:
    session = click.get_current_context().find_object(Session)
    return session is not None and "ACCORD_NEW_PASSPHRASE" in session.passphrase_files


@key.command("add")
@click.option("--new-key", required=True, type=click.Path(exists=True, dir_okay=False), help="The new key file; it signs too.")
@new_passphrase_option
@acting
def key_add(session: Session, key_file: str, new_key: str, passphrase_env: str, new_passphrase_env: str, **submit: Unpack[SubmitOptions]) -> None:
    """Add a key, signed by one of your current keys and by the new one.

    \b
    Example:
      accord key add --key de.key --new-key de-2027.key
    """
    signer = session.signer(new_key, new_passphrase_env)
    entry, _ = act(session, key_file, passphrase_env, "key.add", {"key": signer.verifier_key().to_text()}, extra_signers=[signer], **submit)
    click.echo(f"entry {entry.index}: added key {signer.verifier_key().label}")


@key.command("revoke")
@click.option("--revoke", "revoked", required=True, type=VERIFIER_KEY, help="The verifier key to revoke: the key, its .pub file or its key file.")
@click.option("--replacement-key", type=click.Path(exists=True, dir_okay=False), help="A new key file replacing it (it signs too).")
@new_passphrase_option
@acting
def key_revoke(
    session: Session, key_file: str, revoked: VerifierKey, replacement_key: str | None, passphrase_env: str, new_passphrase_env: str, **submit: Unpack[SubmitOptions]
) -> None:
    """Revoke one of your keys; the last one only with a replacement.

    \b
    Example:
      accord key revoke --key de-2027.key --revoke de.pub
    """
    body = {"key": revoked.to_text()}
    extra = []
    if replacement_key is not None:
        replacement = session.signer(replacement_key, new_passphrase_env)
        body["replacement"] = replacement.verifier_key().to_text()
        extra.append(replacement)
    entry, _ = act(session, key_file, passphrase_env, "key.revoke", body, extra_signers=extra, **submit)
    click.echo(f"entry {entry.index}: revoked key {VerifierKey.from_text(body['key']).label}")


COMMANDS = [keygen, key]
