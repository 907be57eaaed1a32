"""Export and import: a ledger carried as a bundle, and a local copy extended from one.

Import verifies everything before it appends anything: the bundle's entries
must agree byte for byte with the local copy where they overlap, every new
entry must hold under the rules from the local state on, and the root of the
local entries and the new ones must be the bundle checkpoint's, signed by the
operator (and cosigned by a quorum of witnesses when asked), and every
published checkpoint the bundle carries must match the tree at its size.
Only then are the new entries appended, as they are, with those checkpoints.
"""

from __future__ import annotations

import itertools
import multiprocessing
import pickle
import tempfile
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from contextlib import nullcontext
from multiprocessing.connection import Connection
from typing import Any, ContextManager, NoReturn, Protocol

from domain.snapshot import to_snapshot
from domain.state import LedgerState
from ledger.bundle import MAX_KEPT, Bundle, Manifest, write_bundle
from ledger.checkpoint import Checkpoint
from ledger.entry import Entry
from ledger.errors import AccordError, StorageError, VerificationError
from ledger.keys import VerifierKey
from ledger.note import Note
from ledger.published import compact
from ledger.statement import Statement
from ledger.store import Cursor, Rows
from projections.audit import Audit, Judged, Replay, audit, checkpoint_size
from projections.checking import start_method  # fork or spawn, as the checking workers start
from projections.ledger import CHUNK, Ledger
from projections.tables import SerializedRow, StalePosition, serialized
from projections.views import rows_for


def published(ledger: Ledger) -> list[str]:
    """Every checkpoint the log published, with its cosignatures, compacted (:func:`ledger.published.compact`)."""
    return compact(text for _, text in ledger.store.checkpoints())


def export_bundle(ledger: Ledger, path: str | Path, first: int = 0) -> Manifest:
    """Write entries ``first`` up to the newest checkpoint, with that checkpoint and every one published, as a bundle."""
    latest = ledger.log.latest_checkpoint()
    if latest is None:
        raise StorageError("export", "no checkpoint yet: the operator publishes one with accord checkpoint --sign")
    checkpoint = Checkpoint.from_text(latest.text)
    if not 0 <= first <= checkpoint.size:
        raise StorageError("export", f"--from {first} is beyond the newest checkpoint's size {checkpoint.size}")
    manifest = Manifest(checkpoint.origin, first, checkpoint.size)
    entries = ledger.log.entry_data(first, checkpoint.size)
    kept = published(ledger)
    if len(kept) > MAX_KEPT:
        raise StorageError("export", f"the log published {len(kept)} distinct checkpoints, more than the {MAX_KEPT} a bundle carries")
    write_bundle(path, manifest, entries, latest.to_text(), kept)
    return manifest


@dataclass(frozen=True)
class Imported:
    audit: Audit
    appended: int


class Source(Protocol):
    """What an import reads of a bundle (a :class:`Bundle`, or the same streamed from a log server)."""

    @property
    def manifest(self) -> Manifest: ...

    @property
    def checkpoint_note(self) -> str: ...

    @property
    def kept(self) -> Sequence[str]: ...

    def entries(self) -> Iterator[bytes]:
        """The entries ``manifest.first`` to ``manifest.size - 1``, each once, or MalformedError."""
        ...


def _start(ledger: Ledger, size: int, anchor: bytes | None) -> Replay:
    """Where the local copy stands: its state and frontier at ``size``, pinned to its own charter."""
    if size == 0:
        if anchor is None:
            raise VerificationError("import", "the local copy is empty: pin the charter with --anchor")
        return Replay(anchor)
    local_anchor = ledger.log.entry(0).leaf_hash()
    if anchor is not None and anchor != local_anchor:
        raise VerificationError("import", f"--anchor {anchor.hex()} is not the local charter's {local_anchor.hex()}")
    return Replay(local_anchor, ledger.state_at(size), ledger.log.frontier(size))


def _agreeing(ledger: Ledger, bundle: Source, local_size: int, stop: int) -> Iterator[bytes]:
    """The bundle's entries from the local head up to ``stop``, once those it shares with
    the local copy agree byte for byte."""
    entries = bundle.entries()
    first = bundle.manifest.first
    shared = itertools.islice(entries, max(0, local_size - first))
    for index, (theirs, ours) in enumerate(zip(shared, ledger.log.entry_data(first, local_size), strict=False), first):
        if theirs != ours:
            raise VerificationError("import", f"bundle contradicts the local copy at entry {index}: nothing was imported")
    yield from itertools.islice(entries, max(0, stop - max(local_size, first)))
    next(entries, None)  # read on to the end: the bundle refuses what trails its entries


