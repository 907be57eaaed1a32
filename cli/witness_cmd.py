"""Checkpoints, witnesses, receipts, verification and rebuilding the views."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cli.acting import founded, write_or_print
from cli.witnessing import evidence_dir_option, offline_cosign
from cli.options import (
    Session,
    key_option,
    operator_passphrase_option,
    output_path,
    pass_session,
    passphrase_env_option,
    store_option,
    write_atomically,
)
from domain.state import MEMBER, OBSERVER
from ledger.checkpoint import cosign as cosign_checkpoint
from ledger.checkpoint import open_checkpoint
from ledger.errors import MalformedError, ProofError, SignatureError
from ledger.merkle import verify_consistency
from ledger.receipt import dated
from projections.audit import operator_keys


@click.command()
@click.option("--sign", "publish", is_flag=True, help="Sign and publish a checkpoint of the current head first.")
@click.option("--operator-key", envvar="ACCORD_OPERATOR_KEY", type=click.Path(exists=True, dir_okay=False), help="The operator's key file (with --sign).")
@operator_passphrase_option
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
        session.ledger().publish_checkpoint(session.signer(operator_key, operator_passphrase_env))
    latest = log.latest_checkpoint()
    if latest is None:
        raise ProofError("checkpoint", "none published yet: the operator signs one with accord checkpoint --sign")
    click.echo(latest.to_text(), nl=False)


def _cosigned_before(memory: Path) -> tuple[int, bytes]:
    """(size, root) of the checkpoint this witness cosigned last, from its state file."""
    try:
        before = json.loads(memory.read_text(encoding="utf-8"))
        size, root = int(before["size"]), bytes.fromhex(before["root"])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise MalformedError("cosign", f"witness state {memory} is unreadable ({type(error).__name__}): repair or remove it") from error
    if size < 1 or len(root) != 32:
        raise MalformedError("cosign", f"witness state {memory} holds no checkpoint (size {size}, root of {len(root)} bytes)")
    return size, root


@click.command()
@key_option
@passphrase_env_option
@click.option("--state", "state_file", type=click.Path(dir_okay=False), callback=output_path, help="What this witness cosigned last (default: KEYFILE.witness, or KEYFILE.witness.db with --checkpoint).")
@click.option("--checkpoint", "checkpoint_file", type=click.Path(exists=True, dir_okay=False), help="Offline: cosign this checkpoint note (or add-checkpoint request) file; no store.")
@click.option("--proof", "proof_file", type=click.Path(exists=True, dir_okay=False), help="With --checkpoint: the consistency proof (base64 lines) from the size cosigned last.")
@click.option("--log-key", "log_keys", multiple=True, metavar="VKEY", help="With --checkpoint: the log's verifier key (or its .pub or key file).")
@evidence_dir_option
@store_option
@pass_session
def cosign(session: Session, key_file: str, passphrase_env: str, state_file: str | None,
           checkpoint_file: str | None, proof_file: str | None, log_keys: tuple[str, ...], evidence_dir: str | None) -> None:
    """Cosign the latest checkpoint as a witness, after checking it extends what you cosigned before.

    With --checkpoint, offline: the same checks as accord witness serve makes,
    against its SQLite state, then the cosignature line is printed.

    \b
    Example:
      accord cosign --key fr.key
      accord cosign --checkpoint checkpoint.txt --log-key accord.example/european-security+1a2b3c4d+AQ... --key w1.key
    """
    if checkpoint_file is not None:
        if not log_keys:
            raise click.UsageError("--checkpoint needs --log-key")
        offline_cosign(session, key_file, passphrase_env, checkpoint_file, proof_file, log_keys, state_file or f"{key_file}.witness.db", evidence_dir)
        return
    if log_keys or proof_file or evidence_dir:
        raise click.UsageError("--log-key, --proof and --evidence-dir go with --checkpoint")
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
        size, root = _cosigned_before(memory)
        if current.size < size:
            raise ProofError("cosign", f"checkpoint of size {current.size} is older than the size {size} cosigned before")
        try:
            verify_consistency(size, current.size, root, current.root_hash, log.consistency_proof(size, current.size))
        except ProofError as error:
            raise ProofError("cosign", f"checkpoint of size {current.size} is not consistent with size {size} cosigned before: {error.problem}") from error
    line = cosign_checkpoint(latest, signer, log.clock())
    log.add_cosignature(line, signer.cosigner_key())
    write_atomically(memory, json.dumps({"origin": current.origin, "size": current.size, "root": current.root_hash.hex()}) + "\n")
    click.echo(f"cosigned checkpoint of size {current.size} as {signer.cosigner_key().label}")


def _entry_index(session: Session, item: str) -> int:
    # ASCII digits only: str.isdigit and int() also take Arabic-Indic, superscript and other digits.
    if item.isascii() and item.isdigit():
        return int(item)
    from projections.queries import View

    view = View(session.ledger())
    found = {"P": (view.proposal, "submitted"), "D": (view.decision, "adopted"), "A": (view.appeal, "filed")}.get(item[:1])
    document = found[0](item) if found is not None and item[1:2] == "-" else None
    if found is None or document is None:
        raise click.BadParameter(f"want an entry index, P-n, D-n or A-n on this ledger, got {item!r}", param_hint="INDEX|ID")
    return int(document[found[1]])


@click.command()
@click.argument("item", metavar="INDEX|ID")
@click.option("--out", type=click.Path(dir_okay=False), callback=output_path, help="Write the proof here instead of stdout.")
@store_option
@pass_session
def prove(session: Session, item: str, out: str | None) -> None:
    """Write a C2SP tlog-proof of an entry (or of a proposal's submission, a decision's adoption, an appeal's filing).

    \b
    Example:
      accord prove D-2 --out d2.proof
    """
    index = _entry_index(session, item)
    log = session.ledger().log
    write_or_print(out, dated(log.receipt(index), log.entry(index)).to_text(), public=True)


COMMANDS = [checkpoint, cosign, prove]
