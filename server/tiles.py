"""The tile tree of a stored log: what ``GET /tile/...`` serves and ``accord publish`` writes.

One reader serves both, so the static files and the server's answers are the
same bytes. Tiles exist up to the newest published checkpoint: a tile the
checkpoint's tree does not hold is not served (404), as a tile beyond what
a client can verify is of no use to it.
"""

from __future__ import annotations

import os
import tempfile
from collections import OrderedDict
from pathlib import Path

from ledger.checkpoint import Checkpoint
from ledger.errors import AccordError, StorageError
from ledger.note import Note
from ledger.store import Store
from ledger.tiles import Tile, encode_bundle, encode_hashes, new_tiles

KEPT_PAGE = 500
"""Checkpoints one ``GET /checkpoints`` answers at most."""
CACHED_TILES = 4_096
"""Full tiles kept in memory (8 KiB a hash tile): they never change."""


class TileSource:
    """Tiles, entry bundles and the checkpoint of the log in ``store``."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._cache: OrderedDict[Tile, bytes] = OrderedDict()

    def checkpoint(self) -> tuple[str, int] | None:
        """The newest stored checkpoint note (with its cosignatures) and its size, or None."""
        latest = self.store.latest_checkpoint()
        if latest is None:
            return None
        return latest[1], Checkpoint.from_text(Note.from_text(latest[1]).text).size

    def kept(self, after: int, upto: int | None, limit: int = KEPT_PAGE) -> tuple[list[str], bool]:
        """The published checkpoints (with their cosignatures) of ``after < size <= upto``, oldest
        first: at most ``limit``, the newest of them, and whether older ones in the range are left."""
        found: list[str] = []
        for _, text in self.store.checkpoints():
            size = Checkpoint.from_text(Note.from_text(text).text).size
            if size <= after:
                return found[::-1], False
            if upto is not None and size > upto:
                continue
            if len(found) == limit:
                return found[::-1], True
            found.append(text)
        return found[::-1], False

    def read(self, tile: Tile, size: int) -> bytes | None:
        """The bytes of ``tile`` if the tree of ``size`` holds it, else None."""
        if tile.end() > size:
            return None
        if tile in self._cache:
            self._cache.move_to_end(tile)
            return self._cache[tile]
        data = self._bundle(tile) if tile.level is None else self._hashes(tile)
        if tile.full:
            self._cache[tile] = data
            if len(self._cache) > CACHED_TILES:
                self._cache.popitem(last=False)
        return data

    def _bundle(self, tile: Tile) -> bytes:
        first = tile.index * 256
        return encode_bundle(self.store.entry_data(first, first + tile.width))

    def _hashes(self, tile: Tile) -> bytes:
        if tile.level == 0:
            # Leaf hashes come with their entries: one query for the whole tile.
            first = tile.index * 256
            leaves = [stored.leaf_hash for stored in self.store.entries(first, first + tile.width)]
            if len(leaves) != tile.width:
                raise StorageError("tiles", f"{tile.path()}: got {len(leaves)} entries, want {tile.width}")
            return encode_hashes(leaves)
        return encode_hashes(self.store.read_nodes(tile.node_ids()))


def publish(store: Store, directory: str | Path) -> tuple[int, int, int]:
    """Write the tile tree of the newest checkpoint under ``directory`` as static files.

    Incremental: only the tiles that the previously published checkpoint's
    tree lacks are written (the full ones completed since and the partial
    ones at the new size); the checkpoint is replaced atomically last, so a
    reader never finds a checkpoint whose tiles are missing, and a publish
    cut short is redone from the old checkpoint. Returns (old size, new
    size, files written).
    """
    root = Path(directory)
    source = TileSource(store)
    latest = source.checkpoint()
    if latest is None:
        raise StorageError("publish", "no checkpoint yet: the operator publishes one with accord checkpoint --sign")
    note, size = latest
    old = _published_size(root / "checkpoint")
    if old > size:
        raise StorageError("publish", f"{root / 'checkpoint'} is of size {old}, beyond the store's newest checkpoint of size {size}")
    written = 0
    for tile in new_tiles(old, size):
        data = source.read(tile, size)
        assert data is not None
        _write_atomically(root / tile.path(), data)
        written += 1
    _write_atomically(root / "checkpoint", note.encode("utf-8"))
    return old, size, written + 1


def _published_size(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        return Checkpoint.from_text(Note.from_text(path.read_bytes()).text).size
    except (AccordError, OSError) as error:
        raise StorageError("publish", f"{path} is not a checkpoint: {error}") from error


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
