"""Every page and download of the public register, by path (SPEC 14).

A :class:`Site` reads one ledger at its head or as of an entry and renders
what a path names. Paths are relative to the site's root and the same for
the server and for the static site (``static.write_site``):

    index.html, register/page-N.html     the register of binding decisions
    decisions/D-N.html                   one decision
    proposals/index.html, .../page-N.html   proposals and their vote matrix
    proposals/P-N.html                   one proposal
    members.html                         members, observers, civil society, timeline
    appeals/index.html, .../page-N.html  appeals; appeals/A-N.html one appeal
    log.html                             size, checkpoint, witnesses
    as-of/N/<any page above>             the page as it stood at entry N (stable)
    entries/N.json                       entry N, its bytes exactly as logged
    receipts/N.tlog-proof                its receipt under the latest checkpoint
    certificates/D-N.certificate         a decision's certificate
    style.css

Pages link to each other relatively, so the static site works from any folder
of any host; every link a page makes is recorded in :attr:`Site.linked`, which
is how the static writer knows what to write.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from ledger.checkpoint import Checkpoint
from ledger.errors import AccordError
from projections.certificate import build_certificate
from projections.ledger import Ledger
from projections.queries import View
from projections.views import APPEAL, DECISION, PROPOSAL
from server.pages import content

PAGE_SIZE = 50
"""Decisions, proposals or appeals per page: page N always holds numbers 50(N-1)+1 to 50N."""

NEAR = 3
"""Pages linked on either side of the current one (besides the first and the last)."""

HERE = Path(__file__).parent
_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,  # every template is HTML or SVG: nothing a member writes becomes markup
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_NUMBER = r"([1-9][0-9]{0,11})"
_AS_OF = re.compile(r"as-of/(0|[1-9][0-9]{0,11})/(.*)")

HTML = "text/html; charset=utf-8"


@dataclass(frozen=True)
class Rendered:
    """A page or a download: its bytes, media type and, for downloads, the file name to save as."""

    body: bytes
    media_type: str
    filename: str | None = None


class NotFound(Exception):
    """No such page: the message says why, for the 404 page."""


def page_path(section: str, number: int) -> str:
    """The path of page ``number`` of the register, proposals or appeals."""
    if section == "register":
        return "index.html" if number == 1 else f"register/page-{number}.html"
    return f"{section}/index.html" if number == 1 else f"{section}/page-{number}.html"


def page_count(items: int) -> int:
    return max(1, -(-items // PAGE_SIZE))


def numbers_on(number: int) -> tuple[int, int]:
    """The first and last item numbers on page ``number``."""
    return PAGE_SIZE * (number - 1) + 1, PAGE_SIZE * number


class Site:
    """The pages of one ledger, read at its head (``as_of`` None) or as of entry ``as_of``."""

    def __init__(self, ledger: Ledger, as_of: int | None = None) -> None:
        self.ledger = ledger
        self.view = View(ledger, as_of)
        self.as_of = as_of
        self.prefix = "" if as_of is None else f"as-of/{as_of}/"
        self.linked: set[str] = set()
        self._current = "index.html"
        latest = ledger.log.latest_checkpoint()
        self.covered = 0 if latest is None else Checkpoint.from_text(latest.text).size
        """Entries the latest checkpoint covers: those that have a receipt."""
        self._pages: list[tuple[re.Pattern[str], Callable[..., str]]] = [
            (re.compile(r"(?:index\.html)?"), lambda: self.register(1)),
            (re.compile(rf"register/page-{_NUMBER}\.html"), lambda n: self.register(self._page_number(n))),
            (re.compile(rf"decisions/(D-{_NUMBER[1:-1]})\.html"), self.decision),
            (re.compile(r"proposals/(?:index\.html)?"), lambda: self.proposals(1)),
            (re.compile(rf"proposals/page-{_NUMBER}\.html"), lambda n: self.proposals(self._page_number(n))),
            (re.compile(rf"proposals/(P-{_NUMBER[1:-1]})\.html"), self.proposal),
            (re.compile(r"members\.html"), self.members),
            (re.compile(r"appeals/(?:index\.html)?"), lambda: self.appeals(1)),
            (re.compile(rf"appeals/page-{_NUMBER}\.html"), lambda n: self.appeals(self._page_number(n))),
            (re.compile(rf"appeals/(A-{_NUMBER[1:-1]})\.html"), self.appeal),
            (re.compile(r"log\.html"), self.log),
        ]

    # Finding what a path names.

    @staticmethod
    def _page_number(text: str) -> int:
        number = int(text)
        if number == 1:
            raise NotFound("page 1 is the section's index page")
        return number

    def render(self, path: str) -> Rendered:
        """What ``path`` (relative to this site's as-of prefix) names; raises NotFound."""
        for pattern, page in self._pages:
            found = pattern.fullmatch(path)
            if found:
                self._current = self.prefix + (path if path and not path.endswith("/") else path + "index.html")
                return Rendered(page(*found.groups()).encode("utf-8"), HTML)
        if self.as_of is None:
            return self._download(path)
        raise NotFound(f"no page {path!r} as of entry {self.as_of}")

    def _download(self, path: str) -> Rendered:
        if path == "style.css":
            return Rendered((HERE / "static" / "style.css").read_bytes(), "text/css; charset=utf-8")
        found = re.fullmatch(r"entries/(0|[1-9][0-9]{0,11})\.json", path)
        if found and int(found[1]) < self.view.size:
            return Rendered(self.ledger.log.entry(int(found[1])).to_bytes(), "application/json", f"entry-{found[1]}.json")
        found = re.fullmatch(r"receipts/(0|[1-9][0-9]{0,11})\.tlog-proof", path)
        if found and int(found[1]) < self.covered:
            receipt = self.ledger.log.receipt(int(found[1])).to_text()
            return Rendered(receipt.encode("utf-8"), "text/plain; charset=utf-8", f"entry-{found[1]}.tlog-proof")
        found = re.fullmatch(rf"certificates/(D-{_NUMBER[1:-1]})\.certificate", path)
        if found:
            try:
                certificate = build_certificate(self.ledger, found[1])
            except AccordError as error:
                raise NotFound(str(error)) from error
            return Rendered(certificate.encode("utf-8"), "text/plain; charset=utf-8", f"{found[1]}.certificate")
        raise NotFound(f"no page {path!r} on this register")

    # Links, relative to the page being rendered.

    def _link(self, target: str) -> str:
        self.linked.add(target)
        return posixpath.relpath(target, posixpath.dirname(self._current) or ".") if "/" in target or "/" in self._current else target

    def page(self, path: str) -> str:
        """A link to another page of this reading (as of the same entry)."""
        return self._link(self.prefix + path)

    def file(self, path: str) -> str:
        """A link to a download or the stylesheet, which do not depend on the reading."""
        return self._link(path)

    def entry(self, index: int) -> str:
        return self.file(f"entries/{index}.json")

    def receipt(self, index: int) -> str | None:
        return self.file(f"receipts/{index}.tlog-proof") if index < self.covered else None

    def certificate(self, decision: dict[str, Any]) -> str | None:
        return self.file(f"certificates/{decision['id']}.certificate") if int(decision["adopted"]) < self.covered else None

    # The pages.

    def _html(self, template: str, section: str, **context: Any) -> str:
        charter = self.view.charter() or {}
        head = self.view.size - 1
        return _TEMPLATES.get_template(template).render(
            site=self,
            section=section,
            name=charter.get("name") or "Accord register",
            origin=charter.get("origin") or "",
            anchor=charter.get("anchor") or "",
            size=self.view.size,
            logged_at=self.view.logged_at,
            permalink=None if head < 0 else self._link(f"as-of/{head}/" + self._current.removeprefix(self.prefix)),
            **context,
        )

    def _pagination(self, section: str, number: int, items: int) -> dict[str, Any]:
        pages = page_count(items)
        if number > pages:
            raise NotFound(f"no page {number} of {section}: there are {pages}")
        shown = sorted({1, pages, *range(max(1, number - NEAR), min(pages, number + NEAR) + 1)})
        links: list[tuple[int | None, str]] = []
        previous = 0
        for n in shown:
            if n - previous > 1:
                links.append((None, ""))  # a gap: pages left out between these
            links.append((n, self.page(page_path(section, n))))
            previous = n
        return {"number": number, "pages": pages, "links": links}

    def register(self, number: int) -> str:
        count = self.view.count(DECISION)
        pagination = self._pagination("register", number, count)
        decisions = self.view.decisions_numbered(*numbers_on(number))
        proposals = self.view.proposals_named([d["proposal"] for d in decisions])
        actors = content.actors_by_id(self.view.members())
        shown = [content.decision(self, d, proposals[d["proposal"]], actors) for d in decisions]
        return self._html("register.html", "register", decisions=shown, count=count, pagination=pagination)

    def decision(self, decision_id: str) -> str:
        found = self.view.decision(decision_id)
        if found is None:
            raise NotFound(f"no binding decision {decision_id} as of entry {self.view.size - 1}")
        proposal = self.view.proposal(found["proposal"])
        assert proposal is not None
        actors = content.actors_by_id(self.view.members())
        shown = content.decision(self, found, proposal, actors)
        return self._html("decision.html", "register", decision=shown, proposal=content.proposal(self, proposal, actors, found))

    def proposals(self, number: int) -> str:
        count = self.view.count(PROPOSAL)
        pagination = self._pagination("proposals", number, count)
        proposals = self.view.proposals_numbered(*numbers_on(number))
        actors = content.actors_by_id(self.view.members())
        shown = [content.proposal(self, p, actors) for p in proposals]
        matrix = content.matrix(self, proposals, actors)
        return self._html("proposals.html", "proposals", proposals=shown, count=count, pagination=pagination, matrix=matrix)

    def proposal(self, proposal_id: str) -> str:
        found = self.view.proposal(proposal_id)
        if found is None:
            raise NotFound(f"no proposal {proposal_id} as of entry {self.view.size - 1}")
        decision = self.view.decision(found["decision"]) if found.get("decision") else None
        actors = content.actors_by_id(self.view.members())
        shown = content.proposal(self, found, actors, decision)
        return self._html("proposal.html", "proposals", proposal=shown, matrix=content.matrix(self, [found], actors))

    def members(self) -> str:
        actors = self.view.members()
        timeline = content.timeline(self, actors)
        groups = content.actor_groups(self, actors)
        record = content.membership_record(self, actors)
        return self._html("members.html", "members", groups=groups, timeline=timeline, record=record)

    def appeals(self, number: int) -> str:
        count = self.view.count(APPEAL)
        pagination = self._pagination("appeals", number, count)
        actors = content.actors_by_id(self.view.members())
        shown = [content.appeal(self, a, actors) for a in self.view.appeals_numbered(*numbers_on(number))]
        return self._html("appeals.html", "appeals", appeals=shown, count=count, pagination=pagination)

    def appeal(self, appeal_id: str) -> str:
        found = self.view.appeal(appeal_id)
        if found is None:
            raise NotFound(f"no appeal {appeal_id} as of entry {self.view.size - 1}")
        actors = content.actors_by_id(self.view.members())
        return self._html("appeal.html", "appeals", appeal=content.appeal(self, found, actors))

    def log(self) -> str:
        return self._html("log.html", "log", log=content.log(self))

    def not_found(self, reason: str) -> str:
        self._current = self.prefix + "index.html"
        return self._html("not_found.html", "", reason=reason)


def open_site(ledger: Ledger, path: str) -> tuple[Site, str]:
    """The site a request path reads (the head, or ``as-of/N/``) and the path within it.

    Raises NotFound for an entry the log does not have.
    """
    found = _AS_OF.fullmatch(path)
    if found is None:
        return Site(ledger), path
    try:
        return Site(ledger, int(found[1])), found[2]
    except AccordError as error:
        raise NotFound(str(error)) from error
