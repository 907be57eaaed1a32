"""What each entry changes in the read models, as rows: pure, no I/O.

A view is a set of documents (JSON objects) named by ``(view, id)``; an entry
writes a new version of each document it changes. Children (votes,
attachments, responses to appeals, statements, referrals) are documents of
their own, tied to what they are about by ``subject``, so that a vote writes
one small row rather than a new copy of its proposal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, NamedTuple, TypedDict, TypeVar

from domain.bodies import (
    AppealAcknowledge,
    AppealAnswer,
    AppealFile,
    Body,
    DecisionAttach,
    ProposalClose,
    ProposalSubmit,
    ProposalWithdraw,
    StatementMake,
    VoteCast,
    parse_body,
)
from domain.voting import ADOPTED, effective_electorate, outcome, tally_of
from domain.snapshot import actor_json, proposal_json
from domain.state import Actor, LedgerState, Proposal
from ledger.entry import Entry
from ledger.statement import Statement
from ledger.timefmt import format_time

LEDGER, ACTOR, PROPOSAL, VOTE, DECISION, ATTACHMENT, APPEAL, RESPONSE, REFERRAL, STATEMENT = (
    "ledger", "actor", "proposal", "vote", "decision", "attachment", "appeal", "response", "referral", "statement"
)


class Row(NamedTuple):
    """One version of one document, from the entry that wrote it on.

    A named tuple, not a dataclass: a verifier makes one or more an entry,
    and a tuple is made in a fraction of a frozen dataclass's time.
    """

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
    return after.changed_actors(before)


B_co = TypeVar("B_co", bound=Body, covariant=True)


class By(TypedDict):
    """Who said an entry's statement and when: the fields every row an entry writes about itself carries."""

    actor: str
    index: int
    logged_at: str
    signed_at: str


class Change(Generic[B_co]):
    """One entry as the projectors read it: the states around it, its typed body, who said it when.

    A plain class with slots (read only by the projectors), not a frozen
    dataclass: a verifier makes one an entry, and a frozen dataclass's
    ``__init__`` sets each field through ``object.__setattr__``.
    """

    __slots__ = ("before", "after", "entry", "statement", "body", "by")

    def __init__(self, before: LedgerState | None, after: LedgerState, entry: Entry, statement: Statement, body: B_co, by: By) -> None:
        self.before = before
        self.after = after
        self.entry = entry
        self.statement = statement
        self.body = body
        self.by = by


K = TypeVar("K", bound=Body)
ProjectorOf = Callable[[Change[K]], list[Row]]
"""The rows an entry of one kind writes, from the entry as the projectors read it."""
Projector = ProjectorOf[Any]
PROJECTORS: dict[str, Projector] = {}


def projects(body: type[K]) -> Callable[[ProjectorOf[K]], ProjectorOf[K]]:
    """Register the view projector of ``body``'s kind (kinds that change only actors need none)."""

    def register(projector: ProjectorOf[K]) -> ProjectorOf[K]:
        PROJECTORS[body.KIND] = projector
        return projector

    return register


def rows_for(before: LedgerState | None, after: LedgerState, entry: Entry, statement: Statement) -> list[Row]:
    """The rows ``entry`` writes, given the rule state before and after it."""
    rows = [Row(ACTOR, actor.id, "", actor_doc(actor)) for actor in _changed_actors(before, after)]
    if before is None or before.settings is not after.settings:
        rows.append(Row(LEDGER, "charter", "", ledger_doc(after)))
    projector = PROJECTORS.get(statement.kind)
    if projector is None:
        return rows
    # The entry was judged already: its body parses (once more, here, for the views).
    by: By = {"actor": statement.actor, "index": entry.index, "logged_at": entry.logged_at, "signed_at": statement.signed_at}
    rows.extend(projector(Change(before, after, entry, statement, parse_body(statement), by)))
    return rows


