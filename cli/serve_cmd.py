"""The secretariat's server and its static twin: ``accord serve``, ``accord publish``."""

from __future__ import annotations

import click

from cli.acting import operator_passphrase_option
from cli.options import Session, load_signer, pass_session, store_option


def listen_address(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, int]:
    host, colon, port = value.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"want HOST:PORT such as 127.0.0.1:8000, got {value!r}")
    return host, int(port)


@click.command()
@store_option
@click.option("--operator-key", required=True, envvar="ACCORD_OPERATOR_KEY", type=click.Path(exists=True, dir_okay=False), help="The operator's key file: signs a checkpoint per batch.")
@operator_passphrase_option
@click.option("--listen", default="127.0.0.1:8000", show_default=True, callback=listen_address, metavar="HOST:PORT", help="Where to accept connections (TLS: a reverse proxy's job).")
@click.option("--batch-window", type=click.FloatRange(min=0), default=5.0, show_default=True, metavar="MS", help="Milliseconds a batch waits for more submissions after its first.")
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True, help="Most statements in one batch.")
@click.option("--queue", "max_pending", type=click.IntRange(min=1), default=4096, show_default=True, help="Submissions waiting at most; beyond, 429 with Retry-After.")
@pass_session
def serve(session: Session, operator_key: str, operator_passphrase_env: str, listen: tuple[str, int], batch_window: float, batch_size: int, max_pending: int) -> None:
    """Serve the log over HTTP: C2SP tlog-tiles reads, POST /add, /status, /healthz, /openapi.json.

    \b
    Example:
      accord serve --store postgresql://accord@db.example/accord --operator-key operator.key --listen 127.0.0.1:8000
    """
    import uvicorn

    from server.app import Settings, build_app

    operator = load_signer(operator_key, operator_passphrase_env)
    ledger = session.ledger()
    ledger.check_operator(operator)  # refused here, in one line, before the server starts
    session.close()
    app = build_app(session.store_url, operator, settings=Settings(window=batch_window / 1000, max_batch=batch_size, max_pending=max_pending))
    host, port = listen
    click.echo(f"serving {operator.name} on http://{host}:{port}", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_keep_alive=30)


@click.command()
@click.argument("directory", type=click.Path(file_okay=False))
@store_option
@pass_session
def publish(session: Session, directory: str) -> None:
    """Write the log's tile tree under DIRECTORY as static files, for any web host or CDN to serve.

    Only the tiles that are new since the last publish are written; the
    checkpoint is replaced last, atomically.

    \b
    Example:
      accord publish /var/www/log --store sqlite:///accord.db
    """
    from server.tiles import publish as publish_tiles

    old, size, written = publish_tiles(session.ledger().store, directory)
    click.echo(f"published the tree of size {size} to {directory}: {written} file(s) written since size {old}")


COMMANDS = [serve, publish]
