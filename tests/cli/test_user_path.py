"""What a new user meets (issue 13): safe defaults, reads without side effects, errors a script can read."""

from __future__ import annotations

import socket

from tests.cli.conftest import one_line_error


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_postgres_down_a_read_fails_with_one_line() -> None:
    """Item 7: a refused connection is one line at once, not 'couldn't get a connection after 30.00 sec'."""
    port = _free_port()
    url = f"postgresql://postgres@127.0.0.1:{port}/accord"
    one_line_error(
        "status", "--store", url,
        message=f'accord: store: cannot connect to {url}: connection failed: connection to server at "127.0.0.1", port {port} failed: Connection refused',
    )
