"""A ledger built statement by statement through the pure rules, for rule tests.

No storage: entries are made here and folded with ``domain.rules.apply``,
with a clock the test moves by hand.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from domain import commands
from domain.charter import OPERATOR, Category
from domain.rules import apply
from domain.state import LedgerState
from ledger.entry import Entry
from ledger.errors import AccordError
from ledger.keys import Signer
from ledger.note import sign_note
from ledger.statement import Statement
from ledger.timefmt import format_time

ORIGIN = "accord.test/european-security"
T0 = 1_800_000_000
DAY = 86_400
FOUNDERS = {
    "de": ("Germany", ["NATO", "EU"]),
    "fr": ("France", ["NATO", "EU"]),
    "pl": ("Poland", ["NATO", "EU"]),
    "ua": ("Ukraine", []),
    "rs": ("Serbia", []),
    "by": ("Belarus", ["CSTO"]),
}


def new_signer(actor: str, generation: int = 0) -> Signer:
    """A deterministic key for ``actor``: tests are repeatable to the byte."""
    name = ORIGIN if actor == OPERATOR else f"{ORIGIN}/{actor}"
    return Signer.from_seed(name, hashlib.sha256(f"{actor}/{generation}".encode()).digest())


def founding_charter(
    members: Sequence[str] = tuple(FOUNDERS),
    observers: Sequence[str] = ("in",),
    now: int = T0,
    categories: Mapping[str, Category] | None = None,
    withdrawal_notice: str | None = None,
    signed_at_skew: str | None = None,
    witness_lag: str | None = None,
) -> tuple[dict[str, Signer], str]:
    """Every founder's key and the charter note signed by the operator and every founding member."""
    keys = {actor: new_signer(actor) for actor in (OPERATOR, *members, *observers)}
    founding = [commands.founder(m, FOUNDERS.get(m, (m.upper(), []))[0], [keys[m].verifier_key()], FOUNDERS.get(m, ("", []))[1]) for m in members]
    watching = [commands.founder(o, o.upper(), [keys[o].verifier_key()]) for o in observers]
    charter = commands.charter(
        ORIGIN,
        "European Security Council",
        keys[OPERATOR].verifier_key(),
        founding,
        format_time(now),
        observers=watching,
        categories=categories,
        withdrawal_notice=withdrawal_notice,
        signed_at_skew=signed_at_skew,
        witness_lag=witness_lag,
    )
    return keys, sign_note(charter.to_text(), keys[OPERATOR], *(keys[m] for m in members)).to_text()


class Scenario:
    """A ledger under test: its entries, the state after them, and every actor's key."""

    def __init__(self, members: Sequence[str] = tuple(FOUNDERS), observers: Sequence[str] = ("in",), **options: Any) -> None:
        self.now = T0
        self.keys, note = founding_charter(members, observers, self.now, **options)
        first = Entry(0, format_time(self.now), note)
        state = apply(None, first)
        assert state is not None
        self.state: LedgerState = state
        self.entries = [first]

    def advance(self, seconds: int) -> None:
        self.now += seconds

    def statement(self, actor: str, kind: str, body: Mapping[str, Any], *, signed_at: int | None = None, origin: str = ORIGIN) -> Statement:
        return commands.statement(origin, kind, actor, format_time(self.now if signed_at is None else signed_at), body)

    def entry(self, statement: Statement, signers: Sequence[Signer] | None = None) -> Entry:
        """The next entry for ``statement``, signed by its actor's key unless ``signers`` are given."""
        keys = [self.keys[statement.actor]] if signers is None else list(signers)
        return Entry(len(self.entries), format_time(self.now), sign_note(statement.to_text(), *keys).to_text())

    def append(self, entry: Entry) -> LedgerState:
        self.state = apply(self.state, entry)
        self.entries.append(entry)
        return self.state

    def do(self, actor: str, kind: str, body: Mapping[str, Any], signers: Sequence[Signer] | None = None, **options: Any) -> LedgerState:
        return self.append(self.entry(self.statement(actor, kind, body, **options), signers))

    def refused(self, actor: str, kind: str, body: Mapping[str, Any], signers: Sequence[Signer] | None = None, **options: Any) -> AccordError:
        """The error the rules raise for this statement; asserts nothing changed."""
        return self.refused_entry(self.entry(self.statement(actor, kind, body, **options), signers))

    def refused_entry(self, entry: Entry) -> AccordError:
        before = self.state
        with pytest.raises(AccordError) as raised:
            apply(self.state, entry)
        assert self.state is before and len(self.entries) == before.size
        return raised.value

    # The common acts, in the organization's words.

    def propose(self, actor: str = "de", category: str = "general", period: int = 7 * DAY, **fields: Any) -> str:
        body = {"category": category, "title": f"A {category} proposal", "text": "The council resolves ...", "deadline": format_time(self.now + period), **fields}
        self.do(actor, "proposal.submit", body)
        return f"P-{self.state.proposals}"

    def vote(self, actor: str, proposal: str, position: str, signed_at: int | None = None, **fields: Any) -> LedgerState:
        return self.do(actor, "vote.cast", {"proposal": proposal, "position": position, **fields}, signed_at=signed_at)

    def close(self, proposal: str, actor: str = OPERATOR) -> LedgerState:
        statement = commands.close(self.state, proposal, actor, format_time(self.now), self.now)
        return self.append(self.entry(statement))

    def after_deadline(self, proposal: str) -> None:
        self.now = max(self.now, self.state.open_proposals[proposal].deadline)


def message(error: AccordError) -> str:
    return str(error)
