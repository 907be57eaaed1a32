"""Decision certificates: one binding decision proven on its own, and every way of forging one refused.

Certificates are written with ``accord certificate`` from a copy of the
council's store, and the copy is deleted before they are checked: nothing but
the file, the pinned anchor and the witnesses' keys is needed.

Some forgeries need the operator's help to get past the inclusion proofs: a
dishonest operator can sign a checkpoint over a tree holding altered entries
("re-rooted" below). The certificate must still refuse them, on the rules it
can check alone (signatures, tally, procedure, deadline); witnesses, who
cosign only consistent checkpoints, refuse the rest.
"""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from domain.charter import OPERATOR
from ledger.checkpoint import Checkpoint
from ledger.entry import Entry
from ledger.errors import AccordError, MalformedError, VerificationError
from ledger.merkle import MemoryTree, leaf_hash, root_from_inclusion_proof
from ledger.note import Note
from ledger.timefmt import format_time
from projections.certificate_check import verify_certificate
from tests.audit.history import (
    History,
    build_history,
    build_other_council,
    copy_store,
    ok,
    operator_checkpoint,
    refused,
    resigned,
    statement_of,
    store_url,
    with_forged_body,
    with_logged_at,
)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    return build_history(tmp_path_factory.mktemp("council"))


@pytest.fixture(scope="module")
def certificates(history: History, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every decision's certificate, written from a store copy that is then deleted."""
    folder = tmp_path_factory.mktemp("certificates")
    store = copy_store(history.path, folder / "copy.db")
    made = {}
    for what, decision in history.decisions.items():
        made[what] = folder / f"{decision}.certificate"
        assert ok("certificate", decision, "--store", store_url(store), "--out", made[what]) == f"certificate of {decision} written to {made[what]}\n"
    for leftover in folder.glob("copy.db*"):
        leftover.unlink()
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in made.values())
    return made


def anchor(history: History) -> list[str]:
    return ["--anchor", history.anchor.hex()]


def listed(text: str) -> list[int]:
    return [int(item["index"]) for item in json.loads(text)["entries"]]


def checkpoint_root(note_text: str) -> bytes:
    return Checkpoint.from_text(Note.from_text(note_text).text).root_hash


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


# Each procedure, a rotated key, an admission: the certificate verifies alone.


CASES = {
    # case: (decision, procedure, tally, entries that must be listed)
    "consensus-by-silence": ("silence", "consensus", {"approve": 1, "object": 0, "abstain": 1, "silent": 4}, ["abstention", "late_vote"]),
    "ratification": ("ratification", "ratification", {"approve": 6, "object": 0, "abstain": 0, "silent": 0}, [f"ratify_{m}" for m in ("de", "fr", "pl", "ua", "rs", "by")]),
    "consensus-minus-concerned": ("finding", "consensus-minus-concerned", {"approve": 1, "object": 0, "abstain": 0, "silent": 4}, ["finding_vote"]),
    "voter-rotated-keys": ("ratification", "ratification", {"approve": 6, "object": 0, "abstain": 0, "silent": 0}, ["key_add", "ratify_de"]),
    "admission": ("admission", "consensus", {"approve": 0, "object": 0, "abstain": 0, "silent": 6}, []),
    "voter-admitted-by-accession": (
        "accession",
        "ratification",
        {"approve": 7, "object": 0, "abstain": 0, "silent": 0},
        ["admission_submit", "admission_close", "accession", "increase_at"],
    ),
}


WITNESSED_IN_TIME = {"silence": ("fr",), "finding": ()}
"""Who cosigned a checkpoint holding each vote by deadline + witness_lag (default: fr and in). The history
publishes checkpoints rarely: in cosigned only the last one, a week after the silence procedure's deadline,
and nobody cosigned the finding's votes until a day after its deadline (see the refusal below)."""


