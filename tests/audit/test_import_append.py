"""The append of an import runs in a process of its own beside the audit (projections.exchange._Forked):
whatever it was sent, an audit that fails appends nothing and leaves no process behind."""

from __future__ import annotations

import multiprocessing
import shutil
from pathlib import Path

import pytest

from bench.synthetic import signer, synthetic_entries
from domain.charter import OPERATOR
from ledger.errors import VerificationError
from ledger.store import LogStore
from projections import exchange
from projections.exchange import export_bundle, import_bundle
from projections.ledger import CHUNK, Ledger

ENTRIES = 2 * CHUNK + 500


def exported(directory: Path, seed: int) -> Path:
    with Ledger(LogStore("memory:")) as ledger:
        ledger.log.append_entries(list(synthetic_entries(ENTRIES, seed=seed)))
        ledger.log.publish_checkpoint(signer(OPERATOR))
        export_bundle(ledger, directory / f"bundle-{seed}")
    return directory / f"bundle-{seed}"


def test_an_import_whose_checkpoint_fails_after_two_chunks_were_sent_appends_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[int] = []
    add = exchange._Forked.add
    monkeypatch.setattr(exchange._Forked, "add", lambda self, datas, *rest: (sent.append(len(datas)), add(self, datas, *rest))[1])
    bundle = exported(tmp_path, seed=5)
    # The operator's checkpoint of another log of the same origin and size: the root check fails
    # only once every entry was judged, and two chunks sent to the appending process.
    shutil.copy(exported(tmp_path, seed=6) / "checkpoint", bundle / "checkpoint")
    url = f"sqlite:///{tmp_path / 'copy.db'}"
    anchor = next(synthetic_entries(1, seed=5)).leaf_hash()
    with Ledger.open(url) as ledger:
        with pytest.raises(VerificationError, match=f"^checkpoint: root at size {ENTRIES}: got "):
            import_bundle(ledger, bundle, anchor, workers=2)
        assert ledger.log.size == 0 and ledger.store.latest_checkpoint() is None
    assert sent == [CHUNK, CHUNK]
    assert multiprocessing.active_children() == []


def test_the_same_import_with_its_own_checkpoint_appends_every_entry(tmp_path: Path) -> None:
    bundle = exported(tmp_path, seed=5)
    url = f"sqlite:///{tmp_path / 'copy.db'}"
    with Ledger.open(url) as ledger:
        done = import_bundle(ledger, bundle, next(synthetic_entries(1, seed=5)).leaf_hash(), workers=2)
        assert done.appended == ledger.log.size == ENTRIES and ledger.store.latest_checkpoint() is not None
    assert multiprocessing.active_children() == []
