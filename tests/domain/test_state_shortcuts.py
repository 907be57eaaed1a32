"""The rule state's shortcuts give what the long way gives: the changed-actor hint the views
read instead of walking every actor, and the one-entry memos of a body read and of an
electorate counted (the rules ask first, the views again)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bench.synthetic import synthetic_entries
from domain import voting
from domain.bodies import VoteCast, parse_body
from domain.state import Actor, LedgerState, evolve
from ledger.merkle import leaf_hash
from ledger.statement import Statement
from projections.audit import Replay, replay

ENTRIES = [entry.to_bytes() for entry in synthetic_entries(600, seed=5)]
STATE = replay(iter(ENTRIES), Replay(leaf_hash(ENTRIES[0]))).state
assert STATE is not None
IDS = sorted(STATE.actors)


def the_long_way(before: LedgerState, after: LedgerState) -> list[Actor]:
    return sorted((a for a in after.actors.values() if before.actors.get(a.id) is not a), key=lambda a: a.id)


STEPS = st.lists(
    st.tuples(st.sampled_from(["rename", "same", "new", "drop", "nothing"]), st.sampled_from(IDS), st.text(max_size=3)),
    max_size=6,
)


def step(state: LedgerState, how: str, actor_id: str, text: str) -> LedgerState:
    actor = state.actors.get(actor_id)
    if actor is None or how == "nothing":
        return evolve(state, size=state.size + 1)
    if how == "rename":
        return state.with_actor(evolve(actor, name=actor.name + text))
    if how == "same":
        return state.with_actor(actor)  # the very object it holds: nothing changed
    if how == "new":
        return state.with_actor(evolve(actor, id=f"new-{len(text)}{actor.id}"))
    return evolve(state, actors=state.actors.delete(actor.id))  # drop: a change not made by with_actor


@settings(max_examples=200, deadline=None)
@given(STEPS)
def test_the_changed_actors_are_those_a_walk_of_every_actor_finds(steps: list[tuple[str, str, str]]) -> None:
    states = [STATE]
    for how, actor_id, text in steps:
        states.append(step(states[-1], how, actor_id, text))
    for earlier in range(len(states)):
        for later in range(earlier, len(states)):
            before, after = states[earlier], states[later]
            assert after.changed_actors(before) == the_long_way(before, after), (earlier, later, steps)


def test_the_charter_state_names_every_actor_as_changed() -> None:
    assert [actor.id for actor in STATE.changed_actors(None)] == IDS


def test_a_body_read_again_is_the_same_statements_body() -> None:
    first = Statement("o.example", "vote.cast", "de", "2027-01-01T00:00:00Z", {"proposal": "P-1", "position": "approve"})
    second = Statement("o.example", "vote.cast", "de", "2027-01-01T00:00:00Z", {"proposal": "P-2", "position": "object"})
    assert [VoteCast.parse(first).proposal, VoteCast.parse(second).proposal, parse_body(first).proposal] == ["P-1", "P-2", "P-1"]  # type: ignore[attr-defined]
    assert VoteCast.parse(first) is parse_body(first)


def test_the_electorate_is_counted_anew_for_another_state_or_time() -> None:
    assert STATE is not None
    proposal = next(iter(STATE.open_proposals.values()), None)
    if proposal is None:
        return
    member = proposal.electorate[0]
    suspended = STATE.with_actor(evolve(STATE.actors[member], suspended_by="self"))
    now = proposal.submitted_at
    full = voting.effective_electorate(STATE, proposal, now)
    assert member in full
    assert member not in voting.effective_electorate(suspended, proposal, now)
    assert voting.effective_electorate(STATE, proposal, now) == full
    withdrawing = STATE.with_actor(evolve(STATE.actors[member], withdrawal_effective=now + 10))
    assert member in voting.effective_electorate(withdrawing, proposal, now)
    assert member not in voting.effective_electorate(withdrawing, proposal, now + 10)
