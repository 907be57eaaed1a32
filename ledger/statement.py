"""Statements (SPEC section 3): what an actor says, before and after signing.

The text of a statement is one line of RFC 8785 canonical JSON and ``\\n``;
a signed statement is that text as a C2SP signed note.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ledger.canonical import canonical_bytes, parse_canonical
from ledger.errors import MalformedError
from ledger.timefmt import parse_time

STATEMENT_VERSION = 1
ACTOR_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}\Z")
_KIND = re.compile(r"[a-z][a-z-]*(\.[a-z][a-z-]*)*\Z")
_NONCE = re.compile(r"[0-9a-f]{32}\Z")
_FIELDS = {"v", "origin", "kind", "actor", "signed_at", "nonce", "body"}


def check_actor_id(actor: object, field_name: str = "actor") -> str:
    """``actor`` if it is a valid actor id (``[a-z0-9][a-z0-9._-]{0,62}``)."""
    if not isinstance(actor, str) or not ACTOR_ID.match(actor):
        raise MalformedError(field_name, f"not an actor id ([a-z0-9][a-z0-9._-]{{0,62}}): got {actor!r}")
    return actor


def new_nonce() -> str:
    """16 random bytes in hex: makes two otherwise equal statements distinct."""
    return secrets.token_hex(16)


@dataclass(frozen=True)
class Statement:
    """An actor's statement of one kind, as its text is signed."""

    origin: str
    kind: str
    actor: str
    signed_at: str
    body: dict[str, Any]
    nonce: str = field(default_factory=new_nonce)

    def __post_init__(self) -> None:
        if not isinstance(self.origin, str) or not self.origin:
            raise MalformedError("origin", f"must be a non-empty string, got {self.origin!r}")
        if not isinstance(self.kind, str) or not _KIND.match(self.kind):
            raise MalformedError("kind", f"not a statement kind: got {self.kind!r}")
        check_actor_id(self.actor)
        parse_time(self.signed_at, "signed_at")
        if not isinstance(self.nonce, str) or not _NONCE.match(self.nonce):
            raise MalformedError("nonce", f"want 32 lowercase hex digits, got {self.nonce!r}")
        if not isinstance(self.body, dict):
            raise MalformedError("body", f"must be a JSON object, got {type(self.body).__name__}")

    @cached_property
    def signed_at_seconds(self) -> int:
        return parse_time(self.signed_at, "signed_at")

    def to_json(self) -> dict[str, Any]:
        return {
            "v": STATEMENT_VERSION,
            "origin": self.origin,
            "kind": self.kind,
            "actor": self.actor,
            "signed_at": self.signed_at,
            "nonce": self.nonce,
            "body": self.body,
        }

    def to_text(self) -> str:
        """Canonical JSON and a newline: the exact text that is signed."""
        return canonical_bytes(self.to_json()).decode("utf-8") + "\n"

    @classmethod
    def from_text(cls, text: str) -> Statement:
        """Parse a statement text; it must be canonical JSON on one line."""
        if not text.endswith("\n") or text.find("\n") != len(text) - 1:  # one newline, the last character (no copy made)
            raise MalformedError("statement", "text must be one line of JSON ending in a newline")
        document = parse_canonical(text[:-1].encode("utf-8"), "statement")
        if not isinstance(document, dict) or document.keys() != _FIELDS:
            got = sorted(document) if isinstance(document, dict) else type(document).__name__
            raise MalformedError("statement", f"fields: got {got}, want {sorted(_FIELDS)}")
        if type(document["v"]) is not int or document["v"] != STATEMENT_VERSION:
            raise MalformedError("statement", f"version: got {document['v']!r}, want {STATEMENT_VERSION}")
        fields = {name: document[name] for name in _ORDER}
        if not _familiar(fields):
            return cls(**fields)  # checked, and refused in its words, by __post_init__
        statement = object.__new__(cls)
        statement.__dict__.update(fields, signed_at_seconds=parse_time(fields["signed_at"], "signed_at"))
        return statement


_ORDER = ("origin", "kind", "actor", "signed_at", "body", "nonce")
_SEEN: dict[str, set[str]] = {"origin": set(), "kind": set(), "actor": set()}
"""Values of the fields most statements share, once __post_init__ accepted them (a bounded memo:
a log has few origins, kinds and actors, which a verifier would otherwise match a million times)."""
_SEEN_MOST = 4096


def _familiar(fields: dict[str, Any]) -> bool:
    """Whether every check of ``Statement.__post_init__`` is known to hold for ``fields``.

    Asks ``__post_init__`` itself (on a throwaway instance) about values not seen before,
    and remembers them if they passed; False if they did not, so that the caller has
    ``__post_init__`` raise its error.
    """
    nonce, body, signed_at = fields["nonce"], fields["body"], fields["signed_at"]
    if type(nonce) is not str or not _NONCE.match(nonce) or type(body) is not dict or type(signed_at) is not str:
        return False
    for name in ("origin", "kind", "actor"):
        value = fields[name]
        if type(value) is not str or value not in _SEEN[name]:
            break
    else:
        return True  # signed_at is parsed by the caller (a malformed one raised as __post_init__ words it)
    try:
        Statement(**fields)
    except MalformedError:
        return False
    for name in ("origin", "kind", "actor"):
        if len(_SEEN[name]) < _SEEN_MOST:
            _SEEN[name].add(fields[name])
    return True
