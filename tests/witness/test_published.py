"""Every published checkpoint is kept with its cosignatures (SPEC 12): bundles carry them, import
keeps them, and ``verify`` checks each against the tree at its size and takes the witnesses'
times from them all, from a store as from a bundle."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.charter import OPERATOR
from ledger.bundle import Bundle
from ledger.checkpoint import Checkpoint, cosign, sign_checkpoint
from ledger.note import Note
from ledger.policy import Policy
from ledger.published import compact
from ledger.timefmt import format_time
from projections.exchange import published
from projections.ledger import Ledger
from projections.witnessed import sightings
from tests.cli.conftest import invoke, no_traceback
from tests.domain.scenario import T0
from tests.witness.test_witnessed_time import HOUR, MINUTE, POLICY, WITNESSES, Witnessed


def run(*args: object) -> tuple[int, str, str]:
    result = invoke([str(arg) for arg in args])
    no_traceback(result)
    return result.exit_code, result.stdout, result.stderr


def backdated(witnessed: Witnessed) -> str:
    """The attack of SPEC 12: witnesses cosign past a deadline, then the operator's clock goes back."""
    proposal = witnessed.council.propose(period=HOUR)  # entry 1, deadline T0 + 1h
    witnessed.publish(at=T0 + 2 * HOUR)  # w1 and w2 saw 2 entries at T0 + 2h
    witnessed.clock.now = T0 + 30 * MINUTE
    witnessed.council.vote("de", proposal, "approve")  # entry 2, logged before the deadline
    witnessed.publish(at=T0 + 2 * HOUR + 60)
    return (
        f"accord: entry 2: backdated: logged_at {format_time(T0 + 30 * MINUTE)} is more than witness_lag 5m before "
        f"{format_time(T0 + 2 * HOUR)}, when witness w1 cosigned a checkpoint of size 2 without it\n"
    )


def test_compact_keeps_each_signers_earliest_and_latest_cosignature_of_each_checkpoint(witnessed: Witnessed) -> None:
    witnessed.publish(at=T0 + 10)
    for at in (T0 + 20, T0 + 5, T0 + 30):  # cosigned again, once with an earlier clock
        witnessed.publish(at=at, by=("w1",))
    witnessed.council.say("in", "statement.make", {"text": "Later."})
    witnessed.publish(at=T0 + 40)
    stream = [text for _, text in witnessed.ledger.store.checkpoints()]
    kept = compact(stream)
    assert len(stream) == 9 and len(kept) == 3  # size 1: earliest and latest; size 2: one note
    policy = Policy.from_text(POLICY)
    # What witnessed time needs: each witness's earliest and latest time for each size, and no time no note had.
    times: dict[tuple[int, str], list[int]] = {}
    for seen in sightings(stream, policy):
        times.setdefault((seen.size, seen.witness), []).append(seen.time)
    assert {(s.size, s.witness, s.time) for s in sightings(kept, policy)} == {(size, w, t) for (size, w), ts in times.items() for t in (min(ts), max(ts))}
    assert [s.time for s in sightings(kept, policy) if s.witness == "w1"] == [T0 + 5, T0 + 30, T0 + 40]
    assert compact(kept) == kept and compact(reversed(stream)) == kept


def test_export_carries_every_published_checkpoint(witnessed: Witnessed, tmp_path: Path) -> None:
    backdated(witnessed)
    assert run("export", "--store", witnessed.store, "--out", tmp_path / "b.tar")[0] == 0
    with Bundle(tmp_path / "b.tar") as bundle:
        assert bundle.kept == tuple(published(witnessed.ledger))
        assert sorted({Checkpoint.from_text(Note.from_text(text).text).size for text in bundle.kept}) == [2, 3]


@pytest.mark.parametrize("form", ["bundle", "bundle.tar.gz"])
def test_verify_bundle_refuses_a_backdated_vote_from_the_times_of_its_published_checkpoints(witnessed: Witnessed, tmp_path: Path, form: str) -> None:
    message = backdated(witnessed)
    run("export", "--store", witnessed.store, "--out", tmp_path / form)
    # The bundle's newest checkpoint alone shows nothing: only the earlier one saw the deadline pass.
    code, out, err = run("verify", "--bundle", tmp_path / form, "--anchor", witnessed.anchor, "--policy", witnessed.directory / "policy.txt")
    assert (code, out, err) == (1, "", message)


