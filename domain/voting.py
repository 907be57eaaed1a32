"""Voting arithmetic (SPEC 5.3): who counts, the tally, the outcome.

One copy, read by the rules (a close must carry exactly this), the views (a
closed proposal's tally), the queries (the live tally of an open one) and
the certificates. The electorate is a set of memberships, not of ids: a
member counts on a proposal only in the membership it held when the
proposal was submitted, so one that withdrew and was admitted again (a new
membership, joined after the submission) does not count on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from domain.charter import RATIFICATION
from domain.state import ABSTAIN, ACTIVE, APPROVE, MEMBER, OBJECT, LedgerState, Proposal

ADOPTED, REJECTED = "adopted", "rejected"
TALLY_FIELDS = (APPROVE, OBJECT, ABSTAIN, "silent")


@dataclass(frozen=True)
class Tally:
    """Positions of the electorate members still active at close."""

    approve: int
    object: int
    abstain: int
    silent: int

    @classmethod
    def of(cls, positions: Iterable[str | None]) -> Tally:
        """The tally of the counted members' positions (None: silent)."""
        listed = list(positions)
        return cls(listed.count(APPROVE), listed.count(OBJECT), listed.count(ABSTAIN), listed.count(None))

    @classmethod
    def from_json(cls, counts: Mapping[str, Any]) -> Tally | None:
        """The tally a document states, if it is exactly the four counts as whole numbers
        (JSON true is not 1 here, though Python's ``==`` says it is)."""
        if counts.keys() != set(TALLY_FIELDS):
            return None
        values = [counts[name] for name in TALLY_FIELDS]
        if not all(type(value) is int and value >= 0 for value in values):
            return None
        return cls(*values)

    @property
    def total(self) -> int:
        return self.approve + self.object + self.abstain + self.silent

    @property
    def unanimous(self) -> bool:
        """Every counted member approves, and there is at least one."""
        return self.approve > 0 and self.approve == self.total

    def to_json(self) -> dict[str, int]:
        return {"approve": self.approve, "object": self.object, "abstain": self.abstain, "silent": self.silent}

    def to_text(self) -> str:
        return ", ".join(f"{count} {name}" for name, count in self.to_json().items())


def counts(role: str, standing: str, joined: int, submitted: int) -> bool:
    """Whether an electorate id still counts on a proposal submitted at entry ``submitted``:
    a member, active, in the membership it held then (joined before the submission)."""
    return role == MEMBER and standing == ACTIVE and joined < submitted


_LAST_ELECTORATE: list[Any] = [None, None, None, ()]
"""The state, proposal and time last asked of effective_electorate and its answer: a close is
judged by the rules and then projected by the views, each asking the same question."""


def effective_electorate(state: LedgerState, proposal: Proposal, now: int) -> list[str]:
    """The electorate fixed at submission, minus members no longer active at ``now``
    and minus ids whose membership since is a new one."""
    asked_state, asked_proposal, asked_now, answer = _LAST_ELECTORATE
    if asked_state is state and asked_proposal is proposal and asked_now == now:
        return list(answer)  # frozen states: the same objects give the same answer

    def counting(member_id: str) -> bool:
        member = state.actors.get(member_id)
        return member is not None and counts(member.role, member.standing(now), member.joined, proposal.submitted)

    counted = [member_id for member_id in proposal.electorate if counting(member_id)]
    _LAST_ELECTORATE[:] = [state, proposal, now, tuple(counted)]
    return counted


def tally_of(counted: Iterable[str], positions: Mapping[str, str]) -> Tally:
    return Tally.of(positions.get(member) for member in counted)


def tally(state: LedgerState, proposal: Proposal, now: int) -> Tally:
    """The live tally of ``proposal`` at time ``now``."""
    return tally_of(effective_electorate(state, proposal, now), proposal.positions)


def outcome(procedure: str, counted: Tally) -> str:
    """Adopted or rejected, by the procedure's rule (SPEC 5.3).

    Consensus (silence procedure): no objection. Ratification: every counted
    member approves, and there is at least one. Consensus minus the
    concerned: as consensus; the concerned are not in the electorate.
    """
    if procedure == RATIFICATION:
        return ADOPTED if counted.unanimous else REJECTED
    return ADOPTED if counted.object == 0 else REJECTED
