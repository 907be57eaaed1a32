"""Hostile arguments and files on the command line (SPEC 10): one line, a non-zero exit, no traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.cli.conftest import fails, ok, one_line_error
from tests.domain.scenario import ORIGIN

DEEP = "[" * 5_000 + "]" * 5_000


def prepare_vote(*options: str) -> list[str]:
    return ["prepare", "vote.cast", "--origin", ORIGIN, "--actor", "fr", *options]


def test_field_nested_deeper_than_64_levels_is_a_usage_error() -> None:
    result = fails(*prepare_vote("--field", f"proposal={DEEP}", "--field", "position=approve"), code=2)
    assert "Invalid value for --field: proposal: JSON nested deeper than 64 levels" in result.stderr


def test_body_nested_deeper_than_64_levels_is_a_usage_error() -> None:
    result = fails(*prepare_vote("--body", '{"proposal": ' + DEEP + "}"), code=2)
    assert "Invalid value for '--body': JSON nested deeper than 64 levels" in result.stderr


def test_charter_toml_nested_deeper_than_64_levels_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("deep.toml").write_text(f'origin = "{ORIGIN}"\nextra = {DEEP[:6000]}\n', encoding="utf-8")
    one_line_error("charter", "draft", "deep.toml", message="accord: charter: TOML nested deeper than 64 levels")


def test_binary_file_given_as_a_key_is_refused_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("bin.key").write_bytes(os.urandom(200) + b"\xff")
    os.chmod("bin.key", 0o600)
    ok(*prepare_vote("--field", "proposal=P-1", "--field", "position=approve", "--out", "vote.json"))
    one_line_error("sign", "vote.json", "--key", "bin.key", message="accord: key file: bin.key is not an Accord key file: not UTF-8 text")


def test_out_onto_a_dangling_symlink_writes_the_file_in_its_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("vote.json").symlink_to(tmp_path / "missing" / "target.json")
    ok(*prepare_vote("--field", "proposal=P-1", "--field", "position=approve", "--out", "vote.json"))
    assert not Path("vote.json").is_symlink() and Path("vote.json").read_text(encoding="utf-8").startswith('{"actor":"fr"')
    assert not (tmp_path / "missing").exists()
