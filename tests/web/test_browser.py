"""The public register in a real headless Chromium (Debian's, driven by playwright).

The demo's ledger is built by ``accord demo`` in a temporary folder and served
by ``accord serve``; the hostile ledger of tests.web.ledgers by a server of the
pages alone. Screenshots and the accessibility report go to tests/artifacts/
(ignored by git) for people to look at.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli.demo import PASSPHRASE
from cli.main import accord
from projections.ledger import Ledger
from projections.queries import View
from tests.projections.council import Clock
from tests.web.browser import ARTIFACTS, axe_script, free_port, launch_chromium, pages_only, serving
from tests.web.ledgers import SCRIPT, SVG_TEXT, hostile_council

pytestmark = pytest.mark.browser

SECTIONS = ["Binding decisions", "Proposals and votes", "Members and observers", "Appeals", "The log"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright, chromium = launch_chromium()
    try:
        yield chromium
    finally:
        chromium.close()
        playwright.stop()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's folder, after ``accord demo`` told its whole story there."""
    folder = tmp_path_factory.mktemp("demo") / "demo-out"
    accord_script = Path(sys.executable).parent / "accord"
    # A relative folder, as `make demo` gives it: the paths the demo prints must still be right.
    result = subprocess.run([str(accord_script), "demo", folder.name], cwd=folder.parent, capture_output=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr.decode()
    (folder / "demo.out").write_bytes(result.stdout)
    return folder


def test_the_demo_ends_with_the_register_served_and_as_a_static_site(demo: Path) -> None:
    last = (demo / "demo.out").read_text(encoding="utf-8").rstrip("\n").splitlines()[-2:]
    assert last[0] == f"The register as a static site: {demo.resolve() / 'site' / 'index.html'}"
    assert last[1].startswith(f"The register served: accord serve --store sqlite:///{demo.resolve() / 'accord.db'} --operator-key ")
    assert last[1].endswith("then open http://127.0.0.1:8000/")
    assert (demo / "site" / "index.html").is_file() and (demo / "site" / "certificates" / "D-1.certificate").is_file()


@pytest.fixture(scope="module")
def demo_site(demo: Path) -> Iterator[str]:
    """The demo's ledger served by ``accord serve`` (the log and the register) on a free port."""
    port = free_port()
    command = [str(Path(sys.executable).parent / "accord"), "serve", "--store", f"sqlite:///{demo / 'accord.db'}",
               "--operator-key", str(demo / "operator.key"), "--listen", f"127.0.0.1:{port}"]
    with serving(command, port, env={"ACCORD_OPERATOR_PASSPHRASE": PASSPHRASE}) as base:
        yield base


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'accord.db'}"
    with Ledger.open(url, clock=(clock := Clock())) as ledger:
        hostile_council(ledger, clock)
    port = free_port()
    with serving(pages_only(url, port), port) as base:
        yield base


def demo_view(demo: Path) -> View:
    return View(Ledger.open(f"sqlite:///{demo / 'accord.db'}"))


def test_every_section_of_the_demo_register_opens_from_its_navigation(browser: Any, demo_site: str) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    assert page.goto(demo_site + "/").ok
    for section in SECTIONS:
        page.get_by_role("navigation", name="Sections").get_by_role("link", name=section).click()
        page.wait_for_load_state()
        assert page.locator("h1").count() == 1 and page.locator("main").count() == 1
        assert page.get_by_role("link", name=section).get_attribute("aria-current") == "page"
    assert errors == []
    page.close()


def test_pages_work_without_javascript(browser: Any, demo_site: str) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(demo_site + "/proposals/index.html")
    assert page.locator("svg.matrix").bounding_box()["width"] > 300
    assert page.get_by_role("img", name="Vote matrix: members by proposals, each cell the member's current position").count() == 1
    page.goto(demo_site + "/members.html")
    assert page.locator("svg.timeline").bounding_box()["height"] > 100
    context.close()


def test_register_lists_every_decision_of_the_story_with_the_vote_of_every_electorate_member(browser: Any, demo: Path, demo_site: str) -> None:
    view = demo_view(demo)
    decisions = view.decisions()
    assert [d["id"] for d in decisions] == ["D-1", "D-2", "D-3", "D-4"]
    page = browser.new_page()
    page.goto(demo_site + "/")
    for decision in decisions:
        article = page.locator(f"article:has(h2#{decision['id']}-title)")
        assert article.locator("h2").inner_text() == f"{decision['id']}: {decision['title']}"
        proposal = view.proposal(decision["proposal"])
        assert proposal is not None
        votes = {vote["actor"]: vote["position"] for vote in proposal["votes"]}
        rows = article.locator("tbody tr")
        assert rows.count() == len(proposal["electorate"])
        for number, member in enumerate(proposal["electorate"]):
            row = rows.nth(number)
            assert f"({member})" in row.locator("th").inner_text()
            assert row.locator("td").first.inner_text() == votes.get(member, "no vote (silent)")
    assert "Without prejudice to Austrian neutrality" in page.locator("article:has(h2#D-1-title)").inner_text()
    page.close()


