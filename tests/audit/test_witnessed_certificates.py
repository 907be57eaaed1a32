"""Certificates bound by witnessed time (SPEC 12): each counted vote in the log by deadline + witness_lag.

A council with two policy witnesses (w1, w2; the policy needs both). P-1 is
honest: each vote is cosigned minutes after it is logged. P-2 is the attack
of issue 15: the deadline passes while the witnesses watch the log unchanged,
then the operator sets its clock back and slips in one more vote "before the
deadline". P-3 is the converse: the operator sets its clock forward to the
deadline and closes a day early. The log's rules (logged_at only) accept it, and so does a
certificate read without a policy; under the policy, the witnesses first saw
that vote an hour after the deadline, and the certificate is refused, naming
the vote, the witness and both times, both when it is written and when it is
checked (one rule function serves both).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from domain.charter import OPERATOR
from ledger.errors import VerificationError
from ledger.keys import Signer
from ledger.policy import Policy
from ledger.store import Store
from ledger.timefmt import format_time
from projections.certificate_check import verify_certificate
from projections.ledger import Ledger
from tests.audit.history import add_cosignature, ok, refused, run, store_url
from tests.domain.scenario import DAY, new_signer
from tests.projections.council import Clock, Council

HOUR = 3_600


@dataclass
class Witnessed:
    url: str
    anchor: bytes
    policy: Path
    marks: dict[str, int]
    times: dict[str, int]


def policy_text(witnesses: list[Signer], quorum: str = "both") -> str:
    lines = [f"witness {w.name.rsplit('/', 1)[1]} {w.cosigner_key().to_text()}" for w in witnesses]
    return "\n".join([*lines, "group both all w1 w2", f"quorum {quorum}"]) + "\n"


@pytest.fixture(scope="module")
def council(tmp_path_factory: pytest.TempPathFactory) -> Witnessed:
    folder = tmp_path_factory.mktemp("witnessed")
    path = folder / "accord.db"
    clock = Clock()
    marks: dict[str, int] = {}
    times: dict[str, int] = {}
    w1, w2 = new_signer("w1"), new_signer("w2")
    with Ledger(Store(store_url(path)), clock) as ledger:
        council = Council(ledger, clock)

        def witnessed(at: int) -> None:
            ledger.log.publish_checkpoint(council.keys[OPERATOR])
            add_cosignature(ledger, w1, at)
            add_cosignature(ledger, w2, at + 2)

        honest = council.propose("de", "general", DAY)
        times["honest_deadline"] = clock.now + DAY
        for voter in ("de", "fr"):
            clock.now += HOUR
            marks[f"honest_{voter}"] = council.vote(voter, honest, "approve").index
            witnessed(clock.now + 10)
        clock.now = times["honest_deadline"]
        marks["honest_close"] = council.close(honest).index
        witnessed(clock.now + 10)

        late = council.propose("pl", "general", DAY)
        deadline = times["late_deadline"] = clock.now + DAY
        clock.now += HOUR
        marks["late_pl"] = council.vote("pl", late, "approve").index
        witnessed(clock.now + 10)
        # The deadline passes; the log sends its unchanged checkpoint again and the witnesses cosign it.
        add_cosignature(ledger, w1, deadline + HOUR)
        add_cosignature(ledger, w2, deadline + HOUR)
        # The operator's clock is set back: a vote slipped in "before" the deadline, an hour after it.
        clock.now = deadline - 60
        marks["late_ua"] = council.vote("ua", late, "approve").index
        clock.now = deadline
        marks["late_close"] = council.close(late).index
        times["late_seen"] = deadline + HOUR + 60
        witnessed(times["late_seen"])

        # Closed early: a day before P-3's deadline the operator sets its clock forward to it and closes.
        clock.now = times["late_seen"] + HOUR
        early = council.propose("fr", "general", DAY)
        times["early_deadline"] = clock.now + DAY
        clock.now += HOUR
        marks["early_de"] = council.vote("de", early, "approve").index
        witnessed(clock.now + 10)
        times["early_real"] = clock.now + HOUR
        clock.now = times["early_deadline"]
        marks["early_close"] = council.close(early).index
        witnessed(times["early_real"])
        anchor = ledger.log.entry(0).leaf_hash()
    policy = folder / "witnesses.policy"
    policy.write_text(policy_text([w1, w2]))
    return Witnessed(store_url(path), anchor, policy, marks, times)


def written(council: Witnessed, decision: str, folder: Path, *options: object) -> str:
    out = folder / f"{decision}.certificate"
    ok("certificate", decision, "--store", council.url, "--out", out, *options)
    return out.read_text()


def test_honest_witnessed_certificate_passes_with_the_policy(council: Witnessed, tmp_path: Path) -> None:
    text = written(council, "D-1", tmp_path, "--policy", council.policy)
    path = tmp_path / "D-1.certificate"
    document = json.loads(ok("verify-certificate", path, "--anchor", council.anchor.hex(), "--policy", council.policy, "--json"))
    assert document["decision"] == "D-1"
    voted = {council.marks["honest_de"]: council.marks["honest_de"], council.marks["honest_fr"]: council.marks["honest_fr"]}
    # Each vote's first cosignatures, by the witnesses in their own time: 10 s (w1) and 12 s (w2) after it was logged.
    logged = {index: council.times["honest_deadline"] - DAY + HOUR * (n + 1) for n, index in enumerate(voted)}
    assert document["witnessed"] == [
        *({"entry": index, "witnesses": {"w1": format_time(logged[index] + 10), "w2": format_time(logged[index] + 12)}} for index in voted),
        {
            "entry": council.marks["honest_close"],
            "witnesses": {"w1": format_time(council.times["honest_deadline"] + 10), "w2": format_time(council.times["honest_deadline"] + 12)},
        },
    ]
    carried = json.loads(text)["witnessed"]
    # Per vote and for the close, the first checkpoint each witness cosigned holding it: w1's alone, then both.
    assert [note["checkpoint"].count("\u2014") for note in carried] == [2, 3] * 3
    text_out = ok("verify-certificate", path, "--anchor", council.anchor.hex(), "--policy", council.policy)
    assert text_out.splitlines()[-1] == "the witnesses' quorum saw the 2 counted vote(s) in the log by deadline + witness_lag"


def late_message(council: Witnessed) -> str:
    ua, deadline = council.marks["late_ua"], council.times["late_deadline"]
    return (
        f"certificate: step 7 (witnessed time): entry {ua}: the vote of ua was first cosigned by witness w1 at {format_time(council.times['late_seen'])} "
        f"(a checkpoint of size {council.marks['late_close'] + 1}), later than the deadline {format_time(deadline)} + witness_lag 5m: quorum both not met in time"
    )


def test_vote_first_witnessed_after_deadline_plus_lag_is_refused(council: Witnessed, tmp_path: Path) -> None:
    text = written(council, "D-2", tmp_path)
    with pytest.raises(VerificationError) as raised:
        verify_certificate(text, council.anchor, policy=Policy.from_text(council.policy.read_text()))
    assert str(raised.value) == late_message(council)
    path = tmp_path / "D-2.certificate"
    assert refused("verify-certificate", path, "--anchor", council.anchor.hex(), "--policy", council.policy) == f"accord: {late_message(council)}"


def test_backdated_vote_passes_on_the_operators_word_alone(council: Witnessed, tmp_path: Path) -> None:
    # The control: without a policy, the certificate proves only what logged_at says.
    text = written(council, "D-2", tmp_path)
    assert verify_certificate(text, council.anchor).tally == {"approve": 2, "object": 0, "abstain": 0, "silent": 4}


def test_certificate_command_with_the_policy_refuses_to_write_a_late_one(council: Witnessed, tmp_path: Path) -> None:
    out = tmp_path / "D-2.certificate"
    assert refused("certificate", "D-2", "--store", council.url, "--out", out, "--policy", council.policy) == f"accord: {late_message(council)}"
    assert not out.exists()


def test_vote_seen_by_one_witness_in_time_does_not_meet_a_quorum_of_two(council: Witnessed, tmp_path: Path) -> None:
    # w1 cosigned the honest votes in time; a certificate that drops w2's first cosignatures leaves
    # only the main checkpoint's, a day later, for w2: both are needed.
    document = json.loads(written(council, "D-1", tmp_path))
    document["witnessed"] = [w for w in document["witnessed"] if w["checkpoint"].count("\u2014") == 2]
    policy = Policy.from_text(council.policy.read_text())
    with pytest.raises(VerificationError) as raised:
        verify_certificate(json.dumps(document), council.anchor, policy=policy)
    de = council.marks["honest_de"]
    assert str(raised.value).startswith(f"certificate: step 7 (witnessed time): entry {de}: the vote of de was first cosigned by witness w2 at ")
    one = Policy.from_text(council.policy.read_text().replace("quorum both", "quorum w1"))
    assert verify_certificate(json.dumps(document), council.anchor, policy=one).decision == "D-1"


def test_dropping_the_witnessed_checkpoints_leaves_the_votes_unbound(council: Witnessed, tmp_path: Path) -> None:
    document = json.loads(written(council, "D-1", tmp_path))
    document["witnessed"] = []
    with pytest.raises(VerificationError) as raised:
        verify_certificate(json.dumps(document), council.anchor, policy=Policy.from_text(council.policy.read_text()))
    assert str(raised.value).startswith(f"certificate: step 7 (witnessed time): entry {council.marks['honest_de']}: the vote of de was first cosigned by witness w1 at ")


def test_altered_cosignature_of_a_policy_witness_is_refused_at_step_3(council: Witnessed, tmp_path: Path) -> None:
    document: dict[str, Any] = json.loads(written(council, "D-1", tmp_path))
    note = document["witnessed"][0]["checkpoint"]
    last = note.rstrip("\n").rsplit("\n", 1)[1]
    flipped = last[:-6] + ("A" if last[-6] != "A" else "B") + last[-5:]
    document["witnessed"][0]["checkpoint"] = note.replace(last, flipped)
    with pytest.raises(VerificationError) as raised:
        verify_certificate(json.dumps(document), council.anchor, policy=Policy.from_text(council.policy.read_text()))
    assert str(raised.value).startswith("certificate: step 3 (checkpoint): witnessed time: a kept checkpoint: policy: witness w1: ")


def test_policy_quorum_must_cosign_the_main_checkpoint(council: Witnessed, tmp_path: Path) -> None:
    text = written(council, "D-1", tmp_path)
    strangers = [new_signer("w3"), new_signer("w4")]
    other = policy_text(strangers).replace("group both all w1 w2", "group both all w3 w4")
    with pytest.raises(VerificationError) as raised:
        verify_certificate(text, council.anchor, policy=Policy.from_text(other))
    assert str(raised.value) == "certificate: step 3 (checkpoint): its checkpoint: policy: quorum both not met: cosigned by none"
    result = run("verify-certificate", tmp_path / "D-1.certificate", "--anchor", council.anchor.hex(), "--policy", tmp_path / "missing.policy")
    assert result.exit_code == 2


def test_close_forward_dated_to_the_deadline_is_refused_by_the_rule_of_verify(council: Witnessed, tmp_path: Path) -> None:
    text = written(council, "D-3", tmp_path)
    close = council.marks["early_close"]
    message = (
        f"certificate: step 7 (witnessed time): entry {close}: forward-dated: logged_at {format_time(council.times['early_deadline'])} "
        f"is more than witness_lag 5m after {format_time(council.times['early_real'])}, when witness w1 cosigned a checkpoint of size {close + 1} holding it"
    )
    with pytest.raises(VerificationError) as raised:
        verify_certificate(text, council.anchor, policy=Policy.from_text(council.policy.read_text()))
    assert str(raised.value) == message
    assert verify_certificate(text, council.anchor).decision == "D-3"  # on the operator's word alone


def test_cosignature_already_on_the_main_checkpoint_is_not_carried_twice(council: Witnessed, tmp_path: Path) -> None:
    # P-3's close was first cosigned in the newest checkpoints: w1's line there is the very line the
    # certificate's own checkpoint carries, so only the vote's earlier checkpoints (w1's, then both) travel.
    document = json.loads(written(council, "D-3", tmp_path))
    sizes = [int(note["checkpoint"].split("\n")[1]) for note in document["witnessed"]]
    assert sizes == [council.marks["early_de"] + 1] * 2


def test_witness_keys_bound_the_votes_as_a_policy_of_all_of_them_does(council: Witnessed, tmp_path: Path) -> None:
    written(council, "D-2", tmp_path)
    w1, w2 = new_signer("w1").cosigner_key(), new_signer("w2").cosigner_key()
    options = ["--anchor", council.anchor.hex(), "--witness", w1.to_text(), "--witness", w2.to_text()]
    expected = late_message(council).replace("witness w1", f"witness {w1.name}").replace("quorum both", "quorum witnesses")
    assert refused("verify-certificate", tmp_path / "D-2.certificate", *options) == f"accord: {expected}"
    written(council, "D-1", tmp_path)
    document = json.loads(ok("verify-certificate", tmp_path / "D-1.certificate", *options, "--json"))
    assert [set(item["witnesses"]) for item in document["witnessed"]] == [{w1.name, w2.name}] * 3