@pytest.mark.parametrize("what, procedure, tally, included", CASES.values(), ids=CASES.keys())
def test_certificate_verifies_alone(
    history: History, certificates: dict[str, Path], what: str, procedure: str, tally: Mapping[str, int], included: list[str]
) -> None:
    path = certificates[what]
    text = path.read_text()
    assert {0, history.marks[f"{what}_submit"], history.marks[f"{what}_close"]} | {history.marks[name] for name in included} <= set(listed(text))
    witnesses = [history.keys[name].cosigner_key() for name in WITNESSED_IN_TIME.get(what, ("fr", "in"))]
    options = [option for key in witnesses for option in ("--witness", key.to_text())]
    document = json.loads(ok("verify-certificate", path, *anchor(history), *options, "--json"))
    witnessed = document.pop("witnessed", [])
    assert document == {
        "version": 1,
        "kind": "certificate-verification",
        "ok": True,
        "decision": history.decisions[what],
        "proposal": statement_of(history.entries[history.marks[f"{what}_close"]])[1].body["proposal"],
        "title": statement_of(history.entries[history.marks[f"{what}_submit"]])[1].body["title"],
        "category": statement_of(history.entries[history.marks[f"{what}_submit"]])[1].body["category"],
        "procedure": procedure,
        "tally": tally,
        "close": history.marks[f"{what}_close"],
        "checkpoint": {"size": history.size, "root": checkpoint_root(history.checkpoint).hex()},
        "cosigners": [key.label for key in witnesses],
    }
    # Every counted vote, and the close, with the time each named witness first saw it.
    votes = [i for i in listed(text) if statement_of(history.entries[i])[1].kind == "vote.cast"]
    assert [item["entry"] for item in witnessed] == ([*votes, history.marks[f"{what}_close"]] if witnesses else [])
    assert all(set(item["witnesses"]) == {key.name for key in witnesses} for item in witnessed)


def test_votes_the_witnesses_first_saw_after_the_deadline_are_refused_with_witness_keys(history: History, certificates: dict[str, Path]) -> None:
    superseded_by = history.marks["finding_vote"]
    deadline = statement_of(history.entries[history.marks["finding_submit"]])[1].body["deadline"]
    seen = Checkpoint.from_text(Note.from_text(history.checkpoint).text)
    fr = history.keys["fr"].cosigner_key()
    time = next(int.from_bytes(s.signature[:8], "big") for s in Note.from_text(history.checkpoint).signatures if s.made_by(fr))
    message = (
        f"certificate: step 7 (witnessed time): entry {superseded_by}: the vote of by was first cosigned by witness {fr.name} at {format_time(time)} "
        f"(a checkpoint of size {seen.size}), later than the deadline {deadline} + witness_lag 5m: quorum witnesses not met in time"
    )
    assert refused("verify-certificate", certificates["finding"], *anchor(history), "--witness", fr.to_text()) == f"accord: {message}"


def test_concerned_member_and_superseded_vote_are_left_out(history: History, certificates: dict[str, Path]) -> None:
    indexes = listed(certificates["finding"].read_text())
    assert history.marks["superseded_vote"] not in indexes
    assert not any(statement_of(history.entries[i])[1].actor == "rs" for i in indexes)


# Forgeries.


def edit(text: str, change: Any) -> str:
    document = json.loads(text)
    change(document)
    return json.dumps(document, indent=1)


def item(document: dict[str, Any], index: int) -> dict[str, Any]:
    return next(entry for entry in document["entries"] if entry["index"] == index)


def refusal(text: str, history: History, **options: Any) -> str:
    with pytest.raises((VerificationError, MalformedError)) as raised:
        verify_certificate(text, options.get("anchor", history.anchor), options.get("witnesses", ()), options.get("quorum", 0))
    return str(raised.value)


def rerooted(history: History, text: str, changed: Mapping[int, bytes], dropped: tuple[int, ...] = ()) -> str:
    """The certificate as a dishonest operator remakes it: entries changed, a checkpoint it signs over
    the tree holding them, the inclusion proofs in that tree, ``dropped`` entries left out."""
    entries = [changed.get(index, data) for index, data in enumerate(history.entries)]
    tree = MemoryTree()
    for data in entries:
        tree.append(data)

    def remake(document: dict[str, Any]) -> None:
        document["checkpoint"] = operator_checkpoint(entries, history.keys[OPERATOR])
        document["witnessed"] = []  # the witnesses never cosigned this tree: an operator cannot make their cosignatures
        document["entries"] = [
            {"index": i, "entry": entries[i].decode("utf-8"), "proof": [b64(h) for h in tree.inclusion_proof(i, len(entries))]}
            for i in (int(listed_item["index"]) for listed_item in document["entries"])
            if i not in dropped
        ]

    return edit(text, remake)