def test_links_reach_the_entry_and_a_certificate_that_accord_verify_certificate_accepts(browser: Any, demo: Path, demo_site: str, tmp_path: Path) -> None:
    view = demo_view(demo)
    decision = view.decisions()[0]
    page = browser.new_page()
    page.goto(demo_site + "/")
    page.get_by_role("link", name=f"{decision['id']}: {decision['title']}").click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == f"{decision['id']}: {decision['title']}"
    adopted = int(decision["adopted"])
    with page.expect_download() as entry_download:
        page.locator("main").get_by_role("link", name=f"entry {adopted}", exact=True).first.click()
    entry_file = tmp_path / "entry.json"
    entry_download.value.save_as(entry_file)
    assert entry_file.read_bytes() == view.ledger.log.entry(adopted).to_bytes()
    with page.expect_download() as certificate_download:
        page.get_by_role("link", name=f"{decision['id']}.certificate").click()
    assert certificate_download.value.suggested_filename == f"{decision['id']}.certificate"
    certificate = tmp_path / "downloaded.certificate"
    certificate_download.value.save_as(certificate)
    anchor = view.charter()["anchor"]  # type: ignore[index]
    result = CliRunner().invoke(accord, ["verify-certificate", str(certificate), "--anchor", anchor])
    assert result.exit_code == 0, result.output
    page.get_by_role("link", name=decision["proposal"], exact=True).first.click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text().startswith(decision["proposal"] + ": ")
    page.close()


def test_hostile_texts_run_no_script_and_show_as_text(browser: Any, hostile_site: str) -> None:
    page = browser.new_page()
    said: list[str] = []
    page.on("console", lambda message: said.append(message.text))
    page.on("dialog", lambda dialog: said.append("dialog: " + dialog.message))
    for path in ["/", "/decisions/D-1.html", "/proposals/index.html", "/proposals/P-1.html", "/proposals/P-2.html",
                 "/members.html", "/appeals/index.html", "/appeals/A-1.html", "/log.html"]:
        assert page.goto(hostile_site + path).ok
        page.wait_for_load_state("load")
        assert page.evaluate("typeof window.__pwned") == "undefined", path
        assert page.locator("main script, main img, main b").count() == 0, path
    assert not [line for line in said if "pwned" in line]
    page.goto(hostile_site + "/decisions/D-1.html")
    assert page.locator("h1").inner_text() == "D-1: " + SCRIPT
    page.goto(hostile_site + "/proposals/P-2.html")
    assert page.locator("h1").inner_text() == "P-2: " + SVG_TEXT
    assert page.locator("svg.matrix").count() == 1
    page.close()


def test_screenshots_of_the_register_the_vote_matrix_and_the_timeline(browser: Any, demo_site: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(demo_site + "/")
    page.screenshot(path=str(ARTIFACTS / "register.png"), full_page=True)
    page.goto(demo_site + "/proposals/index.html")
    page.locator("svg.matrix").screenshot(path=str(ARTIFACTS / "vote-matrix.png"))
    page.goto(demo_site + "/members.html")
    page.locator("svg.timeline").screenshot(path=str(ARTIFACTS / "membership-timeline.png"))
    for name in ("register.png", "vote-matrix.png", "membership-timeline.png"):
        assert (ARTIFACTS / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page.close()


def test_axe_finds_no_serious_or_critical_accessibility_violation(browser: Any, demo_site: str, hostile_site: str) -> None:
    script = axe_script()
    page = browser.new_page()
    report: dict[str, list[dict[str, Any]]] = {}
    for base, path in [(demo_site, p) for p in ("/", "/decisions/D-1.html", "/proposals/index.html", "/proposals/P-7.html", "/members.html",
                                                 "/appeals/index.html", "/appeals/A-1.html", "/log.html", "/no-such-page.html")] + [(hostile_site, "/proposals/P-2.html")]:
        page.goto(base + path)
        page.add_script_tag(path=str(script))
        result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        report[path if base == demo_site else "hostile " + path] = [
            {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]} for v in result["violations"]
        ]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "axe-report.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    serious = {path: [v for v in found if v["impact"] in ("serious", "critical")] for path, found in report.items()}
    assert not any(serious.values()), json.dumps(serious, indent=1)
    page.close()
