"""``accord serve --policy`` stops at the first SIGTERM or SIGINT even while a submission waits for witnesses
that are down (here: ports nothing listens on), answers it 503, and leaves the store whole.

Beside tests/witness/test_review_shutdown.py (SIGTERM, witness processes stopped): both signals, and
what the store holds afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from ledger.checkpoint import Checkpoint
from projections.ledger import Ledger
from tests.server.conftest import found
from tests.server.test_end_to_end import verified
from tests.witness.keys import witness_signer
from tests.witness.processes import accord_process, free_port, key_file

STOPPED_WITHIN = 30.0
"""A bound on the wait for the process (it only keeps the test from hanging), not a timing claim."""


def policy_with_witnesses_down(directory: Path, log_key: str) -> Path:
    """A policy of two witnesses (both needed) whose URLs are ports nothing listens on."""
    lines = [f"log {log_key}"]
    for name in ("w1", "w2"):
        lines.append(f"witness {name} {witness_signer(f'witness.test/{name}').cosigner_key().to_text()} http://127.0.0.1:{free_port()}")
    lines += ["group both all w1 w2", "quorum both"]
    path = directory / "policy.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_first_signal_stops_the_server_and_answers_the_waiting_add_503(tmp_path: Path, sig: signal.Signals) -> None:
    founded = found(f"sqlite:///{tmp_path / 'log.db'}", tmp_path)
    policy = policy_with_witnesses_down(tmp_path, founded.operator.verifier_key().to_text())
    port = free_port()
    server = accord_process(
        ["serve", "--store", founded.url, "--operator-key", str(key_file(tmp_path, "operator", founded.operator)), "--listen", f"127.0.0.1:{port}", "--policy", str(policy)],
        tmp_path, port, "server",
    )
    try:
        with ThreadPoolExecutor(1) as pool, httpx.Client(base_url=server.url, timeout=60) as client:
            waiting = pool.submit(client.post, "/add", content=founded.say("waits for the witnesses").encode())
            deadline = time.monotonic() + 30
            while httpx.get(server.url + "/status", timeout=10).json()["entries"] < 2:  # appended, its checkpoint waiting
                assert time.monotonic() < deadline and not waiting.done(), "the submission was never appended"
                time.sleep(0.1)
            assert not waiting.done()
            os.kill(server.popen.pid, sig)
            try:
                server.popen.wait(timeout=STOPPED_WITHIN)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"accord serve still runs {STOPPED_WITHIN} s after one signal") from None
            answer = waiting.result(10)
        # Answered before the connection closed: the signal stopped the witnessing, so the batch's
        # publishing step gave up and the receipt's wait ended with the refusal of SPEC 11.
        assert answer.status_code == 503, answer.text
        assert answer.text.startswith("accord: log: appended but no checkpoint was published: log: stopped before the witnesses cosigned: quorum both not met"), answer.text
        # uvicorn raises the signal again once stopped: the process ends by it, or exits 0 (SIGINT's KeyboardInterrupt).
        assert server.popen.returncode in (0, -sig), server.log.read_text()
        assert "Traceback" not in server.log.read_text(), server.log.read_text()
    finally:
        server.stop()
    # Nothing half-written: the entry is stored whole, the published checkpoint is still the
    # one the witnesses never got to (no uncosigned one published), and the log verifies.
    with Ledger.open(founded.url) as ledger:
        assert ledger.log.size == 2
        latest = ledger.log.latest_checkpoint()
        assert latest is not None and Checkpoint.from_text(latest.text).size == 1
    verified(founded.url)
