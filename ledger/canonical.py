"""RFC 8785 canonical JSON: the one byte form of every statement and entry.

Serialization is the ``rfc8785`` library's. Parsing is strict: a document is
accepted only if it is already in canonical form, so that one value has one
byte string and a signature over the bytes is a signature over the value.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import orjson
import rfc8785

from ledger.documents import MAX_DEPTH, check_depth, might_be_deep
from ledger.errors import MalformedError

_SAFE_INTEGER = 2**53 - 1
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False).encode
_SORTED = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
"""orjson told to sort keys and to write nothing but what the standard library writes alike."""


def sorted_json(value: Any) -> bytes:
    """``value`` with sorted keys and no spaces, in UTF-8: exactly the standard library's text (``_encode``).

    orjson writes the same bytes, about ten times faster, for what it holds
    natively (exact strings, integers, booleans, null, lists, tuples and
    dictionaries with string keys), floats excepted: it formats them its
    own way. Anything else is found by the walk first (a float, a
    subclass), or refused by orjson (a key that is not a string, an integer
    past 64 bits, a lone surrogate, nesting past 254 levels), and written by the
    standard library (which may refuse it in turn, as it did before).
    """
    return _sorted_floatless(value) if _floatless(value) else _encode(value).encode("utf-8")


def _sorted_floatless(value: Any) -> bytes:
    """:func:`sorted_json` of a value known to hold no float (by ``_floatless`` or ``_json_agrees``)."""
    try:
        return orjson.dumps(value, option=_SORTED)
    except TypeError:  # orjson.JSONEncodeError
        return _encode(value).encode("utf-8")


def _floatless(value: Any) -> bool:
    """Whether ``value`` holds only exact str, int, bool and None values in lists, tuples and
    dictionaries (whose keys orjson checks itself). A loop, not a call a value: most are strings."""
    kind = type(value)
    items: Iterable[Any]
    if kind is dict:
        items = value.values()
    elif kind is list or kind is tuple:
        items = value
    else:
        return kind is str or kind is int or kind is bool or value is None
    for item in items:
        kind = type(item)
        if kind is str or kind is int or kind is bool or item is None:
            continue
        if not (kind is dict or kind is list or kind is tuple) or not _floatless(item):
            return False
    return True


def _json_agrees(value: Any) -> bool:
    """Whether the standard library serializes ``value`` exactly as RFC 8785 does.

    It does for strings, booleans, null and integers within IEEE 754 double
    precision, in objects whose keys sort alike by code point and by UTF-16
    code unit (no key holds a character from U+E000 up). Floats are left to
    the rfc8785 library, whose number formatting is ECMAScript's.
    """
    if isinstance(value, str) or value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -_SAFE_INTEGER <= value <= _SAFE_INTEGER
    if isinstance(value, dict):
        return all(isinstance(key, str) and (not key or max(key) < "\ue000") for key in value) and all(
            _json_agrees(item) for item in value.values()
        )
    if isinstance(value, list):
        return all(_json_agrees(item) for item in value)
    return False


def canonical_bytes(value: Any) -> bytes:
    """The RFC 8785 serialization of ``value``.

    Raises MalformedError for values JSON cannot carry exactly (floats that
    are not finite, integers beyond IEEE 754 double precision).
    """
    if _json_agrees(value):
        try:
            return _sorted_floatless(value)  # walked already: no float
        except UnicodeEncodeError:
            pass  # a lone surrogate: let rfc8785 refuse it with its own message
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as error:
        raise MalformedError("canonical json", str(error)) from error


def canonical_entry(index: int, logged_at: str, statement: str) -> bytes:
    """The canonical bytes of an entry, whose fields' types are known: no walk needed."""
    if not 0 <= index <= _SAFE_INTEGER:
        raise MalformedError("entry", f"index {index} is beyond JSON's exact integers")
    try:
        return sorted_json({"v": 1, "index": index, "logged_at": logged_at, "statement": statement})
    except UnicodeEncodeError:
        return canonical_bytes({"v": 1, "index": index, "logged_at": logged_at, "statement": statement})


