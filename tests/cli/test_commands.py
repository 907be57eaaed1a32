"""Every ``accord`` command, run in-process on a small council: what it prints, writes and appends."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import click
import pytest

from cli.main import accord
from domain.charter import OPERATOR
from domain.rules import check_statement_kinds
from ledger.checkpoint import Checkpoint, open_checkpoint, verify_cosignature
from ledger.entry import Entry
from ledger.errors import ProofError
from ledger.keyfile import KEY_FILE_MAGIC, read_key_file
from ledger.keys import VerifierKey
from ledger.merkle import verify_consistency
from ledger.note import Note, known_signers
from ledger.statement import Statement
from ledger.timefmt import format_time
from ledger.tlog_proof import TlogProof, verify_tlog_proof
from projections.ledger import Ledger
from tests.cli.conftest import (
    MEMBERS,
    PASSPHRASE,
    Council,
    FakeClock,
    charter_toml,
    fails,
    found_council,
    invoke,
    key_file_name,
    label,
    no_traceback,
    ok,
    one_line_error,
    signer,
    sqlite_store,
    verifier,
    write_key,
)
from tests.domain.scenario import ORIGIN


def assert_receipt_proves(proof_text: str, entry: Entry) -> Checkpoint:
    """The tlog-proof puts ``entry`` under a checkpoint signed by the operator."""
    proof = TlogProof.from_text(proof_text)
    assert proof.index == entry.index
    checkpoint = verify_tlog_proof(proof, entry.leaf_hash(), verifier(OPERATOR))
    assert checkpoint.size > entry.index
    return checkpoint


def prepared_vote(council: Council, actor: str, proposal: str, position: str = "approve", out: str = "vote.json") -> str:
    ok("prepare", "vote.cast", "--origin", ORIGIN, "--actor", actor, "--field", f"proposal={proposal}", "--field", f"position={position}", "--out", out)
    ok("sign", out, "--key", council.key(actor))
    return out


# keygen


def test_keygen_writes_an_encrypted_key_file_mode_0600_and_prints_only_its_verifier_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DELEGATION_SECRET", "s3cret words")
    out = ok("keygen", "--origin", ORIGIN, "--actor", "ee", "--out", "ee.key", "--passphrase-env", "DELEGATION_SECRET")
    key = read_key_file("ee.key", b"s3cret words")
    assert out == key.verifier_key().to_text() + "\n"
    assert key.name == f"{ORIGIN}/ee"
    assert stat.S_IMODE(os.stat("ee.key").st_mode) == 0o600
    content = Path("ee.key").read_text()
    assert content.startswith(f"{KEY_FILE_MAGIC} {out.strip()}\nscrypt log2N=17 r=8 p=1 salt=")
    assert Path("ee.key.pub").read_text() == out
    assert "scrypt" not in out and "sealed" not in out


def test_keygen_without_actor_makes_the_operator_key_named_after_the_origin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = ok("keygen", "--origin", ORIGIN, "--out", "operator.key")
    assert VerifierKey.from_text(out.strip()).name == ORIGIN
    assert read_key_file("operator.key", PASSPHRASE.encode()).verifier_key().to_text() == out.strip()


def test_keygen_asks_for_the_passphrase_twice_when_its_variable_is_unset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ACCORD_PASSPHRASE")
    result = invoke(["keygen", "--origin", ORIGIN, "--actor", "ee", "--out", "ee.key"], input="typed at the prompt\ntyped at the prompt\n")
    no_traceback(result)
    assert result.exit_code == 0
    assert result.stderr == "Passphrase for ee.key: \nRepeat for confirmation: \n"
    assert "typed at the prompt" not in result.stdout + result.stderr
    assert read_key_file("ee.key", b"typed at the prompt").verifier_key().to_text() == result.stdout.strip()


def test_keygen_refuses_to_overwrite_an_existing_key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    first = ok("keygen", "--origin", ORIGIN, "--actor", "ee", "--out", "ee.key")
    one_line_error("keygen", "--origin", ORIGIN, "--actor", "ee", "--out", "ee.key", message="accord: key file: ee.key already exists; refusing to overwrite a key")
    assert read_key_file("ee.key", PASSPHRASE.encode()).verifier_key().to_text() == first.strip()


def test_keygen_refuses_an_empty_passphrase(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ACCORD_PASSPHRASE", "")
    one_line_error("keygen", "--origin", ORIGIN, "--actor", "ee", "--out", "ee.key", code=2,
                   message="accord: key file: empty passphrase for ee.key: a key file is always encrypted")
    assert not Path("ee.key").exists()


# charter draft, sign, init


def test_charter_draft_turns_toml_into_the_canonical_unsigned_charter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("charter.toml").write_text(charter_toml(withdrawal_notice="90d"), encoding="utf-8")
    out = ok("charter", "draft", "charter.toml", "--signed-at", "2026-11-24T12:00:00Z")
    statement = Statement.from_text(out)
    assert out == statement.to_text() and out.count("\n") == 1
    assert (statement.origin, statement.kind, statement.actor, statement.signed_at) == (ORIGIN, "charter", OPERATOR, "2026-11-24T12:00:00Z")
    body = statement.body
    assert body["operator"] == verifier(OPERATOR).to_text()
    assert [member["id"] for member in body["members"]] == list(MEMBERS)
    assert body["members"][0] == {"id": "de", "name": "DE", "keys": [verifier("de").to_text()], "affiliations": ["NATO", "EU"]}
    assert body["observers"] == [{"id": "in", "name": "India", "keys": [verifier("in").to_text()]}]
    assert body["categories"] == {"military-operation": {"procedure": "ratification", "min_period": "0s"}}
    assert (body["withdrawal_notice"], body["signed_at_skew"]) == ("90d", "7d")


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("origin = \n", "accord: charter: not TOML: Invalid value (at line 1, column 10)"),
        ('colour = "blue"\n' + charter_toml(), "accord: charter: unknown field colour"),
        (charter_toml().replace('name = "DE"', 'name = "DE"\nflag = "black-red-gold"'), "accord: charter: [[member]] 1: unknown field flag"),
        (charter_toml().replace('name = "FR"\n', ""), "accord: charter: [[member]] 2: want id, name and keys"),
        (charter_toml().replace('procedure = "ratification"', 'procedure = "majority"'),
         "accord: categories.military-operation.procedure: got 'majority', want one of consensus, ratification, consensus-minus-concerned"),
    ],
    ids=["bad-toml", "unknown-field", "unknown-member-field", "member-without-name", "unknown-procedure"],
)
def test_charter_draft_refuses_bad_toml_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, toml: str, message: str) -> None:
    monkeypatch.chdir(tmp_path)
    Path("charter.toml").write_text(toml, encoding="utf-8")
    one_line_error("charter", "draft", "charter.toml", message=message)


def test_sign_adds_one_signature_line_per_key_and_never_repeats_a_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for actor in ("de", "fr"):
        write_key(tmp_path, actor)
    ok("prepare", "statement.make", "--origin", ORIGIN, "--actor", "de", "--field", "text=Joint declaration", "--out", "joint.json")
    unsigned = Path("joint.json").read_text()
    result = invoke(["sign", "joint.json", "--key", "de.key"])
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr == f"signed joint.json as {label('de')}\n"
    ok("sign", "joint.json", "--key", "fr.key")
    ok("sign", "joint.json", "--key", "de.key")
    note = Note.from_text(Path("joint.json").read_text())
    assert note.text == unsigned
    assert sorted(signature.name for signature in note.signatures) == [f"{ORIGIN}/de", f"{ORIGIN}/fr"]
    assert sorted(key.label for key in known_signers(note, [verifier("de"), verifier("fr")])) == [label("de"), label("fr")]


def test_sign_works_offline_in_an_empty_directory_with_no_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    embassy = tmp_path / "embassy"
    embassy.mkdir()
    write_key(embassy, "fr")
    monkeypatch.chdir(embassy)
    ok("prepare", "vote.cast", "--origin", ORIGIN, "--actor", "fr", "--field", "proposal=P-3", "--field", "position=approve", "--out", "vote.json")
    ok("sign", "vote.json", "--key", "fr.key")
    assert sorted(os.listdir(embassy)) == ["fr.key", "vote.json"]
    note = Note.from_text(Path("vote.json").read_text())
    assert known_signers(note, [verifier("fr")]) == [verifier("fr")]


def test_sign_out_dash_prints_the_signed_note_and_leaves_the_file_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_key(tmp_path, "fr")
    ok("prepare", "vote.cast", "--origin", ORIGIN, "--actor", "fr", "--field", "proposal=P-3", "--field", "position=object", "--out", "vote.json")
    before = Path("vote.json").read_text()
    result = invoke(["sign", "vote.json", "--key", "fr.key", "--out", "-"])
    assert result.exit_code == 0 and result.stderr == ""
    assert Note.from_text(result.stdout).text == before
    assert Path("vote.json").read_text() == before


def test_sign_reads_the_passphrase_from_the_variable_named_by_passphrase_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_key(tmp_path, "fr", passphrase="embassy secret")
    monkeypatch.setenv("EMBASSY_SECRET", "embassy secret")
    ok("prepare", "vote.cast", "--origin", ORIGIN, "--actor", "fr", "--field", "proposal=P-3", "--field", "position=object", "--out", "vote.json")
    ok("sign", "vote.json", "--key", "fr.key", "--passphrase-env", "EMBASSY_SECRET")
    assert len(Note.from_text(Path("vote.json").read_text()).signatures) == 1


def test_init_prints_the_trust_anchor_which_is_the_charter_leaf_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ACCORD_STORE", sqlite_store(tmp_path))
    anchor = found_council(tmp_path)
    council = Council(tmp_path, anchor)
    assert anchor == council.entry(0).leaf_hash().hex()
    assert council.view("status")["anchor"] == anchor
    assert council.size() == 1


def test_init_on_a_ledger_that_exists_is_refused(council: Council) -> None:
    council.refused("init", "charter.note", message=f"accord: init: {council.store} already holds a ledger of 1 entries")


def test_init_with_a_charter_a_founding_member_did_not_sign_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ACCORD_STORE", sqlite_store(tmp_path))
    for actor in (OPERATOR, *MEMBERS):
        write_key(tmp_path, actor)
    Path("charter.toml").write_text(charter_toml(), encoding="utf-8")
    Path("charter.note").write_text(ok("charter", "draft", "charter.toml"))
    for founder in (OPERATOR, "de", "fr", "pl"):
        ok("sign", "charter.note", "--key", key_file_name(founder))
    one_line_error("init", "charter.note", message="accord: charter: not signed by founding member ua")
    assert not (tmp_path / "accord.db").exists()  # nothing appended, and no store left behind (issue 13 item 6)


# prepare


def valid_body(kind: str) -> dict[str, Any]:
    """A body of ``kind`` that passes every check needing no ledger (as ``de`` says it)."""
    tally = {"approve": 4, "object": 0, "abstain": 0, "silent": 0}
    bodies: dict[str, dict[str, Any]] = {
        "membership.suspend": {"reason": "Elections at home"},
        "membership.resume": {},
        "membership.withdraw": {},
        "affiliation.declare": {"affiliations": ["NATO", "EU"]},
        "accession": {"proposal": "P-1"},
        "civil-society.register": {"name": "DE", "kind": "ngo", "countries": ["de"], "keys": [verifier("de").to_text()]},
        "key.add": {"key": signer("de", 1).verifier_key().to_text()},
        "key.revoke": {"key": verifier("de").to_text(), "replacement": signer("de", 1).verifier_key().to_text()},
        "proposal.submit": {"category": "general", "title": "Baltic exercise", "text": "The council resolves ...", "deadline": "2026-12-08T12:00:00Z"},
        "vote.cast": {"proposal": "P-1", "position": "approve", "explanation": "With a mandate"},
        "proposal.withdraw": {"proposal": "P-1"},
        "proposal.close": {"proposal": "P-1", "submission": 1, "outcome": "adopted", "tally": tally, "decision": "D-1"},
        "decision.attach": {"decision": "D-1", "type": "reservation", "text": "Without prejudice"},
        "statement.make": {"text": "India offers to mediate.", "about": "P-1"},
        "appeal.file": {"title": "Border crossings", "text": "Workers report ...", "concerned": ["pl"], "urgency": "high"},
        "appeal.acknowledge": {"appeal": "A-1"},
        "appeal.answer": {"appeal": "A-1", "text": "Referred to the council."},
    }
    return bodies[kind]


@pytest.mark.parametrize("kind", check_statement_kinds()[1:])
def test_prepare_writes_an_unsigned_statement_of_every_kind_from_body_and_fields(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    body = valid_body(kind)
    fields = [f"{name}={json.dumps(value) if not isinstance(value, str) else value}" for name, value in body.items()][:1]
    given = {**{name: "from --body" for name in body}, **{name: value for name, value in body.items() if name != next(iter(body), None)}}
    options = ["--body", json.dumps(given)] + [option for field in fields for option in ("--field", field)] if body else []
    out = ok("prepare", kind, "--origin", ORIGIN, "--actor", "de", "--signed-at", "2026-11-24T12:00:00Z", *options)
    statement = Statement.from_text(out)
    assert out == statement.to_text()
    assert (statement.origin, statement.kind, statement.actor, statement.signed_at) == (ORIGIN, kind, "de", "2026-11-24T12:00:00Z")
    assert statement.body == body
    assert os.listdir(tmp_path) == []


def test_prepare_out_writes_the_statement_to_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert ok("prepare", "statement.make", "--origin", ORIGIN, "--actor", "in", "--field", "text=Hello", "--out", "said.json") == ""
    assert Statement.from_text(Path("said.json").read_text()).body == {"text": "Hello"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--body", "{bad"], "Invalid value for '--body': not JSON: Expecting property name enclosed in double quotes at char 1"),
        (["--body", "[1, 2]"], "Invalid value for '--body': want a JSON object, got list"),
    ],
    ids=["body-not-json", "body-not-object"],
)
def test_prepare_refuses_a_malformed_body_as_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    result = fails("prepare", "vote.cast", "--origin", ORIGIN, "--actor", "de", *args, code=2)
    assert message in result.stderr


def test_prepare_field_without_equals_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = fails("prepare", "vote.cast", "--origin", ORIGIN, "--actor", "de", "--field", "approve", code=2)
    assert "Error: Invalid value for --field: want NAME=VALUE, got 'approve'" in result.stderr


def test_prepare_refuses_the_charter_kind_which_charter_draft_makes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = fails("prepare", "charter", "--origin", ORIGIN, "--actor", "operator", code=2)
    assert "'charter' is not one of" in result.stderr


# submit


def test_submit_with_operator_key_appends_and_writes_a_receipt_that_proves_the_entry(council: Council) -> None:
    proposal = council.propose()
    prepared_vote(council, "fr", proposal)
    out = ok("submit", "vote.json", "--operator-key", council.key(OPERATOR))
    assert out == "entry 2: vote.cast by fr\n"
    entry = council.entry(2)
    assert entry.statement == Path("vote.json").read_text()
    assert_receipt_proves(Path("vote.json.proof").read_text(), entry)


def test_submit_receipt_option_chooses_where_the_receipt_goes(council: Council) -> None:
    proposal = council.propose()
    prepared_vote(council, "fr", proposal)
    ok("submit", "vote.json", "--operator-key", council.key(OPERATOR), "--receipt", "fr-vote.proof")
    assert not Path("vote.json.proof").exists()
    assert_receipt_proves(Path("fr-vote.proof").read_text(), council.entry(2))


def test_submit_without_operator_key_appends_and_explains_on_stderr_why_there_is_no_receipt(council: Council) -> None:
    proposal = council.propose()
    prepared_vote(council, "fr", proposal)
    result = invoke(["submit", "vote.json"])
    no_traceback(result)
    assert result.exit_code == 0
    assert result.stdout == "entry 2: vote.cast by fr\n"
    assert result.stderr == (
        "accord: no checkpoint covers entry 2 yet: the operator publishes one with 'accord checkpoint --sign', "
        "then 'accord prove 2' writes the receipt\n"
    )
    assert not Path("vote.json.proof").exists()
    assert council.size() == 3


# propose, vote, withdraw, close


def test_propose_prints_the_proposal_id_and_the_proposal_is_open(council: Council, clock: FakeClock) -> None:
    first = council.propose("de", "general")
    out = ok("propose", "--category", "joint-exercise", "--title", "Baltic exercise", "--text", "In June.", "--deadline", "+14d",
             "--ref", first, "--key", council.key("pl"))
    assert out == "P-2\n"
    proposal = council.view("show", "P-2")["item"]
    assert (proposal["status"], proposal["proposer"], proposal["category"], proposal["procedure"]) == ("open", "pl", "joint-exercise", "consensus")
    assert (proposal["title"], proposal["text"]) == ("Baltic exercise", "In June.")
    assert proposal["deadline"] == format_time(clock.now + 14 * 86_400)
    assert proposal["references"] == ["P-1"]
    assert proposal["not_yet_voted"] == sorted(MEMBERS)


def test_propose_reads_the_text_from_a_file_and_records_concerned_members(council: Council) -> None:
    Path("finding.txt").write_text("Airspace violations were observed.\n", encoding="utf-8")
    out = ok("propose", "--category", "violation-finding", "--title", "Finding", "--text-file", "finding.txt", "--deadline", "+1h",
             "--concerned", "ua", "--key", council.key("pl"))
    proposal = council.view("show", out.strip())["item"]
    assert proposal["text"] == "Airspace violations were observed.\n"
    assert proposal["concerned"] == ["ua"]
    assert proposal["electorate"] == ["de", "fr", "pl"]


@pytest.mark.parametrize("text_args", [[], ["--text", "x", "--text-file", "charter.toml"]], ids=["neither", "both"])
def test_propose_needs_exactly_one_of_text_and_text_file(council: Council, text_args: list[str]) -> None:
    result = fails("propose", "--category", "general", "--title", "t", *text_args, "--deadline", "+1h", "--key", council.key("de"), code=2)
    assert "Error: give exactly one of --text and --text-file" in result.stderr


def test_vote_prints_the_entry_and_a_later_vote_replaces_the_earlier_position(council: Council) -> None:
    proposal = council.propose()
    assert ok("vote", proposal, "object", "--explanation", "Cost unclear", "--key", council.key("ua")) == f"entry 2: object on {proposal}\n"
    assert ok("vote", proposal, "abstain", "--key", council.key("ua")) == f"entry 3: abstain on {proposal}\n"
    item = council.view("show", proposal)["item"]
    assert [(vote["actor"], vote["position"], vote["index"]) for vote in item["votes"]] == [("ua", "abstain", 3)]
    assert item["tally"] == {"approve": 0, "object": 0, "abstain": 1, "silent": 3}
    assert '"explanation":"Cost unclear"' in council.entry(2).statement


def test_proposer_withdraws_an_open_proposal(council: Council) -> None:
    proposal = council.propose("fr")
    assert ok("withdraw", proposal, "--key", council.key("fr")) == f"entry 2: {proposal} withdrawn\n"
    assert council.view("show", proposal)["item"]["status"] == "withdrawn"


def test_withdrawal_of_another_members_proposal_is_refused(council: Council) -> None:
    proposal = council.propose("fr")
    council.refused("withdraw", proposal, "--key", council.key("de"), message=f"accord: proposal.withdraw: {proposal} was proposed by fr, not de")


def test_close_after_unanimous_approval_adopts_early_and_numbers_the_binding_decision(council: Council) -> None:
    proposal = council.propose()
    for member in MEMBERS:
        council.vote(member, proposal)
    out = council.close(proposal)
    assert out == f"entry 6: {proposal} adopted (4 approve, 0 object, 0 abstain, 0 silent): binding decision D-1\n"
    decision = council.view("decisions")["decisions"][0]
    assert (decision["id"], decision["proposal"], decision["adopted"]) == ("D-1", proposal, 6)


def test_close_after_the_deadline_rejects_a_proposal_a_member_objected_to(council: Council, clock: FakeClock) -> None:
    proposal = council.propose(deadline="+60s")
    council.vote("ua", proposal, "object")
    clock.advance(60)
    assert council.close(proposal, "de") == f"entry 3: {proposal} rejected (0 approve, 1 object, 0 abstain, 3 silent)\n"
    assert council.view("show", proposal)["item"]["status"] == "rejected"
    assert council.view("decisions")["decisions"] == []


def test_close_after_the_deadline_of_a_ratification_with_an_abstention_rejects_it(council: Council, clock: FakeClock) -> None:
    proposal = council.propose("fr", "military-operation", "+60s")
    for member in ("de", "fr", "pl"):
        council.vote(member, proposal)
    council.vote("ua", proposal, "abstain")
    clock.advance(60)
    assert council.close(proposal) == f"entry 6: {proposal} rejected (3 approve, 0 object, 1 abstain, 0 silent)\n"


def test_close_of_a_proposal_that_is_not_open_is_refused(council: Council) -> None:
    proposal = council.propose()
    council.adopt(proposal)
    council.refused("close", proposal, "--key", council.key(OPERATOR), message=f"accord: close: {proposal} is not an open proposal")


# attach, say, appeals


def test_attach_reservation_and_interpretative_statement_to_a_binding_decision(council: Council) -> None:
    decision = council.adopt(council.propose())
    out = ok("attach", decision, "--reservation", "--text", "Without prejudice to our neutrality", "--key", council.key("ua"))
    assert out == f"entry 7: reservation attached to {decision}\n"
    assert ok("attach", decision, "--interpretative", "--text", "Read narrowly", "--key", council.key("fr")) == f"entry 8: interpretative attached to {decision}\n"
    attached = council.view("decisions")["decisions"][0]["attachments"]
    assert [(a["type"], a["actor"], a["text"]) for a in attached] == [
        ("reservation", "ua", "Without prejudice to our neutrality"),
        ("interpretative", "fr", "Read narrowly"),
    ]


def test_attach_without_a_type_is_a_usage_error(council: Council) -> None:
    decision = council.adopt(council.propose())
    result = fails("attach", decision, "--text", "x", "--key", council.key("ua"), code=2)
    assert "Error: give one of --interpretative and --reservation" in result.stderr


def test_observer_statement_about_a_proposal_is_shown_with_the_proposal(council: Council) -> None:
    proposal = council.propose()
    assert ok("say", "--text", "India offers to mediate.", "--about", proposal, "--key", council.key("in")) == f"entry 2: statement made about {proposal}\n"
    assert ok("say", "--text", "A general remark.", "--key", council.key("in")) == "entry 3: statement made\n"
    statements = council.view("show", proposal)["item"]["statements"]
    assert [(s["actor"], s["text"]) for s in statements] == [("in", "India offers to mediate.")]


def test_appeal_is_filed_by_civil_society_acknowledged_answered_and_referred(council: Council) -> None:
    assert council.register() == "entry 1: registered European Trade Union Confederation\n"
    out = ok("appeal", "file", "--title", "Dock workers fear escalation", "--text", "Munitions through civilian ports.",
             "--concerned", "pl", "--urgency", "high", "--key", council.key("etuc"))
    assert out == "A-1\n"
    assert council.view("appeals")["appeals"][0]["status"] == "unanswered"
    assert ok("appeal", "acknowledge", "A-1", "--key", council.key("pl")) == "entry 3: A-1 acknowledged\n"
    assert ok("appeal", "answer", "A-1", "--text", "Referred to the council.", "--key", council.key(OPERATOR)) == "entry 4: A-1 answered\n"
    council.propose("pl", "risk-assessment", "+14d", "--ref", "A-1")
    appeal = council.view("show", "A-1")["item"]
    assert (appeal["status"], appeal["filer"], appeal["urgency"], appeal["concerned"]) == ("answered", "etuc", "high", ["pl"])
    assert [(r["type"], r["actor"], r["text"]) for r in appeal["responses"]] == [("acknowledgment", "pl", None), ("answer", "operator", "Referred to the council.")]
    assert appeal["referred_by"] == ["P-1"]


# membership, affiliation, keys, register, accede


def standing(council: Council, actor: str) -> str:
    found: str = council.view("show", actor)["item"]["standing"]
    return found


def test_membership_suspend_resume_and_withdraw_change_the_standing(council: Council) -> None:
    assert ok("membership", "suspend", "--reason", "Elections at home", "--key", council.key("ua")) == "entry 1: participation suspended\n"
    assert standing(council, "ua") == "suspended"
    assert ok("membership", "resume", "--key", council.key("ua")) == "entry 2: participation resumed\n"
    assert standing(council, "ua") == "active"
    assert ok("membership", "withdraw", "--reason", "Sovereign decision", "--key", council.key("pl")) == (
        "entry 3: withdrawal notified; final after the notice period\n"
    )
    assert standing(council, "pl") == "withdrawn"
    assert '"reason":"Elections at home"' in council.entry(1).statement


def test_affiliation_declaration_replaces_the_earlier_list(council: Council) -> None:
    assert ok("affiliation", "NATO", "EU", "OSCE", "--key", council.key("ua")) == "entry 1: affiliations: NATO, EU, OSCE\n"
    assert council.view("show", "ua")["item"]["affiliations"] == ["NATO", "EU", "OSCE"]
    assert ok("affiliation", "--key", council.key("ua")) == "entry 2: affiliations: none\n"
    assert council.view("show", "ua")["item"]["affiliations"] == []


def test_key_rotation_adds_a_key_signed_by_both_and_revokes_the_old_one(council: Council) -> None:
    new_key = council.key("de", 1)
    assert ok("key", "add", "--key", council.key("de"), "--new-key", new_key) == f"entry 1: added key {label('de', 1)}\n"
    Path("de-old.pub").write_text(council.verifier_key("de") + "\n")
    assert ok("key", "revoke", "--key", new_key, "--revoke", "de-old.pub") == f"entry 2: revoked key {label('de')}\n"
    keys = council.view("show", "de")["item"]["keys"]
    assert keys == [
        {"key": council.verifier_key("de"), "added": 0, "revoked": 2},
        {"key": council.verifier_key("de", 1), "added": 1, "revoked": None},
    ]
    assert Note.from_text(council.entry(1).statement).signatures[1].name == f"{ORIGIN}/de"


def test_key_revoke_of_the_last_key_needs_a_replacement_which_signs_too(council: Council) -> None:
    council.refused("key", "revoke", "--key", council.key("fr"), "--revoke", council.verifier_key("fr"),
                    message=f"accord: key.revoke: {label('fr')} is the last valid key of fr; name a replacement")
    out = ok("key", "revoke", "--key", council.key("fr"), "--revoke", council.verifier_key("fr"), "--replacement-key", council.key("fr", 1))
    assert out == f"entry 1: revoked key {label('fr')}\n"
    assert [k["revoked"] for k in council.view("show", "fr")["item"]["keys"]] == [1, None]


def test_civil_society_registers_itself_with_its_own_key(council: Council) -> None:
    council.register()
    actor = council.view("show", "etuc")["item"]
    assert (actor["role"], actor["standing"], actor["kind"], actor["countries"]) == ("civil-society", "active", "trade-union", ["de"])
    assert actor["keys"] == [{"key": council.verifier_key("etuc"), "added": 1, "revoked": None}]


def test_admitted_candidate_accedes_with_its_key_and_becomes_a_member(council: Council) -> None:
    candidate = {"candidate": {"id": "md", "name": "Moldova", "role": "member", "keys": [council.verifier_key("md")]}}
    proposal = council.propose("de", "admission", "+1h", "--effect", json.dumps(candidate))
    council.adopt(proposal)
    assert ok("accede", proposal, "--key", council.key("md")) == f"entry 7: acceded by {proposal}\n"
    member = council.view("show", "md")["item"]
    assert (member["role"], member["standing"], member["joined"]) == ("member", "active", 7)
    next_proposal = council.propose()
    assert "md" in council.view("show", next_proposal)["item"]["electorate"]


# read commands


READ_COMMANDS = [["status"], ["members"], ["proposals"], ["show", "P-1"], ["decisions"], ["appeals"], ["log"]]


@pytest.mark.parametrize("command", READ_COMMANDS, ids=lambda c: c[0])
def test_read_command_json_is_a_versioned_document_and_nothing_else_on_stdout(busy_council: Council, command: list[str]) -> None:
    result = invoke([*command, "--json"])
    no_traceback(result)
    assert result.exit_code == 0 and result.stderr == ""
    document = json.loads(result.stdout)
    assert document["version"] == 1
    assert document["kind"] == {"show": "item", "log": "log"}.get(command[0], command[0])
    text = ok(*command)
    assert text.strip() and not text.lstrip().startswith("{")


def test_status_names_the_ledger_its_size_anchor_and_checkpoint(busy_council: Council) -> None:
    document = busy_council.view("status")
    assert (document["origin"], document["name"], document["size"], document["anchor"]) == (ORIGIN, "European Security Council", 12, busy_council.anchor)
    assert document["checkpoint"] is not None and Checkpoint.from_text(Note.from_text(document["checkpoint"]).text).size == 1


def test_proposals_open_lists_open_proposals_with_live_tally_and_who_has_not_voted(busy_council: Council) -> None:
    found = busy_council.view("proposals", "--open")["proposals"]
    assert [p["id"] for p in found] == ["P-2"]
    assert found[0]["tally"] == {"approve": 0, "object": 1, "abstain": 0, "silent": 3}
    assert found[0]["not_yet_voted"] == ["de", "pl", "ua"]
    assert [p["id"] for p in busy_council.view("proposals")["proposals"]] == ["P-1", "P-2"]


def test_log_from_and_limit_page_through_the_entries_as_logged(busy_council: Council) -> None:
    page = busy_council.view("log", "--from", "3", "--limit", "2")
    assert page["size"] == 12
    assert [entry["index"] for entry in page["entries"]] == [3, 4]
    assert page["entries"][0]["statement"] == busy_council.log()["entries"][3]["statement"]


@pytest.mark.parametrize(
    ("command", "check"),
    [
        (["status"], lambda d: d["size"] == 8),
        (["members"], lambda d: "etuc" in [a["id"] for a in d["actors"]] and d["as_of"] == 7),
        (["proposals"], lambda d: [(p["id"], p["status"]) for p in d["proposals"]] == [("P-1", "adopted")]),
        (["show", "P-1"], lambda d: d["item"]["decision"] == "D-1"),
        (["decisions"], lambda d: [x["id"] for x in d["decisions"]] == ["D-1"]),
        (["appeals"], lambda d: d["appeals"] == []),
    ],
    ids=lambda c: c[0] if isinstance(c, list) else "",
)
def test_read_command_as_of_reads_the_view_at_that_entry(busy_council: Council, command: list[str], check: Any) -> None:
    document = busy_council.view(*command, "--as-of", "7")
    assert document.get("as_of", 7) == 7
    assert check(document), document


def test_as_of_before_a_change_shows_the_earlier_view(busy_council: Council) -> None:
    assert [a["id"] for a in busy_council.view("members", "--as-of", "0")["actors"]] == ["de", "fr", "pl", "ua", "in", "operator"]
    assert busy_council.view("proposals", "--as-of", "1")["proposals"] == []
    before_votes = busy_council.view("show", "P-1", "--as-of", "2")["item"]
    assert (before_votes["status"], before_votes["votes"]) == ("open", [])
    assert busy_council.view("decisions", "--as-of", "6")["decisions"] == []
    assert busy_council.view("status", "--as-of", "0")["size"] == 1


def test_log_as_of_reads_the_entries_up_to_that_entry(busy_council: Council) -> None:
    document = busy_council.view("log", "--as-of", "3")
    assert [entry["index"] for entry in document["entries"]] == [0, 1, 2, 3]


def test_status_as_of_does_not_report_a_checkpoint_from_after_that_entry(busy_council: Council) -> None:
    busy_council.checkpoint()
    document = busy_council.view("status", "--as-of", "0")
    assert document["size"] == 1
    checkpoint = document["checkpoint"]
    assert checkpoint is None or Checkpoint.from_text(Note.from_text(checkpoint).text).size <= 1


def test_as_of_beyond_the_head_is_refused(busy_council: Council) -> None:
    one_line_error("members", "--as-of", "99", message="accord: ledger: no entry 99: the log has entries 0 to 11")


def test_show_of_an_unknown_item_is_refused(busy_council: Council) -> None:
    one_line_error("show", "P-9", message="accord: show: no P-9 on this ledger as of entry 11")
    one_line_error("show", "P-2", "--as-of", "3", message="accord: show: no P-2 on this ledger as of entry 3")


@pytest.mark.parametrize("command", [c for c in READ_COMMANDS if c[0] != "log"], ids=lambda c: c[0])
def test_read_command_on_a_store_without_a_ledger_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]) -> None:
    monkeypatch.chdir(tmp_path)
    store = sqlite_store(tmp_path)
    monkeypatch.setenv("ACCORD_STORE", store)
    one_line_error(*command, message=f"accord: ledger: no ledger in {store}: create one with accord init")


# checkpoint, cosign, prove


def test_checkpoint_sign_publishes_a_checkpoint_of_the_head_signed_by_the_operator(council: Council) -> None:
    council.propose()
    out = council.checkpoint()
    checkpoint, note = open_checkpoint(out, verifier(OPERATOR))
    assert (checkpoint.origin, checkpoint.size) == (ORIGIN, 2)
    assert ok("checkpoint") == out


def test_checkpoint_when_none_was_published_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ACCORD_STORE", sqlite_store(tmp_path))
    for actor in (OPERATOR, *MEMBERS):
        write_key(tmp_path, actor)
    Path("charter.toml").write_text(charter_toml(), encoding="utf-8")
    Path("charter.note").write_text(ok("charter", "draft", "charter.toml"))
    for founder in (OPERATOR, *MEMBERS):
        ok("sign", "charter.note", "--key", key_file_name(founder))
    ok("init", "charter.note")
    one_line_error("checkpoint", message="accord: checkpoint: none published yet: the operator signs one with accord checkpoint --sign")


def test_checkpoint_sign_without_the_operator_key_is_a_usage_error(council: Council) -> None:
    result = fails("checkpoint", "--sign", code=2)
    assert "Error: --sign needs --operator-key (or ACCORD_OPERATOR_KEY)" in result.stderr


def test_checkpoint_sign_with_a_key_that_is_not_the_operators_is_refused(council: Council) -> None:
    council.propose()
    before = ok("checkpoint")
    result = fails("checkpoint", "--sign", "--operator-key", council.key("de"))
    assert result.stderr.startswith("accord: ") and result.stderr.count("\n") == 1
    assert ok("checkpoint") == before
    council.checkpoint()
    ok("verify", "--anchor", council.anchor)


def witness_memory(council: Council, actor: str) -> dict[str, Any]:
    memory: dict[str, Any] = json.loads((council.directory / f"{key_file_name(actor)}.witness").read_text())
    return memory


def test_cosign_adds_a_verifiable_cosignature_and_remembers_what_it_cosigned(council: Council) -> None:
    council.propose()
    council.checkpoint()
    assert ok("cosign", "--key", council.key("fr")) == f"cosigned checkpoint of size 2 as {signer('fr').cosigner_key().label}\n"
    assert ok("cosign", "--key", council.key("in"), "--state", "india.json") == f"cosigned checkpoint of size 2 as {signer('in').cosigner_key().label}\n"
    note = Note.from_text(ok("checkpoint"))
    verify_cosignature(note, signer("fr").cosigner_key())
    verify_cosignature(note, signer("in").cosigner_key())
    checkpoint = Checkpoint.from_text(note.text)
    assert witness_memory(council, "fr") == {"origin": ORIGIN, "size": 2, "root": checkpoint.root_hash.hex()}
    assert json.loads(Path("india.json").read_text())["size"] == 2


def test_cosign_refuses_a_checkpoint_inconsistent_with_the_one_it_cosigned_before(council: Council) -> None:
    council.propose()
    council.checkpoint()
    ok("cosign", "--key", council.key("fr"))
    memory = witness_memory(council, "fr")
    genuine_root = bytes.fromhex(memory["root"])
    forged_root = bytes(32 * [0xAB])
    memory["root"] = forged_root.hex()  # the witness remembers another history of size 2
    state_file = council.directory / "fr.key.witness"
    state_file.write_text(json.dumps(memory))
    council.vote("de", "P-1")
    council.checkpoint()
    before = ok("checkpoint")
    current = Checkpoint.from_text(Note.from_text(before).text)
    with Ledger.open(council.store) as ledger:
        proof = ledger.log.consistency_proof(2, 3)
    verify_consistency(2, 3, genuine_root, current.root_hash, proof)  # the genuine history is consistent
    with pytest.raises(ProofError) as mismatch:
        verify_consistency(2, 3, forged_root, current.root_hash, proof)
    one_line_error("cosign", "--key", council.key("fr"), message=(
        f"accord: cosign: checkpoint of size 3 is not consistent with size 2 cosigned before: {mismatch.value.problem}"
    ))
    assert ok("checkpoint") == before
    assert json.loads(state_file.read_text()) == memory


def test_cosign_refuses_a_checkpoint_older_than_the_one_it_cosigned_before(council: Council) -> None:
    ok("cosign", "--key", council.key("fr"))
    memory = witness_memory(council, "fr")
    memory["size"] = 5
    (council.directory / "fr.key.witness").write_text(json.dumps(memory))
    one_line_error("cosign", "--key", council.key("fr"), message="accord: cosign: checkpoint of size 1 is older than the size 5 cosigned before")


@pytest.mark.parametrize("actor", ["etuc", "xx", OPERATOR])
def test_cosign_by_a_key_that_is_not_a_members_or_observers_is_refused(council: Council, actor: str) -> None:
    if actor == "etuc":
        council.register()
    before = ok("checkpoint")
    one_line_error("cosign", "--key", council.key(actor), message=f"accord: cosign: {signer(actor).name} is not a valid key of a member or observer of this ledger")
    assert ok("checkpoint") == before


@pytest.mark.parametrize("memory", ["not json\n", '{"size": 1}\n', '{"origin": "x", "size": 1, "root": "zz"}\n'], ids=["not-json", "no-root", "root-not-hex"])
def test_cosign_with_a_corrupt_witness_state_file_is_refused_in_one_line(council: Council, memory: str) -> None:
    (council.directory / "fr.key.witness").write_text(memory)
    result = fails("cosign", "--key", council.key("fr"))
    assert result.stderr.startswith("accord: cosign: ") and result.stderr.count("\n") == 1


@pytest.mark.parametrize(("item", "index"), [("4", 4), ("P-1", 2), ("D-1", 7), ("A-1", 8)])
def test_prove_writes_a_receipt_of_an_entry_proposal_decision_or_appeal_that_verifies(busy_council: Council, item: str, index: int) -> None:
    busy_council.checkpoint()
    assert_receipt_proves(ok("prove", item), busy_council.entry(index))


def test_prove_out_writes_the_receipt_to_a_file(busy_council: Council) -> None:
    busy_council.checkpoint()
    assert ok("prove", "D-1", "--out", "d1.proof") == ""
    assert_receipt_proves(Path("d1.proof").read_text(), busy_council.entry(7))


def test_prove_of_an_entry_no_checkpoint_covers_is_refused(busy_council: Council) -> None:
    one_line_error("prove", "P-2", message="accord: log: no checkpoint covers entry 9 yet; publish one first")


@pytest.mark.parametrize("item", ["P-7", "X-1", "D-", "\u0661\u0662", "\u00b2", "\uff11"], ids=["P-7", "X-1", "D-", "arabic-indic-12", "superscript-2", "fullwidth-1"])
def test_prove_of_an_unknown_id_is_a_usage_error(busy_council: Council, item: str) -> None:
    result = fails("prove", item, code=2)
    assert f"want an entry index, P-n, D-n or A-n on this ledger, got {item!r}" in result.stderr


# verify, rebuild


def test_verify_replays_the_whole_log_and_exits_0(busy_council: Council) -> None:
    busy_council.checkpoint()
    out = ok("verify", "--anchor", busy_council.anchor)
    assert out.startswith("verified 12 entries from the charter")
    result = invoke(["verify", "--anchor", busy_council.anchor, "--json"])
    assert result.exit_code == 0 and result.stderr == ""
    document = json.loads(result.stdout)
    assert (document["version"], document["kind"], document["ok"], document["entries"], document["anchor"]) == (1, "verification", True, 12, busy_council.anchor)
    assert document["checkpoint"]["size"] == 12


def test_verify_with_a_wrong_anchor_names_entry_0(busy_council: Council) -> None:
    wrong = "00" * 32
    one_line_error("verify", "--anchor", wrong,
                   message=f"accord: entry 0: charter: leaf hash {busy_council.anchor} is not the pinned trust anchor {wrong}")


def test_verify_anchor_that_is_not_a_hash_is_a_usage_error(busy_council: Council) -> None:
    result = fails("verify", "--anchor", "not-hex", code=2)
    assert "Invalid value for --anchor" in result.stderr


def test_verify_checks_the_witness_quorum(council: Council) -> None:
    council.propose()
    council.checkpoint()
    ok("cosign", "--key", council.key("fr"))
    fr, pl = council.witness_key("fr"), council.witness_key("pl")
    assert "1 witness cosignature(s) verified" in ok("verify", "--anchor", council.anchor, "--witness", fr, "--witness", pl, "--witness-quorum", "1")
    # a member's Ed25519 verifier key is accepted as its witness key
    ok("verify", "--anchor", council.anchor, "--witness", council.verifier_key("fr"), "--witness-quorum", "1")
    one_line_error("verify", "--anchor", council.anchor, "--witness", fr, "--witness", pl, "--witness-quorum", "2",
                   message="accord: checkpoint: cosignature: too few witnesses cosigned: got 1, want at least 2")


def test_rebuild_folds_the_same_views_again_from_entry_0(busy_council: Council) -> None:
    views = [busy_council.view(*command) for command in (["members"], ["proposals"], ["decisions"], ["appeals"], ["show", "P-2"])]
    assert ok("rebuild") == "views rebuilt from 12 entries\n"
    assert [busy_council.view(*command) for command in (["members"], ["proposals"], ["decisions"], ["appeals"], ["show", "P-2"])] == views
    busy_council.checkpoint()
    ok("verify", "--anchor", busy_council.anchor)


# --help


def _commands(group: click.Group, path: list[str]) -> list[tuple[list[str], click.Command]]:
    found = []
    for name, command in sorted(group.commands.items()):
        found.append(([*path, name], command))
        if isinstance(command, click.Group):
            found.extend(_commands(command, [*path, name]))
    return found


@pytest.mark.parametrize(
    "path",
    [path for path, _ in [([], accord), *_commands(accord, [])]],
    ids=lambda path: " ".join(path) or "accord",
)
def test_every_command_help_has_an_example(path: list[str]) -> None:
    result = invoke([*path, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.stdout


def test_the_command_line_starts_without_the_http_stack() -> None:
    # Every command pays for what cli.main imports: the HTTP client and server (httpx, Starlette,
    # uvicorn, Jinja2) load only in the commands that talk to or serve a log.
    import subprocess
    import sys

    stacks = ("httpx", "httpcore", "starlette", "uvicorn", "jinja2", "anyio", "server")
    probe = f"import cli.main, sys; print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(stacks)!r}))"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout == "[]\n"
