"""The SQLite and PostgreSQL stores, on ``eventsourcing``: the only module that talks to it or to SQL
about the log.

The library's recorder creates the events table and inserts through its
public ``insert_events`` where nothing else commits with the entries. Three
things it has no public API for live here, pinned by
``tests/ledger/test_store_sql.py`` to the library version's behaviour:

- an insert inside a transaction of ours, so that the read models' rows
  commit with the entries: the recorder's ``_insert_events`` (SQLite) or
  ``_insert_stored_events`` (PostgreSQL) on a cursor of the factory's
  ``datastore.transaction``;
- the transaction's cursor itself, with its ``rowcount`` (on SQLite, the
  ``sqlite3`` cursor the library's wraps), on which its insert runs too;
- reads the library's select cannot express (the nodes of a proof, by a set
  of versions in one query; bytes without a ``StoredEvent`` per row): SQL
  over the recorder's ``events_table_name`` with its four columns.

Library exceptions are translated to StorageError here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    AggregateRecorder,
    InfrastructureFactory,
    IntegrityError,
    PersistenceError,
    StoredEvent,
)
from eventsourcing.utils import Environment

from ledger.errors import StorageError
from ledger.merkle import HASH_SIZE, NodeId
from ledger.store import (
    CHECKPOINT_STREAM,
    CHECKPOINT_TOPIC,
    ENTRY_TOPIC,
    LOG_STREAM,
    READ_PAGE,
    AppendConflict,
    Chunk,
    Cursor,
    Dialect,
    LogStore,
    StoredEntry,
    completing_entry,
    driver_parameters,
    entry_bytes,
    missing_node,
    store_environment,
    without_password,
)

EVENTS_TABLE = "stored_events"
"""The recorder's table: the library names it ``<env name or 'stored'>_events``."""
NODES_PER_QUERY = 500
"""Bound parameters per IN list, well under SQLite's and PostgreSQL's limits (a proof needs ~2 log2 n)."""


def _encode(entry: StoredEntry) -> StoredEvent:
    return StoredEvent(originator_id=LOG_STREAM, originator_version=entry.index, topic=ENTRY_TOPIC, state=entry.to_state())


def _checkpoint_event(sequence: int, note_text: str) -> StoredEvent:
    return StoredEvent(originator_id=CHECKPOINT_STREAM, originator_version=sequence, topic=CHECKPOINT_TOPIC, state=note_text.encode("utf-8"))


def _checked(index: int, topic: str) -> None:
    if topic != ENTRY_TOPIC:
        raise StorageError("store", f"event {index}: topic {topic!r}, want {ENTRY_TOPIC!r}")


def _decode(event: StoredEvent) -> StoredEntry:
    _checked(event.originator_version, event.topic)
    return StoredEntry.from_state(event.originator_version, bytes(event.state))


def _reach(datastore: Any, parameters: dict[str, str], url: str) -> None:
    """Give the pool the URL's driver parameters and connect once: a server that is down or refuses
    fails here, at once, in one line, not after the pool has retried for its 30 s timeout."""
    import psycopg

    datastore.pool.kwargs.update(parameters)
    kwargs = {name: value for name, value in datastore.pool.kwargs.items() if name != "row_factory"}
    try:
        psycopg.connect(**kwargs).close()
    except psycopg.Error as error:
        reason = str(error).strip().split("\n")[0]
        raise StorageError("store", f"cannot connect to {without_password(url)}: {reason}") from error


