"""The ledger as its users reach it: rules on every append, read models kept current.

:class:`Ledger` joins the log (ledger/), the rules (domain/) and the read
models (projections/). Every append is checked by ``domain.rules.apply``
against the state at the exact head it follows, and the read models' rows
for it are written in the same transaction as the entries, with the position
they reflect. Any process may still find the read models behind (a memory
store writes them one step later; a writer of bare entries, such as a copy,
writes none) and catch them up, a chunk of entries per transaction; none can
apply an entry to them twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from domain.charter import OPERATOR
from domain.context import Verify
from domain.rules import apply, assume_verified, read_statement
from domain.snapshot import from_snapshot, to_snapshot
from domain.state import LedgerState
from ledger.entry import Entry
from ledger.errors import AccordError, MalformedError, SignatureError, StorageError
from ledger.keys import Signer
from ledger.log import Judge, Log, LogHead, Verdict, wall_clock
from ledger.note import Note
from ledger.statement import Statement
from ledger.store import Cursor, LogStore
from projections.tables import Database, StalePosition, ViewTables
from projections.views import Row, rows_for

CHUNK = 1_000
SNAPSHOT_EVERY = 1_000

Prepared = tuple[tuple[Note, Statement], Verify]
"""A statement parsed (``read_statement``) and the Verify its signatures are checked with."""


@dataclass(frozen=True)
class Judged:
    """The rules' verdict on a batch: per statement its entry or its refusal, and the state after."""

    results: list[Entry | AccordError]
    state: LedgerState | None


