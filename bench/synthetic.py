"""Realistic synthetic ledgers: the organization at work, entry after entry.

50 members from different alliances, 5 observers, 200 civil-society
organizations; proposals of every category with the electorate voting,
closes after the deadline (some adopted, some blocked), statements,
interpretative statements and reservations, appeals filed, acknowledged and
answered, key rotations. Every entry is made by the rules' own commands and
judged by ``domain.rules.apply``, so the ledger is one the writer would have
accepted; keys come from fixed seeds, so a run is repeatable.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from domain import commands
from domain.charter import OPERATOR
from domain.rules import apply, assume_verified, outcome, tally
from domain.state import LedgerState
from ledger.entry import Entry
from ledger.keys import Signer
from ledger.note import sign_note
from ledger.statement import Statement
from ledger.timefmt import format_time

ORIGIN = "bench.accord.example/european-security"
MEMBERS = (
    "al ad am at az be ba bg hr cy cz dk ee fi fr ge de gr hu is ie it kz lv li "
    "lt lu mt md mc me nl mk no pl pt ro ru sm rs sk si es se ch tr ua gb va xk"
).split()
ALLIANCES = {"NATO": "al be bg hr cz dk ee fr de gr hu is it lv lt lu me nl mk no pl pt ro sk si es tr gb fi se".split(), "CSTO": ["am", "kz", "ru"], "EU": "at be bg hr cy cz dk ee fi fr de gr hu ie it lv lt lu mt nl pl pt ro sk si es se".split()}
OBSERVERS = ("in", "br", "za", "cn", "us")
CIVIL_SOCIETY = tuple(f"cs{n:03d}" for n in range(200))
CATEGORIES = (
    "general", "joint-exercise", "risk-assessment", "regulation", "military-operation",
    "armament-increase", "violation-finding",
)
START = 1_800_000_000
ENTRY_GAP = 30
"""Seconds between entries: 10^6 entries span about a year."""


def signer(actor: str, generation: int = 0) -> Signer:
    name = ORIGIN if actor == OPERATOR else f"{ORIGIN}/{actor}"
    return Signer.from_seed(name, hashlib.sha256(f"bench/{actor}/{generation}".encode()).digest())


@dataclass
class Council:
    """The generator's memory: keys, time, what is open."""

    chance: random.Random
    now: int = START
    keys: dict[str, Signer] = field(default_factory=dict)
    state: LedgerState | None = None
    index: int = 0

    def key(self, actor: str) -> Signer:
        if actor not in self.keys:
            self.keys[actor] = signer(actor)
        return self.keys[actor]

    def entry(self, statement: Statement, *extra: Signer) -> Entry:
        note = sign_note(statement.to_text(), self.key(statement.actor), *extra)
        entry = Entry(self.index, format_time(self.now), note.to_text())
        # The note and statement made here are what parsing the entry would
        # give back; handing them over spares the fold a parse per entry.
        self.state = apply(self.state, entry, assume_verified, (note, statement))
        self.index += 1
        self.now += self.chance.randint(1, 2 * ENTRY_GAP)
        return entry

    def say(self, actor: str, kind: str, body: dict[str, object], *extra: Signer) -> Entry:
        return self.entry(commands.statement(ORIGIN, kind, actor, format_time(self.now), body, self.nonce()), *extra)

    def nonce(self) -> str:
        """From the seeded generator, so that a seed gives the same ledger to the byte."""
        return f"{self.chance.getrandbits(128):032x}"


def _charter(council: Council) -> Entry:
    founders = [
        commands.founder(m, m.upper(), [council.key(m).verifier_key()], [a for a, ids in ALLIANCES.items() if m in ids])
        for m in MEMBERS
    ]
    observers = [commands.founder(o, o.upper(), [council.key(o).verifier_key()]) for o in OBSERVERS]
    charter = commands.charter(
        ORIGIN, "European Security Council (bench)", council.key(OPERATOR).verifier_key(), founders, format_time(council.now), observers=observers,
        nonce=council.nonce(),
    )
    note = sign_note(charter.to_text(), council.key(OPERATOR), *(council.key(m) for m in MEMBERS))
    entry = Entry(0, format_time(council.now), note.to_text())
    council.state = apply(None, entry, assume_verified, (note, charter))
    council.index = 1
    council.now += ENTRY_GAP
    return entry


