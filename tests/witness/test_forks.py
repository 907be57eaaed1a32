"""A witness given a forked log refuses it, and the fork becomes an evidence file (SPEC 9, 12).

Real ``accord witness serve`` processes: one spoken to in the bytes of
c2sp.org/tlog-witness, and three behind a real ``accord serve --policy``
whose store is swapped for a fork of the log they watched.
"""

from __future__ import annotations

import base64
import http.client
import shutil
import threading
import time
from pathlib import Path

import httpx

from domain.charter import OPERATOR
from tests.cli.conftest import invoke
from tests.witness.keys import LOG, checkpoint_note, signer, tree, witness_signer
from tests.witness.processes import witness_process
from tests.witness.test_serve_policy import NAMES, Deployment

WAIT = 30.0


def post(port: int, old: int, proof: list[bytes], note: str) -> tuple[int, bytes]:
    body = (f"old {old}\n" + "".join(base64.b64encode(node).decode() + "\n" for node in proof) + "\n" + note).encode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", "/add-checkpoint", body=body)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def check_evidence(path: Path, operator: str) -> str:
    result = invoke(["check-evidence", str(path), "--operator", operator])
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_witness_process_refuses_a_fork_and_writes_evidence_that_check_evidence_accepts(tmp_path: Path) -> None:
    operator = signer(LOG)
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    witness = witness_process(tmp_path, "w", witness_signer("witness.test/forks"), [operator.verifier_key().to_text()], evidence_dir=evidence)
    try:
        honest, forked = tree(24), tree(24, fork_at=5)
        assert post(witness.port, 0, [], checkpoint_note(operator, honest, 6))[0] == 200
        status, _ = post(witness.port, 6, forked.consistency_proof(6, 24), checkpoint_note(operator, forked, 24))
        assert status == 422
        (written,) = evidence.glob("equivocation-*.json")
        said = check_evidence(written, operator.verifier_key().to_text())
        assert said.startswith(f"equivocation by {LOG}: the signed tree of size 24 has root {forked.root_at(6).hex()} at size 6, ")
        assert said.endswith(f"but the signed checkpoint of size 6 has {honest.root_at(6).hex()}\n")
        # The honest log goes on: the witness never cosigned the fork.
        assert post(witness.port, 6, honest.consistency_proof(6, 24), checkpoint_note(operator, honest, 24))[0] == 200
    finally:
        witness.stop()
    assert "refused a fork (422); equivocation evidence written to " in witness.log.read_text()


def copy_sqlite(source: Path, target: Path) -> None:
    for suffix in ("", "-wal"):
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")


def test_log_server_on_a_forked_store_is_refused_by_its_witnesses_and_the_fork_becomes_evidence(tmp_path: Path) -> None:
    deployment = Deployment(tmp_path)
    fork_server = None
    try:
        deployment.server.stop()
        copy_sqlite(tmp_path / "accord.db", tmp_path / "fork.db")  # the log as the witnesses know it, before the next entry
        deployment.server = deployment.start_server(deployment.store)
        deployment.client = httpx.Client(base_url=deployment.server.url, timeout=WAIT)
        honest = deployment.submit("The council meets on Monday.")
        assert honest.status_code == 200, honest.text
        deployment.server.stop()

        # The operator serves a fork: the same log up to the copy, then another entry at the same index.
        fork_server = deployment.start_server(f"sqlite:///{tmp_path / 'fork.db'}", "fork")
        forked = httpx.Client(base_url=fork_server.url, timeout=WAIT)
        answers: list[httpx.Response] = []
        statement = deployment.statement("The council meets on Tuesday.").encode()

        def send() -> None:
            try:
                answers.append(forked.post("/add", content=statement))
            except httpx.HTTPError:
                pass  # the fork server is stopped while the receipt still waits

        waiting = threading.Thread(target=send, daemon=True)
        waiting.start()
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and not list(tmp_path.glob("equivocation-*.json")):
            time.sleep(0.2)
        (written,) = tmp_path.glob("equivocation-*.json")
        said = check_evidence(written, deployment.operator_vkey)
        assert said.startswith("equivocation by accord.test/european-security: two roots signed for size ")
        assert answers == []  # no receipt for the fork: no witness cosigned it
        health = forked.get("/healthz")
        while time.monotonic() < deadline and health.status_code != 503:  # until the round that wrote the evidence ends
            time.sleep(0.2)
            health = forked.get("/healthz")
        assert health.status_code == 503 and "quorum two-of-three not met: cosigned by none" in health.text
        fork_server.stop()
        waiting.join(timeout=WAIT)
        forked.close()
    finally:
        if fork_server is not None:
            fork_server.stop()
        deployment.stop()
    for name in NAMES:
        assert "refused a fork (409); equivocation evidence written to " in (tmp_path / f"{name}.log").read_text()