def log_exists(settings: Mapping[str, str], url: str | None) -> bool:
    """Whether the SQLite file, or the PostgreSQL schema and table, of a store's ``settings`` exist.
    Looks only: a read of a store that is not there must create nothing."""
    if settings["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
        return Path(settings["SQLITE_DBNAME"]).exists()
    import psycopg
    from psycopg.conninfo import make_conninfo

    connection = {
        "host": settings["POSTGRES_HOST"], "port": settings["POSTGRES_PORT"], "dbname": settings["POSTGRES_DBNAME"],
        "user": settings["POSTGRES_USER"], "password": settings["POSTGRES_PASSWORD"], **driver_parameters(url),
    }
    table = f'"{settings.get("POSTGRES_SCHEMA") or "public"}".{EVENTS_TABLE}'
    try:
        with psycopg.connect(make_conninfo(**connection)) as database:
            row = database.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
    except psycopg.Error as error:
        reason = str(error).strip().split("\n")[0]
        where = without_password(url) if url else f"PostgreSQL at {connection['host']}:{connection['port']}"
        raise StorageError("store", f"cannot connect to {where}: {reason}") from error
    return bool(row and row[0])


class SqlStore(LogStore):
    """A :class:`ledger.store.LogStore` in an SQLite file or a PostgreSQL database (schema)."""

    def __init__(self, url: str | None = None, environ: Mapping[str, str] | None = None) -> None:
        self.url = url
        settings = store_environment(url, environ)
        self.backend = settings["PERSISTENCE_MODULE"].rsplit(".", 1)[-1]
        """sqlite or postgres."""
        if self.backend not in ("sqlite", "postgres"):
            raise StorageError("store", f"unknown PERSISTENCE_MODULE {settings['PERSISTENCE_MODULE']!r}: want eventsourcing.sqlite or eventsourcing.postgres")
        try:
            self.factory: InfrastructureFactory[Any] = InfrastructureFactory.construct(env=Environment(env=dict(settings)))
            self._datastore: Any = self.factory.datastore  # type: ignore[attr-defined]
            if self.backend == "postgres" and url is not None:
                _reach(self._datastore, driver_parameters(url), url)
            if settings.get("POSTGRES_SCHEMA"):
                self._create_schema(settings["POSTGRES_SCHEMA"])
            self.recorder: AggregateRecorder = self.factory.aggregate_recorder()
        except (PersistenceError, OSError, ValueError) as error:
            raise StorageError("store", f"cannot open {url or settings['PERSISTENCE_MODULE']}: {error}") from error
        recorder: Any = self.recorder
        table = recorder.events_table_name
        if self.backend == "postgres":
            self.dialect = Dialect("%s", f'"{self._datastore.schema}".')
            self._table = f'"{self._datastore.schema}"."{table}"'
            self._insert_in = recorder._insert_stored_events
            self._stream: Any = LOG_STREAM
        else:
            self.dialect = Dialect()
            self._table = table
            self._insert_in = recorder._insert_events
            self._stream = LOG_STREAM.hex

    def _create_schema(self, schema: str) -> None:
        from psycopg.sql import SQL, Identifier

        with self._datastore.transaction(commit=True) as cursor:
            cursor.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(Identifier(schema)))

    def close(self) -> None:
        self.factory.close()

    @contextmanager
    def transaction(self, commit: bool = True) -> Iterator[Cursor]:
        """A DB-API cursor (with ``rowcount``) in one transaction of the log's own database."""
        try:
            with self._datastore.transaction(commit=commit) as cursor:
                # SQLite's own cursor, which the library wraps without its rowcount.
                yield cursor.sqlite_cursor if self.backend == "sqlite" else cursor
        except IntegrityError:
            raise  # an index taken: the insert's caller tells an AppendConflict
        except PersistenceError as error:
            raise StorageError("projections", f"database error: {error}") from error

    def _select(self, stream: UUID, **where: Any) -> Sequence[StoredEvent]:
        try:
            return self.recorder.select_events(stream, **where)
        except PersistenceError as error:
            raise StorageError("store", f"read failed: {error}") from error

    def _rows(self, where: str, parameters: Sequence[Any]) -> list[Any]:
        """(originator_version, topic, state) rows of the log stream, by SQL of ours."""
        statement = self.dialect.sql(f"SELECT originator_version, topic, state FROM {self._table} WHERE originator_id = ? AND {where}")
        try:
            with self._datastore.transaction(commit=False) as cursor:
                cursor.execute(statement, (self._stream, *parameters))
                return list(cursor.fetchall())
        except PersistenceError as error:
            raise StorageError("store", f"read failed: {error}") from error

    def _plain_rows(self, where: str, parameters: Sequence[Any]) -> list[tuple[Any, Any, Any]]:
        """:meth:`_rows` as plain (originator_version, topic, state) tuples: on SQLite without a
        ``sqlite3.Row`` made per row (a proof's read is a few rows, and its cost is per row)."""
        if self.backend != "sqlite":
            return [(row["originator_version"], row["topic"], row["state"]) for row in self._rows(where, parameters)]
        statement = f"SELECT originator_version, topic, state FROM {self._table} WHERE originator_id = ? AND {where}"
        try:
            with self._datastore.transaction(commit=False) as cursor:
                plain = cursor.sqlite_cursor
                plain.row_factory = None
                plain.execute(statement, (self._stream, *parameters))
                return list(plain.fetchall())
        except PersistenceError as error:
            raise StorageError("store", f"read failed: {error}") from error

    def _insert(self, events: Sequence[StoredEvent]) -> None:
        """Insert ``events`` through the library's public insert, which commits them on its own."""
        try:
            self.recorder.insert_events(events)
        except IntegrityError as error:
            raise AppendConflict("store", f"version {events[0].originator_version} is taken") from error
        except PersistenceError as error:
            raise StorageError("store", f"write failed: {error}") from error

    # The log stream.

    def head(self) -> StoredEntry | None:
        events = self._select(LOG_STREAM, desc=True, limit=1)
        return _decode(events[0]) if events else None

    def entry(self, index: int) -> StoredEntry | None:
        events = self._select(LOG_STREAM, gt=index - 1, lte=index, limit=1)
        return _decode(events[0]) if events else None

    def entries(self, start: int = 0, stop: int | None = None, page: int = READ_PAGE) -> Iterator[StoredEntry]:
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
        """One query a page, and no library object per entry (the library's select makes a
        StoredEvent and a UUID for each, which a replay of millions of entries feels)."""
        position = start
        while stop is None or position < stop:
            limit = page if stop is None else min(page, stop - position)
            rows = self._rows("originator_version > ? ORDER BY originator_version LIMIT ?", (position - 1, limit))
            for row in rows:
                _checked(row["originator_version"], row["topic"])
                yield entry_bytes(row["originator_version"], bytes(row["state"]))
            if len(rows) < limit:
                return
            position = rows[-1]["originator_version"] + 1

    def read_nodes(self, ids: Sequence[NodeId]) -> list[bytes]:
        """One query (``IN`` over the entries that completed them) for a proof's O(log n) nodes."""
        wanted = sorted({completing_entry(node) for node in ids})
        states: dict[int, bytes] = {}
        for start in range(0, len(wanted), NODES_PER_QUERY):
            some = wanted[start : start + NODES_PER_QUERY]
            for version, topic, state in self._plain_rows(f"originator_version IN ({', '.join('?' for _ in some)})", some):
                _checked(version, topic)
                states[version] = bytes(state)
        hashes = []
        for node in ids:
            state = states.get(completing_entry(node))
            if state is None:
                raise missing_node(node)
            level = node[0]
            hashes.append(state[HASH_SIZE * level : HASH_SIZE * (level + 1)])
        return hashes

    def append_many(self, chunks: Iterable[Chunk], checkpoints: Sequence[tuple[int, str]] = ()) -> list[bool]:
        written: list[bool] = []
        first: int | None = None
        try:
            with self.transaction() as cursor:
                # The recorder's insert inside our transaction: its insert_events would commit on its own.
                for entries, rows in chunks:
                    if entries:
                        first = entries[0].index if first is None else first
                        self._insert_in(cursor, [_encode(entry) for entry in entries])
                    written.append(True if rows is None else rows(cursor))
                if checkpoints:
                    self._insert_in(cursor, [_checkpoint_event(*checkpoint) for checkpoint in checkpoints])
        except IntegrityError as error:
            taken = f"version {first}" if first is not None else f"checkpoint {checkpoints[0][0] if checkpoints else '?'}"
            raise AppendConflict("store", f"{taken} is taken") from error
        except PersistenceError as error:
            raise StorageError("store", f"write failed: {error}") from error
        return written

    # The checkpoint stream: signed notes in order of size.

    def latest_checkpoint(self) -> tuple[int, str] | None:
        events = self._select(CHECKPOINT_STREAM, desc=True, limit=1)
        if not events:
            return None
        return events[0].originator_version, bytes(events[0].state).decode("utf-8")

    def checkpoints(self, page: int = 100, below: int | None = None) -> Iterator[tuple[int, str]]:
        if below is not None and below <= 0:
            return
        while True:
            events = self._select(CHECKPOINT_STREAM, desc=True, limit=page, **({} if below is None else {"lte": below - 1}))
            for event in events:
                yield event.originator_version, bytes(event.state).decode("utf-8")
            if len(events) < page:
                return
            below = events[-1].originator_version

    def add_checkpoint(self, sequence: int, note_text: str) -> None:
        self._insert([_checkpoint_event(sequence, note_text)])
