"""The handlers of membership and keys (SPEC 5.2): who may say it, and what it changes."""

from __future__ import annotations

from domain.bodies import (
    Accession,
    AffiliationDeclare,
    CivilSocietyRegister,
    KeyAdd,
    KeyRevoke,
    MembershipResume,
    MembershipSuspend,
    MembershipWithdraw,
)
from domain.charter import OPERATOR, actor_key
from domain.context import EVERY_ROLE, PRESENT, Context, handles
from domain.effects import admission_pending, check_revocation, revoke
from domain.state import CIVIL_SOCIETY, MEMBER, SUSPENDED, Actor, KeyRecord, LedgerState, evolve
from ledger.timefmt import format_time


@handles(MembershipSuspend)
def _suspend(ctx: Context) -> LedgerState:
    member = ctx.author((MEMBER,))
    MembershipSuspend.parse(ctx.statement)  # its shape: a reason at most
    return ctx.state.with_actor(evolve(member, suspended_by="self"))


@handles(MembershipResume)
def _resume(ctx: Context) -> LedgerState:
    member = ctx.author((MEMBER,), (SUSPENDED,))
    MembershipResume.parse(ctx.statement)  # its shape: an empty body
    if member.suspended_by != "self":
        raise ctx.violation("membership.resume-not-self", f"{member.id} was suspended by decision {member.suspended_by}; only a decision lifts it")
    return ctx.state.with_actor(evolve(member, suspended_by=None))


@handles(MembershipWithdraw)
def _withdraw(ctx: Context) -> LedgerState:
    member = ctx.author((MEMBER,), PRESENT)
    MembershipWithdraw.parse(ctx.statement)  # its shape: a reason at most
    if member.withdrawal_effective is not None:
        raise ctx.violation("membership.already-withdrawing", f"{member.id} withdraws from {format_time(member.withdrawal_effective)} already")
    effective = ctx.now + ctx.state.settings.withdrawal_notice_seconds
    return ctx.state.with_actor(evolve(member, withdrawal_effective=effective))


@handles(AffiliationDeclare)
def _declare_affiliations(ctx: Context) -> LedgerState:
    member = ctx.author((MEMBER,), PRESENT)
    body = AffiliationDeclare.parse(ctx.statement)
    return ctx.state.with_actor(evolve(member, affiliations=body.affiliations))


@handles(Accession)
def _accede(ctx: Context) -> LedgerState:
    body = Accession.parse(ctx.statement)
    candidate_id = ctx.statement.actor
    admission = ctx.state.admissions.get(candidate_id)
    if admission is None:
        raise ctx.violation("accession.not-admitted", f"no adopted admission of {candidate_id} awaits accession", "actor")
    if body.proposal != admission.proposal:
        raise ctx.violation("accession.wrong-proposal", f"proposal got {body.proposal!r}, want {admission.proposal!r}", "body.proposal")
    candidate = admission.candidate
    # The candidate's keys were checked at submission; read them again as keys.
    keys = [actor_key(text, ctx.state.origin, candidate_id, "body.keys") for text in candidate["keys"]]
    ctx.signed_by(keys)
    actor = Actor(
        id=candidate_id,
        name=candidate["name"],
        role=candidate["role"],
        keys=tuple(KeyRecord(key, ctx.index) for key in keys),
        joined=ctx.index,
        affiliations=tuple(candidate.get("affiliations", ())),
    )
    return evolve(ctx.state.with_actor(actor), admissions=ctx.state.admissions.delete(candidate_id))


@handles(CivilSocietyRegister)
def _register(ctx: Context) -> LedgerState:
    body = CivilSocietyRegister.parse(ctx.statement)
    actor_id = ctx.statement.actor
    if actor_id in ctx.state.actors or actor_id == OPERATOR or admission_pending(ctx.state, actor_id):
        raise ctx.violation("civil-society.id-taken", f"actor id {actor_id} is taken", "actor")
    ctx.require_every_signature(body.keys)
    actor = Actor(
        id=actor_id,
        name=body.name,
        role=CIVIL_SOCIETY,
        keys=tuple(KeyRecord(key, ctx.index) for key in body.keys),
        joined=ctx.index,
        details={"kind": body.organization, "countries": body.countries},
    )
    return ctx.state.with_actor(actor)


@handles(KeyAdd)
def _add_key(ctx: Context) -> LedgerState:
    actor = ctx.author(EVERY_ROLE, PRESENT)
    body = KeyAdd.parse(ctx.statement)
    key = body.key
    if any(record.key.public == key.public or record.key.key_id == key.key_id for record in actor.keys):
        raise ctx.violation("key.already-held", f"{actor.id} already holds key {key.label}", "body.key")
    ctx.require_every_signature([key])
    return ctx.state.with_actor(evolve(actor, keys=actor.keys + (KeyRecord(key, ctx.index),)))


@handles(KeyRevoke)
def _revoke_key(ctx: Context) -> LedgerState:
    actor = ctx.author(EVERY_ROLE, PRESENT)
    body = KeyRevoke.parse(ctx.statement)
    check_revocation(ctx, actor, body.key, body.replacement)
    if body.replacement is not None:
        ctx.require_every_signature([body.replacement])
    return ctx.state.with_actor(revoke(actor, body.key, body.replacement, ctx.index))
