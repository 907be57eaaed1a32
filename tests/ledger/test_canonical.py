"""Canonical JSON: the fast path must agree with RFC 8785 (the rfc8785 library) byte for byte."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.canonical import _MISSING, _encode, _parse_fast, canonical_bytes, canonical_entry, parse_canonical, sorted_json
from ledger.errors import MalformedError
from tests.vectorfiles import accord_golden

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=500, deadline=None)
@given(JSON_VALUES)
def test_canonical_bytes_equal_rfc8785_for_any_document(value: Any) -> None:
    assert canonical_bytes(value) == rfc8785.dumps(value)


@pytest.mark.parametrize(
    "value",
    [
        {"\U0001f600": 1, "\ufb01": 2},  # sorted by UTF-16 code units, not code points
        {"control": "\x00\x1f\x7f\u2028", "quote": '"\\'},
        [1.5, 1e21, -0.0],
    ],
)
def test_documents_the_fast_path_hands_over_are_still_rfc8785(value: Any) -> None:
    assert canonical_bytes(value) == rfc8785.dumps(value)


def test_lone_surrogate_is_refused_as_rfc8785_refuses_it() -> None:
    with pytest.raises(MalformedError, match=r"^canonical json: input contains non-UTF-8 codepoints$"):
        canonical_bytes({"lone": "\ud800"})


def test_integer_beyond_double_precision_is_refused() -> None:
    with pytest.raises(MalformedError, match=r"^canonical json: "):
        canonical_bytes({"n": 2**60})


def test_non_canonical_document_is_refused() -> None:
    with pytest.raises(MalformedError, match=r"^entry: not in RFC 8785 canonical form$"):
        parse_canonical(b'{"b":1,"a":2}', "entry")


def test_duplicate_key_is_refused() -> None:
    with pytest.raises(MalformedError, match=r"^canonical json: duplicate key 'a'$"):
        parse_canonical(b'{"a":1,"a":1}', "entry")


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_parsing_accepts_exactly_the_rfc8785_bytes(value: Any) -> None:
    data = rfc8785.dumps(value)
    assert parse_canonical(data, "doc") == value


def test_document_with_floats_is_checked_by_rfc8785() -> None:
    assert parse_canonical(b'{"a":1.5,"b":1e+21}', "doc") == {"a": 1.5, "b": 1e21}
    with pytest.raises(MalformedError, match=r"^doc: not in RFC 8785 canonical form$"):
        parse_canonical(b'{"a":1.50}', "doc")



# The orjson path (ledger.canonical._parse_fast): it may only ever accept what RFC 8785 accepts, with the same value.

def _documents_of_the_golden_vectors() -> list[bytes]:
    golden = accord_golden()
    documents = []
    for case in golden["statements"]:
        documents.append(case["text"].removesuffix("\n").encode("utf-8"))  # a statement's text is its JSON and a newline
    documents.extend(case["bytes_utf8"].encode("utf-8") for case in golden["entries"])
    return documents


GOLDEN_DOCUMENTS = _documents_of_the_golden_vectors()


def rfc8785_verdict(data: bytes) -> Any:
    """The oracle: the value when ``data`` is exactly rfc8785's serialization of its own parse, else ``_MISSING``."""
    try:
        value = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates)
        return value if rfc8785.dumps(value) == data else _MISSING
    except (ValueError, rfc8785.CanonicalizationError, RecursionError):
        return _MISSING


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({key for key, _ in pairs}) != len(pairs):
        raise ValueError("duplicate key")
    return dict(pairs)


@pytest.mark.parametrize("number", range(len(GOLDEN_DOCUMENTS)))
def test_orjson_proves_every_golden_document_canonical_as_rfc8785_does(number: int) -> None:
    data = GOLDEN_DOCUMENTS[number]
    assert rfc8785_verdict(data) is not _MISSING
    assert _parse_fast(data) == rfc8785_verdict(data) == parse_canonical(data, "document")


MUTATIONS = st.sampled_from(GOLDEN_DOCUMENTS).flatmap(
    lambda data: st.tuples(st.just(data), st.integers(0, len(data) - 1), st.binary(min_size=0, max_size=3), st.integers(0, 3))
)


