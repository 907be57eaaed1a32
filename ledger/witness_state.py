"""A witness's memory: what it cosigned last for each log, in an SQLite file.

The read of the last cosigned size and the write of the new one happen in one
``BEGIN IMMEDIATE`` transaction, which takes SQLite's write lock before the
read: two requests for one log (from two threads or two processes on one
file) are judged one after the other, so both can never be cosigned from the
same old size (the rollback race tlog-witness describes). The response is
given only after the commit.

Refused requests whose checkpoint is validly signed (a 409 on the root or a
422 on the proof) are kept too: they may be the log's equivocation. When
one proves it (:func:`ledger.witness.equivocation`), the evidence file is
written into the evidence directory, named by its contents, so a log that
sends its fork again and again leaves one file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ledger.errors import StorageError
from ledger.keys import Signer, VerifierKey
from ledger.witness import SIZE_CONTENT_TYPE, Accepted, AddCheckpoint, Cosigned, WitnessRefusal, equivocation, judge

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cosigned (
    origin TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    root BLOB NOT NULL,
    checkpoint TEXT NOT NULL,
    cosigned_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS refused (
    number INTEGER PRIMARY KEY,
    origin TEXT NOT NULL,
    status INTEGER NOT NULL,
    problem TEXT NOT NULL,
    request BLOB NOT NULL,
    cosigned_checkpoint TEXT NOT NULL,
    received_at INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class Response:
    """What the HTTP handler sends: status, content type and body."""

    status: int
    content_type: str
    body: bytes
    evidence: str | None = None
    """The equivocation evidence file this request made, if it made one."""


@dataclass(frozen=True)
class Refused:
    """A signed checkpoint the witness refused as inconsistent with what it had cosigned."""

    origin: str
    status: int
    problem: str
    request: AddCheckpoint
    cosigned_checkpoint: str


class WitnessState:
    """The SQLite file of one witness; safe to share between threads and between processes."""

    def __init__(self, path: str | Path, *, timeout: float = 30.0, evidence_dir: str | Path | None = None) -> None:
        self.path = Path(path)
        self.evidence_dir = None if evidence_dir is None else Path(evidence_dir)
        self._local = threading.local()
        self._timeout = timeout
        connection = self._connection()
        try:
            connection.executescript(_SCHEMA)
        except sqlite3.Error as error:
            raise StorageError("witness", f"state {self.path}: {error}") from error

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            try:
                # Autocommit mode: transactions are opened by hand with BEGIN IMMEDIATE.
                connection = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False)
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=FULL")
            except sqlite3.Error as error:
                raise StorageError("witness", f"state {self.path}: {error}") from error
            self._local.connection = connection
        return connection

    def _transaction(self) -> _Transaction:
        return _Transaction(self._connection(), self.path)

    def last(self, origin: str) -> Cosigned | None:
        """What was cosigned last for ``origin``."""
        row = self._connection().execute("SELECT size, root, checkpoint FROM cosigned WHERE origin = ?", (origin,)).fetchone()
        return None if row is None else Cosigned(origin, int(row[0]), bytes(row[1]), str(row[2]))

    def add_checkpoint(
        self, body: bytes, log_keys: Mapping[str, Sequence[VerifierKey]], witness: Signer, clock: Callable[[], int]
    ) -> Response:
        """Answer one add-checkpoint request body as tlog-witness says: status, content type, body."""
        try:
            accepted = self.cosign(AddCheckpoint.from_bytes(body), log_keys, witness, clock)
        except WitnessRefusal as refusal:
            answer = _refusal(refusal)
            return Response(answer.status, answer.content_type, answer.body, refusal.evidence)
        return Response(200, "text/plain; charset=utf-8", accepted.cosignatures.encode("utf-8"))

    def cosign(
        self, request: AddCheckpoint, log_keys: Mapping[str, Sequence[VerifierKey]], witness: Signer, clock: Callable[[], int]
    ) -> Accepted:
        """Judge ``request`` against the state and, if it is cosigned, commit the new state before returning.

        Raises WitnessRefusal (nothing changed but the kept refusal).
        """
        refusal: WitnessRefusal | None = None
        last: Cosigned | None = None
        with self._transaction() as connection:
            origin = request.checkpoint_note.split("\n", 1)[0]
            row = connection.execute("SELECT size, root, checkpoint FROM cosigned WHERE origin = ?", (origin,)).fetchone()
            last = None if row is None else Cosigned(origin, int(row[0]), bytes(row[1]), str(row[2]))
            now = clock()
            try:
                accepted = judge(request, log_keys, last, witness, now)
            except WitnessRefusal as refused:
                refusal = refused
                if last is not None and (refused.status == 422 or (refused.status == 409 and request.old_size == last.size)):
                    connection.execute(
                        "INSERT INTO refused (origin, status, problem, request, cosigned_checkpoint, received_at) VALUES (?, ?, ?, ?, ?, ?)",
                        (origin, refused.status, refused.problem, request.to_bytes(), last.checkpoint_note, now),
                    )
            else:
                state = accepted.state
                connection.execute(
                    "INSERT INTO cosigned (origin, size, root, checkpoint, cosigned_at) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root, "
                    "checkpoint = excluded.checkpoint, cosigned_at = excluded.cosigned_at",
                    (state.origin, state.size, state.root_hash, state.checkpoint_note, now),
                )
        if refusal is not None:
            if last is not None and self.evidence_dir is not None:
                evidence = equivocation(request, last, refusal, log_keys)
                if evidence is not None:
                    refusal.evidence = self._keep(evidence)
            raise refusal
        return accepted

    def _keep(self, evidence: str) -> str | None:
        """Write ``evidence`` into the evidence directory under a name made of its hash; its path.

        A directory that cannot take it is logged, and the refusal answered all the same: the
        request stays in the state's refused table, from which it can be made again."""
        assert self.evidence_dir is not None
        target = self.evidence_dir / f"equivocation-{hashlib.sha256(evidence.encode()).hexdigest()[:16]}.json"
        try:
            fd, staged = tempfile.mkstemp(dir=self.evidence_dir, prefix=".equivocation.")
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(evidence)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(staged, 0o644)
            os.replace(staged, target)
        except OSError as error:
            logging.getLogger("accord.witness").error("equivocation evidence could not be written to %s: %s", self.evidence_dir, error.strerror)
            return None
        return str(target)

    def refused(self) -> Iterator[Refused]:
        """Every kept refusal of a signed checkpoint, oldest first."""
        rows = self._connection().execute(
            "SELECT origin, status, problem, request, cosigned_checkpoint FROM refused ORDER BY number"
        ).fetchall()
        for origin, status, problem, request, cosigned in rows:
            yield Refused(origin, int(status), problem, AddCheckpoint.from_bytes(bytes(request)), cosigned)

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None


def _refusal(refusal: WitnessRefusal) -> Response:
    if refusal.status == 409 and refusal.size is not None:
        return Response(409, SIZE_CONTENT_TYPE, f"{refusal.size}\n".encode("ascii"))
    return Response(refusal.status, "text/plain; charset=utf-8", f"{refusal}\n".encode("utf-8"))


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` on any error; sqlite3 errors become StorageError."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self.connection = connection
        self.path = path

    def __enter__(self) -> sqlite3.Connection:
        try:
            self.connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise StorageError("witness", f"state {self.path}: {error}") from error
        return self.connection

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _: object) -> None:
        try:
            self.connection.execute("COMMIT" if kind is None else "ROLLBACK")
        except sqlite3.Error as failure:
            raise StorageError("witness", f"state {self.path}: {failure}") from failure
        if isinstance(error, sqlite3.Error):
            raise StorageError("witness", f"state {self.path}: {error}") from error
