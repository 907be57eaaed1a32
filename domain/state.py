"""The state the rules read: frozen, and bounded by what the rules need.

Closed proposals, decisions and appeals are only counted here (their ids are
numbered in order, so a count says which exist); their full documents live in
the projections. Nonces are kept only while a replay could still pass the
``signed_at`` skew check. So the state stays small however long the log grows,
and replaying the log streams in constant memory.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from immutables import Map

from domain.charter import Settings
from ledger.keys import VerifierKey

MEMBER, OBSERVER, CIVIL_SOCIETY, OPERATOR_ROLE = "member", "observer", "civil-society", "operator"

ACTIVE, SUSPENDED, WITHDRAWN, REVOKED = "active", "suspended", "withdrawn", "revoked"
"""An actor's standing: what it may still do (see :meth:`Actor.standing`)."""

APPROVE, OBJECT, ABSTAIN = "approve", "object", "abstain"
POSITIONS = (APPROVE, OBJECT, ABSTAIN)

DAY = 86_400
_REFERENCE = re.compile(r"[PDA]-[1-9][0-9]{0,15}\Z")
"""How proposals, decisions and appeals are named: ASCII digits only, no leading zero."""
T = TypeVar("T")


def evolve(instance: T, **changes: Any) -> T:
    """A copy of a frozen state object with ``changes``: ``dataclasses.replace`` without its
    per-call field introspection, which a replay of millions of entries feels."""
    copy = object.__new__(type(instance))
    copy.__dict__.update(instance.__dict__)
    copy.__dict__.update(changes)
    return copy


def standing(revoked_by: str | None, withdrawal_effective: int | None, suspended_by: str | None, now: int) -> str:
    """An actor's standing at time ``now``: revoked, withdrawn (once the notice has run), suspended or active."""
    if revoked_by is not None:
        return REVOKED
    if withdrawal_effective is not None and now >= withdrawal_effective:
        return WITHDRAWN
    return SUSPENDED if suspended_by is not None else ACTIVE


@dataclass(frozen=True)
class KeyRecord:
    """One key of an actor: valid from entry ``added`` up to entry ``revoked``."""

    key: VerifierKey
    added: int
    revoked: int | None = None

    @property
    def valid(self) -> bool:
        return self.revoked is None


@dataclass(frozen=True)
class Actor:
    """A member, observer, civil-society organization or the operator."""

    id: str
    name: str
    role: str
    keys: tuple[KeyRecord, ...]
    joined: int
    affiliations: tuple[str, ...] = ()
    suspended_by: str | None = None
    """``self`` for a self-suspension, else the decision that suspended it."""
    withdrawal_effective: int | None = None
    """When a withdrawal takes effect (seconds, judged by ``logged_at``)."""
    revoked_by: str | None = None
    """The decision that revoked an observer."""
    details: Mapping[str, Any] = field(default_factory=dict)
    """Civil society: kind and countries."""

    def standing(self, now: int) -> str:
        """active, suspended, withdrawn or revoked, at time ``now``."""
        return standing(self.revoked_by, self.withdrawal_effective, self.suspended_by, now)

    def valid_keys(self) -> list[VerifierKey]:
        return [record.key for record in self.keys if record.revoked is None]  # record.valid, without a call per record

    def revoked_keys(self) -> list[VerifierKey]:
        return [record.key for record in self.keys if not record.valid]


@dataclass(frozen=True)
class Proposal:
    """An open proposal: its electorate is fixed, its positions change until the deadline."""

    id: str
    proposer: str
    category: str
    procedure: str
    title: str
    text: str
    deadline: int
    electorate: tuple[str, ...]
    submitted: int
    """The index of the submitting entry."""
    submitted_at: int
    concerned: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    effect: Mapping[str, Any] = field(default_factory=dict)
    """The category's own fields: candidate, subject, key, amendment."""
    positions: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Admission:
    """An adopted admission waiting for the candidate's accession."""

    proposal: str
    decision: str
    candidate: Mapping[str, Any]