def synthetic_entries(count: int, seed: int = 2026) -> Iterator[Entry]:
    """``count`` entries of a working council, the charter first."""
    council = Council(random.Random(seed))
    yield _charter(council)
    chance = council.chance
    registered: list[str] = []
    appeals = 0
    rotations = 0
    while council.index < count:
        state = council.state
        assert state is not None
        # Sorted: a persistent map iterates in its keys' hash order, which Python salts per process.
        opened = [state.open_proposals[key] for key in sorted(state.open_proposals)]
        due = [p for p in opened if p.deadline <= council.now]
        roll = chance.random()
        if due:
            proposal = due[0]
            closer = chance.choice([OPERATOR, proposal.proposer])
            yield council.entry(commands.close(state, proposal.id, closer, format_time(council.now), council.now, council.nonce()))
        elif len(registered) < len(CIVIL_SOCIETY) and roll < 0.02:
            organization = CIVIL_SOCIETY[len(registered)]
            key = council.key(organization)
            body: dict[str, object] = {"name": f"Organization {organization}", "kind": chance.choice(["ngo", "trade-union", "local-community", "other"]), "countries": chance.sample(MEMBERS, 2), "keys": [key.verifier_key().to_text()]}
            registered.append(organization)
            yield council.say(organization, "civil-society.register", body)
        elif len(state.open_proposals) < 6 and roll < 0.06:
            category = chance.choice(CATEGORIES)
            body = {"category": category, "title": f"Proposal on {category}", "text": "The council resolves " + "that " * chance.randint(5, 60) + "...", "deadline": format_time(council.now + chance.randint(2, 6) * 3_600)}
            if category == "violation-finding":
                body["concerned"] = [chance.choice(MEMBERS)]
            if appeals and chance.random() < 0.3:
                body["references"] = [f"A-{chance.randint(1, appeals)}"]
            yield council.say(chance.choice(MEMBERS), "proposal.submit", body)
        elif state.open_proposals and roll < 0.80:
            proposal = chance.choice(opened)
            voter = chance.choice(proposal.electorate)
            weights = [0.9, 0.04, 0.06] if proposal.procedure == "ratification" else [0.6, 0.02, 0.38]
            position = chance.choices(["approve", "object", "abstain"], weights)[0]
            body = {"proposal": proposal.id, "position": position}
            if chance.random() < 0.2:
                body["explanation"] = "Our delegation " + "considers " * chance.randint(1, 12) + "this."
            yield council.say(voter, "vote.cast", body)
        elif roll < 0.87:
            speaker = chance.choice([*OBSERVERS, *MEMBERS, *registered])
            body = {"text": "We note " + "with concern " * chance.randint(1, 8) + "the situation."}
            if state.proposals and chance.random() < 0.5:
                body["about"] = f"P-{chance.randint(1, state.proposals)}"
            yield council.say(speaker, "statement.make", body)
        elif registered and roll < 0.91:
            appeals += 1
            body = {"title": "Appeal", "text": "Local communities report " + "tension " * chance.randint(1, 10), "concerned": chance.sample(MEMBERS, 2), "urgency": chance.choice(["low", "normal", "high", "critical"])}
            yield council.say(chance.choice(registered), "appeal.file", body)
        elif appeals and roll < 0.95:
            kind = chance.choice(["appeal.acknowledge", "appeal.answer"])
            body = {"appeal": f"A-{chance.randint(1, appeals)}", "text": "The council has taken note."}
            yield council.say(chance.choice([OPERATOR, *MEMBERS]), kind, body)
        elif state.decisions and roll < 0.97:
            body = {"decision": f"D-{chance.randint(1, state.decisions)}", "type": chance.choice(["interpretative", "reservation"]), "text": "Without prejudice to our position."}
            yield council.say(chance.choice(MEMBERS), "decision.attach", body)
        elif roll < 0.975:
            actor = chance.choice(MEMBERS)
            rotations += 1
            old, new = council.key(actor), signer(actor, rotations)
            yield council.say(actor, "key.add", {"key": new.verifier_key().to_text()}, new)
            council.keys[actor] = new
            yield council.say(actor, "key.revoke", {"key": old.verifier_key().to_text()})
        else:
            council.now += chance.randint(60, 3_600)


__all__ = ["synthetic_entries", "signer", "ORIGIN", "outcome", "tally"]
