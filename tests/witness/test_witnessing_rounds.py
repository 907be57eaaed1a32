"""How ``accord serve --policy`` gathers cosignatures (server.witnessing), against in-process witnesses.

Each witness is a real :class:`WitnessState` behind an httpx mock transport,
so that a test can hold one witness's answer (a slow witness) or make it fail
(a witness down) and see what a round does: it waits for the quorum among
every witness, not only those idle when it began; a cosignature that comes
after its round returned is stored with its checkpoint, in the transaction
that stores the next one; and one that comes once a newer checkpoint is
stored is counted as dropped, never stored out of order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import httpx
import pytest

from domain.charter import OPERATOR
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.keys import VerifierKey
from ledger.note import Note
from ledger.policy import Policy
from ledger.witness_state import WitnessState
from projections.exchange import published
from projections.ledger import Ledger
from projections.witnessed import sightings
from server.witnessing import MAX_ANSWER_BYTES, Witnessing
from tests.projections.council import Clock, Council
from tests.domain.scenario import T0
from tests.witness.keys import witness_signer

NAMES = ("w1", "w2", "w3")
SIGNERS = {name: witness_signer(f"witness.test/{name}") for name in NAMES}
WAIT = 20.0


class Witnesses:
    """Three witnesses answering over a mock transport; each can be held (until released) or down."""

    def __init__(self, directory: Path, log_keys: Mapping[str, Sequence[VerifierKey]]) -> None:
        self.states = {name: WitnessState(directory / f"{name}.db") for name in NAMES}
        self.log_keys = log_keys
        self.down: set[str] = set()
        self.held: dict[str, threading.Event] = {}
        self.requests: dict[str, int] = dict.fromkeys(NAMES, 0)
        self.answer_bytes: dict[str, bytes] = {}

    def hold(self, name: str) -> threading.Event:
        self.held[name] = threading.Event()
        return self.held[name]

    def handle(self, request: httpx.Request) -> httpx.Response:
        name = request.url.host.split(".")[0]
        self.requests[name] += 1
        if name in self.down:
            raise httpx.ConnectError("connection refused", request=request)
        if name in self.answer_bytes:
            return httpx.Response(200, content=self.answer_bytes[name])
        answer = self.states[name].add_checkpoint(request.read(), self.log_keys, SIGNERS[name], lambda: int(time.time()))
        held = self.held.get(name)
        if held is not None:
            assert held.wait(WAIT), f"{name} was never released"
        return httpx.Response(answer.status, content=answer.body, headers={"content-type": answer.content_type})

    def close(self) -> None:
        for event in self.held.values():
            event.set()
        for state in self.states.values():
            state.close()


class Log:
    def __init__(self, directory: Path) -> None:
        self.store = f"sqlite:///{directory / 'accord.db'}"
        self.clock = Clock(T0)
        self.ledger = Ledger.open(self.store, self.clock)
        self.council = Council(self.ledger, self.clock)
        self.operator = self.council.keys[OPERATOR]
        text = "".join(f"witness {n} {SIGNERS[n].cosigner_key().to_text()} http://{n}.test/\n" for n in NAMES)
        self.policy = Policy.from_text(f"log {self.operator.verifier_key().to_text()}\n{text}group two-of-three 2 w1 w2 w3\nquorum two-of-three\n")
        self.witnesses = Witnesses(directory, {self.operator.name: [self.operator.verifier_key()]})
        self.witnessing = Witnessing(self.policy, self.store, timeout=5.0)
        self.witnessing.client.close()
        self.witnessing.client = httpx.Client(transport=httpx.MockTransport(self.witnesses.handle))

    def checkpoint(self, text: str) -> Note:
        """Append a statement and sign the head's checkpoint (not yet published)."""
        self.council.say("in", "statement.make", {"text": text})
        head = self.ledger.log.head()
        return sign_checkpoint(Checkpoint(self.operator.name, head.size, head.root), self.operator)

    def stream(self) -> list[Note]:
        """Every stored checkpoint version, oldest first."""
        return [Note.from_text(text) for _, text in self.ledger.store.checkpoints()][::-1]

    def close(self) -> None:
        self.witnessing.stop()
        self.witnesses.close()
        self.ledger.close()


@pytest.fixture
def log(tmp_path: Path) -> Iterator[Log]:
    made = Log(tmp_path)
    yield made
    made.close()


