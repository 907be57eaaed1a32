"""Storage of the log on ``eventsourcing`` (SPEC section 7).

The log is one stream whose version is the entry index, so the library's
optimistic concurrency (a unique ``(stream, version)`` key) makes appends
linearizable: two writers can never both store entry ``i``. Each stored event
holds the entry bytes and, in front of them, the hashes of the Merkle nodes
that this entry completes (level 0, the leaf hash, first), so that tree nodes
are written once, atomically with their entry, and any proof reads O(log n)
stored events. A second stream holds signed checkpoints in order of size.

Backends are chosen by URL: ``sqlite:///relative.db``, ``sqlite:////abs.db``,
``postgresql://user@host:port/dbname[?schema=NAME]``, ``memory:`` (tests and
tools); or by the library's own environment variables (``PERSISTENCE_MODULE``
and its ``SQLITE_*`` / ``POSTGRES_*`` settings) when no URL is given.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.persistence import (
    AggregateRecorder,
    InfrastructureFactory,
    IntegrityError,
    PersistenceError,
    StoredEvent,
)
from eventsourcing.utils import Environment

from ledger.errors import StorageError
from ledger.merkle import HASH_SIZE, NodeId, completed_nodes

LOG_STREAM: UUID = uuid5(NAMESPACE_URL, "https://accord.example/streams/log")
CHECKPOINT_STREAM: UUID = uuid5(NAMESPACE_URL, "https://accord.example/streams/checkpoints")
ENTRY_TOPIC = "accord.entry/v1"
CHECKPOINT_TOPIC = "accord.checkpoint/v1"
READ_PAGE = 1_000


class AppendConflict(StorageError):
    """Another writer stored an entry at this index first: re-read and retry."""


@dataclass(frozen=True)
class StoredEntry:
    """An entry's bytes and the Merkle node hashes it completed (level 0 first)."""

    index: int
    data: bytes
    nodes: tuple[bytes, ...]

    @property
    def leaf_hash(self) -> bytes:
        return self.nodes[0]


@dataclass(frozen=True)
class Dialect:
    """How SQL is spelled for a store's database: the parameter mark and the tables' schema prefix."""

    mark: str = "?"
    prefix: str = ""

    def sql(self, statement: str) -> str:
        """``statement`` with ``{t}`` table prefixes and ``?`` marks for this database."""
        return statement.replace("{t}", self.prefix).replace("?", self.mark)


def _encode(entry: StoredEntry) -> StoredEvent:
    return StoredEvent(
        originator_id=LOG_STREAM,
        originator_version=entry.index,
        topic=ENTRY_TOPIC,
        state=b"".join(entry.nodes) + entry.data,
    )


def _decode(event: StoredEvent) -> StoredEntry:
    index = event.originator_version
    if event.topic != ENTRY_TOPIC:
        raise StorageError("store", f"event {index}: topic {event.topic!r}, want {ENTRY_TOPIC!r}")
    # The number of node hashes is fixed by the index, so the layout needs no header.
    split = HASH_SIZE * len(completed_nodes(index))
    state = bytes(event.state)
    nodes = tuple(state[i : i + HASH_SIZE] for i in range(0, split, HASH_SIZE))
    return StoredEntry(index=index, data=state[split:], nodes=nodes)


