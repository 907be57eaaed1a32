"""Canonical JSON: the fast path must agree with RFC 8785 (the rfc8785 library) byte for byte."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.canonical import canonical_bytes, parse_canonical
from ledger.errors import MalformedError

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