def _views_writer(ledger: Ledger, first: int, changes: Sequence[tuple[int, Sequence[SerializedRow]]], snapshot: tuple[int, bytes] | None) -> Rows:
    """The rows of entries ``first, ...`` for the views, unless they are behind (a chunk before was)."""

    def write(cursor: Cursor) -> bool:
        try:
            ledger.views.write_serialized(cursor, first, changes, snapshot)
        except StalePosition:
            return False
        return True

    return write


def _kept_aside(entries: Iterator[bytes], verified: deque[bytes]) -> Iterator[bytes]:
    """``entries``, each also kept in ``verified`` until the fold takes it: what is appended is
    exactly what was verified. Holds only what the checking reads ahead of the fold."""
    for data in entries:
        verified.append(data)
        yield data


class _Appender(Protocol):
    """Where the verified chunks go, in ONE transaction committed by ``finish`` (nothing otherwise)."""

    def add(self, datas: list[bytes], rows: list[list[SerializedRow]], snapshot: tuple[int, bytes] | None) -> None: ...

    def finish(self) -> list[bool]:
        """Commit the chunks and the checkpoints; per chunk, whether its rows were written."""
        ...

    def close(self) -> None:
        """Give up what was not finished: nothing is appended."""
        ...


class _Spooled:
    """Chunks spooled to temporary files, appended in this process by ``finish`` (a store with no URL)."""

    def __init__(self, ledger: Ledger, first: int, checkpoint: str, kept: Sequence[str]) -> None:
        self._ledger, self._first, self._checkpoint, self._kept = ledger, first, checkpoint, kept
        self._spool = tempfile.TemporaryFile()
        self._count = 0

    def add(self, datas: list[bytes], rows: list[list[SerializedRow]], snapshot: tuple[int, bytes] | None) -> None:
        pickle.dump((datas, rows, snapshot), self._spool)
        self._count += 1

    def finish(self) -> list[bool]:
        self._spool.seek(0)
        ledger = self._ledger

        def chunks() -> Iterator[tuple[list[bytes], Rows]]:
            first = self._first
            for _ in range(self._count):
                datas, rows, snapshot = pickle.load(self._spool)
                yield datas, _views_writer(ledger, first, list(enumerate(rows, first)), snapshot)
                first += len(datas)

        return ledger.log.import_verified(self._first, chunks(), Note.from_text(self._checkpoint), [Note.from_text(text) for text in self._kept])

    def close(self) -> None:
        self._spool.close()


class _Abandoned(Exception):
    """The importing process gave up (or died) before it asked for the commit."""


class _Forked:
    """Chunks appended by a process of their own as the audit goes, in ONE transaction it commits
    only when ``finish`` asks: the storage work is off the fold's process (on a core of its own).

    The process opens the store anew, and gives up (rolling back) once its pipe from this one
    ends without the commit: an audit that failed, or an import killed, appends nothing and leaves
    no process behind.
    """

    def __init__(self, url: str, first: int, checkpoint: str, kept: Sequence[str]) -> None:
        context: Any = multiprocessing.get_context(start_method())
        chunks_reader, self._chunks = context.Pipe(duplex=False)
        self._answers, answer_writer = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_append_chunks, args=(url, first, checkpoint, list(kept), chunks_reader, answer_writer, self._chunks), daemon=True, name="accord-append"
        )
        self._process.start()
        chunks_reader.close()
        answer_writer.close()

    def add(self, datas: list[bytes], rows: list[list[SerializedRow]], snapshot: tuple[int, bytes] | None) -> None:
        try:
            self._chunks.send((datas, rows, snapshot))
        except OSError:
            self._failed()

    def finish(self) -> list[bool]:
        try:
            self._chunks.send(None)
            answer = self._answers.recv()
        except (OSError, EOFError):
            self._failed()
        self._process.join()
        if isinstance(answer, BaseException):
            raise answer
        written: list[bool] = answer
        return written

    def _failed(self) -> NoReturn:
        """The pipe to the appending process broke: raise the refusal it sent before it ended, if any."""
        self._process.join(timeout=10)
        try:
            answer = self._answers.recv() if self._answers.poll() else None
        except (OSError, EOFError):
            answer = None
        if isinstance(answer, AccordError):
            raise answer
        raise StorageError("import", f"the appending process {self._process.pid} ended unexpectedly (exit code {self._process.exitcode}): nothing was appended")

    def close(self) -> None:
        self._chunks.close()
        self._process.join(timeout=30)
        if self._process.is_alive():
            self._process.terminate()  # ours, by its own id
            self._process.join()
        self._answers.close()


