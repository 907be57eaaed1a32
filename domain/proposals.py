"""The handlers of proposals, votes, decisions (SPEC 5.3), statements and appeals (SPEC 5.4)."""

from __future__ import annotations

from collections.abc import Mapping

from immutables import Map

from domain.bodies import (
    AppealAcknowledge,
    AppealAnswer,
    AppealFile,
    DecisionAttach,
    ProposalClose,
    ProposalSubmit,
    ProposalWithdraw,
    StatementMake,
    VoteCast,
)
from domain.charter import CONSENSUS_MINUS_CONCERNED
from domain.context import EVERY_ROLE, PRESENT, Context, handles
from domain.effects import effect_of
from domain.state import ACTIVE, CIVIL_SOCIETY, MEMBER, OPERATOR_ROLE, LedgerState, Proposal, evolve
from domain.voting import ADOPTED, TALLY_FIELDS, effective_electorate, outcome, tally_of
from ledger.timefmt import format_time


@handles(ProposalSubmit)
def _submit(ctx: Context) -> LedgerState:
    proposer = ctx.author((MEMBER,))
    body = ProposalSubmit.parse(ctx.statement)
    settings = ctx.state.settings
    rules = settings.categories.get(body.category)
    if rules is None:
        raise ctx.violation("proposal.unknown-category", f"category {body.category!r} is not in the charter", "body.category")
    if body.deadline <= ctx.now:
        raise ctx.violation("proposal.deadline-passed", f"deadline {body.deadline_text} is not after logged_at {format_time(ctx.now)}", "body.deadline")
    if body.deadline - ctx.now < rules.min_period_seconds:
        raise ctx.violation(
            "proposal.min-period",
            f"voting period of {body.deadline - ctx.now}s is shorter than the {rules.min_period} minimum for {body.category}",
            "body.deadline",
        )
    for member_id in body.concerned:
        member = ctx.state.actors.get(member_id)
        if member is None or member.role != MEMBER or member.standing(ctx.now) not in PRESENT:
            raise ctx.violation("proposal.concerned-unknown", f"concerned {member_id} is not a member", "body.concerned")
    if not all(ctx.state.exists(reference) for reference in body.references):
        raise ctx.violation("proposal.unknown-reference", f"references {list(body.references)!r} must name P-n, D-n or A-n on this log", "body.references")
    effect_of(body.category).check(ctx, body.effect)
    excluded = set(body.concerned) if rules.procedure == CONSENSUS_MINUS_CONCERNED else set()
    electorate = tuple(
        sorted(
            member.id
            for member in ctx.state.actors.values()
            if member.role == MEMBER and member.standing(ctx.now) == ACTIVE and member.id not in excluded
        )
    )
    if not electorate:
        raise ctx.violation("proposal.no-electorate", "no active member would be left to decide")
    number = ctx.state.proposals + 1
    proposal = Proposal(
        id=f"P-{number}",
        proposer=proposer.id,
        category=body.category,
        procedure=rules.procedure,
        title=body.title,
        text=body.text,
        deadline=body.deadline,
        electorate=electorate,
        submitted=ctx.index,
        submitted_at=ctx.now,
        concerned=body.concerned,
        references=body.references,
        effect=body.effect.to_json(),
        positions=Map(),
    )
    return evolve(ctx.state, proposals=number, open_proposals=ctx.state.open_proposals.set(proposal.id, proposal))


@handles(VoteCast)
def _vote(ctx: Context) -> LedgerState:
    voter = ctx.author((MEMBER,))
    body = VoteCast.parse(ctx.statement)
    proposal = ctx.open_proposal(body.proposal)
    if ctx.now >= proposal.deadline:
        raise ctx.violation("vote.after-deadline", f"logged at {format_time(ctx.now)}, not before the deadline {format_time(proposal.deadline)} of {proposal.id}")
    if voter.id not in proposal.electorate or voter.joined >= proposal.submitted:
        # A member admitted again after withdrawing is a new membership: not the one the electorate holds.
        raise ctx.violation("vote.not-in-electorate", f"{voter.id} is not in the electorate of {proposal.id}", "actor")
    positions = proposal.positions
    assert isinstance(positions, Map)
    voted = evolve(proposal, positions=positions.set(voter.id, body.position))
    return evolve(ctx.state, open_proposals=ctx.state.open_proposals.set(proposal.id, voted))


