"""An honest log with a slow witness stays within witness_lag (SPEC 12): real processes, a 2-of-3
policy, one witness behind a proxy that holds every request; ``verify --policy`` of what they
made holds, from the store and from its bundle, and the slow witness's times are among those checked."""

from __future__ import annotations

import http.client
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ledger.note import Note
from ledger.policy import Policy
from projections.exchange import published
from projections.ledger import Ledger
from projections.witnessed import sightings
from tests.cli.conftest import invoke
from tests.witness.test_serve_policy import Deployment

DELAY = 2.0
"""Seconds the slow witness takes to answer: well within the deployment's witness_lag of 10 s."""
ROUNDS = 4


class SlowProxy:
    """Forwards POST /add-checkpoint to a witness after DELAY seconds (a thread of this test, on a free port)."""

    def __init__(self, target: int) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                time.sleep(DELAY)
                upstream = http.client.HTTPConnection("127.0.0.1", target, timeout=10)
                try:
                    self._forward(upstream, body)
                except OSError:
                    self.send_error(502)  # the witness stopped under it
                finally:
                    upstream.close()

            def _forward(self, upstream: http.client.HTTPConnection, body: bytes) -> None:
                upstream.request("POST", self.path, body=body, headers={"Content-Type": self.headers.get("Content-Type", "text/plain")})
                answer = upstream.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.getheader("Content-Type", "text/plain"))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def test_honest_log_with_a_slow_witness_verifies_within_witness_lag(tmp_path: Path) -> None:
    proxies: list[SlowProxy] = []

    def slow(name: str, port: int) -> int:
        if name != "w3":
            return port
        proxies.append(SlowProxy(port))
        return proxies[-1].port

    deployment = Deployment(tmp_path, route=slow)
    try:
        for round_ in range(ROUNDS):
            answer = deployment.submit(f"Round {round_}.")
            assert answer.status_code == 200, answer.text
            time.sleep(DELAY / 2)
        deadline = time.monotonic() + 30
        with Ledger.open(deployment.store) as ledger:
            # Idle now: the slow witness's answer on the latest checkpoint comes DELAY late and is kept with it.
            while time.monotonic() < deadline and "w3" not in {s.witness for s in sightings(published(ledger), deployment.policy)}:
                time.sleep(0.5)
            seen = sightings(published(ledger), deployment.policy)
            anchor = ledger.log.entry(0).leaf_hash().hex()
        assert "w3" in {s.witness for s in seen}, seen
    finally:
        deployment.stop()
        for proxy in proxies:
            proxy.stop()
    policy = str(tmp_path / "policy.txt")
    result = invoke(["verify", "--store", deployment.store, "--anchor", anchor, "--policy", policy])
    assert (result.exit_code, result.stderr) == (0, ""), result.stderr
    assert invoke(["export", "--store", deployment.store, "--out", str(tmp_path / "b.tar")]).exit_code == 0
    result = invoke(["verify", "--bundle", str(tmp_path / "b.tar"), "--anchor", anchor, "--policy", policy])
    assert (result.exit_code, result.stderr) == (0, ""), result.stderr
