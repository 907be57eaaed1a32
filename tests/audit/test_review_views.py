"""Review: the verifier's view comparison must not take a stored document for the log's when
its values differ in JSON type (SPEC 10: ``true`` is never ``1``, in the writer or the
verifier; SPEC 6: ``rebuild`` from entry 0 yields exactly the same content).

Python's ``==`` says ``True == 1`` and ``4 == 4.0``; a stored row whose text parses to such a
value is not what the entry wrote (a reader of the view gets ``4.0`` or ``1``), yet
``same_document`` and the dictionary comparison of ``ViewCheck`` call it equal.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from projections.audit import same_document
from projections.tables import _document_text
from tests.audit.history import History, build_history, copy_store, refused, store_url


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    return build_history(tmp_path_factory.mktemp("council"))


@pytest.mark.parametrize(
    ("doc", "text"),
    [
        ({"open": True}, '{"open":1}'),
        ({"open": False}, '{"open":0}'),
        ({"count": 1}, '{"count":true}'),
        ({"submitted": 4}, '{"submitted":4.0}'),
        ({"tally": {"approve": 3}}, '{"tally":{"approve":3.0}}'),
        ({"counted": [1, 2]}, '{"counted":[true,2]}'),
    ],
)
def test_review_a_stored_value_of_another_json_type_is_not_the_same_document(doc: dict[str, object], text: str) -> None:
    assert _document_text(doc) != text
    assert not same_document(doc, text)


def test_review_a_view_row_whose_integer_became_a_float_fails_the_view_comparison(history: History, tmp_path: Path) -> None:
    copy = copy_store(history.path, tmp_path / "copy.db")
    with closing(sqlite3.connect(copy)) as connection, connection:
        changed = connection.execute(
            "UPDATE accord_rows SET doc = replace(doc, '\"submitted\":4,', '\"submitted\":4.0,')"
            " WHERE view = 'proposal' AND id = 'P-1' AND doc LIKE '%\"submitted\":4,%'"
        ).rowcount
    assert changed >= 1
    args = ["verify", "--store", store_url(copy), "--anchor", history.anchor.hex(), *history.witness_options()]
    message = refused(*args)
    assert message.startswith("accord: projections: proposal P-1 as of entry ")
    assert message.endswith("the stored views differ from the log; run accord rebuild")
