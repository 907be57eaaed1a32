"""What each decision category changes (SPEC 5.3): one check and one take per category.

The check runs at submission, against the state then (is the subject an
actor, is the candidate not one already); the take runs when the proposal
is adopted, from its close entry on. An effect that events since have made
moot (the subject withdrew, the key was already revoked) changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from domain.bodies import Effect
from domain.charter import OPERATOR, actor_key
from domain.context import PRESENT, Context, article
from domain.state import CIVIL_SOCIETY, MEMBER, OBSERVER, Actor, Admission, KeyRecord, LedgerState, Proposal, evolve
from ledger.errors import MalformedError
from ledger.keys import VerifierKey


def admission_pending(state: LedgerState, candidate_id: str) -> bool:
    """Whether an admission of ``candidate_id`` is open or adopted and awaiting accession."""
    return candidate_id in state.admissions or any(
        p.effect.get("candidate", {}).get("id") == candidate_id for p in state.open_proposals.values()
    )


def check_revocation(ctx: Context, actor: Actor, key: VerifierKey, replacement: VerifierKey | None) -> None:
    """``key`` is a valid key of ``actor`` that may go, and ``replacement`` a key it does not hold yet."""
    if key not in actor.valid_keys():
        raise ctx.violation("key.not-valid", f"{key.label} is not a valid key of {actor.id}", "body.key")
    if replacement is None and set(actor.valid_keys()) == {key}:
        raise ctx.violation("key.last-key", f"{key.label} is the last valid key of {actor.id}; name a replacement", "body.key")
    if replacement is not None and any(r.key.key_id == replacement.key_id for r in actor.keys):
        raise ctx.violation("key.already-held", f"{actor.id} already holds key {replacement.label}", "body.replacement")


def revoke(actor: Actor, key: VerifierKey, replacement: VerifierKey | None, index: int) -> Actor:
    keys = tuple(evolve(r, revoked=index) if r.key == key and r.valid else r for r in actor.keys)
    if replacement is not None:
        keys += (KeyRecord(replacement, index),)
    return evolve(actor, keys=keys)


Check = Callable[[Context, Effect], None]
Take = Callable[[LedgerState, Proposal, str, int, int], LedgerState]


@dataclass(frozen=True)
class CategoryEffect:
    check: Check
    take: Take


def _nothing_to_check(ctx: Context, effect: Effect) -> None:
    return None


def _nothing_to_take(state: LedgerState, proposal: Proposal, decision: str, index: int, now: int) -> LedgerState:
    return state


# Admission.


def _check_admission(ctx: Context, effect: Effect) -> None:
    assert effect.candidate is not None
    candidate_id = effect.candidate.id
    existing = ctx.state.actors.get(candidate_id)
    if candidate_id == OPERATOR or (existing is not None and existing.standing(ctx.now) in PRESENT):
        raise ctx.violation("admission.already-admitted", f"{candidate_id} is already an actor of this ledger", "body.candidate.id")
    if existing is not None and existing.role == CIVIL_SOCIETY:
        raise ctx.violation("admission.already-admitted", f"{candidate_id} is a civil-society organization", "body.candidate.id")
    if admission_pending(ctx.state, candidate_id):
        raise ctx.violation("admission.pending", f"an admission of {candidate_id} is already open or awaits accession", "body.candidate.id")


def _take_admission(state: LedgerState, proposal: Proposal, decision: str, index: int, now: int) -> LedgerState:
    candidate = proposal.effect["candidate"]
    return evolve(state, admissions=state.admissions.set(candidate["id"], Admission(proposal.id, decision, candidate)))


# Decisions about an actor: observer revocation, suspension, key revocation.


def _subject(ctx: Context, effect: Effect, category: str, role: str | None) -> Actor:
    assert effect.subject is not None
    subject = ctx.state.actors.get(effect.subject)
    if subject is None or subject.standing(ctx.now) not in PRESENT or (role and subject.role != role):
        want = article(role) if role else "an actor"
        raise ctx.violation(f"{category}.subject", f"{effect.subject} is not {want} of this ledger", "body.subject")
    return subject


def _present_subject(state: LedgerState, proposal: Proposal, now: int) -> Actor | None:
    """The decision's subject, unless it is gone or is a membership begun since the submission (SPEC 5.3)."""
    subject = state.actors.get(proposal.effect.get("subject", ""))
    if subject is None or subject.standing(now) not in PRESENT or subject.joined >= proposal.submitted:
        return None
    return subject


