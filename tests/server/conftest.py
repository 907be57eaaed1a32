"""A founded ledger for the server tests, and its keys: the charter of tests.domain.scenario, at the wall clock's time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from domain import commands
from domain.charter import OPERATOR
from ledger.keyfile import write_key_file
from ledger.keys import Signer
from ledger.note import sign_note
from ledger.timefmt import format_time
from projections.ledger import Ledger
from tests.domain.scenario import ORIGIN, founding_charter

PASSPHRASE = "server test passphrase"


@dataclass
class Founded:
    """A ledger in ``url`` with its charter (and ``said`` statements), and every founder's key."""

    url: str
    directory: Path
    keys: dict[str, Signer]

    @property
    def operator(self) -> Signer:
        return self.keys[OPERATOR]

    def note(self, actor: str, kind: str, body: dict[str, object], signed_at: int | None = None) -> str:
        statement = commands.statement(ORIGIN, kind, actor, format_time(int(time.time()) if signed_at is None else signed_at), body)
        return sign_note(statement.to_text(), self.keys[actor]).to_text()

    def say(self, text: str, actor: str = "in") -> str:
        return self.note(actor, "statement.make", {"text": text})

    def key_file(self, actor: str) -> Path:
        path = self.directory / f"{actor}.key"
        if not path.exists():
            write_key_file(path, self.keys[actor], PASSPHRASE.encode())
        return path


def found(url: str, directory: Path, said: int = 0, ago: int = 0) -> Founded:
    """Found the ledger ``ago`` seconds in the past (its clock, too), with ``said`` statements and a checkpoint."""
    keys, charter = founding_charter(now=int(time.time()) - ago)
    founded = Founded(url, directory, keys)
    with Ledger.open(url, clock=lambda: int(time.time()) - ago) as ledger:
        ledger.append([charter])
        if said:
            ledger.append([founded.say(f"statement {n}") for n in range(said)])
        ledger.publish_checkpoint(founded.operator)
    return founded


@pytest.fixture
def founded(tmp_path: Path) -> Founded:
    return found(f"sqlite:///{tmp_path / 'log.db'}", tmp_path)


@pytest.fixture
def passphrase(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for variable in ("ACCORD_PASSPHRASE", "ACCORD_OPERATOR_PASSPHRASE"):
        monkeypatch.setenv(variable, PASSPHRASE)
    monkeypatch.delenv("ACCORD_STORE", raising=False)
    yield PASSPHRASE
