"""Signing and submitting: the path every writing command takes."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Concatenate, TypedDict, Unpack

import click

from cli.options import (
    P,
    R,
    Session,
    key_option,
    log_option,
    output_path,
    pass_session,
    operator_passphrase_option,
    passphrase_env_option,
    speaker,
    store_option,
    write_atomically,
)
from domain import commands
from domain.rules import check_statement
from domain.state import LedgerState
from ledger.checkpoint import Checkpoint
from ledger.entry import Entry
from ledger.errors import AccordError, MalformedError, StorageError
from ledger.keys import Signer
from ledger.log import wall_clock
from ledger.note import Note, sign_note
from ledger.receipt import dated
from ledger.statement import Statement, check_actor_id
from ledger.timefmt import format_time

operator_key_option = click.option(
    "--operator-key",
    envvar="ACCORD_OPERATOR_KEY",
    type=click.Path(exists=True, dir_okay=False),
    help="The operator's key file: publish a checkpoint after appending (env ACCORD_OPERATOR_KEY).",
)
receipt_option = click.option(
    "--receipt", type=click.Path(dir_okay=False), callback=output_path, help="Write the entry's receipt (C2SP tlog-proof) here."
)

Build = Callable[[LedgerState, str, str, int], Statement]
"""Makes a statement from the state, the actor, its signed_at and the clock's now (a close carries the outcome)."""


class SubmitOptions(TypedDict, total=False):
    """The options ``acting`` adds beside the key (``--operator-key``, ``--operator-passphrase-env``, ``--receipt``)."""

    operator_key: str | None
    operator_passphrase_env: str
    receipt: str | None


def acting(command: Callable[Concatenate[Session, P], R]) -> Callable[P, R]:
    """The options of every command that signs and submits one statement (with the session)."""
    for option in reversed((key_option, passphrase_env_option, store_option, log_option, operator_key_option, operator_passphrase_option, receipt_option)):
        command = option(command)
    return pass_session(command)


def founded(session: Session) -> LedgerState:
    """The rule state at the head (of the log server, with ``--log``); refuses a store that holds no ledger yet."""
    if session.log_url is not None:
        state = session.remote().state()
        if state is None:
            raise StorageError("ledger", f"no ledger at {session.log_url}: its operator creates one with accord init")
        return state
    state = session.ledger().state()
    if state is None:
        raise StorageError("ledger", f"no ledger in {session.store_url}: create one with accord init")
    return state


def submit_remote(session: Session, note_text: str, operator_key: str | None, receipt: str | None) -> tuple[Entry, LedgerState]:
    """Submit through the log server of ``--log``; write the checked receipt where asked."""
    if operator_key is not None:
        raise MalformedError("--operator-key", "with --log the server signs the checkpoints: give the operator's key to accord serve")
    entry, state, proof = session.remote().submit(note_text)
    if receipt is not None:
        write_atomically(receipt, dated(proof, entry).to_text(), public=True)
    return entry, state


def submit_note(
    session: Session,
    note_text: str,
    *,
    operator_key: str | None = None,
    operator_passphrase_env: str = "ACCORD_OPERATOR_PASSPHRASE",
    receipt: str | None = None,
) -> Entry:
    """Append a signed statement through the rules; publish a checkpoint and write a receipt when asked.

    With ``--log``, the statement goes to the log server, which checkpoints it."""
    if session.log_url is not None:
        return submit_remote(session, note_text, operator_key, receipt)[0]
    ledger = session.ledger()
    # The operator's key is opened first: a wrong passphrase must refuse before anything is appended.
    operator = None if operator_key is None else session.signer(operator_key, operator_passphrase_env)
    if operator is not None and ledger.log.size:
        ledger.check_operator(operator)
    entry = ledger.append([note_text])[0]
    if operator is not None:
        ledger.publish_checkpoint(operator)
    if receipt is not None:
        latest = ledger.log.latest_checkpoint()
        if latest is None or Checkpoint.from_text(latest.text).size <= entry.index:
            click.echo(
                f"accord: no checkpoint covers entry {entry.index} yet: the operator publishes one with "
                f"'accord checkpoint --sign', then 'accord prove {entry.index}' writes the receipt",
                err=True,
            )
        else:
            write_atomically(receipt, dated(ledger.log.receipt(entry.index), entry).to_text(), public=True)
    return entry


def act(
    session: Session,
    key_file: str,
    passphrase_env: str,
    kind: str,
    body: Mapping[str, Any] | None = None,
    *,
    extra_signers: Sequence[Signer] = (),
    build: Build | None = None,
    **submit_options: Unpack[SubmitOptions],
) -> tuple[Entry, LedgerState]:
    """Prepare, sign and submit one statement of ``kind`` as the key's actor.

    ``build(state, actor, signed_at, now)``, when given, makes the statement
    from the state (a close carries the outcome the rules will compute).
    Returns the entry and the rule state after it.
    """
    state = founded(session)
    signer = session.signer(key_file, passphrase_env)
    actor = speaker(signer, state.origin)
    now = wall_clock() if session.log_url is not None else session.ledger().log.clock()
    signed_at = format_time(now)
    if build is not None:
        statement = build(state, actor, signed_at, now)
    else:
        statement = commands.statement(state.origin, kind, actor, signed_at, body or {})
    note = sign_note(statement.to_text(), signer, *extra_signers)
    if session.log_url is not None:
        return submit_remote(session, note.to_text(), submit_options.get("operator_key"), submit_options.get("receipt"))
    entry = submit_note(session, note.to_text(), **submit_options)
    after = session.ledger().state()
    assert after is not None
    return entry, after


def key_speaker(signer: Signer) -> tuple[str, str]:
    """The origin and actor a member's key is named for (``<origin>/<actor>``), with no ledger at hand."""
    origin, slash, actor = signer.name.rpartition("/")
    if not slash or not origin:
        raise MalformedError("key", f"key {signer.name} names no actor: want a key named <origin>/<actor>")
    check_actor_id(actor, "key")
    return origin, actor


def sign_offline(signer: Signer, kind: str, body: Mapping[str, Any], signed_at: str | None = None) -> Note:
    """A statement of ``kind`` by the key's actor, checked as 'accord submit' will check it
    (all that needs no ledger), and signed: one step on an air-gapped machine."""
    origin, actor = key_speaker(signer)
    statement = commands.statement(origin, kind, actor, signed_at or format_time(int(time.time())), body)
    check_statement(statement)
    return sign_note(statement.to_text(), signer)


def read_note_or_statement(text: str) -> Note | Statement:
    """A signed note, or else an unsigned statement text (as ``accord prepare`` writes)."""
    try:
        return Note.from_text(text)
    except AccordError:
        return Statement.from_text(text)


def write_or_print(path: str | None, text: str, public: bool = False) -> None:
    if path is None or path == "-":
        click.echo(text, nl=False)
    else:
        write_atomically(Path(path), text, public)
