"""Signed notes (c2sp.org/signed-note), as golang.org/x/mod/sumdb/note reads them.

A note is a text ending in a newline, a blank line, and one or more signature
lines ``— <key name> <base64(key id || signature)>``. The text is separated
from the signatures by the last blank line, so the text itself may hold blank
lines. The whole note is UTF-8 without ASCII control characters other than
newline.

Parsing (:meth:`Note.from_text`) checks the shape only and says nothing
about who signed. :func:`open_note` (sumdb's ``note.Open``) is the one place
signatures are checked: it returns a :class:`VerifiedNote`, whose ``sigs``
are verified and whose ``unverified_sigs`` are not, so the type says what
was checked. Nothing reads what a text says before it is opened.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from ledger.encoding import as_text, decode_base64, encode_base64
from ledger.errors import MalformedError, SignatureError
from ledger.keys import ED25519, KEY_ID_SIZE, SIGNATURE_TYPES, Signer, VerifierKey, check_key_name, key_label

# Go's sumdb/note refuses more, to bound the work one note can ask for; the
# spec requires at least 16 to be accepted.
MAX_SIGNATURES = 100
SIGNATURE_PREFIX = "\u2014 "

# ASCII controls other than newline, and lone surrogates (str values that
# are not Unicode text and cannot be UTF-8).
_FORBIDDEN = re.compile("[\x00-\x09\x0b-\x1f\ud800-\udfff]")


_CONTROL_BYTES = bytes(code for code in range(0x20) if code != 0x0A)


def _check_characters(text: str, where: str = "") -> None:
    try:
        # UTF-8 (which has no lone surrogate) holds an ASCII control byte only for an ASCII
        # control character: a table walk in C, a few times faster than the expression.
        encoded = text.encode("utf-8")
        if len(encoded.translate(None, _CONTROL_BYTES)) == len(encoded):
            return
    except UnicodeEncodeError:
        pass
    forbidden = _FORBIDDEN.search(text)
    if forbidden is not None:
        character, position = ord(forbidden.group()), forbidden.start()
        raise MalformedError(
            "note", f"{where}got U+{character:04X} at character {position}, want UTF-8 with no control character but newline"
        )


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: the key's name and id, and the signature bytes after the id."""

    name: str
    key_id: bytes
    signature: bytes

    def __post_init__(self) -> None:
        check_key_name(self.name, "note")
        if len(self.key_id) != KEY_ID_SIZE:
            raise MalformedError("note", f"key id got {len(self.key_id)} bytes, want {KEY_ID_SIZE}")
        if not self.signature:
            raise MalformedError("note", f"signature by {self.label} is empty")

    @property
    def label(self) -> str:
        return key_label(self.name, self.key_id)

    def made_by(self, key: VerifierKey) -> bool:
        """Whether this line claims ``key`` (same name and key id: the only way a key is matched)."""
        return self.name == key.name and self.key_id == key.key_id

    def to_line(self) -> str:
        return f"{SIGNATURE_PREFIX}{self.name} {encode_base64(self.key_id + self.signature)}\n"


def _parse_signature_line(line: str, number: int) -> NoteSignature:
    where = f"signature line {number}"
    if not line.startswith(SIGNATURE_PREFIX):
        raise MalformedError("note", f"{where} does not start with '\u2014 ' (em dash, space)")
    name, space, signature_b64 = line[len(SIGNATURE_PREFIX) :].partition(" ")
    if not space:
        raise MalformedError("note", f"{where} has no space between key name and signature")
    check_key_name(name, "note")
    raw = decode_base64(signature_b64, "note", where)
    if len(raw) <= KEY_ID_SIZE:
        raise MalformedError("note", f"{where}: signature got {len(raw)} bytes, want a {KEY_ID_SIZE}-byte key id and a signature")
    # Every check of NoteSignature's own holds already: the name, a 4-byte id, a signature.
    return _checked_already(NoteSignature, name=name, key_id=raw[:KEY_ID_SIZE], signature=raw[KEY_ID_SIZE:])


T = TypeVar("T")


