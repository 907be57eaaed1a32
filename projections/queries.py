"""The views users ask for, read from the projection tables, never by replaying the log.

A View reads at ``as_of`` (an entry index, or None for the head) and returns
plain JSON-able documents. Time-dependent facts (a withdrawal that has taken
effect, a live tally, an appeal's age) are judged at the ``logged_at`` of the
entry read as of, or by the operator's clock at the head.
"""

from __future__ import annotations

from typing import Any, TypedDict

from domain.state import standing as standing_of
from domain.voting import counts, outcome, tally_of
from ledger.entry import Entry
from ledger.timefmt import parse_time
from projections.ledger import Ledger
from projections.views import (
    ACTOR,
    APPEAL,
    ATTACHMENT,
    DECISION,
    LEDGER,
    PROPOSAL,
    REFERRAL,
    RESPONSE,
    STATEMENT,
    VOTE,
)


class Status(TypedDict):
    """What ``accord status`` shows of a ledger as of an entry (its checkpoint aside)."""

    origin: str | None
    name: str | None
    anchor: str | None
    size: int
    logged_at: str | None


def standing(actor: dict[str, Any], now: int) -> str:
    """An actor document's standing at time ``now`` (as domain.state.Actor.standing)."""
    effective = actor.get("withdrawal_effective")
    withdrawal = None if effective is None else parse_time(effective, "withdrawal_effective")
    return standing_of(actor.get("revoked_by"), withdrawal, actor.get("suspended_by"), now)


