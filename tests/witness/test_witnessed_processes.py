"""Witnessed time against real witnesses (SPEC 12): three ``accord witness serve`` processes cosign,
through the log server's own Witnessing client and a 2-of-3 policy, checkpoints of a log whose
operator's clock the test sets back or ahead; ``verify --policy`` refuses what their clocks contradict.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from domain.charter import OPERATOR
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.policy import Policy
from projections.ledger import Ledger
from server.witnessing import Witnessing
from tests.cli.conftest import invoke
from tests.projections.council import Clock, Council
from tests.witness.processes import Process, witness_process
from tests.witness.test_serve_policy import NAMES, WITNESSES

HOUR = 3600


class Watched:
    """A council on SQLite, the operator's clock in the test's hands, three witness processes watching."""

    def __init__(self, directory: Path, offset: int) -> None:
        self.store = f"sqlite:///{directory / 'accord.db'}"
        self.clock = Clock(int(time.time()) + offset)
        self.ledger = Ledger.open(self.store, self.clock)
        self.council = Council(self.ledger, self.clock, witness_lag="1m")
        operator = self.council.keys[OPERATOR].verifier_key().to_text()
        self.processes: list[Process] = [witness_process(directory, name, WITNESSES[name], [operator]) for name in NAMES]
        lines = [f"log {operator}"]
        lines += [f"witness {n} {WITNESSES[n].cosigner_key().to_text()} {p.url}" for n, p in zip(NAMES, self.processes)]
        self.policy_file = directory / "policy.txt"
        self.policy_file.write_text("\n".join([*lines, "group two-of-three 2 w1 w2 w3", "quorum two-of-three"]) + "\n")
        self.witnessing = Witnessing(Policy.from_text(self.policy_file.read_text()), self.store)

    def publish(self) -> None:
        """The operator signs the head; the witness processes cosign it now, by their clocks."""
        operator, head = self.council.keys[OPERATOR], self.ledger.log.head()
        self.witnessing.publish(sign_checkpoint(Checkpoint(operator.name, head.size, head.root), operator))

    def verify(self) -> tuple[int, str]:
        anchor = self.ledger.log.entry(0).leaf_hash().hex()
        result = invoke(["verify", "--store", self.store, "--anchor", anchor, "--policy", str(self.policy_file)])
        return result.exit_code, result.stderr

    def stop(self) -> None:
        self.witnessing.stop()
        self.ledger.close()
        for process in self.processes:
            process.stop()


@pytest.fixture
def watched(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Watched]:
    made = Watched(tmp_path, request.param)
    yield made
    made.stop()


TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


@pytest.mark.parametrize("watched", [-2 * HOUR], indirect=True)
def test_vote_backdated_after_real_witnesses_cosigned_past_the_deadline_is_refused(watched: Watched) -> None:
    proposal = watched.council.propose(period=HOUR)  # entry 1; its deadline passed an hour ago by the witnesses' clocks
    watched.publish()
    watched.clock.now += HOUR // 2  # the operator's clock, set back, says the deadline is still ahead
    watched.council.vote("de", proposal, "approve")  # entry 2: the rules take it
    watched.publish()
    code, err = watched.verify()
    assert code == 1
    assert re.fullmatch(
        rf"accord: entry 2: backdated: logged_at {TIME} is more than witness_lag 1m before {TIME}, "
        r"when witness w[123] cosigned a checkpoint of size 2 without it\n", err
    ), err


@pytest.mark.parametrize("watched", [3 * HOUR], indirect=True)
def test_entry_forward_dated_past_what_real_witnesses_saw_is_refused(watched: Watched) -> None:
    watched.council.say("in", "statement.make", {"text": "India welcomes the council."})  # the log runs three hours ahead, from its charter on
    watched.publish()
    code, err = watched.verify()
    assert code == 1
    assert re.fullmatch(
        rf"accord: entry 0: forward-dated: logged_at {TIME} is more than witness_lag 1m after {TIME}, "
        r"when witness w[123] cosigned a checkpoint of size 2 holding it\n", err
    ), err


@pytest.mark.parametrize("watched", [0], indirect=True)
def test_honest_operator_clock_verifies_against_real_witnesses(watched: Watched) -> None:
    proposal = watched.council.propose(period=HOUR)
    watched.publish()
    watched.clock.now = int(time.time())
    watched.council.vote("de", proposal, "approve")
    watched.publish()
    assert watched.verify() == (0, "")
