"""A hostile log server: ``python -m tests.server.hostile UPSTREAM PORT MODE PATH``.

Answers every request as the real server at UPSTREAM does, except a GET of
PATH, which it answers as MODE says:

``oversize``  the upstream's answer and a mebibyte more, with a true Content-Length
``endless``   200 and a body with no length that never ends (until the client hangs up)
``drip``      200, a Content-Length of a full tile, and one byte every 50 ms

Every answer it makes is bounded in time (DRIP_FOR, ENDLESS_FOR) and the
process exits by itself after LIVES seconds, so no test can leave it behind.
"""

from __future__ import annotations

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

LIVES = 120.0
DRIP_FOR = 60.0
ENDLESS_FOR = 60.0
EXTRA = 1 << 20


def serve(upstream: str, port: int, mode: str, target: str) -> None:
    forward = httpx.Client(base_url=upstream, timeout=10)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: object) -> None:
            pass

        def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _proxied(self, method: str) -> httpx.Response:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            return forward.request(method, self.path, content=body, headers={"Content-Type": self.headers.get("Content-Type", "text/plain")})

        def do_POST(self) -> None:
            answer = self._proxied("POST")
            self._answer(answer.status_code, {"Content-Type": answer.headers.get("Content-Type", "text/plain")}, answer.content)

        def do_GET(self) -> None:
            if self.path != target:
                answer = self._proxied("GET")
                self._answer(answer.status_code, {"Content-Type": answer.headers.get("Content-Type", "text/plain")}, answer.content)
                return
            try:
                if mode == "oversize":
                    self._answer(200, {"Content-Type": "application/octet-stream"}, self._proxied("GET").content + b"\0" * EXTRA)
                elif mode == "endless":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    deadline = time.monotonic() + ENDLESS_FOR
                    while time.monotonic() < deadline:
                        self.wfile.write(b"\0" * 65_536)
                elif mode == "drip":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", "8192")
                    self.end_headers()
                    deadline = time.monotonic() + DRIP_FOR
                    while time.monotonic() < deadline:
                        self.wfile.write(b"\0")
                        self.wfile.flush()
                        time.sleep(0.05)
                else:
                    raise SystemExit(f"unknown mode {mode!r}")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client hung up: what it should do
            self.close_connection = True

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Timer(LIVES, server.shutdown).start()
    server.serve_forever()


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4])
