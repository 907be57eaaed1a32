"""Decision certificates: write one from a store, check one with nothing else."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import click

from cli.audit_cmd import anchor_option, pinned, policy_option, with_witnesses
from cli.options import Session, emit, json_option, output_path, pass_session, read_text, store_option, write_atomically
from ledger.errors import MalformedError
from ledger.keys import VerifierKey
from ledger.policy import Policy
from ledger.timefmt import format_time
from projections.certificate import MAX_CERTIFICATE, build_certificate
from projections.certificate_check import verify_certificate
from projections.witnessed import Sighting


@click.command()
@click.argument("decision", metavar="D-n")
@click.option("--out", required=True, type=click.Path(dir_okay=False), callback=output_path, help="Where to write the certificate.")
@policy_option
@store_option
@pass_session
def certificate(session: Session, decision: str, out: str, policy: Policy | None) -> None:
    """Write a certificate proving binding decision D-n on its own.

    It holds the charter, the proposal, every vote that counted, the close,
    the entries that introduced the signing keys, their inclusion proofs and
    the newest cosigned checkpoint, and, for each counted vote and the close,
    the earliest kept checkpoint each witness cosigned holding it (with its
    consistency proof). With --policy it is checked as verify-certificate
    --policy will check it, and not written if that fails.

    \b
    Example:
      accord certificate D-2 --out d2.certificate --policy witnesses.policy
    """
    write_atomically(out, build_certificate(session.ledger(), decision, policy), public=True)
    click.echo(f"certificate of {decision} written to {out}")


def read_bounded(path: str, limit: int) -> str:
    """A file's text, refused before it is read when larger than ``limit`` bytes (memory stays bounded)."""
    try:
        size = os.stat(path).st_size
    except OSError as error:
        raise MalformedError("file", f"cannot read {path}: {error.strerror}") from error
    if size > limit:
        raise MalformedError("certificate", f"{path} is {size} bytes, want at most {limit}")
    return read_text(path)


def _witnessed(bound: Mapping[int, Mapping[str, Sighting]]) -> list[dict[str, Any]]:
    return [
        {"entry": index, "witnesses": {name: format_time(seen.time) for name, seen in sorted(by.items())}}
        for index, by in sorted(bound.items())
    ]


@click.command("verify-certificate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@anchor_option
@with_witnesses
@policy_option
@json_option
def verify_certificate_command(
    file: str, anchor: str, witnesses: list[VerifierKey], witness_quorum: int, policy: Policy | None, as_json: bool
) -> None:
    """Check a decision certificate with nothing else: no store, no network.

    With --policy (or --witness keys), the quorum must have cosigned its
    checkpoint, and each counted vote must have been in the log by the
    witnesses' time deadline + witness_lag (no carried entry forward- or
    backdated either).

    \b
    Example:
      accord verify-certificate d2.certificate --anchor 4f2a...e1 --policy witnesses.policy
    """
    proved = verify_certificate(read_bounded(file, MAX_CERTIFICATE), pinned(anchor), witnesses, witness_quorum, policy)
    document = {
        "kind": "certificate-verification",
        "ok": True,
        "decision": proved.decision,
        "proposal": proved.proposal,
        "title": proved.title,
        "category": proved.category,
        "procedure": proved.procedure,
        "tally": dict(proved.tally),
        "close": proved.close_index,
        "checkpoint": {"size": proved.checkpoint.size, "root": proved.checkpoint.root_hash.hex()},
        "cosigners": [key.label for key in proved.cosigners],
        **({"witnessed": _witnessed(proved.witnessed)} if proved.witnessed else {}),
    }

    def render(d: dict[str, Any]) -> Iterable[str]:
        t = d["tally"]
        yield f"{d['decision']} ({d['proposal']}, {d['category']}): {d['title']}"
        yield f"adopted by {d['procedure']} at entry {d['close']}: {t['approve']} approve, {t['object']} object, {t['abstain']} abstain, {t['silent']} silent"
        yield f"every entry is in the log under the operator's checkpoint of size {d['checkpoint']['size']}; {len(d['cosigners'])} witness cosignature(s)"
        if "witnessed" in d:
            votes = len(d["witnessed"]) - 1
            yield f"the witnesses' quorum saw the {votes} counted vote(s) in the log by deadline + witness_lag"

    emit(document, as_json, render)


COMMANDS = [certificate, verify_certificate_command]
