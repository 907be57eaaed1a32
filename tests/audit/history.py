"""A council's realistic history on SQLite, and the tools an attacker uses on copies of it.

:func:`build_history` founds a council on a real :class:`Ledger` in an SQLite
file and lets it work: a civil-society appeal, a decision by silence, a key
rotation, a ratification, a finding by consensus minus the concerned, an
admission and the new member's accession and vote, then a checkpoint signed
by the operator and cosigned by a member (fr) and an observer (in). A copy of
the store is kept as it was when the first checkpoint was published, so that
bundles can extend a local copy.

The attack helpers never go through the ledger: they write the SQLite file
(or entry bytes) directly, as someone with disk access or a forged bundle
would, and re-sign with keys an attacker is assumed to hold.
"""

from __future__ import annotations

import json

import hashlib
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from cli.main import accord
from domain import commands
from domain.charter import OPERATOR
from domain.rules import read_statement
from ledger.checkpoint import Checkpoint, cosign, sign_checkpoint
from ledger.entry import Entry
from ledger.keys import Signer, VerifierKey
from ledger.merkle import HASH_SIZE, MemoryTree, completed_nodes
from ledger.note import Note, sign_note
from ledger.store import LOG_STREAM, Store
from ledger.timefmt import format_time
from projections.ledger import Ledger
from tests.domain.scenario import DAY, T0, new_signer
from tests.projections.council import Clock, Council

MEMBERS = ("de", "fr", "pl", "ua", "rs", "by")
OTHER_ORIGIN = "accord.test/another-council"


@dataclass
class History:
    """What was built, and where each act landed in the log."""

    path: Path
    anchor: bytes
    keys: dict[str, Signer]
    """Every actor's current key (de's is the one it rotated to)."""
    old_de: Signer
    """de's founding key, revoked at ``marks["key_revoke"]``."""
    checkpoint: str
    """The newest checkpoint: operator-signed, cosigned by fr and in."""
    entries: list[bytes]
    marks: dict[str, int]
    decisions: dict[str, str]
    """What each binding decision illustrates -> its id."""
    early: Path
    """The store as it was when the first checkpoint (of ``early_size`` entries) was published."""
    early_size: int
    early_checkpoint: str
    """The first checkpoint, cosigned by fr."""

    @property
    def url(self) -> str:
        return store_url(self.path)

    @property
    def size(self) -> int:
        return len(self.entries)

    @property
    def witnesses(self) -> list[VerifierKey]:
        """The witnesses that cosigned, in cosignature/v1 form."""
        return [self.keys["fr"].cosigner_key(), self.keys["in"].cosigner_key()]

    def witness_options(self, quorum: int = 2) -> list[str]:
        options = []
        for key in self.witnesses:
            options += ["--witness", key.to_text()]
        return [*options, "--witness-quorum", str(quorum)]


def store_url(path: Path) -> str:
    return f"sqlite:///{path}"


def copy_store(source: Path, target: Path) -> Path:
    """A consistent copy of an SQLite store (its write-ahead log included), even while it is open."""
    with closing(sqlite3.connect(source)) as original, closing(sqlite3.connect(target)) as copy:
        original.backup(copy)
    return target


def add_cosignature(ledger: Ledger, witness: Signer, timestamp: int) -> Note:
    note = ledger.log.latest_checkpoint()
    assert note is not None
    return ledger.log.add_cosignature(cosign(note, witness, timestamp), witness.cosigner_key())


