"""Auditing: verify a store or a bundle, carry bundles, rebuild the views."""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click

from cli.documents import Verification
from cli.options import (
    VERIFIER_KEY,
    R,
    Session,
    emit,
    json_option,
    log_option,
    operator_passphrase_option,
    output_path,
    pass_session,
    progress,
    read_text,
    store_option,
    write_atomically,
)
from domain.state import LedgerState
from ledger import ed25519
from ledger.bundle import Bundle
from ledger.checkpoint import Checkpoint
from ledger.entry import Entry
from ledger.errors import AccordError, VerificationError
from ledger.keys import COSIGNATURE_V1, VerifierKey
from ledger.policy import Policy
from ledger.statement import Statement
from projections.audit import Audit, Judged, Replay, ViewCheck, audit, checkpoint_size
from projections.checking import PARALLEL_FROM
from projections.exchange import export_bundle, import_bundle, published
from projections.witnessed import PolicyCheck, time_check
from cli.evidence_cmd import check_evidence_command, equivocation_to, evidence, evidence_option, from_bundle, from_remote, from_store


def workers_for(entries: int) -> int:
    """Worker processes for checking ``entries``: every core, once there are enough to pay for a pool."""
    return (os.cpu_count() or 1) if entries >= PARALLEL_FROM else 1


def as_witness_key(key: VerifierKey) -> VerifierKey:
    """A witness key in its cosignature/v1 form: a member's Ed25519 verifier key is accepted too."""
    return key if key.sig_type == COSIGNATURE_V1 else VerifierKey(key.name, COSIGNATURE_V1, key.public)


def pinned(anchor: str) -> bytes:
    try:
        value = bytes.fromhex(anchor)
    except ValueError:
        value = b""
    if len(value) != 32:
        raise click.BadParameter("want the charter's leaf hash: 64 hex digits", param_hint="--anchor")
    return value


verifier_option = click.option(
    "--verifier",
    type=click.Choice(sorted(ed25519.VERIFIERS)),
    default="libsodium",
    show_default=True,
    envvar="ACCORD_VERIFIER",
    help="Ed25519 implementation: libsodium (PyNaCl, the default, the writer's) or openssl (cryptography, the reference); both accept the same signatures.",
)
anchor_option = click.option("--anchor", required=True, metavar="HASH", help="The pinned trust anchor: the charter's leaf hash (hex).")
witness_options = (
    click.option("--witness", "witnesses", multiple=True, type=VERIFIER_KEY,
                 help="A witness's verifier key, Ed25519 or cosignature form, or its .pub or key file (repeatable)."),
    click.option(
        "--witness-quorum", type=click.IntRange(min=0), metavar="K",
        help="How many of the witnesses must have cosigned (default: every one named).",
    ),
)


def quorum_of(keys: Sequence[VerifierKey], quorum: int | None) -> int:
    """The cosignatures required: ``quorum`` if given, else one from every distinct witness named."""
    return len({key.label for key in keys}) if quorum is None else quorum


def read_policy(ctx: click.Context, param: click.Parameter, value: str | None) -> Policy | None:
    """A --policy FILE, parsed (strictly) before any work is done."""
    return None if value is None else Policy.from_text(read_text(value).encode("utf-8", "surrogateescape"))


policy_option = click.option(
    "--policy", type=click.Path(exists=True, dir_okay=False), callback=read_policy,
    help="A C2SP tlog-policy file: its quorum must have cosigned, and witnessed time bounds every logged_at.",
)


def with_witnesses(command: Callable[..., R]) -> Callable[..., R]:
    """--witness and --witness-quorum; the command gets ``witnesses`` as keys and ``witness_quorum`` resolved."""

    @functools.wraps(command)
    def resolved(*args: Any, witnesses: tuple[VerifierKey, ...], witness_quorum: int | None, **kwargs: Any) -> R:
        keys = [as_witness_key(key) for key in witnesses]
        return command(*args, witnesses=keys, witness_quorum=quorum_of(keys, witness_quorum), **kwargs)

    for option in reversed(witness_options):
        resolved = option(resolved)
    return resolved


def timed(watched: PolicyCheck | None, *then: Judged) -> Judged:
    """A replay hook: each entry's logged_at against the trusted witnesses' times (when any are), then ``then``."""

    def judged(before: LedgerState | None, entry: Entry, after: LedgerState, statement: Statement) -> None:
        if watched is not None:
            watched.on_entry(entry.index, entry.logged_at_seconds, after.settings.witness_lag_seconds)
        for hook in then:
            hook(before, entry, after, statement)

    return judged


@contextmanager
def counting(total: int, label: str) -> Iterator[Callable[..., None]]:
    """A replay hook that moves a progress bar (on a terminal only)."""
    with progress(total, label) as advance:
        yield lambda *_: advance(1)


