"""Bundles: a copy of the log that a delegation carries to a machine with no network.

A bundle is a directory, or the same files in one ``.tar`` file:

``bundle.json``
    ``{"version": 1, "kind": "accord-bundle", "origin", "first", "size"}``:
    the entries ``first <= index < size`` it holds.
``entries``
    the entry bytes, one per line, in order (canonical JSON has no raw
    newline, so a line is exactly an entry).
``checkpoint``
    the newest checkpoint of size ``size``, signed by the operator, with the
    witnesses' cosignatures.
``checkpoints``
    every checkpoint the log published up to ``size``, with its
    cosignatures (:func:`ledger.published.compact`): one note a line, as a
    JSON string. Verification checks each against the tree at its size and
    takes the witnesses' times from them all (SPEC 12).

A ``.tar.gz`` (or ``.tgz``) file holds the same tar compressed with gzip.

Nothing in a bundle is trusted: the verifier pins the charter's leaf hash and
checks every entry, the root and the signatures itself. Reading one is
bounded whatever it holds (SPEC 10): members are regular files only (no
links, FIFOs or devices), each name at most once, the manifest and the
checkpoint a few KiB, the published checkpoints at most MAX_KEPT notes in
MAX_KEPT_BYTES, each of this origin and within the bundle, an entry line at most 65,536 bytes; a compressed
archive is read only when its name says so, and never past the sizes its
manifest allows; the manifest must agree with its checkpoint, and entries
past the checkpoint are refused, never reported as verified.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from ledger.checkpoint import Checkpoint
from ledger.documents import load_document
from ledger.errors import MalformedError
from ledger.note import Note

BUNDLE_VERSION = 1
MANIFEST, ENTRIES, CHECKPOINT, CHECKPOINTS = "bundle.json", "entries", "checkpoint", "checkpoints"
MAX_MANIFEST = 4_096
MAX_CHECKPOINT = 16_384
"""A checkpoint note with its cosignatures: a few lines, a few dozen witnesses at most."""
MAX_KEPT = 100_000
MAX_KEPT_BYTES = 64 * 1024 * 1024
"""The published checkpoints a bundle may carry: years of batches of a council's log, in bounded memory."""
MAX_ENTRY_LINE = 65_536
"""An entry (at most 65,535 bytes, SPEC 4) and its newline."""
GZIP_SUFFIXES = (".tar.gz", ".tgz")


@dataclass(frozen=True)
class Manifest:
    origin: str
    first: int
    size: int

    def to_text(self) -> str:
        return json.dumps({"version": BUNDLE_VERSION, "kind": "accord-bundle", "origin": self.origin, "first": self.first, "size": self.size}) + "\n"

    @classmethod
    def from_text(cls, text: str | bytes) -> Manifest:
        """Parse ``bundle.json`` strictly: an exact version and kind, integer ``first`` and ``size``."""
        fields = load_document(text, "bundle.json", MAX_MANIFEST)
        if fields.document.get("version") != BUNDLE_VERSION or fields.document.get("kind") != "accord-bundle":
            raise MalformedError("bundle", f"not an accord bundle of version {BUNDLE_VERSION}")
        fields.expect("version", BUNDLE_VERSION)
        manifest = cls(fields.text("origin"), fields.integer("first"), fields.integer("size"))
        if not 0 <= manifest.first <= manifest.size:
            raise MalformedError("bundle", f"first {manifest.first} and size {manifest.size} do not make a range")
        return manifest


def is_archive_name(path: Path) -> bool:
    """Whether a bundle at ``path`` is one file (a tar, or a gzip tar) rather than a directory."""
    return path.name.endswith((".tar", *GZIP_SUFFIXES))


def kept_to_bytes(kept: Iterable[str]) -> bytes:
    """The ``checkpoints`` member: one JSON string a line."""
    return b"".join(json.dumps(text).encode("ascii") + b"\n" for text in kept)