def build_history(folder: Path) -> History:
    """Found a council in ``folder/accord.db`` and let it work (see the module's docstring)."""
    path = folder / "accord.db"
    clock = Clock()
    marks: dict[str, int] = {}
    decisions: dict[str, str] = {}
    with Ledger(Store(store_url(path)), clock) as ledger:
        council = Council(ledger, clock)
        keys = council.keys
        keys["etuc"], keys["at"] = new_signer("etuc"), new_signer("at")

        def mark(name: str, entry: Entry) -> int:
            marks[name] = entry.index
            return entry.index

        def proposed(what: str, *args: Any, **fields: Any) -> str:
            proposal = council.propose(*args, **fields)
            marks[f"{what}_submit"] = ledger.log.size - 1
            return proposal

        def decided(what: str, proposal: str, closer: str = OPERATOR) -> None:
            mark(f"{what}_close", council.close(proposal, closer))
            state = ledger.state()
            assert state is not None
            decisions[what] = f"D-{state.decisions}"

        etuc_key = keys["etuc"].verifier_key().to_text()
        mark("register", council.say("etuc", "civil-society.register", {"name": "ETUC", "kind": "trade-union", "countries": ["de", "pl"], "keys": [etuc_key]}))
        mark("appeal", council.say("etuc", "appeal.file", {"title": "Ports", "text": "Munitions through civilian ports.", "concerned": ["pl"], "urgency": "high"}))
        council.say("pl", "appeal.acknowledge", {"appeal": "A-1"})

        # Consensus by silence: one abstention, one approval a day before the deadline, four silent.
        silence = proposed("silence", "de", "general", 7 * DAY)
        mark("abstention", council.vote("by", silence, "abstain"))
        mark("observer_statement", council.say("in", "statement.make", {"text": "India offers to mediate.", "about": silence}))
        clock.now += 6 * DAY
        mark("late_vote", council.vote("fr", silence, "approve"))
        clock.now += DAY
        decided("silence", silence)
        ledger.log.publish_checkpoint(keys[OPERATOR])
        early_note = add_cosignature(ledger, keys["fr"], clock.now)
        early_size = ledger.log.size
        early = copy_store(path, folder / "early.db")

        # de rotates its key: adds the new one, then revokes the founding one with it.
        old_de, new_de = keys["de"], new_signer("de", 1)
        mark("key_add", council.say("de", "key.add", {"key": new_de.verifier_key().to_text()}, [old_de, new_de]))
        keys["de"] = new_de
        mark("key_revoke", council.say("de", "key.revoke", {"key": old_de.verifier_key().to_text()}))
        mark("after_rotation", council.say("de", "statement.make", {"text": "Germany now signs with its 2027 key."}))

        # Ratification, closed early by a member once every member approved (de with its new key).
        ratification = proposed("ratification", "pl", "military-operation", 14 * DAY)
        for member in MEMBERS:
            mark(f"ratify_{member}", council.vote(member, ratification, "approve"))
        decided("ratification", ratification, "pl")

        # Consensus minus the concerned: rs is concerned and has no say; by objects, then approves.
        finding = proposed("finding", "ua", "violation-finding", 7 * DAY, concerned=["rs"])
        council.say("rs", "statement.make", {"text": "Serbia contests the finding.", "about": finding})
        mark("superseded_vote", council.vote("by", finding, "object"))
        clock.now += DAY
        mark("finding_vote", council.vote("by", finding, "approve"))
        clock.now += 6 * DAY
        decided("finding", finding)

        # Admission of Austria by silence, its accession, and its first vote.
        candidate = {"id": "at", "name": "Austria", "role": "member", "keys": [keys["at"].verifier_key().to_text()], "affiliations": ["EU"]}
        admission = proposed("admission", "fr", "admission", DAY, candidate=candidate)
        clock.now += DAY
        decided("admission", admission)
        mark("accession", council.say("at", "accession", {"proposal": admission}))
        increase = proposed("accession", "fr", "armament-increase", 14 * DAY)
        for member in (*MEMBERS, "at"):
            mark(f"increase_{member}", council.vote(member, increase, "approve"))
        decided("accession", increase)

        mark("answer", council.say(OPERATOR, "appeal.answer", {"appeal": "A-1", "text": "Referred to the council."}))
        ledger.log.publish_checkpoint(keys[OPERATOR])
        add_cosignature(ledger, keys["fr"], clock.now)
        checkpoint = add_cosignature(ledger, keys["in"], clock.now).to_text()
        entries = [stored.data for stored in ledger.store.entries()]
        anchor = ledger.log.entry(0).leaf_hash()
    return History(path, anchor, keys, old_de, checkpoint, entries, marks, decisions, early, early_size, early_note.to_text())


# Forging: what an attacker (or a dishonest operator) can make.


def statement_of(data: bytes) -> tuple[Entry, Any]:
    entry = Entry.from_bytes(data)
    return entry, read_statement(entry.statement)[1]


def resigned(data: bytes, signers: Sequence[Signer], logged_at: str | None = None, **changes: Any) -> bytes:
    """Entry ``data`` with its statement changed (``changes`` of Statement fields) and signed by ``signers``."""
    entry, statement = statement_of(data)
    note = sign_note(replace(statement, **changes).to_text(), *signers)
    return Entry(entry.index, logged_at or entry.logged_at, note.to_text()).to_bytes()


def with_forged_body(data: bytes, **body: Any) -> bytes:
    """Entry ``data`` with fields of its statement's body changed and its signature lines kept (now invalid)."""
    entry, statement = statement_of(data)
    note = Note.from_text(entry.statement)
    forged = Note(replace(statement, body={**statement.body, **body}).to_text(), note.signatures)
    return Entry(entry.index, entry.logged_at, forged.to_text()).to_bytes()


