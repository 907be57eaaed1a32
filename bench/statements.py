"""Realistic signed statements, made and signed before any clock starts."""

from __future__ import annotations

import random
from dataclasses import dataclass

from ledger.keys import Signer
from ledger.note import sign_note
from ledger.statement import Statement
from ledger.timefmt import format_time

from bench.context import Bench

ORIGIN = "bench.accord.example/assembly"
DELEGATIONS = ("de", "fr", "pl", "ua", "it", "es", "nl", "cz")
FIRST_SIGNED_AT = 1_795_521_600  # 2026-11-24T12:00:00Z; statement i is signed i seconds later
REASONS = (
    "The delegation supports the proposal as amended in committee and asks that the record show it.",
    "Having consulted its parliament, the delegation casts its vote and reserves its position on annex B.",
    "The delegation abstains pending the legal opinion requested at the last session, without prejudice.",
)


@dataclass(frozen=True)
class SignedStatements:
    """``notes``: signed-note texts of statements by several delegations, all distinct.

    ``texts`` are the statement texts the notes sign (what an Ed25519
    signature covers); ``signers`` made them, ``notes[i]`` by ``signers[i % len]``.
    """

    texts: tuple[str, ...]
    notes: tuple[str, ...]
    signers: tuple[Signer, ...]

    @property
    def mean_note_bytes(self) -> float:
        return sum(len(note.encode("utf-8")) for note in self.notes) / len(self.notes)

    @property
    def mean_text_bytes(self) -> float:
        return sum(len(text.encode("utf-8")) for text in self.texts) / len(self.texts)


def make_statements(count: int, seed: int = 2026) -> SignedStatements:
    """``count`` votes cast with a reason, as an assembly's log mostly holds: ~320-byte texts, ~450-byte notes."""
    chooser = random.Random(seed)
    signers = tuple(Signer.generate(f"{ORIGIN}/{actor}") for actor in DELEGATIONS)
    texts, notes = [], []
    for number in range(count):
        actor = DELEGATIONS[number % len(DELEGATIONS)]
        statement = Statement(
            origin=ORIGIN,
            kind="vote.cast",
            actor=actor,
            signed_at=format_time(FIRST_SIGNED_AT + number),
            body={
                "proposal": f"p-{chooser.randrange(10_000):05d}",
                "choice": chooser.choice(("for", "against", "abstain")),
                "reason": chooser.choice(REASONS),
            },
            nonce=chooser.randbytes(16).hex(),
        )
        text = statement.to_text()
        texts.append(text)
        notes.append(sign_note(text, signers[number % len(signers)]).to_text())
    return SignedStatements(tuple(texts), tuple(notes), signers)


def signed_statements(bench: Bench) -> SignedStatements:
    """The run's shared pool: as many statements as the one-per-transaction figure appends."""
    return bench.fixture("signed-statements", lambda: make_statements(bench.sizes.single_appends))
