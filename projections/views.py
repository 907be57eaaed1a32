"""What each entry changes in the read models, as rows: pure, no I/O.

A view is a set of documents (JSON objects) named by ``(view, id)``; an entry
writes a new version of each document it changes. Children (votes,
attachments, responses to appeals, statements, referrals) are documents of
their own, tied to what they are about by ``subject``, so that a vote writes
one small row rather than a new copy of its proposal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from domain.rules import effective_electorate, outcome, tally
from domain.snapshot import actor_json, proposal_json
from domain.state import Actor, LedgerState, Proposal
from ledger.entry import Entry
from ledger.statement import Statement
from ledger.timefmt import format_time

LEDGER, ACTOR, PROPOSAL, VOTE, DECISION, ATTACHMENT, APPEAL, RESPONSE, REFERRAL, STATEMENT = (
    "ledger", "actor", "proposal", "vote", "decision", "attachment", "appeal", "response", "referral", "statement"
)


@dataclass(frozen=True)
class Row:
    """One version of one document, from the entry that wrote it on."""

    view: str
    id: str
    subject: str
    doc: Mapping[str, Any]
    first: bool = False
    """Whether this is the document's first version (so no earlier version has to end)."""


def actor_doc(actor: Actor) -> dict[str, Any]:
    """The actor's document: its state, times as RFC 3339, civil-society details as fields."""
    doc = actor_json(actor)
    details = doc.pop("details")
    doc["withdrawal_effective"] = None if actor.withdrawal_effective is None else format_time(actor.withdrawal_effective)
    return {**doc, **details}


def proposal_doc(proposal: Proposal, **outcome_fields: Any) -> dict[str, Any]:
    """The proposal's document: its state without the positions (votes are rows of their own)."""
    doc = proposal_json(proposal)
    del doc["positions"]
    doc["deadline"] = format_time(proposal.deadline)
    doc["submitted_at"] = format_time(proposal.submitted_at)
    return {**doc, "status": "open", **outcome_fields}


def ledger_doc(state: LedgerState) -> dict[str, Any]:
    settings = state.settings
    return {
        "origin": settings.origin,
        "name": settings.name,
        "anchor": state.anchor.hex(),
        "categories": {name: category.to_json() for name, category in sorted(settings.categories.items())},
        "withdrawal_notice": settings.withdrawal_notice,
        "signed_at_skew": settings.signed_at_skew,
    }


def _changed_actors(before: LedgerState | None, after: LedgerState) -> list[Actor]:
    if before is not None and before.actors is after.actors:
        return []
    earlier = before.actors if before is not None else {}
    return sorted((a for a in after.actors.values() if earlier.get(a.id) is not a), key=lambda a: a.id)


def rows_for(before: LedgerState | None, after: LedgerState, entry: Entry, statement: Statement) -> list[Row]:
    """The rows ``entry`` writes, given the rule state before and after it."""
    kind, body, index, at = statement.kind, statement.body, entry.index, entry.logged_at
    by = {"actor": statement.actor, "index": index, "logged_at": at, "signed_at": statement.signed_at}
    rows = [Row(ACTOR, actor.id, "", actor_doc(actor)) for actor in _changed_actors(before, after)]
    if before is None or before.settings is not after.settings:
        rows.append(Row(LEDGER, "charter", "", ledger_doc(after)))
    if kind == "proposal.submit":
        proposal = after.open_proposals[f"P-{after.proposals}"]
        rows.append(Row(PROPOSAL, proposal.id, "", proposal_doc(proposal), first=True))
        rows.extend(Row(REFERRAL, f"{ref}/{proposal.id}", ref, {"proposal": proposal.id, **by}, first=True) for ref in proposal.references)
    elif kind == "vote.cast":
        fields = {"proposal": body["proposal"], "position": body["position"], "explanation": body.get("explanation"), **by}
        assert before is not None
        replaced = statement.actor in before.open_proposals[body["proposal"]].positions
        rows.append(Row(VOTE, f"{body['proposal']}/{statement.actor}", body["proposal"], fields, first=not replaced))
    elif kind in ("proposal.withdraw", "proposal.close"):
        assert before is not None
        proposal = before.open_proposals[body["proposal"]]
        if kind == "proposal.withdraw":
            rows.append(Row(PROPOSAL, proposal.id, "", proposal_doc(proposal, status="withdrawn", ended=by)))
        else:
            counted = tally(before, proposal, entry.logged_at_seconds)
            result = outcome(proposal.procedure, counted)
            decision = f"D-{after.decisions}" if result == "adopted" else None
            counted_members = effective_electorate(before, proposal, entry.logged_at_seconds)
            closing = {"status": result, "ended": by, "tally": counted.to_json(), "counted": counted_members, "decision": decision}
            rows.append(Row(PROPOSAL, proposal.id, "", proposal_doc(proposal, **closing)))
            if decision is not None:
                rows.append(
                    Row(
                        DECISION,
                        decision,
                        "",
                        {
                            "id": decision,
                            "proposal": proposal.id,
                            "title": proposal.title,
                            "text": proposal.text,
                            "category": proposal.category,
                            "procedure": proposal.procedure,
                            "tally": counted.to_json(),
                            "effect": dict(proposal.effect),
                            "adopted": index,
                            "adopted_at": at,
                        },
                        first=True,
                    )
                )
    elif kind == "decision.attach":
        fields = {"decision": body["decision"], "type": body["type"], "text": body["text"], **by}
        rows.append(Row(ATTACHMENT, f"{body['decision']}/{index}", body["decision"], fields, first=True))
    elif kind == "statement.make":
        about = body.get("about", "")
        rows.append(Row(STATEMENT, f"S-{index}", about, {"text": body["text"], "about": about or None, **by}, first=True))
    elif kind == "appeal.file":
        appeal_id = f"A-{after.appeals}"
        fields = {"id": appeal_id, "title": body["title"], "text": body["text"], "concerned": body["concerned"], "urgency": body["urgency"]}
        rows.append(Row(APPEAL, appeal_id, "", {**fields, "filer": statement.actor, "filed": index, "filed_at": at}, first=True))
    elif kind in ("appeal.acknowledge", "appeal.answer"):
        response = "acknowledgment" if kind == "appeal.acknowledge" else "answer"
        fields = {"appeal": body["appeal"], "type": response, "text": body.get("text"), **by}
        rows.append(Row(RESPONSE, f"{body['appeal']}/{index}", body["appeal"], fields, first=True))
    return rows
