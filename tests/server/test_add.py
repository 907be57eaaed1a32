"""POST /add and the batcher: receipts, every refusal code, group commit (SPEC 11)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from domain.charter import OPERATOR
from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.errors import AccordError, RuleViolation, StorageError
from ledger.note import Note
from ledger.tlog_proof import TlogProof, verify_tlog_proof
from projections.ledger import Ledger
from server.app import Settings, build_app, http_status
from server.batcher import Batcher, Pushback, Submission
from tests.server.conftest import Founded


def client(founded: Founded, **options: object) -> TestClient:
    return TestClient(build_app(founded.url, founded.operator, **options))  # type: ignore[arg-type]


def stored(founded: Founded) -> list[str]:
    with Ledger.open(founded.url) as ledger:
        return [entry.statement for entry in ledger.entries()]


def test_a_submission_is_answered_with_a_receipt_under_the_published_checkpoint(founded: Founded) -> None:
    note = founded.say("India offers to mediate.")
    with client(founded) as http:
        answer = http.post("/add", content=note)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "text/x.tlog-proof; charset=utf-8"
        receipt = TlogProof.from_text(answer.text)
        assert receipt.checkpoint_note == http.get("/checkpoint").text
    with Ledger.open(founded.url) as ledger:
        entry = ledger.log.entry(receipt.index)
    assert entry.statement == note and receipt.index == 1
    checkpoint = verify_tlog_proof(receipt, entry.leaf_hash(), founded.operator.verifier_key())
    assert checkpoint.size == 2


def refused(founded: Founded, body: str | bytes, status: int, line: str) -> None:
    before = stored(founded)
    with client(founded) as http:
        answer = http.post("/add", content=body)
    assert (answer.status_code, answer.text) == (status, line + "\n")
    assert stored(founded) == before


def test_malformed_is_400_with_the_line_the_cli_prints(founded: Founded) -> None:
    with pytest.raises(AccordError) as local:
        Note.from_text("not a note")
    refused(founded, "not a note", 400, f"accord: {local.value}")


def test_a_statement_the_log_holds_is_409(founded: Founded) -> None:
    note = founded.say("once")
    with client(founded) as http:
        assert http.post("/add", content=note).status_code == 200
    nonce = Note.from_text(note).text.split('"nonce":"')[1].split('"')[0]
    refused(founded, note, 409, f"accord: statement.make: the log already holds a statement with nonce {nonce}")


def test_a_body_larger_than_any_entry_is_413_unread(founded: Founded) -> None:
    refused(founded, b"x" * 70_000, 413, "accord: entry: too large: got more than 65535 bytes, want at most 65535")


def test_a_statement_whose_entry_would_pass_65535_bytes_is_413(founded: Founded) -> None:
    note = founded.say("x" * 65_200)
    assert len(note) < 65_535
    with client(founded) as http:
        answer = http.post("/add", content=note)
    assert answer.status_code == 413
    assert answer.text.startswith("accord: entry: too large: got ") and answer.text.endswith(" bytes, want at most 65535\n")


def test_a_statement_a_rule_refuses_is_422(founded: Founded) -> None:
    note = founded.note("de", "vote.cast", {"proposal": "P-9", "position": "approve"})
    with Ledger.open(founded.url) as ledger:
        with pytest.raises(AccordError) as local:
            ledger.append([note])
    refused(founded, note, 422, f"accord: {local.value}")


def test_a_full_queue_is_429_with_retry_after(founded: Founded) -> None:
    release = threading.Event()

    def stalled(note: Note) -> Note:
        release.wait(10)
        return note

    with client(founded, settings=Settings(max_pending=1, max_batch=1), publish=stalled) as http, ThreadPoolExecutor(3) as pool:
        first = pool.submit(http.post, "/add", content=founded.say("first"))
        time.sleep(0.3)  # the publisher holds the first, stalled in publish
        second = pool.submit(http.post, "/add", content=founded.say("second"))
        time.sleep(0.3)  # the second is appended meanwhile (one batch ahead, no more)
        third = pool.submit(http.post, "/add", content=founded.say("third"))
        time.sleep(0.3)  # the third waits in the queue, which is then full
        answer = http.post("/add", content=founded.say("fourth"))
        assert (answer.status_code, answer.headers["retry-after"]) == (429, "1")
        assert answer.text == "accord: log: too many submissions waiting: 1; try again in 1 s\n"
        release.set()
        assert [done.result(10).status_code for done in (first, second, third)] == [200, 200, 200]


def test_storage_or_publishing_unavailable_is_503(founded: Founded) -> None:
    def broken(note: Note) -> Note:
        raise StorageError("store", "write failed: disk full")

    with client(founded, publish=broken) as http:
        answer = http.post("/add", content=founded.say("lost checkpoint"))
    assert answer.status_code == 503
    assert answer.text == "accord: log: appended but no checkpoint was published: store: write failed: disk full\n"
    assert http_status(StorageError("store", "x")) == 503


def test_one_refusal_in_a_batch_leaves_the_others_and_one_checkpoint_covers_them(founded: Founded) -> None:
    with Ledger.open(founded.url) as ledger:
        batcher = Batcher(ledger, founded.operator)
        good = [founded.say(f"good {n}") for n in range(5)]
        bad = founded.note("de", "vote.cast", {"proposal": "P-9", "position": "approve"})
        batch = [Submission(note, Future(), 0.0) for note in [good[0], good[1], bad, good[2], good[3], good[4]]]
        batcher.commit(batch)
        with pytest.raises(RuleViolation):
            batch[2].answer.result(0)
        receipts = [submission.answer.result(0) for index, submission in enumerate(batch) if index != 2]
        assert [receipt.index for receipt in receipts] == [1, 2, 3, 4, 5]
        assert len({receipt.checkpoint_note for receipt in receipts}) == 1
        checkpoint, _ = open_checkpoint(receipts[0].checkpoint_note, founded.operator.verifier_key())
        assert checkpoint.size == 6 and checkpoint.root_hash == ledger.log.root_at(6)
        for receipt in receipts:
            # Proved from the batch's nodes: the same hashes the stored nodes give.
            assert list(receipt.hashes) == ledger.log.inclusion_proof(receipt.index, 6)
        assert [entry.statement for entry in ledger.entries(1)] == good
        assert Checkpoint.from_text(Note.from_text(ledger.log.latest_checkpoint().to_text()).text).size == 6  # type: ignore[union-attr]


def test_pushback_when_the_queue_is_full(founded: Founded) -> None:
    with Ledger.open(founded.url) as ledger:
        batcher = Batcher(ledger, founded.operator, max_pending=2)
        batcher.submit("a")
        batcher.submit("b")
        with pytest.raises(Pushback) as full:
            batcher.submit("c")
        assert str(full.value) == "log: too many submissions waiting: 2; try again in 1 s"


def test_the_operator_key_must_be_the_ledgers(founded: Founded, tmp_path: Path) -> None:
    with pytest.raises(AccordError) as refused_key:
        with TestClient(build_app(founded.url, founded.keys["de"])):
            pass
    assert str(refused_key.value) == f"checkpoint: {founded.keys['de'].verifier_key().label} is not a valid key of this ledger's operator"
    assert OPERATOR in founded.keys


def test_the_batcher_snapshots_the_rule_state_when_idle_not_in_its_batches(founded: Founded) -> None:
    with Ledger.open(founded.url) as ledger:
        batcher = Batcher(ledger, founded.operator)
        batcher.snapshot_every = 3
        before = ledger.views.snapshot()
        batch = [Submission(founded.say(f"said {n}"), Future(), 0.0) for n in range(4)]
        batcher.commit(batch)
        assert [submission.answer.result(0).index for submission in batch] == [1, 2, 3, 4]
        assert ledger.views.snapshot() == before  # none written with the batch's rows
        batcher.snapshot(idle=True)
        stored = ledger.views.snapshot()
        assert stored is not None and stored[0] == 5
        assert not ledger.views.write_snapshot(4, b"{}")  # an older one never replaces it
        assert ledger.views.snapshot() == stored
        state = ledger.state()
    with Ledger.open(founded.url) as restarted:
        assert restarted._restore(5) == state
