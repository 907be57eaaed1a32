"""The append-only log: entries, Merkle tree, checkpoints (SPEC section 4).

Appends are linearizable: the rule check runs against the state at the exact
head the entries will follow, the entries are stored at the next indexes in
one transaction, and if another writer took those indexes first the whole
attempt is repeated against the new head. A refused statement leaves the log
untouched; a crash leaves it as it was before or after the transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ledger.checkpoint import Checkpoint, sign_checkpoint, verify_cosignature
from ledger.entry import Entry
from ledger.errors import AccordError, ProofError, StorageError
from ledger.keys import Signer, VerifierKey
from ledger.merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_plan,
    inclusion_plan,
    leaf_hash,
    root_plan,
)
from ledger.note import Note, NoteSignature
from ledger.store import AppendConflict, Chunk, LogStore, Rows, StoredEntry
from ledger.timefmt import format_time
from ledger.tlog_proof import TlogProof

MAX_ATTEMPTS = 1_000


@dataclass(frozen=True)
class LogHead:
    """What an append follows: the size, the last ``logged_at``, the tree's frontier."""

    size: int
    logged_at: str | None
    frontier: CompactRange

    @property
    def root(self) -> bytes:
        return self.frontier.root()


Check = Callable[[LogHead, Sequence[Entry]], None]
"""A rule check: given the head and the entries that would follow it, return to
accept them or raise an AccordError to refuse them. It may be called again,
against a newer head, after a lost race."""


T = TypeVar("T")


@dataclass(frozen=True)
class Verdict(Generic[T]):
    """What a judge decided against one head: the entries to store after it, in order,
    their bytes, what commits with them, and whatever the caller wants back."""

    entries: Sequence[Entry]
    datas: Sequence[bytes]
    outcome: T
    rows: Rows | None = None
    refused: bool = False
    """Whether some statement was refused: a refusal is final only against the head as stored."""


Judge = Callable[[LogHead, str], Verdict[T]]
"""Judges statements against ``head`` at time ``logged_at`` (never before the head's):
returns a Verdict, or raises an AccordError to refuse them all. It may be called
again, against a newer head, after a lost race."""


@dataclass(frozen=True)
class Appended(Generic[T]):
    """The verdict that was committed, and whether its rows were written with it."""

    verdict: Verdict[T]
    rows_written: bool

    @property
    def entries(self) -> list[Entry]:
        return list(self.verdict.entries)


def accept_all(head: LogHead, entries: Sequence[Entry]) -> None:
    """The check of a log that enforces no rules (storage tests, benchmarks)."""


def wall_clock() -> int:
    return int(time.time())