def _summary(result: Audit, source: str) -> Verification:
    return {
        "kind": "verification",
        "ok": True,
        "source": source,
        "entries": result.replay.size,
        "checked_from": result.checked_from,
        "anchor": result.replay.anchor.hex(),
        "checkpoint": {"size": result.checkpoint.size, "root": result.checkpoint.root_hash.hex()},
        "cosigners": [key.label for key in result.cosigners],
    }


def _render(d: Verification) -> Iterable[str]:
    what = f"entries {d['checked_from']} to {d['entries'] - 1}" if d["checked_from"] else f"{d['entries']} entries from the charter"
    yield f"verified {what} of {d['source']} (anchor {d['anchor'][:16]}...): every index, time, signature, key and rule holds"
    yield f"root at size {d['checkpoint']['size']} matches the operator's checkpoint; {len(d['cosigners'])} witness cosignature(s) verified"
    if d.get("views"):
        yield "the stored views equal the views rebuilt from the log"
    if "policy" in d:
        yield f"the policy's quorum cosigned it ({', '.join(sorted(d['policy']))}) and every logged_at is within witness_lag of the witnesses' times"
    elif "witnessed_time" in d:
        yield f"every logged_at is within witness_lag of the times of the witnesses {', '.join(d['witnessed_time'])}"


@click.command()
@anchor_option
@click.option("--bundle", "bundle_path", type=click.Path(exists=True), help="Verify a bundle (file or directory) instead of a store: no database, no network.")
@click.option("--checkpoint", "checkpoint_file", type=click.Path(exists=True, dir_okay=False), help="Check against this checkpoint (default: the newest one held).")
@click.option("--since", "since_file", type=click.Path(exists=True, dir_okay=False), help="Continue from a verification saved with --save-state: only newer entries are checked.")
@click.option("--save-state", "save_file", type=click.Path(dir_okay=False), callback=output_path, help="Save what this run verified, to continue from it with --since.")
@with_witnesses
@policy_option
@evidence_option
@verifier_option
@store_option
@log_option
@json_option
@pass_session
def verify(session: Session, anchor: str, bundle_path: str | None, checkpoint_file: str | None, since_file: str | None,
           save_file: str | None, witnesses: list[VerifierKey], witness_quorum: int, policy: Policy | None, evidence_file: str,
           verifier: str, as_json: bool) -> None:
    """Replay the log from its charter (or from a saved point) and check every entry, the root, the checkpoint, the views.

    Exit 0 with a summary, or exit 1 naming the first bad entry and why.

    \b
    Example, a delegation verifying a bundle on an air-gapped laptop:
      accord verify --bundle ledger.tar --anchor 4f2a...e1 --witness accord.example/european-security/fr+5f61bde4+AR... --witness-quorum 1
    """
    root = pinned(anchor)
    since = Replay.from_text(read_text(since_file)) if since_file else None
    start = since.size if since else 0
    keys = witnesses
    if session.log_url is not None and bundle_path is None:
        from server.client import LogClient

        # A remote log, audited from its entry bundles and its published checkpoints without keeping a copy.
        with LogClient(session.log_url) as client:
            note, size = client.checkpoint_size()
            if checkpoint_file:
                note = read_text(checkpoint_file)
            total = size - start
            kept = client.kept(0, size)
            watched = time_check(policy, keys, witness_quorum, note, kept)
            with counting(total, "verifying") as tick, equivocation_to(evidence_file, note, from_remote(client, size)):
                result = audit(client.entries(start, size), root, note, witnesses=keys, quorum=witness_quorum, since=since,
                               on_entry=timed(watched, tick), workers=workers_for(total), verifier=verifier, kept=kept)
        document = _summary(result, session.log_url)
    elif bundle_path is not None:
        with Bundle(bundle_path) as bundle:
            if bundle.manifest.first > start:
                raise VerificationError("bundle", f"starts at entry {bundle.manifest.first}; this verification needs entries from {start}")
            note = read_text(checkpoint_file) if checkpoint_file else bundle.checkpoint_note
            # Only what a checkpoint covers is verified: entries past it are never read.
            stop = min(bundle.manifest.size, checkpoint_size(note))
            # Read to the end when it is covered, so that what trails the entries is refused too.
            entries: Iterable[bytes] = itertools.islice(bundle.entries(), start - bundle.manifest.first, None if stop == bundle.manifest.size else stop - bundle.manifest.first)
            total = stop - start
            watched = time_check(policy, keys, witness_quorum, note, bundle.kept)
            with counting(total, "verifying") as tick, equivocation_to(evidence_file, note, from_bundle(bundle_path)):
                result = audit(entries, root, note, witnesses=keys, quorum=witness_quorum, since=since, on_entry=timed(watched, tick),
                               workers=workers_for(total), verifier=verifier, kept=bundle.kept)
        document = _summary(result, bundle_path)
    else:
        ledger = session.ledger()
        latest = ledger.log.latest_checkpoint()
        note = read_text(checkpoint_file) if checkpoint_file else (latest.to_text() if latest else "")
        if not note:
            raise VerificationError("checkpoint", "none to verify against: the operator publishes one with accord checkpoint --sign")
        try:
            ledger.update_views()
        except AccordError:
            pass  # an entry the views cannot take: the replay names it with its index
        views = ViewCheck(ledger.views, start)
        total = ledger.log.size - start
        kept = published(ledger)
        watched = time_check(policy, keys, witness_quorum, note, kept)
        with counting(total, "verifying") as tick, equivocation_to(evidence_file, note, from_store(ledger)):
            entries = ledger.log.entry_data(start)
            result = audit(
                entries, root, note, witnesses=keys, quorum=witness_quorum, since=since,
                consistency_proof=ledger.log.consistency_proof, on_entry=timed(watched, views, tick), workers=workers_for(total), verifier=verifier,
                kept=kept,
            )
        views.finish(result.replay.size)
        document = _summary(result, session.store_url)
        document["views"] = True
    if watched is not None:
        document["witnessed_time"] = sorted(watched.policy.witnesses)
    if policy is not None and watched is not None:
        document["policy"] = watched.quorum(note)
    if save_file:
        write_atomically(save_file, result.replay.to_text())
    emit(document, as_json, _render)