def test_rerooted_certificate_of_the_genuine_entries_still_verifies(history: History, certificates: dict[str, Path]) -> None:
    # The control for the forgeries below: re-rooting alone changes nothing the certificate proves.
    proved = verify_certificate(rerooted(history, certificates["ratification"].read_text(), {}), history.anchor)
    assert proved.decision == history.decisions["ratification"]


def test_dropped_vote_breaks_the_tally(history: History, certificates: dict[str, Path]) -> None:
    fr = history.marks["ratify_fr"]
    text = edit(certificates["ratification"].read_text(), lambda d: d.update(entries=[e for e in d["entries"] if e["index"] != fr]))
    message = "certificate: step 6 (decision): the close's tally {'abstain': 0, 'approve': 6, 'object': 0, 'silent': 0} does not count the votes it rests on {'approve': 5, 'object': 0, 'abstain': 0}"
    assert refusal(text, history) == message


def test_dropped_vote_with_the_close_rewritten_to_match_does_not_adopt(history: History, certificates: dict[str, Path]) -> None:
    fr, close = history.marks["ratify_fr"], history.marks["ratification_close"]
    _, statement = statement_of(history.entries[close])
    tally = {"abstain": 0, "approve": 5, "object": 0, "silent": 1}  # in the order a statement's canonical JSON gives back
    forged = resigned(history.entries[close], [history.keys["pl"]], body={**statement.body, "tally": tally})
    text = rerooted(history, certificates["ratification"].read_text(), {close: forged}, dropped=(fr,))
    assert refusal(text, history) == f"certificate: step 6 (decision): under ratification, the tally {tally} does not adopt P-2"


def test_changed_vote_position_is_not_in_the_log(history: History, certificates: dict[str, Path]) -> None:
    fr = history.marks["ratify_fr"]
    forged = with_forged_body(history.entries[fr], position="abstain")
    document = json.loads(certificates["ratification"].read_text())
    proof = [base64.b64decode(h) for h in item(document, fr)["proof"]]
    item(document, fr)["entry"] = forged.decode("utf-8")
    got = root_from_inclusion_proof(fr, history.size, leaf_hash(forged), proof)
    message = f"certificate: step 4 (inclusion): entry {fr} is not in the log under the checkpoint: merkle: root mismatch: got {b64(got)}, want {b64(checkpoint_root(history.checkpoint))}"
    assert refusal(json.dumps(document), history) == message


def test_changed_vote_position_in_a_rerooted_tree_breaks_the_signature(history: History, certificates: dict[str, Path]) -> None:
    fr = history.marks["ratify_fr"]
    text = rerooted(history, certificates["ratification"].read_text(), {fr: with_forged_body(history.entries[fr], position="abstain")})
    with pytest.raises(AccordError) as raised:
        verify_certificate(text, history.anchor)
    assert f"invalid signature by {history.keys['fr'].verifier_key().label}" in str(raised.value)


def test_broken_signature_in_a_certificate_names_the_entry(history: History, certificates: dict[str, Path]) -> None:
    fr = history.marks["ratify_fr"]
    text = rerooted(history, certificates["ratification"].read_text(), {fr: with_forged_body(history.entries[fr], position="abstain")})
    assert refusal(text, history) == f"certificate: step 5 (signatures): entry {fr} (vote.cast): note: invalid signature by {history.keys['fr'].verifier_key().label}"


def test_rerooted_certificate_lacks_the_witnesses_cosignatures(history: History, certificates: dict[str, Path]) -> None:
    text = rerooted(history, certificates["ratification"].read_text(), {})
    with pytest.raises(AccordError) as raised:
        verify_certificate(text, history.anchor, history.witnesses, 2)
    assert str(raised.value) == "certificate: step 3 (checkpoint): its checkpoint: cosignature: too few witnesses cosigned: got 0, want at least 2"


