"""Checking a receipt with nothing else: no store, no network."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import click

from cli.audit_cmd import policy_option, with_witnesses
from cli.options import VERIFIER_KEY, emit, json_option, read_text
from ledger.errors import AccordError, VerificationError
from ledger.keys import VerifierKey
from ledger.note import Note
from ledger.policy import Policy
from ledger.receipt import verify_receipt
from ledger.tlog_proof import TlogProof


def policy_cosigners(policy: Policy, log_key: VerifierKey, receipt_text: str) -> dict[str, int]:
    """The policy witnesses (name -> time) whose cosignatures on the receipt's checkpoint verify, once they meet its quorum."""
    if not policy.accepts_log(log_key):
        raise VerificationError("receipt", f"the policy lists no log with key {log_key.label}")
    try:
        return policy.check(Note.from_text(TlogProof.from_text(receipt_text).checkpoint_note))
    except AccordError as error:
        raise VerificationError("receipt", f"checkpoint: {error}") from error


@click.command("verify-receipt")
@click.argument("receipt", type=click.Path(exists=True, dir_okay=False))
@click.option("--statement", "statement_file", required=True, type=click.Path(exists=True, dir_okay=False), help="The signed statement as submitted.")
@click.option("--log-key", "log_key", required=True, type=VERIFIER_KEY, help="The operator's verifier key, or its .pub or key file.")
@with_witnesses
@policy_option
@json_option
def verify_receipt_command(
    receipt: str, statement_file: str, log_key: VerifierKey, witnesses: list[VerifierKey], witness_quorum: int, policy: Policy | None, as_json: bool
) -> None:
    """Check that a receipt proves the statement in FILE is in the log, under a checkpoint the operator signed.

    Without --witness-quorum every named witness must have cosigned. With
    --policy, the checkpoint must carry the cosignatures of the policy's quorum.

    \b
    Example, a delegation checking the receipt of its vote:
      accord verify-receipt vote.proof --statement vote.json --log-key operator.vkey --witness "$FR"
    """
    text = read_text(receipt)
    proven = verify_receipt(text, read_text(statement_file), log_key, witnesses, witness_quorum)
    witnessed = None if policy is None else policy_cosigners(policy, log_key, text)
    document: dict[str, Any] = {
        "kind": "receipt-verification",
        "ok": True,
        "index": proven.entry.index,
        "logged_at": proven.entry.logged_at,
        "statement": {"kind": proven.statement.kind, "actor": proven.statement.actor, "signed_at": proven.statement.signed_at},
        "checkpoint": {"origin": proven.checkpoint.origin, "size": proven.checkpoint.size, "root": proven.checkpoint.root_hash.hex()},
        "cosigners": [key.label for key in proven.cosigners],
    }
    if witnessed is not None:
        document["policy"] = {"quorum": policy.quorum if policy else None, "cosigned": witnessed}

    def render(d: dict[str, Any]) -> Iterable[str]:
        s, c = d["statement"], d["checkpoint"]
        yield f"{s['kind']} by {s['actor']} is entry {d['index']} of {c['origin']}, logged at {d['logged_at']}"
        yield f"under the operator's checkpoint of size {c['size']}; {len(d['cosigners'])} witness cosignature(s) verified"
        if "policy" in d:
            yield f"the policy's quorum {d['policy']['quorum']} cosigned it ({', '.join(sorted(d['policy']['cosigned']))})"

    emit(document, as_json, render)


COMMANDS = [verify_receipt_command]
