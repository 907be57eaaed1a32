"""``accord verify-receipt --policy``: a receipt proves an entry only under a checkpoint the policy's quorum cosigned."""

from __future__ import annotations

import json
from pathlib import Path


from domain.charter import OPERATOR
from ledger.timefmt import format_time
from tests.cli.conftest import invoke, no_traceback
from tests.domain.scenario import T0
from tests.witness.keys import signer
from tests.witness.test_witnessed_time import POLICY, WITNESSES, Witnessed


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


def receipt_cosigned_at(witnessed: Witnessed, at: int, by: tuple[str, ...] = ("w1", "w2")) -> list[str]:
    """verify-receipt arguments for entry 1 (logged at T0) under a checkpoint ``by`` cosigned at ``at``, with no trust option."""
    witnessed.council.say("in", "statement.make", {"text": "India welcomes the council."})
    witnessed.publish(at=at, by=by)
    receipt, statement = witnessed.directory / "entry1.proof", witnessed.directory / "entry1.note"
    assert invoke(["prove", "1", "--store", witnessed.store, "--out", str(receipt)]).exit_code == 0
    statement.write_text(witnessed.ledger.log.entry(1).statement, encoding="utf-8")
    return ["verify-receipt", str(receipt), "--statement", str(statement), "--log-key", witnessed.council.keys[OPERATOR].verifier_key().to_text()]


def forward_dated(witness: str) -> str:
    return (
        f"accord: receipt: entry 1: forward-dated: logged_at {format_time(T0)} is more than witness_lag 5m after "
        f"{format_time(T0 - 3600)}, when witness {witness} cosigned a checkpoint of size 2 holding it\n"
    )


def test_receipt_of_an_entry_logged_after_the_witnesses_saw_it_is_refused_as_forward_dated(witnessed: Witnessed) -> None:
    args = receipt_cosigned_at(witnessed, at=T0 - 3600)  # the witnesses held entry 1 an hour before the operator's logged_at
    assert run(args)[0] == 0  # on the operator's word alone
    policy = ["--policy", str(witnessed.directory / "policy.txt")]
    assert run([*args, *policy]) == (1, "", forward_dated("w1"))
    named = ["--witness", WITNESSES["w1"].cosigner_key().to_text(), "--witness", WITNESSES["w2"].cosigner_key().to_text()]
    assert run([*args, *named]) == (1, "", forward_dated("witness.test/w1"))
    code, out, err = run([*args, *policy, "--witness-lag", "2h", "--json"])  # a charter that allows two hours
    assert (code, err) == (0, "") and json.loads(out)["witness_lag"] == 7200


def test_receipt_within_witness_lag_of_the_witnesses_is_accepted_and_says_so(witnessed: Witnessed) -> None:
    args = receipt_cosigned_at(witnessed, at=T0 - 300)  # exactly witness_lag: allowed
    code, out, err = run([*args, "--policy", str(witnessed.directory / "policy.txt")])
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == "logged_at is within witness_lag 300 s of the witnesses' times"


def test_a_bad_witness_lag_is_a_usage_error(witnessed: Witnessed) -> None:
    args = receipt_cosigned_at(witnessed, at=T0)
    code, _, err = run([*args, "--witness-lag", "5 minutes"])
    assert code == 2 and "--witness-lag" in err and "want a duration like 14d, 12h or 0s" in err


def test_the_policys_log_is_the_key_when_no_log_key_is_given(witnessed: Witnessed) -> None:
    args = receipt_cosigned_at(witnessed, at=T0)
    without_key = args[: args.index("--log-key")]
    operator = witnessed.council.keys[OPERATOR].verifier_key().to_text()
    (witnessed.directory / "policy.txt").write_text(f"log {operator}\n" + POLICY)
    assert run([*without_key, "--policy", str(witnessed.directory / "policy.txt")])[0] == 0
    # A policy whose only log has this origin but another key: the receipt's checkpoint is not its.
    impostor = signer(witnessed.council.keys[OPERATOR].name, generation=1).verifier_key().to_text()
    (witnessed.directory / "policy.txt").write_text(f"log {impostor}\n" + POLICY)
    code, out, err = run([*without_key, "--policy", str(witnessed.directory / "policy.txt")])
    assert (code, out) == (1, "") and err.startswith("accord: ") and "signature" in err
    # No policy log and no --log-key: nothing names the key.
    (witnessed.directory / "policy.txt").write_text(POLICY)
    code, _, err = run([*without_key, "--policy", str(witnessed.directory / "policy.txt")])
    assert code == 2 and "give the operator's key with --log-key (or a --policy that lists the log)" in err
    # A policy whose only log is of another origin: no key of the receipt's origin to check it by.
    origin = witnessed.council.keys[OPERATOR].name
    elsewhere = signer("accord.test/elsewhere").verifier_key().to_text()
    (witnessed.directory / "policy.txt").write_text(f"log {elsewhere}\n" + POLICY)
    code, out, err = run([*without_key, "--policy", str(witnessed.directory / "policy.txt")])
    assert (code, out, err) == (1, "", f"accord: receipt: the policy lists no log of origin {origin!r}\n")


def test_a_cosignature_claiming_a_policy_witness_that_does_not_verify_is_refused(witnessed: Witnessed) -> None:
    args = receipt_cosigned_at(witnessed, at=T0, by=("w1", "w2", "w3"))
    receipt = Path(args[1])
    text = receipt.read_text()
    w3 = next(line for line in text.splitlines() if line.startswith("\u2014 witness.test/w3 "))
    flipped = w3[:-8] + ("A" if w3[-8] != "A" else "B") + w3[-7:]  # a byte of the signature, not of the padding
    receipt.write_text(text.replace(w3, flipped))
    assert run(args)[0] == 0  # w3 is nobody without the policy
    code, out, err = run([*args, "--policy", str(witnessed.directory / "policy.txt")])
    assert (code, out) == (1, "")
    assert err == f"accord: receipt: checkpoint: policy: witness w3: note: invalid signature by {WITNESSES['w3'].cosigner_key().label}\n"
