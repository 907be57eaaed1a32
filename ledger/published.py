"""Every checkpoint a log published, with its cosignatures, kept in few notes (SPEC 12).

The log's checkpoint stream holds a note each time a checkpoint was signed
or gained a cosignature, and an idle log has its latest checkpoint cosigned
again every ``witness_lag / 2``: many notes of one checkpoint, one witness
line apart. What verification needs of them is, per checkpoint and per
witness, the earliest and the latest time that witness cosigned it (the
earliest bounds forward dating, the latest bounds backdating). So
:func:`compact` keeps, for each distinct checkpoint, at most two notes: one
with each signer's earliest line and one with each signer's latest. Every
line it keeps is one the log stored, byte for byte; nothing is verified
here (verifiers check every line they use).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ledger.checkpoint import Checkpoint
from ledger.errors import AccordError, MalformedError
from ledger.note import Note, NoteSignature

COSIGNATURE_SIZE = 8 + 64
"""A cosignature/v1 line's signature: a big-endian uint64 timestamp, then the Ed25519 signature."""


def _time(line: NoteSignature) -> int | None:
    return int.from_bytes(line.signature[:8], "big") if len(line.signature) == COSIGNATURE_SIZE else None


@dataclass
class _Seen:
    """One checkpoint's lines: per signer (name, key id), the earliest and the latest."""

    size: int
    earliest: dict[tuple[str, bytes], NoteSignature] = field(default_factory=dict)
    latest: dict[tuple[str, bytes], NoteSignature] = field(default_factory=dict)

    def add(self, line: NoteSignature) -> None:
        signer = (line.name, line.key_id)
        at = _time(line)
        first, last = self.earliest.get(signer), self.latest.get(signer)
        if first is None or last is None:
            self.earliest[signer] = self.latest[signer] = line
            return
        # A line without a timestamp (the operator's) is the same in every note: the first one seen stays.
        if at is not None and (_time(first) or 0) > at:
            self.earliest[signer] = line
        if at is not None and (_time(last) or 0) < at:
            self.latest[signer] = line


def _ordered(lines: dict[tuple[str, bytes], NoteSignature]) -> tuple[NoteSignature, ...]:
    """The log's lines first, as first seen, then the cosignatures by signer: the same notes whatever the order read."""
    timed = sorted((signer, line) for signer, line in lines.items() if _time(line) is not None)
    return (*(line for line in lines.values() if _time(line) is None), *(line for _, line in timed))


def compact(notes: Iterable[str]) -> list[str]:
    """The distinct checkpoints among ``notes`` in order of size, each as at most two notes.

    MalformedError if a text is not a checkpoint note.
    """
    seen: dict[str, _Seen] = {}
    for number, text in enumerate(notes, 1):
        try:
            note = Note.from_text(text)
            kept = seen.get(note.text)
            if kept is None:
                kept = seen[note.text] = _Seen(Checkpoint.from_text(note.text).size)
        except AccordError as error:
            raise MalformedError("checkpoints", f"published checkpoint {number}: {error}") from error
        for line in note.signatures:
            kept.add(line)
    out: list[str] = []
    for body, kept in sorted(seen.items(), key=lambda item: (item[1].size, item[0])):
        earliest = Note(body, _ordered(kept.earliest)).to_text()
        latest = Note(body, _ordered(kept.latest)).to_text()
        out += [earliest] if earliest == latest else [earliest, latest]
    return out
