"""A small council founded through the ``accord`` commands, for the CLI tests.

The council (operator; members de, fr, pl, ua; observer in) is founded once
per test session in a template directory (keys, charter.toml, charter.note,
accord.db) and copied for every test, so each test starts from a fresh
ledger in a few milliseconds. Keys are deterministic (``new_signer``) and
written with ``write_key_file``; every key file shares one passphrase, given
through ACCORD_PASSPHRASE and its siblings.

Helpers run the real click command in-process (``CliRunner``) and check what
a person or a script relies on: the exit code, one line on stderr for a
refusal, no traceback, and an unchanged log.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cli.main import accord
from domain.charter import OPERATOR
from ledger.entry import Entry
from ledger.keyfile import ScryptParameters, write_key_file
from ledger.keys import Signer, VerifierKey
from ledger.merkle import HASH_SIZE, completed_nodes
from ledger.store import LOG_STREAM
from tests.domain.scenario import ORIGIN, new_signer

PASSPHRASE = "correct horse battery staple"
TEST_SCRYPT = ScryptParameters(log2_n=10)
"""Cheap scrypt for the fixtures' key files, which every command opens; keygen's own cost is pinned in tests/ledger/test_keyfile.py."""
MEMBERS = ("de", "fr", "pl", "ua")
OBSERVERS = ("in",)
PASSPHRASE_VARIABLES = ("ACCORD_PASSPHRASE", "ACCORD_OPERATOR_PASSPHRASE", "ACCORD_NEW_PASSPHRASE")
FOREIGN_VARIABLES = ("ACCORD_STORE", "ACCORD_OPERATOR_KEY", "PERSISTENCE_MODULE")


def invoke(args: Sequence[str], input: str | None = None) -> Result:
    """``accord ARGS`` in-process; exceptions are caught so a traceback shows up as ``result.exception``."""
    return CliRunner().invoke(accord, [str(arg) for arg in args], input=input, catch_exceptions=True)


def no_traceback(result: Result) -> None:
    """The command ended through click (an exit code), never by an uncaught exception."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout


def ok(*args: str, input: str | None = None) -> str:
    """Run ``accord ARGS``, require exit code 0 and no traceback; return stdout."""
    result = invoke(args, input)
    no_traceback(result)
    assert result.exit_code == 0, f"accord {' '.join(map(str, args))} -> {result.exit_code}: {result.stderr}"
    return result.stdout


def fails(*args: str, code: int = 1, input: str | None = None) -> Result:
    """Run ``accord ARGS`` and require exit code ``code`` and no traceback."""
    result = invoke(args, input)
    no_traceback(result)
    assert result.exit_code == code, f"accord {' '.join(map(str, args))} -> {result.exit_code}: {result.stdout}{result.stderr}"
    return result


def one_line_error(*args: str, message: str, code: int = 1, input: str | None = None) -> Result:
    """Run ``accord ARGS``; require ``code`` and exactly ``message`` as the one line on stderr."""
    result = fails(*args, code=code, input=input)
    assert result.stderr == message + "\n"
    assert result.stdout == ""
    return result


def signer(actor: str, generation: int = 0) -> Signer:
    """The deterministic key of ``actor`` (``generation`` > 0: its later keys)."""
    return new_signer(actor, generation)


def key_file_name(actor: str, generation: int = 0) -> str:
    return f"{actor}.key" if generation == 0 else f"{actor}-{generation}.key"


def write_key(directory: Path, actor: str, generation: int = 0, passphrase: str = PASSPHRASE) -> Path:
    path = directory / key_file_name(actor, generation)
    if not path.exists():
        write_key_file(path, signer(actor, generation), passphrase.encode(), scrypt=TEST_SCRYPT)
    return path


def charter_toml(withdrawal_notice: str = "0s") -> str:
    """The council's charter: four members of different alliances, India observing.

    A withdrawal notice of 0s makes a withdrawal final at once, so tests need no clock.
    """
    affiliations = {"de": ["NATO", "EU"], "fr": ["NATO", "EU"], "pl": ["NATO", "EU"], "ua": []}
    lines = [
        f'origin = "{ORIGIN}"',
        'name = "European Security Council"',
        f'operator = "{signer(OPERATOR).verifier_key().to_text()}"',
        f'withdrawal_notice = "{withdrawal_notice}"',
        'signed_at_skew = "7d"',
        "",
    ]
    for member in MEMBERS:
        lines += ["[[member]]", f'id = "{member}"', f'name = "{member.upper()}"', f'keys = ["{signer(member).verifier_key().to_text()}"]']
        lines += [f"affiliations = {json.dumps(affiliations[member])}", ""]
    for observer in OBSERVERS:
        lines += ["[[observer]]", f'id = "{observer}"', 'name = "India"', f'keys = ["{signer(observer).verifier_key().to_text()}"]', ""]
    lines += ["[categories.military-operation]", 'procedure = "ratification"', 'min_period = "0s"', ""]
    return "\n".join(lines)


