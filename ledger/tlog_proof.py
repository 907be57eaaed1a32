"""Offline proofs that an entry is in the log (c2sp.org/tlog-proof@v1).

    c2sp.org/tlog-proof@v1
    extra <base64 opaque data>        (optional, unauthenticated)
    index <decimal>
    <base64 hash>                     (zero or more: the RFC 9162 inclusion proof)

    <the checkpoint note, verbatim, with its cosignatures>
"""

from __future__ import annotations

import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from ledger.checkpoint import (
    HASH_SIZE,
    Checkpoint,
    open_checkpoint,
    parse_decimal,
    verify_cosignatures,
)
from ledger.encoding import as_text, decode_base64, encode_base64
from ledger.errors import MalformedError
from ledger.keys import VerifierKey
from ledger.merkle import verify_inclusion
from ledger.note import Note

HEADER = "c2sp.org/tlog-proof@v1"


@lru_cache(maxsize=8)
def _check_note(text: str) -> None:
    """Raise what ``Note.from_text`` raises for ``text``; a batch's receipts share one checkpoint
    note, read once (a refusal raises every time: an exception is not cached)."""
    Note.from_text(text)


@dataclass(frozen=True)
class TlogProof:
    """Entry ``index`` is under the checkpoint in ``checkpoint_note`` by inclusion proof ``hashes``.

    ``extra`` is opaque data the proof carries unauthenticated; never trust it.
    """

    index: int
    hashes: tuple[bytes, ...]
    checkpoint_note: str
    extra: bytes | None = None

    def __post_init__(self) -> None:
        if isinstance(self.index, bool) or self.index < 0:
            raise MalformedError("tlog-proof", f"index got {self.index}, want 0 or more")
        for number, node in enumerate(self.hashes, 1):
            if len(node) != HASH_SIZE:
                raise MalformedError("tlog-proof", f"proof hash {number} got {len(node)} bytes, want {HASH_SIZE}")
        _check_note(self.checkpoint_note)

    @classmethod
    def from_text(cls, data: str | bytes) -> TlogProof:
        """Parse a proof's shape; :func:`verify_tlog_proof` says whether it proves anything."""
        data = as_text(data, "tlog-proof")
        head, blank, checkpoint_note = data.partition("\n\n")
        if not blank:
            raise MalformedError("tlog-proof", "no blank line before the checkpoint")
        lines = head.split("\n")
        if lines[0] != HEADER:
            raise MalformedError("tlog-proof", f"first line got {lines[0][:40]!r}, want {HEADER!r}")
        position = 1
        extra = None
        if position < len(lines) and lines[position].startswith("extra "):
            extra = decode_base64(lines[position][len("extra ") :], "tlog-proof", "extra")
            position += 1
        if position == len(lines) or not lines[position].startswith("index "):
            raise MalformedError("tlog-proof", f"line {position + 1}: want 'index <decimal>'")
        index = parse_decimal(lines[position][len("index ") :], "tlog-proof", "index")
        hashes = tuple(
            decode_base64(line, "tlog-proof", f"proof hash {number}") for number, line in enumerate(lines[position + 1 :], 1)
        )
        return cls(index, hashes, checkpoint_note, extra)

    def to_text(self) -> str:
        extra = "" if self.extra is None else f"extra {encode_base64(self.extra)}\n"
        # One base64 line a hash, each with its newline (a receipt carries about log2 n of them).
        hashes = b"".join(map(binascii.b2a_base64, self.hashes)).decode("ascii")
        return f"{HEADER}\n{extra}index {self.index}\n{hashes}\n{self.checkpoint_note}"


def verify_tlog_proof(
    proof: TlogProof,
    leaf_hash: bytes,
    operator_key: VerifierKey,
    witness_keys: Iterable[VerifierKey] = (),
    quorum: int = 0,
) -> Checkpoint:
    """Check that ``leaf_hash`` is entry ``proof.index`` of the log under a checkpoint the
    operator signed and at least ``quorum`` of ``witness_keys`` cosigned; return that checkpoint.

    Signatures are checked before the checkpoint is read; raises
    SignatureError or ProofError.
    """
    checkpoint, note = open_checkpoint(proof.checkpoint_note, operator_key)
    verify_cosignatures(note, witness_keys, quorum)
    verify_inclusion(proof.index, checkpoint.size, leaf_hash, proof.hashes, checkpoint.root_hash)
    return checkpoint