class _Reading:
    """An ``object_pairs_hook`` that refuses duplicate keys."""

    def object(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        document: dict[str, Any] = {}
        for key, value in pairs:
            if key in document:
                raise MalformedError("canonical json", f"duplicate key {key!r}")
            document[key] = value
        return document


_HIGH_BYTES = bytes(range(0xEE, 0xF5))
"""The UTF-8 lead bytes of the characters from U+E000 up: object keys holding one may sort
differently by UTF-16 code unit (RFC 8785) than by code point (the standard library)."""


def _has_high_character(data: bytes) -> bool:
    """Whether ``data`` holds a byte of ``_HIGH_BYTES`` (a C loop over a table: about four times
    a regular expression's speed over the same bytes, which a verifier asks twice an entry);
    ASCII (most statement texts) holds none, which is told without the copy."""
    return not data.isascii() and len(data.translate(None, _HIGH_BYTES)) != len(data)


class _Unplain(Exception):
    """The document holds what only the exact path serializes: a float, a huge integer."""


def _no_float(text: str) -> Any:
    raise _Unplain(text)


def _safe_integer(text: str) -> int:
    if len(text) > 17:
        raise _Unplain(text)  # past 2^53 whatever its digits; int() of 4,300+ digits would raise
    value = int(text)
    if not -_SAFE_INTEGER <= value <= _SAFE_INTEGER:
        raise _Unplain(text)
    return value


def _exact_integer(text: str) -> int:
    """An integer for the exact path: one of more digits than 2^53 has is refused before ``int()``."""
    digits = len(text.lstrip("-"))
    if digits > 16:
        raise MalformedError("canonical json", f"a number of {digits} digits exceeds the safe integer domain for JSON")
    return int(text)


def _refuse_constant(name: str) -> Any:
    raise MalformedError("canonical json", f"{name} is not JSON")


_plain_decode = json.JSONDecoder(parse_float=_no_float, parse_int=_safe_integer, parse_constant=_refuse_constant).decode


_FAST_DEPTH = 32
"""Documents nested deeper than this go the exact path, whatever the limit on nesting there."""


def _plain(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` holds no float, no integer beyond IEEE 754 double precision and
    no nesting past ``_FAST_DEPTH``: then orjson, the standard library and RFC 8785
    serialize it alike (object keys aside: see ``_HIGH_BYTES``)."""
    if depth > _FAST_DEPTH:
        return False
    items: Iterable[Any]
    if type(value) is dict:
        items = value.values()
    elif type(value) is list:
        items = value
    elif type(value) is int:
        return -_SAFE_INTEGER <= value <= _SAFE_INTEGER
    else:
        return type(value) is not float
    for item in items:
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            # Inline: integers are the most common values a call would be made for.
            if -_SAFE_INTEGER <= item <= _SAFE_INTEGER:
                continue
            return False
        if not _plain(item, depth + 1):
            return False
    return True


_MISSING = object()


def _parse_fast(data: bytes) -> Any:
    """The value of ``data`` when orjson proves it canonical, else ``_MISSING`` (for the exact path to judge).

    orjson (compiled) parses, and re-serializes with sorted keys; equal bytes
    prove ``data`` canonical for plain values (:func:`_plain`) with no key
    from U+E000 up. Anything else, malformed documents included, is left to
    the exact path, which gives the same verdict and names the problem.
    """
    if _has_high_character(data):
        return _MISSING
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return _MISSING
    if _plain(value) and orjson.dumps(value, option=orjson.OPT_SORT_KEYS) == data:
        return value
    return _MISSING


def _shallow(value: Any, data: bytes, what: str) -> None:
    # Only a document with more brackets than the limit can nest past it: most are walked never.
    if might_be_deep(data):
        check_depth(value, what)


def parse_canonical(data: bytes, what: str) -> Any:
    """Parse ``data`` as JSON that must already be canonical (RFC 8785).

    ``what`` names the document in errors (``entry``, ``statement``). Most
    documents are proven canonical by orjson's re-serialization
    (:func:`_parse_fast`), the rest by re-encoding with the standard library;
    those it might encode differently from RFC 8785 go the exact, slower way.
    """
    fast = _parse_fast(data)
    if fast is not _MISSING:
        return fast
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MalformedError(what, f"not UTF-8 at byte {error.start}") from error
    value: Any = None
    canonical: bytes | None = None
    try:
        if not _has_high_character(data):
            value = _plain_decode(text)
            _shallow(value, data, what)
            canonical = _encode(value).encode("utf-8")
    except (_Unplain, UnicodeEncodeError):
        canonical = None
    except json.JSONDecodeError as error:
        raise MalformedError(what, f"not JSON: {error.msg} at char {error.pos}") from error
    except RecursionError as error:
        raise MalformedError(what, f"JSON nested deeper than {MAX_DEPTH} levels") from error
    if canonical is None:
        try:
            value = json.loads(text, object_pairs_hook=_Reading().object, parse_int=_exact_integer, parse_constant=_refuse_constant)
        except json.JSONDecodeError as error:
            raise MalformedError(what, f"not JSON: {error.msg} at char {error.pos}") from error
        except RecursionError as error:
            raise MalformedError(what, f"JSON nested deeper than {MAX_DEPTH} levels") from error
        _shallow(value, data, what)
        canonical = canonical_bytes(value)
    if canonical != data:
        # Say why where it is cheap to: a repeated key is the likeliest forgery.
        json.loads(text, object_pairs_hook=_Reading().object, parse_constant=_refuse_constant)
        raise MalformedError(what, "not in RFC 8785 canonical form")
    return value
