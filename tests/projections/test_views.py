"""The read models: persisted beside the log, incremental, rebuildable, readable as of any entry."""

from __future__ import annotations

import os

import random
from collections import Counter
from collections.abc import Iterator

import pytest

from domain.charter import OPERATOR
from ledger.errors import AccordError, RuleViolation, StorageError
from ledger.store import Store
from projections.ledger import Ledger
from projections.queries import View
from projections.tables import ViewTables
from tests.domain.scenario import DAY, new_signer
from tests.projections.council import Clock, Council

MEMBERS = ("de", "fr", "pl", "ua", "rs", "by")


@pytest.fixture
def council(store_url: str) -> Iterator[Council]:
    with Ledger(Store(store_url), clock=(clock := Clock())) as ledger:
        yield Council(ledger, clock)


def test_views_follow_each_append(council: Council) -> None:
    proposal = council.propose()
    council.vote("by", proposal, "abstain")
    view = View(council.ledger)
    (found,) = view.proposals(open_only=True)
    assert found["id"] == proposal
    assert found["tally"] == {"approve": 0, "object": 0, "abstain": 1, "silent": 5}
    assert found["not_yet_voted"] == ["de", "fr", "pl", "rs", "ua"]
    assert found["outcome_if_closed_now"] == "adopted"
    council.clock.now += 7 * DAY
    council.close(proposal)
    (decision,) = View(council.ledger).decisions()
    assert decision["id"] == "D-1" and decision["proposal"] == proposal
    assert View(council.ledger).status()["size"] == 4


def test_every_view_can_be_read_as_of_an_earlier_entry(council: Council) -> None:
    suspension = council.say("ua", "membership.suspend", {}).index
    council.say("ua", "membership.resume", {})
    def standing_of_ua(as_of: int | None) -> str:
        return next(m["standing"] for m in View(council.ledger, as_of).members() if m["id"] == "ua")
    assert standing_of_ua(suspension - 1) == "active"
    assert standing_of_ua(suspension) == "suspended"
    assert standing_of_ua(None) == "active"
    with pytest.raises(StorageError, match=r"^ledger: no entry 9: the log has entries 0 to 2$"):
        View(council.ledger, 9)


def test_withdrawal_shows_once_the_notice_period_has_passed(council: Council) -> None:
    notice = council.say("rs", "membership.withdraw", {}).index
    council.clock.now += 89 * DAY
    assert next(m for m in View(council.ledger).members() if m["id"] == "rs")["standing"] == "active"
    council.clock.now += DAY
    assert next(m for m in View(council.ledger).members() if m["id"] == "rs")["standing"] == "withdrawn"
    assert next(m for m in View(council.ledger, notice).members() if m["id"] == "rs")["standing"] == "active"


def test_observer_statements_and_appeals_appear_in_their_views(council: Council) -> None:
    council.keys["etuc"] = new_signer("etuc")
    council.say("etuc", "civil-society.register", {"name": "ETUC", "kind": "trade-union", "countries": ["de"], "keys": [council.keys["etuc"].verifier_key().to_text()]})
    council.say("etuc", "appeal.file", {"title": "Border", "text": "...", "concerned": ["pl"], "urgency": "high"})
    council.clock.now += 3 * DAY
    (appeal,) = View(council.ledger).appeals()
    assert (appeal["status"], appeal["age_days"]) == ("unanswered", 3)
    council.say("pl", "appeal.acknowledge", {"appeal": "A-1"})
    proposal = council.propose(category="risk-assessment", references=["A-1"])
    council.say("in", "statement.make", {"text": "India offers to mediate.", "about": proposal})
    council.say(OPERATOR, "appeal.answer", {"appeal": "A-1", "text": "Referred to the council."})
    (appeal,) = View(council.ledger).appeals()
    assert appeal["status"] == "answered" and appeal["referred_by"] == [proposal]
    assert [s["actor"] for s in View(council.ledger).proposal(proposal)["statements"]] == ["in"]


def test_refused_statement_changes_neither_log_nor_views(council: Council) -> None:
    before = council.ledger.views.dump()
    with pytest.raises(RuleViolation):
        council.say("in", "vote.cast", {"proposal": "P-1", "position": "object"})
    assert council.ledger.log.size == 1
    assert council.ledger.views.dump() == before
    assert council.ledger.views.position() == 1


