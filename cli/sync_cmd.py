"""A delegation's verified mirror of a log server: ``accord sync``.

The mirror fetches the server's checkpoint, checks with the hash tiles that
it extends the checkpoint the mirror holds (else writes equivocation
evidence and changes nothing), fetches the new entries from the entry
bundles, and imports them exactly as ``accord import`` does a bundle: every
new entry audited as ``verify`` does, then appended with its view rows, one
transaction a chunk. A sync killed at any point leaves a mirror of verified
entries, and the next sync continues from its head.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from cli.audit_cmd import counting, pinned, verifier_option, with_witnesses, workers_for
from cli.options import Session, log_option, output_path, pass_session, store_option, write_atomically
from ledger.bundle import Manifest, write_bundle
from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.errors import VerificationError
from ledger.evidence import build_evidence
from ledger.keys import VerifierKey
from ledger.merkle import consistency_plan, root_plan
from ledger.note import Note
from ledger.store import LogStore
from projections.audit import operator_keys
from projections.exchange import import_bundle
from projections.ledger import Ledger
from server.client import LogClient


def check_extends(ledger: Ledger, client: LogClient, note_text: str, evidence_path: str) -> None:
    """Refuse a server checkpoint that is not consistent with the mirror's, writing the evidence."""
    held = ledger.log.latest_checkpoint()
    keys = operator_keys(ledger.state())
    if held is None or not keys:
        return  # an empty mirror: the import pins the charter by the anchor
    operator = keys[-1]
    theirs, _ = open_checkpoint(note_text, operator)
    ours = Checkpoint.from_text(held.text)
    if theirs.size < ours.size:
        raise VerificationError("sync", f"the log's checkpoint of size {theirs.size} is older than the mirror's of size {ours.size}")
    tree = client.tree(theirs.size)
    if theirs.size and root_plan(theirs.size).rehash(tree.read_nodes(root_plan(theirs.size).ids))[0] != theirs.root_hash:
        raise VerificationError("sync", f"the log's hash tiles do not add up to its checkpoint's root at size {theirs.size}")
    if ours.size == 0:
        return
    plan = root_plan(ours.size)
    prefix_root = plan.rehash(tree.read_nodes(plan.ids))[0]
    if prefix_root == ours.root_hash:
        return

    def prefix(size1: int, size2: int) -> tuple[bytes, list[bytes]]:
        proof_plan = consistency_plan(size1, size2)
        return prefix_root, proof_plan.rehash(tree.read_nodes(proof_plan.ids))

    write_atomically(evidence_path, build_evidence(held.to_text(), note_text, operator, prefix))
    raise VerificationError(
        "sync", f"the log's checkpoint of size {theirs.size} does not extend the mirror's of size {ours.size}: equivocation evidence written to {evidence_path}"
    )


@click.command()
@log_option
@store_option
@click.option("--anchor", metavar="HASH", help="The pinned trust anchor: the charter's leaf hash (required for an empty mirror).")
@click.option("--evidence", "evidence_path", default="equivocation.json", show_default=True, type=click.Path(dir_okay=False), callback=output_path, help="Where to write the evidence if the log equivocates.")
@with_witnesses
@verifier_option
@pass_session
def sync(session: Session, anchor: str | None, evidence_path: str, witnesses: list[VerifierKey], witness_quorum: int, verifier: str) -> None:
    """Bring the mirror in --store up to the log server's checkpoint, verifying every new entry.

    \b
    Example:
      accord sync --log https://log.accord.example --store sqlite:///mirror.db --anchor 4f2a...e1
    """
    if session.log_url is None:
        raise click.UsageError("give the log server with --log URL")
    if anchor is None and not LogStore.exists(session.store_url):
        raise VerificationError("import", "the local copy is empty: pin the charter with --anchor")
    ledger = session.ledger(create=True)  # an empty mirror is where a delegation starts
    with LogClient(session.log_url) as client:
        note_text, size = client.checkpoint_size()
        check_extends(ledger, client, note_text, evidence_path)
        local = ledger.log.size
        if size <= local:
            click.echo(f"the mirror holds {local} entries; the log's checkpoint covers {size}: nothing new")
            return
        origin = Checkpoint.from_text(Note.from_text(note_text).text).origin
        with tempfile.TemporaryDirectory() as spool:
            bundle = Path(spool) / "fetched"
            write_bundle(bundle, Manifest(origin, local, size), client.entries(local, size), note_text)
            total = size - local
            with counting(total, "syncing") as tick:
                done = import_bundle(
                    ledger, bundle, pinned(anchor) if anchor else None, witnesses, witness_quorum, tick,
                    workers=workers_for(total), verifier=verifier,
                )
    click.echo(f"verified and appended {done.appended} entries from {session.log_url}; the mirror now holds {ledger.log.size}")


COMMANDS = [sync]
