"""A raw HTTP/1.1 exchange over a socket, for attacks an HTTP client library would not send."""

from __future__ import annotations

import socket
import time


def exchange(port: int, request: bytes, within: float = 10.0, shut: bool = False) -> bytes:
    """Send ``request`` raw to 127.0.0.1:``port`` and read the answer until the server closes or a whole response has come."""
    with socket.create_connection(("127.0.0.1", port), timeout=within) as connection:
        connection.sendall(request)
        if shut:
            connection.shutdown(socket.SHUT_WR)
        answer = b""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            head, _, body = answer.partition(b"\r\n\r\n")
            length = [line for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:")]
            if length and len(body) >= int(length[0].split(b":")[1]):
                break
            try:
                received = connection.recv(65_536)
            except TimeoutError:
                break
            if not received:
                break
            answer += received
        return answer
