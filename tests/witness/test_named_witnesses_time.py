"""Witnesses named by ``--witness`` bound witnessed time (SPEC 12) exactly as a policy's do.

``verify`` (of a store or a bundle) and ``import`` name trusted witnesses by
``--policy``, by ``--witness`` keys, or both; whichever way, every logged_at
is held to those witnesses' times by the one check (projections.witnessed.time_check).
"""

from __future__ import annotations

import json
from pathlib import Path


from ledger.timefmt import format_time
from projections.ledger import Ledger
from tests.cli.conftest import invoke, no_traceback
from tests.domain.scenario import T0
from tests.witness.test_witnessed_time import HOUR, MINUTE, WITNESSES, Witnessed

NAMED = ["--witness", WITNESSES["w1"].cosigner_key().to_text(), "--witness", WITNESSES["w2"].cosigner_key().to_text()]


def run(*args: object) -> tuple[int, str, str]:
    result = invoke([str(arg) for arg in args])
    no_traceback(result)
    return result.exit_code, result.stdout, result.stderr


def backdate(witnessed: Witnessed, first_by: tuple[str, ...] = ("w1", "w2")) -> str:
    """Entry 2, a vote, logged before its deadline by a clock set back after ``first_by`` cosigned past it.

    Returns the refusal, naming the witness as ``verify --witness`` names it (its key's name).
    """
    proposal = witnessed.council.propose(period=HOUR)  # entry 1, deadline T0 + 1h
    witnessed.publish(at=T0 + 2 * HOUR, by=first_by)
    witnessed.clock.now = T0 + 30 * MINUTE
    witnessed.council.vote("de", proposal, "approve")
    witnessed.publish(at=T0 + 2 * HOUR + 60)
    return (
        f"accord: entry 2: backdated: logged_at {format_time(T0 + 30 * MINUTE)} is more than witness_lag 5m before "
        f"{format_time(T0 + 2 * HOUR)}, when witness witness.test/w1 cosigned a checkpoint of size 2 without it\n"
    )


def test_verify_with_named_witnesses_refuses_a_backdated_vote(witnessed: Witnessed) -> None:
    message = backdate(witnessed)
    assert run("verify", "--store", witnessed.store, "--anchor", witnessed.anchor)[0] == 0  # the operator's word alone
    assert run("verify", "--store", witnessed.store, "--anchor", witnessed.anchor, *NAMED) == (1, "", message)
    # A quorum of one of the two still trusts both for time.
    assert run("verify", "--store", witnessed.store, "--anchor", witnessed.anchor, *NAMED, "--witness-quorum", "1") == (1, "", message)


def test_verify_of_a_bundle_with_named_witnesses_refuses_a_backdated_vote(witnessed: Witnessed, tmp_path: Path) -> None:
    message = backdate(witnessed)
    assert run("export", "--store", witnessed.store, "--out", tmp_path / "b.tar")[0] == 0
    assert run("verify", "--bundle", tmp_path / "b.tar", "--anchor", witnessed.anchor, *NAMED) == (1, "", message)


def test_import_with_named_witnesses_refuses_a_backdated_vote_and_appends_nothing(witnessed: Witnessed, tmp_path: Path) -> None:
    message = backdate(witnessed)
    assert run("export", "--store", witnessed.store, "--out", tmp_path / "b")[0] == 0
    copy = f"sqlite:///{tmp_path / 'copy.db'}"
    assert run("import", tmp_path / "b", "--store", copy, "--anchor", witnessed.anchor, *NAMED) == (1, "", message)
    with Ledger.open(copy) as imported:
        assert imported.log.size == 0
    assert run("import", tmp_path / "b", "--store", copy, "--anchor", witnessed.anchor)[0] == 0  # the operator's word alone


def test_verify_with_named_witnesses_refuses_a_forward_dated_entry(witnessed: Witnessed) -> None:
    witnessed.clock.now = T0 + 3 * HOUR
    witnessed.council.say("in", "statement.make", {"text": "India welcomes the council."})
    witnessed.publish(at=T0 + HOUR)
    assert run("verify", "--store", witnessed.store, "--anchor", witnessed.anchor, *NAMED) == (
        1,
        "",
        f"accord: entry 1: forward-dated: logged_at {format_time(T0 + 3 * HOUR)} is more than witness_lag 5m after "
        f"{format_time(T0 + HOUR)}, when witness witness.test/w1 cosigned a checkpoint of size 2 holding it\n",
    )


def test_a_witness_named_beside_a_policy_bounds_time_too(witnessed: Witnessed) -> None:
    (witnessed.directory / "w2.policy").write_text(f"witness w2 {WITNESSES['w2'].cosigner_key().to_text()}\nquorum w2\n")
    message = backdate(witnessed, first_by=("w1",))  # only w1 saw the deadline pass
    policy = ["--policy", witnessed.directory / "w2.policy"]
    assert run("verify", "--store", witnessed.store, "--anchor", witnessed.anchor, *policy)[0] == 0
    assert run("verify", "--store", witnessed.store, "--anchor", witnessed.anchor, *policy, *NAMED[:2]) == (1, "", message)


def test_honest_log_verified_with_named_witnesses_reports_them(witnessed: Witnessed) -> None:
    witnessed.council.propose(period=HOUR)
    witnessed.publish(at=T0 + 4 * MINUTE)
    code, out, err = run("verify", "--store", witnessed.store, "--anchor", witnessed.anchor, *NAMED, "--json")
    assert (code, err) == (0, "")
    document = json.loads(out)
    assert document["witnessed_time"] == ["witness.test/w1", "witness.test/w2"] and "policy" not in document
    code, out, _ = run("verify", "--store", witnessed.store, "--anchor", witnessed.anchor, *NAMED)
    assert out.splitlines()[-1] == "every logged_at is within witness_lag of the times of the witnesses witness.test/w1, witness.test/w2"
