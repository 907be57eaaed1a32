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

Nothing in a bundle is trusted: the verifier pins the charter's leaf hash and
checks every entry, the root and the signatures itself.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ledger.errors import MalformedError

BUNDLE_VERSION = 1
MANIFEST, ENTRIES, CHECKPOINT = "bundle.json", "entries", "checkpoint"


@dataclass(frozen=True)
class Manifest:
    origin: str
    first: int
    size: int

    def to_text(self) -> str:
        return json.dumps({"version": BUNDLE_VERSION, "kind": "accord-bundle", "origin": self.origin, "first": self.first, "size": self.size}) + "\n"

    @classmethod
    def from_text(cls, text: str) -> Manifest:
        try:
            document = json.loads(text)
            if document.get("version") != BUNDLE_VERSION or document.get("kind") != "accord-bundle":
                raise MalformedError("bundle", f"not an accord bundle of version {BUNDLE_VERSION}")
            manifest = cls(str(document["origin"]), int(document["first"]), int(document["size"]))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as error:
            raise MalformedError("bundle", f"bundle.json is malformed: {error}") from error
        if not 0 <= manifest.first <= manifest.size:
            raise MalformedError("bundle", f"first {manifest.first} and size {manifest.size} do not make a range")
        return manifest


def write_bundle(path: str | os.PathLike[str], manifest: Manifest, entries: Iterable[bytes], checkpoint_note: str) -> int:
    """Write a bundle (a directory, or a tar file when ``path`` ends in .tar, gzipped for .tar.gz or .tgz); returns the entries written.

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
        (staging / MANIFEST).write_text(manifest.to_text(), encoding="utf-8")
        if target.name.endswith((".tar", ".tar.gz", ".tgz")):
            packed = staging / "bundle.tar"
            with tarfile.open(packed, "w:gz" if target.suffix in (".gz", ".tgz") else "w") as archive:
                for name in (MANIFEST, CHECKPOINT, ENTRIES):
                    archive.add(staging / name, arcname=name)
            os.replace(packed, target)
        else:
            os.rename(staging, target)
        return count
    finally:
        shutil.rmtree(staging, ignore_errors=True)


class Bundle:
    """A bundle opened for reading; entries are streamed, never all held in memory."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._archive: tarfile.TarFile | None = None
        if self.path.is_file():
            try:
                self._archive = tarfile.open(self.path, "r")
            except tarfile.TarError as error:
                raise MalformedError("bundle", f"{self.path} is neither a bundle directory nor a tar file: {error}") from error
        elif not self.path.is_dir():
            raise MalformedError("bundle", f"no bundle at {self.path}")
        self.manifest = Manifest.from_text(self._read(MANIFEST).decode("utf-8"))
        self.checkpoint_note = self._read(CHECKPOINT).decode("utf-8")

    def _open(self, name: str) -> IO[bytes]:
        try:
            if self._archive is None:
                return open(self.path / name, "rb")
            member = self._archive.extractfile(name)
            if member is None:
                raise KeyError(name)
            return member
        except (OSError, KeyError) as error:
            raise MalformedError("bundle", f"{self.path} has no {name}") from error

    def _read(self, name: str) -> bytes:
        with self._open(name) as stream:
            return stream.read()

    def entries(self) -> Iterator[bytes]:
        """The entry bytes in order, ``first`` to ``size - 1``."""
        with self._open(ENTRIES) as stream:
            for line in stream:
                if not line.endswith(b"\n"):
                    raise MalformedError("bundle", "entries file is truncated: its last line has no newline")
                yield line[:-1]

    def close(self) -> None:
        if self._archive is not None:
            self._archive.close()

    def __enter__(self) -> Bundle:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
