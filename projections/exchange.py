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
import pickle
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from contextlib import nullcontext
from typing import IO, ContextManager, Protocol

from domain.snapshot import to_snapshot
from domain.state import LedgerState
from ledger.bundle import MAX_KEPT, Bundle, Manifest, write_bundle
from ledger.checkpoint import Checkpoint
from ledger.entry import Entry
from ledger.errors import StorageError, VerificationError
from ledger.keys import VerifierKey
from ledger.note import Note
from ledger.published import compact
from ledger.statement import Statement
from ledger.store import Cursor, Rows
from projections.audit import Audit, Judged, Replay, audit, checkpoint_size
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


def _spooled(entries: Iterator[bytes], spool: IO[bytes]) -> Iterator[bytes]:
    """``entries``, each also written to ``spool``: what is appended is exactly what was verified."""
    for data in entries:
        spool.write(data + b"\n")
        yield data


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
    with opened as bundle, tempfile.TemporaryFile() as spool, tempfile.TemporaryFile() as rows:
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

        # The rows of each CHUNK entries are spooled in one pickle: the chunks the append reads back.
        written: list[list[SerializedRow]] = []

        def judged(before: LedgerState | None, entry: Entry, after: LedgerState, statement: Statement) -> None:
            written.append(serialized(rows_for(before, after, entry, statement)))
            if len(written) == CHUNK:
                pickle.dump(written, rows)
                written.clear()
            if on_entry is not None:
                on_entry(before, entry, after, statement)

        fresh = _spooled(_agreeing(ledger, bundle, local, size), spool)
        checked = audit(
            fresh, start.anchor, bundle.checkpoint_note, witnesses=witnesses, quorum=quorum, since=start, on_entry=judged, workers=workers,
            verifier=verifier, kept=bundle.kept,
        )
        # The published checkpoints audit checked (those from the local head on) are kept with the entries.
        kept = [Note.from_text(text) for text in bundle.kept if checkpoint_size(text) >= local]
        if written:
            pickle.dump(written, rows)
        spool.seek(0)
        rows.seek(0)
        verified = (line[:-1] for line in spool)
        final = checked.replay.state
        count = checked.replay.size - local

        def chunks() -> Iterator[tuple[list[bytes], Rows]]:
            appended = 0
            while chunk := list(itertools.islice(verified, CHUNK)):
                first = local + appended
                changes = list(enumerate(pickle.load(rows), first))
                appended += len(chunk)
                snapshot = (final.size, to_snapshot(final)) if appended == count and final is not None else None
                yield chunk, _views_writer(ledger, first, changes, snapshot)

        # Every chunk with its rows, and the checkpoint, in one transaction: a crash leaves the local copy as it was or as imported.
        kept_up = ledger.log.import_verified(local, chunks(), Note.from_text(checked.replay.checkpoint or ""), kept)
    if not all(kept_up):
        ledger.update_views()
    return Imported(checked, count)
