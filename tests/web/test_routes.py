"""The register's pages over HTTP: the same bytes as the static site, 404s with the reason."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from projections.ledger import Ledger
from server.pages.routes import page_routes
from server.pages.site import Site
from tests.projections.council import Clock
from tests.web.ledgers import hostile_council


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, Ledger]]:
    url = f"sqlite:///{tmp_path / 'accord.db'}"
    with Ledger.open(url, clock=(clock := Clock())) as ledger:
        hostile_council(ledger, clock)
        with TestClient(Starlette(routes=page_routes(url))) as http:
            yield http, ledger


def test_pages_are_served_as_the_site_renders_them(client: tuple[TestClient, Ledger]) -> None:
    http, ledger = client
    for path in ("/", "/index.html", "/proposals/P-1.html", "/members.html", "/appeals/A-1.html", "/log.html", "/as-of/3/"):
        response = http.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert http.get("/decisions/D-1.html").content == Site(ledger).render("decisions/D-1.html").body


def test_downloads_say_to_save_them_under_their_own_name(client: tuple[TestClient, Ledger]) -> None:
    http, ledger = client
    response = http.get("/certificates/D-1.certificate")
    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'attachment; filename="D-1.certificate"'
    assert http.get("/entries/0.json").content == ledger.log.entry(0).to_bytes()


def test_unknown_pages_are_404_with_the_reason_on_the_register_page(client: tuple[TestClient, Ledger]) -> None:
    http, _ = client
    response = http.get("/decisions/D-9.html")
    assert response.status_code == 404 and "no binding decision D-9 as of entry 14" in response.text
    response = http.get("/as-of/99/index.html")
    assert response.status_code == 404 and "ledger: no entry 99: the log has entries 0 to 14" in response.text
    assert http.get("/as-of/3", follow_redirects=False).headers["location"] == "/as-of/3/"
    assert http.get("/nothing/here").status_code == 404
