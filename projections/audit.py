"""Verification: replay a log from its charter and check every rule, hash and signature.

The auditor's path never trusts what the writer stored beside the entries:
leaf hashes and the tree are recomputed from the entry bytes, every entry is
judged by the same ``domain.rules.apply`` the writer used, the charter must
hash to the pinned trust anchor, and the checkpoint must be signed by the
operator's key and match the recomputed root. It streams: memory stays
bounded by the rule state, not by the log's length.

A replay can be saved and continued: the state, the tree's frontier and the
checkpoint verified are enough to check only the entries that came after.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from domain.charter import OPERATOR
from domain.rules import apply
from domain.snapshot import from_snapshot, to_snapshot
from domain.state import LedgerState
from ledger.checkpoint import Checkpoint, open_checkpoint, verify_cosignatures
from ledger.entry import Entry
from ledger.documents import load_document
from ledger.errors import AccordError, MalformedError, ProofError, VerificationError
from ledger.encoding import decode_base64
from ledger.keys import VerifierKey
from ledger.merkle import CompactRange, verify_consistency
from ledger.note import Note
from ledger.statement import Statement
from projections.checking import checked_entries, registry_of
from projections.tables import ViewTables
from projections.views import rows_for
from projections.witnessed import InconsistentCheckpoint

SAVED_VERSION = 1
MAX_SAVED = 64 * 1024 * 1024
"""A saved verification holds the rule state: bounded by the organization's size, not the log's."""


@dataclass
class Replay:
    """What a replay established: the rule state, the tree's frontier, the roots asked for."""

    anchor: bytes
    state: LedgerState | None = None
    frontier: CompactRange = field(default_factory=lambda: CompactRange(0, []))
    roots: dict[int, bytes] = field(default_factory=dict)
    checkpoint: str | None = None
    """The checkpoint note verified against this replay, once one was."""

    @property
    def size(self) -> int:
        return self.frontier.size

    def to_text(self) -> str:
        """A verifier's saved state, to continue from with ``verify --since``."""
        return json.dumps(
            {
                "version": SAVED_VERSION,
                "kind": "accord-verified",
                "anchor": self.anchor.hex(),
                "size": self.size,
                "frontier": [base64.b64encode(h).decode() for h in self.frontier.hashes],
                "checkpoint": self.checkpoint,
                "state": None if self.state is None else to_snapshot(self.state).decode("utf-8"),
            }
        ) + "\n"

    @classmethod
    def from_text(cls, text: str) -> Replay:
        """A saved verification, read strictly (typed fields, bounded size and nesting)."""
        fields = load_document(text, "since", MAX_SAVED)
        if fields.document.get("kind") != "accord-verified" or fields.document.get("version") != SAVED_VERSION:
            raise MalformedError("since", "not a saved verification (accord verify --save-state)")
        fields.expect("version", SAVED_VERSION)
        size = fields.integer("size")
        frontier = [decode_base64(h, "since", "frontier") for h in fields.texts("frontier")]
        if len(frontier) != size.bit_count() or any(len(h) != 32 for h in frontier):
            raise MalformedError("since", f"frontier got {len(frontier)} hashes, want {size.bit_count()} of 32 bytes for size {size}")
        try:
            anchor = bytes.fromhex(fields.text("anchor"))
        except ValueError as error:
            raise MalformedError("since", "anchor is not hex") from error
        snapshot = fields.optional_text("state")
        try:
            state = None if snapshot is None else from_snapshot(snapshot.encode("utf-8"))
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise MalformedError("since", f"saved state is malformed: {error!r}") from error
        return cls(anchor, state, CompactRange(size, frontier), {}, fields.optional_text("checkpoint"))


Judged = Callable[[LedgerState | None, Entry, LedgerState, Statement], None]
"""Told of every entry that holds: the state before it, the entry, the state after, its statement."""


def replay(
    entries: Iterable[bytes],
    start: Replay,
    roots_at: Sequence[int] = (),
    on_entry: Judged | None = None,
    workers: int = 1,
    verifier: str = "libsodium",
) -> Replay:
    """Judge every entry, continuing from ``start`` (``Replay(anchor)``: from the charter).

    ``entries`` must begin at index ``start.size``. Keeps the roots at the
    sizes in ``roots_at``. With ``workers`` > 1, entries are parsed, hashed
    and their signatures checked in that many processes while the rules are
    folded here in order. Raises VerificationError naming the first bad
    entry and what is wrong with it.
    """
    done = Replay(start.anchor, start.state, CompactRange(start.size, list(start.frontier.hashes)), {}, start.checkpoint)
    wanted = set(roots_at)
    if done.size in wanted:
        done.roots[done.size] = done.frontier.root()
    for checked in checked_entries(entries, start.size, registry_of(start.state), workers, verifier):
        index = checked.index
        try:
            if checked.error is not None:
                raise checked.error
            assert checked.entry is not None and checked.note is not None and checked.statement is not None
            if checked.entry.index != index:
                raise VerificationError("entry", f"index got {checked.entry.index}, want {index}")
            if index == 0 and checked.leaf != done.anchor:
                raise VerificationError("charter", f"leaf hash {checked.leaf.hex()} is not the pinned trust anchor {done.anchor.hex()}")
            before = done.state
            done.state = apply(before, checked.entry, checked.verify, (checked.note, checked.statement))
        except AccordError as error:
            raise VerificationError(f"entry {index}", str(error), index=index) from error
        done.frontier.append(checked.leaf)
        if done.size in wanted:
            done.roots[done.size] = done.frontier.root()
        if on_entry is not None:
            on_entry(before, checked.entry, done.state, checked.statement)
    return done