def test_wrong_anchor_is_refused(history: History, certificates: dict[str, Path], tmp_path: Path) -> None:
    assert refusal(certificates["silence"].read_text(), history, anchor=b"\x00" * 32) == "certificate: step 2 (anchor): the charter is missing or is not the pinned trust anchor"
    message = "accord: certificate: step 2 (anchor): the charter is missing or is not the pinned trust anchor"
    assert refused("verify-certificate", certificates["silence"], "--anchor", "00" * 32) == message


@pytest.mark.parametrize("alteration", ["flipped-hash", "dropped-hash", "extra-hash"])
def test_altered_inclusion_proof_is_refused(history: History, certificates: dict[str, Path], tmp_path: Path, alteration: str) -> None:
    vote = history.marks["late_vote"]
    document = json.loads(certificates["silence"].read_text())
    proof = [base64.b64decode(h) for h in item(document, vote)["proof"]]
    if alteration == "flipped-hash":
        proof[1] = bytes([proof[1][0] ^ 1]) + proof[1][1:]
        got = root_from_inclusion_proof(vote, history.size, leaf_hash(history.entries[vote]), proof)
        problem = f"merkle: root mismatch: got {b64(got)}, want {b64(checkpoint_root(history.checkpoint))}"
    elif alteration == "dropped-hash":
        problem = f"merkle: wrong proof size {len(proof) - 1}, want {len(proof)}"
        proof = proof[:-1]
    else:
        problem = f"merkle: wrong proof size {len(proof) + 1}, want {len(proof)}"
        proof = [*proof, proof[0]]
    item(document, vote)["proof"] = [b64(h) for h in proof]
    message = f"certificate: step 4 (inclusion): entry {vote} is not in the log under the checkpoint: {problem}"
    assert refusal(json.dumps(document), history) == message
    forged = tmp_path / "forged.certificate"
    forged.write_text(json.dumps(document))
    assert refused("verify-certificate", forged, *anchor(history)) == f"accord: {message}"


def test_checkpoint_of_another_origin_is_refused(history: History, certificates: dict[str, Path], tmp_path: Path) -> None:
    _, other = build_other_council(tmp_path / "other.db")
    text = edit(certificates["silence"].read_text(), lambda d: d.update(checkpoint=other))
    assert refusal(text, history) == "certificate: step 3 (checkpoint): its checkpoint is not signed by the operator"


def test_checkpoint_of_a_forked_log_is_refused(history: History, certificates: dict[str, Path]) -> None:
    # The same operator signed another tree (it rewrote an observer's statement): the proofs do not lead to its root.
    statement = history.marks["observer_statement"]
    fork = list(history.entries)
    fork[statement] = resigned(fork[statement], [history.keys["in"]], body={"text": "India says something else.", "about": "P-1"})
    checkpoint = operator_checkpoint(fork, history.keys[OPERATOR])
    document = json.loads(certificates["silence"].read_text())
    document["checkpoint"] = checkpoint
    charter_proof = [base64.b64decode(h) for h in item(document, 0)["proof"]]
    got = root_from_inclusion_proof(0, history.size, leaf_hash(history.entries[0]), charter_proof)
    message = f"certificate: step 4 (inclusion): entry 0 is not in the log under the checkpoint: merkle: root mismatch: got {b64(got)}, want {b64(checkpoint_root(checkpoint))}"
    assert refusal(json.dumps(document), history) == message


def test_edited_close_is_not_in_the_log(history: History, certificates: dict[str, Path]) -> None:
    close = history.marks["silence_close"]
    forged = with_forged_body(history.entries[close], tally={"approve": 2, "object": 0, "abstain": 0, "silent": 4})
    document = json.loads(certificates["silence"].read_text())
    proof = [base64.b64decode(h) for h in item(document, close)["proof"]]
    item(document, close)["entry"] = forged.decode("utf-8")
    got = root_from_inclusion_proof(close, history.size, leaf_hash(forged), proof)
    message = f"certificate: step 4 (inclusion): entry {close} is not in the log under the checkpoint: merkle: root mismatch: got {b64(got)}, want {b64(checkpoint_root(history.checkpoint))}"
    assert refusal(json.dumps(document), history) == message


