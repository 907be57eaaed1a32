"""Attack: kill -9 ``accord import`` at random moments; the local copy is as before or as after (SPEC 10).

The local copy holds the first ``BEFORE`` entries of a ledger with a
checkpoint; the bundle holds all ``ENTRIES``. Whenever the import dies, the
store must hold ``BEFORE`` entries with the old checkpoint or ``ENTRIES``
with the bundle's, and the views must be at the same size: never a part of
the new entries, never entries without their checkpoint. Kills are bounded in
number; each import runs in a process group of its own, which the test kills
whole (by that group id) so that no worker outlives it.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.synthetic import signer, synthetic_entries
from domain.charter import OPERATOR
from ledger.checkpoint import Checkpoint
from ledger.entry import Entry
from ledger.store import LogStore
from projections.exchange import export_bundle
from projections.ledger import Ledger
from tests.conftest import postgres_schema_url

KILLS = 5
BEFORE, ENTRIES = 1_000, 3_000
ACCORD = Path(sys.executable).with_name("accord")

pytestmark = pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs POSIX process groups")


@pytest.fixture(scope="module")
def history() -> list[Entry]:
    return list(synthetic_entries(ENTRIES, seed=23))


@pytest.fixture(scope="module")
def bundle(history: list[Entry], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bundle") / "ledger.tar"
    with Ledger(LogStore("memory:")) as ledger:
        ledger.log.append_entries(history)
        ledger.log.publish_checkpoint(signer(OPERATOR))
        export_bundle(ledger, path)
    return path


def local_copy(url: str, history: list[Entry]) -> None:
    """The state before: the first BEFORE entries, their views and a checkpoint of them."""
    with Ledger(LogStore(url)) as ledger:
        ledger.log.append_entries(history[:BEFORE])
        ledger.update_views()
        ledger.log.publish_checkpoint(signer(OPERATOR))


def state_of(url: str) -> tuple[int, int, int]:
    """(log size, newest checkpoint's size, views' position)."""
    with Ledger(LogStore(url)) as ledger:
        note = ledger.log.latest_checkpoint()
        assert note is not None
        return ledger.log.size, Checkpoint.from_text(note.text).size, ledger.views.position()


@contextmanager
def fresh_store(backend: str, folder: Path, n: int) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{folder / f'local-{n}.db'}"
    else:
        yield from _once(postgres_schema_url())


def _once(urls: Iterator[str]) -> Iterator[str]:
    for url in urls:
        yield url


def run_import(url: str, bundle: Path, anchor: str, kill_after: float | None) -> int | None:
    """Run ``accord import``; kill its process group after ``kill_after`` seconds, or as soon as
    the log is seen to grow (a part of the import committed), if it still runs then.
    Returns its exit code (None when killed)."""
    environment = {name: value for name, value in os.environ.items() if name not in ("ACCORD_STORE", "PERSISTENCE_MODULE")}
    process = subprocess.Popen(
        [str(ACCORD), "import", str(bundle), "--store", url, "--anchor", anchor],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, whose id is its pid
        env=environment,
    )
    try:
        if kill_after is None:
            return process.wait(timeout=300)
        deadline = time.monotonic() + kill_after
        with LogStore(url) as watcher:
            while time.monotonic() < deadline and process.poll() is None:
                head = watcher.head()
                if head is not None and head.index + 1 > BEFORE:
                    break  # entries of the import are visible: kill it right now
                time.sleep(0.01)
        return process.poll()
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=30)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_an_import_killed_at_any_moment_leaves_the_copy_as_before_or_after(
    backend: str, history: list[Entry], bundle: Path, tmp_path: Path
) -> None:
    anchor = history[0].leaf_hash().hex()
    with fresh_store(backend, tmp_path, 0) as whole_url:
        local_copy(whole_url, history)
        started = time.monotonic()
        assert run_import(whole_url, bundle, anchor, None) == 0
        whole = time.monotonic() - started
        assert state_of(whole_url) == (ENTRIES, ENTRIES, ENTRIES)
    chance = random.Random(2026)
    for n in range(1, KILLS + 1):
        with fresh_store(backend, tmp_path, n) as url:
            local_copy(url, history)
            # Anywhere from the interpreter's start to the end of an import that runs whole.
            run_import(url, bundle, anchor, chance.uniform(0.3, whole))
            size, checkpoint, views = state_of(url)
            assert (size, checkpoint, views) in ((BEFORE, BEFORE, BEFORE), (ENTRIES, ENTRIES, ENTRIES))
            if n == KILLS:  # what a kill leaves is a store an import can finish
                assert run_import(url, bundle, anchor, None) == 0
                assert state_of(url) == (ENTRIES, ENTRIES, ENTRIES)