class Ledger:
    """A ledger in one store: append through the rules, read the views."""

    def __init__(self, store: LogStore, clock: Callable[[], int] = wall_clock) -> None:
        self.store = store
        self.log = Log(store, clock)
        self.views = ViewTables(Database(store))
        self._state: LedgerState | None = None
        self.snapshot_every: int | None = SNAPSHOT_EVERY
        """Entries between the snapshots that appends write with their rows; None: appends write
        none, and the owner calls :meth:`write_snapshot` when it suits it (a server, when idle)."""

    @classmethod
    def open(cls, url: str | None, clock: Callable[[], int] = wall_clock) -> Ledger:
        return cls(LogStore(url), clock)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # The rule state.

    @property
    def last_state(self) -> LedgerState | None:
        """The rule state after the last append or fold, as held (the store is not read)."""
        return self._state

    @property
    def _size(self) -> int:
        return 0 if self._state is None else self._state.size

    def _fold(self, state: LedgerState | None, start: int, stop: int) -> LedgerState | None:
        # The store's entries were judged when they were appended; signatures
        # are checked again only by a verifier (projections.audit).
        for entry in self.log.entries(start, stop):
            state = apply(state, entry, assume_verified)
        return state

    def _restore(self, size: int) -> LedgerState | None:
        """The stored snapshot if it is of at most ``size`` entries and readable, else None."""
        snapshot = self.views.snapshot()
        if snapshot is None or snapshot[0] > size:
            return None
        try:
            return from_snapshot(snapshot[1])
        except (MalformedError, KeyError, TypeError, ValueError):
            return None  # a snapshot is only a cache: fold from the charter instead

    def state_at(self, size: int) -> LedgerState | None:
        """The rule state after the first ``size`` entries, from the nearest known point."""
        if self._size > size or (self._state is None and size > 0):
            self._state = self._restore(size)
        self._state = self._fold(self._state, self._size, size)
        return self._state

    def state(self) -> LedgerState | None:
        """The rule state at the log's head (None before the charter)."""
        return self.state_at(self.log.size)

    # Appending.

    def _judge(self, statements: Sequence[str], all_or_none: bool, prepared: Sequence[Prepared | None] | None = None) -> Judge[Judged]:
        """The rules' judge of ``statements`` in order, each against the state the accepted ones
        before it leave; a refusal raises (``all_or_none``) or is kept in its statement's place.
        ``prepared[i]``, when given, is statement i parsed and its signature check (see append_each)."""

        def judge(head: LogHead, logged_at: str) -> Verdict[Judged]:
            state = self.state_at(head.size)
            entries: list[Entry] = []
            datas: list[bytes] = []
            changes: list[tuple[int, list[Row]]] = []
            results: list[Entry | AccordError] = []
            for number, text in enumerate(statements):
                entry = Entry(head.size + len(entries), logged_at, text)
                ready = None if prepared is None else prepared[number]
                try:
                    parsed = read_statement(text) if ready is None else ready[0]
                    after = apply(state, entry, parsed=parsed) if ready is None else apply(state, entry, ready[1], parsed)
                    data = entry.to_bytes()
                except AccordError as error:
                    if all_or_none:
                        raise
                    results.append(error)
                    continue
                # The rows follow from the states judged here: no entry is judged twice.
                changes.append((entry.index, rows_for(state, after, entry, parsed[1])))
                entries.append(entry)
                datas.append(data)
                results.append(entry)
                state = after
            snapshot = self._snapshot_due(head.size, state) if entries else None

            def rows(cursor: Cursor) -> bool:
                try:
                    self.views.write(cursor, head.size, changes, snapshot)
                except StalePosition:
                    return False  # behind (a crash, or a writer without views): caught up after the commit
                return True

            return Verdict(entries, datas, Judged(results, state), rows, refused=len(entries) < len(results))

        return judge

    def _commit(self, statements: Sequence[str], all_or_none: bool, prepared: Sequence[Prepared | None] | None = None) -> list[Entry | AccordError]:
        appended = self.log.commit(self._judge(statements, all_or_none, prepared))
        self._state = appended.verdict.outcome.state
        if not appended.rows_written:
            self.update_views()
        return appended.verdict.outcome.results

    def append(self, statements: Sequence[str]) -> list[Entry]:
        """Append signed statements (notes) through the rules, all or none, with their rows in the views.

        The entries, their rows and the views' position commit in one
        transaction. Raises the rules' AccordError for a refused statement:
        nothing is appended.
        """
        return [result for result in self._commit(statements, all_or_none=True) if isinstance(result, Entry)]

    def append_each(self, statements: Sequence[str], prepared: Sequence[Prepared | None] | None = None) -> list[Entry | AccordError]:
        """Append each signed statement that the rules accept, judged in order, in one transaction.

        Each is judged against the head and the states of the accepted ones
        before it; a refused one gets, in its place, the AccordError that
        ``append([statement])`` would raise there, and does not affect the
        others. The accepted ones are appended with their rows and the views'
        position in one transaction; a lost race judges them all again
        against the new head. ``prepared[i]``, when given, is
        ``read_statement(statements[i])`` done already and the Verify the
        rules check its signatures with (a server checks them before the
        batch, off this thread); the rules are the same.
        """
        return self._commit(statements, all_or_none=False, prepared=prepared)

    def _snapshot_due(self, start: int, state: LedgerState | None) -> tuple[int, bytes] | None:
        every = self.snapshot_every
        if state is None or every is None or state.size // every == start // every:
            return None
        return state.size, to_snapshot(state)

    def write_snapshot(self) -> int | None:
        """Store a snapshot of the rule state at the last append or fold, in a transaction of its own
        (unless a later one is stored); its size, or None before the charter."""
        state = self._state
        if state is None:
            return None
        self.views.write_snapshot(state.size, to_snapshot(state))
        return state.size

    def check_operator(self, signer: Signer) -> None:
        """Refuse a key that is not a valid key of this ledger's operator (before it signs anything)."""
        state = self.state()
        keys = [] if state is None or OPERATOR not in state.actors else state.actors[OPERATOR].valid_keys()
        if signer.verifier_key() not in keys:
            raise SignatureError("checkpoint", f"{signer.verifier_key().label} is not a valid key of this ledger's operator")

    def publish_checkpoint(self, operator: Signer) -> Note:
        """Sign and store a checkpoint of the head with the operator's key, and no other."""
        self.check_operator(operator)
        return self.log.publish_checkpoint(operator)

    # The read models.

    def update_views(self) -> int:
        """Bring the read models up to the log's head; returns the size they reflect."""
        while True:
            position = self.views.position()
            head = self.log.size
            if position >= head:
                return position
            stop = min(head, position + CHUNK)
            before = self.state_at(position)
            changes: list[tuple[int, list[Row]]] = []
            state = before
            for entry in self.log.entries(position, stop):
                after = apply(state, entry, assume_verified)
                changes.append((entry.index, rows_for(state, after, entry, read_statement(entry.statement)[1])))
                state = after
            try:
                self.views.advance(position, changes, self._snapshot_due(position, state))
            except StalePosition:
                continue
            self._state = state

    def rebuild(self) -> int:
        """Forget the read models and fold them again from entry 0."""
        self.views.clear()
        self._state = None
        return self.update_views()

    def entries(self, start: int = 0, stop: int | None = None) -> Iterator[Entry]:
        return self.log.entries(start, stop)

    def as_of_size(self, as_of: int | None) -> int:
        """The log size a view "as of entry n" reads at (the head when None)."""
        position = self.update_views()
        if as_of is None:
            return position
        if not 0 <= as_of < position:
            raise StorageError("ledger", f"no entry {as_of}: the log has entries 0 to {position - 1}")
        return as_of + 1

    def document(self, view: str, doc_id: str, as_of: int | None = None) -> dict[str, Any] | None:
        return self.views.document(view, doc_id, self.as_of_size(as_of))