class View:
    """One reading of the views at one point of the log."""

    def __init__(self, ledger: Ledger, as_of: int | None = None) -> None:
        self.ledger = ledger
        self.size = ledger.as_of_size(as_of)
        last: Entry | None = ledger.log.entry(self.size - 1) if self.size else None
        self.logged_at = last.logged_at if last else None
        logged = parse_time(last.logged_at, "logged_at") if last else 0
        # At the head, time is the operator's clock (the one the next entry
        # will be judged by); as of an earlier entry, that entry's logged_at.
        self.now = max(logged, ledger.log.clock()) if as_of is None else logged

    def _documents(self, view: str, subject: str | None = None) -> list[dict[str, Any]]:
        return self.ledger.views.documents(view, self.size, subject)

    def _document(self, view: str, doc_id: str) -> dict[str, Any] | None:
        return self.ledger.views.document(view, doc_id, self.size)

    def charter(self) -> dict[str, Any] | None:
        return self._document(LEDGER, "charter")

    def members(self) -> list[dict[str, Any]]:
        """Every actor with role, standing, affiliations and key history."""
        order = {"member": 0, "observer": 1, "civil-society": 2, "operator": 3}
        actors = sorted(self._documents(ACTOR), key=lambda actor: (order.get(actor["role"], 4), actor["id"]))
        return [{**actor, "standing": standing(actor, self.now)} for actor in actors]

    def _about(self, view: str, items: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        """The documents of ``view`` about each item: one query for all of them."""
        return self.ledger.views.documents_about(view, self.size, [item["id"] for item in items])

    def _with_votes(self, proposals: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Proposals with their votes and statements; open ones with the live tally (a few queries for all)."""
        votes = self._about(VOTE, proposals)
        statements = self._about(STATEMENT, proposals)
        actors = {actor["id"]: actor for actor in self._documents(ACTOR)} if any(p["status"] == "open" for p in proposals) else {}
        shown = []
        for proposal in proposals:
            cast = {vote["actor"]: vote for vote in votes[proposal["id"]]}
            proposal = {**proposal, "votes": sorted(cast.values(), key=lambda v: v["actor"]), "statements": statements[proposal["id"]]}
            if proposal["status"] == "open":
                counted = [m for m in proposal["electorate"] if m in actors and self._counts(actors[m], proposal)]
                live = tally_of(counted, {member: vote["position"] for member, vote in cast.items()})
                proposal["tally"] = live.to_json()
                proposal["not_yet_voted"] = [m for m in counted if m not in cast]
                proposal["outcome_if_closed_now"] = outcome(proposal["procedure"], live)
            shown.append(proposal)
        return shown

    def _counts(self, actor: dict[str, Any], proposal: dict[str, Any]) -> bool:
        """Whether an electorate id counts now: the rules' own test (role, standing, membership)."""
        return counts(actor["role"], standing(actor, self.now), actor["joined"], proposal["submitted"])

    def proposals(self, open_only: bool = False) -> list[dict[str, Any]]:
        """Proposals with their votes; open ones with the live tally and who has not yet voted."""
        found = self._documents(PROPOSAL)
        return self._with_votes([p for p in found if not open_only or p["status"] == "open"])

    def proposal(self, proposal_id: str) -> dict[str, Any] | None:
        found = self._document(PROPOSAL, proposal_id)
        return None if found is None else self._with_votes([found])[0]

    def _with_attachments(self, decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        attachments, statements = self._about(ATTACHMENT, decisions), self._about(STATEMENT, decisions)
        return [{**d, "attachments": attachments[d["id"]], "statements": statements[d["id"]]} for d in decisions]

    def decisions(self, last: int | None = None) -> list[dict[str, Any]]:
        """The register of binding decisions in order of adoption (the ``last`` ones only, if given),
        with their attached statements: three queries however long the register."""
        return self._with_attachments(self.ledger.views.documents(DECISION, self.size, last=last))

    def decision(self, decision_id: str) -> dict[str, Any] | None:
        found = self._document(DECISION, decision_id)
        return None if found is None else self._with_attachments([found])[0]

    def _with_responses(self, appeals: list[dict[str, Any]]) -> list[dict[str, Any]]:
        responses, referrals, statements = self._about(RESPONSE, appeals), self._about(REFERRAL, appeals), self._about(STATEMENT, appeals)
        shown = []
        for appeal in appeals:
            kinds = {response["type"] for response in responses[appeal["id"]]}
            shown.append(
                {
                    **appeal,
                    "status": "answered" if "answer" in kinds else "acknowledged" if kinds else "unanswered",
                    "age_days": (self.now - parse_time(appeal["filed_at"], "filed_at")) // 86_400,
                    "responses": responses[appeal["id"]],
                    "referred_by": [referral["proposal"] for referral in referrals[appeal["id"]]],
                    "statements": statements[appeal["id"]],
                }
            )
        return shown

    def appeals(self) -> list[dict[str, Any]]:
        """Appeals with their status and age; unanswered ones say so."""
        return self._with_responses(sorted(self._documents(APPEAL), key=lambda a: int(a["id"][2:])))

    def appeal(self, appeal_id: str) -> dict[str, Any] | None:
        found = self._document(APPEAL, appeal_id)
        return None if found is None else self._with_responses([found])[0]

    def count(self, view: str) -> int:
        """How many documents of ``view`` (DECISION, PROPOSAL, APPEAL, ...) there are."""
        return self.ledger.views.count(view, self.size)

    def _numbered(self, view: str, prefix: str, first: int, last: int) -> list[dict[str, Any]]:
        found = self.ledger.views.documents_by_id(view, self.size, [f"{prefix}{n}" for n in range(first, last + 1)])
        return [found[f"{prefix}{n}"] for n in range(first, last + 1) if f"{prefix}{n}" in found]

    def decisions_numbered(self, first: int, last: int) -> list[dict[str, Any]]:
        """Binding decisions D-first to D-last (those that exist), with their attached statements:
        a page of the register in a few queries however long the register."""
        return self._with_attachments(self._numbered(DECISION, "D-", first, last))

    def proposals_named(self, proposal_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The proposals named (those that exist), as :meth:`proposals` shows them, by id."""
        found = self.ledger.views.documents_by_id(PROPOSAL, self.size, proposal_ids)
        return {p["id"]: p for p in self._with_votes([found[i] for i in proposal_ids if i in found])}

    def proposals_numbered(self, first: int, last: int) -> list[dict[str, Any]]:
        """Proposals P-first to P-last (those that exist), as :meth:`proposals` shows them."""
        return self._with_votes(self._numbered(PROPOSAL, "P-", first, last))

    def appeals_numbered(self, first: int, last: int) -> list[dict[str, Any]]:
        """Appeals A-first to A-last (those that exist), as :meth:`appeals` shows them."""
        return self._with_responses(self._numbered(APPEAL, "A-", first, last))

    def vote_history(self, proposal_id: str) -> list[dict[str, Any]]:
        """Every vote cast on the proposal, replaced or current, in log order."""
        return [vote for _, vote in self.ledger.views.versions(VOTE, self.size, subject=proposal_id)]

    def actor_history(self) -> list[tuple[int, dict[str, Any]]]:
        """Every version of every actor's document as (the entry that wrote it, document), in log order."""
        return [(valid_from - 1, actor) for valid_from, actor in self.ledger.views.versions(ACTOR, self.size)]

    def statements(self) -> list[dict[str, Any]]:
        return self._documents(STATEMENT)

    def status(self) -> Status:
        charter = self.charter() or {}
        return {
            "origin": charter.get("origin"),
            "name": charter.get("name"),
            "anchor": charter.get("anchor"),
            "size": self.size,
            "logged_at": self.logged_at,
        }
