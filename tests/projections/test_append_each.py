"""Ledger.append_each: a batch judged in order, each statement on its own, committed in one transaction."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator

import pytest

from ledger.entry import MAX_ENTRY_BYTES, Entry
from ledger.errors import AccordError, MalformedError, RuleViolation
from ledger.store import Store
from projections.ledger import Ledger
from projections.queries import View
from tests.domain.scenario import new_signer
from tests.projections.council import Clock, Council


@pytest.fixture
def council(store_url: str) -> Iterator[Council]:
    with Ledger(Store(store_url), clock=(clock := Clock())) as ledger:
        yield Council(ledger, clock)


def _outcome(result: Entry | AccordError) -> tuple[str, str]:
    return (type(result).__name__, str(result)) if isinstance(result, AccordError) else ("Entry", result.to_bytes().decode())


def test_a_mixed_batch_appends_the_accepted_and_returns_each_refusal_in_its_place(council: Council) -> None:
    good = council.note("de", "statement.make", {"text": "first"})
    outsider = council.note("in", "vote.cast", {"proposal": "P-1", "position": "object"})
    later = council.note("fr", "statement.make", {"text": "second"})
    size = council.ledger.log.size
    results = council.ledger.append_each([good, outsider, later])
    first, refusal, second = results
    assert isinstance(first, Entry) and isinstance(second, Entry)
    assert (first.index, first.statement, second.index, second.statement) == (size, good, size + 1, later)
    assert isinstance(refusal, RuleViolation)
    with pytest.raises(RuleViolation) as raised:
        council.ledger.append([outsider])
    assert str(refusal) == str(raised.value)
    assert [entry.statement for entry in council.ledger.entries(size)] == [good, later]
    assert council.ledger.views.position() == size + 2
    assert sorted(s["text"] for s in View(council.ledger).statements()) == ["first", "second"]


def test_a_statement_twice_in_one_batch_is_refused_the_second_time_as_a_duplicate(council: Council) -> None:
    note = council.note("de", "statement.make", {"text": "once"})
    size = council.ledger.log.size
    first, second = council.ledger.append_each([note, note])
    assert isinstance(first, Entry) and first.index == size
    assert isinstance(second, RuleViolation)
    assert second.rule == "statement.duplicate"
    assert str(second).startswith("statement.make: the log already holds a statement with nonce ")
    assert council.ledger.log.size == size + 1


def test_an_oversized_statement_is_refused_alone(council: Council) -> None:
    big = council.note("de", "statement.make", {"text": "x" * MAX_ENTRY_BYTES})
    small = council.note("fr", "statement.make", {"text": "small"})
    refusal, entry = council.ledger.append_each([big, small])
    assert isinstance(refusal, MalformedError) and str(refusal).startswith("entry: too large: got ")
    assert isinstance(entry, Entry) and entry.statement == small


def test_a_batch_refused_whole_appends_nothing_and_moves_no_view(council: Council) -> None:
    size, rows = council.ledger.log.size, council.ledger.views.dump()
    (refusal,) = council.ledger.append_each([council.note("in", "vote.cast", {"proposal": "P-9", "position": "approve"})])
    assert isinstance(refusal, RuleViolation)
    assert council.ledger.log.size == size and council.ledger.views.dump() == rows and council.ledger.views.position() == size
    assert council.ledger.append_each([]) == []


def test_refusals_do_not_affect_the_others_a_batch_equals_one_append_each(store_url: str) -> None:
    """The batch's results are those of appending each statement alone, in order, on a twin ledger."""
    with Ledger(Store(store_url), clock=Clock()) as batched, Ledger(Store("memory:"), clock=Clock()) as single:
        council = Council(batched, Clock())
        proposal = council.propose()
        single.append([entry.statement for entry in batched.entries()])
        vote = council.note("de", "vote.cast", {"proposal": proposal, "position": "approve"})
        notes = [
            vote,
            vote,  # a replay: refused
            council.note("in", "vote.cast", {"proposal": proposal, "position": "object"}),  # not a member: refused
            council.note("fr", "vote.cast", {"proposal": proposal, "position": "object"}),
            council.note("fr", "statement.make", {"text": "why"}, signers=[new_signer("fr", generation=1)]),  # not fr's key: refused
            council.note("pl", "vote.cast", {"proposal": "P-7", "position": "approve"}),  # no such proposal: refused
            council.note("pl", "vote.cast", {"proposal": proposal, "position": "abstain"}),
        ]
        expected = []
        for note in notes:
            try:
                expected.append(_outcome(single.append([note])[0]))
            except AccordError as error:
                expected.append(_outcome(error))
        got = [_outcome(result) for result in batched.append_each(notes)]
        assert got == expected
        assert [kind for kind, _ in got] == ["Entry", "RuleViolation", "RuleViolation", "Entry", "SignatureError", "RuleViolation", "Entry"]
        assert [e.to_bytes() for e in batched.entries()] == [e.to_bytes() for e in single.entries()]
        assert batched.views.dump() == single.views.dump()