def test_reading_a_view_does_not_replay_the_log(council: Council, monkeypatch: pytest.MonkeyPatch) -> None:
    proposal = council.propose()
    council.clock.now += 7 * DAY
    council.close(proposal)

    def no_replay(*_: object, **__: object) -> None:
        raise AssertionError("a view read the log's entries")

    monkeypatch.setattr(council.ledger.log, "entries", no_replay)
    view = View(council.ledger)
    assert [d["id"] for d in view.decisions()] == ["D-1"]
    assert len(view.members()) == 8 and view.proposals()[0]["status"] == "adopted"


def test_an_entry_and_its_rows_commit_together_or_not_at_all(council: Council, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = council.ledger
    size, rows = ledger.log.size, ledger.views.dump()

    def fail(*_: object) -> None:
        raise StorageError("projections", "disk full")

    monkeypatch.setattr(ViewTables, "write", fail)
    with pytest.raises(StorageError, match="disk full"):
        council.say("de", "statement.make", {"text": "lost with its row"})
    assert ledger.log.size == size and ledger.views.dump() == rows and ledger.views.position() == size
    monkeypatch.undo()
    council.say("de", "statement.make", {"text": "kept with its row"})
    assert [s["text"] for s in View(ledger).statements()] == ["kept with its row"]
    assert ledger.views.position() == ledger.log.size == size + 1


def test_views_catch_up_after_a_crash_between_append_and_update(store_url: str) -> None:
    with Ledger(Store(store_url), clock=(clock := Clock())) as ledger:
        council = Council(ledger, clock)
        # Straight to the log, as if the process died before updating the views.
        ledger.log.append([council.note("de", "statement.make", {"text": "appended, views not updated"})])
        assert ledger.views.position() == 1
        assert View(ledger).size == 2
        assert [s["text"] for s in View(ledger).statements()] == ["appended, views not updated"]


def test_second_writer_checks_against_the_state_the_first_left(store_url: str) -> None:
    if store_url == "memory:":
        pytest.skip("two memory stores share nothing")
    clock = Clock()
    with Ledger(Store(store_url), clock=clock) as first, Ledger(Store(store_url), clock=clock) as second:
        council = Council(first, clock)
        proposal = council.propose()
        council.ledger = second
        council.vote("fr", proposal, "object")
        council.ledger = first
        clock.now += 7 * DAY
        council.close(proposal)
        council.ledger = second
        with pytest.raises(RuleViolation, match=rf"^vote\.cast: {proposal} is no longer open$"):
            council.vote("pl", proposal, "approve")
        assert first.views.dump() == second.views.dump()
        assert [p["status"] for p in View(second).proposals()] == ["rejected"]


def random_history(council: Council, steps: int, seed: int) -> None:
    """Many statements, valid and not, chosen by a seeded random walk."""
    chance = random.Random(seed)
    council.keys["etuc"] = new_signer("etuc")
    council.say("etuc", "civil-society.register", {"name": "ETUC", "kind": "trade-union", "countries": ["de"], "keys": [council.keys["etuc"].verifier_key().to_text()]})
    for _ in range(steps):
        state = council.ledger.state()
        assert state is not None
        open_ids = sorted(state.open_proposals)
        action = chance.choice(["propose", "vote", "vote", "vote", "close", "say", "appeal", "respond", "suspend", "time", "attach"])
        actor = chance.choice(MEMBERS)
        try:
            if action == "propose":
                council.propose(actor, chance.choice(["general", "military-operation", "violation-finding"]), chance.randint(1, 5) * DAY, concerned=[chance.choice(MEMBERS)])
            elif action == "vote" and open_ids:
                council.vote(actor, chance.choice(open_ids), chance.choice(["approve", "approve", "object", "abstain"]))
            elif action == "close" and open_ids:
                council.close(chance.choice(open_ids), chance.choice([OPERATOR, actor]))
            elif action == "say":
                council.say(chance.choice([actor, "in"]), "statement.make", {"text": "On the record."})
            elif action == "appeal":
                council.say("etuc", "appeal.file", {"title": "t", "text": "t", "concerned": [actor], "urgency": "normal"})
            elif action == "respond" and state.appeals:
                council.say(actor, chance.choice(["appeal.acknowledge", "appeal.answer"]), {"appeal": f"A-{chance.randint(1, state.appeals)}", "text": "Noted."})
            elif action == "suspend":
                council.say(actor, chance.choice(["membership.suspend", "membership.resume"]), {})
            elif action == "attach" and state.decisions:
                council.say(actor, "decision.attach", {"decision": f"D-{chance.randint(1, state.decisions)}", "type": "reservation", "text": "Reserved."})
            elif action == "time":
                council.clock.now += chance.randint(1, 3) * DAY
        except AccordError:
            pass
        council.clock.now += chance.randint(0, 3600)


def test_incremental_and_rebuilt_views_are_identical_after_a_long_random_history(council: Council) -> None:
    random_history(council, 300, seed=7)
    ledger = council.ledger
    assert ledger.log.size > 150
    incremental = ledger.views.dump()
    assert ledger.rebuild() == ledger.log.size
    assert ledger.views.dump() == incremental
    assert {row[0] for row in incremental} >= {"actor", "proposal", "vote", "decision", "appeal", "response", "statement"}


def test_only_a_document_s_first_version_skips_ending_an_earlier_one(council: Council) -> None:
    # Rows marked first are inserted without ending an earlier version: a
    # replaced vote marked first would leave two current versions.
    random_history(council, 300, seed=11)
    rows = council.ledger.views.dump()
    versions = Counter((view, doc_id) for view, doc_id, *_ in rows)
    assert any(view == "vote" and count > 1 for (view, _), count in versions.items()), "no vote was replaced: the case is not exercised"
    assert council.ledger.views.structure_fault() is None


def _speak_from_another_process(url: str, actor: str, count: int) -> None:
    from domain import commands
    from ledger.note import sign_note
    from ledger.timefmt import format_time
    from tests.domain.scenario import ORIGIN

    signer = new_signer(actor)
    with Ledger(Store(url)) as ledger:
        for n in range(count):
            statement = commands.statement(ORIGIN, "statement.make", actor, format_time(ledger.log.clock()), {"text": f"{actor} {n}"})
            ledger.append([sign_note(statement.to_text(), signer).to_text()])


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_two_processes_appending_through_the_rules_keep_one_consistent_view(backend: str, request: pytest.FixtureRequest) -> None:
    import multiprocessing
    import time

    url = request.getfixturevalue(f"{backend}_url")
    with Ledger(Store(url), clock=Clock(int(time.time()))) as ledger:
        Council(ledger, Clock(int(time.time())))
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_speak_from_another_process, args=(url, actor, 60)) for actor in ("de", "fr")]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=300)
        assert process.exitcode == 0
    with Ledger(Store(url)) as ledger:
        assert ledger.log.size == 121
        assert ledger.views.position() == 121
        said = sorted(s["text"] for s in View(ledger).statements())
        assert said == sorted(f"{actor} {n}" for actor in ("de", "fr") for n in range(60))
        incremental = ledger.views.dump()
        ledger.rebuild()
        assert ledger.views.dump() == incremental



