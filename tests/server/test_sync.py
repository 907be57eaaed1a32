"""accord sync (a verified mirror) and accord verify --log, against real server processes."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from cli.main import accord  # noqa: F401  (the commands run in-process below)
from projections.ledger import Ledger
from tests.server.conftest import Founded, found
from tests.server.processes import Server
from tests.server.test_end_to_end import anchor, run, verified


def entries(url: str) -> list[bytes]:
    with Ledger.open(url) as ledger:
        return list(ledger.log.entry_data(0))


def append(founded: Founded, url: str, *texts: str) -> None:
    with Ledger.open(url) as ledger:
        ledger.append([founded.say(text) for text in texts])
        ledger.publish_checkpoint(founded.operator)


def test_sync_keeps_a_verified_mirror_and_fetches_only_what_is_new(tmp_path: Path, passphrase: str) -> None:
    founded = found(f"sqlite:///{tmp_path / 'log.db'}", tmp_path, said=300)
    mirror = f"sqlite:///{tmp_path / 'mirror.db'}"
    with Server(founded) as server:
        assert run("sync", "--log", server.url, "--store", mirror) == (1, "", "accord: import: the local copy is empty: pin the charter with --anchor\n")
        assert run("sync", "--log", server.url, "--store", mirror, "--anchor", anchor(founded.url))[1] == f"verified and appended 301 entries from {server.url}; the mirror now holds 301\n"
        assert run("sync", "--log", server.url, "--store", mirror)[1] == "the mirror holds 301 entries; the log's checkpoint covers 301: nothing new\n"
        append(founded, founded.url, "one", "two")
        assert run("sync", "--log", server.url, "--store", mirror)[1] == f"verified and appended 2 entries from {server.url}; the mirror now holds 303\n"
        # verify --log audits the remote log without a copy.
        code, out, err = run("verify", "--log", server.url, "--anchor", anchor(founded.url))
        assert code == 0 and out.startswith(f"verified 303 entries from the charter of {server.url}"), err
        wrong = run("verify", "--log", server.url, "--anchor", "00" * 32)
        assert wrong[0] == 1 and "is not the pinned trust anchor" in wrong[2]
    assert entries(mirror) == entries(founded.url)
    verified(mirror)


def test_a_log_that_forks_from_the_mirror_is_refused_with_equivocation_evidence(tmp_path: Path, passphrase: str) -> None:
    founded = found(f"sqlite:///{tmp_path / 'log.db'}", tmp_path, said=5)
    fork_file = tmp_path / "fork.db"
    shutil.copy(tmp_path / "log.db", fork_file)
    fork = f"sqlite:///{fork_file}"
    append(founded, founded.url, "what the mirror saw")
    append(founded, fork, "what others were shown", "and more")
    mirror = f"sqlite:///{tmp_path / 'mirror.db'}"
    with Server(founded) as honest:
        assert run("sync", "--log", honest.url, "--store", mirror, "--anchor", anchor(founded.url))[0] == 0
    before = entries(mirror)
    evidence = tmp_path / "evidence.json"
    with Server(founded, fork) as forked:
        code, out, err = run("sync", "--log", forked.url, "--store", mirror, "--evidence", str(evidence))
    assert code == 1
    assert err == f"accord: sync: the log's checkpoint of size 8 does not extend the mirror's of size 7: equivocation evidence written to {evidence}\n"
    assert entries(mirror) == before
    checked = run("check-evidence", str(evidence), "--operator", founded.operator.verifier_key().to_text())
    assert checked[0] == 0 and checked[1].startswith("equivocation by accord.test/european-security: the signed tree of size 8 has root ")


def _rows(database: Path) -> int:
    """Rows the mirror's file holds so far (0 before it exists), read without a lock a writer waits on."""
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
            return int(connection.execute("SELECT count(*) FROM stored_events").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_a_sync_killed_with_kill_9_resumes_to_the_same_verified_mirror(tmp_path: Path, passphrase: str) -> None:
    founded = found(f"sqlite:///{tmp_path / 'log.db'}", tmp_path, said=3000)
    mirror = f"sqlite:///{tmp_path / 'mirror.db'}"
    with Server(founded) as server:
        command = [sys.executable, "-c", "from cli.main import main; main()", "sync", "--log", server.url, "--store", mirror, "--anchor", anchor(founded.url)]
        killed = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=Path(__file__).parents[2])
        # Killed once its first chunk has committed, with two to go: mid-sync on any machine's speed.
        deadline = time.monotonic() + 60
        while not _rows(tmp_path / "mirror.db") and killed.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert killed.poll() is None, "the sync ended before the kill: nothing was tested"
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(timeout=10)
        # Whatever the kill left is a prefix of the log (a chunk is appended whole, or not at all).
        held = entries(mirror) if (tmp_path / "mirror.db").exists() else []
        assert held == entries(founded.url)[: len(held)] and len(held) % 1000 in (0, 3001 % 1000)
        code, out, err = run("sync", "--log", server.url, "--store", mirror, "--anchor", anchor(founded.url))
        assert code == 0, err
    assert entries(mirror) == entries(founded.url)
    verified(mirror)


def test_entries_fetched_ahead_are_the_entries_in_order_for_any_range(tmp_path: Path, passphrase: str) -> None:
    from server.client import LogClient

    founded = found(f"sqlite:///{tmp_path / 'log.db'}", tmp_path, said=700)
    stored = entries(founded.url)
    with Server(founded) as server, LogClient(server.url) as client:
        for start, stop in ((0, 701), (255, 257), (256, 512), (3, 3), (600, 701), (1, 700)):
            assert list(client.entries(start, stop, 701, ahead=4)) == stored[start:stop] == list(client.entries(start, stop, 701, ahead=1))
        # A reader that stops early leaves no fetch behind it.
        early = client.entries(0, 701, ahead=4)
        assert next(early) == stored[0]
        early.close()
