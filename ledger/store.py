"""Storage of the log: the one interface the rest of Accord reaches it through (SPEC section 7).

The log is one stream whose version is the entry index, stored so that two
writers can never both store entry ``i`` (a unique key: appends are
linearizable). Each stored entry holds the entry bytes and, in front of them,
the hashes of the Merkle nodes that this entry completes (level 0, the leaf
hash, first), so that tree nodes are written once, atomically with their
entry, and any proof reads O(log n) stored entries. A second stream holds
signed checkpoints in order of size.

``LogStore(url)`` (also spelled ``Store(url)``) opens a store by URL: ``sqlite:///relative.db``,
``sqlite:////abs.db``, ``postgresql://user@host:port/dbname[?schema=NAME&sslmode=...]``
(every parameter but schema goes to libpq),
``memory:`` (tests and tools); or by ``eventsourcing``'s own environment
variables (``PERSISTENCE_MODULE`` and its ``SQLITE_*`` / ``POSTGRES_*``
settings) when no URL is given. The adapters are ``ledger.store_sql``
(SQLite and PostgreSQL, on ``eventsourcing``) and ``ledger.store_memory``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit
from uuid import NAMESPACE_URL, UUID, uuid5

from ledger.errors import StorageError
from ledger.merkle import HASH_SIZE, NodeId, completed_nodes

LOG_STREAM: UUID = uuid5(NAMESPACE_URL, "https://accord.example/streams/log")
CHECKPOINT_STREAM: UUID = uuid5(NAMESPACE_URL, "https://accord.example/streams/checkpoints")
ENTRY_TOPIC = "accord.entry/v1"
CHECKPOINT_TOPIC = "accord.checkpoint/v1"
READ_PAGE = 1_000



class Cursor(Protocol):
    """The DB-API cursor of :meth:`LogStore.transaction` (sqlite3's, or psycopg's with dict rows), as far as
    Accord uses it. A fetched row is read by column name (``row["position"]``)."""

    @property
    def rowcount(self) -> int: ...

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> object: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> object: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


Rows = Callable[[Cursor], bool]
"""Writes that commit with an append, given a cursor of the store's :meth:`LogStore.transaction`.
Returns False when it wrote nothing because the rows were not current (the caller catches
them up afterwards); raising rolls the entries back with it."""


Chunk = tuple[Sequence["StoredEntry"], Rows | None]
"""Consecutive entries and the rows that commit with them."""


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

    def to_state(self) -> bytes:
        """How it is stored: the node hashes, then the entry bytes."""
        return b"".join(self.nodes) + self.data

    @classmethod
    def from_state(cls, index: int, state: bytes) -> StoredEntry:
        # The number of node hashes is fixed by the index, so the layout needs no header.
        split = HASH_SIZE * len(completed_nodes(index))
        return cls(index, state[split:], tuple(state[i : i + HASH_SIZE] for i in range(0, split, HASH_SIZE)))


def entry_bytes(index: int, state: bytes) -> bytes:
    """The entry bytes of a stored state, without the node hashes (as :meth:`StoredEntry.from_state`)."""
    return state[HASH_SIZE * ((index + 1) & -(index + 1)).bit_length() :]


def completing_entry(node: NodeId) -> int:
    """The entry stored with Merkle node (level, i): the last leaf of its subtree."""
    level, index = node
    return ((index + 1) << level) - 1


@dataclass(frozen=True)
class Dialect:
    """How SQL is spelled for a store's database: the parameter mark and the tables' schema prefix."""

    mark: str = "?"
    prefix: str = ""

    def sql(self, statement: str) -> str:
        """``statement`` with ``{t}`` table prefixes and ``?`` marks for this database."""
        return statement.replace("{t}", self.prefix).replace("?", self.mark)


class LogStore:
    """The log's two streams and a database for the tables that commit with them.

    ``LogStore(url)`` opens the store a URL (or, with none, the environment)
    names, through its backend's adapter (as ``pathlib.Path`` picks its
    flavour): a ``ledger.store_sql.SqlStore`` or a
    ``ledger.store_memory.MemoryStore``, each of which implements every
    method here that raises NotImplementedError.
    """

    def __new__(cls, url: str | None = None, environ: Mapping[str, str] | None = None) -> LogStore:
        if cls is LogStore:
            if store_environment(url, environ)["PERSISTENCE_MODULE"] == "eventsourcing.popo":
                from ledger.store_memory import MemoryStore

                cls = MemoryStore
            else:
                from ledger.store_sql import SqlStore

                cls = SqlStore
        return super().__new__(cls)

    @staticmethod
    def exists(url: str | None) -> bool:
        """Whether ``url`` names a store that holds a log already, found without creating anything:
        an SQLite file, a PostgreSQL schema with the log's table (a ``memory:`` store is made when opened)."""
        settings = store_environment(url)
        if settings["PERSISTENCE_MODULE"] == "eventsourcing.popo":
            return True
        from ledger.store_sql import log_exists

        return log_exists(settings, url)

    url: str | None
    dialect: Dialect
    """The SQL spelling of :meth:`transaction`'s database."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> LogStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def transaction(self, commit: bool = True) -> AbstractContextManager[Cursor]:
        """A cursor in one transaction of the database the read models' tables live in."""
        raise NotImplementedError

    def head(self) -> StoredEntry | None:
        """The last entry, or None for an empty log."""
        raise NotImplementedError

    def entry(self, index: int) -> StoredEntry | None:
        raise NotImplementedError

    def entries(self, start: int = 0, stop: int | None = None, page: int = READ_PAGE) -> Iterator[StoredEntry]:
        """Entries ``start <= index < stop`` in order, read a page at a time."""
        raise NotImplementedError

    def entry_data(self, start: int = 0, stop: int | None = None, page: int = READ_PAGE) -> Iterator[bytes]:
        """The bytes of entries ``start <= index < stop`` in order, without their tree nodes
        (what a verifier reads, since it recomputes the tree)."""
        raise NotImplementedError

    def read_nodes(self, ids: Sequence[NodeId]) -> list[bytes]:
        """Hashes of complete subtrees, in the order asked, in one read; StorageError if one is missing."""
        raise NotImplementedError

    def append(self, entries: Sequence[StoredEntry], rows: Rows | None = None) -> bool:
        """Store consecutive entries in one transaction, with what ``rows(cursor)`` writes;
        AppendConflict if an index is taken. Returns what ``rows`` returns (True without it)."""
        return self.append_many([(entries, rows)])[0]

    def append_many(self, chunks: Iterable[Chunk], checkpoints: Sequence[tuple[int, str]] = ()) -> list[bool]:
        """Store chunks of consecutive entries, each with what its ``rows(cursor)`` writes, then
        ``checkpoints`` (sequence number, note text), all in ONE transaction: a crash leaves the
        store as it was before or after. AppendConflict if an index or the sequence number is
        taken. Returns, per chunk, what its ``rows`` returned (True without)."""
        raise NotImplementedError

    def latest_checkpoint(self) -> tuple[int, str] | None:
        """(sequence number, note text) of the newest stored checkpoint."""
        raise NotImplementedError

    def checkpoints(self, page: int = 100, below: int | None = None) -> Iterator[tuple[int, str]]:
        """(sequence number, note text) of every stored checkpoint (numbered below ``below``), newest first."""
        raise NotImplementedError

    def add_checkpoint(self, sequence: int, note_text: str) -> None:
        """Store a checkpoint note as number ``sequence``; AppendConflict if taken."""
        raise NotImplementedError