def store_environment(url: str | None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The ``eventsourcing`` settings that a store URL (or the environment) selects."""
    if url is None:
        environ = os.environ if environ is None else environ
        if not environ.get("PERSISTENCE_MODULE"):
            raise StorageError("store", "no store URL given and PERSISTENCE_MODULE is not set")
        return dict(environ)
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        # sqlite:///relative.db and sqlite:////absolute.db, as SQLAlchemy spells them.
        path = unquote(parts.path[1:]) if parts.path.startswith("/") else ""
        if parts.netloc or not path:
            raise StorageError("store", f"want sqlite:///FILE or sqlite:////ABSOLUTE/FILE, got {url!r}")
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path, "SQLITE_LOCK_TIMEOUT": "60"}
    if parts.scheme in ("postgresql", "postgres"):
        dbname = unquote(parts.path.lstrip("/"))
        if not dbname or not parts.hostname:
            raise StorageError("store", f"want postgresql://[USER[:PASSWORD]@]HOST[:PORT]/DBNAME, got {url!r}")
        settings = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": dbname,
            "POSTGRES_HOST": parts.hostname,
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_LOCK_TIMEOUT": "60",
        }
        query = parse_qs(parts.query)
        if "schema" in query:
            settings["POSTGRES_SCHEMA"] = query["schema"][-1]
        return settings
    if url == "memory:":
        return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    raise StorageError("store", f"unknown store URL {url!r}: want sqlite:///FILE, postgresql://HOST/DB or memory:")


class Store:
    """The log's two streams in one ``eventsourcing`` recorder.

    This is the only place that talks to the database; library exceptions are
    translated to StorageError here.
    """

    def __init__(self, url: str | None = None, environ: Mapping[str, str] | None = None) -> None:
        self.url = url
        settings = store_environment(url, environ)
        self.backend = settings["PERSISTENCE_MODULE"].rsplit(".", 1)[-1]
        """sqlite, postgres or popo (memory)."""
        try:
            self.factory: InfrastructureFactory[Any] = InfrastructureFactory.construct(env=Environment(env=settings))
            if settings.get("POSTGRES_SCHEMA"):
                self._create_schema(settings["POSTGRES_SCHEMA"])
            self.recorder: AggregateRecorder = self.factory.aggregate_recorder()
            self._lock = threading.Lock()
            if not self.shares_transactions:
                self._beside = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
                self._beside.row_factory = sqlite3.Row
        except (PersistenceError, OSError, ValueError) as error:
            raise StorageError("store", f"cannot open {url or settings['PERSISTENCE_MODULE']}: {error}") from error

    def _create_schema(self, schema: str) -> None:
        from psycopg.sql import SQL, Identifier

        with self.factory.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
            cursor.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(Identifier(schema)))

    def close(self) -> None:
        self.factory.close()
        if not self.shares_transactions:
            self._beside.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _select(self, stream: UUID, **where: Any) -> Sequence[StoredEvent]:
        try:
            return self.recorder.select_events(stream, **where)
        except PersistenceError as error:
            raise StorageError("store", f"read failed: {error}") from error

    @property
    def dialect(self) -> Dialect:
        """The SQL spelling of :meth:`transaction`'s database."""
        if self.backend == "postgres":
            return Dialect("%s", f'"{self.factory.datastore.schema}".')  # type: ignore[attr-defined]
        return Dialect()

    @contextmanager
    def transaction(self, commit: bool = True) -> Iterator[Any]:
        """A cursor in one transaction of the store's database, for the read models' tables: the
        log's own on SQLite and PostgreSQL; beside a memory store, a private in-memory SQLite one."""
        try:
            if self.shares_transactions:
                with self.factory.datastore.transaction(commit=commit) as cursor:  # type: ignore[attr-defined]
                    yield cursor
                return
            with self._lock:
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
        except IntegrityError:
            raise  # an index taken: the insert's caller tells an AppendConflict
        except (PersistenceError, sqlite3.Error) as error:
            raise StorageError("projections", f"database error: {error}") from error

    def _insert(self, events: Sequence[StoredEvent], rows: Callable[[Any], bool] | None = None) -> bool:
        """Insert ``events`` in one transaction, with what ``rows(cursor)`` writes in the same one."""
        try:
            if rows is None:
                self.recorder.insert_events(events)
                return True
            with self.transaction() as cursor:
                if not self.shares_transactions:
                    # The rows first, in their own database, rolled back if the insert fails.
                    written = rows(cursor)
                    self.recorder.insert_events(events)
                    return written
                # The recorder's own insert inside a transaction of ours: the
                # library's insert_events would commit on its own.
                recorder: Any = self.recorder
                insert = recorder._insert_stored_events if self.backend == "postgres" else recorder._insert_events
                insert(cursor, events)
                return rows(cursor)
        except IntegrityError as error:
            raise AppendConflict("store", f"version {events[0].originator_version} is taken") from error
        except PersistenceError as error:
            raise StorageError("store", f"write failed: {error}") from error

    # The log stream.

    def head(self) -> StoredEntry | None:
        """The last entry, or None for an empty log."""
        events = self._select(LOG_STREAM, desc=True, limit=1)
        return _decode(events[0]) if events else None

    def entry(self, index: int) -> StoredEntry | None:
        events = self._select(LOG_STREAM, gt=index - 1, lte=index, limit=1)
        return _decode(events[0]) if events else None

    def entries(self, start: int = 0, stop: int | None = None, page: int = READ_PAGE) -> Iterator[StoredEntry]:
        """Entries ``start <= index < stop`` in order, read a page at a time."""
        position = start
        while stop is None or position < stop:
            limit = page if stop is None else min(page, stop - position)
            events = self._select(LOG_STREAM, gt=position - 1, limit=limit)
            for event in events:
                yield _decode(event)
            if len(events) < limit:
                return
            position += len(events)

    def entry_data(self, start: int = 0, stop: int | None = None, page: int = READ_PAGE) -> Iterator[bytes]:
        """The bytes of entries ``start <= index < stop`` in order, without the tree nodes stored
        with them: what a verifier reads, since it recomputes the tree. One query a page, and on
        SQLite and PostgreSQL no library object per entry (the library's select makes a
        StoredEvent and a UUID for each, which a replay of millions of entries feels)."""
        if not self.shares_transactions:
            yield from (stored.data for stored in self.entries(start, stop, page))
            return
        recorder: Any = self.recorder
        stream: UUID | str
        if self.backend == "postgres":
            from psycopg.sql import SQL

            statement = recorder.select_events_statement + SQL(" AND originator_version > %s ORDER BY originator_version LIMIT %s")
            stream = LOG_STREAM
        else:
            statement = recorder.select_events_statement + "AND originator_version > ? ORDER BY originator_version LIMIT ?"
            stream = LOG_STREAM.hex
        position = start
        while stop is None or position < stop:
            limit = page if stop is None else min(page, stop - position)
            try:
                with self.factory.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
                    cursor.execute(statement, (stream, position - 1, limit))
                    rows = cursor.fetchall()
            except PersistenceError as error:
                raise StorageError("store", f"read failed: {error}") from error
            for row in rows:
                index = row["originator_version"]
                if row["topic"] != ENTRY_TOPIC:
                    raise StorageError("store", f"event {index}: topic {row['topic']!r}, want {ENTRY_TOPIC!r}")
                # As in _decode: the index fixes how many node hashes come first.
                yield bytes(row["state"])[HASH_SIZE * ((index + 1) & -(index + 1)).bit_length() :]
            if len(rows) < limit:
                return
            position = rows[-1]["originator_version"] + 1

    @property
    def shares_transactions(self) -> bool:
        """Whether other tables in the store's database can be written in the log's transactions
        (SQLite and PostgreSQL; not the memory store)."""
        return self.backend in ("sqlite", "postgres")

    def append(self, entries: Sequence[StoredEntry], rows: Callable[[Any], bool] | None = None) -> bool:
        """Store consecutive entries in one transaction; AppendConflict if an index is taken.

        ``rows`` is called with a cursor of :meth:`transaction` to write the
        read models' tables in the same commit; an exception it raises rolls
        the entries back with its own writes. Returns what it returns (True
        without it).
        """
        return self._insert([_encode(entry) for entry in entries], rows)

    def read_nodes(self, ids: Sequence[NodeId]) -> list[bytes]:
        """Hashes of complete subtrees; node (level, i) was stored with entry ((i + 1) << level) - 1."""
        hashes = []
        for level, index in ids:
            completing = ((index + 1) << level) - 1
            stored = self.entry(completing)
            if stored is None:
                raise StorageError("store", f"merkle node ({level}, {index}) is missing: no entry {completing}")
            hashes.append(stored.nodes[level])
        return hashes

    # The checkpoint stream: signed notes in order of size.

    def latest_checkpoint(self) -> tuple[int, str] | None:
        """(sequence number, note text) of the newest stored checkpoint."""
        events = self._select(CHECKPOINT_STREAM, desc=True, limit=1)
        if not events:
            return None
        return events[0].originator_version, bytes(events[0].state).decode("utf-8")

    def checkpoints(self, page: int = 100) -> Iterator[tuple[int, str]]:
        """(sequence number, note text) of every stored checkpoint, newest first."""
        below: int | None = None
        while True:
            events = self._select(CHECKPOINT_STREAM, desc=True, limit=page, **({} if below is None else {"lte": below - 1}))
            for event in events:
                yield event.originator_version, bytes(event.state).decode("utf-8")
            if len(events) < page:
                return
            below = events[-1].originator_version

    def add_checkpoint(self, sequence: int, note_text: str) -> None:
        """Store a checkpoint note as number ``sequence``; AppendConflict if taken."""
        self._insert(
            [
                StoredEvent(
                    originator_id=CHECKPOINT_STREAM,
                    originator_version=sequence,
                    topic=CHECKPOINT_TOPIC,
                    state=note_text.encode("utf-8"),
                )
            ]
        )