def with_logged_at(data: bytes, logged_at: str) -> bytes:
    entry = Entry.from_bytes(data)
    return Entry(entry.index, logged_at, entry.statement).to_bytes()


def operator_checkpoint(entries: Sequence[bytes], operator: Signer, size: int | None = None) -> str:
    """A checkpoint of the tree of ``entries[:size]``, validly signed by the operator (who may be lying)."""
    tree = MemoryTree()
    for data in entries[:size]:
        tree.append(data)
    return sign_checkpoint(Checkpoint(operator.name, tree.size, tree.root()), operator).to_text()


def checkpoint_with_root(operator: Signer, size: int, root: bytes) -> str:
    return sign_checkpoint(Checkpoint(operator.name, size, root), operator).to_text()


def forged_root(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def rewrite_log(path: Path, entries: Sequence[bytes]) -> None:
    """Make the log in the SQLite file ``path`` hold exactly ``entries`` (a prefix of its length, or the same length).

    The Merkle node hashes the writer stored in front of each entry are left
    as they were: the verifier recomputes the tree from the entry bytes.
    """
    stream = LOG_STREAM.hex
    with closing(sqlite3.connect(path)) as connection, connection:
        rows = connection.execute("SELECT originator_version, state FROM stored_events WHERE originator_id = ? ORDER BY originator_version", (stream,)).fetchall()
        assert len(entries) <= len(rows)
        for index, state in rows:
            if index >= len(entries):
                connection.execute("DELETE FROM stored_events WHERE originator_id = ? AND originator_version = ?", (stream, index))
                continue
            nodes = bytes(state)[: HASH_SIZE * len(completed_nodes(index))]
            if bytes(state)[len(nodes) :] != entries[index]:
                connection.execute(
                    "UPDATE stored_events SET state = ? WHERE originator_id = ? AND originator_version = ?", (nodes + entries[index], stream, index)
                )


def log_of(path: Path) -> tuple[int, bytes]:
    """(size, root) of the log in a store, as its own tree says."""
    with Ledger(Store(store_url(path))) as ledger:
        size = ledger.log.size
        return size, ledger.log.root_at(size)


# Another council, of another origin.


def other_signer(actor: str) -> Signer:
    name = OTHER_ORIGIN if actor == OPERATOR else f"{OTHER_ORIGIN}/{actor}"
    return Signer.from_seed(name, hashlib.sha256(f"other/{actor}".encode()).digest())


def build_other_council(path: Path) -> tuple[bytes, str]:
    """A second council of origin OTHER_ORIGIN, with a checkpoint: (its anchor, its checkpoint note)."""
    operator, de = other_signer(OPERATOR), other_signer("de")
    charter = commands.charter(OTHER_ORIGIN, "Another Council", operator.verifier_key(), [commands.founder("de", "Germany", [de.verifier_key()])], format_time(T0))
    clock = Clock()
    with Ledger(Store(store_url(path)), clock) as ledger:
        ledger.append([sign_note(charter.to_text(), operator, de).to_text()])
        said = commands.statement(OTHER_ORIGIN, "statement.make", "de", format_time(T0), {"text": "Another council speaks."})
        ledger.append([sign_note(said.to_text(), de).to_text()])
        note = ledger.log.publish_checkpoint(operator)
        return ledger.log.entry(0).leaf_hash(), note.to_text()


# The command line.


def run(*args: object) -> Result:
    """``accord ARGS`` in-process, stderr apart from stdout."""
    result = CliRunner().invoke(accord, [str(arg) for arg in args], catch_exceptions=True)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result


def ok(*args: object) -> str:
    result = run(*args)
    assert result.exit_code == 0, f"accord {' '.join(map(str, args))} -> {result.exit_code}: {result.stderr}"
    return result.stdout


def refused(*args: object) -> str:
    """Run ``accord ARGS``; require exit 1 and one line on stderr; return that line. On stdout nothing,
    or under --json the failure document (ok false) with the same message: never a summary."""
    result = run(*args)
    assert result.exit_code == 1, f"accord {' '.join(map(str, args))} -> {result.exit_code}: {result.stdout}{result.stderr}"
    assert result.stderr.endswith("\n") and result.stderr.count("\n") == 1, result.stderr
    if "--json" in map(str, args):
        document = json.loads(result.stdout)
        assert document["version"] == 1 and document["ok"] is False and set(document) == {"version", "ok", "error"}
        assert "accord: " + document["error"]["message"] == result.stderr[:-1]
    else:
        assert result.stdout == ""
    return result.stderr[:-1]

