"""The charter: drafted from TOML, signed by every founder, and the ledger founded on it."""

from __future__ import annotations

import tomllib
from typing import Any

import click

from cli.acting import operator_key_option, operator_passphrase_option, submit_note
from cli.options import Session, pass_session, read_text, store_option, time_value
from domain import commands
from domain.charter import check_categories
from ledger.errors import MalformedError, StorageError
from ledger.keys import VerifierKey


def _founders(document: dict[str, Any], table: str) -> list[dict[str, Any]]:
    founders = []
    for number, founder in enumerate(document.get(table, [])):
        where = f"[[{table}]] {number + 1}"
        if not isinstance(founder, dict) or not {"id", "name", "keys"} <= set(founder):
            raise MalformedError("charter", f"{where}: want id, name and keys")
        unknown = set(founder) - {"id", "name", "keys", "affiliations"}
        if unknown:
            raise MalformedError("charter", f"{where}: unknown field {sorted(unknown)[0]}")
        keys = [VerifierKey.from_text(text) for text in founder["keys"]]
        founders.append(commands.founder(founder["id"], founder["name"], keys, founder.get("affiliations", ())))
    return founders


def charter_from_toml(text: str, signed_at: str) -> str:
    """The unsigned charter statement text that a TOML charter describes."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise MalformedError("charter", f"not TOML: {error}") from error
    unknown = set(document) - {"origin", "name", "operator", "withdrawal_notice", "signed_at_skew", "witness_lag", "member", "observer", "categories"}
    if unknown:
        raise MalformedError("charter", f"unknown field {sorted(unknown)[0]}")
    for field in ("origin", "name", "operator"):
        if not isinstance(document.get(field), str):
            raise MalformedError("charter", f"{field} must be a string")
    categories = check_categories(document.get("categories", {}))
    statement = commands.charter(
        document["origin"],
        document["name"],
        VerifierKey.from_text(document["operator"]),
        _founders(document, "member"),
        signed_at,
        observers=_founders(document, "observer"),
        categories=categories,
        withdrawal_notice=document.get("withdrawal_notice"),
        signed_at_skew=document.get("signed_at_skew"),
        witness_lag=document.get("witness_lag"),
    )
    return statement.to_text()


@click.group()
def charter() -> None:
    """Draft the charter that founds a ledger.

    \b
    Example:
      accord charter draft charter.toml > charter.note
    """


@charter.command("draft")
@click.argument("toml_file", metavar="CHARTER.toml", type=click.Path(exists=True, dir_okay=False))
@click.option("--signed-at", default="+0s", show_default=True, callback=time_value, help="When the charter is signed: RFC 3339 or +DURATION from now.")
def draft(toml_file: str, signed_at: str) -> None:
    """Write the unsigned charter statement for a TOML charter on stdout.

    \b
    Example:
      accord charter draft charter.toml > charter.note
      accord sign charter.note --key operator.key   # then every founding member
    """
    click.echo(charter_from_toml(read_text(toml_file), signed_at), nl=False)


@click.command()
@click.argument("charter_file", metavar="CHARTER", type=click.Path(exists=True, dir_okay=False))
@store_option
@operator_key_option
@operator_passphrase_option
@pass_session
def init(session: Session, charter_file: str, operator_key: str | None, operator_passphrase_env: str) -> None:
    """Found a ledger on a charter signed by the operator and every founding member.

    Prints the trust anchor: the charter entry's leaf hash, which verifiers pin.

    \b
    Example:
      accord init charter.note --store sqlite:///accord.db
    """
    ledger = session.ledger()
    if ledger.log.size:
        raise StorageError("init", f"{session.store_url} already holds a ledger of {ledger.log.size} entries")
    entry = submit_note(session, read_text(charter_file), operator_key=operator_key, operator_passphrase_env=operator_passphrase_env)
    click.echo(entry.leaf_hash().hex())


COMMANDS = [charter, init]
