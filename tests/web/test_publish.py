"""`accord publish --html DIR` and `accord serve`: the register beside the log, the same HTML in both."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from starlette.testclient import TestClient

from cli.main import accord
from domain.charter import OPERATOR
from projections.ledger import Ledger
from server.app import build_app
from server.pages.routes import page_routes
from server.pages.site import Site
from tests.projections.council import Clock
from tests.web.ledgers import hostile_council


def founded(tmp_path: Path) -> tuple[str, dict]:  # type: ignore[type-arg]
    url = f"sqlite:///{tmp_path / 'accord.db'}"
    with Ledger.open(url, clock=(clock := Clock())) as ledger:
        keys = hostile_council(ledger, clock).keys
    return url, keys


def test_publish_html_writes_the_pages_the_server_shows(tmp_path: Path) -> None:
    url, _ = founded(tmp_path)
    result = CliRunner().invoke(accord, ["publish", "--html", str(tmp_path / "site"), "--store", url])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"published the register's pages to {tmp_path / 'site'}: ")
    with Ledger.open(url) as ledger:
        assert (tmp_path / "site" / "decisions" / "D-1.html").read_bytes() == Site(ledger).render("decisions/D-1.html").body
    assert (tmp_path / "site" / "certificates" / "D-1.certificate").is_file()


def test_publish_with_neither_tiles_nor_html_is_a_usage_error(tmp_path: Path) -> None:
    url, _ = founded(tmp_path)
    result = CliRunner().invoke(accord, ["publish", "--store", url])
    assert result.exit_code == 2
    assert "publish: give DIRECTORY (the tiles), --html DIR (the pages), or both" in result.stderr


def test_the_secretariat_server_serves_the_register_beside_the_log(tmp_path: Path) -> None:
    url, keys = founded(tmp_path)
    with TestClient(build_app(url, keys[OPERATOR], extra_routes=page_routes(url))) as http:
        register = http.get("/")
        assert register.status_code == 200 and "Register of binding decisions" in register.text
        assert http.get("/checkpoint").text.startswith("accord.test/european-security\n")
        assert http.get("/proposals/P-2.html").status_code == 200
        assert http.get("/no/such/page.html").status_code == 404
