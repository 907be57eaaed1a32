"""Review: ``accord serve --policy`` stops on SIGTERM while a submission waits for witnesses that
are down (never a hang; a killed command leaves nothing behind).

The receipt of a pending POST /add waits in Witnessing.publish until the quorum cosigns or the
witnessing stops; uvicorn runs the lifespan shutdown (which stops the witnessing) only once every
in-flight request has finished, and by default waits for them without limit: the server then
ignores SIGTERM for as long as the witnesses are down.
"""

from __future__ import annotations

import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.witness.test_serve_policy import Deployment

STOPS_WITHIN = 30.0
"""A bound on the wait for the server's exit (not a timing assertion: it only keeps the test from hanging)."""


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    made = Deployment(tmp_path)
    yield made
    made.stop()


def test_review_sigterm_stops_the_log_while_a_submission_waits_for_the_quorum(deployment: Deployment) -> None:
    assert deployment.submit("All three watch.").status_code == 200
    deployment.witnesses["w2"].stop()
    deployment.witnesses["w3"].stop()
    answers: list[object] = []

    def submit() -> None:
        try:
            answers.append(deployment.submit("Two witnesses are down.").status_code)
        except httpx.HTTPError as error:
            answers.append(type(error).__name__)

    waiting = threading.Thread(target=submit, daemon=True)
    waiting.start()
    waiting.join(timeout=3)
    assert answers == []  # the receipt waits for the quorum
    server = deployment.server.popen
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=STOPS_WITHIN)
    except subprocess.TimeoutExpired:
        pytest.fail(f"accord serve was still running {STOPS_WITHIN:g} s after SIGTERM: {deployment.server.log.read_text()[-2000:]}")
    waiting.join(timeout=STOPS_WITHIN)
    assert answers == [503], answers  # SPEC 11: witnesses unavailable, never a receipt without the quorum
    assert "Traceback" not in deployment.server.log.read_text(), deployment.server.log.read_text()
