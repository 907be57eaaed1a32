"""Witnessed time (SPEC 12): ``verify --policy`` holds logged_at to the policy witnesses' clocks.

The operator's clock is the test's: setting it back after the witnesses
cosigned past a deadline lets a late vote in under the rules, and only the
witnesses' times can show it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from domain.charter import OPERATOR
from ledger.checkpoint import cosign
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.errors import VerificationError
from ledger.timefmt import format_time
from projections.ledger import Ledger
from projections.witnessed import Sighting, WitnessedTime
from tests.cli.conftest import invoke, no_traceback
from tests.domain.scenario import T0
from tests.projections.council import Clock, Council
from tests.witness.keys import witness_signer

HOUR, MINUTE, LAG = 3600, 60, 300
WITNESSES = {name: witness_signer(f"witness.test/{name}") for name in ("w1", "w2", "w3")}
POLICY = "".join(f"witness {name} {w.cosigner_key().to_text()}\n" for name, w in WITNESSES.items()) + "group two-of-three 2 w1 w2 w3\nquorum two-of-three\n"


class Witnessed:
    """A council on a SQLite store whose checkpoints the test's witnesses cosign at the times it says."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.store = f"sqlite:///{directory / 'accord.db'}"
        self.clock = Clock(T0)
        self.ledger = Ledger.open(self.store, self.clock)
        self.council = Council(self.ledger, self.clock)
        (directory / "policy.txt").write_text(POLICY)

    @property
    def anchor(self) -> str:
        return self.ledger.log.entry(0).leaf_hash().hex()

    def publish(self, at: int, by: tuple[str, ...] = ("w1", "w2")) -> None:
        """The operator signs a checkpoint of the head; witnesses ``by`` cosign it at time ``at``."""
        note = self.ledger.publish_checkpoint(self.council.keys[OPERATOR])
        for name in by:
            witness = WITNESSES[name]
            note = self.ledger.log.add_cosignature(cosign(note, witness, at), witness.cosigner_key())

    def verify(self, *extra: str) -> tuple[int, str, str]:
        result = invoke(["verify", "--store", self.store, "--anchor", self.anchor, "--policy", self.directory / "policy.txt", *extra])
        no_traceback(result)
        return result.exit_code, result.stdout, result.stderr


def test_honest_log_with_a_slow_witness_verifies_within_witness_lag(witnessed: Witnessed) -> None:
    proposal = witnessed.council.propose(period=HOUR)
    witnessed.publish(at=T0 + 4 * MINUTE)  # cosigned four minutes late: within the 5m lag
    witnessed.clock.now = T0 + 10 * MINUTE
    witnessed.council.vote("de", proposal, "approve")
    witnessed.publish(at=T0 + 10 * MINUTE + 2, by=("w1", "w3"))
    code, out, err = witnessed.verify("--json")
    assert (code, err) == (0, "")
    assert json.loads(out)["policy"] == {"w1": T0 + 10 * MINUTE + 2, "w3": T0 + 10 * MINUTE + 2}


def test_vote_backdated_before_its_deadline_after_witnesses_cosigned_past_it_is_refused(witnessed: Witnessed) -> None:
    proposal = witnessed.council.propose(period=HOUR)  # entry 1, deadline T0 + 1h
    witnessed.publish(at=T0 + 2 * HOUR)  # w1 and w2 saw the 2 entries at T0 + 2h, past the deadline
    witnessed.clock.now = T0 + 30 * MINUTE  # the operator sets its clock back
    witnessed.council.vote("de", proposal, "approve")  # entry 2: the rules take it, logged before the deadline
    witnessed.publish(at=T0 + 2 * HOUR + 60)
    unwitnessed = invoke(["verify", "--store", witnessed.store, "--anchor", witnessed.anchor])
    assert unwitnessed.exit_code == 0  # the attack: by the operator's clock alone, the late vote holds
    code, out, err = witnessed.verify()
    assert (code, out) == (1, "")
    assert err == (
        f"accord: entry 2: backdated: logged_at {format_time(T0 + 30 * MINUTE)} is more than witness_lag 5m before "
        f"{format_time(T0 + 2 * HOUR)}, when witness w1 cosigned a checkpoint of size 2 without it\n"
    )


