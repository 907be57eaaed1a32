"""Keys: generate them, add and revoke them on the ledger."""

from __future__ import annotations

import click

from cli.acting import act, acting
from cli.options import Session, output_path, passphrase, passphrase_env_option
from ledger.errors import MalformedError
from ledger.keyfile import write_key_file
from ledger.keys import Signer, VerifierKey
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
@click.option("--out", required=True, type=click.Path(dir_okay=False), callback=output_path, help="Where to write the encrypted key file (mode 0600).")
@passphrase_env_option
def keygen(origin: str, actor: str | None, out: str, passphrase_env: str) -> None:
    """Make a new Ed25519 key, encrypted at rest; print its verifier key.

    \b
    Example:
      accord keygen --origin accord.example/european-security --actor de --out de.key
    """
    signer = Signer.generate(origin if actor is None else f"{origin}/{actor}")
    write_key_file(out, signer, passphrase(passphrase_env, confirm=True, key_file=out))
    click.echo(signer.verifier_key().to_text())


@click.group()
def key() -> None:
    """Add or revoke your own keys on the ledger.

    \b
    Example:
      accord key add --key de.key --new-key de-2027.key
    """


def _key_text(value: str) -> str:
    """A verifier key given as text or as a file holding it."""
    try:
        return VerifierKey.from_text(value).to_text()
    except MalformedError:
        from pathlib import Path

        path = Path(value)
        if path.is_file():
            return VerifierKey.from_text(path.read_text(encoding="utf-8").strip()).to_text()
        raise


new_passphrase_option = click.option(
    "--new-passphrase-env", default="ACCORD_NEW_PASSPHRASE", show_default=True, metavar="NAME", help="Variable holding the new key file's passphrase."
)


@key.command("add")
@click.option("--new-key", required=True, type=click.Path(exists=True, dir_okay=False), help="The new key file; it signs too.")
@new_passphrase_option
@acting
def key_add(session: Session, key_file: str, new_key: str, passphrase_env: str, new_passphrase_env: str, **submit: str) -> None:
    """Add a key, signed by one of your current keys and by the new one.

    \b
    Example:
      accord key add --key de.key --new-key de-2027.key
    """
    signer = session.signer(new_key, new_passphrase_env)
    entry, _ = act(session, key_file, passphrase_env, "key.add", {"key": signer.verifier_key().to_text()}, extra_signers=[signer], **submit)
    click.echo(f"entry {entry.index}: added key {signer.verifier_key().label}")


@key.command("revoke")
@click.option("--revoke", "revoked", required=True, metavar="VKEY|FILE", help="The verifier key to revoke.")
@click.option("--replacement-key", type=click.Path(exists=True, dir_okay=False), help="A new key file replacing it (it signs too).")
@new_passphrase_option
@acting
def key_revoke(
    session: Session, key_file: str, revoked: str, replacement_key: str | None, passphrase_env: str, new_passphrase_env: str, **submit: str
) -> None:
    """Revoke one of your keys; the last one only with a replacement.

    \b
    Example:
      accord key revoke --key de-2027.key --revoke de.pub
    """
    body = {"key": _key_text(revoked)}
    extra = []
    if replacement_key is not None:
        replacement = session.signer(replacement_key, new_passphrase_env)
        body["replacement"] = replacement.verifier_key().to_text()
        extra.append(replacement)
    entry, _ = act(session, key_file, passphrase_env, "key.revoke", body, extra_signers=extra, **submit)
    click.echo(f"entry {entry.index}: revoked key {VerifierKey.from_text(body['key']).label}")


COMMANDS = [keygen, key]