def _checked_already(model: type[T], /, **fields: Any) -> T:
    """A frozen dataclass whose fields were checked as its ``__post_init__`` checks them, built without checking them again."""
    instance = object.__new__(model)
    instance.__dict__.update(fields)
    return instance


def _merge(existing: Iterable[NoteSignature], added: Iterable[NoteSignature]) -> tuple[NoteSignature, ...]:
    """``existing`` then ``added``; an added signature replaces any earlier one by the same key (as Go's note.Sign)."""
    merged: dict[tuple[str, bytes], NoteSignature] = {}
    for signature in existing:
        merged.setdefault((signature.name, signature.key_id), signature)
    for signature in added:
        merged.pop((signature.name, signature.key_id), None)
        merged[(signature.name, signature.key_id)] = signature
    return tuple(merged.values())


@dataclass(frozen=True)
class Note:
    """A text and its signature lines, in order; :meth:`to_text` gives back the parsed bytes exactly."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def __post_init__(self) -> None:
        _check_characters(self.text, "text: ")
        if not self.text.endswith("\n"):
            raise MalformedError("note", "text does not end in a newline")
        if not self.signatures:
            raise MalformedError("note", "no signatures: want at least 1")
        if len(self.signatures) > MAX_SIGNATURES:
            raise MalformedError("note", f"too many signatures: got {len(self.signatures)}, want at most {MAX_SIGNATURES}")

    @classmethod
    def from_text(cls, data: str | bytes) -> Note:
        """Parse a signed note; checks its shape, not its signatures (see :func:`open_note`)."""
        data = as_text(data, "note")
        _check_characters(data)
        split = data.rfind("\n\n")
        if split < 0:
            raise MalformedError("note", "no blank line between the text and the signatures")
        text, block = data[: split + 1], data[split + 2 :]
        if not block:
            raise MalformedError("note", "no signature lines after the blank line")
        if not block.endswith("\n"):
            raise MalformedError("note", "last signature line does not end in a newline")
        lines = block[:-1].split("\n")
        if len(lines) > MAX_SIGNATURES:
            raise MalformedError("note", f"too many signatures: got {len(lines)}, want at most {MAX_SIGNATURES}")
        if len(lines) == 1:  # what nearly every statement carries: one line, read without a generator
            signatures: tuple[NoteSignature, ...] = (_parse_signature_line(lines[0], 1),)
        else:
            signatures = tuple(_parse_signature_line(line, number) for number, line in enumerate(lines, 1))
        # __post_init__'s checks hold: the characters of all of ``data``, a text ending in the
        # newline before the blank line, one to MAX_SIGNATURES lines.
        return _checked_already(cls, text=text, signatures=signatures)

    def to_text(self) -> str:
        return self.text + "\n" + "".join(signature.to_line() for signature in self.signatures)

    def with_signatures(self, *added: NoteSignature) -> Note:
        """This note with ``added`` lines appended, each replacing an earlier line by the same key."""
        return Note(self.text, _merge(self.signatures, added))


def sign_note(note: str | Note, *signers: Signer) -> Note:
    """Sign a text, or add signatures to a note; a key already on the note is re-signed, not repeated.

    Requires Ed25519 (type 0x01) signers: a witness key cosigns checkpoints
    with :func:`ledger.checkpoint.cosign` instead.
    """
    text, existing = (note, ()) if isinstance(note, str) else (note.text, note.signatures)
    _check_characters(text, "text: ")
    message = text.encode("utf-8")
    added = []
    for signer in signers:
        if signer.sig_type != ED25519:
            raise SignatureError(
                "note", f"signer {signer.name} has signature type {SIGNATURE_TYPES[signer.sig_type]}, want Ed25519"
            )
        added.append(NoteSignature(signer.name, signer.key_id, signer.sign(message)))
    return Note(text, _merge(existing, added))


SignatureCheck = Callable[[int, VerifierKey, bytes, bytes], bool]
"""``check(line, key, message, signature)``: whether the signature on line ``line`` (from 0), made by
``key``, holds over ``message``. The default asks ``key.verify``; a parallel verifier answers from
what its workers already computed."""


def _verify_by_key(line: int, key: VerifierKey, message: bytes, signature: bytes) -> bool:
    return key.verify(message, signature)


@dataclass(frozen=True)
class VerifiedSignature:
    """A signature line that verified, and the known key it verified under."""

    key: VerifierKey
    line: NoteSignature


@dataclass(frozen=True)
class VerifiedNote:
    """A note opened against known keys: ``sigs`` verified, one per key in line order; ``unverified_sigs`` by keys not known."""

    text: str
    sigs: tuple[VerifiedSignature, ...]
    unverified_sigs: tuple[NoteSignature, ...]

    @property
    def signers(self) -> list[VerifierKey]:
        """The known keys that signed, in the order of their lines."""
        return [signature.key for signature in self.sigs]

    def signature_by(self, key: VerifierKey) -> NoteSignature | None:
        """``key``'s verified line, or None if ``key`` did not sign."""
        return next((signature.line for signature in self.sigs if signature.key == key), None)


