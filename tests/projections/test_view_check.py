"""The verifier's comparison of a stored document with the one the log implies."""

from __future__ import annotations

from datetime import datetime, timezone

from projections.audit import same_document
from projections.tables import _document_text

DOC = {"id": "P-1", "title": "Ünïcode \u2028 \"quoted\"", "tally": {"approve": 3, "object": 0}, "counted": ["a", "b"], "ended": None, "open": True}


def test_a_document_stored_as_the_writer_stores_it_is_the_same() -> None:
    assert same_document(DOC, _document_text(DOC))


def test_a_document_stored_in_another_text_of_the_same_value_is_the_same() -> None:
    assert same_document(DOC, '{"open":true, "id":"P-1","title":"\\u00dcn\\u00efcode \\u2028 \\"quoted\\"",'
                              '"tally":{"object":0,"approve":3},"counted":["a","b"],"ended":null}')


def test_a_document_that_differs_in_any_value_is_not_the_same() -> None:
    for changed in ({**DOC, "open": False}, {**DOC, "counted": ["b", "a"]}, {**DOC, "extra": None}, {**DOC, "tally": {"approve": 3}}):
        assert not same_document(DOC, _document_text(changed)), changed
        assert not same_document(changed, _document_text(DOC)), changed


def test_a_value_json_does_not_hold_as_it_is_is_compared_parsed() -> None:
    """orjson would write a time as text: a document holding one is not the text of that time."""
    moment = datetime(2027, 1, 1, tzinfo=timezone.utc)
    assert not same_document({"at": moment}, '{"at":"2027-01-01T00:00:00+00:00"}')