class ViewCheck:
    """Compares what the writer stored beside the log (the views, the rule-state snapshot)
    with what the replay implies, as the replay goes.

    Both come in entry order, so the comparison streams: memory holds one
    entry's rows, however long the log. The first difference is kept, not
    raised, so that a forged entry is reported as such (by its signature or
    by the checkpoint's root) before the views it misled; the versions'
    ranges are checked in SQL at the end.
    """

    def __init__(self, stored: ViewTables, start: int = 0) -> None:
        self.stored = stored
        self._rows = stored.rows_from(start + 1)
        self._next: tuple[str, str, str, int, str] | None = next(self._rows, None)
        self._snapshot = stored.snapshot()
        self.fault: str | None = None

    def _differ(self, problem: str) -> None:
        if self.fault is None:
            self.fault = problem

    def __call__(self, before: LedgerState | None, entry: Entry, after: LedgerState, statement: Statement) -> None:
        size = entry.index + 1
        if self._snapshot is not None and self._snapshot[0] == size and to_snapshot(after) != self._snapshot[1]:
            self._differ(f"the rule-state snapshot at size {size} is not the state the log implies")
        written = rows_for(before, after, entry, statement)
        stored = []
        while self._next is not None and self._next[3] <= size:
            if self._next[3] < size:
                self._differ(f"row {self._next[0]} {self._next[1]} claims size {self._next[3]}, which no entry wrote")
            else:
                stored.append(self._next)
            self._next = next(self._rows, None)
        if len(written) == 1 and len(stored) == 1:
            # What most entries write: one row, compared without the dictionaries below.
            row, (view, doc_id, subject, _, doc) = written[0], stored[0]
            if row.view == view and row.id == doc_id and row.subject == subject and same_document(row.doc, doc):
                return
        expected = {(row.view, row.id): (row.subject, row.doc) for row in written}
        found = {(view, doc_id): (subject, orjson.loads(doc)) for view, doc_id, subject, _, doc in stored}
        if not same_value(expected, found):
            for key in sorted(expected.keys() | found.keys()):
                if key not in found:
                    self._differ(f"entry {entry.index} wrote {key[0]} {key[1]}, which the store lacks")
                elif key not in expected:
                    self._differ(f"the store holds {key[0]} {key[1]} from entry {entry.index}, which that entry did not write")
                elif not same_value(expected[key], found[key]):
                    self._differ(f"{key[0]} {key[1]} as of entry {entry.index} is not what that entry wrote")

    def finish(self, size: int) -> None:
        """After the replay held: raise the first difference found, if any."""
        if self._next is not None:
            self._differ(f"row {self._next[0]} {self._next[1]} is from size {self._next[3]}, beyond the {size} entries")
        if self.fault is None:
            self.fault = self.stored.structure_fault()
        if self.fault is not None:
            raise VerificationError("projections", f"{self.fault}: the stored views differ from the log; run accord rebuild")


_SORTED_STRICT = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS


def same_document(doc: Mapping[str, Any], text: str) -> bool:
    """Whether the stored ``text`` holds the document ``doc`` as a value.

    Documents are compared as values: the text the store keeps them in is
    not what is signed. Most stored texts are exactly ``doc`` serialized with
    sorted keys (how the writer stores them), which proves the values equal
    without parsing ``text``; any other text is parsed and compared. (Values
    JSON cannot hold as they are, a dataclass, a time, a subclass, are not
    serialized here but compared parsed.)
    """
    try:
        if orjson.dumps(doc, option=_SORTED_STRICT) == text.encode("utf-8"):
            return True
    except (TypeError, UnicodeEncodeError):
        pass  # orjson.JSONEncodeError is a TypeError
    return same_value(doc, orjson.loads(text))


def same_value(expected: Any, parsed: Any) -> bool:
    """Whether ``parsed``, a value read from JSON, is ``expected`` as a JSON value, of the same JSON type throughout.

    Python's ``==`` does not ask the type: ``True == 1 == 1.0``. A stored
    ``1`` where the entry wrote ``true``, or ``4.0`` where it wrote ``4``, is
    another document to its readers (SPEC 10: ``true`` is never ``1``).
    """
    if isinstance(parsed, dict):
        return (
            isinstance(expected, Mapping)
            and len(expected) == len(parsed)
            and all(key in expected and same_value(expected[key], value) for key, value in parsed.items())
        )
    if isinstance(parsed, (list, tuple)):
        return isinstance(expected, (list, tuple)) and len(expected) == len(parsed) and all(map(same_value, expected, parsed))
    if isinstance(parsed, bool) or isinstance(expected, bool):
        return parsed is expected
    if isinstance(parsed, (int, float, str)):
        return type(parsed) is _json_type(expected) and bool(expected == parsed)
    return parsed is None and expected is None


