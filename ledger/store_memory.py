"""The memory store: the log in this process's memory (tests, tools, a verifier's scratch copy).

Two memory stores share nothing. The read models' tables live beside it in a
private in-memory SQLite database; an append writes its rows there first and
rolls them back if the entries cannot be stored, so entries and rows still
commit together.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from ledger.errors import StorageError
from ledger.merkle import NodeId
from ledger.store import READ_PAGE, AppendConflict, Dialect, LogStore, Rows, StoredEntry, completing_entry, missing_node


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
    def transaction(self, commit: bool = True) -> Iterator[Any]:
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

    def append(self, entries: Sequence[StoredEntry], rows: Rows | None = None) -> bool:
        with self._lock:
            size = len(self._entries)
            for offset, stored in enumerate(entries):
                if stored.index != size + offset:
                    taken = stored.index < size + offset
                    problem = "is taken" if taken else f"does not follow entry {size + offset - 1}"
                    raise (AppendConflict if taken else StorageError)("store", f"version {stored.index} {problem}")
            if rows is None:
                self._entries.extend(entries)
                return True
            with self.transaction() as cursor:
                written = rows(cursor)
                self._entries.extend(entries)
            return written

    def latest_checkpoint(self) -> tuple[int, str] | None:
        with self._lock:
            return (len(self._checkpoints) - 1, self._checkpoints[-1]) if self._checkpoints else None

    def checkpoints(self, page: int = 100) -> Iterator[tuple[int, str]]:
        with self._lock:
            stored = list(enumerate(self._checkpoints))
        return reversed(stored)

    def add_checkpoint(self, sequence: int, note_text: str) -> None:
        with self._lock:
            if sequence != len(self._checkpoints):
                problem = "is taken" if sequence < len(self._checkpoints) else f"does not follow {len(self._checkpoints) - 1}"
                raise (AppendConflict if sequence < len(self._checkpoints) else StorageError)("store", f"checkpoint {sequence} {problem}")
            self._checkpoints.append(note_text)
