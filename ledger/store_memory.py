"""The memory store: the log in this process's memory (tests, tools, a verifier's scratch copy).

Two memory stores share nothing. The read models' tables live beside it in a
private in-memory SQLite database; an append writes its rows there first and
rolls them back if the entries cannot be stored, so entries and rows still
commit together.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager

from ledger.errors import StorageError
from ledger.merkle import NodeId
from ledger.store import READ_PAGE, AppendConflict, Chunk, Cursor, Dialect, LogStore, StoredEntry, completing_entry, missing_node


class MemoryStore(LogStore):
    """A :class:`ledger.store.LogStore` in memory."""

    def __init__(self, url: str | None = "memory:", environ: Mapping[str, str] | None = None) -> None:
        self.url = url
        self.dialect = Dialect()
        self._entries: list[StoredEntry] = []
        self._checkpoints: list[str] = []
        self._lock = threading.RLock()
        self._beside = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        self._beside.row_factory = sqlite3.Row

    def close(self) -> None:
        self._beside.close()

    @contextmanager
    def transaction(self, commit: bool = True) -> Iterator[Cursor]:
        with self._lock:
            try:
                cursor = self._beside.cursor()
                cursor.execute("BEGIN")
                try:
                    yield cursor
                except BaseException:
                    self._beside.rollback()
                    raise
                if commit:
                    self._beside.commit()
                else:
                    self._beside.rollback()
            except sqlite3.Error as error:
                raise StorageError("projections", f"database error: {error}") from error

    def head(self) -> StoredEntry | None:
        with self._lock:
            return self._entries[-1] if self._entries else None

    def entry(self, index: int) -> StoredEntry | None:
        with self._lock:
            return self._entries[index] if 0 <= index < len(self._entries) else None

    def entries(self, start: int = 0, stop: int | None = None, page: int = READ_PAGE) -> Iterator[StoredEntry]:
        position = max(0, start)
        while stop is None or position < stop:
            with self._lock:
                some = self._entries[position : position + page if stop is None else min(stop, position + page)]
            yield from some
            if len(some) < page:
                return
            position += len(some)

    def entry_data(self, start: int = 0, stop: int | None = None, page: int = READ_PAGE) -> Iterator[bytes]:
        return (stored.data for stored in self.entries(start, stop, page))

    def read_nodes(self, ids: Sequence[NodeId]) -> list[bytes]:
        with self._lock:
            hashes = []
            for node in ids:
                completing = completing_entry(node)
                if not 0 <= completing < len(self._entries):
                    raise missing_node(node)
                hashes.append(self._entries[completing].nodes[node[0]])
            return hashes

    def append_many(self, chunks: Iterable[Chunk], checkpoints: Sequence[tuple[int, str]] = ()) -> list[bool]:
        with self._lock, self.transaction() as cursor:
            # The rows first, in their own database, rolled back if an entry cannot be stored.
            pending: list[StoredEntry] = []
            written: list[bool] = []
            for entries, rows in chunks:
                for stored in entries:
                    self._check_next("version", stored.index, len(self._entries) + len(pending))
                    pending.append(stored)
                written.append(True if rows is None else rows(cursor))
            for number, (sequence, _) in enumerate(checkpoints):
                self._check_next("checkpoint", sequence, len(self._checkpoints) + number)
            self._entries.extend(pending)
            self._checkpoints.extend(text for _, text in checkpoints)
            return written

    @staticmethod
    def _check_next(what: str, number: int, want: int) -> None:
        if number < want:
            raise AppendConflict("store", f"{what} {number} is taken")
        if number > want:
            raise StorageError("store", f"{what} {number} does not follow {want - 1}")

    def latest_checkpoint(self) -> tuple[int, str] | None:
        with self._lock:
            return (len(self._checkpoints) - 1, self._checkpoints[-1]) if self._checkpoints else None

    def checkpoints(self, page: int = 100, below: int | None = None) -> Iterator[tuple[int, str]]:
        with self._lock:
            stored = list(enumerate(self._checkpoints))[: below if below is None else max(below, 0)]
        return reversed(stored)

    def add_checkpoint(self, sequence: int, note_text: str) -> None:
        with self._lock:
            self._check_next("checkpoint", sequence, len(self._checkpoints))
            self._checkpoints.append(note_text)
