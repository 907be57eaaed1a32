"""SPEC 11: submissions are judged in the order they arrived, whichever checking thread finishes first."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, wait

import pytest

from domain.state import LedgerState
from ledger.errors import AccordError, MalformedError, RuleViolation
from ledger.timefmt import format_time
from ledger.tlog_proof import TlogProof
from projections.ledger import Ledger, Prepared
from server.batcher import Batcher, prepare
from tests.server.conftest import Founded

HELD = 1.0
"""Seconds the first check is held after the second's is done: room for the second to be judged wrongly first."""


def proposal(founded: Founded) -> str:
    deadline = format_time(int(time.time()) + 7 * 86_400)
    return founded.note("de", "proposal.submit", {"category": "general", "title": "A proposal", "text": "The council resolves ...", "deadline": deadline})


def vote(founded: Founded) -> str:
    return founded.note("fr", "vote.cast", {"proposal": "P-1", "position": "approve"})


class SlowFirst:
    """The real check, but the first note's is held until every other one's is done (and a while longer)."""

    def __init__(self, first: str, others: int) -> None:
        self.first = first
        self.others = others
        self.checked = threading.Semaphore(0)
        self.answers: list[Future[TlogProof]] = []
        self.first_done = threading.Event()

    def __call__(self, note: str, state: LedgerState | None) -> Prepared:
        if note != self.first:
            try:
                return prepare(note, state)
            finally:
                self.checked.release()
        prepared = prepare(note, state)
        for _ in range(self.others):
            assert self.checked.acquire(timeout=30)
        # The later ones are checked: were they queued now, the batch would judge them first.
        wait(self.answers[1:], timeout=HELD)
        self.first_done.set()
        return prepared


def run(founded: Founded, notes: list[str], check: SlowFirst) -> list[TlogProof | AccordError]:
    with Ledger.open(founded.url) as ledger:
        batcher = Batcher(ledger, founded.operator, checkers=2, check=check)
        batcher.start()
        try:
            check.answers.extend(batcher.check_and_submit(note) for note in notes)
            results: list[TlogProof | AccordError] = []
            for answer in check.answers:
                error = answer.exception(30)
                results.append(answer.result(0) if error is None else error)  # type: ignore[arg-type]
            return results
        finally:
            batcher.stop()


def test_a_vote_checked_before_its_proposal_is_still_judged_after_it(founded: Founded) -> None:
    first, second = proposal(founded), vote(founded)
    check = SlowFirst(first, others=1)
    results = run(founded, [first, second], check)
    assert [type(result) for result in results] == [TlogProof, TlogProof], results
    assert [result.index for result in results] == [1, 2]  # type: ignore[union-attr]
    with Ledger.open(founded.url) as ledger:
        assert [entry.statement for entry in ledger.entries(1)] == [first, second]


def test_a_refused_check_between_them_takes_its_turn_and_holds_back_nothing(founded: Founded) -> None:
    first, third = proposal(founded), vote(founded)
    check = SlowFirst(first, others=2)
    results = run(founded, [first, "not a note", third], check)
    assert isinstance(results[0], TlogProof) and isinstance(results[2], TlogProof), results
    assert isinstance(results[1], MalformedError)
    assert [results[0].index, results[2].index] == [1, 2]
    with Ledger.open(founded.url) as ledger:
        assert [entry.statement for entry in ledger.entries(1)] == [first, third]


def test_a_refused_check_is_answered_at_once_while_an_earlier_one_is_still_checked(founded: Founded) -> None:
    release = threading.Event()
    first = proposal(founded)

    def check(note: str, state: LedgerState | None) -> Prepared:
        if note == first:
            assert release.wait(30)
        return prepare(note, state)

    with Ledger.open(founded.url) as ledger:
        batcher = Batcher(ledger, founded.operator, checkers=2, check=check)
        batcher.start()
        try:
            held = batcher.check_and_submit(first)
            refused = batcher.check_and_submit("not a note")
            with pytest.raises(MalformedError):
                refused.result(30)
            assert not held.done()
            release.set()
            assert held.result(30).index == 1
            later = batcher.check_and_submit(vote(founded))
            assert later.result(30).index == 2
        finally:
            release.set()
            batcher.stop()


def test_a_rule_refusal_in_order_leaves_the_next_one(founded: Founded) -> None:
    early_vote, first = vote(founded), proposal(founded)
    check = SlowFirst(early_vote, others=1)
    results = run(founded, [early_vote, first], check)
    assert isinstance(results[0], RuleViolation), results  # judged first, as it came first: no P-1 yet
    assert isinstance(results[1], TlogProof) and results[1].index == 1
