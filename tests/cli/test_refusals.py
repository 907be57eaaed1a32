"""Every refusal of SPEC section 10, through the command line.

Each test pins one attack or rule: the exit code (1, or 2 for usage errors),
the exact one line on stderr (``accord: <component>: <problem>``), no
traceback, and a log that is byte for byte what it was before.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from domain import commands
from domain.charter import OPERATOR
from ledger.canonical import canonical_bytes
from ledger.checkpoint import Checkpoint
from ledger.encoding import decode_base64, encode_base64
from ledger.merkle import CompactRange, leaf_hash
from ledger.note import Note, sign_note
from ledger.store import LOG_STREAM
from ledger.timefmt import format_time, parse_time
from tests.cli.conftest import (
    MEMBERS,
    PASSPHRASE,
    Council,
    FakeClock,
    fails,
    invoke,
    label,
    no_traceback,
    ok,
    one_line_error,
    signer,
)
from tests.domain.scenario import ORIGIN


def handmade(council: Council, actor: str, kind: str, body: dict[str, Any], *signers: str, out: str = "statement.json", origin: str = ORIGIN,
             signed_at: str = "+0s") -> str:
    """A statement prepared and signed with the CLI, as a delegation would on its own machine; returns the file."""
    ok("prepare", kind, "--origin", origin, "--actor", actor, "--body", json.dumps(body), "--signed-at", signed_at, "--out", out)
    for name in signers or (actor,):
        ok("sign", out, "--key", council.key(name))
    return out


def submitted_at(council: Council, proposal: str) -> int:
    index: int = council.view("show", proposal)["item"]["submitted"]
    return index


# Signatures and keys.


def test_vote_file_edited_after_signing_is_refused_as_a_forged_signature(council: Council) -> None:
    proposal = council.propose()
    vote = handmade(council, "fr", "vote.cast", {"proposal": proposal, "position": "approve"})
    Path(vote).write_text(Path(vote).read_text().replace('"position":"approve"', '"position":"object"'))
    council.refused("submit", vote, message=f"accord: vote.cast: invalid signature by {label('fr')}")


def test_signature_transplanted_from_another_statement_is_refused_as_forged(council: Council) -> None:
    proposal = council.propose()
    approve = Note.from_text(Path(handmade(council, "fr", "vote.cast", {"proposal": proposal, "position": "approve"}, out="a.json")).read_text())
    objection = Note.from_text(Path(handmade(council, "fr", "vote.cast", {"proposal": proposal, "position": "object"}, out="o.json")).read_text())
    Path("forged.json").write_text(Note(objection.text, approve.signatures).to_text())
    council.refused("submit", "forged.json", message=f"accord: vote.cast: invalid signature by {label('fr')}")


def test_signature_bytes_altered_are_refused_as_forged(council: Council) -> None:
    proposal = council.propose()
    note = Note.from_text(Path(handmade(council, "fr", "vote.cast", {"proposal": proposal, "position": "approve"})).read_text())
    line = note.to_text().split("\n")[-2]
    name, encoded = line[2:].rsplit(" ", 1)
    raw = bytearray(decode_base64(encoded, "test", "signature"))
    raw[-1] ^= 0x01
    Path("statement.json").write_text(note.text + "\n" + f"— {name} {encode_base64(bytes(raw))}\n")
    council.refused("submit", "statement.json", message=f"accord: vote.cast: invalid signature by {label('fr')}")


def test_unsigned_statement_is_refused_as_missing_its_signature(council: Council) -> None:
    proposal = council.propose()
    ok("prepare", "vote.cast", "--origin", ORIGIN, "--actor", "fr", "--field", f"proposal={proposal}", "--field", "position=approve", "--out", "vote.json")
    council.refused("submit", "vote.json", message="accord: note: no blank line between the text and the signatures")


def test_statement_signed_only_by_another_members_key_is_refused(council: Council) -> None:
    proposal = council.propose()
    vote = handmade(council, "fr", "vote.cast", {"proposal": proposal, "position": "object"}, "de")
    council.refused("submit", vote, message=f"accord: vote.cast: not signed by a valid key of fr: got {label('de')}")


def test_charter_missing_the_operator_signature_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, council_template: Any) -> None:
    template, _ = council_template
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ACCORD_STORE", f"sqlite:///{tmp_path / 'accord.db'}")
    for name in ("charter.toml", *(f"{actor}.key" for actor in MEMBERS)):
        shutil.copy(template / name, tmp_path / name)
    Path("charter.note").write_text(ok("charter", "draft", "charter.toml"))
    for member in MEMBERS:
        ok("sign", "charter.note", "--key", f"{member}.key")
    one_line_error("init", "charter.note", message=f"accord: charter: not signed by the operator key {label(OPERATOR)}")
    assert not (tmp_path / "accord.db").exists()  # nothing appended, and no store left behind (issue 13 item 6)


def test_statement_signed_with_a_revoked_key_is_refused(council: Council) -> None:
    ok("key", "add", "--key", council.key("de"), "--new-key", council.key("de", 1))
    ok("key", "revoke", "--key", council.key("de", 1), "--revoke", council.verifier_key("de"))
    council.refused("say", "--text", "Signed with the old key", "--key", council.key("de"),
                    message=f"accord: statement.make: signature by revoked key de+{signer('de').key_id.hex()}")


def test_vote_signed_offline_before_its_key_was_revoked_is_refused_when_submitted_after(council: Council) -> None:
    proposal = council.propose()
    vote = handmade(council, "de", "vote.cast", {"proposal": proposal, "position": "approve"})
    ok("key", "add", "--key", council.key("de"), "--new-key", council.key("de", 1))
    ok("key", "revoke", "--key", council.key("de", 1), "--revoke", council.verifier_key("de"))
    council.refused("submit", vote, message=f"accord: vote.cast: signature by revoked key de+{signer('de').key_id.hex()}")


# Who may vote.


def test_vote_by_an_observer_is_refused(council: Council) -> None:
    proposal = council.propose()
    council.refused("vote", proposal, "approve", "--key", council.key("in"), message="accord: vote.cast: in is an observer; want a member")


def test_vote_by_civil_society_is_refused(council: Council) -> None:
    council.register()
    proposal = council.propose()
    council.refused("vote", proposal, "object", "--key", council.key("etuc"), message="accord: vote.cast: etuc is a civil-society; want a member")


def test_vote_by_a_suspended_member_is_refused(council: Council) -> None:
    proposal = council.propose()
    ok("membership", "suspend", "--key", council.key("ua"))
    council.refused("vote", proposal, "approve", "--key", council.key("ua"), message="accord: vote.cast: ua is suspended; want active")


def test_vote_by_a_withdrawn_member_is_refused(council: Council) -> None:
    proposal = council.propose()
    ok("membership", "withdraw", "--key", council.key("pl"))
    council.refused("vote", proposal, "approve", "--key", council.key("pl"), message="accord: vote.cast: pl is withdrawn; want active")


def test_vote_by_a_non_member_is_refused(council: Council) -> None:
    proposal = council.propose()
    council.refused("vote", proposal, "object", "--key", council.key("xx"), message="accord: vote.cast: xx is not an actor of this ledger")


def test_vote_by_an_admitted_candidate_before_accession_is_refused(council: Council) -> None:
    candidate = {"candidate": {"id": "md", "name": "Moldova", "role": "member", "keys": [council.verifier_key("md")]}}
    admission = council.propose("de", "admission", "+1h", "--effect", json.dumps(candidate))
    council.adopt(admission)
    proposal = council.propose()
    council.refused("vote", proposal, "approve", "--key", council.key("md"), message="accord: vote.cast: md is not an actor of this ledger")


def test_vote_by_the_concerned_member_under_consensus_minus_concerned_is_refused(council: Council) -> None:
    proposal = council.propose("de", "violation-finding", "+1h", "--concerned", "ua")
    council.refused("vote", proposal, "object", "--key", council.key("ua"), message=f"accord: vote.cast: ua is not in the electorate of {proposal}")


def test_vote_at_the_deadline_is_refused(council: Council, clock: FakeClock) -> None:
    proposal = council.propose(deadline="+60s")
    deadline = clock.now + 60
    clock.advance(60)
    council.refused("vote", proposal, "approve", "--key", council.key("de"),
                    message=f"accord: vote.cast: logged at {format_time(deadline)}, not before the deadline {format_time(deadline)} of {proposal}")


def test_vote_signed_before_the_deadline_but_submitted_after_it_is_refused(council: Council, clock: FakeClock) -> None:
    proposal = council.propose(deadline="+60s")
    deadline = clock.now + 60
    vote = handmade(council, "fr", "vote.cast", {"proposal": proposal, "position": "object"})
    clock.advance(61)
    council.refused("submit", vote,
                    message=f"accord: vote.cast: logged at {format_time(deadline + 1)}, not before the deadline {format_time(deadline)} of {proposal}")


def test_statement_signed_longer_ago_than_the_allowed_skew_is_refused(council: Council, clock: FakeClock) -> None:
    proposal = council.propose()
    stale = format_time(clock.now - 8 * 86_400)
    vote = handmade(council, "fr", "vote.cast", {"proposal": proposal, "position": "approve"}, signed_at=stale)
    council.refused("submit", vote,
                    message=f"accord: vote.cast: signed_at {stale} is more than 7d from logged_at {format_time(clock.now)}")


# Replays and other ledgers.


def test_double_submission_of_the_same_signed_file_is_refused(council: Council) -> None:
    proposal = council.propose()
    vote = handmade(council, "fr", "vote.cast", {"proposal": proposal, "position": "approve"})
    ok("submit", vote)
    nonce = json.loads(Note.from_text(Path(vote).read_text()).text)["nonce"]
    council.refused("submit", vote, message=f"accord: vote.cast: the log already holds a statement with nonce {nonce}")


def test_statement_for_another_origin_is_refused(council: Council) -> None:
    proposal = council.propose()
    vote = handmade(council, "fr", "vote.cast", {"proposal": proposal, "position": "approve"}, origin="accord.example/another-council")
    council.refused("submit", vote, message=f"accord: vote.cast: statement for origin 'accord.example/another-council', want '{ORIGIN}'")


def test_second_charter_submitted_to_a_founded_ledger_is_refused(council: Council) -> None:
    council.refused("submit", "charter.note", message="accord: charter: a ledger has one charter, at entry 0")


# Closing.


def unanimous(council: Council) -> tuple[str, dict[str, Any]]:
    proposal = council.propose()
    for member in MEMBERS:
        council.vote(member, proposal)
    body = {"proposal": proposal, "submission": submitted_at(council, proposal), "outcome": "adopted",
            "tally": {"approve": 4, "object": 0, "abstain": 0, "silent": 0}}
    return proposal, body


def test_close_with_a_wrong_outcome_is_refused(council: Council) -> None:
    proposal, body = unanimous(council)
    close = handmade(council, OPERATOR, "proposal.close", {**body, "outcome": "rejected"})
    council.refused("submit", close, message=f"accord: proposal.close: outcome of {proposal} got 'rejected', want 'adopted'")


def test_close_with_a_wrong_tally_is_refused(council: Council) -> None:
    proposal, body = unanimous(council)
    close = handmade(council, OPERATOR, "proposal.close", {**body, "tally": {"approve": 3, "object": 0, "abstain": 0, "silent": 1}})
    council.refused("submit", close, message=(
        f"accord: proposal.close: tally of {proposal} got 3 approve, 0 object, 0 abstain, 1 silent, want 4 approve, 0 object, 0 abstain, 0 silent"
    ))


def test_close_naming_the_wrong_submission_entry_is_refused(council: Council) -> None:
    proposal, body = unanimous(council)
    close = handmade(council, OPERATOR, "proposal.close", {**body, "submission": 0})
    council.refused("submit", close, message=(
        f"accord: proposal.close: submission got 0, want {body['submission']} (the entry that submitted {proposal})"
    ))


def test_close_before_the_deadline_without_every_approval_is_refused(council: Council, clock: FakeClock) -> None:
    proposal = council.propose(deadline="+1h")
    council.vote("de", proposal)
    council.refused("close", proposal, "--key", council.key(OPERATOR), message=(
        f"accord: proposal.close: {proposal} is open until {format_time(clock.now + 3600)}; closing earlier needs every electorate member's approval"
    ))


def test_close_by_an_observer_is_refused(council: Council) -> None:
    proposal, body = unanimous(council)
    close = handmade(council, "in", "proposal.close", body)
    council.refused("submit", close, message="accord: proposal.close: in is an observer; want a member or an operator")


# Malformed input.


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "accord: note: no blank line between the text and the signatures"),
        ("just some words\n", "accord: note: no blank line between the text and the signatures"),
        ("hello\n\n— nobody AAAA\n", "accord: note: signature line 1: signature got 3 bytes, want a 4-byte key id and a signature"),
        ("hello\n\n", "accord: note: no signature lines after the blank line"),
    ],
    ids=["empty", "no-signature-block", "short-signature", "blank-signature-block"],
)
def test_malformed_note_is_refused(council: Council, content: str, message: str) -> None:
    Path("bad.note").write_text(content)
    council.refused("submit", "bad.note", message=message)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json\n", "accord: statement: not JSON: Expecting value at char 0"),
        ('{"v": 1}\n', "accord: statement: not in RFC 8785 canonical form"),
        ('{"v":1}\n', "accord: statement: fields: got ['v'], want ['actor', 'body', 'kind', 'nonce', 'origin', 'signed_at', 'v']"),
        ('{"a":1}\n{"b":2}\n', "accord: statement: text must be one line of JSON ending in a newline"),
    ],
    ids=["not-json", "not-canonical", "missing-fields", "two-lines"],
)
def test_signed_note_whose_text_is_not_a_statement_is_refused(council: Council, text: str, message: str) -> None:
    Path("bad.note").write_text(sign_note(text, signer("fr")).to_text())
    council.refused("submit", "bad.note", message=message)


def test_statement_of_an_unknown_kind_is_refused(council: Council, clock: FakeClock) -> None:
    statement = commands.statement(ORIGIN, "vote.rig", "fr", format_time(clock.now), {"proposal": "P-1"})
    Path("rig.note").write_text(sign_note(statement.to_text(), signer("fr")).to_text())
    council.refused("submit", "rig.note", message="accord: vote.rig: unknown statement kind 'vote.rig'")


def test_vote_with_an_unknown_body_field_is_refused(council: Council, clock: FakeClock) -> None:
    proposal = council.propose()
    body = {"proposal": proposal, "position": "approve", "weight": 2}
    council.refused("prepare", "vote.cast", "--origin", ORIGIN, "--actor", "fr", "--body", json.dumps(body), message="accord: vote.cast: unknown field weight")
    statement = commands.statement(ORIGIN, "vote.cast", "fr", format_time(clock.now), body)  # signed without prepare's check
    Path("vote.note").write_text(sign_note(statement.to_text(), signer("fr")).to_text())
    council.refused("submit", "vote.note", message="accord: vote.cast: unknown field weight")


def test_file_that_is_not_utf8_is_refused(council: Council) -> None:
    Path("binary.note").write_bytes(b"\xff\xfe\x00garbage")
    council.refused("submit", "binary.note", message=(
        "accord: file: cannot read binary.note: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"
    ))


def entry_size(index: int, note: str) -> int:
    """The byte size entry ``index`` holding ``note`` has (logged_at is always 20 characters)."""
    return len(canonical_bytes({"v": 1, "index": index, "logged_at": "2026-01-01T00:00:00Z", "statement": note}))


def sized_statement(council: Council, entry_bytes: int, index: int, out: str) -> str:
    """A signed statement.make whose entry at ``index`` is exactly ``entry_bytes`` long."""
    handmade(council, "de", "statement.make", {"text": "x"}, out=out)
    overhead = entry_size(index, Path(out).read_text()) - 1
    handmade(council, "de", "statement.make", {"text": "x" * (entry_bytes - overhead)}, out=out)
    assert entry_size(index, Path(out).read_text()) == entry_bytes
    return out


def test_entry_of_exactly_65535_bytes_is_accepted(council: Council) -> None:
    ok("submit", sized_statement(council, 65_535, 1, "largest.json"))
    assert len(council.entry(1).to_bytes()) == 65_535


def test_entry_over_65535_bytes_is_refused(council: Council) -> None:
    council.refused("submit", sized_statement(council, 65_536, 1, "too-large.json"), message="accord: entry: too large: got 65536 bytes, want at most 65535")


def test_oversized_statement_made_in_one_step_is_refused(council: Council) -> None:
    # 412 bytes of entry, statement and signature around the text: their lengths are fixed
    council.refused("say", "--text", "x" * 70_000, "--key", council.key("de"), message=f"accord: entry: too large: got {70_000 + 412} bytes, want at most 65535")


# Key files.


def test_wrong_passphrase_in_the_environment_is_refused(council: Council, monkeypatch: pytest.MonkeyPatch) -> None:
    proposal = council.propose()
    monkeypatch.setenv("ACCORD_PASSPHRASE", "not the passphrase")
    council.refused("vote", proposal, "approve", "--key", council.key("de"), message="accord: key file: wrong passphrase for de.key")


def test_wrong_passphrase_typed_at_the_prompt_is_refused(council: Council, monkeypatch: pytest.MonkeyPatch) -> None:
    proposal = council.propose()
    monkeypatch.delenv("ACCORD_PASSPHRASE")
    before = council.log_text()
    result = fails("vote", proposal, "approve", "--key", council.key("de"), input="not the passphrase\n")
    assert result.stderr == "Passphrase for de.key: \naccord: key file: wrong passphrase for de.key\n"
    assert "not the passphrase" not in result.stderr + result.stdout
    monkeypatch.setenv("ACCORD_PASSPHRASE", PASSPHRASE)
    assert council.log_text() == before


def test_right_passphrase_typed_at_the_prompt_is_accepted(council: Council, monkeypatch: pytest.MonkeyPatch) -> None:
    proposal = council.propose()
    monkeypatch.delenv("ACCORD_PASSPHRASE")
    assert ok("vote", proposal, "approve", "--key", council.key("de"), input=PASSPHRASE + "\n") == f"entry 2: approve on {proposal}\n"


def test_wrong_operator_passphrase_refuses_before_anything_is_appended(council: Council, monkeypatch: pytest.MonkeyPatch) -> None:
    proposal = council.propose()
    vote = handmade(council, "fr", "vote.cast", {"proposal": proposal, "position": "approve"})
    monkeypatch.setenv("ACCORD_OPERATOR_PASSPHRASE", "not the passphrase")
    council.refused("submit", vote, "--operator-key", council.key(OPERATOR), message="accord: key file: wrong passphrase for operator.key")
    council.refused("vote", proposal, "approve", "--key", council.key("de"), "--operator-key", council.key(OPERATOR),
                    message="accord: key file: wrong passphrase for operator.key")


def test_wrong_passphrase_leaves_the_file_to_sign_unsigned(council: Council, monkeypatch: pytest.MonkeyPatch) -> None:
    ok("prepare", "statement.make", "--origin", ORIGIN, "--actor", "fr", "--field", "text=Hello", "--out", "said.json")
    before = Path("said.json").read_text()
    monkeypatch.setenv("ACCORD_PASSPHRASE", "not the passphrase")
    one_line_error("sign", "said.json", "--key", council.key("fr"), message="accord: key file: wrong passphrase for fr.key")
    assert Path("said.json").read_text() == before


def test_file_that_is_not_a_key_file_is_refused(council: Council) -> None:
    Path("notes.txt").write_text("my passphrase is hunter2\n")
    result = council.refused("say", "--text", "Hello", "--key", "notes.txt", message=(
        "accord: key file: notes.txt is not an Accord key file: want a first line 'accord-key-v2 <verifier key>'"
    ))
    assert "hunter2" not in result.stderr


def test_key_of_another_ledger_is_refused(council: Council, tmp_path: Path) -> None:
    from ledger.keys import Signer
    from ledger.keyfile import write_key_file

    write_key_file("foreign.key", Signer.from_seed("accord.example/another-council/de", bytes(32)), PASSPHRASE.encode())
    council.refused("say", "--text", "Hello", "--key", "foreign.key", message=(
        f"accord: key: key accord.example/another-council/de is not for this ledger: want a key named {ORIGIN}/<actor>"
    ))


# Usage errors: exit code 2, click's usage message, nothing appended.


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["vote", "P-1", "approve"], "Error: Missing option '--key'."),
        (["vote", "P-1", "maybe", "--key", "de.key"], "Error: Invalid value for '{approve|object|abstain}': 'maybe' is not one of 'approve', 'object', 'abstain'."),
        (["vote", "--key", "de.key"], "Error: Missing argument 'PROPOSAL'."),
        (["propose", "--title", "t", "--text", "x", "--deadline", "+1h", "--key", "de.key"], "Error: Missing option '--category'."),
        (["verify"], "Error: Missing option '--anchor'."),
        (["prepare", "vote.cast", "--actor", "de"], "Error: Missing option '--origin'."),
        (["keygen", "--origin", ORIGIN], "Error: Missing option '--out'."),
        (["sign", "missing.json", "--key", "de.key"], "Error: Invalid value for 'FILE': File 'missing.json' does not exist."),
        (["say", "--text", "x", "--key", "missing.key"], "Error: Invalid value for '--key': File 'missing.key' does not exist."),
        (["members", "--as-of", "-1"], "Error: Invalid value for '--as-of': -1 is not in the range x>=0."),
        (["no-such-command"], "Error: No such command 'no-such-command'."),
    ],
    ids=["vote-without-key", "vote-bad-position", "vote-without-proposal", "propose-without-category", "verify-without-anchor",
         "prepare-without-origin", "keygen-without-out", "sign-missing-file", "missing-key-file", "negative-as-of", "unknown-command"],
)
def test_usage_error_exits_2_and_changes_nothing(council: Council, args: list[str], error: str) -> None:
    council.propose()
    before = council.log_text()
    result = fails(*args, code=2)
    assert result.stderr.rstrip("\n").endswith(error), result.stderr
    assert result.stdout == ""
    assert council.log_text() == before


MALFORMED_OPTION_VALUES = [
    (["propose", "--category", "general", "--title", "t", "--text", "x", "--deadline", "tomorrow", "--key", "de.key"], "--deadline"),
    (["prepare", "vote.cast", "--origin", ORIGIN, "--actor", "de", "--signed-at", "yesterday"], "--signed-at"),
    (["prepare", "vote.cast", "--origin", ORIGIN, "--actor", "de", "--body", "{bad"], "--body"),
    (["propose", "--category", "general", "--title", "t", "--text", "x", "--deadline", "+1h", "--effect", "[1]", "--key", "de.key"], "--effect"),
    (["keygen", "--origin", ORIGIN, "--actor", "DE", "--out", "de2.key"], "--actor"),
]


@pytest.mark.parametrize(("args", "option"), MALFORMED_OPTION_VALUES, ids=[option for _, option in MALFORMED_OPTION_VALUES])
def test_malformed_option_value_is_a_usage_error_naming_the_option(council: Council, args: list[str], option: str) -> None:
    result = fails(*args, code=2)
    assert option in result.stderr


# Tampered, truncated and reordered logs: verify exits 1 naming the first bad entry.


@pytest.fixture
def audited(council: Council) -> Council:
    """A council whose log an auditor has a checkpoint of: P-1 at 1, four votes at 2-5, checkpoint of size 6."""
    proposal = council.propose()
    for member in MEMBERS:
        council.vote(member, proposal)
    council.checkpoint()
    ok("verify", "--anchor", council.anchor)
    return council


def stored_entry(council: Council, index: int) -> bytes:
    from ledger.merkle import HASH_SIZE, completed_nodes

    state = dict(council.stored_rows())[index]
    return state[HASH_SIZE * len(completed_nodes(index)) :]


def test_verify_names_the_entry_whose_signed_text_was_tampered_with(audited: Council) -> None:
    audited.tamper(3, b'\\"position\\":\\"approve\\"', b'\\"position\\":\\"object\\"')
    one_line_error("verify", "--anchor", audited.anchor, message=f"accord: entry 3: vote.cast: invalid signature by {label('fr')}")


def test_verify_detects_a_rewritten_charter_by_the_pinned_anchor(audited: Council) -> None:
    audited.tamper(0, b'\\"name\\":\\"European Security Council\\"', b'\\"name\\":\\"European Insecurity Council\\"')
    result = fails("verify", "--anchor", audited.anchor)
    assert result.stderr.startswith("accord: entry 0: charter: leaf hash ")
    assert result.stderr.endswith(f" is not the pinned trust anchor {audited.anchor}\n")
    assert result.stderr.count("\n") == 1


def root_mismatch(council: Council) -> str:
    """What verify says when the stored entries no longer hash to the root the checkpoint of size 6 signed."""
    signed = Checkpoint.from_text(Note.from_text(ok("checkpoint")).text).root_hash
    tree = CompactRange(0, [])
    for index, _ in council.stored_rows():
        tree.append(leaf_hash(stored_entry(council, index)))
    return f"accord: checkpoint: root at size 6: got {signed.hex()}, recomputed {tree.root().hex()}"


def test_verify_detects_a_rewritten_logged_at_by_the_checkpoint_root(audited: Council) -> None:
    # logged_at is not signed: only the checkpoint root catches it, even when the attacker also rebuilt the views
    data = stored_entry(audited, 5)
    logged_at = json.loads(data)["logged_at"]
    later = format_time(parse_time(logged_at, "logged_at") + 60)  # still before the deadline: every rule holds
    audited.rewrite_entry(5, data.replace(logged_at.encode(), later.encode(), 1))
    ok("rebuild")
    one_line_error("verify", "--anchor", audited.anchor, message=root_mismatch(audited))


def test_verify_detects_a_log_truncated_below_its_checkpoint(audited: Council) -> None:
    audited.delete_rows(5)
    one_line_error("verify", "--anchor", audited.anchor, message="accord: checkpoint: size 6 is beyond the 5 entries verified")


def test_verify_names_the_index_where_an_entry_was_cut_out_of_the_middle(audited: Council) -> None:
    audited.delete_rows(3)
    one_line_error("verify", "--anchor", audited.anchor, message="accord: entry 3: entry: index got 4, want 3")


def test_verify_names_the_index_where_two_entries_were_swapped(audited: Council) -> None:
    third, fourth = stored_entry(audited, 3), stored_entry(audited, 4)
    audited.rewrite_entry(3, fourth)
    audited.rewrite_entry(4, third)
    one_line_error("verify", "--anchor", audited.anchor, message="accord: entry 3: entry: index got 4, want 3")


def test_verify_names_the_index_where_a_vote_was_moved_before_its_proposal(audited: Council) -> None:
    proposal, vote = stored_entry(audited, 1), stored_entry(audited, 2)
    audited.rewrite_entry(1, vote.replace(b'{"index":2,', b'{"index":1,', 1))
    audited.rewrite_entry(2, proposal.replace(b'{"index":1,', b'{"index":2,', 1))
    one_line_error("verify", "--anchor", audited.anchor, message="accord: entry 1: vote.cast: proposal 'P-1' is not a P-n on this log")


def test_verify_detects_two_votes_swapped_with_their_indexes_by_the_checkpoint_root(audited: Council) -> None:
    # every rule still holds in the new order; the attacker also rebuilt the views
    third, fourth = stored_entry(audited, 3), stored_entry(audited, 4)
    audited.rewrite_entry(3, fourth.replace(b'{"index":4,', b'{"index":3,', 1))
    audited.rewrite_entry(4, third.replace(b'{"index":3,', b'{"index":4,', 1))
    ok("rebuild")
    one_line_error("verify", "--anchor", audited.anchor, message=root_mismatch(audited))


def test_verify_reports_a_rewritten_entry_whose_views_were_left_behind(audited: Council) -> None:
    third, fourth = stored_entry(audited, 3), stored_entry(audited, 4)
    audited.rewrite_entry(3, fourth.replace(b'{"index":4,', b'{"index":3,', 1))
    audited.rewrite_entry(4, third.replace(b'{"index":3,', b'{"index":4,', 1))
    result = fails("verify", "--anchor", audited.anchor)
    assert result.stderr.startswith("accord: ") and result.stderr.count("\n") == 1 and result.stdout == ""


def test_verify_of_a_row_swapped_wholesale_names_its_index(audited: Council) -> None:
    with sqlite3.connect(audited.database) as connection:
        for old, new in ((3, -1), (4, 3), (-1, 4)):
            connection.execute(
                "UPDATE stored_events SET originator_version = ? WHERE originator_id = ? AND originator_version = ?", (new, LOG_STREAM.hex, old)
            )
    connection.close()
    result = fails("verify", "--anchor", audited.anchor)
    assert result.stderr.startswith("accord: entry 3: entry: ")
    assert result.stderr.count("\n") == 1


def test_verify_of_an_untouched_log_still_passes_after_a_refusal(audited: Council) -> None:
    audited.refused("vote", "P-1", "approve", "--key", audited.key("in"), message="accord: vote.cast: in is an observer; want a member")
    ok("verify", "--anchor", audited.anchor)


# Files written after the log changed.


def test_submit_with_an_unwritable_receipt_path_fails_before_appending_or_reports_success(council: Council) -> None:
    proposal = council.propose()
    vote = handmade(council, "fr", "vote.cast", {"proposal": proposal, "position": "approve"})
    before = council.size()
    result = invoke(["submit", vote, "--operator-key", council.key(OPERATOR), "--receipt", "no-such-dir/vote.proof"])
    no_traceback(result)
    assert (result.exit_code == 0) == (council.size() == before + 1)


@pytest.mark.parametrize(
    "command",
    [["prepare", "statement.make", "--origin", ORIGIN, "--actor", "de", "--field", "text=x"], ["sign", "said.json", "--key", "de.key"], ["prove", "0"]],
    ids=["prepare", "sign", "prove"],
)
def test_out_into_a_missing_directory_is_refused_in_one_line(council: Council, command: list[str]) -> None:
    ok("prepare", "statement.make", "--origin", ORIGIN, "--actor", "de", "--field", "text=x", "--out", "said.json")
    result = fails(*command, "--out", "no-such-dir/out.txt")
    assert result.stderr.startswith("accord: ") and result.stderr.count("\n") == 1
