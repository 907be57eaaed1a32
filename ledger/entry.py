"""Log entries (SPEC section 4).

Entry ``i`` is the canonical JSON of
``{"v":1,"index":i,"logged_at":"<RFC 3339 UTC>","statement":"<signed note>"}``,
at most 65,535 bytes; its leaf hash is SHA-256(0x00 || entry bytes).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from ledger.canonical import canonical_entry, parse_canonical
from ledger.errors import MalformedError
from ledger.merkle import leaf_hash
from ledger.timefmt import parse_time

MAX_ENTRY_BYTES = 65_535
ENTRY_VERSION = 1
_FIELDS = {"v", "index", "logged_at", "statement"}


@dataclass(frozen=True)
class Entry:
    """One entry of the log: a signed statement, where and when it was logged."""

    index: int
    logged_at: str
    statement: str

    def __post_init__(self) -> None:
        if isinstance(self.index, bool) or not isinstance(self.index, int) or self.index < 0:
            raise MalformedError("entry", f"index must be a whole number >= 0, got {self.index!r}")
        parse_time(self.logged_at, "logged_at")
        if not isinstance(self.statement, str):
            raise MalformedError("entry", "statement must be a string")

    @cached_property
    def logged_at_seconds(self) -> int:
        return parse_time(self.logged_at, "logged_at")

    def to_bytes(self) -> bytes:
        """The canonical bytes; raises MalformedError beyond 65,535 bytes.

        Made once an entry (a writer stores them, hashes them and proves them).
        """
        data: bytes | None = self.__dict__.get("_bytes")
        if data is None:
            data = canonical_entry(self.index, self.logged_at, self.statement)
            if len(data) > MAX_ENTRY_BYTES:
                raise MalformedError("entry", f"too large: got {len(data)} bytes, want at most {MAX_ENTRY_BYTES}")
            self.__dict__["_bytes"] = data  # a frozen dataclass: its fields are unchanged
        return data

    @classmethod
    def from_bytes(cls, data: bytes) -> Entry:
        """Parse entry bytes; they must be canonical and within the size limit."""
        if len(data) > MAX_ENTRY_BYTES:
            raise MalformedError("entry", f"too large: got {len(data)} bytes, want at most {MAX_ENTRY_BYTES}")
        document = parse_canonical(data, "entry")
        if not isinstance(document, dict) or document.keys() != _FIELDS:
            got = sorted(document) if isinstance(document, dict) else type(document).__name__
            raise MalformedError("entry", f"fields: got {got}, want {sorted(_FIELDS)}")
        if type(document["v"]) is not int or document["v"] != ENTRY_VERSION:
            raise MalformedError("entry", f"version: got {document['v']!r}, want {ENTRY_VERSION}")
        index, logged_at, statement = document["index"], document["logged_at"], document["statement"]
        if type(index) is not int or index < 0 or type(statement) is not str:
            return cls(index=index, logged_at=logged_at, statement=statement)  # to be refused as __post_init__ words it
        # __post_init__'s checks, once: the time is parsed here and kept (a verifier asks for it).
        seconds = parse_time(logged_at, "logged_at")
        entry = object.__new__(cls)
        entry.__dict__.update(index=index, logged_at=logged_at, statement=statement, logged_at_seconds=seconds)
        return entry

    def leaf_hash(self) -> bytes:
        return leaf_hash(self.to_bytes())
