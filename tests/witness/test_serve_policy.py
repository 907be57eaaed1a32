"""``accord serve --policy``: three witness processes, a log server, a 2-of-3 policy, over loopback.

One witness down: the log still publishes. Two down: it withholds (the
receipt waits, /healthz says 503) and catches up when one returns.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from domain.charter import OPERATOR
from ledger.note import Note
from ledger.policy import Policy
from ledger.tlog_proof import TlogProof
from projections.ledger import Ledger
from tests.projections.council import Clock, Council
from tests.witness.keys import witness_signer
from tests.witness.processes import Process, accord_process, free_port, key_file, witness_process

NAMES = ("w1", "w2", "w3")
WITNESSES = {name: witness_signer(f"witness.test/{name}") for name in NAMES}
WAIT = 30.0


class Deployment:
    def __init__(self, directory: Path, route: Callable[[str, int], int] = lambda name, port: port) -> None:
        """``route(name, port)``: the port the log reaches witness ``name`` on (a proxy's, say)."""
        self.directory = directory
        self.store = f"sqlite:///{directory / 'accord.db'}"
        ledger = Ledger.open(self.store, Clock(int(time.time())))
        self.council = Council(ledger, ledger.log.clock, witness_lag="10s")  # type: ignore[arg-type]
        ledger.close()
        operator = self.council.keys[OPERATOR]
        self.operator_vkey = operator.verifier_key().to_text()
        self.ports = {name: free_port() for name in NAMES}
        self.witnesses: dict[str, Process] = {}
        for name in NAMES:
            self.start_witness(name)
        lines = [f"log {self.operator_vkey}"]
        lines += [f"witness {n} {WITNESSES[n].cosigner_key().to_text()} http://127.0.0.1:{route(n, self.ports[n])}" for n in NAMES]
        lines += ["group two-of-three 2 w1 w2 w3", "quorum two-of-three"]
        (directory / "policy.txt").write_text("\n".join(lines) + "\n")
        self.policy = Policy.from_text((directory / "policy.txt").read_text())
        self.operator_key = key_file(directory, "operator", operator)
        self.server = self.start_server(self.store)
        self.client = httpx.Client(base_url=self.server.url, timeout=WAIT)

    def start_server(self, store: str, label: str = "server") -> Process:
        """``accord serve --policy`` on ``store``, on a free port."""
        port = free_port()
        return accord_process(
            ["serve", "--store", store, "--operator-key", str(self.operator_key), "--listen", f"127.0.0.1:{port}", "--policy", str(self.directory / "policy.txt")],
            self.directory, port, label,
        )

    def start_witness(self, name: str) -> None:
        self.witnesses[name] = witness_process(self.directory, name, WITNESSES[name], [self.operator_vkey], port=self.ports[name])

    def statement(self, text: str) -> str:
        self.council.clock = Clock(int(time.time()))  # type: ignore[assignment]
        return self.council.note("in", "statement.make", {"text": text})

    def submit(self, text: str) -> httpx.Response:
        return self.client.post("/add", content=self.statement(text).encode())

    def stop(self) -> None:
        self.client.close()
        self.server.stop()
        for process in self.witnesses.values():
            process.stop()


def cosigners(receipt: str, policy: Policy) -> set[str]:
    return set(policy.check(Note.from_text(TlogProof.from_text(receipt).checkpoint_note)))


def test_log_publishes_with_one_witness_down_and_withholds_with_two(deployment: Deployment) -> None:
    first = deployment.submit("All three watch.")
    assert first.status_code == 200, first.text
    assert len(cosigners(first.text, deployment.policy)) >= 2
    assert deployment.client.get("/healthz").status_code == 200

    deployment.witnesses["w3"].stop()
    second = deployment.submit("One witness is down.")
    assert second.status_code == 200, second.text
    assert cosigners(second.text, deployment.policy) == {"w1", "w2"}

    deployment.witnesses["w2"].stop()
    answers: list[httpx.Response] = []
    waiting = threading.Thread(target=lambda: answers.append(deployment.submit("Two witnesses are down.")))
    waiting.start()
    waiting.join(timeout=3)
    assert answers == []  # the receipt waits for the quorum
    health = deployment.client.get("/healthz")
    assert health.status_code == 503
    assert health.text.startswith("accord: witnesses: quorum two-of-three not met: cosigned by w1")

    deployment.start_witness("w2")
    waiting.join(timeout=WAIT)
    assert answers and answers[0].status_code == 200, answers
    assert cosigners(answers[0].text, deployment.policy) == {"w1", "w2"}
    assert deployment.client.get("/healthz").status_code == 200


def test_idle_log_sends_its_checkpoint_again_so_witness_times_move(deployment: Deployment) -> None:
    receipt = deployment.submit("Then nothing happens.")
    assert receipt.status_code == 200
    before = deployment.policy.check(Note.from_text(TlogProof.from_text(receipt.text).checkpoint_note))
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        time.sleep(1)
        latest = deployment.policy.cosigners(Note.from_text(deployment.client.get("/checkpoint").text))
        if any(latest.get(name, 0) > at for name, at in before.items()):
            return
    raise AssertionError("no witness cosigned the idle checkpoint again within witness_lag / 2 (5 s)")


def test_verify_log_holds_the_remote_log_to_the_policy_and_its_published_checkpoints(deployment: Deployment) -> None:
    from tests.cli.conftest import invoke

    assert deployment.submit("Verified from afar.").status_code == 200
    with Ledger.open(deployment.store) as ledger:
        anchor = ledger.log.entry(0).leaf_hash().hex()
    args = ["verify", "--log", deployment.server.url, "--anchor", anchor, "--policy"]
    held = invoke([*args, str(deployment.directory / "policy.txt")])
    assert held.exit_code == 0 and "the policy's quorum cosigned it" in held.stdout, held.stderr
    deployment.witnesses["w3"].stop()
    assert deployment.submit("Two of three now.").status_code == 200
    everyone = deployment.directory / "everyone.txt"
    everyone.write_text((deployment.directory / "policy.txt").read_text().replace("group two-of-three 2 ", "group two-of-three all "))
    refused = invoke([*args, str(everyone)])
    assert (refused.exit_code, refused.stderr) == (1, "accord: checkpoint: policy: quorum two-of-three not met: cosigned by w1, w2\n")