def kept_from_bytes(data: bytes, manifest: Manifest) -> tuple[str, ...]:
    """The published checkpoint notes of a ``checkpoints`` member, each of the bundle's origin and within its size."""
    if len(data) > MAX_KEPT_BYTES:
        raise MalformedError("bundle", f"{CHECKPOINTS} is larger than {MAX_KEPT_BYTES} bytes")
    if data and not data.endswith(b"\n"):
        raise MalformedError("bundle", f"{CHECKPOINTS} does not end in a newline")
    lines = data.split(b"\n")[:-1]
    if len(lines) > MAX_KEPT:
        raise MalformedError("bundle", f"{CHECKPOINTS} holds {len(lines)} notes, want at most {MAX_KEPT}")
    kept = []
    for number, line in enumerate(lines, 1):
        if len(line) > 2 * MAX_CHECKPOINT or not line.startswith(b'"'):
            raise MalformedError("bundle", f"{CHECKPOINTS} line {number}: want a JSON string of at most {MAX_CHECKPOINT} bytes")
        try:
            text = json.loads(line)
            if not isinstance(text, str):
                raise ValueError("not a string")
            checkpoint = Checkpoint.from_text(Note.from_text(text).text)
        except (ValueError, MalformedError) as error:
            raise MalformedError("bundle", f"{CHECKPOINTS} line {number}: {error}") from error
        if checkpoint.origin != manifest.origin:
            raise MalformedError("bundle", f"{CHECKPOINTS} line {number} is of origin {checkpoint.origin!r}, the bundle of {manifest.origin!r}")
        if checkpoint.size > manifest.size:
            raise MalformedError("bundle", f"{CHECKPOINTS} line {number} is of size {checkpoint.size}, past the bundle's {manifest.size}")
        kept.append(text)
    return tuple(kept)


def write_bundle(
    path: str | os.PathLike[str], manifest: Manifest, entries: Iterable[bytes], checkpoint_note: str, kept: Iterable[str] = ()
) -> int:
    """Write a bundle (a directory, or one tar file when ``path`` ends in .tar, .tar.gz or .tgz); returns the entries written.

    ``kept`` are the published checkpoints (compacted) the bundle carries.

    Written beside the destination and renamed into place, so a reader never
    sees half a bundle; an existing bundle is never overwritten.
    """
    target = Path(path)
    if target.exists():
        raise MalformedError("bundle", f"{target} exists already")
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        count = 0
        with open(staging / ENTRIES, "wb") as out:
            for data in entries:
                if b"\n" in data:
                    raise MalformedError("bundle", f"entry {manifest.first + count} holds a raw newline: not canonical")
                out.write(data + b"\n")
                count += 1
        if count != manifest.size - manifest.first:
            raise MalformedError("bundle", f"wrote {count} entries, want {manifest.size - manifest.first}")
        (staging / CHECKPOINT).write_text(checkpoint_note, encoding="utf-8")
        (staging / CHECKPOINTS).write_bytes(kept_to_bytes(kept))
        (staging / MANIFEST).write_text(manifest.to_text(), encoding="utf-8")
        if is_archive_name(target):
            packed = staging / "bundle.tar"
            with tarfile.open(packed, "w:gz" if target.name.endswith(GZIP_SUFFIXES) else "w") as archive:
                for name in (MANIFEST, CHECKPOINT, CHECKPOINTS, ENTRIES):
                    archive.add(staging / name, arcname=name)
            os.replace(packed, target)
        else:
            os.rename(staging, target)
        return count
    finally:
        shutil.rmtree(staging, ignore_errors=True)


_COMPRESSED = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"))
_MAX_HEADERS = 64 * 1024
"""Bytes an archive may spend on tar headers (pax, long names) and its small members."""


