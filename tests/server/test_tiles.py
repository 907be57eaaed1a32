"""The tlog-tiles formats (ledger/tiles.py): paths, tile sets, bundles, nodes read from tiles."""

from __future__ import annotations

import pytest

from ledger.errors import MalformedError, ProofError
from ledger.merkle import MemoryTree, consistency_plan, inclusion_plan, root_plan
from ledger.tiles import Tile, TiledTree, decode_bundle, decode_hashes, encode_bundle, encode_index, new_tiles, tiles_of
from tests.server.tilereader import path as reader_path


@pytest.mark.parametrize(
    ("index", "spelt"),
    [(0, "000"), (7, "007"), (999, "999"), (1000, "x001/000"), (1234067, "x001/x234/067"), (10**9, "x001/x000/x000/000")],
)
def test_index_spelt_in_x_prefixed_groups_as_the_spec_shows(index: int, spelt: str) -> None:
    assert encode_index(index) == spelt
    assert Tile.from_path(f"tile/0/{spelt}") == Tile(0, index)


@pytest.mark.parametrize("tile", [Tile(0, 0), Tile(3, 1234067, 7), Tile(None, 1000), Tile(None, 5, 255), Tile(63, 0, 1)])
def test_tile_paths_round_trip_and_match_the_independent_reader(tile: Tile) -> None:
    assert Tile.from_path(tile.path()) == tile
    assert tile.path() == reader_path("entries" if tile.level is None else str(tile.level), tile.index, tile.width)


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("tile/00/000", "level '00' is not a decimal from 0 to 63"),
        ("tile/64/000", "level '64' is not a decimal from 0 to 63"),
        ("tile/0/1", "index is not in x-prefixed 3-digit groups"),
        ("tile/0/001/002", "index is not in x-prefixed 3-digit groups"),
        ("tile/0/x000/001", "index has a leading x000 group"),
        ("tile/0/000.p/0", "partial width '0' is not a decimal from 1 to 255"),
        ("tile/0/000.p/256", "partial width '256' is not a decimal from 1 to 255"),
        ("tile/0/000.p/07", "partial width '07' is not a decimal from 1 to 255"),
        ("tiles/0/000", "want tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>]"),
    ],
)
def test_paths_spelt_otherwise_are_refused(path: str, problem: str) -> None:
    with pytest.raises(MalformedError) as refused:
        Tile.from_path(path)
    assert refused.value.problem == f"path {path!r}: {problem}"


def test_a_tree_of_70000_has_the_tiles_the_spec_lists() -> None:
    # "273 full level 0 tiles, one partial level 0 tile of width 112, one full level 1 tile,
    # one partial level 1 tile of width 17, and one partial level 2 tile of width 1."
    level0 = tiles_of(70_000, 0)
    assert len(level0) == 274 and all(t.full for t in level0[:273]) and level0[-1] == Tile(0, 273, 112)
    assert tiles_of(70_000, 1) == [Tile(1, 0), Tile(1, 1, 17)]
    assert tiles_of(70_000, 2) == [Tile(2, 0, 1)]
    assert tiles_of(70_000, 3) == []
    assert tiles_of(256, 0) == [Tile(0, 0)] and tiles_of(256, 1) == [Tile(1, 0, 1)]


def test_new_tiles_are_the_completed_full_ones_and_the_new_partial_ones() -> None:
    assert new_tiles(0, 0) == []
    assert new_tiles(10, 10) == []
    assert new_tiles(10, 300) == [Tile(None, 0), Tile(None, 1, 44), Tile(0, 0), Tile(0, 1, 44), Tile(1, 0, 1)]
    assert new_tiles(300, 301) == [Tile(None, 1, 45), Tile(0, 1, 45)]
    # Every tile of the bigger tree is either new or already in the smaller one's set.
    for old, new in [(0, 70_000), (255, 257), (65_535, 65_536)]:
        had = {t for level in (None, 0, 1, 2) for t in tiles_of(old, level)}
        want = {t for level in (None, 0, 1, 2) for t in tiles_of(new, level)}
        assert set(new_tiles(old, new)) == want - had
    with pytest.raises(ProofError):
        new_tiles(5, 4)


def test_bundles_are_uint16_length_prefixed_and_round_trip() -> None:
    entries = [b"", b"a", b"x" * 300, b"y" * 65_535]
    data = encode_bundle(entries)
    assert data[:2] == b"\x00\x00" and data[2:5] == b"\x00\x01a" and data[5:7] == (300).to_bytes(2, "big")
    assert decode_bundle(data, Tile(None, 0, 4)) == entries
    with pytest.raises(MalformedError, match="entry of 65536 bytes, want at most 65535"):
        encode_bundle([b"z" * 65_536])


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\x00", "tile/entries/000.p/2: a length prefix is cut off at byte 0"),
        (b"\x00\x05abc", "tile/entries/000.p/2: entry 0 is cut off: 5 bytes announced, 3 left"),
        (b"\x00\x01a", "tile/entries/000.p/2: got 1 entries, want 2"),
    ],
)
def test_bundles_cut_short_or_of_the_wrong_width_are_refused(data: bytes, problem: str) -> None:
    with pytest.raises(MalformedError) as refused:
        decode_bundle(data, Tile(None, 0, 2))
    assert refused.value.problem == problem


def test_hash_tiles_must_be_width_hashes() -> None:
    with pytest.raises(MalformedError, match=r"tile/0/000.p/2: got 32 bytes, want 64"):
        decode_hashes(b"\x00" * 32, Tile(0, 0, 2))


def memory_tree(size: int) -> MemoryTree:
    tree = MemoryTree()
    for index in range(size):
        tree.append(index.to_bytes(4, "big"))
    return tree


@pytest.mark.parametrize("size", [1, 2, 255, 256, 257, 511, 512, 700, 65_537])
def test_proofs_and_roots_read_from_tiles_equal_the_trees(size: int) -> None:
    tree = memory_tree(size)
    fetched: list[Tile] = []

    def fetch(tile: Tile) -> list[bytes]:
        fetched.append(tile)
        return tree.read_nodes(tile.node_ids())

    tiled = TiledTree(size, fetch)
    assert root_plan(size).rehash(tiled.read_nodes(root_plan(size).ids))[0] == tree.root()
    for index in {0, size // 2, size - 1}:
        plan = inclusion_plan(index, size)
        assert plan.rehash(tiled.read_nodes(plan.ids)) == tree.inclusion_proof(index, size)
    for old in {1, size // 3, size - 1}:
        if 0 < old <= size:
            plan = consistency_plan(old, size)
            assert plan.rehash(tiled.read_nodes(plan.ids)) == tree.consistency_proof(old, size)
    assert len(fetched) == len(set(fetched)), "each tile is fetched once"


def test_a_node_beyond_the_tree_is_refused_not_guessed() -> None:
    tiled = TiledTree(300, lambda tile: memory_tree(300).read_nodes(tile.node_ids()))
    with pytest.raises(ProofError, match=r"node \(8, 1\) is not complete in the tree of size 300"):
        tiled.read_nodes([(8, 1)])
