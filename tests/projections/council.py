"""A council working on a real Ledger (log, rules, views) in a real store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from domain import commands
from domain.charter import OPERATOR
from ledger.entry import Entry
from ledger.keys import Signer
from ledger.note import sign_note
from ledger.timefmt import format_time
from projections.ledger import Ledger
from tests.domain.scenario import DAY, ORIGIN, T0, founding_charter


class Clock:
    """The operator's clock, moved by the test."""

    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


class Council:
    """Founds a ledger in ``ledger`` and speaks for its actors."""

    def __init__(self, ledger: Ledger, clock: Clock, **charter_options: Any) -> None:
        self.ledger, self.clock = ledger, clock
        self.keys, note = founding_charter(now=clock.now, **charter_options)
        ledger.append([note])

    def note(self, actor: str, kind: str, body: Mapping[str, Any], signers: Sequence[Signer] | None = None) -> str:
        statement = commands.statement(ORIGIN, kind, actor, format_time(self.clock.now), body)
        return sign_note(statement.to_text(), *(signers or [self.keys[actor]])).to_text()

    def say(self, actor: str, kind: str, body: Mapping[str, Any], signers: Sequence[Signer] | None = None) -> Entry:
        return self.ledger.append([self.note(actor, kind, body, signers)])[0]

    def propose(self, actor: str = "de", category: str = "general", period: int = 7 * DAY, **fields: Any) -> str:
        body = {"category": category, "title": f"On {category}", "text": "The council resolves ...", "deadline": format_time(self.clock.now + period), **fields}
        self.say(actor, "proposal.submit", body)
        state = self.ledger.state()
        assert state is not None
        return f"P-{state.proposals}"

    def vote(self, actor: str, proposal: str, position: str) -> Entry:
        return self.say(actor, "vote.cast", {"proposal": proposal, "position": position})

    def close(self, proposal: str, actor: str = OPERATOR) -> Entry:
        state = self.ledger.state()
        assert state is not None
        statement = commands.close(state, proposal, actor, format_time(self.clock.now), self.clock.now)
        return self.ledger.append([sign_note(statement.to_text(), self.keys[actor]).to_text()])[0]
