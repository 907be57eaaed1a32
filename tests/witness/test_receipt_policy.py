"""``accord verify-receipt --policy``: a receipt proves an entry only under a checkpoint the policy's quorum cosigned."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from domain.charter import OPERATOR
from tests.cli.conftest import invoke, no_traceback
from tests.domain.scenario import T0
from tests.witness.keys import signer
from tests.witness.test_witnessed_time import POLICY, Witnessed


@pytest.fixture
def witnessed(tmp_path: Path) -> Iterator[Witnessed]:
    made = Witnessed(tmp_path)
    yield made
    made.ledger.close()


def receipt_of_entry_1(witnessed: Witnessed, by: tuple[str, ...]) -> list[str]:
    """A receipt of entry 1 under a checkpoint cosigned by ``by``: the verify-receipt arguments."""
    witnessed.council.say("in", "statement.make", {"text": "India welcomes the council."})
    witnessed.publish(at=T0 + 60, by=by)
    receipt, statement = witnessed.directory / "entry1.proof", witnessed.directory / "entry1.note"
    assert invoke(["prove", "1", "--store", witnessed.store, "--out", str(receipt)]).exit_code == 0
    statement.write_text(witnessed.ledger.log.entry(1).statement, encoding="utf-8")
    log_key = witnessed.council.keys[OPERATOR].verifier_key().to_text()
    return ["verify-receipt", str(receipt), "--statement", str(statement), "--log-key", log_key, "--policy", str(witnessed.directory / "policy.txt")]


def run(args: list[str]) -> tuple[int, str, str]:
    result = invoke(args)
    no_traceback(result)
    return result.exit_code, result.stdout, result.stderr


def test_receipt_cosigned_by_the_policys_quorum_is_accepted(witnessed: Witnessed) -> None:
    code, out, err = run([*receipt_of_entry_1(witnessed, by=("w1", "w3")), "--json"])
    assert (code, err) == (0, "")
    assert json.loads(out)["policy"] == {"quorum": "two-of-three", "cosigned": {"w1": T0 + 60, "w3": T0 + 60}}


def test_receipt_below_the_policys_quorum_is_refused_naming_the_quorum_and_who_cosigned(witnessed: Witnessed) -> None:
    args = receipt_of_entry_1(witnessed, by=("w2",))
    assert run(args[: args.index("--policy")])[0] == 0  # without the policy the receipt holds
    assert run(args) == (1, "", "accord: receipt: checkpoint: policy: quorum two-of-three not met: cosigned by w2\n")


def test_receipt_of_a_log_the_policy_does_not_list_is_refused(witnessed: Witnessed) -> None:
    args = receipt_of_entry_1(witnessed, by=("w1", "w2"))
    other = signer("accord.test/another").verifier_key().to_text()
    (witnessed.directory / "policy.txt").write_text(f"log {other}\n" + POLICY)
    code, _, err = run(args)
    key = witnessed.council.keys[OPERATOR].verifier_key()
    assert (code, err) == (1, f"accord: receipt: the policy lists no log with key {key.label}\n")
