"""The register's pages rendered from the views: escaping, pagination, as-of, pictures, downloads."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from domain.charter import OPERATOR
from ledger.store import Store
from ledger.tlog_proof import TlogProof
from projections.certificate_check import verify_certificate
from projections.ledger import Ledger
from projections.queries import View
from server.pages import pictures, site as site_module
from server.pages.site import NotFound, Site, open_site
from server.pages.static import write_site
from tests.domain.scenario import DAY
from tests.projections.council import Clock, Council
from tests.web.ledgers import ATTRIBUTE, HOSTILE, NAME, SCRIPT, SVG_TEXT, hostile_council


class Markup(HTMLParser):
    """Every element and attribute a browser would build from a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.hrefs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend(attrs)
        self.hrefs.extend(value for name, value in attrs if name in ("href", "src") and value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th", "dt", "dd", "li", "p", "h1", "h2", "h3", "caption", "title", "desc", "text"):
            self.text.append(" ")  # where a browser would break the line or the cell

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parsed(html: bytes) -> Markup:
    markup = Markup()
    markup.feed(html.decode("utf-8"))
    return markup


@pytest.fixture
def hostile(tmp_path: Path) -> Iterator[Council]:
    with Ledger(Store(f"sqlite:///{tmp_path / 'accord.db'}"), clock=(clock := Clock())) as ledger:
        yield hostile_council(ledger, clock)


@pytest.fixture
def council() -> Iterator[Council]:
    with Ledger(Store("memory:"), clock=(clock := Clock())) as ledger:
        yield Council(ledger, clock)


def render(ledger: Ledger, path: str) -> bytes:
    reading, rest = open_site(ledger, path)
    return reading.render(rest).body


def adopt(council: Council, title: str) -> str:
    proposal = council.propose(title=title, period=DAY)
    council.vote("de", proposal, "approve")
    council.clock.now += DAY
    council.close(proposal)
    return proposal


# Escaping: whatever members write stays text.


def test_hostile_text_on_every_page_renders_as_text_never_as_markup(hostile: Council, tmp_path: Path) -> None:
    written = write_site(hostile.ledger, tmp_path / "site")
    pages = sorted((tmp_path / "site").rglob("*.html"))
    assert written > len(pages) >= 12
    seen = ""
    for page in pages:
        markup = parsed(page.read_bytes())
        assert "script" not in markup.tags and "img" not in markup.tags and "b" not in markup.tags, page
        assert not [name for name, _ in markup.attributes if name.startswith("on")], page
        seen += "".join(markup.text)
    for hostile_text in HOSTILE:
        assert hostile_text in seen  # shown to the reader exactly as written


def test_hostile_text_is_escaped_in_titles_attributes_and_svg_text(hostile: Council) -> None:
    proposal = render(hostile.ledger, "proposals/P-2.html").decode()
    assert "&lt;/title&gt;&lt;/text&gt;&lt;/svg&gt;&lt;script&gt;" in proposal  # in <title>, <h1> and the SVG
    assert "<svg" in proposal and proposal.count("</svg>") == 1
    assert '<meta name="description" content="P-2: &lt;/title&gt;&lt;/text&gt;&lt;/svg&gt;&lt;script&gt;window.__pwned=&#39;svg&#39;' in proposal
    register = render(hostile.ledger, "index.html").decode()
    assert "<title>&lt;script&gt;window.__pwned" in register.replace("\n", "") or "&lt;script&gt;window.__pwned" in register
    assert "&#34;&gt;&lt;img src=x onerror=&#34;" in register
    members = render(hostile.ledger, "members.html").decode()
    assert "&lt;b onmouseover=&#34;window.__pwned=&#39;name&#39;&#34;&gt;Dock &amp; Port Union&lt;/b&gt;" in members
    assert SCRIPT not in register and ATTRIBUTE not in register and SVG_TEXT not in proposal and NAME not in members


# What the pages show.


def test_register_lists_each_decision_with_every_electorate_members_vote(hostile: Council) -> None:
    register = parsed(render(hostile.ledger, "index.html"))
    text = " ".join("".join(register.text).split())
    assert "1 binding decision," in text and "D-1: " + SCRIPT in text
    for member, word in [("Germany", "approve"), ("France", "abstain"), ("Poland", "no vote (silent)"), ("Ukraine", "no vote (silent)")]:
        assert f"{member} (" in text and word in text
    assert "Reservation by Poland" in text and "Interpretative statement by France" in text
    adopted = View(hostile.ledger).decisions()[0]["adopted"]
    assert {"certificates/D-1.certificate", f"entries/{adopted}.json", f"receipts/{adopted}.tlog-proof"} <= set(register.hrefs)


def test_proposal_page_shows_changed_votes_in_order_and_the_live_tally(hostile: Council) -> None:
    adopted = " ".join("".join(parsed(render(hostile.ledger, "proposals/P-1.html")).text).split())
    assert adopted.index("France (fr): object") < adopted.index("France (fr): abstain")
    assert "replaced by a later vote" in adopted and "IN (in, observer)" in adopted
    open_one = " ".join("".join(parsed(render(hostile.ledger, "proposals/P-2.html")).text).split())
    assert "Live tally" in open_one and "if it closed now it would be rejected" in open_one
    assert "Not yet voted" in open_one and "Germany (de)" in open_one and "Refers to A-1" in open_one


def test_appeal_page_shows_age_responses_and_referring_proposals(hostile: Council) -> None:
    hostile.clock.now += 3 * DAY
    appeal = " ".join("".join(parsed(render(hostile.ledger, "appeals/A-1.html")).text).split())
    assert "3 days ago; answered" in appeal
    assert "Acknowledgment by Poland (pl)" in appeal and "Answer by European Security Council secretariat (operator)" in appeal
    assert "Referred to P-2" in appeal


def test_log_page_shows_size_checkpoint_and_witness_cosignature_times(hostile: Council) -> None:
    from ledger.checkpoint import cosign

    ledger = hostile.ledger
    note = ledger.log.latest_checkpoint()
    assert note is not None
    ledger.log.add_cosignature(cosign(note, hostile.keys["in"], hostile.clock.now), hostile.keys["in"].cosigner_key())
    log = " ".join("".join(parsed(render(ledger, "log.html")).text).split())
    assert f"{ledger.log.size} entries" in log and f"over the first {ledger.log.size} entries" in log
    assert re.search(r"in accord\.test/european-security/in\+[0-9a-f]{8} 2027-01-16T08:00:00Z", log)


# Pagination: page N always holds the same numbers.


def test_register_pages_hold_fixed_numbers_however_long_the_register(council: Council, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(site_module, "PAGE_SIZE", 2)
    for number in range(5):
        adopt(council, f"Decision {number + 1}")

    def titles(path: str) -> list[str]:
        return re.findall(r'<h2 id="(D-\d+)-title">', render(council.ledger, path).decode())

    assert titles("index.html") == ["D-1", "D-2"]
    assert titles("register/page-2.html") == ["D-3", "D-4"]
    assert titles("register/page-3.html") == ["D-5"]
    adopt(council, "Decision 6")
    assert titles("register/page-2.html") == ["D-3", "D-4"] and titles("register/page-3.html") == ["D-5", "D-6"]
    with pytest.raises(NotFound, match=r"^no page 4 of register: there are 3$"):
        render(council.ledger, "register/page-4.html")
    with pytest.raises(NotFound, match=r"^page 1 is the section's index page$"):
        render(council.ledger, "register/page-1.html")
    assert 'aria-current="page">2<' in render(council.ledger, "register/page-2.html").decode()


def test_a_page_of_the_register_reads_only_its_own_decisions(council: Council, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(site_module, "PAGE_SIZE", 2)
    for number in range(3):
        adopt(council, f"Decision {number + 1}")
    asked: list[tuple[int, int]] = []
    original = View.decisions_numbered
    monkeypatch.setattr(View, "decisions_numbered", lambda view, first, last: asked.append((first, last)) or original(view, first, last))
    render(council.ledger, "register/page-2.html")
    assert asked == [(3, 4)]


# As of an entry: the register as it stood.


def test_as_of_pages_show_the_register_as_it_stood_at_that_entry(council: Council) -> None:
    proposal = council.propose(title="Hotline", period=DAY)
    vote = council.vote("de", proposal, "approve").index
    council.clock.now += DAY
    close = council.close(proposal).index
    before = render(council.ledger, f"as-of/{close - 1}/index.html").decode()
    after = render(council.ledger, f"as-of/{close}/index.html").decode()
    assert "0 binding decisions" in before and "1 binding decision," in after
    silent = render(council.ledger, f"as-of/{vote - 1}/proposals/{proposal}.html").decode()
    voted = render(council.ledger, f"as-of/{vote}/proposals/{proposal}.html").decode()
    assert '<th scope="row">Germany <span class="id">(de)</span></th>\n      <td><span class="position silent">' in silent
    assert '<th scope="row">Germany <span class="id">(de)</span></th>\n      <td><span class="position approve">' in voted
    council.say("de", "statement.make", {"text": "later"})
    assert render(council.ledger, f"as-of/{close}/index.html").decode() == after  # a stable URL: later entries change nothing
    assert 'href="decisions/D-1.html"' in after and 'href="../../style.css"' in after


def test_as_of_an_entry_the_log_does_not_have_is_not_found(council: Council) -> None:
    with pytest.raises(NotFound, match=r"^ledger: no entry 99: the log has entries 0 to 0$"):
        open_site(council.ledger, "as-of/99/index.html")
    with pytest.raises(NotFound, match=r"^no page 'entries/0.json' as of entry 0$"):
        render(council.ledger, "as-of/0/entries/0.json")


# Pictures.


def test_vote_matrix_gives_each_position_as_colour_class_and_as_a_word() -> None:
    proposals = [
        {"id": "P-1", "title": "One", "electorate": ["de", "fr", "pl"], "votes": [{"actor": "de", "position": "approve"}, {"actor": "fr", "position": "object"}]},
        {"id": "P-2", "title": "Two", "electorate": ["de", "ua"], "votes": [{"actor": "ua", "position": "abstain"}]},
    ]
    matrix = pictures.vote_matrix(proposals, {"de": "Germany"})
    marks = {(cell.member, cell.proposal): (cell.mark, cell.word) for cell in matrix.cells}
    assert marks[("de", "P-1")] == ("approve", "approve") and marks[("fr", "P-1")] == ("object", "object")
    assert marks[("pl", "P-1")] == ("silent", "silent") and marks[("ua", "P-1")] == ("outside", "-")
    assert marks[("ua", "P-2")] == ("abstain", "abstain")
    assert [row.label for row in matrix.rows] == ["Germany (de)", "fr (fr)", "pl (pl)", "ua (ua)"]
    assert matrix.summary == "P-1 (One): approve: de; object: fr; silent: pl. P-2 (Two): abstain: ua; silent: de."


def test_timeline_shows_suspension_and_withdrawal_notice_as_periods(council: Council) -> None:
    council.clock.now += DAY
    council.say("ua", "membership.suspend", {})
    council.clock.now += DAY
    council.say("ua", "membership.resume", {})
    council.clock.now += DAY
    council.say("rs", "membership.withdraw", {})
    council.clock.now += 100 * DAY
    members = render(council.ledger, "members.html").decode()
    desc = re.search(r'<desc id="timeline-desc">(.*?)</desc>', members, re.S)
    assert desc is not None
    assert "UA (ua, member)" not in desc[1]
    ukraine = next(s for s in desc[1].split(". ") if s.startswith("Ukraine"))
    assert ukraine.count("active from") == 2 and ukraine.count("suspended from") == 1
    serbia = next(s for s in desc[1].split(". ") if s.startswith("Serbia"))
    assert "withdrawing from" in serbia and "withdrawn from" in serbia
    assert 'role="img"' in members and '<title id="timeline-title">' in members


# Downloads: entries, receipts and certificates that verify.


def test_entry_receipt_and_certificate_downloads_are_the_logs_own_and_verify(hostile: Council) -> None:
    ledger = hostile.ledger
    head = Site(ledger)
    entry = head.render("entries/1.json")
    assert entry.body == ledger.log.entry(1).to_bytes() and entry.filename == "entry-1.json"
    receipt = TlogProof.from_text(head.render("receipts/1.tlog-proof").body.decode())
    assert receipt.index == 1
    certificate = head.render("certificates/D-1.certificate").body.decode()
    charter = View(ledger).charter()
    assert charter is not None
    assert verify_certificate(certificate, bytes.fromhex(charter["anchor"])).decision == "D-1"
    with pytest.raises(NotFound, match=r"^no page 'receipts/99.tlog-proof' on this register$"):
        head.render("receipts/99.tlog-proof")


def test_receipts_and_certificates_are_not_linked_before_a_checkpoint_covers_them(council: Council) -> None:
    adopt(council, "Uncovered")
    register = render(council.ledger, "index.html").decode()
    assert "receipt" not in register and "not yet: no checkpoint covers its adoption" in register
    with pytest.raises(NotFound, match=r"^certificate: no checkpoint covers the close of D-1 \(entry 3\) yet$"):
        Site(council.ledger).render("certificates/D-1.certificate")


# The static site.


def test_static_site_holds_every_file_its_pages_link_to(hostile: Council, tmp_path: Path) -> None:
    root = tmp_path / "site"
    write_site(hostile.ledger, root)
    head = hostile.ledger.log.size - 1
    assert (root / "index.html").is_file() and (root / f"as-of/{head}/index.html").is_file()
    for page in root.rglob("*.html"):
        for href in parsed(page.read_bytes()).hrefs:
            if href.startswith("#"):
                continue
            assert (page.parent / href).resolve().is_file(), f"{page.relative_to(root)} links to missing {href}"
    assert (root / "index.html").read_bytes() == Site(hostile.ledger).render("index.html").body
    assert not list(root.rglob("*.tmp"))


def test_reads_by_number_counts_and_histories_agree_on_every_backend(store_url: str) -> None:
    with Ledger(Store(store_url), clock=(clock := Clock())) as ledger:
        council = Council(ledger, clock)
        first = adopt(council, "First")
        council.vote("fr", council.propose(title="Open"), "object")
        council.vote("fr", "P-2", "abstain")
        view = View(ledger)
        assert view.count("decision") == 1 and view.count("proposal") == 2
        assert [d["id"] for d in view.decisions_numbered(1, 50)] == ["D-1"]
        assert [p["id"] for p in view.proposals_numbered(1, 50)] == [first, "P-2"]
        assert [(v["actor"], v["position"]) for v in view.vote_history("P-2")] == [("fr", "object"), ("fr", "abstain")]
        assert [index for index, actor in view.actor_history() if actor["id"] == "de"] == [0]


def test_pagination_links_the_first_last_and_nearby_pages_of_a_long_register(council: Council, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(site_module, "PAGE_SIZE", 1)
    for number in range(12):
        adopt(council, f"Decision {number + 1}")
    navigation = re.search(r'<nav aria-label="Pages of the register" class="pages">(.*?)</nav>', render(council.ledger, "register/page-6.html").decode(), re.S)
    assert navigation is not None
    assert re.findall(r">(\d+|…)<", navigation[1]) == ["1", "…", "3", "4", "5", "6", "7", "8", "9", "…", "12"]


def test_log_page_lists_earlier_checkpoints_with_their_witnesses(hostile: Council) -> None:
    from ledger.checkpoint import cosign

    ledger, keys = hostile.ledger, hostile.keys
    first = ledger.log.latest_checkpoint()
    assert first is not None
    ledger.log.add_cosignature(cosign(first, keys["fr"], hostile.clock.now), keys["fr"].cosigner_key())
    hostile.say("de", "statement.make", {"text": "after the first checkpoint"})
    ledger.publish_checkpoint(keys[OPERATOR])
    log = " ".join("".join(parsed(render(ledger, "log.html")).text).split())
    earlier = log[log.index("Earlier checkpoints"):]
    assert f"{ledger.log.size - 1} " in earlier and "fr at 2027-01-16T08:00:00Z" in earlier
    assert "Earlier checkpoints" not in " ".join("".join(parsed(render(ledger, f"as-of/{ledger.log.size - 2}/log.html")).text).split())


def test_pictures_escape_hostile_names_in_svg_text_titles_and_descriptions() -> None:
    from server.pages.site import _TEMPLATES

    proposal = {"id": "P-1", "title": SVG_TEXT, "electorate": ["de"], "votes": [{"actor": "de", "position": "approve"}]}
    matrix = _TEMPLATES.get_template("matrix.svg").render(matrix=pictures.vote_matrix([proposal], {"de": NAME}))
    versions = [(0, {"suspended_by": None, "withdrawal_effective_seconds": None})]
    timeline = _TEMPLATES.get_template("timeline.svg").render(timeline=pictures.membership_timeline([(SCRIPT, versions)], 0, 86_400))
    for svg in (matrix, timeline):
        markup = parsed(svg.encode())
        assert "script" not in markup.tags and "b" not in markup.tags and svg.count("</svg>") == 1
        assert not [name for name, _ in markup.attributes if name.startswith("on")]
    assert NAME in "".join(parsed(matrix.encode()).text) and SCRIPT in "".join(parsed(timeline.encode()).text)


def test_members_page_links_every_membership_act_to_its_entry(council: Council) -> None:
    suspension = council.say("ua", "membership.suspend", {}).index
    resumption = council.say("ua", "membership.resume", {}).index
    withdrawal = council.say("rs", "membership.withdraw", {}).index
    members = parsed(render(council.ledger, "members.html"))
    text = " ".join("".join(members.text).split())
    assert f"Ukraine (ua): suspended its participation (entry {suspension})" in text
    assert f"Ukraine (ua): resumed its participation (entry {resumption})" in text
    assert f"Serbia (rs): announced its withdrawal, effective " in text and f"(entry {withdrawal})" in text
    assert f"entries/{suspension}.json" in members.hrefs and f"entries/{withdrawal}.json" in members.hrefs