@handles(ProposalWithdraw)
def _withdraw_proposal(ctx: Context) -> LedgerState:
    member = ctx.author((MEMBER,), PRESENT)
    body = ProposalWithdraw.parse(ctx.statement)
    proposal = ctx.open_proposal(body.proposal)
    if proposal.proposer != member.id:
        raise ctx.violation("proposal.not-proposer", f"{proposal.id} was proposed by {proposal.proposer}, not {member.id}", "actor")
    return evolve(ctx.state, open_proposals=ctx.state.open_proposals.delete(proposal.id))


@handles(ProposalClose)
def _close(ctx: Context) -> LedgerState:
    ctx.author((MEMBER, OPERATOR_ROLE))
    body = ProposalClose.parse(ctx.statement)
    proposal = ctx.open_proposal(body.proposal)
    if body.submission != proposal.submitted:
        # Binds the close to the exact entry it decides, so a certificate can prove which text was adopted.
        raise ctx.violation(
            "proposal.close-submission",
            f"submission got {body.submission!r}, want {proposal.submitted} (the entry that submitted {proposal.id})",
            "body.submission",
        )
    counted = tally_of(effective_electorate(ctx.state, proposal, ctx.now), proposal.positions)
    if ctx.now < proposal.deadline and not counted.unanimous:
        raise ctx.violation(
            "proposal.close-early",
            f"{proposal.id} is open until {format_time(proposal.deadline)}; closing earlier needs every electorate member's approval",
        )
    result = outcome(proposal.procedure, counted)
    if body.outcome != result:
        raise ctx.violation("proposal.close-outcome", f"outcome of {proposal.id} got {body.outcome!r}, want {result!r}", "body.outcome")
    if body.tally != counted:
        given = body.tally.to_text() if body.tally is not None else _tally_text(body.tally_json)
        raise ctx.violation("proposal.close-tally", f"tally of {proposal.id} got {given}, want {counted.to_text()}", "body.tally")
    decision = f"D-{ctx.state.decisions + 1}" if result == ADOPTED else None
    if body.decision != decision:
        # The number makes the signed close say which binding decision it creates.
        want = "no decision (it was rejected)" if decision is None else repr(decision)
        raise ctx.violation("proposal.close-decision", f"decision got {body.decision!r}, want {want}", "body.decision")
    state = evolve(ctx.state, open_proposals=ctx.state.open_proposals.delete(proposal.id))
    if decision is None:
        return state
    return effect_of(proposal.category).take(evolve(state, decisions=state.decisions + 1), proposal, decision, ctx.index, ctx.now)


def _tally_text(counts: Mapping[str, object]) -> str:
    if set(counts) == set(TALLY_FIELDS):
        return ", ".join(f"{counts[name]} {name}" for name in TALLY_FIELDS)
    return repr(counts)


@handles(DecisionAttach)
def _attach(ctx: Context) -> LedgerState:
    ctx.author((MEMBER,), PRESENT)
    body = DecisionAttach.parse(ctx.statement)
    ctx.on_log("decision", body.decision, "D")
    return ctx.state


@handles(StatementMake)
def _say(ctx: Context) -> LedgerState:
    ctx.author(EVERY_ROLE, PRESENT)
    body = StatementMake.parse(ctx.statement)
    if body.about is not None:
        ctx.on_log("about", body.about, "PDA")
    return ctx.state


@handles(AppealFile)
def _file_appeal(ctx: Context) -> LedgerState:
    ctx.author((CIVIL_SOCIETY,))
    body = AppealFile.parse(ctx.statement)
    for actor_id in body.concerned:
        if actor_id not in ctx.state.actors:
            raise ctx.violation("appeal.concerned-unknown", f"concerned {actor_id} is not an actor of this ledger", "body.concerned")
    return evolve(ctx.state, appeals=ctx.state.appeals + 1)


@handles(AppealAcknowledge)
def _acknowledge_appeal(ctx: Context) -> LedgerState:
    ctx.author((MEMBER, OPERATOR_ROLE))
    body = AppealAcknowledge.parse(ctx.statement)
    ctx.on_log("appeal", body.appeal, "A")
    return ctx.state


@handles(AppealAnswer)
def _answer_appeal(ctx: Context) -> LedgerState:
    ctx.author((MEMBER, OPERATOR_ROLE))
    body = AppealAnswer.parse(ctx.statement)
    ctx.on_log("appeal", body.appeal, "A")
    return ctx.state
