"""Checkpoints, witnesses, receipts, verification and rebuilding the views."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from cli.acting import founded, write_or_print
from cli.options import (
    Session,
    emit,
    json_option,
    key_option,
    pass_session,
    passphrase_env_option,
    progress,
    read_text,
    store_option,
    write_atomically,
)
from domain.state import MEMBER, OBSERVER
from ledger.checkpoint import cosign as cosign_checkpoint, open_checkpoint
from ledger.errors import ProofError, SignatureError, VerificationError
from ledger.keys import COSIGNATURE_V1, VerifierKey
from ledger.merkle import verify_consistency
from projections.audit import ViewCheck, check_checkpoint, checkpoint_size, operator_keys, replay


@click.command()
@click.option("--sign", "publish", is_flag=True, help="Sign and publish a checkpoint of the current head first.")
@click.option("--operator-key", envvar="ACCORD_OPERATOR_KEY", type=click.Path(exists=True, dir_okay=False), help="The operator's key file (with --sign).")
@click.option("--operator-passphrase-env", default="ACCORD_OPERATOR_PASSPHRASE", show_default=True, metavar="NAME")
@store_option
@pass_session
def checkpoint(session: Session, publish: bool, operator_key: str | None, operator_passphrase_env: str) -> None:
    """Print the latest signed checkpoint (with its cosignatures).

    \b
    Example:
      accord checkpoint --sign --operator-key operator.key > checkpoint.txt
    """
    log = session.ledger().log
    if publish:
        if operator_key is None:
            raise click.UsageError("--sign needs --operator-key (or ACCORD_OPERATOR_KEY)")
        log.publish_checkpoint(session.signer(operator_key, operator_passphrase_env))
    latest = log.latest_checkpoint()
    if latest is None:
        raise ProofError("checkpoint", "none published yet: the operator signs one with accord checkpoint --sign")
    click.echo(latest.to_text(), nl=False)


@click.command()
@key_option
@passphrase_env_option
@click.option("--state", "state_file", type=click.Path(dir_okay=False), help="What this witness cosigned last (default: KEYFILE.witness).")
@store_option
@pass_session
def cosign(session: Session, key_file: str, passphrase_env: str, state_file: str | None) -> None:
    """Cosign the latest checkpoint as a witness, after checking it extends what you cosigned before.

    \b
    Example:
      accord cosign --key fr.key
    """
    state = founded(session)
    log = session.ledger().log
    signer = session.signer(key_file, passphrase_env)
    witness = signer.name[len(state.origin) + 1 :] if signer.name.startswith(state.origin + "/") else None
    actor = state.actors.get(witness or "")
    if actor is None or actor.role not in (MEMBER, OBSERVER) or signer.verifier_key() not in actor.valid_keys():
        raise SignatureError("cosign", f"{signer.name} is not a valid key of a member or observer of this ledger")
    latest = log.latest_checkpoint()
    if latest is None:
        raise ProofError("cosign", "no checkpoint to cosign yet")
    current = None
    for key in reversed(operator_keys(state)):
        try:
            current = open_checkpoint(latest.to_text(), key)[0]
            break
        except SignatureError:
            continue
    if current is None:
        raise SignatureError("cosign", "the latest checkpoint is not signed by the operator")
    memory = Path(state_file or f"{key_file}.witness")
    if memory.exists():
        before = json.loads(memory.read_text(encoding="utf-8"))
        size, root = before["size"], bytes.fromhex(before["root"])
        if current.size < size:
            raise ProofError("cosign", f"checkpoint of size {current.size} is older than the size {size} cosigned before")
        proof = log.consistency_proof(size, current.size) if size else []
        try:
            if size:
                verify_consistency(size, current.size, root, current.root_hash, proof)
        except ProofError as error:
            raise ProofError("cosign", f"checkpoint of size {current.size} is not consistent with size {size} cosigned before: {error.problem}") from error
    line = cosign_checkpoint(latest, signer, log.clock())
    log.add_cosignature(line, signer.cosigner_key())
    write_atomically(memory, json.dumps({"origin": current.origin, "size": current.size, "root": current.root_hash.hex()}) + "\n")
    click.echo(f"cosigned checkpoint of size {current.size} as {signer.cosigner_key().label}")


def _entry_index(session: Session, item: str) -> int:
    if item.isdigit():
        return int(item)
    from projections.queries import View

    view = View(session.ledger())
    found = {"P": lambda: view.proposal(item), "D": lambda: view.decision(item), "A": lambda: view.appeal(item)}.get(item[:1])
    document = found() if found is not None and item[1:2] == "-" else None
    if document is None:
        raise click.BadParameter(f"want an entry index, P-n, D-n or A-n on this ledger, got {item!r}", param_hint="INDEX|ID")
    return int(document.get("submitted", document.get("adopted", document.get("filed"))))


@click.command()
@click.argument("item", metavar="INDEX|ID")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the proof here instead of stdout.")
@store_option
@pass_session
def prove(session: Session, item: str, out: str | None) -> None:
    """Write a C2SP tlog-proof of an entry (or of a proposal's submission, a decision's adoption, an appeal's filing).

    \b
    Example:
      accord prove D-2 --out d2.proof
    """
    write_or_print(out, session.ledger().log.receipt(_entry_index(session, item)).to_text())


def as_witness_key(key: VerifierKey) -> VerifierKey:
    """A witness key in its cosignature/v1 form: a member's Ed25519 verifier key is accepted too."""
    return key if key.sig_type == COSIGNATURE_V1 else VerifierKey(key.name, COSIGNATURE_V1, key.public)


@click.command()
@click.option("--anchor", required=True, metavar="HASH", help="The pinned trust anchor: the charter's leaf hash (hex).")
@click.option("--checkpoint", "checkpoint_file", type=click.Path(exists=True, dir_okay=False), help="Check against this checkpoint (default: the latest stored).")
@click.option("--witness", "witnesses", multiple=True, metavar="VKEY", help="A witness's verifier key, Ed25519 or cosignature form (repeatable).")
@click.option("--witness-quorum", type=click.IntRange(min=0), default=0, show_default=True, help="How many of the witnesses must have cosigned.")
@store_option
@json_option
@pass_session
def verify(session: Session, anchor: str, checkpoint_file: str | None, witnesses: tuple[str, ...], witness_quorum: int, as_json: bool) -> None:
    """Replay the whole log from its charter and check every entry, the root, the checkpoint and the views.

    \b
    Example:
      accord verify --anchor 4f2a...e1 --witness accord.example/european-security/fr+bb36bf23+BO1J... --witness-quorum 1
    """
    try:
        pinned = bytes.fromhex(anchor)
    except ValueError:
        raise click.BadParameter("want the charter's leaf hash in hex", param_hint="--anchor") from None
    witness_keys = [as_witness_key(VerifierKey.from_text(text)) for text in witnesses]
    ledger = session.ledger()
    size = ledger.log.size
    if checkpoint_file is not None:
        note_text = read_text(checkpoint_file)
    else:
        latest = ledger.log.latest_checkpoint()
        note_text = latest.to_text() if latest is not None else ""
    if not note_text:
        raise VerificationError("checkpoint", "none to verify against: publish one with accord checkpoint --sign")
    views = ViewCheck()
    with progress(size, "verifying") as advance:

        def judged(before: Any, entry: Any, after: Any) -> None:
            views(before, entry, after)
            advance(1)

        stored = (entry.data for entry in ledger.store.entries())
        done = replay(stored, pinned, roots_at=[checkpoint_size(note_text)], on_entry=judged)
    checked, cosigners = check_checkpoint(note_text, done, witness_keys, witness_quorum)
    ledger.update_views()
    views.compare(ledger.views)
    document = {
        "kind": "verification",
        "ok": True,
        "entries": done.size,
        "anchor": pinned.hex(),
        "checkpoint": {"size": checked.size, "root": checked.root_hash.hex()},
        "cosigners": [key.label for key in cosigners],
    }

    def render(d: dict[str, Any]) -> Iterable[str]:
        yield f"verified {d['entries']} entries from the charter (anchor {d['anchor'][:16]}...): every index, time, signature, key and rule holds"
        yield f"root at size {d['checkpoint']['size']} matches the operator's checkpoint; {len(d['cosigners'])} witness cosignature(s) verified"
        yield "the stored views equal the views rebuilt from the log"

    emit(document, as_json, render)


@click.command()
@store_option
@pass_session
def rebuild(session: Session) -> None:
    """Forget the stored views and fold them again from entry 0.

    \b
    Example:
      accord rebuild --store postgresql://accord@db.example/accord
    """
    size = session.ledger().rebuild()
    click.echo(f"views rebuilt from {size} entries")


COMMANDS = [checkpoint, cosign, prove, verify, rebuild]
