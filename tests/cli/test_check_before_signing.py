"""Mistakes surface before anyone signs (issue 13): charter draft and prepare run the checks init and submit will run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ledger.note import Note, known_signers
from ledger.statement import Statement
from tests.cli.conftest import Council, charter_toml, fails, ok, one_line_error, verifier, write_key
from tests.domain.scenario import ORIGIN


def prepare_vote(*fields: str) -> list[str]:
    return ["prepare", "vote.cast", "--origin", ORIGIN, "--actor", "fr", *(option for field in fields for option in ("--field", field))]


# charter draft: every check init will run but the signatures.


def test_charter_draft_refuses_a_malformed_withdrawal_notice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("charter.toml").write_text(charter_toml(withdrawal_notice="30 days"), encoding="utf-8")
    one_line_error("charter", "draft", "charter.toml", message="accord: charter: want a duration like 14d, 12h or 0s, got '30 days'")


def test_charter_draft_refuses_a_founder_key_named_for_another_member(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    toml = charter_toml().replace(verifier("de").to_text(), verifier("fr").to_text(), 1)
    Path("charter.toml").write_text(toml, encoding="utf-8")
    one_line_error("charter", "draft", "charter.toml", message=f"accord: charter: key name got '{ORIGIN}/fr', want '{ORIGIN}/de'")


# prepare: every check submit will run that does not need the ledger.


def test_prepare_refuses_a_missing_position(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    one_line_error(*prepare_vote("proposal=P-2"), message="accord: vote.cast: missing field position")


def test_prepare_refuses_an_unknown_position(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    one_line_error(*prepare_vote("proposal=P-2", "position=aprove"), message="accord: vote.cast: position got 'aprove', want one of approve, object, abstain")


def test_prepare_refuses_an_unknown_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    one_line_error(*prepare_vote("proposal=P-2", "position=approve", "colour=blue"), message="accord: vote.cast: unknown field colour")


def test_prepare_refuses_explanation_that_is_not_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    one_line_error(*prepare_vote("proposal=P-2", "position=approve", "explanation=42"), message="accord: vote.cast: explanation must be a string, got 42")


def test_prepare_refuses_a_close_whose_submission_is_json_true(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    tally = '{"approve": 1, "object": 0, "abstain": 0, "silent": 0}'
    args = ["prepare", "proposal.close", "--origin", ORIGIN, "--actor", "operator", "--field", "proposal=P-1", "--field", "submission=true",
            "--field", "outcome=adopted", "--field", f"tally={tally}", "--field", "decision=D-1"]
    one_line_error(*args, message="accord: proposal.close: submission must be an entry index (an integer), got True")
    assert os.listdir(tmp_path) == []


def test_prepare_refuses_a_reference_that_names_no_proposal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    one_line_error(*prepare_vote("proposal=P-02", "position=approve"), message="accord: vote.cast: proposal 'P-02' is not a P-n on this log")


# One-step offline vote.


def test_offline_vote_in_one_step_verifies_and_submits(council: Council) -> None:
    ok("propose", "--category", "general", "--title", "Baltic exercise", "--text", "The council resolves ...", "--deadline", "+7d", "--key", council.key("de"))
    assert ok("vote", "P-1", "approve", "--explanation", "With a mandate", "--key", council.key("fr"), "--offline", "--out", "vote.note") == ""
    note = Note.from_text(Path("vote.note").read_text(encoding="utf-8"))
    assert known_signers(note, [verifier("fr")]) == [verifier("fr")]
    statement = Statement.from_text(note.text)
    assert (statement.origin, statement.kind, statement.actor) == (ORIGIN, "vote.cast", "fr")
    assert statement.body == {"proposal": "P-1", "position": "approve", "explanation": "With a mandate"}
    assert council.size() == 2
    assert ok("submit", "vote.note").startswith("entry 2: vote.cast by fr")
    assert council.size() == 3 and council.entry(2).statement == Path("vote.note").read_text(encoding="utf-8")


def test_offline_vote_reads_no_ledger_and_writes_nothing_else(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ACCORD_STORE", raising=False)
    write_key(tmp_path, "fr")
    note = Note.from_text(ok("vote", "P-9", "object", "--key", "fr.key", "--offline"))
    assert Statement.from_text(note.text).body == {"proposal": "P-9", "position": "object"}
    assert os.listdir(tmp_path) == ["fr.key"]


def test_vote_out_without_offline_is_a_usage_error(council: Council) -> None:
    result = fails("vote", "P-1", "approve", "--key", council.key("fr"), "--out", "vote.note", code=2)
    assert "--out writes an offline vote: give --offline too" in result.stderr
    assert not Path("vote.note").exists()
