"""When the appending process of an import (7cd40c8, projections.exchange._Forked) refuses,
the import says why in its one line (SPEC 10: a refusal names the rule or field), not that the
process "ended unexpectedly".

The appending process sends its AccordError and exits; the importer, still sending the chunks it
judged, meets a closed pipe and reports that instead of reading the answer waiting for it.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from bench.synthetic import synthetic_entries
from ledger.errors import StorageError
from ledger.log import Log
from projections.exchange import import_bundle
from projections.ledger import Ledger
from tests.audit.test_import_append import exported


def test_the_appending_process_refusal_is_the_imports_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object, **__: object) -> list[bool]:
        raise StorageError("store", "database is locked")

    # The appending process is forked (one thread here): it inherits the patched append.
    monkeypatch.setattr(Log, "import_verified", refuse)
    bundle = exported(tmp_path, seed=5)
    url = f"sqlite:///{tmp_path / 'copy.db'}"
    with Ledger.open(url) as ledger:
        with pytest.raises(StorageError) as refused:
            import_bundle(ledger, bundle, next(synthetic_entries(1, seed=5)).leaf_hash(), workers=2)
        assert ledger.log.size == 0
    assert str(refused.value) == "store: database is locked"
    assert multiprocessing.active_children() == []
