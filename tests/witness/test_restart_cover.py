"""A restarted ``accord serve --policy`` covers what its predecessor appended without a published
checkpoint only through the witnesses (SPEC 12: a checkpoint is published only once the quorum
has cosigned it), never with the operator's signature alone.

A server stopped while a batch waited for the quorum leaves that batch appended and uncovered;
the next start used to publish an operator-only checkpoint of it at once.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx

from ledger.checkpoint import Checkpoint
from ledger.note import Note
from projections.ledger import Ledger
from tests.witness.test_serve_policy import Deployment

WAIT = 30.0
"""A bound on each wait below (it only keeps the test from hanging)."""


def published(client: httpx.Client) -> Note:
    answer = client.get("/checkpoint")
    assert answer.status_code == 200, answer.text
    return Note.from_text(answer.text)


def test_a_restart_publishes_the_uncovered_entries_only_once_the_quorum_cosigned_and_a_new_batch_is_not_held_back(deployment: Deployment) -> None:
    assert deployment.submit("All three watch.").status_code == 200
    before = Checkpoint.from_text(published(deployment.client).text).size
    deployment.witnesses["w2"].stop()
    deployment.witnesses["w3"].stop()
    answers: list[object] = []

    def submit() -> None:
        try:
            answers.append(deployment.submit("Appended while two witnesses are down.").status_code)
        except httpx.HTTPError as error:
            answers.append(type(error).__name__)

    waiting = threading.Thread(target=submit, daemon=True)
    waiting.start()
    waiting.join(timeout=3)
    deployment.server.popen.send_signal(signal.SIGTERM)
    deployment.server.popen.wait(timeout=WAIT)
    waiting.join(timeout=WAIT)
    assert answers == [503], answers
    with Ledger.open(deployment.store) as ledger:
        head = ledger.log.size
    assert head == before + 1  # appended, not covered

    deployment.client.close()
    deployment.server = deployment.start_server(deployment.store, "restarted")
    deployment.client = httpx.Client(base_url=deployment.server.url, timeout=WAIT)
    time.sleep(1.0)  # the restarted server's witnessing has tried the one witness that is up
    assert Checkpoint.from_text(published(deployment.client).text).size == before
    assert deployment.client.get("/healthz").status_code == 503

    # A submission while the cover still waits: its batch's checkpoint covers both once the quorum is back.
    answers.clear()
    waiting = threading.Thread(target=submit, daemon=True)
    waiting.start()
    time.sleep(1.0)
    deployment.start_witness("w2")
    waiting.join(timeout=WAIT)
    assert answers == [200], answers
    latest = published(deployment.client)
    assert Checkpoint.from_text(latest.text).size == head + 1
    assert len(deployment.policy.check(latest)) >= 2
    assert deployment.client.get("/healthz").status_code == 200
    assert "Traceback" not in deployment.server.log.read_text()