class UnverifiedNoteError(SignatureError):
    """No known key signed the note (sumdb's ``UnverifiedNoteError``); ``note`` is what was opened."""

    def __init__(self, problem: str, note: VerifiedNote) -> None:
        self.note = note
        super().__init__("note", problem)


def open_note(note: str | bytes | Note, known: Iterable[VerifierKey], check: SignatureCheck = _verify_by_key) -> VerifiedNote:
    """Parse ``note`` if it is text, and verify every signature on it by a known key.

    A signature matches a known key by name and key id together; lines by
    other keys are kept, unverified. Raises SignatureError if a signature by
    a known key fails (one bad signature rejects the whole note) or if two
    known keys share a name and key id, and UnverifiedNoteError if no known
    key signed.
    """
    parsed = note if isinstance(note, Note) else Note.from_text(note)
    known = list(known)
    by_label: dict[tuple[str, bytes], VerifierKey] = {}
    for key in known:
        first = by_label.setdefault((key.name, key.key_id), key)
        if first is not key and first != key:
            raise SignatureError("note", f"ambiguous known key {key.label}: two known keys share its name and key id")
    message = parsed.text.encode("utf-8")
    verified: dict[tuple[str, bytes], VerifiedSignature] = {}
    unverified: list[NoteSignature] = []
    for line, signature in enumerate(parsed.signatures):
        signer = by_label.get((signature.name, signature.key_id))
        if signer is None:
            unverified.append(signature)
            continue
        if not check(line, signer, message, signature.signature):
            raise SignatureError("note", f"invalid signature by {signer.label}")
        label = (signer.name, signer.key_id)
        if label not in verified:
            verified[label] = _checked_already(VerifiedSignature, key=signer, line=signature)
    # Built as their constructors would (they check nothing): a verifier opens a note an entry.
    opened = _checked_already(VerifiedNote, text=parsed.text, sigs=tuple(verified.values()), unverified_sigs=tuple(unverified))
    if not verified:
        found = ", ".join(dict.fromkeys(signature.label for signature in parsed.signatures))
        wanted = ", ".join(key.label for key in known) or "none"
        raise UnverifiedNoteError(f"no signature by a known key: got {found}, want one of: {wanted}", opened)
    return opened


def known_signers(note: Note, known: Iterable[VerifierKey], check: SignatureCheck = _verify_by_key) -> list[VerifierKey]:
    """:func:`open_note`'s signers, or none where it finds no known key's signature.

    For callers that word the refusal of an unsigned note themselves (the
    rules name the actor, a cosignature policy counts its quorum).
    """
    if isinstance(known, (list, tuple)) and len(known) == 1 and len(note.signatures) == 1:
        # What nearly every statement asks: one line, one valid key. open_note's answer, without its dictionaries.
        key, line = known[0], note.signatures[0]
        if line.name != key.name or line.key_id != key.key_id:
            return []
        if not check(0, key, note.text.encode("utf-8"), line.signature):
            raise SignatureError("note", f"invalid signature by {key.label}")
        return [key]
    try:
        return open_note(note, known, check).signers
    except UnverifiedNoteError:
        return []