def open_regular(path: Path, what: str) -> BinaryIO:
    """``path`` opened for reading if it is a regular file: never a link, a FIFO (which would hang) or a device."""
    try:
        mode = os.lstat(path).st_mode
    except OSError as error:
        raise MalformedError("bundle", f"{what} cannot be read: {error.strerror}") from error
    if not stat.S_ISREG(mode):
        kind = "a symbolic link" if stat.S_ISLNK(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a directory" if stat.S_ISDIR(mode) else "a device or socket"
        raise MalformedError("bundle", f"{what} is {kind}, not a regular file")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        raise MalformedError("bundle", f"{what} cannot be read: {error.strerror}") from error
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced between the look and the open
        os.close(fd)
        raise MalformedError("bundle", f"{what} is not a regular file")
    return os.fdopen(fd, "rb")


def _read_small(stream: IO[bytes], what: str, limit: int) -> bytes:
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise MalformedError("bundle", f"{what} is larger than {limit} bytes")
    return data


class _Budget:
    """A byte stream that refuses to deliver more than ``limit`` bytes: a compressed or
    crafted archive never makes the reader decompress or buffer past what its manifest allows."""

    def __init__(self, raw: IO[bytes], limit: int) -> None:
        self.raw = raw
        self.limit = limit
        self.used = 0

    def read(self, size: int = -1) -> bytes:
        room = self.limit - self.used
        data = self.raw.read(room + 1 if size is None or size < 0 else min(size, room + 1))
        self.used += len(data)
        if self.used > self.limit:
            raise MalformedError("bundle", f"the archive holds more than the {self.limit} bytes its manifest allows")
        return data

    def close(self) -> None:
        self.raw.close()


class Bundle:
    """A bundle opened for reading; entries are streamed once, never all held in memory."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._archive: tarfile.TarFile | None = None
        self._budget: _Budget | None = None
        self._entries: IO[bytes] | None = None
        self._entries_size = 0
        kept = b""
        if self.path.is_dir():
            manifest = _read_small(self._member_file(MANIFEST), MANIFEST, MAX_MANIFEST)
            checkpoint = _read_small(self._member_file(CHECKPOINT), CHECKPOINT, MAX_CHECKPOINT)
            if os.path.lexists(self.path / CHECKPOINTS):
                with self._member_file(CHECKPOINTS) as stream:
                    kept = _read_small(stream, CHECKPOINTS, MAX_KEPT_BYTES)
        elif self.path.exists():
            manifest, checkpoint, kept = self._open_archive()
        else:
            raise MalformedError("bundle", f"no bundle at {self.path}")
        self.manifest = Manifest.from_text(manifest)
        try:
            self.checkpoint_note = checkpoint.decode("utf-8")
        except UnicodeDecodeError as error:
            raise MalformedError("bundle", f"checkpoint is not UTF-8 at byte {error.start}") from error
        self._agree()
        self.kept = kept_from_bytes(kept, self.manifest)
        """The published checkpoints the bundle carries (none in a bundle written before they were)."""

    def _member_file(self, name: str) -> BinaryIO:
        return open_regular(self.path / name, name)

    def _open_archive(self) -> tuple[bytes, bytes, bytes]:
        raw = open_regular(self.path, str(self.path))
        gzipped = self.path.name.endswith(GZIP_SUFFIXES)
        magic = raw.read(6)
        raw.seek(0)
        for prefix, name in _COMPRESSED:
            if magic.startswith(prefix) and not (gzipped and name == "gzip"):
                raw.close()
                raise MalformedError("bundle", f"{self.path} is {name}-compressed but not named so: a compressed bundle ends in .tar.gz")
        if gzipped and not magic.startswith(b"\x1f\x8b"):
            raw.close()
            raise MalformedError("bundle", f"{self.path} is named as gzip-compressed but is not")
        self._budget = _Budget(raw, _MAX_HEADERS)
        try:
            self._archive = tarfile.open(fileobj=self._budget, mode="r|gz" if gzipped else "r|")  # type: ignore[call-overload]
            small: dict[str, bytes] = {}
            while True:
                member = self._next_member(set(small))
                if member is None:
                    raise MalformedError("bundle", f"{self.path} has no {ENTRIES}")
                if member.name == ENTRIES:
                    break
                limit = {MANIFEST: MAX_MANIFEST, CHECKPOINT: MAX_CHECKPOINT}.get(member.name, MAX_KEPT_BYTES)
                if member.size > limit:
                    raise MalformedError("bundle", f"{member.name} is larger than {limit} bytes")
                if member.name == CHECKPOINTS:
                    self._budget.limit += member.size  # past the headers' budget, by what its header says, no more
                small[member.name] = self._contents(member).read()
        except (tarfile.TarError, EOFError, OSError) as error:
            self.close()
            raise MalformedError("bundle", f"{self.path} is not a readable tar archive: {error}") from error
        except MalformedError:
            self.close()
            raise
        for name in (MANIFEST, CHECKPOINT):
            if name not in small:
                self.close()
                raise MalformedError("bundle", f"{self.path} has no {name} before its {ENTRIES}")
        self._entries_member = member
        return small[MANIFEST], small[CHECKPOINT], small.get(CHECKPOINTS, b"")

    def _next_member(self, seen: set[str]) -> tarfile.TarInfo | None:
        assert self._archive is not None
        member = self._archive.next()
        if member is None:
            return None
        if member.name not in (MANIFEST, CHECKPOINT, CHECKPOINTS, ENTRIES):
            raise MalformedError("bundle", f"unexpected member {member.name[:80]!r}; a bundle holds {MANIFEST}, {CHECKPOINT}, {CHECKPOINTS} and {ENTRIES}")
        if member.name in seen:
            raise MalformedError("bundle", f"member {member.name} appears twice")
        if not member.isreg() or member.issparse():
            raise MalformedError("bundle", f"member {member.name} is not a regular file")
        return member

    def _contents(self, member: tarfile.TarInfo) -> IO[bytes]:
        stream = None if self._archive is None else self._archive.extractfile(member)
        if stream is None:
            raise MalformedError("bundle", f"member {member.name} has no contents")
        return stream

    def _agree(self) -> None:
        """The manifest must say what its checkpoint says (origin, size), before any entry is read."""
        try:
            checkpoint = Checkpoint.from_text(Note.from_text(self.checkpoint_note).text)
        except MalformedError as error:
            raise MalformedError("bundle", f"checkpoint is malformed: {error}") from error
        if checkpoint.origin != self.manifest.origin:
            raise MalformedError("bundle", f"bundle.json names origin {self.manifest.origin!r}, its checkpoint {checkpoint.origin!r}")
        if checkpoint.size != self.manifest.size:
            raise MalformedError("bundle", f"bundle.json says size {self.manifest.size}, its checkpoint {checkpoint.size}")
        self._entries_size = (self.manifest.size - self.manifest.first) * MAX_ENTRY_LINE

    def _open_entries(self) -> IO[bytes]:
        if self._archive is None:
            return self._member_file(ENTRIES)
        if self._entries is not None or self._budget is None:
            raise MalformedError("bundle", f"the entries of {self.path} are read once")
        member = self._entries_member
        if member.size > self._entries_size:
            raise MalformedError("bundle", f"{ENTRIES} is {member.size} bytes, more than {self.manifest.size - self.manifest.first} entries can be")
        self._budget.limit = self._budget.used + member.size + _MAX_HEADERS
        self._entries = self._contents(member)
        return self._entries

    def entries(self) -> Iterator[bytes]:
        """The entry bytes in order, exactly ``first`` to ``size - 1``.

        Raises MalformedError for a line longer than an entry can be, a
        truncated file, entries past the manifest's (the checkpoint's) size,
        and, in an archive, any member after the entries.
        """
        wanted = self.manifest.size - self.manifest.first
        stream = self._open_entries()
        try:
            for count in range(wanted):
                line = stream.readline(MAX_ENTRY_LINE + 1)
                if not line.endswith(b"\n"):
                    if len(line) > MAX_ENTRY_LINE:
                        raise MalformedError("bundle", f"entry {self.manifest.first + count} is longer than {MAX_ENTRY_LINE - 1} bytes")
                    raise MalformedError("bundle", f"entries file is truncated: {count} entries, want {wanted}")
                yield line[:-1]
            if stream.read(1):
                raise MalformedError("bundle", f"entries file holds entries past the checkpoint's size {self.manifest.size}: they are not verified")
            if self._archive is not None:
                self._next_member({MANIFEST, CHECKPOINT, CHECKPOINTS, ENTRIES})
        except (tarfile.TarError, EOFError, OSError) as error:
            raise MalformedError("bundle", f"{self.path} is not a readable tar archive: {error}") from error
        finally:
            if self._archive is None:
                stream.close()

    def close(self) -> None:
        if self._archive is not None:
            self._archive.close()
        if self._budget is not None:
            self._budget.close()

    def __enter__(self) -> Bundle:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
