"""Equivocation evidence on the command line: made by hand, checked, and written by ``verify`` when the log forks."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from cli.options import VERIFIER_KEY, Session, output_path, pass_session, read_text, store_option, write_atomically
from ledger.errors import AccordError, VerificationError
from ledger.bundle import Bundle
from ledger.evidence import Prefix, build_evidence, check_evidence, prefix_from_leaves
from ledger.merkle import EMPTY_ROOT, consistency_plan, leaf_hash, root_plan
from ledger.keys import VerifierKey
from projections.audit import operator_keys
from projections.ledger import Ledger
from projections.witnessed import InconsistentCheckpoint

if TYPE_CHECKING:
    from server.client import LogClient


evidence_option = click.option(
    "--evidence", "evidence_file", default="equivocation.json", show_default=True, type=click.Path(dir_okay=False), callback=output_path,
    help="If a published checkpoint contradicts the log, the equivocation evidence is written here.",
)


def from_store(ledger: Ledger) -> Prefix:
    """The prefix root and proof from the store's tree."""
    return lambda size1, size2: (ledger.log.root_at(size1), ledger.log.consistency_proof(size1, size2))


def from_remote(client: LogClient, size: int) -> Prefix:
    """The prefix root and proof from a remote log's hash tiles at ``size``."""

    def prefix(size1: int, size2: int) -> tuple[bytes, Sequence[bytes]]:
        tree = client.tree(size)
        root = root_plan(size1).rehash(tree.read_nodes(root_plan(size1).ids))[0] if size1 else EMPTY_ROOT
        return root, consistency_plan(size1, size2).rehash(tree.read_nodes(consistency_plan(size1, size2).ids))

    return prefix


def from_bundle(path: str) -> Prefix:
    """The prefix root and proof from a second read of a bundle's entries (only when evidence is made)."""

    def prefix(size1: int, size2: int) -> tuple[bytes, Sequence[bytes]]:
        with Bundle(path) as bundle:
            if bundle.manifest.first:
                raise VerificationError("evidence", f"the bundle starts at entry {bundle.manifest.first}: the larger tree is needed from entry 0")
            return prefix_from_leaves((leaf_hash(data) for data in bundle.entries()), size1, size2)

    return prefix


@contextmanager
def equivocation_to(evidence_file: str, checkpoint_note: str, prefix: Prefix) -> Iterator[None]:
    """Turn an InconsistentCheckpoint raised inside into an evidence file against ``checkpoint_note``
    (the checkpoint verified), and fail naming the file."""
    try:
        yield
    except InconsistentCheckpoint as error:
        problem: AccordError = VerificationError("evidence", "no operator key known")
        for operator in reversed(error.operators):
            try:
                text = build_evidence(error.note_text, checkpoint_note, operator, prefix)
                break
            except AccordError as failed:
                problem = failed
        else:
            raise VerificationError(error.component, f"{error.problem}; no evidence could be made: {problem}") from error
        write_atomically(evidence_file, text, public=True)
        raise VerificationError(error.component, f"{error.problem}; evidence written to {evidence_file}") from error


@click.command()
@click.argument("first", metavar="CHECKPOINT_A", type=click.Path(exists=True, dir_okay=False))
@click.argument("second", metavar="CHECKPOINT_B", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False), callback=output_path, help="Where to write the evidence file.")
@click.option("--operator", "operator_key", type=VERIFIER_KEY, help="The operator's verifier key, .pub or key file (default: from the store's charter).")
@store_option
@pass_session
def evidence(session: Session, first: str, second: str, out: str, operator_key: VerifierKey | None) -> None:
    """Turn two signed checkpoints of one origin that are not consistent into portable evidence.

    When the sizes differ, the store must hold the larger checkpoint's tree.

    \b
    Example:
      accord evidence seen-by-fr.txt seen-by-pl.txt --out equivocation.json
    """
    ledger = session.ledger()
    if operator_key is not None:
        operator = operator_key
    else:
        state = ledger.state()
        keys = operator_keys(state)
        if not keys:
            raise click.UsageError("no ledger in the store to take the operator's key from: give --operator")
        operator = keys[-1]

    def prefix(size1: int, size2: int) -> tuple[bytes, list[bytes]]:
        if ledger.log.size < size2:
            raise VerificationError("evidence", f"the store holds {ledger.log.size} entries, not the size-{size2} tree")
        return ledger.log.root_at(size1), ledger.log.consistency_proof(size1, size2)

    text = build_evidence(read_text(first), read_text(second), operator, prefix)
    write_atomically(out, text, public=True)
    click.echo(f"equivocation proven; evidence written to {out}")


@click.command("check-evidence")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--operator", "operator_key", type=VERIFIER_KEY, help="Pin the operator's verifier key (or its .pub or key file).")
def check_evidence_command(file: str, operator_key: VerifierKey | None) -> None:
    """Check an equivocation evidence file: exit 0 if it proves the operator signed two inconsistent trees.

    \b
    Example:
      accord check-evidence equivocation.json --operator accord.example/european-security+1a2b3c4d+AQ...
    """
    proven = check_evidence(read_text(file), operator_key)
    small, large = proven.smaller, proven.larger
    if small.size == large.size:
        click.echo(f"equivocation by {proven.origin}: two roots signed for size {small.size}: {small.root_hash.hex()} and {large.root_hash.hex()}")
    else:
        click.echo(
            f"equivocation by {proven.origin}: the signed tree of size {large.size} has root {proven.prefix_root.hex()} at size {small.size}, "
            f"but the signed checkpoint of size {small.size} has {small.root_hash.hex()}"
        )


COMMANDS = [evidence, check_evidence_command]
