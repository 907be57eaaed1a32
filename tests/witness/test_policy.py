"""c2sp.org/tlog-policy files, parsed strictly, and quorums evaluated over verified cosignatures."""

from __future__ import annotations

import pytest

from ledger.checkpoint import cosign
from ledger.errors import MalformedError, SignatureError
from ledger.note import Note, NoteSignature
from ledger.policy import Policy
from tests.witness.keys import LOG, checkpoint_note, signer, tree, witness_signer

W = {name: witness_signer(f"witness.test/{name}") for name in ("x1", "x2", "x3", "y1", "y2")}


def vkey(name: str) -> str:
    return W[name].cosigner_key().to_text()


POLICY = f"""# two organisations
log {signer(LOG).verifier_key().to_text()} http://127.0.0.1:1/
witness X1 {vkey('x1')} http://127.0.0.1:2/
witness X2 {vkey('x2')}
\twitness X3 {vkey('x3')}   \t
group X 2 X1 X2 X3

witness Y1 {vkey('y1')}
witness Y2 {vkey('y2')}
group Y any Y1 Y2
group X-and-Y all X Y
quorum X-and-Y
"""


def refusal(text: str) -> str:
    with pytest.raises(MalformedError) as raised:
        Policy.from_text(text)
    return str(raised.value)


def test_policy_parses_logs_witnesses_groups_and_the_quorum() -> None:
    policy = Policy.from_text(POLICY)
    assert [log.url for log in policy.logs] == ["http://127.0.0.1:1/"]
    assert [(w.name, w.url) for w in policy.witnesses.values()] == [("X1", "http://127.0.0.1:2/"), ("X2", None), ("X3", None), ("Y1", None), ("Y2", None)]
    assert [(g.name, g.threshold, g.members) for g in policy.groups.values()] == [
        ("X", 2, ("X1", "X2", "X3")), ("Y", 1, ("Y1", "Y2")), ("X-and-Y", 2, ("X", "Y"))
    ]
    assert policy.quorum == "X-and-Y"
    assert Policy.from_text(policy.to_text()) == policy


@pytest.mark.parametrize(
    ("cosigned", "met"),
    [
        ({"X1", "X2", "Y1"}, True),
        ({"X1", "X3", "Y2"}, True),
        ({"X1", "X2", "X3"}, False),  # no Y
        ({"X1", "Y1", "Y2"}, False),  # one X of the two wanted
        (set(), False),
    ],
)
def test_quorum_of_nested_groups_needs_every_level(cosigned: set[str], met: bool) -> None:
    assert Policy.from_text(POLICY).met_by(cosigned) is met


def test_quorum_none_asks_for_no_cosignature() -> None:
    assert Policy.from_text("quorum none\n").met_by([]) is True


def test_quorum_is_checked_over_cosignatures_that_verify() -> None:
    policy = Policy.from_text(POLICY)
    note = Note.from_text(checkpoint_note(signer(LOG), tree(5)))
    cosigned = note.with_signatures(cosign(note, W["x1"], 100), cosign(note, W["x2"], 101))
    with pytest.raises(SignatureError) as raised:
        policy.check(cosigned)
    assert str(raised.value) == "policy: quorum X-and-Y not met: cosigned by X1, X2"
    cosigned = cosigned.with_signatures(cosign(note, W["y2"], 102))
    assert policy.check(cosigned) == {"X1": 100, "X2": 101, "Y2": 102}


def test_a_forged_cosignature_by_a_policy_witness_rejects_the_checkpoint() -> None:
    policy = Policy.from_text(POLICY)
    note = Note.from_text(checkpoint_note(signer(LOG), tree(5)))
    good = cosign(note, W["x1"], 100)
    forged = NoteSignature(good.name, good.key_id, good.signature[:8] + bytes(64))
    with pytest.raises(SignatureError) as raised:
        policy.check(note.with_signatures(forged))
    assert str(raised.value) == f"policy: witness X1: note: invalid signature by {W['x1'].cosigner_key().label}"


WITNESS_LINE = f"witness X1 {vkey('x1')}\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "policy: no quorum line: want exactly one (quorum none asks for no cosignature)"),
        ("quorum none", "policy: last line does not end in a newline"),
        ("quorum none\nquorum none\n", "policy: line 2: a second quorum line: want exactly one"),
        ("quorum X1\n", "policy: line 1: quorum names 'X1', which no earlier line defines"),
        ("quorum X1\n" + WITNESS_LINE, "policy: line 1: quorum names 'X1', which no earlier line defines"),
        ("quorum\n", "policy: line 1: quorum takes one name, got 0"),
        ("witnesses X1 k\nquorum none\n", "policy: line 1: unknown keyword 'witnesses', want log, witness, group or quorum"),
        (WITNESS_LINE + WITNESS_LINE + "quorum X1\n", "policy: line 2: name 'X1' is defined twice"),
        (WITNESS_LINE + f"witness X2 {vkey('x1')}\nquorum X1\n", "policy: line 2: witness X2 has the key of witness X1"),
        (f"witness none {vkey('x1')}\nquorum none\n", "policy: line 1: the name none is predefined"),
        (WITNESS_LINE + "group G 2 X1\nquorum G\n", "policy: line 2: threshold got '2', want any, all or a decimal k with 1 <= k <= 1"),
        (WITNESS_LINE + "group G 0 X1\nquorum G\n", "policy: line 2: threshold got '0', want any, all or a decimal k with 1 <= k <= 1"),
        (WITNESS_LINE + "group G 01 X1\nquorum G\n", "policy: line 2: threshold got '01', want any, all or a decimal k with 1 <= k <= 1"),
        (WITNESS_LINE + "group G any X1 X1\nquorum G\n", "policy: line 2: 'X1' is already a member of a group: each name may be listed once"),
        (WITNESS_LINE + "group G any none\nquorum G\n", "policy: line 2: none cannot be a group member"),
        (WITNESS_LINE + "group G any X2\nquorum G\n", "policy: line 2: group G names 'X2', which no earlier line defines"),
        (WITNESS_LINE + "group G any\nquorum G\n", "policy: line 2: group takes a name, a threshold (k, any or all) and at least one member"),
        ("quorum none\r\n", "policy: line 1: control character 0x0d, want only tab and newline"),
        (f"log {vkey('x1')}\nquorum none\n", f"policy: line 1: log key {W['x1'].cosigner_key().label} has type 0x04, want 0x01 (Ed25519)"),
    ],
)
def test_malformed_policy_is_refused_naming_the_line(text: str, message: str) -> None:
    assert refusal(text) == message


def test_witness_key_in_ed25519_form_is_refused() -> None:
    ed25519 = signer("witness.test/x9").verifier_key()
    assert refusal(f"witness X9 {ed25519.to_text()}\nquorum X9\n") == (
        f"policy: line 1: witness X9 key {ed25519.label} has type 0x01, want 0x04 (cosignature/v1)"
    )


def test_oversized_policy_is_refused() -> None:
    assert refusal("#" * 70_000 + "\nquorum none\n") == "policy: file of 70013 bytes, want at most 65536"
