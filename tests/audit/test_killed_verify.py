"""Attack: kill -9 a parallel ``accord verify`` at random moments; no worker process may outlive it.

A verify of more than ``PARALLEL_FROM`` entries checks them in worker
processes. The command runs in a process group of its own (a new session),
which its workers inherit; once it is killed, every other member of that
group must be gone within a few seconds. The processes are found by the
killed process's group id, never by name. Kills are bounded in number and
each wait is bounded in time; whatever is left at the end is killed by the
test, by that group id, and the test fails.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bench.synthetic import signer, synthetic_entries
from domain.charter import OPERATOR
from ledger.store import Store
from projections.checking import PARALLEL_FROM
from projections.ledger import Ledger
from tests.conftest import postgres_schema_url

KILLS = 3
ENTRIES = PARALLEL_FROM + 500
WORKERS_START_WITHIN = 30.0
"""Seconds for the verify to start its workers (interpreter, imports, a pool): generous on a busy machine."""
GONE_WITHIN = 10.0
"""Seconds for every worker to notice that its parent is gone and exit."""
ACCORD = Path(sys.executable).with_name("accord")

pytestmark = pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs POSIX process groups")


def group_members(group: int) -> list[int]:
    """The live (not zombie) processes of process group ``group``."""
    if not Path("/proc/self/stat").exists():
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return []
        return [group]  # some member lives: which one does not matter here
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone while listed
        # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so split after the last ")"
        state, _, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
        if int(pgrp) == group and state != "Z":
            members.append(int(entry.name))
    return members


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def stored_ledger(url: str) -> str:
    """A synthetic ledger of ``ENTRIES`` entries with views and a checkpoint at ``url``; its anchor in hex."""
    with Store(url) as store:
        ledger = Ledger(store)
        entries = list(synthetic_entries(ENTRIES, seed=17))
        ledger.log.append_entries(entries)
        ledger.update_views()
        ledger.log.publish_checkpoint(signer(OPERATOR))
        return entries[0].leaf_hash().hex()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('killed') / 'accord.db'}"
        yield url, stored_ledger(url)
    else:
        for url in postgres_schema_url():
            yield url, stored_ledger(url)


def test_killing_a_parallel_verify_leaves_no_worker_running(ledger_url: tuple[str, str]) -> None:
    url, anchor = ledger_url
    chance = random.Random(2026)
    environment = {name: value for name, value in os.environ.items() if name not in ("ACCORD_STORE", "PERSISTENCE_MODULE")}
    killed_with_workers = 0
    for _ in range(KILLS):
        verify = subprocess.Popen(
            [str(ACCORD), "verify", "--store", url, "--anchor", anchor],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, whose id is its pid
            env=environment,
        )
        group = verify.pid
        try:
            started = wait_for(lambda: len(group_members(group)) > 1 or verify.poll() is not None, WORKERS_START_WITHIN)
            assert started, f"accord verify started no worker within {WORKERS_START_WITHIN} s"
            time.sleep(chance.uniform(0.0, 0.6))  # somewhere while the workers check chunks, or after
            if verify.poll() is None:
                killed_with_workers += len(group_members(group)) > 1
                os.kill(verify.pid, signal.SIGKILL)
            verify.wait(timeout=GONE_WITHIN)
            left = group_members(group)
            gone = wait_for(lambda: not group_members(group), GONE_WITHIN)
            assert gone, f"worker processes {left} of the killed accord verify (group {group}) still run after {GONE_WITHIN} s"
        finally:
            if group_members(group):
                os.killpg(group, signal.SIGKILL)
            if verify.poll() is None:
                verify.kill()
                verify.wait()
    assert killed_with_workers, "no kill landed while workers ran: the test proved nothing"
