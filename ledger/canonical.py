"""RFC 8785 canonical JSON: the one byte form of every statement and entry.

Serialization is the ``rfc8785`` library's. Parsing is strict: a document is
accepted only if it is already in canonical form, so that one value has one
byte string and a signature over the bytes is a signature over the value.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

from ledger.errors import MalformedError


def canonical_bytes(value: Any) -> bytes:
    """The RFC 8785 serialization of ``value``.

    Raises MalformedError for values JSON cannot carry exactly (floats that
    are not finite, integers beyond IEEE 754 double precision).
    """
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as error:
        raise MalformedError("canonical json", str(error)) from error


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise MalformedError("canonical json", f"duplicate key {key!r}")
        document[key] = value
    return document


def parse_canonical(data: bytes, what: str) -> Any:
    """Parse ``data`` as JSON that must already be canonical (RFC 8785).

    ``what`` names the document in errors (``entry``, ``statement``).
    """
    try:
        value = json.loads(data.decode("utf-8"), object_pairs_hook=_refuse_duplicate_keys)
    except UnicodeDecodeError as error:
        raise MalformedError(what, f"not UTF-8 at byte {error.start}") from error
    except json.JSONDecodeError as error:
        raise MalformedError(what, f"not JSON: {error.msg} at char {error.pos}") from error
    if canonical_bytes(value) != data:
        raise MalformedError(what, "not in RFC 8785 canonical form")
    return value