def _json_type(value: Any) -> type | None:
    """The JSON type ``value`` is written as (a subclass of str, int or float as its base), or None."""
    for kind in (str, int, float):
        if isinstance(value, kind):
            return kind
    return None


def operator_keys(state: LedgerState | None) -> list[VerifierKey]:
    """Every key the operator has held: a checkpoint may predate a rotation."""
    if state is None or OPERATOR not in state.actors:
        return []
    return [record.key for record in state.actors[OPERATOR].keys]


def open_operator_checkpoint(note_text: str, state: LedgerState | None) -> tuple[Checkpoint, Note]:
    """The checkpoint, once a key the operator has held signed it for this ledger's origin."""
    last_error: AccordError = VerificationError("checkpoint", "no operator key known: verify the charter first")
    for key in reversed(operator_keys(state)):
        try:
            return open_checkpoint(note_text, key)
        except AccordError as error:
            last_error = error
    raise VerificationError("checkpoint", f"not signed by the operator: {last_error}")


def check_checkpoint(
    note_text: str, done: Replay, witnesses: Sequence[VerifierKey] = (), quorum: int = 0
) -> tuple[Checkpoint, list[VerifierKey]]:
    """The checkpoint, once its operator signature, root and cosignature quorum hold against ``done``."""
    checkpoint, note = open_operator_checkpoint(note_text, done.state)
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
    try:
        return Checkpoint.from_text(Note.from_text(note_text).text).size
    except AccordError as error:
        raise VerificationError("checkpoint", str(error)) from error


@dataclass(frozen=True)
class Audit:
    """The outcome of a verification that held."""

    replay: Replay
    checkpoint: Checkpoint
    cosigners: list[VerifierKey]
    checked_from: int
    """The first entry this run judged (0, or where a saved verification ended)."""


def audit(
    entries: Iterable[bytes],
    anchor: bytes,
    checkpoint_note: str,
    *,
    witnesses: Sequence[VerifierKey] = (),
    quorum: int = 0,
    since: Replay | None = None,
    consistency_proof: Callable[[int, int], Sequence[bytes]] | None = None,
    on_entry: Judged | None = None,
    workers: int = 1,
    verifier: str = "libsodium",
    kept: Sequence[str] = (),
) -> Audit:
    """Verify ``entries`` (from the charter, or from where ``since`` ended) against a checkpoint.

    ``kept`` are the other checkpoints the log published: each within the
    entries checked must be signed by the operator and match the tree at its
    size (InconsistentCheckpoint otherwise: an equivocation).

    With ``since``, the new checkpoint must extend the one verified before:
    its root is recomputed from the saved frontier and the new entries, and,
    where the source can prove it, a consistency proof between the two
    checkpoints is checked as well.
    """
    start = since if since is not None else Replay(anchor)
    if start.anchor != anchor:
        raise VerificationError("since", f"saved verification is of anchor {start.anchor.hex()}, not {anchor.hex()}")
    size = checkpoint_size(checkpoint_note)
    if size < start.size:
        raise VerificationError(
            "since",
            f"the saved verification already covers {start.size} entries, more than this checkpoint's {size}: "
            "give --since with a newer checkpoint, or drop --since to verify this one from the charter",
        )
    kept_sizes = {text: checkpoint_size(text) for text in kept}
    done = replay(entries, start, roots_at=[size, *kept_sizes.values()], on_entry=on_entry, workers=workers, verifier=verifier)
    checkpoint, cosigners = check_checkpoint(checkpoint_note, done, witnesses, quorum)
    for text, kept_size in kept_sizes.items():
        if start.size <= kept_size <= size:
            published, _ = open_operator_checkpoint(text, done.state)
            if published.root_hash != done.roots[kept_size]:
                raise InconsistentCheckpoint(
                    f"the operator also signed size {kept_size} with root {published.root_hash.hex()}, "
                    f"but the tree has {done.roots[kept_size].hex()} there: the log equivocated", text, operator_keys(done.state)
                )
    if since is not None and since.checkpoint is not None and consistency_proof is not None:
        trusted, _ = open_operator_checkpoint(since.checkpoint, done.state)
        try:
            if trusted.size:
                verify_consistency(trusted.size, checkpoint.size, trusted.root_hash, checkpoint.root_hash, consistency_proof(trusted.size, checkpoint.size))
        except ProofError as error:
            raise VerificationError("checkpoint", f"not consistent with the checkpoint of size {trusted.size} verified before: {error.problem}") from error
    done.checkpoint = checkpoint_note
    return Audit(done, checkpoint, cosigners, start.size)
