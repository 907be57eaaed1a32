"""The read models' tables, beside the log in the same database.

``accord_rows`` holds every version of every document with the range of log
sizes it is valid for (``valid_from <= size < valid_to``), so any view can be
read as of any entry without replaying the log. ``accord_projection`` holds
the position (the log size the rows reflect) and ``accord_snapshot`` a
snapshot of the rule state; rows, position and snapshot change in one
transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from ledger.canonical import sorted_json
from ledger.errors import StorageError
from ledger.store import Cursor, LogStore
from projections.views import Row

NAME = "views"


SerializedRow = tuple[str, str, str, bool, str]
"""A row as written: view, id, subject, whether it is the document's first version, the document's canonical JSON."""


def _document_text(doc: Mapping[str, Any]) -> str:
    """How documents are stored: sorted keys, no spaces (``ledger.canonical.sorted_json``). Not
    RFC 8785: nobody signs a stored document, readers compare them as values, and the JSON they
    hold (strings, integers, lists, objects) has one such text."""
    return sorted_json(doc).decode("utf-8")


def serialized(rows: Sequence[Row]) -> list[SerializedRow]:
    return [(row.view, row.id, row.subject, row.first, _document_text(row.doc)) for row in rows]


class StalePosition(StorageError):
    """Another writer moved the projections on first: re-read and retry."""


class Database:
    """SQL on the store's own database (for a memory store, the private SQLite one beside it)."""

    def __init__(self, store: LogStore | None) -> None:
        """The database of ``store``; None: one beside a memory store of its own."""
        self.store = LogStore("memory:") if store is None else store
        self.dialect = self.store.dialect

    def sql(self, statement: str) -> str:
        """``statement`` with ``{t}`` table prefixes and ``?`` marks for this backend."""
        return self.dialect.sql(statement)

    def transaction(self, commit: bool = True) -> AbstractContextManager[Cursor]:
        return self.store.transaction(commit)


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS {t}accord_rows ("
    " view TEXT NOT NULL, id TEXT NOT NULL, subject TEXT NOT NULL,"
    " valid_from BIGINT NOT NULL, valid_to BIGINT, doc TEXT NOT NULL,"
    " PRIMARY KEY (view, id, valid_from))",
    "CREATE INDEX IF NOT EXISTS accord_rows_about ON {t}accord_rows (subject, view, valid_from)",
    "CREATE INDEX IF NOT EXISTS accord_rows_order ON {t}accord_rows (valid_from, view, id)",
    "CREATE INDEX IF NOT EXISTS accord_rows_latest ON {t}accord_rows (view, valid_from, id)",
    "CREATE TABLE IF NOT EXISTS {t}accord_projection (name TEXT PRIMARY KEY, position BIGINT NOT NULL)",
    # Apart from the position, which every append moves: a row holding a
    # snapshot of a large state would be rewritten whole with each move.
    "CREATE TABLE IF NOT EXISTS {t}accord_snapshot (name TEXT PRIMARY KEY, position BIGINT NOT NULL, snapshot TEXT NOT NULL)",
)
_SUBJECTS_PER_QUERY = 500
"""Bound parameters per IN list, well under SQLite's and PostgreSQL's limits."""
_LIVE = "valid_from <= ? AND COALESCE(valid_to, 9223372036854775807) > ?"
"""Valid at a size. Written without OR, which sends SQLite's planner to a multi-index plan over
(view, valid_to) instead of the (subject, view, valid_from) index (measured: 50x slower at 2*10^4)."""