def _batches_from_another_process(url: str, actor: str, batches: int) -> None:
    from domain import commands
    from ledger.note import sign_note
    from ledger.timefmt import format_time
    from tests.domain.scenario import ORIGIN

    signer = new_signer(actor)
    with Ledger(Store(url)) as ledger:
        for b in range(batches):
            notes = [
                sign_note(commands.statement(ORIGIN, "statement.make", actor, format_time(ledger.log.clock()), {"text": f"{actor} {b} {n}"}).to_text(), signer).to_text()
                for n in range(4)
            ]
            results = ledger.append_each([*notes, notes[0]])  # the repeat is refused as a duplicate
            if not (all(isinstance(r, Entry) for r in results[:4]) and isinstance(results[4], RuleViolation)):
                raise SystemExit(f"batch {b}: {results!r}")


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_two_processes_appending_batches_leave_a_gapless_log_and_one_view(backend: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue(f"{backend}_url")
    with Ledger(Store(url), clock=Clock(int(time.time()))) as ledger:
        Council(ledger, Clock(int(time.time())))
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_batches_from_another_process, args=(url, actor, 15)) for actor in ("de", "fr")]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=300)
        assert process.exitcode == 0
    with Ledger(Store(url)) as ledger:
        entries = list(ledger.entries())
        assert [entry.index for entry in entries] == list(range(121))
        assert ledger.views.position() == 121
        said = sorted(s["text"] for s in View(ledger).statements())
        assert said == sorted(f"{actor} {b} {n}" for actor in ("de", "fr") for b in range(15) for n in range(4))
        incremental = ledger.views.dump()
        ledger.rebuild()
        assert ledger.views.dump() == incremental
        assert ledger.views.structure_fault() is None


def test_a_batch_that_lost_a_race_is_judged_again_against_the_new_head(store_url: str) -> None:
    if store_url == "memory:":
        pytest.skip("two memory stores share nothing: there is no race to lose")
    clock = Clock()
    with Ledger(Store(store_url), clock=clock) as ours, Ledger(Store(store_url), clock=clock) as theirs:
        council = Council(ours, clock)
        council.say("de", "statement.make", {"text": "ours leaves its head cached"})
        council.ledger = theirs
        proposal = council.propose()  # another writer moves the head on
        vote = council.note("fr", "vote.cast", {"proposal": proposal, "position": "approve"})
        extra = council.note("pl", "statement.make", {"text": "judged twice, appended once"})
        # Against the head ours cached, the vote names no proposal yet: not final until judged against the stored head.
        (entry, other) = ours.append_each([vote, extra])
        assert isinstance(entry, Entry) and isinstance(other, Entry)
        assert (entry.index, other.index) == (3, 4)
        assert [e.index for e in ours.entries()] == list(range(5))
        assert ours.views.position() == 5