def test_import_keeps_the_published_checkpoints_so_the_copy_refuses_the_backdated_vote(witnessed: Witnessed, tmp_path: Path) -> None:
    message = backdated(witnessed)
    run("export", "--store", witnessed.store, "--out", tmp_path / "b")
    copy = f"sqlite:///{tmp_path / 'copy.db'}"
    assert run("import", tmp_path / "b", "--store", copy, "--anchor", witnessed.anchor)[0] == 0
    with Ledger.open(copy) as imported:
        assert published(imported) == published(witnessed.ledger)
    assert run("verify", "--store", copy, "--anchor", witnessed.anchor, "--policy", witnessed.directory / "policy.txt")[2] == message


def fork(witnessed: Witnessed) -> str:
    """The operator signs a size-2 tree that is not the log's among its published checkpoints; returns it."""
    witnessed.council.say("in", "statement.make", {"text": "One."})
    witnessed.publish(at=T0)
    operator = witnessed.council.keys[OPERATOR]
    forked = sign_checkpoint(Checkpoint(operator.name, 2, bytes(32)), operator)
    forked = forked.with_signatures(cosign(forked, WITNESSES["w1"], T0))
    latest = witnessed.ledger.store.latest_checkpoint()
    assert latest is not None
    witnessed.ledger.store.add_checkpoint(latest[0] + 1, forked.to_text())
    witnessed.council.say("in", "statement.make", {"text": "Two."})
    witnessed.council.say("in", "statement.make", {"text": "Three."})
    witnessed.publish(at=T0 + 1)
    return forked.to_text()


@pytest.mark.parametrize("form", ["bundle", "bundle.tar"])
def test_bundle_carrying_a_contradicting_checkpoint_fails_verify_with_evidence_made_from_its_entries(witnessed: Witnessed, tmp_path: Path, form: str) -> None:
    fork(witnessed)
    run("export", "--store", witnessed.store, "--out", tmp_path / form)
    evidence = tmp_path / "fork.json"
    code, out, err = run("verify", "--bundle", tmp_path / form, "--anchor", witnessed.anchor, "--evidence", evidence)
    assert (code, out) == (1, "")
    assert err.startswith("accord: checkpoint: the operator also signed size 2 with root " + "00" * 32)
    assert err.endswith(f"the log equivocated; evidence written to {evidence}\n")
    operator = witnessed.council.keys[OPERATOR].verifier_key().to_text()
    code, out, _ = run("check-evidence", evidence, "--operator", operator)
    assert code == 0 and out.startswith("equivocation by accord.test/european-security: the signed tree of size 4 has root ")


def test_verify_writes_the_evidence_to_equivocation_json_unless_told_where(witnessed: Witnessed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fork(witnessed)
    monkeypatch.chdir(tmp_path)
    code, _, err = run("verify", "--store", witnessed.store, "--anchor", witnessed.anchor)
    assert code == 1 and err.endswith("the log equivocated; evidence written to equivocation.json\n")
    assert run("check-evidence", tmp_path / "equivocation.json")[0] == 0


def test_import_of_a_bundle_carrying_a_contradicting_checkpoint_appends_nothing(witnessed: Witnessed, tmp_path: Path) -> None:
    fork(witnessed)
    run("export", "--store", witnessed.store, "--out", tmp_path / "b")
    copy = f"sqlite:///{tmp_path / 'copy.db'}"
    code, _, err = run("import", tmp_path / "b", "--store", copy, "--anchor", witnessed.anchor)
    assert code == 1 and err.startswith("accord: checkpoint: the operator also signed size 2 with root " + "00" * 32)
    with Ledger.open(copy) as imported:
        assert imported.log.size == 0 and imported.log.latest_checkpoint() is None