@dataclass(frozen=True)
class LedgerState:
    """Everything the rules need to judge entry ``size``."""

    size: int
    logged_at: int
    anchor: bytes
    """The charter's leaf hash: the trust anchor."""
    settings: Settings
    actors: Map[str, Actor]
    open_proposals: Map[str, Proposal] = field(default_factory=Map)
    admissions: Map[str, Admission] = field(default_factory=Map)
    """Adopted admissions not yet acceded to, by candidate id."""
    proposals: int = 0
    decisions: int = 0
    appeals: int = 0
    nonces: Map[str, int] = field(default_factory=Map)
    """Recent nonces and their ``signed_at``."""
    nonce_days: Map[int, Map[str, int]] = field(default_factory=Map)
    """The same nonces by day of ``signed_at``, to forget them a day at a time."""
    nonce_horizon: int = 0
    """The largest skew ever allowed: a nonce is kept while a replay could pass it."""
    nonce_floor: int = 0
    """Every nonce signed from this time on is remembered; a statement signed earlier cannot be
    checked for replay any more, and is refused even if the skew (widened since) would allow it."""

    @property
    def origin(self) -> str:
        return self.settings.origin

    def actor(self, actor_id: str) -> Actor | None:
        return self.actors.get(actor_id)

    def exists(self, reference: str) -> bool:
        """Whether ``P-n``, ``D-n`` or ``A-n`` names something already on the log."""
        if not isinstance(reference, str) or not _REFERENCE.match(reference):
            return False
        prefix = reference[0]
        count = self.proposals if prefix == "P" else self.decisions if prefix == "D" else self.appeals
        return int(reference[2:]) <= count

    def with_actor(self, actor: Actor) -> LedgerState:
        actors = self.actors.set(actor.id, actor)
        after = evolve(self, actors=actors)
        # Not a field (not compared, not in a snapshot): which actor made ``actors`` out of the
        # map before, so that the views need not walk every actor to find it (changed_actors).
        after.__dict__["_actor_changed"] = (self.actors, actors, actor.id)
        return after

    def changed_actors(self, before: LedgerState | None) -> list[Actor]:
        """The actors that differ from ``before``'s (all of them after the charter), by id."""
        if before is not None and before.actors is self.actors:
            return []
        hint = self.__dict__.get("_actor_changed")
        if before is not None and hint is not None and hint[0] is before.actors and hint[1] is self.actors:
            actor: Actor = self.actors[hint[2]]  # one with_actor since ``before``: that actor alone
            return [] if before.actors.get(hint[2]) is actor else [actor]
        earlier = before.actors if before is not None else Map()
        return sorted((a for a in self.actors.values() if earlier.get(a.id) is not a), key=lambda a: a.id)

    def after_entry(self, logged_at: int, nonce: str, signed_at: int) -> LedgerState:
        """This state one entry on: its size and time advanced, its nonce remembered (one copy, not three)."""
        nonces, days, floor = self._remembering(nonce, signed_at, logged_at)
        return evolve(self, nonces=nonces, nonce_days=days, nonce_floor=floor, size=self.size + 1, logged_at=logged_at)

    def remember_nonce(self, nonce: str, signed_at: int, **changes: Any) -> LedgerState:
        """This state knowing ``nonce`` (and ``changes``), forgetting nonces no replay could reuse any more."""
        nonces, days, floor = self._remembering(nonce, signed_at, changes.get("logged_at", self.logged_at))
        return evolve(self, nonces=nonces, nonce_days=days, nonce_floor=floor, **changes)

    def _remembering(self, nonce: str, signed_at: int, logged_at: int) -> tuple[Map[str, int], Map[int, Map[str, int]], int]:
        """The nonces, nonces by day and nonce floor once ``nonce`` is known at ``logged_at``."""
        day = signed_at // DAY
        nonces = self.nonces.set(nonce, signed_at)
        that_day = self.nonce_days.get(day)
        days = self.nonce_days.set(day, (_NO_NONCES if that_day is None else that_day).set(nonce, signed_at))
        oldest = min(days)
        # A nonce signed on day d can only pass the skew check until
        # (d + 1) * DAY + horizon; after that a replay is refused anyway.
        floor = self.nonce_floor
        while (oldest + 1) * DAY + self.nonce_horizon < logged_at:
            with nonces.mutate() as forgetting:
                for old in days[oldest]:
                    del forgetting[old]
                nonces = forgetting.finish()
            days = days.delete(oldest)
            floor = max(floor, (oldest + 1) * DAY)
            if not days:
                break
            oldest = min(days)
        return nonces, days, floor


_NO_NONCES: Map[str, int] = Map()
