"""Real `accord serve` processes: acting with --log, kill -9 mid-batch, two servers on one PostgreSQL."""

from __future__ import annotations

import shutil
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from cli.main import accord
from ledger.tlog_proof import TlogProof
from projections.ledger import Ledger
from tests.conftest import postgres_schema_url
from tests.server.conftest import Founded, found
from tests.server.processes import Server


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(accord, [str(arg) for arg in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result.exit_code, result.stdout, result.stderr


def anchor(url: str) -> str:
    with Ledger.open(url) as ledger:
        return ledger.log.entry(0).leaf_hash().hex()


def verified(url: str) -> None:
    code, out, err = run("verify", "--store", url, "--anchor", anchor(url))
    assert code == 0, err


def test_delegations_act_with_log_and_get_the_lines_and_receipts_of_the_cli(founded: Founded, passphrase: str, tmp_path: Path) -> None:
    keys = {actor: str(founded.key_file(actor)) for actor in ("de", "fr", "pl", "operator", "in")}
    with Server(founded) as server:
        assert run("say", "--text", "India offers to mediate.", "--key", keys["in"], "--log", server.url, "--receipt", str(tmp_path / "say.proof")) == (0, "entry 1: statement made\n", "")
        assert TlogProof.from_text((tmp_path / "say.proof").read_text()).index == 1
        assert run("propose", "--category", "general", "--title", "Ports", "--text", "...", "--deadline", "+1h", "--key", keys["de"], "--log", server.url)[1] == "P-1\n"
        for actor in ("de", "fr", "pl", "ua", "rs", "by"):
            founded.key_file(actor)
            assert run("vote", "P-1", "approve", "--key", str(founded.key_file(actor)), "--log", server.url)[0] == 0
        code, out, _ = run("close", "P-1", "--key", keys["operator"], "--log", server.url)
        assert code == 0 and out.startswith("entry 9: P-1 adopted (6 approve, 0 object, 0 abstain, 0 silent): binding decision D-1"), out
        # A refusal over HTTP is the line the CLI prints against the store itself.
        remote = run("vote", "P-9", "approve", "--key", keys["de"], "--log", server.url)
        copy = tmp_path / "copy.db"
        shutil.copy(founded.url.removeprefix("sqlite:///"), copy)
        local = run("vote", "P-9", "approve", "--key", keys["de"], "--store", f"sqlite:///{copy}")
        assert remote[0] == local[0] == 1 and remote[2] == local[2] and remote[2].startswith("accord: vote.cast: ")
    verified(founded.url)


def hammer(url: str, founded: Founded, name: str, count: int, answered: list[tuple[str, int]], stop: threading.Event) -> None:
    """Post ``count`` distinct statements one after the other; keep those answered 200 (with their index)."""
    with httpx.Client(base_url=url, timeout=5) as http:
        for n in range(count):
            if stop.is_set():
                return
            note = founded.say(f"{name} {n}")
            try:
                answer = http.post("/add", content=note)
            except httpx.HTTPError:
                return  # the server went away mid-request: no answer, no promise
            if answer.status_code == 200:
                answered.append((note, TlogProof.from_text(answer.text).index))


def present_once(url: str, answered: list[tuple[str, int]]) -> None:
    with Ledger.open(url) as ledger:
        statements = [entry.statement for entry in ledger.entries()]
    counts = Counter(statements)
    for note, index in answered:
        assert counts[note] == 1 and statements[index] == note


def test_kill_9_mid_batch_keeps_every_answered_statement_and_nothing_half_written(founded: Founded, passphrase: str) -> None:
    answered: list[tuple[str, int]] = []
    stop = threading.Event()
    server = Server(founded)
    clients = [threading.Thread(target=hammer, args=(server.url, founded, f"client {c}", 60, answered, stop)) for c in range(4)]
    for thread in clients:
        thread.start()
    deadline = time.monotonic() + 20
    while len(answered) < 20 and time.monotonic() < deadline:
        time.sleep(0.02)
    server.kill()
    stop.set()
    for thread in clients:
        thread.join(timeout=30)
    assert len(answered) >= 20
    present_once(founded.url, answered)
    verified(founded.url)
    # Restarted, it covers what the killed one appended without a checkpoint, and goes on.
    with Server(founded) as again:
        with httpx.Client(base_url=again.url, timeout=5) as http:
            assert http.post("/add", content=founded.say("after the crash")).status_code == 200
            status = http.get("/status").json()
            assert status["size"] == status["entries"]
    verified(founded.url)


@pytest.mark.postgres
def test_two_servers_on_one_postgresql_stay_linearizable(tmp_path: Path, passphrase: str) -> None:
    for url in postgres_schema_url():
        founded = found(url, tmp_path)
        answered: list[tuple[str, int]] = []
        stop = threading.Event()
        with Server(founded, url) as first, Server(founded, url) as second:
            clients = [
                threading.Thread(target=hammer, args=(server.url, founded, f"{server.port} client {c}", 15, answered, stop))
                for server in (first, second)
                for c in range(4)
            ]
            for thread in clients:
                thread.start()
            for thread in clients:
                thread.join(timeout=120)
        assert len(answered) == 2 * 4 * 15
        present_once(url, answered)
        assert len({index for _, index in answered}) == len(answered)
        verified(url)
