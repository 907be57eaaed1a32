"""The log's clients (``accord sync``, ``LogClient``) against a hostile log server process (SPEC 10):
a tile, bundle or checkpoint larger than it can be, a body that never ends and one that drips are
refused in one line naming the resource, read no further than its bound, and append nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import time

import server.client
from ledger.errors import StorageError
from ledger.tiles import Tile
from projections.ledger import Ledger
from server.client import LogClient
from tests.server.conftest import Founded, found
from tests.server.processes import Server, free_port
from tests.server.test_end_to_end import anchor, run

BUNDLE_LIMIT = 256 * (2 + 65_535)


@contextmanager
def hostile(upstream: Server, mode: str, path: str) -> Iterator[str]:
    """A hostile server (tests/server/hostile.py) in front of ``upstream``, misanswering GET ``path``; its URL."""
    port = free_port()
    command = [sys.executable, "-m", "tests.server.hostile", upstream.url, str(port), mode, path]
    process = subprocess.Popen(command, cwd=Path(__file__).parents[2], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert process.poll() is None, "the hostile server exited"
            try:
                httpx.get(url + "/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        yield url
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def founded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Founded]:
    directory = tmp_path_factory.mktemp("hostile-log")
    yield found(f"sqlite:///{directory / 'log.db'}", directory, said=299)  # 300 entries: one full tile, one partial


@pytest.fixture(scope="module")
def upstream(founded: Founded) -> Iterator[Server]:
    with Server(founded) as serving:
        yield serving


def mirror_size(url: str) -> int:
    with Ledger.open(url) as ledger:
        return ledger.log.size


def test_a_hash_tile_larger_than_256_hashes_is_refused_before_its_body_is_read(upstream: Server) -> None:
    with hostile(upstream, "oversize", "/tile/0/000") as url, LogClient(url) as client:
        with pytest.raises(StorageError) as refused:
            client.hashes(Tile(0, 0, 256))
    assert str(refused.value) == f"log: {url}/tile/0/000: the hash tile is {8192 + (1 << 20)} bytes, more than the 8192 it can be"


def test_a_partial_hash_tile_is_bounded_by_its_own_width(upstream: Server) -> None:
    with hostile(upstream, "endless", "/tile/0/001.p/44") as url, LogClient(url) as client:
        with pytest.raises(StorageError) as refused:
            client.hashes(Tile(0, 1, 44))
    assert str(refused.value) == f"log: {url}/tile/0/001.p/44: the hash tile is more than the {44 * 32} bytes it can be: not read further"


@pytest.mark.parametrize(
    "mode, path, problem",
    [
        ("endless", "/tile/entries/000", f"the entry bundle is more than the {BUNDLE_LIMIT} bytes it can be: not read further"),
        ("endless", "/tile/entries/001.p/44", f"the entry bundle is more than the {44 * (2 + 65_535)} bytes it can be: not read further"),
        ("drip", "/tile/entries/001.p/44", "the entry bundle did not all come within 1 s"),
        ("drip", "/checkpoint", "the checkpoint did not all come within 1 s"),
        ("endless", "/checkpoint", "the checkpoint is more than the 16384 bytes it can be: not read further"),
    ],
)
def test_a_sync_from_a_hostile_server_is_refused_naming_the_resource_and_appends_nothing(
    founded: Founded, upstream: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str, path: str, problem: str
) -> None:
    monkeypatch.setattr(server.client, "TIMEOUT", 1.0)
    mirror = f"sqlite:///{tmp_path / 'mirror.db'}"
    with hostile(upstream, mode, path) as url:
        code, out, err = run("sync", "--log", url, "--store", mirror, "--anchor", anchor(founded.url))
    assert (code, out, err) == (1, "", f"accord: log: {url}{path}: {problem}\n")
    assert not (tmp_path / "mirror.db").exists() or mirror_size(mirror) == 0


def test_the_same_sync_through_the_proxy_when_it_misanswers_nothing_holds(founded: Founded, upstream: Server, tmp_path: Path) -> None:
    """The hostile server is a faithful proxy elsewhere: the refusals above are the misanswers'."""
    mirror = f"sqlite:///{tmp_path / 'mirror.db'}"
    with hostile(upstream, "endless", "/nothing-a-client-asks-for") as url:
        code, out, err = run("sync", "--log", url, "--store", mirror, "--anchor", anchor(founded.url))
    assert (code, err) == (0, "") and mirror_size(mirror) == 300