def cosigners(note: Note, policy: Policy) -> set[str]:
    return set(policy.cosigners(note))


def wait_for(condition: Callable[[], object], within: float = WAIT) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError("the condition did not hold in time")


def test_a_witness_still_busy_with_the_last_checkpoint_joins_the_next_round_once_free(log: Log) -> None:
    """With one witness down and one still answering the previous checkpoint, the round waits for it
    (the busy one gets the new checkpoint as soon as it answers) instead of failing without it."""
    released = log.witnesses.hold("w3")
    first = log.witnessing.publish(log.checkpoint("One."))  # w1 and w2 make the quorum; w3 is held
    assert cosigners(first, log.policy) == {"w1", "w2"}
    log.witnesses.down.add("w1")
    second = log.checkpoint("Two.")
    published_second: list[Note | None] = []
    thread = threading.Thread(target=lambda: published_second.append(log.witnessing.gather(second)))
    thread.start()
    time.sleep(0.3)
    assert thread.is_alive() and not published_second  # w2 alone is not the quorum: the round waits for w3
    released.set()
    thread.join(WAIT)
    (cosigned,) = published_second
    assert cosigned is not None and cosigners(cosigned, log.policy) == {"w2", "w3"}
    assert log.witnessing.quorum_met


def test_a_late_cosignature_is_stored_with_its_checkpoint_in_the_transaction_of_the_next(log: Log) -> None:
    released = log.witnesses.hold("w3")
    first = log.witnessing.publish(log.checkpoint("One."))
    released.set()
    wait_for(lambda: log.witnessing.late_held == 1)  # w3's line for the first checkpoint came after its round
    log.witnesses.held.pop("w3")
    second = log.witnessing.publish(log.checkpoint("Two."))
    stream = log.stream()
    assert [n.text for n in stream[-3:]] == [first.text, first.text, second.text]
    assert cosigners(stream[-2], log.policy) == {"w1", "w2", "w3"}  # the first checkpoint, now with w3's line too
    assert Checkpoint.from_text(stream[-1].text).size > Checkpoint.from_text(stream[-2].text).size
    assert "w3" in {s.witness for s in sightings(published(log.ledger), log.policy) if s.size == Checkpoint.from_text(first.text).size}
    assert log.witnessing.late_dropped == 0


def test_a_late_cosignature_is_stored_within_a_flush_when_no_batch_comes(log: Log) -> None:
    released = log.witnesses.hold("w3")
    first = log.witnessing.publish(log.checkpoint("One."))
    log.witnessing.start(interval=3600)  # no re-sending in this test: only the flush of held lines
    released.set()
    wait_for(lambda: cosigners(log.stream()[-1], log.policy) == {"w1", "w2", "w3"})
    assert log.stream()[-1].text == first.text


def test_a_cosignature_that_comes_once_a_newer_checkpoint_is_stored_is_dropped_not_stored_out_of_order(log: Log) -> None:
    released = log.witnesses.hold("w3")
    log.witnessing.publish(log.checkpoint("One."))
    second = log.witnessing.publish(log.checkpoint("Two."))  # w3 still busy with the first: w1 and w2 make it
    released.set()
    wait_for(lambda: log.witnesses.requests["w3"] >= 2)  # w3 answered the first, then was sent the second
    log.witnesses.held.pop("w3")
    wait_for(lambda: log.witnessing.late_held == 2)  # its lines on the first and on the second
    third = log.witnessing.publish(log.checkpoint("Three."))
    sizes = [Checkpoint.from_text(n.text).size for n in log.stream()]
    assert sizes == sorted(sizes)  # never out of order
    assert log.witnessing.late_dropped == 1  # w3's line on the first checkpoint
    assert log.stream()[-1].text == third.text and second.text in {n.text for n in log.stream()}


def test_a_witness_answer_larger_than_the_bound_is_a_failure_not_read_whole(log: Log) -> None:
    log.witnesses.answer_bytes["w1"] = b"x" * (MAX_ANSWER_BYTES + 1)
    log.witnesses.down.add("w2")
    assert log.witnessing.gather(log.checkpoint("One.")) is None
    assert log.witnessing.problem is not None
    assert f"w1: witness: w1 answered more than {MAX_ANSWER_BYTES} bytes" in log.witnessing.problem