def test_entry_forward_dated_past_what_witnesses_saw_is_refused(witnessed: Witnessed) -> None:
    witnessed.clock.now = T0 + 3 * HOUR  # the operator's clock runs ahead
    witnessed.council.say("in", "statement.make", {"text": "India welcomes the council."})  # entry 1
    witnessed.publish(at=T0 + HOUR)  # the witnesses saw entry 1 at T0 + 1h
    code, _, err = witnessed.verify()
    assert code == 1
    assert err == (
        f"accord: entry 1: forward-dated: logged_at {format_time(T0 + 3 * HOUR)} is more than witness_lag 5m after "
        f"{format_time(T0 + HOUR)}, when witness w1 cosigned a checkpoint of size 2 holding it\n"
    )


def test_checkpoint_cosigned_by_fewer_than_the_quorum_is_refused(witnessed: Witnessed) -> None:
    witnessed.publish(at=T0, by=("w3",))
    code, _, err = witnessed.verify()
    assert (code, err) == (1, "accord: checkpoint: policy: quorum two-of-three not met: cosigned by w3\n")


def test_published_checkpoint_that_contradicts_the_tree_becomes_evidence(witnessed: Witnessed) -> None:
    witnessed.council.say("in", "statement.make", {"text": "One."})
    witnessed.publish(at=T0)
    operator = witnessed.council.keys[OPERATOR]
    forked = sign_checkpoint(Checkpoint(operator.name, 2, bytes(32)), operator).to_text()  # a size-2 tree that is not this one
    latest = witnessed.ledger.store.latest_checkpoint()
    assert latest is not None
    witnessed.ledger.store.add_checkpoint(latest[0] + 1, forked)
    witnessed.council.say("in", "statement.make", {"text": "Two."})
    witnessed.publish(at=T0 + 1)
    code, _, err = witnessed.verify("--evidence", witnessed.directory / "fork.json")
    assert code == 1
    assert err.startswith("accord: checkpoint: the operator also signed size 2 with root " + "00" * 32)
    assert err.endswith(f"the log equivocated; evidence written to {witnessed.directory / 'fork.json'}\n")
    checked = invoke(["check-evidence", witnessed.directory / "fork.json", "--operator", operator.verifier_key().to_text()])
    assert checked.exit_code == 0 and checked.stdout.startswith("equivocation by ")


@pytest.mark.parametrize(
    ("index", "logged_at", "problem"),
    [
        (10, T0 + HOUR - LAG, None),  # exactly witness_lag before: allowed
        (10, T0 + HOUR - LAG - 1, "backdated"),
        (9, T0 + HOUR + LAG, None),  # exactly witness_lag after: allowed
        (9, T0 + HOUR + LAG + 1, "forward-dated"),
    ],
)
def test_witness_lag_is_the_bound_both_ways(index: int, logged_at: int, problem: str | None) -> None:
    time = WitnessedTime([Sighting(10, T0 + HOUR, "w1")])
    if problem is None:
        time.check(index, logged_at, LAG)
        return
    with pytest.raises(VerificationError) as raised:
        time.check(index, logged_at, LAG)
    assert str(raised.value).startswith(f"entry {index}: {problem}: ")


def test_a_policy_for_another_log_does_not_vouch_for_this_one(witnessed: Witnessed) -> None:
    from tests.witness.keys import signer

    witnessed.publish(at=T0)
    other = signer("accord.test/another").verifier_key()
    (witnessed.directory / "policy.txt").write_text(f"log {other.to_text()}\n" + POLICY)
    code, out, err = witnessed.verify()
    assert (code, out) == (1, "")
    assert err == f"accord: checkpoint: policy: the checkpoint is not signed by a log the policy lists ({other.label})\n"
    operator = witnessed.council.keys[OPERATOR].verifier_key()
    (witnessed.directory / "policy.txt").write_text(f"log {other.to_text()}\nlog {operator.to_text()}\n" + POLICY)
    assert witnessed.verify()[0] == 0
