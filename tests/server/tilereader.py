"""An independent reader of a tlog-tiles tree, written from the spec's text alone.

It shares no code with ledger/tiles.py or ledger/merkle.py: paths are spelt
here, hashes folded here, the root recomputed by the RFC 6962 definition
(split at the largest power of two below n). ``fetch(path)`` returns a
resource's bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable


def spell(index: int) -> str:
    digits = f"{index:03d}"
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join(["x" + g for g in groups[:-1]] + groups[-1:])


def path(level: str, index: int, width: int) -> str:
    return f"tile/{level}/{spell(index)}" + ("" if width == 256 else f".p/{width}")


def mth(hashes: list[bytes]) -> bytes:
    """RFC 6962 Merkle tree hash over already-hashed leaves."""
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(hashes[:k]) + mth(hashes[k:])).digest()


def leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def read_tree(fetch: Callable[[str], bytes], size: int) -> tuple[bytes, bytes, list[bytes]]:
    """(root from the level-0 tiles, root from the entry bundles, the entries), once every
    higher-level tile agrees with the tiles below it."""
    leaves: list[bytes] = []
    entries: list[bytes] = []
    for index in range((size + 255) // 256):
        width = min(256, size - index * 256)
        tile = fetch(path("0", index, width))
        assert len(tile) == 32 * width
        leaves += [tile[i : i + 32] for i in range(0, len(tile), 32)]
        bundle = fetch(path("entries", index, width))
        position = 0
        while position < len(bundle):
            length = int.from_bytes(bundle[position : position + 2], "big")
            entries.append(bundle[position + 2 : position + 2 + length])
            position += 2 + length
        assert position == len(bundle)
    assert len(entries) == size == len(leaves)
    # Each hash of a level-l tile is the MTH of 256**l consecutive leaves.
    level = 1
    while size >> (8 * level):
        span = 256**level
        count = size // span
        for index in range((count + 255) // 256):
            width = min(256, count - index * 256)
            tile = fetch(path(str(level), index, width))
            assert len(tile) == 32 * width
            for i in range(width):
                first = (index * 256 + i) * span
                assert tile[32 * i : 32 * i + 32] == mth(leaves[first : first + span]), (level, index, i)
        level += 1
    return mth(leaves), mth([leaf(e) for e in entries]), entries