class ViewTables:
    """Rows of the read models and the position they reflect."""

    def __init__(self, database: Database) -> None:
        self.db = database
        with self.db.transaction() as cursor:
            for statement in _SCHEMA:
                cursor.execute(self.db.sql(statement))
            cursor.execute(self.db.sql("SELECT position FROM {t}accord_projection WHERE name = ?"), (NAME,))
            if cursor.fetchone() is None:
                cursor.execute(
                    self.db.sql("INSERT INTO {t}accord_projection (name, position) VALUES (?, 0) ON CONFLICT DO NOTHING"), (NAME,)
                )

    def position(self) -> int:
        """The log size the rows reflect."""
        with self.db.transaction(commit=False) as cursor:
            cursor.execute(self.db.sql("SELECT position FROM {t}accord_projection WHERE name = ?"), (NAME,))
            return int(cursor.fetchone()["position"])

    def snapshot(self) -> tuple[int, bytes] | None:
        """(size, rule-state snapshot) last stored, if any."""
        with self.db.transaction(commit=False) as cursor:
            cursor.execute(self.db.sql("SELECT position, snapshot FROM {t}accord_snapshot WHERE name = ?"), (NAME,))
            row = cursor.fetchone()
        if row is None:
            return None
        return int(row["position"]), str(row["snapshot"]).encode("utf-8")

    def write_snapshot(self, position: int, snapshot: bytes) -> bool:
        """Store ``snapshot`` of the state after ``position`` entries in a transaction of its own,
        unless one of a later position is stored; whether it was stored."""
        sql = self.db.sql
        with self.db.transaction() as cursor:
            cursor.execute(sql("SELECT position FROM {t}accord_snapshot WHERE name = ?"), (NAME,))
            row = cursor.fetchone()
            if row is not None and int(row["position"]) >= position:
                return False
            cursor.execute(sql("DELETE FROM {t}accord_snapshot WHERE name = ?"), (NAME,))
            cursor.execute(sql("INSERT INTO {t}accord_snapshot (name, position, snapshot) VALUES (?, ?, ?)"), (NAME, position, snapshot.decode("utf-8")))
        return True

    def advance(self, start: int, changes: Sequence[tuple[int, Sequence[Row]]], snapshot: tuple[int, bytes] | None = None) -> None:
        """Write the rows of entries ``start, start + 1, ...`` and move the position past them.

        ``changes`` holds ``(entry index, rows)`` in order. Raises
        StalePosition, writing nothing, if the position is no longer ``start``.
        """
        with self.db.transaction() as cursor:
            self.write(cursor, start, changes, snapshot)

    def write(self, cursor: Cursor, start: int, changes: Sequence[tuple[int, Sequence[Row]]], snapshot: tuple[int, bytes] | None = None) -> None:
        """:meth:`advance` within a transaction of the caller's (an append's, so that rows and
        entries commit together). Raises StalePosition before writing anything."""
        self.write_serialized(cursor, start, [(index, serialized(rows)) for index, rows in changes], snapshot)

    def write_serialized(
        self, cursor: Cursor, start: int, changes: Sequence[tuple[int, Sequence[SerializedRow]]], snapshot: tuple[int, bytes] | None = None
    ) -> None:
        """:meth:`write` of rows already serialized (:func:`serialized`)."""
        sql = self.db.sql
        # One compare-and-set of the position, first: it takes the write lock
        # (SQLite) or the row lock (PostgreSQL, which re-reads the row once a
        # writer holding it commits), so two writers never both advance from
        # ``start``. (Not UPDATE ... RETURNING: SQLite has it only from 3.35.)
        cursor.execute(sql("UPDATE {t}accord_projection SET position = ? WHERE name = ? AND position = ?"), (start + len(changes), NAME, start))
        if cursor.rowcount != 1:
            cursor.execute(sql("SELECT position FROM {t}accord_projection WHERE name = ?"), (NAME,))
            raise StalePosition("projections", f"position is {int(cursor.fetchone()['position'])}, want {start}")
        # A version written here ends where the next one written here starts;
        # the version current before these changes ends at the first of them.
        ends: list[tuple[int, str, str]] = []
        versions: list[list[str | int | None]] = []
        """Rows to insert: view, id, subject, valid_from, valid_to (None: current), document."""
        latest: dict[tuple[str, str], list[str | int | None]] = {}
        for index, rows in changes:
            for view, doc_id, subject, first, doc in rows:
                version: list[str | int | None] = [view, doc_id, subject, index + 1, None, doc]
                earlier = latest.get((view, doc_id))
                if earlier is not None:
                    earlier[4] = index + 1
                elif not first:
                    ends.append((index + 1, view, doc_id))
                latest[(view, doc_id)] = version
                versions.append(version)
        if ends:
            cursor.executemany(sql("UPDATE {t}accord_rows SET valid_to = ? WHERE view = ? AND id = ? AND valid_to IS NULL"), ends)
        if versions:
            cursor.executemany(
                sql("INSERT INTO {t}accord_rows (view, id, subject, valid_from, valid_to, doc) VALUES (?, ?, ?, ?, ?, ?)"), versions
            )
        if snapshot is not None:
            cursor.execute(sql("DELETE FROM {t}accord_snapshot WHERE name = ?"), (NAME,))
            cursor.execute(
                sql("INSERT INTO {t}accord_snapshot (name, position, snapshot) VALUES (?, ?, ?)"),
                (NAME, snapshot[0], snapshot[1].decode("utf-8")),
            )

    def clear(self) -> None:
        """Forget every row, the position and the snapshot (before a rebuild)."""
        with self.db.transaction() as cursor:
            cursor.execute(self.db.sql("DELETE FROM {t}accord_rows"))
            cursor.execute(self.db.sql("UPDATE {t}accord_projection SET position = 0 WHERE name = ?"), (NAME,))
            cursor.execute(self.db.sql("DELETE FROM {t}accord_snapshot WHERE name = ?"), (NAME,))

    def document(self, view: str, doc_id: str, size: int) -> dict[str, Any] | None:
        """The version of one document valid at log size ``size``."""
        with self.db.transaction(commit=False) as cursor:
            cursor.execute(self.db.sql(f"SELECT doc FROM {{t}}accord_rows WHERE view = ? AND id = ? AND {_LIVE}"), (view, doc_id, size, size))
            row = cursor.fetchone()
        return None if row is None else dict(json.loads(row["doc"]))

    def documents(self, view: str, size: int, subject: str | None = None, last: int | None = None) -> list[dict[str, Any]]:
        """Every document of ``view`` (about ``subject``, if given) valid at log size ``size``,
        in the order they were written; with ``last``, only the last that many (one indexed query)."""
        if subject is not None:
            return self.documents_about(view, size, [subject])[subject]
        order, limit = ("DESC", f" LIMIT {int(last)}") if last is not None else ("ASC", "")
        with self.db.transaction(commit=False) as cursor:
            cursor.execute(
                self.db.sql(f"SELECT doc FROM {{t}}accord_rows WHERE view = ? AND {_LIVE} ORDER BY valid_from {order}, id {order}{limit}"),
                [view, size, size],
            )
            found = [dict(json.loads(row["doc"])) for row in cursor.fetchall()]
        return found[::-1] if last is not None else found

    def documents_about(self, view: str, size: int, subjects: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """The documents of ``view`` about each of ``subjects``, valid at size ``size``, in the order
        they were written: one query for all. It is sorted here, not in SQL, so that the planner
        takes the (subject, view, valid_from) index rather than one that yields the order."""
        about: dict[str, list[dict[str, Any]]] = {subject: [] for subject in subjects}
        rows: list[Any] = []
        with self.db.transaction(commit=False) as cursor:
            for start in range(0, len(subjects), _SUBJECTS_PER_QUERY):
                some = subjects[start : start + _SUBJECTS_PER_QUERY]
                marks = ", ".join("?" for _ in some)
                cursor.execute(
                    self.db.sql(f"SELECT subject, valid_from, id, doc FROM {{t}}accord_rows WHERE subject IN ({marks}) AND view = ? AND {_LIVE}"),
                    [*some, view, size, size],
                )
                rows.extend(cursor.fetchall())
        rows.sort(key=lambda row: (int(row["valid_from"]), row["id"]))
        for row in rows:
            about[row["subject"]].append(dict(json.loads(row["doc"])))
        return about

    def documents_by_id(self, view: str, size: int, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The documents of ``view`` named by ``ids`` that exist at log size ``size`` (a page of a
        register, read in one query per few hundred ids)."""
        found: dict[str, dict[str, Any]] = {}
        with self.db.transaction(commit=False) as cursor:
            for start in range(0, len(ids), _SUBJECTS_PER_QUERY):
                some = ids[start : start + _SUBJECTS_PER_QUERY]
                marks = ", ".join("?" for _ in some)
                cursor.execute(
                    self.db.sql(f"SELECT id, doc FROM {{t}}accord_rows WHERE view = ? AND id IN ({marks}) AND {_LIVE}"), [view, *some, size, size]
                )
                found.update((row["id"], dict(json.loads(row["doc"]))) for row in cursor.fetchall())
        return found

    def count(self, view: str, size: int) -> int:
        """How many documents of ``view`` exist at log size ``size``."""
        with self.db.transaction(commit=False) as cursor:
            cursor.execute(self.db.sql(f"SELECT COUNT(*) AS n FROM {{t}}accord_rows WHERE view = ? AND {_LIVE}"), (view, size, size))
            return int(cursor.fetchone()["n"])

    def versions(self, view: str, size: int, subject: str | None = None) -> list[tuple[int, dict[str, Any]]]:
        """Every version of the documents of ``view`` (about ``subject``, if given) written within the
        first ``size`` entries, current or replaced, as (the log size it is valid from, document), in
        the order they were written: the history a view shows only the end of."""
        where, parameters = ("subject = ? AND view = ?", [subject, view]) if subject is not None else ("view = ?", [view])
        with self.db.transaction(commit=False) as cursor:
            cursor.execute(
                self.db.sql(f"SELECT valid_from, id, doc FROM {{t}}accord_rows WHERE {where} AND valid_from <= ?"), [*parameters, size]
            )
            rows = cursor.fetchall()
        rows.sort(key=lambda row: (int(row["valid_from"]), row["id"]))
        return [(int(row["valid_from"]), dict(json.loads(row["doc"]))) for row in rows]

    def rows_from(self, first: int, page: int = 2_000) -> Iterator[tuple[str, str, str, int, str]]:
        """(view, id, subject, valid_from, doc) of every row valid from size ``first`` on, in
        (valid_from, view, id) order, read a page at a time."""
        after: tuple[int, str, str] = (first, "", "")
        sql = self.db.sql(
            "SELECT view, id, subject, valid_from, doc FROM {t}accord_rows"
            " WHERE (valid_from, view, id) > (?, ?, ?) ORDER BY valid_from, view, id LIMIT ?"
        )
        while True:
            with self.db.transaction(commit=False) as cursor:
                cursor.execute(sql, (after[0], after[1], after[2], page))
                rows = [(r["view"], r["id"], r["subject"], int(r["valid_from"]), r["doc"]) for r in cursor.fetchall()]
            yield from rows
            if len(rows) < page:
                return
            after = (rows[-1][3], rows[-1][0], rows[-1][1])

    def structure_fault(self) -> str | None:
        """What is wrong with the versions' ranges, if anything: every document needs exactly one
        current version, and each earlier version must end where the next one starts."""
        sql = self.db.sql
        with self.db.transaction(commit=False) as cursor:
            cursor.execute(sql(
                "SELECT view, id FROM {t}accord_rows GROUP BY view, id"
                " HAVING SUM(CASE WHEN valid_to IS NULL THEN 1 ELSE 0 END) != 1 LIMIT 1"
            ))
            row = cursor.fetchone()
            if row is not None:
                return f"{row['view']} {row['id']} does not have exactly one current version"
            cursor.execute(sql(
                "SELECT a.view, a.id, a.valid_from FROM {t}accord_rows a WHERE a.valid_to IS NOT NULL AND a.valid_to != ("
                " SELECT MIN(b.valid_from) FROM {t}accord_rows b WHERE b.view = a.view AND b.id = a.id AND b.valid_from > a.valid_from)"
                " OR (a.valid_to IS NOT NULL AND NOT EXISTS ("
                " SELECT 1 FROM {t}accord_rows c WHERE c.view = a.view AND c.id = a.id AND c.valid_from > a.valid_from)) LIMIT 1"
            ))
            row = cursor.fetchone()
            if row is not None:
                return f"{row['view']} {row['id']} from size {row['valid_from']} does not end where its next version starts"
        return None

    def dump(self) -> list[tuple[str, str, str, int, int | None, str]]:
        """Every row, in key order: two projections are equal iff their dumps are."""
        with self.db.transaction(commit=False) as cursor:
            cursor.execute(self.db.sql("SELECT view, id, subject, valid_from, valid_to, doc FROM {t}accord_rows ORDER BY view, id, valid_from"))
            return [
                (r["view"], r["id"], r["subject"], int(r["valid_from"]), None if r["valid_to"] is None else int(r["valid_to"]), r["doc"])
                for r in cursor.fetchall()
            ]