class Log:
    """The log kept in a LogStore: append, read, prove, checkpoint."""

    def __init__(self, store: LogStore, clock: Callable[[], int] = wall_clock) -> None:
        self.store = store
        self.clock = clock
        self._frontier = CompactRange(0, [])
        self._head: LogHead | None = None
        self._seen_size = 0
        """The largest size this Log has read from its store (a proof up to it needs no head read)."""
        """The head as this Log last saw it: after its own append it is current unless another writer appended since."""

    def _frontier_at(self, size: int) -> CompactRange:
        # Our own appends keep the frontier current; after another writer's,
        # it is read back: one stored node per set bit of the size.
        if self._frontier.size != size:
            ids = CompactRange.frontier_ids(size)
            self._frontier = CompactRange(size, self.store.read_nodes(ids))
        return self._frontier

    def head(self) -> LogHead:
        """The head as stored now."""
        last = self.store.head()
        if last is None:
            self._head = LogHead(0, None, CompactRange(0, []))
        else:
            size = last.index + 1
            self._head = LogHead(size, Entry.from_bytes(last.data).logged_at, self._frontier_at(size))
        return self._head

    @property
    def size(self) -> int:
        last = self.store.head()
        size = 0 if last is None else last.index + 1
        self._seen_size = max(self._seen_size, size)
        if self._head is not None and self._head.size != size:
            self._head = None  # another writer appended: the next append reads the head anew
        return size

    def commit(self, judge: Judge[T]) -> Appended[T]:
        """Store what ``judge`` accepts after the head, with its rows, in one transaction.

        The one append path. The first attempt follows the head this Log left
        after its own last append, without reading it back: if another writer
        appended since, the insert at that index fails and the statements are
        judged again against the head read anew; a refusal (raised, or noted
        in the verdict) is only final once judged against the head as stored.
        Raises what the judge raises (nothing is appended), StorageError if
        the store fails.
        """
        head, fresh = (self._head, False) if self._head is not None else (self.head(), True)
        for _ in range(MAX_ATTEMPTS):
            logged_at = format_time(self.clock())
            if head.logged_at is not None and logged_at < head.logged_at:
                logged_at = head.logged_at
            try:
                verdict = judge(head, logged_at)
            except AccordError:
                if fresh or self.size == head.size:
                    raise
                head, fresh = self.head(), True
                continue
            if verdict.refused and not fresh and self.size != head.size:
                head, fresh = self.head(), True
                continue
            try:
                last = verdict.entries[-1].logged_at if verdict.entries else head.logged_at
                written = self._store_after(head, verdict.datas, verdict.rows, last)
            except AppendConflict:
                head, fresh = self.head(), True
                continue
            return Appended(verdict, written)
        raise StorageError("log", f"append lost {MAX_ATTEMPTS} races in a row; is another writer stuck?")

    def append(self, statements: Sequence[str], check: Check = accept_all, also: Callable[[Any, Sequence[Entry]], None] | None = None) -> list[Entry]:
        """Append signed statements as consecutive entries, all or none.

        ``logged_at`` is the clock's time, never before the previous entry's.
        ``also(cursor, entries)`` writes whatever else must commit with the
        entries. Raises whatever ``check`` raises (nothing is appended),
        MalformedError for an entry over 65,535 bytes, StorageError if the
        store fails.
        """

        def judge(head: LogHead, logged_at: str) -> Verdict[None]:
            entries = [Entry(head.size + offset, logged_at, text) for offset, text in enumerate(statements)]
            check(head, entries)
            datas = [entry.to_bytes() for entry in entries]
            rows = None if also is None else lambda cursor: also(cursor, entries) is None
            return Verdict(entries, datas, None, rows)

        return self.commit(judge).entries

    def append_entries(self, entries: Sequence[Entry], check: Check = accept_all) -> None:
        """Append entries exactly as they are (a copy of this log from elsewhere), all or none.

        Requires ``entries[0].index`` to be the log's size and the indexes to
        follow each other. A lost race is not retried: the copy no longer
        extends this log, and the caller must look again.
        """
        head = self.head()
        for offset, entry in enumerate(entries):
            if entry.index != head.size + offset:
                raise StorageError("log", f"entry index {entry.index} does not extend the log of size {head.size + offset}")
        check(head, entries)
        self._store_copy(head, [entry.to_bytes() for entry in entries], logged_at=entries[-1].logged_at if entries else head.logged_at)

    def append_verified(self, first: int, datas: Sequence[bytes], rows: Rows | None = None) -> bool:
        """:meth:`import_verified` of one chunk and no checkpoint."""
        return self.import_verified(first, [(datas, rows)])[0]

    def import_verified(
        self, first: int, chunks: Iterable[tuple[Sequence[bytes], Rows | None]], checkpoint: Note | None = None, kept: Sequence[Note] = ()
    ) -> list[bool]:
        """Append entry bytes that a verifier has judged (an import), exactly as they are, in chunks,
        each with what its ``rows(cursor)`` writes, and ``checkpoint`` if it is newer than the
        newest stored, after the published checkpoints ``kept`` (in order of size) that are
        newer than it: all in ONE transaction, so a crash leaves the log as before or after.

        ``first`` must be the log's size. Nothing is parsed again: the caller vouches that the
        bytes are entries ``first, first + 1, ...`` and that the checkpoint's signature and root
        were checked. A lost race is not retried: the copy no longer extends this log. Returns,
        per chunk, whether its rows were written.
        """
        head = self.head()
        if first != head.size:
            raise StorageError("log", f"entry index {first} does not extend the log of size {head.size}")
        adopted: list[tuple[int, str]] = []
        if checkpoint is not None:
            latest = self.store.latest_checkpoint()
            newest = -1 if latest is None else Checkpoint.from_text(Note.from_text(latest[1]).text).size
            sequence = 0 if latest is None else latest[0] + 1
            if newest < Checkpoint.from_text(checkpoint.text).size:
                for note in [*kept, checkpoint]:
                    if newest < Checkpoint.from_text(note.text).size and (note is checkpoint or note.to_text() != checkpoint.to_text()):
                        adopted.append((sequence + len(adopted), note.to_text()))
        frontier = CompactRange(head.frontier.size, list(head.frontier.hashes))

        def stored_chunks() -> Iterator[Chunk]:
            for datas, rows in chunks:
                start = frontier.size
                yield [StoredEntry(index, data, tuple(frontier.append(leaf_hash(data)))) for index, data in enumerate(datas, start)], rows

        try:
            written = self.store.append_many(stored_chunks(), adopted)
        except AppendConflict as error:
            meanwhile = f"entry {head.size}" if not adopted else f"entry {head.size} or checkpoint {adopted[0][0]}"
            raise StorageError("log", f"another writer appended {meanwhile} meanwhile; nothing was appended") from error
        self._frontier, self._head = frontier, None
        return written

    def _store_copy(self, head: LogHead, datas: Sequence[bytes], rows: Rows | None = None, logged_at: str | None = None) -> bool:
        """:meth:`_store_after` for a copy, which a lost race leaves no longer extending this log."""
        try:
            return self._store_after(head, datas, rows, logged_at)
        except AppendConflict as error:
            raise StorageError("log", f"another writer appended entry {head.size} meanwhile; nothing was appended") from error

    def _store_after(self, head: LogHead, datas: Sequence[bytes], rows: Rows | None, logged_at: str | None) -> bool:
        """Store entry bytes after ``head`` with the Merkle nodes they complete; AppendConflict if beaten.
        The head they leave is kept for the next append when ``logged_at`` (the last entry's) is given."""
        if not datas:
            return True
        frontier = CompactRange(head.frontier.size, list(head.frontier.hashes))
        stored = [StoredEntry(index, data, tuple(frontier.append(leaf_hash(data)))) for index, data in enumerate(datas, head.size)]
        written = self.store.append(stored, rows)
        self._frontier = frontier
        if datas:
            self._head = None if logged_at is None else LogHead(frontier.size, logged_at, frontier)
        return written

    def entries(self, start: int = 0, stop: int | None = None) -> Iterator[Entry]:
        """Parsed entries ``start <= index < stop``, streamed in order."""
        for stored in self.store.entries(start, stop):
            yield Entry.from_bytes(stored.data)

    def entry_data(self, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
        """The bytes of entries ``start <= index < stop``, streamed in order, unparsed (for a
        verifier, which parses and hashes them itself, or a bundle)."""
        return self.store.entry_data(start, stop)

    def frontier(self, size: int) -> CompactRange:
        """The tree's frontier at ``size`` (``size`` at most the log's), from the stored nodes."""
        self._check_size(size)
        return CompactRange(size, self.store.read_nodes(CompactRange.frontier_ids(size)))

    def entry(self, index: int) -> Entry:
        stored = self.store.entry(index)
        if stored is None:
            raise StorageError("log", f"no entry {index}: the log has {self.size}")
        return Entry.from_bytes(stored.data)

    def _check_size(self, size: int) -> None:
        # A log only grows: a size this Log has seen stored is stored still, and needs no read.
        if 0 <= size <= self._seen_size:
            return
        if not 0 <= size <= self.size:
            raise ProofError("log", f"tree size {size} is beyond the log's size {self.size}")

    def root_at(self, size: int) -> bytes:
        """The Merkle root of the first ``size`` entries; O(log n) reads."""
        self._check_size(size)
        if size == 0:
            return EMPTY_ROOT
        plan = root_plan(size)
        return plan.rehash(self.store.read_nodes(plan.ids))[0]

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 inclusion proof of entry ``index`` in the tree of ``size``."""
        self._check_size(size)
        plan = inclusion_plan(index, size)
        return plan.rehash(self.store.read_nodes(plan.ids))

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """RFC 9162 consistency proof between the trees of ``size1`` <= ``size2``."""
        self._check_size(size2)
        plan = consistency_plan(size1, size2)
        return plan.rehash(self.store.read_nodes(plan.ids))

    def latest_checkpoint(self) -> Note | None:
        """The newest stored checkpoint note with the signatures it has so far."""
        latest = self.store.latest_checkpoint()
        return None if latest is None else Note.from_text(latest[1])

    def checkpoint_within(self, size: int) -> Note | None:
        """The newest stored checkpoint of at most ``size`` entries (for views as of an earlier entry)."""
        for _, text in self.store.checkpoints():
            note = Note.from_text(text)
            if Checkpoint.from_text(note.text).size <= size:
                return note
        return None

    def publish_checkpoint(self, operator: Signer) -> Note:
        """Sign and store a checkpoint of the current head, named for the operator's key.

        When the newest stored checkpoint already covers the head, it is
        returned unchanged (with the cosignatures it has gathered).
        """
        for _ in range(MAX_ATTEMPTS):
            head = self.head()
            latest = self.store.latest_checkpoint()
            if latest is not None:
                note = Note.from_text(latest[1])
                if Checkpoint.from_text(note.text).size >= head.size:
                    return note
            note = sign_checkpoint(Checkpoint(operator.name, head.size, head.root), operator)
            try:
                self.store.add_checkpoint(0 if latest is None else latest[0] + 1, note.to_text())
            except AppendConflict:
                continue
            return note
        raise StorageError("log", f"checkpoint lost {MAX_ATTEMPTS} races in a row")

    def adopt_checkpoint(self, note: Note) -> bool:
        """Store a checkpoint verified elsewhere (an imported one) if it is newer than ours.

        The caller must have checked its operator signature and root.
        """
        for _ in range(MAX_ATTEMPTS):
            latest = self.store.latest_checkpoint()
            if latest is not None and Checkpoint.from_text(Note.from_text(latest[1]).text).size >= Checkpoint.from_text(note.text).size:
                return False
            try:
                self.store.add_checkpoint(0 if latest is None else latest[0] + 1, note.to_text())
            except AppendConflict:
                continue
            return True
        raise StorageError("log", f"checkpoint lost {MAX_ATTEMPTS} races in a row")

    def add_cosignature(self, signature: NoteSignature, witness: VerifierKey) -> Note:
        """Store a witness's cosignature on the newest checkpoint, once it verifies.

        Refuses a cosignature of an older checkpoint (cosign the newest) and
        one that does not verify, so a stored checkpoint never carries a bad
        line that would make verifiers reject it.
        """
        for _ in range(MAX_ATTEMPTS):
            latest = self.store.latest_checkpoint()
            if latest is None:
                raise ProofError("cosign", "no checkpoint to cosign yet")
            current = Note.from_text(latest[1])
            cosigned = current.with_signatures(signature)
            verify_cosignature(cosigned, witness)
            try:
                self.store.add_checkpoint(latest[0] + 1, cosigned.to_text())
            except AppendConflict:
                continue
            return cosigned
        raise StorageError("log", f"cosignature lost {MAX_ATTEMPTS} races in a row")

    def receipt(self, index: int) -> TlogProof:
        """A C2SP tlog-proof of entry ``index`` against the newest stored checkpoint."""
        note = self.latest_checkpoint()
        checkpoint = None if note is None else Checkpoint.from_text(note.text)
        if note is None or checkpoint is None or checkpoint.size <= index:
            raise ProofError("log", f"no checkpoint covers entry {index} yet; publish one first")
        return TlogProof(index=index, hashes=tuple(self.inclusion_proof(index, checkpoint.size)), checkpoint_note=note.to_text())