def missing_node(node: NodeId) -> StorageError:
    return StorageError("store", f"merkle node ({node[0]}, {node[1]}) is missing: no entry {completing_entry(node)}")


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
            settings["POSTGRES_SCHEMA"] = _schema_name(query["schema"][-1])
        return settings
    if url == "memory:":
        return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    raise StorageError("store", f"unknown store URL {url!r}: want sqlite:///FILE, postgresql://HOST/DB or memory:")


_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _schema_name(name: str) -> str:
    """A schema name that is safe wherever SQL names it: lowercase letters, digits and _, at most 63."""
    if not _SCHEMA_NAME.fullmatch(name):
        raise StorageError("store", f"schema name {name!r}: want lowercase letters, digits and _, at most 63, not starting with a digit")
    return name


def driver_parameters(url: str | None) -> dict[str, str]:
    """The libpq parameters of a PostgreSQL URL's query (``sslmode=require``...), but ``schema``, which is Accord's."""
    if url is None or urlsplit(url).scheme not in ("postgresql", "postgres"):
        return {}
    parameters = {name: values[-1] for name, values in parse_qs(urlsplit(url).query).items() if name != "schema"}
    parameters.setdefault("connect_timeout", "10")
    return parameters


def without_password(url: str) -> str:
    """``url`` fit to print: its password, if any, masked."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(":" + parts.password + "@", ":***@")).geturl()


Store = LogStore
"""The name callers have opened stores by since 0.1."""
