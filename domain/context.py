"""One entry under judgement, and the registry of the handlers that judge each kind.

A handler receives the entry as a :class:`Context` and returns the new
state, or raises the AccordError naming the rule at fault. It checks who
speaks (signatures first: a forged statement is reported as forged, whatever
its body says), then reads the body once into its kind's dataclass
(domain.bodies, the shape check ``prepare`` runs too), then what needs the
ledger: standing, and references that exist and are still open.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from domain.bodies import Body
from domain.state import ACTIVE, CIVIL_SOCIETY, MEMBER, OBSERVER, OPERATOR_ROLE, SUSPENDED, Actor, LedgerState, Proposal
from ledger.entry import Entry
from ledger.errors import RuleViolation, SignatureError
from ledger.keys import VerifierKey
from ledger.note import Note
from ledger.statement import Statement

Verify = Callable[[Note, Sequence[VerifierKey]], list[VerifierKey]]
"""Which of the given keys signed the note; raises SignatureError on a bad signature."""

EVERY_ROLE = (MEMBER, OBSERVER, CIVIL_SOCIETY, OPERATOR_ROLE)
PRESENT = (ACTIVE, SUSPENDED)
"""Standings in which an actor still speaks for itself (not withdrawn or revoked)."""


def article(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


class Context:
    """One entry under judgement: its statement, its time, the state before it."""

    def __init__(self, state: LedgerState, entry: Entry, note: Note, statement: Statement, verify: Verify) -> None:
        self.state = state
        self.index = entry.index
        self.now = entry.logged_at_seconds
        self.note = note
        self.statement = statement
        self.kind = statement.kind
        self.verify = verify

    def violation(self, rule: str, problem: str, field: str | None = None) -> RuleViolation:
        return RuleViolation(rule, problem, kind=self.kind, field=field)

    # Who speaks.

    def signed_by(self, keys: Sequence[VerifierKey], actor: Actor | None = None) -> list[VerifierKey]:
        """The keys among ``keys`` that signed; refuses a note none of them signed."""
        try:
            verified = self.verify(self.note, keys)
        except SignatureError as error:
            raise SignatureError(self.kind, error.problem) from error
        if verified:
            return verified
        for revoked in actor.revoked_keys() if actor is not None else ():
            if any(signature.made_by(revoked) for signature in self.note.signatures):
                raise SignatureError(self.kind, f"signature by revoked key {self.statement.actor}+{revoked.key_id.hex()}")
        found = ", ".join(signature.label for signature in self.note.signatures)
        raise SignatureError(self.kind, f"not signed by a valid key of {self.statement.actor}: got {found}")

    def require_every_signature(self, keys: Sequence[VerifierKey]) -> None:
        """Proof of possession: every one of ``keys`` signed the statement."""
        try:
            signed = self.verify(self.note, keys)
        except SignatureError as error:
            raise SignatureError(self.kind, error.problem) from error
        for key in keys:
            if key not in signed:
                raise SignatureError(self.kind, f"not signed by the new key {key.label}: a key must prove possession")

    def author(self, roles: Iterable[str], standings: Iterable[str] = (ACTIVE,)) -> Actor:
        """The signing actor, which must hold one of ``roles`` in one of ``standings``."""
        actor = self.state.actors.get(self.statement.actor)
        if actor is None:
            raise self.violation("actor.unknown", f"{self.statement.actor} is not an actor of this ledger", "actor")
        self.signed_by(actor.valid_keys(), actor)
        roles = tuple(roles)
        if actor.role not in roles:
            want = " or ".join(article(role) for role in roles)
            raise self.violation("actor.role", f"{actor.id} is {article(actor.role)}; want {want}", "actor")
        standing = actor.standing(self.now)
        if standing not in tuple(standings):
            raise self.violation("actor.standing", f"{actor.id} is {standing}; want {' or '.join(standings)}", "actor")
        return actor

    # What it is about.

    def on_log(self, name: str, reference: str, prefixes: str) -> str:
        """``reference`` (a ``P-n``/``D-n``/``A-n`` in form) if it names something already on the log."""
        if not self.state.exists(reference):
            want = "/".join(f"{prefix}-n" for prefix in prefixes)
            raise self.violation(f"{self.kind}.unknown-reference", f"{name} {reference!r} is not a {want} on this log", f"body.{name}")
        return reference

    def open_proposal(self, proposal_id: str, name: str = "proposal") -> Proposal:
        self.on_log(name, proposal_id, "P")
        proposal = self.state.open_proposals.get(proposal_id)
        if proposal is None:
            raise self.violation("proposal.not-open", f"{proposal_id} is no longer open", f"body.{name}")
        return proposal


Handler = Callable[[Context], LedgerState]
HANDLERS: dict[str, Handler] = {}


def handles(body: type[Body]) -> Callable[[Handler], Handler]:
    """Register the handler of ``body``'s kind."""

    def register(handler: Handler) -> Handler:
        HANDLERS[body.KIND] = handler
        return handler

    return register