def _append_chunks(url: str, first: int, checkpoint: str, kept: list[str], chunks: Connection, answers: Connection, theirs: Connection) -> None:
    """The appending process of :class:`_Forked`: each chunk as it comes, then the commit, or nothing."""
    theirs.close()  # forked, it holds the importer's end too: without closing it, its death would go unseen
    try:
        with Ledger.open(url) as ledger:

            def received() -> Iterator[tuple[list[bytes], Rows]]:
                position = first
                while True:
                    try:
                        message = chunks.recv()
                    except EOFError:
                        raise _Abandoned() from None
                    if message is None:
                        return
                    datas, rows, snapshot = message
                    yield datas, _views_writer(ledger, position, list(enumerate(rows, position)), snapshot)
                    position += len(datas)

            answers.send(ledger.log.import_verified(first, received(), Note.from_text(checkpoint), [Note.from_text(text) for text in kept]))
    except _Abandoned:
        return
    except AccordError as error:
        answers.send(error)
    except Exception as error:  # a store's own failure, reported as one line by the importer
        answers.send(StorageError("import", f"the append failed: {error}"))


def _appender(ledger: Ledger, first: int, checkpoint: str, kept: Sequence[str]) -> _Appender:
    url = ledger.store.url
    if url is None or getattr(ledger.store, "backend", None) not in ("sqlite", "postgres"):
        return _Spooled(ledger, first, checkpoint, kept)
    return _Forked(url, first, checkpoint, kept)


def import_bundle(
    ledger: Ledger,
    path: str | Path | Source,
    anchor: bytes | None = None,
    witnesses: Sequence[VerifierKey] = (),
    quorum: int = 0,
    on_entry: Judged | None = None,
    workers: int = 1,
    verifier: str = "libsodium",
) -> Imported:
    """Verify a bundle (at ``path``, or a Source read as one) against the local copy, then append
    what extends it, up to its checkpoint.

    The entries verified are kept aside as they are read and appended from
    there, so a bundle that changes under the import cannot slip anything in;
    the rows of the views are made by the verifying fold and written with
    them, so no entry is judged twice.
    """
    ledger.update_views()
    opened: ContextManager[Source] = Bundle(path) if isinstance(path, (str, Path)) else nullcontext(path)
    with opened as bundle:
        manifest = bundle.manifest
        local = ledger.log.size
        if manifest.first > local:
            raise VerificationError("import", f"bundle starts at entry {manifest.first}, after the {local} entries held here: nothing was imported")
        start = _start(ledger, local, anchor)
        if start.state is not None and manifest.origin != start.state.origin:
            raise VerificationError("import", f"bundle is of origin {manifest.origin!r}, this ledger of {start.state.origin!r}")
        size = checkpoint_size(bundle.checkpoint_note)
        if size < local:
            raise VerificationError("import", f"bundle's checkpoint covers {size} entries, fewer than the {local} held here: nothing to import")
        # The published checkpoints audit checks (those from the local head on) are kept with the entries.
        kept = [text for text in bundle.kept if checkpoint_size(text) >= local]
        appender = _appender(ledger, local, bundle.checkpoint_note, kept)
        try:
            # Each CHUNK entries go to the append with their rows as soon as they are judged; the last with the rule-state snapshot.
            verified: deque[bytes] = deque()
            datas: list[bytes] = []
            written: list[list[SerializedRow]] = []

            def judged(before: LedgerState | None, entry: Entry, after: LedgerState, statement: Statement) -> None:
                nonlocal datas, written
                datas.append(verified.popleft())
                written.append(serialized(rows_for(before, after, entry, statement)))
                if len(datas) == CHUNK and entry.index + 1 < size:
                    appender.add(datas, written, None)
                    datas, written = [], []
                if on_entry is not None:
                    on_entry(before, entry, after, statement)

            checked = audit(
                _kept_aside(_agreeing(ledger, bundle, local, size), verified), start.anchor, bundle.checkpoint_note, witnesses=witnesses,
                quorum=quorum, since=start, on_entry=judged, workers=workers, verifier=verifier, kept=bundle.kept,
            )
            final = checked.replay.state
            count = checked.replay.size - local
            if datas:
                appender.add(datas, written, (final.size, to_snapshot(final)) if final is not None else None)
            # Every chunk with its rows, and the checkpoint, in one transaction: a crash leaves the local copy as it was or as imported.
            kept_up = appender.finish()
        finally:
            appender.close()
    if not all(kept_up):
        ledger.update_views()
    return Imported(checked, count)
