"""The C2SP tlog-tiles formats: tile paths, hash tiles, entry bundles (SPEC section 11).

Pure: no I/O. A tile at level ``L`` holds up to 256 consecutive hashes of
the tree at height ``8 * L``: hash ``i`` of tile ``N`` is the complete
subtree node ``(8 * L, N * 256 + i)``, so a hash tile is a run of the
complete-subtree nodes a store already keeps. An entry bundle holds the
entries under the level-0 tile of the same index, each as a big-endian
uint16 length and its bytes. Paths spell the index in 3-digit groups, all
but the last prefixed ``x`` (1234067 is ``x001/x234/067``); a partial tile
of width ``W`` (1 to 255) ends in ``.p/W``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ledger.errors import MalformedError, ProofError
from ledger.merkle import HASH_SIZE, NodeId, node_hash

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
MAX_LEVEL = 63
MAX_BUNDLED_ENTRY = 0xFFFF
_GROUP = re.compile(r"[0-9]{3}")
_WIDTH = re.compile(r"[1-9][0-9]{0,2}")
_LEVEL = re.compile(r"0|[1-9][0-9]?")


@dataclass(frozen=True)
class Tile:
    """Tile ``index`` of ``level`` (None: the entry bundle), ``width`` hashes or entries wide (256: full)."""

    level: int | None
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        if self.level is not None and not 0 <= self.level <= MAX_LEVEL:
            raise MalformedError("tile", f"level got {self.level}, want 0 to {MAX_LEVEL}")
        if self.index < 0:
            raise MalformedError("tile", f"index got {self.index}, want 0 or more")
        if not 1 <= self.width <= TILE_WIDTH:
            raise MalformedError("tile", f"width got {self.width}, want 1 to {TILE_WIDTH}")

    @property
    def full(self) -> bool:
        return self.width == TILE_WIDTH

    @property
    def height(self) -> int:
        """The tree height of the hashes this tile holds (an entry bundle's: 0)."""
        return TILE_HEIGHT * (self.level or 0)

    def node_ids(self) -> list[NodeId]:
        """The complete subtree nodes whose hashes make up the tile, left to right."""
        first = self.index * TILE_WIDTH
        return [(self.height, first + i) for i in range(self.width)]

    def end(self) -> int:
        """How many entries a tree must hold for this tile to exist."""
        return (self.index * TILE_WIDTH + self.width) << self.height

    def path(self) -> str:
        """The tile's path below the log's prefix, e.g. ``tile/1/x001/234.p/7``."""
        level = "entries" if self.level is None else str(self.level)
        suffix = "" if self.full else f".p/{self.width}"
        return f"tile/{level}/{encode_index(self.index)}{suffix}"

    @classmethod
    def from_path(cls, path: str) -> Tile:
        """Parse ``tile/<L>/<N>[.p/<W>]`` or ``tile/entries/<N>[.p/<W>]``, strictly as the spec spells them."""
        parts = path.split("/")
        if len(parts) < 3 or parts[0] != "tile":
            raise MalformedError("tile", f"path {path[:80]!r}: want tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>]")
        if parts[1] == "entries":
            level = None
        elif _LEVEL.fullmatch(parts[1]) and int(parts[1]) <= MAX_LEVEL:
            level = int(parts[1])
        else:
            raise MalformedError("tile", f"path {path[:80]!r}: level {parts[1][:20]!r} is not a decimal from 0 to {MAX_LEVEL}")
        groups = parts[2:]
        width = TILE_WIDTH
        if len(groups) >= 2 and groups[-2].endswith(".p"):
            if not _WIDTH.fullmatch(groups[-1]) or int(groups[-1]) >= TILE_WIDTH:
                raise MalformedError("tile", f"path {path[:80]!r}: partial width {groups[-1][:20]!r} is not a decimal from 1 to 255")
            width = int(groups[-1])
            groups = [*groups[:-2], groups[-2][: -len(".p")]]
        return cls(level, decode_index(groups, path), width)


def encode_index(index: int) -> str:
    """``index`` in zero-padded 3-digit path elements, all but the last prefixed ``x``."""
    groups = []
    while True:
        groups.append(f"{index % 1000:03d}")
        index //= 1000
        if index == 0:
            break
    return "/".join(["x" + group for group in reversed(groups[1:])] + [groups[0]])


def decode_index(groups: Sequence[str], path: str = "") -> int:
    """The index spelt by path elements ``x001``, ``x234``, ``067``; MalformedError for any other spelling."""
    *upper, last = groups
    if len(upper) > 6:  # 7 groups spell 10^21, past any tile of a tree of 2^63 entries; int() would not bound it
        raise MalformedError("tile", f"path {path[:80]!r}: index of {len(groups)} groups, want at most 7")
    if not all(group.startswith("x") and _GROUP.fullmatch(group[1:]) for group in upper) or not _GROUP.fullmatch(last):
        raise MalformedError("tile", f"path {path[:80]!r}: index is not in x-prefixed 3-digit groups")
    digits = "".join(group[1:] for group in upper) + last
    if upper and upper[0] == "x000":
        raise MalformedError("tile", f"path {path[:80]!r}: index has a leading x000 group")
    return int(digits)


def tiles_of(size: int, level: int | None) -> list[Tile]:
    """Every tile of ``level`` (None: entry bundles) that a tree of ``size`` entries has, full ones first."""
    height = TILE_HEIGHT * (level or 0)
    nodes = size >> height
    tiles = [Tile(level, index) for index in range(nodes // TILE_WIDTH)]
    if nodes % TILE_WIDTH:
        tiles.append(Tile(level, nodes // TILE_WIDTH, nodes % TILE_WIDTH))
    return tiles


def levels_of(size: int) -> list[int]:
    """The hash-tile levels a tree of ``size`` entries has (none when empty)."""
    levels = []
    level = 0
    while size >> (TILE_HEIGHT * level):
        levels.append(level)
        level += 1
    return levels


def new_tiles(old_size: int, size: int) -> list[Tile]:
    """The tiles and bundles of a tree of ``size`` that one of ``old_size`` lacks: the full ones
    completed since and the partial ones at ``size``. Requires 0 <= old_size <= size."""
    if not 0 <= old_size <= size:
        raise ProofError("tiles", f"sizes {old_size} and {size}: want 0 <= old <= new")
    fresh: list[Tile] = []
    for level in [None, *levels_of(size)]:
        had = set(tiles_of(old_size, level))
        fresh.extend(tile for tile in tiles_of(size, level) if tile not in had)
    return fresh


def encode_hashes(hashes: Iterable[bytes]) -> bytes:
    return b"".join(hashes)


def decode_hashes(data: bytes, tile: Tile) -> list[bytes]:
    """The hashes of a hash tile's bytes, which must be ``tile.width`` hashes."""
    if len(data) != tile.width * HASH_SIZE:
        raise MalformedError("tile", f"{tile.path()}: got {len(data)} bytes, want {tile.width * HASH_SIZE}")
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def encode_bundle(entries: Iterable[bytes]) -> bytes:
    """Entries as a bundle: each a big-endian uint16 length and its bytes."""
    parts = []
    for entry in entries:
        if len(entry) > MAX_BUNDLED_ENTRY:
            raise MalformedError("bundle", f"entry of {len(entry)} bytes, want at most {MAX_BUNDLED_ENTRY}")
        parts.append(len(entry).to_bytes(2, "big") + entry)
    return b"".join(parts)


def decode_bundle(data: bytes, tile: Tile) -> list[bytes]:
    """The entries of an entry bundle's bytes, which must hold exactly ``tile.width`` of them."""
    entries: list[bytes] = []
    position = 0
    while position < len(data):
        if position + 2 > len(data):
            raise MalformedError("bundle", f"{tile.path()}: a length prefix is cut off at byte {position}")
        length = int.from_bytes(data[position : position + 2], "big")
        position += 2
        if position + length > len(data):
            raise MalformedError("bundle", f"{tile.path()}: entry {len(entries)} is cut off: {length} bytes announced, {len(data) - position} left")
        entries.append(data[position : position + length])
        position += length
    if len(entries) != tile.width:
        raise MalformedError("bundle", f"{tile.path()}: got {len(entries)} entries, want {tile.width}")
    return entries


def perfect_root(hashes: Sequence[bytes]) -> bytes:
    """The root of a perfect subtree over ``hashes`` (a power of two of them)."""
    if not hashes or len(hashes) & (len(hashes) - 1):
        raise ProofError("tiles", f"{len(hashes)} hashes do not make a perfect subtree")
    level = list(hashes)
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


class TiledTree:
    """The complete subtree nodes of the tree of ``size``, read from its hash tiles.

    ``fetch(tile)`` returns the tile's hashes; tiles are fetched once each.
    Node ``(h, k)`` is folded from the ``2 ** (h % 8)`` hashes under it in the
    level ``h // 8`` tile, so any proof plan of ``ledger.merkle`` can be
    rehashed from tiles (``read_nodes``).
    """

    def __init__(self, size: int, fetch: Callable[[Tile], Sequence[bytes]]) -> None:
        self.size = size
        self._fetch = fetch
        self._tiles: dict[Tile, Sequence[bytes]] = {}

    def tile_at(self, level: int, index: int) -> Tile:
        """The tile of ``level`` and ``index`` as the tree of ``size`` has it (full or partial)."""
        nodes = self.size >> (TILE_HEIGHT * level)
        if index * TILE_WIDTH >= nodes:
            raise ProofError("tiles", f"tile {index} of level {level} is beyond the tree of size {self.size}")
        return Tile(level, index, min(TILE_WIDTH, nodes - index * TILE_WIDTH))

    def hashes(self, tile: Tile) -> Sequence[bytes]:
        if tile not in self._tiles:
            self._tiles[tile] = self._fetch(tile)
        return self._tiles[tile]

    def read_nodes(self, ids: Iterable[NodeId]) -> list[bytes]:
        """The hashes of complete subtrees ``ids`` of the tree of ``size``."""
        found = []
        for height, index in ids:
            level, below = divmod(height, TILE_HEIGHT)
            first = index << below
            if (first + (1 << below)) << (TILE_HEIGHT * level) > self.size:
                raise ProofError("tiles", f"node ({height}, {index}) is not complete in the tree of size {self.size}")
            tile = self.tile_at(level, first // TILE_WIDTH)
            offset = first % TILE_WIDTH
            found.append(perfect_root(self.hashes(tile)[offset : offset + (1 << below)]))
        return found
