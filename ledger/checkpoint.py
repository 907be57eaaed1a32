"""Checkpoints (c2sp.org/tlog-checkpoint) and their witness cosignatures (c2sp.org/tlog-cosignature, v1).

A checkpoint is the text of a signed note: the origin, the tree size in
decimal, the base64 root hash, then optional extension lines. Accord's
operator signs it with the Ed25519 key whose name is the origin; witnesses
add cosignature lines (type 0x04 key id; signature = 8-byte big-endian
timestamp || Ed25519 signature of ``cosignature/v1\\ntime <t>\\n`` + text).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ledger.encoding import decode_base64, encode_base64
from ledger.errors import MalformedError, SignatureError
from ledger.keys import COSIGNATURE_V1, Signer, VerifierKey, cosignature_message
from ledger.note import Note, NoteSignature, UnverifiedNoteError, known_signers, open_note, sign_note

HASH_SIZE = 32
# Go's sumdb/tlog holds a tree size in an int64.
MAX_TREE_SIZE = 2**63 - 1
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")


def parse_decimal(text: str, component: str, what: str) -> int:
    """An ASCII decimal without leading zeros, at most 2^63-1."""
    if not _DECIMAL.fullmatch(text) or int(text) > MAX_TREE_SIZE:
        raise MalformedError(component, f"{what} got {text[:30]!r}, want a decimal from 0 to 2^63-1 without leading zeros")
    return int(text)


@dataclass(frozen=True)
class Checkpoint:
    """A log's signed view of itself: ``origin`` names the log, ``root_hash`` is the RFC 9162 root of ``size`` leaves."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin:
            raise MalformedError("checkpoint", "origin is empty")
        if "\n" in self.origin:
            raise MalformedError("checkpoint", "origin holds a newline")
        if isinstance(self.size, bool) or not 0 <= self.size <= MAX_TREE_SIZE:
            raise MalformedError("checkpoint", f"size got {self.size}, want 0 to 2^63-1")
        if len(self.root_hash) != HASH_SIZE:
            raise MalformedError("checkpoint", f"root hash got {len(self.root_hash)} bytes, want {HASH_SIZE}")
        for number, extension in enumerate(self.extensions, 1):
            if not extension or "\n" in extension:
                raise MalformedError("checkpoint", f"extension line {number} is empty or holds a newline")

    @classmethod
    def from_text(cls, text: str) -> Checkpoint:
        """Parse a checkpoint body (a note's text, not the signed note)."""
        if not text.endswith("\n"):
            raise MalformedError("checkpoint", "does not end in a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise MalformedError("checkpoint", f"got {len(lines)} lines, want at least 3: origin, size, root hash")
        origin, size, root_hash, *extensions = lines
        return cls(
            origin,
            parse_decimal(size, "checkpoint", "size"),
            decode_base64(root_hash, "checkpoint", "root hash"),
            tuple(extensions),
        )

    def to_text(self) -> str:
        lines = [self.origin, str(self.size), encode_base64(self.root_hash), *self.extensions]
        return "".join(line + "\n" for line in lines)


def sign_checkpoint(checkpoint: Checkpoint, operator: Signer) -> Note:
    """The checkpoint as a note signed by the operator, whose key name must be the origin."""
    if operator.name != checkpoint.origin:
        raise SignatureError("checkpoint", f"operator key name got {operator.name!r}, want the origin {checkpoint.origin!r}")
    return sign_note(checkpoint.to_text(), operator)


def open_checkpoint(note_text: str | bytes, operator_key: VerifierKey) -> tuple[Checkpoint, Note]:
    """Verify the operator's signature on a checkpoint note, then parse the checkpoint.

    Cosignatures are left for :func:`verify_cosignatures`. The origin must
    be the operator key's name.
    """
    note = Note.from_text(note_text)
    open_note(note, [operator_key])
    checkpoint = Checkpoint.from_text(note.text)
    if checkpoint.origin != operator_key.name:
        raise SignatureError("checkpoint", f"origin got {checkpoint.origin!r}, want {operator_key.name!r}")
    return checkpoint, note


def cosign(checkpoint: Note | Checkpoint, witness: Signer, timestamp: int) -> NoteSignature:
    """A tlog-cosignature/v1 line by ``witness`` (in its 0x04 key form) at POSIX time ``timestamp``.

    Signs the checkpoint body only; the caller must first have checked the
    operator's signature and consistency with what it cosigned before. Add
    the line with :meth:`Note.with_signatures`.
    """
    body = checkpoint.text if isinstance(checkpoint, Note) else checkpoint.to_text()
    Checkpoint.from_text(body)  # a witness vouches for checkpoints, nothing else
    key = witness.cosigner_key()
    signature = witness.sign(cosignature_message(body.encode("utf-8"), timestamp))
    return NoteSignature(key.name, key.key_id, timestamp.to_bytes(8, "big") + signature)


def _require_witness_keys(witness_keys: Iterable[VerifierKey]) -> list[VerifierKey]:
    keys = list(witness_keys)
    for key in keys:
        if key.sig_type != COSIGNATURE_V1:
            raise SignatureError(
                "cosignature", f"witness key {key.label} has type 0x{key.sig_type:02x}, want 0x04 (cosignature/v1)"
            )
    return keys


def verify_cosignature(note: Note, witness_key: VerifierKey) -> int:
    """Verify ``witness_key``'s cosignature on a checkpoint note and return its timestamp."""
    _require_witness_keys([witness_key])
    try:
        line = open_note(note, [witness_key]).signature_by(witness_key)
    except UnverifiedNoteError:
        line = None
    if line is None:
        raise SignatureError("cosignature", f"no cosignature by {witness_key.label}")
    return int.from_bytes(line.signature[:8], "big")


def verify_cosignatures(note: Note, witness_keys: Iterable[VerifierKey], quorum: int) -> list[VerifierKey]:
    """The witnesses whose cosignatures verify; at least ``quorum`` of them, or SignatureError.

    Any cosignature by a listed witness that fails rejects the note.
    """
    witnesses = _require_witness_keys(witness_keys)
    distinct = len({key.label for key in witnesses})
    if quorum > distinct:
        raise SignatureError("cosignature", f"quorum of {quorum} cannot be met by {distinct} distinct witness keys")
    cosigned = known_signers(note, witnesses)
    if len(cosigned) < quorum:
        raise SignatureError("cosignature", f"too few witnesses cosigned: got {len(cosigned)}, want at least {quorum}")
    return cosigned