def sqlite_store(directory: Path) -> str:
    return f"sqlite:///{directory / 'accord.db'}"


def found_council(directory: Path) -> str:
    """Write the keys and the charter in ``directory`` and found the ledger there; returns the anchor.

    Requires the current directory to be ``directory`` and the passphrase variables set.
    """
    for actor in (OPERATOR, *MEMBERS, *OBSERVERS, "etuc", "md", "xx"):
        write_key(directory, actor)
    (directory / "charter.toml").write_text(charter_toml(), encoding="utf-8")
    (directory / "charter.note").write_text(ok("charter", "draft", "charter.toml"), encoding="utf-8")
    for founder in (OPERATOR, *MEMBERS):
        ok("sign", "charter.note", "--key", key_file_name(founder))
    return ok("init", "charter.note", "--operator-key", "operator.key").strip()


@pytest.fixture(autouse=True)
def accord_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every CLI test: passphrases in the environment, no store or operator key inherited."""
    _accord_environment(monkeypatch)


def _accord_environment(patch: pytest.MonkeyPatch) -> None:
    for variable in PASSPHRASE_VARIABLES:
        patch.setenv(variable, PASSPHRASE)
    for variable in FOREIGN_VARIABLES:
        patch.delenv(variable, raising=False)


@pytest.fixture(scope="session")
def council_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    directory = tmp_path_factory.mktemp("council-template")
    with pytest.MonkeyPatch.context() as patch:
        _accord_environment(patch)
        patch.chdir(directory)
        patch.setenv("ACCORD_STORE", sqlite_store(directory))
        anchor = found_council(directory)
    return directory, anchor


@dataclass
class Council:
    """A founded ledger in ``directory`` (the current directory), and its keys."""

    directory: Path
    anchor: str

    @property
    def store(self) -> str:
        return sqlite_store(self.directory)

    @property
    def database(self) -> Path:
        return self.directory / "accord.db"

    def key(self, actor: str, generation: int = 0, passphrase: str = PASSPHRASE) -> str:
        """The key file of ``actor`` in the council's directory (written on first use)."""
        return write_key(self.directory, actor, generation, passphrase).name

    # What is on the log.

    def log(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(ok("log", "--json"))
        return document

    def log_text(self) -> str:
        return ok("log", "--json")

    def size(self) -> int:
        size: int = self.log()["size"]
        return size

    def entry(self, index: int) -> Entry:
        found = self.log()["entries"][index]
        return Entry(found["index"], found["logged_at"], found["statement"])

    def view(self, *args: str) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(ok(*args, "--json"))
        return document

    def refused(self, *args: str, message: str, code: int = 1) -> Result:
        """``accord ARGS`` is refused with exactly ``message`` and the log stays as it was."""
        before = self.log_text()
        result = one_line_error(*args, message=message, code=code)
        assert self.log_text() == before
        return result

    # The common acts, through the CLI.

    def propose(self, actor: str = "de", category: str = "general", deadline: str = "+1h", *extra: str) -> str:
        out = ok("propose", "--category", category, "--title", f"On {category}", "--text", "The council resolves ...",
                 "--deadline", deadline, "--key", self.key(actor), *extra)
        return out.strip()

    def vote(self, actor: str, proposal: str, position: str = "approve") -> str:
        return ok("vote", proposal, position, "--key", self.key(actor))

    def close(self, proposal: str, actor: str = OPERATOR) -> str:
        return ok("close", proposal, "--key", self.key(actor))

    def adopt(self, proposal: str, voters: Sequence[str] = MEMBERS) -> str:
        """Every voter approves and the operator closes early; returns the decision id."""
        for member in voters:
            self.vote(member, proposal)
        out = self.close(proposal)
        assert "binding decision D-" in out, out
        return out.strip().rsplit(" ", 1)[-1]

    def register(self, actor: str = "etuc") -> str:
        return ok("register", "--name", "European Trade Union Confederation", "--kind", "trade-union", "--country", "de", "--key", self.key(actor))

    def checkpoint(self) -> str:
        return ok("checkpoint", "--sign", "--operator-key", self.key(OPERATOR))

    def verifier_key(self, actor: str, generation: int = 0) -> str:
        return signer(actor, generation).verifier_key().to_text()

    def witness_key(self, actor: str) -> str:
        return signer(actor).cosigner_key().to_text()

    # An attacker with disk access (as cli/demo.py's _tamper).

    def stored_rows(self) -> list[tuple[int, bytes]]:
        with sqlite3.connect(self.database) as connection:
            rows = connection.execute(
                "SELECT originator_version, state FROM stored_events WHERE originator_id = ? ORDER BY originator_version", (LOG_STREAM.hex,)
            ).fetchall()
        connection.close()
        return [(version, bytes(state)) for version, state in rows]

    def tamper(self, index: int, old: bytes, new: bytes) -> None:
        """Replace bytes of entry ``index`` as stored."""
        with sqlite3.connect(self.database) as connection:
            (state,) = connection.execute(
                "SELECT state FROM stored_events WHERE originator_id = ? AND originator_version = ?", (LOG_STREAM.hex, index)
            ).fetchone()
            assert old in state, (old, state)
            connection.execute(
                "UPDATE stored_events SET state = ? WHERE originator_id = ? AND originator_version = ?",
                (state.replace(old, new, 1), LOG_STREAM.hex, index),
            )
        connection.close()

    def delete_rows(self, *indexes: int) -> None:
        with sqlite3.connect(self.database) as connection:
            for index in indexes:
                connection.execute("DELETE FROM stored_events WHERE originator_id = ? AND originator_version = ?", (LOG_STREAM.hex, index))
        connection.close()

    def rewrite_entry(self, index: int, data: bytes) -> None:
        """Store ``data`` as the bytes of entry ``index``, keeping the Merkle node hashes stored in front of it."""
        split = HASH_SIZE * len(completed_nodes(index))
        with sqlite3.connect(self.database) as connection:
            (state,) = connection.execute(
                "SELECT state FROM stored_events WHERE originator_id = ? AND originator_version = ?", (LOG_STREAM.hex, index)
            ).fetchone()
            connection.execute(
                "UPDATE stored_events SET state = ? WHERE originator_id = ? AND originator_version = ?",
                (bytes(state)[:split] + data, LOG_STREAM.hex, index),
            )
        connection.close()


def _copy(template: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Council:
    """A fresh copy of a council template; the current directory and ACCORD_STORE point at it."""
    source, anchor = template
    directory = tmp_path / "council"
    shutil.copytree(source, directory)
    monkeypatch.chdir(directory)
    monkeypatch.setenv("ACCORD_STORE", sqlite_store(directory))
    return Council(directory, anchor)


@pytest.fixture
def council(council_template: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Council:
    """The founded council, with the charter as its only entry and a checkpoint of size 1."""
    return _copy(council_template, tmp_path, monkeypatch)


def make_busy(council: Council) -> None:
    """Entries: 1 register etuc, 2 P-1, 3-6 votes, 7 close (D-1), 8 A-1, 9 P-2 (refers A-1), 10 statement by in, 11 fr objects to P-2."""
    council.register()
    council.adopt(council.propose("de", "general"))
    ok("appeal", "file", "--title", "Ports", "--text", "Munitions.", "--key", council.key("etuc"))
    council.propose("pl", "risk-assessment", "+14d", "--ref", "A-1")
    ok("say", "--text", "India offers to mediate.", "--about", "P-2", "--key", council.key("in"))
    council.vote("fr", "P-2", "object")


@pytest.fixture(scope="session")
def busy_template(council_template: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    source, anchor = council_template
    directory = tmp_path_factory.mktemp("busy-template") / "council"
    shutil.copytree(source, directory)
    with pytest.MonkeyPatch.context() as patch:
        _accord_environment(patch)
        patch.chdir(directory)
        patch.setenv("ACCORD_STORE", sqlite_store(directory))
        make_busy(Council(directory, anchor))
    return directory, anchor


@pytest.fixture
def busy_council(busy_template: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Council:
    """A council with a decision, an open proposal, a civil-society appeal and an observer's statement (see make_busy)."""
    return _copy(busy_template, tmp_path, monkeypatch)


class FakeClock:
    """The operator's clock (and ``+DURATION`` arguments), moved by the test instead of by sleeping."""

    def __init__(self, now: int) -> None:
        self.now = now

    def time(self) -> float:
        return float(self.now)

    def advance(self, seconds: int) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeClock]:
    """Patch the clock the log judges deadlines by (ledger.log) and the one ``+7d`` counts from (cli.options)."""
    import time

    fake = FakeClock(int(time.time()))
    monkeypatch.setattr("ledger.log.time", fake)
    monkeypatch.setattr("cli.options.time", fake)
    from cli.options import when
    from ledger.log import wall_clock
    from ledger.timefmt import format_time

    # Deadline tests would pass for the wrong reason if the patch missed the clocks the CLI reads.
    assert wall_clock() == fake.now and when("+0s") == format_time(fake.now)
    yield fake


def label(actor: str, generation: int = 0) -> str:
    return signer(actor, generation).verifier_key().label


def verifier(actor: str) -> VerifierKey:
    return signer(actor).verifier_key()
