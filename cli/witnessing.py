"""The witness's commands: ``accord witness serve`` (tlog-witness over HTTP) and offline cosigning."""

from __future__ import annotations

import time
from pathlib import Path

import click

from cli.options import VERIFIER_KEY, Session, key_option, pass_session, passphrase_env_option, read_text
from ledger.encoding import decode_base64
from ledger.errors import MalformedError
from ledger.keys import ED25519, VerifierKey
from ledger.witness import AddCheckpoint, WitnessRefusal
from ledger.witness_state import WitnessState


def log_key(text: str) -> VerifierKey:
    """A log's verifier key, given as text, a .pub file or a key file (whose first line names it)."""
    try:
        key = VERIFIER_KEY.convert(text, None, None)
    except click.BadParameter as error:
        raise MalformedError("--log-key", error.message) from None
    if key.sig_type != ED25519:
        raise MalformedError("--log-key", f"{key.label} has type 0x{key.sig_type:02x}, want a log's Ed25519 key (0x01)")
    return key


def log_keys_by_origin(texts: tuple[str, ...]) -> dict[str, list[VerifierKey]]:
    """Origin -> trusted keys: a log's checkpoint key is named by its origin."""
    keys: dict[str, list[VerifierKey]] = {}
    for text in texts:
        key = log_key(text)
        keys.setdefault(key.name, []).append(key)
    return keys


def listen_address(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, int]:
    host, colon, port = value.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"want HOST:PORT, got {value!r}")
    return host, int(port)


evidence_dir_option = click.option(
    "--evidence-dir", type=click.Path(file_okay=False, exists=True, writable=True),
    help="Where a log's fork is written as equivocation evidence (default: the directory of --state).",
)
log_key_option = click.option(
    "--log-key", "log_keys", multiple=True, required=True, metavar="VKEY",
    help="A log's checkpoint verifier key (or its .pub or key file); repeatable, one per log or key.",
)


@click.group()
def witness() -> None:
    """Run a C2SP tlog-witness for Accord logs.

    \b
    Example:
      accord witness serve --key w1.key --log-key operator.pub --state w1.db --listen 127.0.0.1:7380
    """


@witness.command()
@key_option
@passphrase_env_option
@log_key_option
@click.option("--state", "state_file", required=True, type=click.Path(dir_okay=False), help="The witness's SQLite state (created if missing).")
@click.option("--listen", required=True, callback=listen_address, metavar="HOST:PORT", help="Where to serve POST /add-checkpoint.")
@evidence_dir_option
@pass_session
def serve(
    session: Session, key_file: str, passphrase_env: str, log_keys: tuple[str, ...], state_file: str, listen: tuple[str, int], evidence_dir: str | None
) -> None:
    """Serve POST /add-checkpoint: cosign each checkpoint consistent with the one cosigned before.

    A log that forks is refused (409 or 422) and, when its request proves the
    fork, the two checkpoints become an equivocation evidence file in
    --evidence-dir, which accord check-evidence checks.

    \b
    Example:
      accord witness serve --key w1.key --log-key accord.example/european-security+1a2b3c4d+AQ... \\
        --state w1.db --listen 127.0.0.1:7380
    """
    import uvicorn

    from server.witness import witness_app

    signer = session.signer(key_file, passphrase_env)
    app = witness_app(WitnessState(state_file, evidence_dir=evidence_dir or Path(state_file).parent), log_keys_by_origin(log_keys), signer)
    host, port = listen
    click.echo(f"witness {signer.cosigner_key().to_text()} on http://{host}:{port}/add-checkpoint", err=True)
    # Longer than the log's client keeps an idle connection (server.witnessing.KEEPALIVE_SECONDS): the client, not the
    # witness, closes it, so a request never goes out on a connection the witness is closing.
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, timeout_keep_alive=75)


def offline_cosign(session: Session, key_file: str, passphrase_env: str, checkpoint_file: str, proof_file: str | None,
                   log_keys: tuple[str, ...], state_file: str, evidence_dir: str | None = None) -> None:
    """``accord cosign --checkpoint FILE``: the add-checkpoint checks against the local state, then print the line."""
    text = read_text(checkpoint_file)
    state = WitnessState(state_file, evidence_dir=evidence_dir or Path(state_file).parent)
    if text.startswith("old "):
        if proof_file is not None:
            raise click.UsageError("--proof is for a bare checkpoint; this file is an add-checkpoint request with its proof")
        request = AddCheckpoint.from_bytes(text.encode("utf-8"))
    else:
        origin = text.split("\n", 1)[0]
        last = state.last(origin)
        proof = [] if proof_file is None else [decode_base64(line, "--proof", f"line {n}") for n, line in enumerate(read_text(proof_file).splitlines(), 1)]
        request = AddCheckpoint(0 if last is None else last.size, tuple(proof), text)
    signer = session.signer(key_file, passphrase_env)
    try:
        accepted = state.cosign(request, log_keys_by_origin(log_keys), signer, lambda: int(time.time()))
    except WitnessRefusal as refusal:
        kept = "" if refusal.evidence is None else f"; equivocation evidence written to {refusal.evidence}"
        raise WitnessRefusal(refusal.status, f"refused ({refusal.status}): {refusal.problem}{kept}", refusal.size) from refusal
    finally:
        state.close()
    click.echo(accepted.cosignatures, nl=False)


COMMANDS = [witness]
