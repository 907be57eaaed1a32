"""The tlog-tiles read API (GET /checkpoint, /tile/...) and `accord publish`, byte for byte the same tree."""

from __future__ import annotations

import time
from pathlib import Path

from click.testing import CliRunner
from starlette.testclient import TestClient

from cli.main import accord
from ledger.checkpoint import open_checkpoint
from ledger.tiles import Tile
from projections.ledger import Ledger
from server.app import Settings, build_app
from tests.server.conftest import Founded, found
from tests.domain.scenario import founding_charter
from tests.server.tilereader import read_tree


def client(founded: Founded) -> TestClient:
    return TestClient(build_app(founded.url, founded.operator))


def test_the_tree_read_back_by_an_independent_reader_has_the_checkpoints_root(tmp_path: Path) -> None:
    founded = found(f"sqlite:///{tmp_path / 'log.db'}", tmp_path, said=299)
    with client(founded) as http:
        response = http.get("/checkpoint")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert response.headers["cache-control"] == "public, max-age=2"
        checkpoint, _ = open_checkpoint(response.text, founded.operator.verifier_key())
        assert checkpoint.size == 300

        def fetch(path: str) -> bytes:
            answer = http.get("/" + path)
            assert answer.status_code == 200, (path, answer.text)
            assert answer.headers["content-type"] == "application/octet-stream"
            assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
            return answer.content

        from_tiles, from_bundles, entries = read_tree(fetch, 300)
        assert from_tiles == from_bundles == checkpoint.root_hash
        assert b'"index":299' in entries[299]


def test_tiles_beyond_the_published_checkpoint_are_not_served(founded: Founded) -> None:
    with client(founded) as http:
        assert http.get("/tile/0/000.p/1").status_code == 200
        for path in ("/tile/0/000.p/2", "/tile/0/000", "/tile/entries/001.p/1", "/tile/1/000.p/1"):
            answer = http.get(path)
            assert answer.status_code == 404
            assert answer.text == f"accord: tile: {Tile.from_path(path[1:]).path()} is beyond the published checkpoint\n"
        answer = http.get("/tile/0/0")
        assert (answer.status_code, answer.text) == (404, "accord: tile: path 'tile/0/0': index is not in x-prefixed 3-digit groups\n")


def test_publish_writes_what_the_server_serves_byte_for_byte_and_only_what_is_new(tmp_path: Path) -> None:
    founded = found(f"sqlite:///{tmp_path / 'log.db'}", tmp_path, said=299)
    site = tmp_path / "site"
    runner = CliRunner()
    first = runner.invoke(accord, ["publish", str(site), "--store", founded.url])
    assert first.exit_code == 0, first.output
    assert first.output == f"published the tree of size 300 to {site}: 6 file(s) written since size 0\n"
    with Ledger.open(founded.url) as ledger:
        ledger.append([founded.say("one more")])
        ledger.publish_checkpoint(founded.operator)
    again = runner.invoke(accord, ["publish", str(site), "--store", founded.url])
    # The partial level-0 tile and bundle of width 45, and the checkpoint; the full tile 0 and level 1's are kept.
    assert again.output == f"published the tree of size 301 to {site}: 3 file(s) written since size 300\n"
    files = {str(path.relative_to(site)) for path in site.rglob("*") if path.is_file()}
    assert files == {
        "checkpoint", "tile/0/000", "tile/0/001.p/44", "tile/0/001.p/45", "tile/1/000.p/1",
        "tile/entries/000", "tile/entries/001.p/44", "tile/entries/001.p/45",
    }
    with client(founded) as http:
        for name in files:
            assert http.get("/" + name).content == (site / name).read_bytes(), name
        from_tiles, _, _ = read_tree(lambda path: (site / path).read_bytes(), 301)
        checkpoint, _ = open_checkpoint((site / "checkpoint").read_text(), founded.operator.verifier_key())
        assert from_tiles == checkpoint.root_hash


def test_publish_without_a_checkpoint_says_how_to_make_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bare.db'}"
    with Ledger.open(url) as ledger:
        ledger.append([founding_charter(now=int(time.time()))[1]])
    result = CliRunner().invoke(accord, ["publish", str(tmp_path / "site"), "--store", url])
    assert result.exit_code == 1
    assert result.stderr == "accord: publish: no checkpoint yet: the operator publishes one with accord checkpoint --sign\n"


def test_status_healthz_and_the_openapi_document(founded: Founded) -> None:
    with client(founded) as http:
        status = http.get("/status").json()
        assert status == {"version": 1, "origin": founded.operator.name, "size": 1, "entries": 1, "checkpoint_age": 0, "witnesses": [], "pending": 0, "batches": 0}
        assert (http.get("/healthz").status_code, http.get("/healthz").text) == (200, "ok\n")
        paths = http.get("/openapi.json").json()["paths"]
        assert set(paths) == {"/checkpoint", "/checkpoints", "/tile/{L}/{N}", "/tile/entries/{N}", "/add", "/status", "/healthz"}
        assert set(paths["/add"]["post"]["responses"]) == {"200", "400", "409", "413", "422", "429", "503"}


def test_healthz_fails_while_entries_wait_uncovered_too_long(tmp_path: Path) -> None:
    founded = found(f"sqlite:///{tmp_path / 'log.db'}", tmp_path, ago=600)
    past = Ledger.open(founded.url, clock=lambda: int(time.time()) - 600)
    past.append([founded.say("appended by a server killed before its checkpoint")])
    with TestClient(build_app(founded.url, founded.operator, settings=Settings(fresh_for=300))) as http:
        # The server covers what it finds uncovered when it starts.
        assert http.get("/status").json()["checkpoint_age"] == 0
        assert http.get("/healthz").status_code == 200
        past.append([founded.say("logged 10 minutes ago, by a writer that publishes nothing")])
        answer = http.get("/healthz")
        assert answer.status_code == 503
        assert answer.text.startswith("accord: log: the published checkpoint leaves entries uncovered for 6")
        assert answer.text.endswith(" s, want at most 300\n")
    past.close()