def test_close_tally_edited_and_resigned_by_the_closer_does_not_count_the_votes(history: History, certificates: dict[str, Path]) -> None:
    close = history.marks["silence_close"]
    _, statement = statement_of(history.entries[close])
    tally = {"abstain": 0, "approve": 2, "object": 0, "silent": 4}  # in the order a statement's canonical JSON gives back
    forged = resigned(history.entries[close], [history.keys[OPERATOR]], body={**statement.body, "tally": tally})
    text = rerooted(history, certificates["silence"].read_text(), {close: forged})
    message = f"certificate: step 6 (decision): the close's tally {tally} does not count the votes it rests on {{'approve': 1, 'object': 0, 'abstain': 1}}"
    assert refusal(text, history) == message


def test_close_outcome_edited_and_resigned_by_the_closer_is_not_an_adoption(history: History, certificates: dict[str, Path]) -> None:
    close = history.marks["silence_close"]
    _, statement = statement_of(history.entries[close])
    forged = resigned(history.entries[close], [history.keys[OPERATOR]], body={**statement.body, "outcome": "rejected"})
    text = rerooted(history, certificates["silence"].read_text(), {close: forged})
    assert refusal(text, history) == f"certificate: step 6 (decision): entry {close} is not an included close that adopted a proposal"


def test_vote_moved_after_the_deadline_is_refused(history: History, certificates: dict[str, Path]) -> None:
    # logged_at is the operator's, not the voter's: a re-rooted tree can move it, and the certificate still refuses.
    vote, close = history.marks["late_vote"], history.marks["silence_close"]
    moved = with_logged_at(history.entries[vote], Entry.from_bytes(history.entries[close]).logged_at)
    text = rerooted(history, certificates["silence"].read_text(), {vote: moved})
    deadline = statement_of(history.entries[history.marks["silence_submit"]])[1].body["deadline"]
    assert refusal(text, history) == f"certificate: step 6 (decision): vote at entry {vote} is not between the proposal and its deadline {deadline}"


def test_superseded_vote_added_back_is_refused(history: History, certificates: dict[str, Path]) -> None:
    superseded = history.marks["superseded_vote"]
    tree = MemoryTree()
    for data in history.entries:
        tree.append(data)

    def add_back(document: dict[str, Any]) -> None:
        proof = [b64(h) for h in tree.inclusion_proof(superseded, history.size)]
        document["entries"].append({"index": superseded, "entry": history.entries[superseded].decode("utf-8"), "proof": proof})

    text = edit(certificates["finding"].read_text(), add_back)
    assert refusal(text, history) == f"certificate: step 6 (decision): by has two counted votes (the second at entry {history.marks['finding_vote']})"


def test_entry_listed_twice_is_refused(history: History, certificates: dict[str, Path]) -> None:
    vote = history.marks["late_vote"]
    text = edit(certificates["silence"].read_text(), lambda d: d["entries"].append(dict(item(d, vote))))
    assert refusal(text, history) == f"certificate: step 1 (document): entry {vote} is listed twice or under another index"


def test_certificate_refused_on_the_command_line_prints_nothing_valid(history: History, certificates: dict[str, Path], tmp_path: Path) -> None:
    fr = history.marks["ratify_fr"]
    forged = tmp_path / "dropped-vote.certificate"
    forged.write_text(edit(certificates["ratification"].read_text(), lambda d: d.update(entries=[e for e in d["entries"] if e["index"] != fr])))
    message = "accord: certificate: step 6 (decision): the close's tally {'abstain': 0, 'approve': 6, 'object': 0, 'silent': 0} does not count the votes it rests on {'approve': 5, 'object': 0, 'abstain': 0}"
    assert refused("verify-certificate", forged, *anchor(history), "--json") == message
    shutil.copy(certificates["ratification"], tmp_path / "genuine.certificate")
    ok("verify-certificate", tmp_path / "genuine.certificate", *anchor(history))


def test_relabelled_decision_number_is_not_reported_as_proven(history: History, certificates: dict[str, Path]) -> None:
    document = json.loads(certificates["ratification"].read_text())
    genuine, close = document["decision"], document["close"]
    text = edit(certificates["ratification"].read_text(), lambda d: d.update(decision="D-1"))
    with pytest.raises(VerificationError) as raised:
        verify_certificate(text, history.anchor, history.witnesses, 2)
    assert str(raised.value) == f"certificate: step 6 (decision): the close at entry {close} creates {genuine}, not D-1"