@click.command("export")
@click.option("--out", required=True, type=click.Path(), callback=output_path, help="The bundle: a directory, or a single file ending in .tar (.tar.gz or .tgz: gzipped).")
@click.option("--from", "first", type=click.IntRange(min=0), default=0, show_default=True, help="First entry to include.")
@click.option(
    "--operator-key", envvar="ACCORD_OPERATOR_KEY", type=click.Path(exists=True, dir_okay=False),
    help="The operator's key file: sign a fresh checkpoint first when entries lie past the newest one (env ACCORD_OPERATOR_KEY).",
)
@operator_passphrase_option
@store_option
@pass_session
def export(session: Session, out: str, first: int, operator_key: str | None, operator_passphrase_env: str) -> None:
    """Write a bundle: the entries up to the newest checkpoint, and that checkpoint with its cosignatures.

    Entries past the newest checkpoint are not exported: with --operator-key a
    fresh checkpoint is signed first, without it a warning says how many are left out.

    \b
    Example:
      accord export --out ledger-2026-11.tar.gz --operator-key operator.key
    """
    ledger = session.ledger()
    latest = ledger.log.latest_checkpoint()
    covered = 0 if latest is None else Checkpoint.from_text(latest.text).size
    if covered < ledger.log.size and operator_key is not None:
        ledger.publish_checkpoint(session.signer(operator_key, operator_passphrase_env))
    elif covered < ledger.log.size and latest is not None:
        click.echo(
            f"accord: warning: entries {covered} to {ledger.log.size - 1} lie past the newest checkpoint and are not exported: "
            "give --operator-key, or sign one with accord checkpoint --sign",
            err=True,
        )
    manifest = export_bundle(ledger, out, first)
    click.echo(f"exported entries {manifest.first} to {manifest.size - 1} and the checkpoint of size {manifest.size} to {out}")


@click.command("import")
@click.argument("path", type=click.Path(exists=True))
@click.option("--anchor", metavar="HASH", help="The pinned trust anchor (required when the local copy is empty).")
@with_witnesses
@verifier_option
@store_option
@pass_session
def import_(session: Session, path: str, anchor: str | None, witnesses: list[VerifierKey], witness_quorum: int, verifier: str) -> None:
    """Verify a bundle and append only what extends the local copy; a contradicting bundle changes nothing.

    \b
    Example:
      accord import ledger-2026-11.tar --store sqlite:///delegation.db --anchor 4f2a...e1
    """
    ledger = session.ledger(create=True)  # an empty local copy is where a delegation's mirror starts
    with Bundle(path) as bundle:
        total = bundle.manifest.size - max(ledger.log.size, bundle.manifest.first)
        watched = time_check(None, witnesses, witness_quorum, bundle.checkpoint_note, [*bundle.kept, *published(ledger)])
    with counting(total, "importing") as tick:
        done = import_bundle(
            ledger, path, pinned(anchor) if anchor else None, witnesses, witness_quorum, timed(watched, tick),
            workers=workers_for(total), verifier=verifier,
        )
    click.echo(f"verified and appended {done.appended} entries; the local copy now holds {ledger.log.size}")


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


COMMANDS = [verify, export, import_, rebuild, evidence, check_evidence_command]
