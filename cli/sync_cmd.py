"""A delegation's verified mirror of a log server: ``accord sync``.

The mirror fetches the server's checkpoint (with ``--policy``, refused
unless the policy's quorum cosigned it), checks with the hash tiles that it
extends the checkpoint the mirror holds (else writes equivocation evidence
and changes nothing), fetches the new entries from the entry bundles (a few
bundles ahead of the one being read), and imports them exactly as ``accord
import`` does a bundle: every new entry audited as ``verify`` does (with
``--policy``, its ``logged_at`` also checked against the witnessed time of
every checkpoint the log published), then appended with its view rows and
the checkpoint in one transaction, together with every checkpoint the log
published since the mirror's (``GET /checkpoints``, compacted, each
checked against the tree at its size by the audit), in order of size: the
mirror keeps them with their cosignatures, and its export carries them.
Cosignatures that came late, on checkpoints the mirror holds, are kept
too. A sync killed at any point leaves a mirror of verified entries, and
the next sync continues from its head.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from cli.audit_cmd import counting, pinned, policy_option, timed, verifier_option, with_witnesses, workers_for
from cli.options import Session, log_option, output_path, pass_session, store_option, write_atomically
from ledger.bundle import Manifest, kept_from_bytes, kept_to_bytes
from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.errors import AccordError, SignatureError, VerificationError
from ledger.evidence import build_evidence
from ledger.keys import VerifierKey
from ledger.merkle import consistency_plan, root_plan
from ledger.note import Note
from ledger.policy import Policy
from ledger.published import compact
from ledger.store import AppendConflict, LogStore
from projections.audit import checkpoint_size, operator_keys
from projections.witnessed import time_check
from projections.exchange import import_bundle
from projections.ledger import Ledger

if TYPE_CHECKING:
    from server.client import LogClient  # imported by the command itself: httpx costs every other command 40 ms to start


@dataclass(frozen=True)
class Fetched:
    """The log's entries ``manifest.first`` up to its checkpoint, read as a bundle holds them but
    streamed from the server while they are audited (bundles fetched ahead of the one audited)."""

    client: LogClient
    manifest: Manifest
    checkpoint_note: str
    kept: tuple[str, ...]

    @classmethod
    def of(cls, client: LogClient, manifest: Manifest, checkpoint_note: str, kept: list[str]) -> Fetched:
        """Its published checkpoints checked as a bundle's are (each of its origin and within it)."""
        return cls(client, manifest, checkpoint_note, kept_from_bytes(kept_to_bytes(kept), manifest))

    def entries(self) -> Iterator[bytes]:
        return self.client.entries(self.manifest.first, self.manifest.size)


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


def check_quorum(policy: Policy, note_text: str, size: int) -> None:
    """Refuse the log's checkpoint unless the policy's quorum cosigned it (nothing is fetched or changed)."""
    try:
        policy.check(Note.from_text(note_text))
    except AccordError as error:
        raise VerificationError("sync", f"the log's checkpoint of size {size} is refused: {error}") from error


def keep_late(ledger: Ledger, kept: list[str], newest: str) -> int:
    """Store the published checkpoints of ``kept`` the mirror lacks at sizes it already holds (a
    cosignature that came late), once signed by the operator and matching the mirror's own tree;
    then ``newest`` again if it is no longer the latest. Returns how many were stored.

    What extends the mirror is stored by the import, with the entries, in order of size."""
    keys = operator_keys(ledger.state())
    held = {text for _, text in ledger.store.checkpoints()}
    stored = 0
    for text in kept:
        if text in held:
            continue
        checkpoint = _opened(text, keys)
        if checkpoint.size > ledger.log.size:
            continue
        if ledger.log.root_at(checkpoint.size) != checkpoint.root_hash:
            raise VerificationError("sync", f"the log also published size {checkpoint.size} with root {checkpoint.root_hash.hex()}, not the tree's: it equivocated")
        _add_checkpoint(ledger, text)
        held.add(text)
        stored += 1
    latest = ledger.log.latest_checkpoint()
    if stored and latest is not None and latest.to_text() != newest:
        _add_checkpoint(ledger, newest)
    return stored


def _opened(text: str, keys: list[VerifierKey]) -> Checkpoint:
    """The checkpoint of ``text`` once one of the operator's keys signed it."""
    for key in reversed(keys):
        try:
            return open_checkpoint(text, key)[0]
        except SignatureError:
            continue
    raise VerificationError("sync", "a checkpoint the log published is not signed by its operator")


def _add_checkpoint(ledger: Ledger, text: str) -> None:
    for _ in range(10):
        latest = ledger.store.latest_checkpoint()
        try:
            ledger.store.add_checkpoint(0 if latest is None else latest[0] + 1, text)
            return
        except AppendConflict:
            continue
    raise VerificationError("sync", "another writer keeps storing checkpoints in the mirror")


@click.command()
@log_option
@store_option
@click.option("--anchor", metavar="HASH", help="The pinned trust anchor: the charter's leaf hash (required for an empty mirror).")
@click.option("--evidence", "evidence_path", default="equivocation.json", show_default=True, type=click.Path(dir_okay=False), callback=output_path, help="Where to write the evidence if the log equivocates.")
@with_witnesses
@policy_option
@verifier_option
@pass_session
def sync(session: Session, anchor: str | None, evidence_path: str, witnesses: list[VerifierKey], witness_quorum: int, policy: Policy | None,
         verifier: str) -> None:
    """Bring the mirror in --store up to the log server's checkpoint, verifying every new entry,
    and keep every checkpoint the log published, with its cosignatures.

    With --policy, a checkpoint is taken only once the policy's quorum of
    witnesses cosigned it, and every new entry's logged_at must agree with
    the witnesses' times (SPEC 12).

    \b
    Example:
      accord sync --log https://log.accord.example --store sqlite:///mirror.db --anchor 4f2a...e1
    """
    if session.log_url is None:
        raise click.UsageError("give the log server with --log URL")
    if anchor is None and not LogStore.exists(session.store_url):
        raise VerificationError("import", "the local copy is empty: pin the charter with --anchor")
    from server.client import LogClient

    ledger = session.ledger(create=True)  # an empty mirror is where a delegation starts
    with LogClient(session.log_url) as client:
        note_text, size = client.checkpoint_size()
        if policy is not None:
            check_quorum(policy, note_text, size)
        check_extends(ledger, client, note_text, evidence_path)
        local = ledger.log.size
        held = ledger.log.latest_checkpoint()
        kept = compact(client.kept(0 if held is None else max(0, min(local, Checkpoint.from_text(held.text).size) - 1), size))
        if size <= local:
            keep_late(ledger, kept, note_text)
            click.echo(f"the mirror holds {local} entries; the log's checkpoint covers {size}: nothing new")
            return
        watched = time_check(policy, witnesses, witness_quorum, note_text, [*kept, *(text for _, text in ledger.store.checkpoints())])
        origin = Checkpoint.from_text(Note.from_text(note_text).text).origin
        fetched = Fetched.of(client, Manifest(origin, local, size), note_text, [text for text in kept if checkpoint_size(text) >= local])
        total = size - local
        with counting(total, "syncing") as tick:
            done = import_bundle(
                ledger, fetched, pinned(anchor) if anchor else None, witnesses, witness_quorum, timed(watched, tick),
                workers=workers_for(total), verifier=verifier,
            )
        keep_late(ledger, kept, note_text)
    click.echo(f"verified and appended {done.appended} entries from {session.log_url}; the mirror now holds {ledger.log.size}")


COMMANDS = [sync]
