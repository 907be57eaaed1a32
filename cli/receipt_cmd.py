"""Checking a receipt with nothing else: no store, no network."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import click

from cli.audit_cmd import with_witnesses
from cli.options import VERIFIER_KEY, emit, json_option, read_text
from ledger.keys import VerifierKey
from ledger.receipt import verify_receipt


@click.command("verify-receipt")
@click.argument("receipt", type=click.Path(exists=True, dir_okay=False))
@click.option("--statement", "statement_file", required=True, type=click.Path(exists=True, dir_okay=False), help="The signed statement as submitted.")
@click.option("--log-key", "log_key", required=True, type=VERIFIER_KEY, help="The operator's verifier key, or its .pub or key file.")
@with_witnesses
@json_option
def verify_receipt_command(receipt: str, statement_file: str, log_key: VerifierKey, witnesses: list[VerifierKey], witness_quorum: int, as_json: bool) -> None:
    """Check that a receipt proves the statement in FILE is in the log, under a checkpoint the operator signed.

    Without --witness-quorum every named witness must have cosigned.

    \b
    Example, a delegation checking the receipt of its vote:
      accord verify-receipt vote.proof --statement vote.json --log-key operator.vkey --witness "$FR"
    """
    proven = verify_receipt(read_text(receipt), read_text(statement_file), log_key, witnesses, witness_quorum)
    document: dict[str, Any] = {
        "kind": "receipt-verification",
        "ok": True,
        "index": proven.entry.index,
        "logged_at": proven.entry.logged_at,
        "statement": {"kind": proven.statement.kind, "actor": proven.statement.actor, "signed_at": proven.statement.signed_at},
        "checkpoint": {"origin": proven.checkpoint.origin, "size": proven.checkpoint.size, "root": proven.checkpoint.root_hash.hex()},
        "cosigners": [key.label for key in proven.cosigners],
    }

    def render(d: dict[str, Any]) -> Iterable[str]:
        s, c = d["statement"], d["checkpoint"]
        yield f"{s['kind']} by {s['actor']} is entry {d['index']} of {c['origin']}, logged at {d['logged_at']}"
        yield f"under the operator's checkpoint of size {c['size']}; {len(d['cosigners'])} witness cosignature(s) verified"

    emit(document, as_json, render)


COMMANDS = [verify_receipt_command]
