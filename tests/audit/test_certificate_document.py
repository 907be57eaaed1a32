"""The certificate as a document: its round trip, hostile documents refused in one line, and the order of the checks.

``verify_certificate`` checks in numbered steps (document, anchor,
checkpoint, inclusion, signatures, decision, witnessed time) and believes no
statement body before its signature and inclusion hold: a certificate that is
wrong in several ways is refused at the first step it fails, whatever else is
wrong with it.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from domain.charter import OPERATOR
from ledger.errors import AccordError, MalformedError
from ledger.merkle import MemoryTree
from projections.certificate import MAX_CERTIFICATE, Certificate
from projections.certificate_check import verify_certificate
from projections.views import DECISION
from tests.audit.history import (
    History,
    build_history,
    build_other_council,
    copy_store,
    ok,
    operator_checkpoint,
    refused,
    store_url,
    with_forged_body,
)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    return build_history(tmp_path_factory.mktemp("council"))


@pytest.fixture(scope="module")
def certificates(history: History, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("certificates")
    store = copy_store(history.path, folder / "copy.db")
    made = {}
    for what, decision in history.decisions.items():
        path = folder / f"{decision}.certificate"
        ok("certificate", decision, "--store", store_url(store), "--out", path)
        made[what] = path.read_text()
    return made


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def refusal(text: str, history: History, anchor: bytes | None = None) -> str:
    with pytest.raises(AccordError) as raised:
        verify_certificate(text, history.anchor if anchor is None else anchor)
    return str(raised.value)


# The round trip.


def test_every_certificate_reads_back_to_the_same_bytes(certificates: dict[str, str]) -> None:
    for text in certificates.values():
        certificate = Certificate.from_text(text)
        assert certificate.version == 2
        assert certificate.to_text() == text
        assert Certificate.from_text(certificate.to_text()) == certificate


def test_a_version_1_certificate_without_witnessed_checkpoints_is_still_read_and_verified(history: History, certificates: dict[str, str]) -> None:
    document = json.loads(certificates["silence"])
    del document["witnessed"]
    document["version"] = 1
    certificate = Certificate.from_text(json.dumps(document))
    assert (certificate.version, certificate.witnessed) == (1, ())
    assert json.loads(certificate.to_text()) == document
    assert verify_certificate(certificate.to_text(), history.anchor).decision == history.decisions["silence"]


# Hostile documents: each refused at step 1 with one line naming the field.


def changed(change: Callable[[dict[str, Any]], object]) -> Callable[[str], str]:
    def make(text: str) -> str:
        document = json.loads(text)
        change(document)
        return json.dumps(document, indent=1)

    return make


def replaced(old: str, new: str) -> Callable[[str], str]:
    def make(text: str) -> str:
        assert old in text
        return text.replace(old, new, 1)

    return make


def nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = [value]
    return value


HOSTILE: dict[str, tuple[Callable[[str], str], str]] = {
    "not-json": (lambda text: text[:-3], "certificate: not JSON: Expecting ',' delimiter at char"),
    "a-list": (lambda text: "[]", "certificate: got a JSON list, want an object"),
    "wrong-kind": (changed(lambda d: d.update(kind="accord-bundle")), "certificate: kind got \"accord-bundle\", want 'accord-decision-certificate'"),
    "version-true": (changed(lambda d: d.update(version=True)), "certificate: version got true, want an integer"),
    "version-3": (changed(lambda d: d.update(version=3)), "certificate: version got 3, want one of 1, 2"),
    "close-true": (changed(lambda d: d.update(close=True)), "certificate: close got true, want an integer"),
    "close-string": (changed(lambda d: d.update(close="19")), "certificate: close got \"19\", want an integer"),
    "close-float": (lambda text: text.replace('"close": ', '"close": 1.0e', 1), "certificate: number 1.0e"),
    "close-huge": (changed(lambda d: d.update(close=2**53)), "certificate: integer 9007199254740992 is beyond JSON's exact integers"),
    "index-huge": (changed(lambda d: d["entries"][1].update(index=10**30)), "certificate: integer 1000000000000000000000000000000 is beyond JSON's exact integers"),
    "index-true": (changed(lambda d: d["entries"][1].update(index=True)), "certificate: entries[1].index got true, want an integer"),
    "index-negative": (changed(lambda d: d["entries"][1].update(index=-1)), "certificate: entries[1].index got -1, want 0 to 9007199254740991"),
    "missing-checkpoint": (changed(lambda d: d.pop("checkpoint")), "certificate: checkpoint is missing"),
    "missing-witnessed": (changed(lambda d: d.pop("witnessed")), "certificate: witnessed is missing"),
    "missing-proof": (changed(lambda d: d["entries"][2].pop("proof")), "certificate: entries[2].proof is missing"),
    "extra-field": (changed(lambda d: d.update(trusted=True)), "certificate: trusted is not a field of this document"),
    "extra-entry-field": (changed(lambda d: d["entries"][1].update(verified=True)), "certificate: entries[1].verified is not a field of this document"),
    "extra-witnessed-field": (changed(lambda d: d["witnessed"][0].update(time=0)), "certificate: witnessed[0].time is not a field of this document"),
    "entries-an-object": (changed(lambda d: d.update(entries={})), "certificate: entries got a JSON object, want a list"),
    "entry-a-string": (changed(lambda d: d["entries"].__setitem__(1, "entry")), "certificate: entries[1] got \"entry\", want an object"),
    "proof-hash-short": (changed(lambda d: d["entries"][1]["proof"].__setitem__(0, b64(bytes(31)))), "certificate: entries[1].proof[0] is 31 bytes, want 32"),
    "proof-not-base64": (changed(lambda d: d["entries"][1]["proof"].__setitem__(0, "!!")), "certificate: entries[1].proof[0]: got invalid base64"),
    "proof-too-long": (changed(lambda d: d["entries"][1].update(proof=[b64(bytes(32))] * 65)), "certificate: entries[1].proof has 65 hashes, want at most 64"),
    "anchor-not-hex": (changed(lambda d: d.update(anchor="z" * 64)), "certificate: anchor: want 64 lowercase hex digits (the charter's leaf hash)"),
    "decision-not-d-n": (changed(lambda d: d.update(decision="P-1")), "certificate: decision got \"P-1\", want D-n"),
    "duplicate-key": (replaced('"close": ', '"close": 1, "close": '), "certificate: duplicate key 'close'"),
    "nested-too-deep": (changed(lambda d: d.update(checkpoint=nested(70))), "certificate: JSON nested deeper than 64 levels"),
    "entry-not-an-entry": (changed(lambda d: d["entries"][1].update(entry="{}")), "certificate: step 1 (document): entry: fields: got [], want ['index', 'logged_at', 'statement', 'v']"),
    "entry-twice": (changed(lambda d: d["entries"].append(d["entries"][1])), "certificate: step 1 (document): entry "),
}


@pytest.mark.parametrize("case", HOSTILE.keys())
def test_hostile_certificate_is_refused_in_one_line_naming_the_field(history: History, certificates: dict[str, str], tmp_path: Path, case: str) -> None:
    make, expected = HOSTILE[case]
    text = make(certificates["silence"])
    with pytest.raises(MalformedError) as raised:
        verify_certificate(text, history.anchor)
    message = str(raised.value)
    if not expected.startswith("certificate: step 1"):
        expected = expected.replace("certificate: ", "certificate: step 1 (document): ", 1)
    assert message.startswith(expected) and "\n" not in message
    path = tmp_path / "hostile.certificate"
    path.write_text(text)
    assert refused("verify-certificate", path, "--anchor", history.anchor.hex()) == f"accord: {message}"


def test_certificate_file_over_the_size_limit_is_refused_before_it_is_read(history: History, tmp_path: Path) -> None:
    path = tmp_path / "huge.certificate"
    with open(path, "wb") as out:
        out.truncate(MAX_CERTIFICATE + 1)
    assert refused("verify-certificate", path, "--anchor", history.anchor.hex()) == (
        f"accord: certificate: {path} is {MAX_CERTIFICATE + 1} bytes, want at most {MAX_CERTIFICATE}"
    )


# The order of the steps.


def rerooted_with_forged_vote(history: History, text: str, vote: int) -> str:
    """A dishonest operator's certificate: vote ``vote`` changed (its signature now invalid), a checkpoint it
    signs over the tree holding it, the proofs in that tree, no witnessed checkpoints (it cannot make those)."""
    entries = list(history.entries)
    entries[vote] = with_forged_body(entries[vote], position="abstain")
    tree = MemoryTree()
    for data in entries:
        tree.append(data)
    document = json.loads(text)
    document["checkpoint"] = operator_checkpoint(entries, history.keys[OPERATOR])
    document["witnessed"] = []
    for item in document["entries"]:
        item["entry"] = entries[item["index"]].decode("utf-8")
        item["proof"] = [b64(h) for h in tree.inclusion_proof(item["index"], len(entries))]
    return json.dumps(document, indent=1)


def test_each_step_refuses_before_the_next_whatever_else_is_wrong(history: History, certificates: dict[str, str], tmp_path: Path) -> None:
    fr = history.marks["ratify_fr"]
    genuine = certificates["ratification"]
    # Step 6 alone: the decision's number is relabelled.
    relabelled = changed(lambda d: d.update(decision="D-9"))(genuine)
    close = history.marks["ratification_close"]
    decision = history.decisions["ratification"]
    assert refusal(relabelled, history) == f"certificate: step 6 (decision): the close at entry {close} creates {decision}, not D-9"
    # Step 5: a vote's body changed (so the tally is wrong too) in a tree the operator re-signed.
    forged = rerooted_with_forged_vote(history, relabelled, fr)
    label = history.keys["fr"].verifier_key().label
    assert refusal(forged, history) == f"certificate: step 5 (signatures): entry {fr} (vote.cast): note: invalid signature by {label}"
    # Step 4: and an inclusion proof altered.
    document = json.loads(forged)
    proof = next(item for item in document["entries"] if item["index"] == fr)["proof"]
    proof[0] = b64(bytes(32))
    unproven = json.dumps(document)
    assert refusal(unproven, history).startswith(f"certificate: step 4 (inclusion): entry {fr} is not in the log under the checkpoint: merkle: root mismatch")
    # Step 3: and a checkpoint of another council.
    _, other = build_other_council(tmp_path / "other.db")
    unsigned = changed(lambda d: d.update(checkpoint=other))(unproven)
    assert refusal(unsigned, history) == "certificate: step 3 (checkpoint): its checkpoint is not signed by the operator"
    # Step 2: and another anchor pinned.
    assert refusal(unsigned, history, anchor=bytes(32)) == "certificate: step 2 (anchor): the charter is missing or is not the pinned trust anchor"
    # Step 1: and a field that is no certificate's.
    hostile = changed(lambda d: d.update(trusted=True))(unsigned)
    assert refusal(hostile, history, anchor=bytes(32)) == "certificate: step 1 (document): trusted is not a field of this document"


def test_witnessed_checkpoint_not_signed_by_the_operator_is_refused_at_step_3(history: History, certificates: dict[str, str], tmp_path: Path) -> None:
    _, other = build_other_council(tmp_path / "other.db")
    text = changed(lambda d: d["witnessed"][0].update(checkpoint=other))(certificates["silence"])
    assert refusal(text, history) == "certificate: step 3 (checkpoint): witnessed checkpoint 0 is not signed by the operator"


def test_witnessed_checkpoint_that_is_not_a_prefix_is_refused_at_step_4(history: History, certificates: dict[str, str]) -> None:
    document = json.loads(certificates["silence"])
    consistency = document["witnessed"][0]["consistency"]
    consistency[0] = b64(bytes(32))
    size = history.early_size
    message = refusal(json.dumps(document), history)
    assert message.startswith(f"certificate: step 4 (inclusion): witnessed checkpoint 0 (size {size}) is not a prefix of the checkpoint: merkle: ")


def test_certificate_from_damaged_views_is_refused_naming_the_field(history: History, tmp_path: Path) -> None:
    # The builder reads the store's own views; a damaged row is a one-line storage error, not a KeyError.
    store = copy_store(history.path, tmp_path / "damaged.db")
    with closing(sqlite3.connect(store)) as connection, connection:
        changed_rows = connection.execute("UPDATE accord_rows SET doc = json_remove(doc, '$.proposal') WHERE view = ?", (DECISION,)).rowcount
    assert changed_rows >= 1
    decision = history.decisions["silence"]
    out = tmp_path / "d.certificate"
    assert refused("certificate", decision, "--store", store_url(store), "--out", out) == (
        f"accord: certificate: the stored views of {decision} lack field 'proposal': accord rebuild folds them again"
    )
    assert not out.exists()