def _check_observer_revocation(ctx: Context, effect: Effect) -> None:
    _subject(ctx, effect, "observer-revocation", OBSERVER)


def _take_observer_revocation(state: LedgerState, proposal: Proposal, decision: str, index: int, now: int) -> LedgerState:
    subject = _present_subject(state, proposal, now)
    if subject is None or subject.role != OBSERVER:
        return state
    return state.with_actor(evolve(subject, revoked_by=decision))


def _check_suspension(ctx: Context, effect: Effect) -> None:
    subject = _subject(ctx, effect, "suspension", MEMBER)
    if effect.lift and subject.suspended_by in (None, "self"):
        raise ctx.violation("suspension.not-suspended", f"{subject.id} is not suspended by a decision", "body.subject")
    if not effect.lift and subject.suspended_by not in (None, "self"):
        raise ctx.violation("suspension.already-suspended", f"{subject.id} is suspended by {subject.suspended_by} already", "body.subject")


def _take_suspension(state: LedgerState, proposal: Proposal, decision: str, index: int, now: int) -> LedgerState:
    subject = _present_subject(state, proposal, now)
    if subject is None or subject.role != MEMBER:
        return state
    return state.with_actor(evolve(subject, suspended_by=None if proposal.effect["lift"] else decision))


def _check_key_revocation(ctx: Context, effect: Effect) -> None:
    assert effect.key is not None
    subject = _subject(ctx, effect, "key-revocation", None)
    for name, key in (("key", effect.key), ("replacement", effect.replacement)):
        if key is not None:
            try:
                actor_key(key.to_text(), ctx.state.origin, subject.id, f"body.{name}")
            except MalformedError as error:
                raise ctx.violation("statement.body", error.problem, f"body.{name}") from error
    check_revocation(ctx, subject, effect.key, effect.replacement)


def _take_key_revocation(state: LedgerState, proposal: Proposal, decision: str, index: int, now: int) -> LedgerState:
    subject = _present_subject(state, proposal, now)
    if subject is None:
        return state
    effect = proposal.effect
    key = VerifierKey.from_text(effect["key"])
    replacement = VerifierKey.from_text(effect["replacement"]) if "replacement" in effect else None
    if replacement is not None and any(record.key.key_id == replacement.key_id for record in subject.keys):
        replacement = None  # the subject holds (or held and revoked) it already: never add it twice or revive it
    if key not in subject.valid_keys() or (replacement is None and set(subject.valid_keys()) == {key}):
        return state
    return state.with_actor(revoke(subject, key, replacement, index))


# Charter amendment.


def _take_charter_amendment(state: LedgerState, proposal: Proposal, decision: str, index: int, now: int) -> LedgerState:
    settings = state.settings.amended(proposal.effect["amendment"])
    horizon = max(state.nonce_horizon, settings.signed_at_skew_seconds)
    return evolve(state, settings=settings, nonce_horizon=horizon)


EFFECTS: dict[str, CategoryEffect] = {
    "admission": CategoryEffect(_check_admission, _take_admission),
    "observer-revocation": CategoryEffect(_check_observer_revocation, _take_observer_revocation),
    "suspension": CategoryEffect(_check_suspension, _take_suspension),
    "key-revocation": CategoryEffect(_check_key_revocation, _take_key_revocation),
    "charter-amendment": CategoryEffect(_nothing_to_check, _take_charter_amendment),
}
NO_EFFECT = CategoryEffect(_nothing_to_check, _nothing_to_take)


def effect_of(category: str) -> CategoryEffect:
    """The check and take of ``category`` (a category of the charter's own changes nothing)."""
    return EFFECTS.get(category, NO_EFFECT)
