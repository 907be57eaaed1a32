"""Verification: replay a log from its charter and check every rule, hash and signature.

The auditor's path never trusts what the writer stored beside the entries:
leaf hashes and the tree are recomputed from the entry bytes, every entry is
judged by the same ``domain.rules.apply`` the writer used, the charter must
hash to the pinned trust anchor, and the checkpoint must be signed by the
operator's key and match the recomputed root. It streams: memory stays
bounded by the rule state, not by the log's length.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from domain.charter import OPERATOR
from domain.rules import apply, read_statement
from domain.state import LedgerState
from ledger.checkpoint import Checkpoint, open_checkpoint, verify_cosignatures
from ledger.entry import Entry
from ledger.errors import AccordError, VerificationError
from ledger.keys import VerifierKey
from ledger.merkle import CompactRange, leaf_hash
from ledger.note import Note
from projections.ledger import CHUNK
from projections.tables import Database, ViewTables
from projections.views import Row, rows_for


@dataclass
class Replay:
    """What a replay established: the rule state, the tree, the roots asked for."""

    anchor: bytes
    state: LedgerState | None = None
    frontier: CompactRange = field(default_factory=lambda: CompactRange(0, []))
    roots: dict[int, bytes] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return self.frontier.size


Judged = Callable[[LedgerState | None, Entry, LedgerState], None]
"""Told of every entry that holds: the state before it, the entry, the state after."""


def replay(entries: Iterable[bytes], anchor: bytes, roots_at: Sequence[int] = (), on_entry: Judged | None = None) -> Replay:
    """Judge every entry from the charter on; keep the roots at the sizes in ``roots_at``.

    Raises VerificationError naming the first bad entry and what is wrong with it.
    """
    done = Replay(anchor)
    wanted = set(roots_at)
    for expected, data in enumerate(entries):
        try:
            entry = Entry.from_bytes(data)
            if entry.index != expected:
                raise VerificationError("entry", f"index got {entry.index}, want {expected}")
            leaf = leaf_hash(data)
            if expected == 0 and leaf != anchor:
                raise VerificationError("charter", f"leaf hash {leaf.hex()} is not the pinned trust anchor {anchor.hex()}")
            before, done.state = done.state, apply(done.state, entry)
        except AccordError as error:
            raise VerificationError(f"entry {expected}", str(error), index=expected) from error
        done.frontier.append(leaf)
        if done.size in wanted:
            done.roots[done.size] = done.frontier.root()
        if on_entry is not None:
            on_entry(before, entry, done.state)
    return done


class ViewCheck:
    """Folds the views afresh during a replay, to compare them with the stored ones."""

    def __init__(self) -> None:
        self.tables = ViewTables(Database(None))
        self._pending: list[tuple[int, list[Row]]] = []

    def __call__(self, before: LedgerState | None, entry: Entry, after: LedgerState) -> None:
        self._pending.append((entry.index, rows_for(before, after, entry, read_statement(entry.statement)[1])))
        if len(self._pending) == CHUNK:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self.tables.advance(self._pending[0][0], self._pending)
            self._pending = []

    def compare(self, stored: ViewTables) -> None:
        """Raise VerificationError unless ``stored`` holds exactly the rows the replay produced."""
        self.flush()
        if self.tables.dump() != stored.dump():
            raise VerificationError("projections", "the stored views differ from the views rebuilt from the log: run accord rebuild")


def operator_keys(state: LedgerState | None) -> list[VerifierKey]:
    """Every key the operator has held: a checkpoint may predate a rotation."""
    if state is None or OPERATOR not in state.actors:
        return []
    return [record.key for record in state.actors[OPERATOR].keys]


def check_checkpoint(
    note_text: str, done: Replay, witnesses: Sequence[VerifierKey] = (), quorum: int = 0
) -> tuple[Checkpoint, list[VerifierKey]]:
    """The checkpoint, once its operator signature, root and cosignature quorum hold against ``done``."""
    last_error: AccordError | None = None
    for key in reversed(operator_keys(done.state)):
        try:
            checkpoint, note = open_checkpoint(note_text, key)
            break
        except AccordError as error:
            last_error = error
    else:
        raise VerificationError("checkpoint", f"not signed by the operator: {last_error}")
    if checkpoint.origin != (done.state.origin if done.state else None):
        raise VerificationError("checkpoint", f"origin {checkpoint.origin!r} is not the ledger's")
    if checkpoint.size > done.size:
        raise VerificationError("checkpoint", f"size {checkpoint.size} is beyond the {done.size} entries verified")
    root = done.roots.get(checkpoint.size)
    if root is None:
        raise VerificationError("checkpoint", f"no root recomputed at size {checkpoint.size}")
    if root != checkpoint.root_hash:
        raise VerificationError(
            "checkpoint", f"root at size {checkpoint.size}: got {checkpoint.root_hash.hex()}, recomputed {root.hex()}"
        )
    try:
        cosigners = verify_cosignatures(note, witnesses, quorum)
    except AccordError as error:
        raise VerificationError("checkpoint", str(error)) from error
    return checkpoint, cosigners


def checkpoint_size(note_text: str) -> int:
    """The size a checkpoint claims (before anything is verified: only to know which root to keep)."""
    return Checkpoint.from_text(Note.from_text(note_text).text).size