def test_snapshot_bytes_do_not_depend_on_the_process_that_wrote_them() -> None:
    """A persistent map iterates in the order of its keys' hashes, which Python salts per process;
    verify compares a snapshot written by one process with a state computed by another."""
    import subprocess
    import sys

    program = (
        "import hashlib; from bench.synthetic import synthetic_entries; from domain.rules import fold; "
        "from domain.snapshot import to_snapshot; "
        "print(hashlib.sha256(to_snapshot(fold(synthetic_entries(400, seed=3)))).hexdigest())"
    )
    digests = {
        subprocess.run([sys.executable, "-c", program], env={**os.environ, "PYTHONHASHSEED": seed}, capture_output=True, text=True, check=True).stdout
        for seed in ("1", "2", "3")
    }
    assert len(digests) == 1


def test_last_decisions_are_the_tail_of_the_register_with_their_attachments(council: Council) -> None:
    for _ in range(3):
        proposal = council.propose()
        council.clock.now += 7 * DAY
        council.close(proposal)
    council.say("by", "decision.attach", {"decision": "D-2", "type": "reservation", "text": "Reserved."})
    council.say("in", "statement.make", {"text": "Noted.", "about": "D-3"})
    view = View(council.ledger)
    register = view.decisions()
    assert [d["id"] for d in register] == ["D-1", "D-2", "D-3"]
    assert view.decisions(2) == register[1:]
    assert [a["actor"] for a in register[1]["attachments"]] == ["by"] and [s["actor"] for s in register[2]["statements"]] == ["in"]
    assert [d["id"] for d in View(council.ledger, as_of=2).decisions(5)] == ["D-1"]
    assert View(council.ledger, as_of=1).decisions(5) == []


def test_documents_about_many_subjects_are_read_in_bounded_queries() -> None:
    from projections.tables import Database, ViewTables
    from projections.views import Row

    tables = ViewTables(Database(None))
    subjects = [f"P-{n}" for n in range(1, 1_201)]
    tables.advance(0, [(0, [Row("vote", f"{subject}/de", subject, {"n": n}) for n, subject in enumerate(subjects)])])
    found = tables.documents_about("vote", 1, subjects)
    assert [docs[0]["n"] for docs in found.values()] == list(range(1_200))
