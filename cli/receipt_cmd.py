"""Checking a receipt with nothing else: no store, no network."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import click

from cli.audit_cmd import policy_option, with_witnesses
from cli.options import VERIFIER_KEY, emit, json_option, read_text
from domain.charter import DEFAULT_WITNESS_LAG, parse_duration
from ledger.errors import AccordError, MalformedError, VerificationError
from ledger.keys import VerifierKey
from ledger.note import Note
from ledger.policy import Policy
from ledger.receipt import ProvenEntry, verify_receipt
from ledger.tlog_proof import TlogProof
from projections.witnessed import WitnessedTime, sightings, trusted_witnesses


def receipt_log_key(policy: Policy | None, log_key: VerifierKey | None, receipt_text: str) -> VerifierKey:
    """The key the receipt's checkpoint must be signed by: ``--log-key``, else the policy's log of
    the checkpoint's origin. With both, the policy must list that key."""
    if log_key is not None:
        if policy is not None and not policy.accepts_log(log_key):
            raise VerificationError("receipt", f"the policy lists no log with key {log_key.label}")
        return log_key
    if policy is None or not policy.logs:
        raise click.UsageError("give the operator's key with --log-key (or a --policy that lists the log)")
    origin = TlogProof.from_text(receipt_text).checkpoint_note.split("\n", 1)[0]
    named = [log.key for log in policy.logs if log.key.name == origin]
    if not named:
        raise VerificationError("receipt", f"the policy lists no log of origin {origin[:80]!r}")
    if len(named) > 1:
        raise click.UsageError(f"the policy lists {len(named)} keys for the log {origin!r}: choose one with --log-key")
    return named[0]


def policy_cosigners(policy: Policy, receipt_text: str) -> dict[str, int]:
    """The policy witnesses (name -> time) whose cosignatures on the receipt's checkpoint verify, once they meet its quorum."""
    try:
        return policy.check(Note.from_text(TlogProof.from_text(receipt_text).checkpoint_note))
    except AccordError as error:
        raise VerificationError("receipt", f"checkpoint: {error}") from error


def check_witnessed_time(proven: ProvenEntry, receipt_text: str, policy: Policy | None, witnesses: Sequence[VerifierKey], quorum: int, lag: int) -> bool:
    """SPEC 12 on one receipt: the entry's logged_at is no later than witness_lag after any trusted
    witness cosigned the checkpoint holding it (forward dating). Backdating needs a checkpoint
    without the entry, which a receipt does not carry. Returns whether any witness was trusted."""
    trusted = trusted_witnesses(policy, witnesses, quorum)
    if trusted is None:
        return False
    try:
        seen = sightings([TlogProof.from_text(receipt_text).checkpoint_note], trusted)
        WitnessedTime(seen).check(proven.entry.index, proven.entry.logged_at_seconds, lag)
    except AccordError as error:
        raise VerificationError("receipt", str(error)) from error
    return True


def lag_seconds(ctx: click.Context, param: click.Parameter, value: str) -> int:
    try:
        return parse_duration(value, "--witness-lag")
    except MalformedError as error:
        raise click.BadParameter(error.problem) from None


@click.command("verify-receipt")
@click.argument("receipt", type=click.Path(exists=True, dir_okay=False))
@click.option("--statement", "statement_file", required=True, type=click.Path(exists=True, dir_okay=False), help="The signed statement as submitted.")
@click.option("--log-key", "log_key", type=VERIFIER_KEY, help="The operator's verifier key, or its .pub or key file (default: the --policy's log of the receipt's origin).")
@with_witnesses
@policy_option
@click.option(
    "--witness-lag", "witness_lag", default=DEFAULT_WITNESS_LAG, show_default=True, callback=lag_seconds, metavar="DURATION",
    help="The charter's witness_lag: with --policy or --witness, logged_at may be at most this much after a witness cosigned the entry.",
)
@json_option
def verify_receipt_command(
    receipt: str, statement_file: str, log_key: VerifierKey | None, witnesses: list[VerifierKey], witness_quorum: int, policy: Policy | None,
    witness_lag: int, as_json: bool,
) -> None:
    """Check that a receipt proves the statement in FILE is in the log, under a checkpoint the operator signed.

    Without --witness-quorum every named witness must have cosigned. With
    --policy, the checkpoint must carry the cosignatures of the policy's quorum,
    and be signed by the policy's log. With either, witnessed time holds: the
    entry's logged_at is at most --witness-lag after a trusted witness cosigned it.

    \b
    Example, a delegation checking the receipt of its vote:
      accord verify-receipt vote.proof --statement vote.json --log-key operator.vkey --witness "$FR"
    """
    text = read_text(receipt)
    key = receipt_log_key(policy, log_key, text)
    proven = verify_receipt(text, read_text(statement_file), key, witnesses, witness_quorum)
    witnessed = None if policy is None else policy_cosigners(policy, text)
    timed = check_witnessed_time(proven, text, policy, witnesses, witness_quorum, witness_lag)
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
    if timed:
        document["witness_lag"] = witness_lag

    def render(d: dict[str, Any]) -> Iterable[str]:
        s, c = d["statement"], d["checkpoint"]
        yield f"{s['kind']} by {s['actor']} is entry {d['index']} of {c['origin']}, logged at {d['logged_at']}"
        yield f"under the operator's checkpoint of size {c['size']}; {len(d['cosigners'])} witness cosignature(s) verified"
        if "policy" in d:
            yield f"the policy's quorum {d['policy']['quorum']} cosigned it ({', '.join(sorted(d['policy']['cosigned']))})"
        if "witness_lag" in d:
            yield f"logged_at is within witness_lag {d['witness_lag']} s of the witnesses' times"

    emit(document, as_json, render)


COMMANDS = [verify_receipt_command]