@settings(max_examples=300, deadline=None)
@given(MUTATIONS)
def test_orjson_never_accepts_a_mutated_golden_document_rfc8785_refuses(case: tuple[bytes, int, bytes, int]) -> None:
    data, at, inserted, removed = case
    mutated = data[:at] + inserted + data[at + removed :]
    fast = _parse_fast(mutated)
    if fast is not _MISSING:
        assert rfc8785_verdict(mutated) == fast
        assert parse_canonical(mutated, "document") == fast


PLAIN_AND_TRICKY = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(["\x00", "\x1f", "\x7f", "\u2028", '"', "\\", "/", "\ue000", "\U0001f600"])),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=500, deadline=None)
@given(PLAIN_AND_TRICKY)
def test_orjson_accepts_a_serialization_only_when_it_is_the_rfc8785_one(value: Any) -> None:
    """Floats, integers past 2^53, keys from U+E000 up, controls: each either agrees or goes the exact path."""
    for data in (_orjson_or_nothing(value), _rfc8785_or_nothing(value)):
        fast = _parse_fast(data)
        if fast is not _MISSING:
            assert data == rfc8785.dumps(fast)
            assert fast == value


def _orjson_or_nothing(value: Any) -> bytes:
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return b""  # an integer past 64 bits


def _rfc8785_or_nothing(value: Any) -> bytes:
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        return b""


@pytest.mark.parametrize(
    "data",
    [b'{"a":1.5}', b"[1e+21]", b"9007199254740993", b'{"\xee\x80\x80":1,"b":2}', b"[" * 40 + b"]" * 40, b'"\\u00e9"', b'{"a":2,"a":1}'],
)
def test_what_orjson_cannot_prove_goes_the_exact_path(data: bytes) -> None:
    assert _parse_fast(data) is _MISSING


def _stdlib_or_error(value: Any) -> bytes | type[Exception]:
    try:
        return _encode(value).encode("utf-8")
    except (TypeError, ValueError) as error:  # UnicodeEncodeError is a ValueError
        return type(error)


def _sorted_or_error(value: Any) -> bytes | type[Exception]:
    try:
        return sorted_json(value)
    except (TypeError, ValueError) as error:
        return type(error)


@settings(max_examples=1000, deadline=None)
@given(st.recursive(
    PLAIN_AND_TRICKY | st.text(alphabet=st.sampled_from(["a", "\ud800", "\udfff"])) | st.integers(min_value=-(2**70), max_value=2**70),
    lambda children: st.tuples(children, children) | st.dictionaries(st.integers(0, 3) | st.booleans(), children, max_size=2),
    max_leaves=10,
))
def test_sorted_json_writes_what_the_standard_library_writes_or_refuses_alike(value: Any) -> None:
    """orjson writes documents and entries where its bytes are the standard library's: floats,
    integers past 64 bits, lone surrogates and keys that are not strings go the standard library's way."""
    assert _sorted_or_error(value) == _stdlib_or_error(value)


class _Text(str):
    pass


@pytest.mark.parametrize(
    "value",
    [
        "".join(chr(code) for code in range(0x110000) if not 0xD800 <= code < 0xE000),  # every escape, every plane
        {chr(code) + "k": code for code in [*range(0x3000), *range(0xE000, 0xE100), 0x10000, 0x1F600, 0x10FFFF]},  # key order
        [2**53, 2**63 - 1, -(2**63), 2**64 - 1, 2**64, -(2**64) - 1, True, False, None, (1, "a")],
        {"f": [1e16, 1.5, -0.0, 1e-7]},  # floats: orjson formats them otherwise
        {"s": _Text("x")},  # a subclass
        {1: 2, 3: [4]},  # keys that are not strings
        [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]] * 2,
    ],
    ids=["every-character", "key-order", "integers", "floats", "subclass", "integer-keys", "nesting"],
)
def test_sorted_json_is_the_standard_librarys_text_of_tricky_values(value: Any) -> None:
    assert sorted_json(value) == _encode(value).encode("utf-8")


def test_an_entry_with_a_lone_surrogate_is_refused_as_before() -> None:
    with pytest.raises(MalformedError, match=r"^canonical json: input contains non-UTF-8 codepoints$"):
        canonical_entry(1, "2026-01-01T00:00:00Z", "text \ud800")