@projects(ProposalSubmit)
def _submitted(change: Change[ProposalSubmit]) -> list[Row]:
    proposal = change.after.open_proposals[f"P-{change.after.proposals}"]
    rows = [Row(PROPOSAL, proposal.id, "", proposal_doc(proposal), first=True)]
    rows.extend(Row(REFERRAL, f"{ref}/{proposal.id}", ref, {"proposal": proposal.id, **change.by}, first=True) for ref in proposal.references)
    return rows


@projects(VoteCast)
def _voted(change: Change[VoteCast]) -> list[Row]:
    body: VoteCast = change.body
    assert change.before is not None
    fields = {"proposal": body.proposal, "position": body.position, "explanation": body.explanation, **change.by}
    replaced = change.statement.actor in change.before.open_proposals[body.proposal].positions
    return [Row(VOTE, f"{body.proposal}/{change.statement.actor}", body.proposal, fields, first=not replaced)]


@projects(ProposalWithdraw)
def _withdrawn(change: Change[ProposalWithdraw]) -> list[Row]:
    body: ProposalWithdraw = change.body
    assert change.before is not None
    proposal = change.before.open_proposals[body.proposal]
    return [Row(PROPOSAL, proposal.id, "", proposal_doc(proposal, status="withdrawn", ended=change.by))]


@projects(ProposalClose)
def _closed(change: Change[ProposalClose]) -> list[Row]:
    body: ProposalClose = change.body
    before, now = change.before, change.entry.logged_at_seconds
    assert before is not None
    proposal = before.open_proposals[body.proposal]
    counted_members = effective_electorate(before, proposal, now)
    counted = tally_of(counted_members, proposal.positions)
    result = outcome(proposal.procedure, counted)
    decision = f"D-{change.after.decisions}" if result == ADOPTED else None
    closing = {"status": result, "ended": change.by, "tally": counted.to_json(), "counted": counted_members, "decision": decision}
    rows = [Row(PROPOSAL, proposal.id, "", proposal_doc(proposal, **closing))]
    if decision is not None:
        adopted = {
            "id": decision,
            "proposal": proposal.id,
            "title": proposal.title,
            "text": proposal.text,
            "category": proposal.category,
            "procedure": proposal.procedure,
            "tally": counted.to_json(),
            "effect": dict(proposal.effect),
            "adopted": change.entry.index,
            "adopted_at": change.entry.logged_at,
        }
        rows.append(Row(DECISION, decision, "", adopted, first=True))
    return rows


@projects(DecisionAttach)
def _attached(change: Change[DecisionAttach]) -> list[Row]:
    body: DecisionAttach = change.body
    fields = {"decision": body.decision, "type": body.type, "text": body.text, **change.by}
    return [Row(ATTACHMENT, f"{body.decision}/{change.entry.index}", body.decision, fields, first=True)]


@projects(StatementMake)
def _said(change: Change[StatementMake]) -> list[Row]:
    body: StatementMake = change.body
    about = body.about or ""
    return [Row(STATEMENT, f"S-{change.entry.index}", about, {"text": body.text, "about": body.about, **change.by}, first=True)]


@projects(AppealFile)
def _filed(change: Change[AppealFile]) -> list[Row]:
    body: AppealFile = change.body
    appeal_id = f"A-{change.after.appeals}"
    fields = {"id": appeal_id, "title": body.title, "text": body.text, "concerned": list(body.concerned), "urgency": body.urgency}
    doc = {**fields, "filer": change.statement.actor, "filed": change.entry.index, "filed_at": change.entry.logged_at}
    return [Row(APPEAL, appeal_id, "", doc, first=True)]


def _responded(response: str) -> Projector:
    def project(change: Change[AppealAcknowledge | AppealAnswer]) -> list[Row]:
        body: AppealAcknowledge | AppealAnswer = change.body
        fields = {"appeal": body.appeal, "type": response, "text": body.text, **change.by}
        return [Row(RESPONSE, f"{body.appeal}/{change.entry.index}", body.appeal, fields, first=True)]

    return project


projects(AppealAcknowledge)(_responded("acknowledgment"))
projects(AppealAnswer)(_responded("answer"))
