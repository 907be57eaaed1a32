"""The charter: drafted from TOML, signed by every founder, and the ledger founded on it."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from cli.acting import operator_key_option, read_note_or_statement, submit_note
from cli.options import (
    Session,
    emit,
    json_option,
    missing_sqlite_file,
    operator_passphrase_option,
    pass_session,
    read_text,
    store_option,
    time_value,
)
from domain import commands
from domain.charter import OPERATOR, check_categories, parse_settings
from domain.rules import check_statement
from ledger.bundle import Bundle
from ledger.documents import MAX_DEPTH, check_depth
from ledger.entry import Entry
from ledger.errors import AccordError, MalformedError, SignatureError, StorageError
from ledger.keys import VerifierKey
from ledger.note import Note, known_signers
from ledger.statement import Statement


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
    except RecursionError as error:
        raise MalformedError("charter", f"TOML nested deeper than {MAX_DEPTH} levels") from error
    check_depth(document, "charter")
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
    # Every check init will run but the signatures: a mistake is found before any founder signs.
    check_statement(statement)
    return statement.to_text()


@click.group()
def charter() -> None:
    """Draft the charter that founds a ledger, or show the one a ledger was founded on.

    \b
    Example:
      accord charter draft charter.toml > charter.note
      accord charter show --store sqlite:///accord.db
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


def _check_operator_key(note_text: str, session: Session, operator_key: str | None, operator_passphrase_env: str) -> None:
    """Refuse an --operator-key that is not the charter's operator key, before anything is appended."""
    if operator_key is None:
        return
    signer = session.signer(operator_key, operator_passphrase_env)
    statement = read_note_or_statement(note_text)
    body = (Statement.from_text(statement.text) if isinstance(statement, Note) else statement).body
    wanted = body.get("operator") if isinstance(body, dict) else None
    if isinstance(wanted, str) and VerifierKey.from_text(wanted) != signer.verifier_key():
        raise SignatureError("init", f"--operator-key is {signer.verifier_key().label}, not the charter's operator key {VerifierKey.from_text(wanted).label}")


@click.command()
@click.argument("charter_file", metavar="CHARTER", type=click.Path(exists=True, dir_okay=False))
@store_option
@operator_key_option
@operator_passphrase_option
@pass_session
def init(session: Session, charter_file: str, operator_key: str | None, operator_passphrase_env: str) -> None:
    """Found a ledger on a charter signed by the operator and every founding member.

    Prints the trust anchor on stdout (the charter entry's leaf hash, which
    verifiers pin with --anchor) and its label on stderr. A refused charter
    leaves no database file behind.

    \b
    Example:
      ANCHOR=$(accord init charter.note --store sqlite:///accord.db)
    """
    note_text = read_text(charter_file)
    _check_operator_key(note_text, session, operator_key, operator_passphrase_env)
    new_file = missing_sqlite_file(session.store_url)
    try:
        ledger = session.ledger(create=True)
        if ledger.log.size:
            raise StorageError("init", f"{session.store_url} already holds a ledger of {ledger.log.size} entries")
        entry = submit_note(session, note_text, operator_key=operator_key, operator_passphrase_env=operator_passphrase_env)
    except BaseException:
        if new_file is not None:
            session.close()
            for leftover in (new_file, Path(f"{new_file}-wal"), Path(f"{new_file}-shm"), Path(f"{new_file}-journal")):
                leftover.unlink(missing_ok=True)
        raise
    click.echo("ledger founded; its trust anchor, which verifiers pin with --anchor (accord charter show shows it again):", err=True)
    click.echo(entry.leaf_hash().hex())


def _signers(note: Note, body: dict[str, Any]) -> list[str]:
    """The founders (and the operator) whose signatures on the charter verify."""
    owners: dict[str, str] = {}
    keys = []
    for actor, texts in [(OPERATOR, [body.get("operator", "")])] + [
        (founder.get("id", "?"), founder.get("keys", [])) for founder in [*body.get("members", []), *body.get("observers", [])]
    ]:
        for text in texts:
            try:
                key = VerifierKey.from_text(text)
            except AccordError:
                continue
            owners[key.label] = actor
            keys.append(key)
    return [owners[key.label] for key in known_signers(note, keys)]


def charter_document(entry: Entry) -> dict[str, Any]:
    """What ``charter show`` prints: the charter of entry 0, who signed it, and its anchor."""
    if entry.index != 0:
        raise MalformedError("charter", f"entry {entry.index} is not the charter: want entry 0")
    note = Note.from_text(entry.statement)
    statement = Statement.from_text(note.text)
    if statement.kind != "charter":
        raise MalformedError("charter", f"entry 0 is a {statement.kind}, not a charter")
    body = dict(statement.body)
    settings = parse_settings(body, statement.origin)
    return {
        "kind": "charter",
        "origin": statement.origin,
        "name": settings.name,
        "anchor": entry.leaf_hash().hex(),
        "signed_at": statement.signed_at,
        "logged_at": entry.logged_at,
        "operator": body.get("operator"),
        "members": body.get("members", []),
        "observers": body.get("observers", []),
        "signed_by": _signers(note, body),
        "withdrawal_notice": settings.withdrawal_notice,
        "signed_at_skew": settings.signed_at_skew,
        "witness_lag": settings.witness_lag,
        "categories": {name: category.to_json() for name, category in sorted(settings.categories.items())},
    }


def _render_charter(d: dict[str, Any]) -> Iterable[str]:
    yield f"{d['name']} ({d['origin']}), founded at {d['logged_at']}"
    yield f"trust anchor {d['anchor']} (the charter entry's leaf hash: verifiers pin it with --anchor)"
    yield f"operator  {VerifierKey.from_text(d['operator']).label}"
    for role in ("members", "observers"):
        for founder in d[role]:
            extra = f" [{', '.join(founder['affiliations'])}]" if founder.get("affiliations") else ""
            yield f"{role[:-1]:<9} {founder['id']}: {founder['name']}{extra}"
    yield f"signed by {', '.join(d['signed_by']) or 'nobody'}"
    yield f"withdrawal notice {d['withdrawal_notice']}, signed_at skew {d['signed_at_skew']}, witness lag {d['witness_lag']}"
    for name, category in d["categories"].items():
        yield f"  {name:<20} {category['procedure']}, min period {category['min_period']}"


@charter.command("show")
@click.option("--bundle", "bundle_path", type=click.Path(exists=True), help="Show the charter of a bundle (file or directory) instead of a store's.")
@store_option
@json_option
@pass_session
def show(session: Session, bundle_path: str | None, as_json: bool) -> None:
    """Show a ledger's charter: its members and settings, who signed it, and its trust anchor.

    \b
    Example, a delegation checking the anchor it was given:
      accord charter show --bundle ledger.tar
    """
    entry: Entry | None
    if bundle_path is not None:
        with Bundle(bundle_path) as bundle:
            if bundle.manifest.first != 0:
                raise MalformedError("bundle", f"starts at entry {bundle.manifest.first}: the charter is entry 0")
            entry = Entry.from_bytes(next(iter(bundle.entries())))
    else:
        entry = next(iter(session.ledger().entries(0, 1)), None)
        if entry is None:
            raise StorageError("ledger", f"no ledger in {session.store_url}: create one with accord init")
    emit(charter_document(entry), as_json, _render_charter)


COMMANDS = [charter, init]
