"""The secretariat's server and its static twin: ``accord serve``, ``accord publish``."""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

import click

from cli.options import operator_passphrase_option
from cli.options import Session, load_signer, pass_session, read_text, store_option


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
@click.option("--policy", "policy_file", type=click.Path(exists=True, dir_okay=False), help="A C2SP tlog-policy file: publish each checkpoint only once its quorum of witnesses cosigned.")
@click.option("--queue", "max_pending", type=click.IntRange(min=1), default=4096, show_default=True, help="Submissions waiting at most; beyond, 429 with Retry-After.")
@pass_session
def serve(session: Session, operator_key: str, operator_passphrase_env: str, listen: tuple[str, int], batch_window: float, batch_size: int,
          policy_file: str | None, max_pending: int) -> None:
    """Serve the log over HTTP: C2SP tlog-tiles reads, POST /add, /status, /healthz, /openapi.json,
    and the public register's pages (/ is the register of binding decisions).

    \b
    Example:
      accord serve --store postgresql://accord@db.example/accord --operator-key operator.key --listen 127.0.0.1:8000
    """
    import uvicorn

    from server.app import Settings, build_app
    from server.pages.routes import page_routes

    operator = load_signer(operator_key, operator_passphrase_env)
    ledger = session.ledger()
    ledger.check_operator(operator)  # refused here, in one line, before the server starts
    session.close()
    settings = Settings(window=batch_window / 1000, max_batch=batch_size, max_pending=max_pending)
    if policy_file is None:
        app = build_app(session.store_url, operator, settings=settings, extra_routes=page_routes(session.store_url))
        stopping = None
    else:
        from ledger.policy import Policy
        from server.witnessing import Witnessing

        policy = Policy.from_text(read_text(policy_file).encode("utf-8", "surrogateescape"))
        if not policy.accepts_log(operator.verifier_key()):
            raise click.UsageError(f"the policy lists no log with the operator's key {operator.verifier_key().label}")
        witnessing = Witnessing(policy, session.store_url)
        witnessing.start()
        stopping = _once(witnessing.stop)
        app = build_app(session.store_url, operator, settings=settings, extra_routes=page_routes(session.store_url),
                        publish=witnessing.publish, cover=witnessing.publish_unless, health=witnessing.health, on_stop=stopping)
    host, port = listen
    click.echo(f"serving {operator.name} on http://{host}:{port}", err=True)
    # httptools parses requests in C and uvloop runs the loop in C: under load each takes a good
    # share of the per-request cost off the one core the handlers run on (bench serve.submit.*).
    loop = "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"
    run_server(uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_keep_alive=30, http="httptools", loop=loop), stopping)


def run_server(config: Any, stopping: Callable[[], None] | None) -> None:
    """Run uvicorn's server of ``config`` as ``uvicorn.run`` does, and ``stopping`` (in a thread of
    its own) as soon as it is told to exit.

    A receipt waits for the witnesses' quorum until the witnessing stops, and uvicorn shuts the app
    down (which stops the witnessing) only once every request in flight has been answered: with the
    witnesses down, SIGTERM never stopped the server. Stopped first, the witnessing refuses the
    waiting submissions (503), they are answered, and uvicorn goes on to shut down.
    """
    import uvicorn

    class Stopping(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            super().handle_exit(sig, frame)
            nonlocal stopping
            then, stopping = stopping, None
            if then is not None:
                threading.Thread(target=then, name="accord-stopping", daemon=True).start()

    server = Stopping(config)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    if not server.started:
        sys.exit(3)  # uvicorn.run's STARTUP_FAILURE, once uvicorn has said why


def _once(stop: Callable[[], None]) -> Callable[[], None]:
    """``stop``, which runs the first time it is called; later calls wait for that one to end."""
    lock = threading.Lock()
    done: list[bool] = []

    def once() -> None:
        with lock:
            if not done:
                done.append(True)
                stop()

    return once


@click.command()
@click.argument("directory", type=click.Path(file_okay=False), required=False)
@click.option("--html", "html", type=click.Path(file_okay=False), help="Also write the public register's pages (the same HTML accord serve shows) under this folder.")
@store_option
@pass_session
def publish(session: Session, directory: str | None, html: str | None) -> None:
    """Write the log's tile tree under DIRECTORY as static files, for any web host or CDN to serve.

    Only the tiles that are new since the last publish are written; the
    checkpoint is replaced last, atomically. With --html, the register's
    pages, entries, receipts and certificates are written too (DIRECTORY may
    then be left out).

    \b
    Example:
      accord publish /var/www/log --store sqlite:///accord.db
      accord publish --html /var/www/register --store sqlite:///accord.db
    """
    if directory is None and html is None:
        raise click.UsageError("publish: give DIRECTORY (the tiles), --html DIR (the pages), or both")
    if directory is not None:
        from server.tiles import publish as publish_tiles

        old, size, written = publish_tiles(session.ledger().store, directory)
        click.echo(f"published the tree of size {size} to {directory}: {written} file(s) written since size {old}")
    if html is not None:
        from server.pages.static import write_site

        files = write_site(session.ledger(), html)
        click.echo(f"published the register's pages to {html}: {files} file(s); open {html}/index.html")


COMMANDS = [serve, publish]
