"""The synthetic ledgers that verify, import, memory and read figures are measured on.

The big ledger (``BENCH_ENTRIES``, 10^5 by default) is made once per run by
:func:`bench.synthetic.synthetic_entries` and stored as a writer's store
holds it: the entries appended as they are (``Log.append_entries``), 1,000
per transaction, then the read models brought up to the head
(``Ledger.update_views``), then a checkpoint signed by the operator. The
generator judged every entry with ``domain.rules.apply`` as it made it, so
the store does not judge them again.

The smaller ledgers (10^3, 10^4 entries) are the big one's first entries,
stored the same way: the same council and statements, byte for byte.
Copying them costs no signing and no judging, and keeps every ledger of a
run a prefix of the big one whatever the generator does past its end.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from domain.charter import OPERATOR
from ledger.entry import Entry
from ledger.store import Store
from projections.ledger import Ledger

from bench.context import Bench
from bench.report import Figure
from bench.synthetic import signer, synthetic_entries

SEED = 2026
PROGRESS_EVERY = 10_000


@dataclass(frozen=True)
class SyntheticLedger:
    """A stored synthetic ledger: where it is, its size, its pinned anchor, how long storing it took."""

    url: str
    size: int
    anchor: str
    """The charter's leaf hash in hex, as ``accord verify --anchor`` wants it."""
    seconds: dict[str, float] = field(default_factory=dict)
    """Seconds per phase of making it: generate, append, views, checkpoint."""
    kinds: dict[str, int] = field(default_factory=dict)
    """Entries per statement kind."""
    path: Path | None = None
    """The SQLite file, for a SQLite ledger."""


def big_ledger(bench: Bench) -> SyntheticLedger:
    """The run's big ledger of ``sizes.ledger_entries`` entries, in a SQLite file, made on first use."""

    def build() -> SyntheticLedger:
        path = bench.scratch(f"ledger-{bench.sizes.ledger_entries}.db")
        url = f"sqlite:///{path}"
        with Store(url) as store:
            made = store_ledger(store, synthetic_entries(bench.sizes.ledger_entries, SEED), bench, "synthetic ledger")
        return SyntheticLedger(url, made.size, made.anchor, made.seconds, made.kinds, path)

    return bench.fixture("ledger-big", build)


def small_ledger(bench: Bench, size: int) -> SyntheticLedger:
    """The big ledger's first ``size`` entries in a SQLite file of their own, made on first use."""

    def build() -> SyntheticLedger:
        path = bench.scratch(f"ledger-{size}.db")
        url = f"sqlite:///{path}"
        with Store(url) as store:
            made = copy_ledger(big_ledger(bench), store, size, bench)
        return SyntheticLedger(url, made.size, made.anchor, made.seconds, made.kinds, path)

    return bench.fixture(f"ledger-{size}", build)


def copy_ledger(source: SyntheticLedger, store: Store, size: int, bench: Bench) -> SyntheticLedger:
    """The first ``size`` entries of ``source`` stored into ``store`` (empty) as :func:`store_ledger` stores them.

    Returns a SyntheticLedger whose ``url`` is the store's.
    """
    if size > source.size:
        raise AssertionError(f"copy of {size} entries from a ledger of {source.size}")
    with Store(source.url) as origin:
        entries = (Entry.from_bytes(stored.data) for stored in origin.entries(0, size))
        made = store_ledger(store, entries, bench, f"copy of {size:,} entries")
    if made.anchor != source.anchor or made.size != size:
        raise AssertionError(f"copy holds {made.size} entries from anchor {made.anchor}, want {size} from {source.anchor}")
    return SyntheticLedger(store.url or "", made.size, made.anchor, made.seconds, made.kinds)


def store_ledger(store: Store, entries: Iterable[Entry], bench: Bench, label: str) -> SyntheticLedger:
    """Append ``entries`` (already judged) to the empty ``store``, update its views, sign a checkpoint."""
    ledger = Ledger(store)
    if ledger.log.size:
        raise AssertionError(f"{label}: the store holds {ledger.log.size} entries already")
    seconds = {"generate": 0.0, "append": 0.0}
    kinds: Counter[str] = Counter()
    source = iter(entries)
    anchor = ""
    while True:
        chunk = _timed(seconds, "generate", lambda: list(itertools.islice(source, bench.sizes.ledger_chunk)))
        if not chunk:
            break
        if not anchor:
            anchor = chunk[0].leaf_hash().hex()
        kinds.update(_kind(entry) for entry in chunk)
        _timed(seconds, "append", lambda: ledger.log.append_entries(chunk))
        done = chunk[-1].index + 1
        if done % PROGRESS_EVERY == 0:
            bench.progress(f"{label}: {done:,} entries appended")
    size = ledger.log.size
    bench.progress(f"{label}: {size:,} entries appended; updating the views")
    _timed(seconds, "views", ledger.update_views)
    _timed(seconds, "checkpoint", lambda: ledger.log.publish_checkpoint(signer(OPERATOR)))
    return SyntheticLedger(store.url or "", size, anchor, seconds, dict(sorted(kinds.items())))


def _timed(seconds: dict[str, float], phase: str, work: Callable[[], object]) -> Any:
    start = time.perf_counter()
    result = work()
    seconds[phase] = seconds.get(phase, 0.0) + time.perf_counter() - start
    return result


def _kind(entry: Entry) -> str:
    # The note's text ends at its last blank line; the statement is canonical JSON.
    return str(json.loads(entry.statement.rpartition("\n\n")[0])["kind"])


def entries_of(ledger: SyntheticLedger, stop: int) -> Iterator[Entry]:
    """The ledger's entries ``0 <= index < stop``, parsed, streamed."""
    with Store(ledger.url) as store:
        for stored in store.entries(0, stop):
            yield Entry.from_bytes(stored.data)


def ledger_build_time(bench: Bench) -> Figure:
    """Seconds to make and store the big synthetic ledger: generate, append 1,000 per transaction, views, checkpoint.

    Set-up for the verify, import, memory and read figures, reported because
    it is what a rebuild of a writer's store costs (the views phase is a
    full ``accord rebuild``). ``generate`` is the bench's own generator
    (making, signing and judging each statement), not Accord's cost.
    """
    ledger = big_ledger(bench)
    total = sum(ledger.seconds.values())
    stored = ledger.seconds["append"] + ledger.seconds["views"] + ledger.seconds["checkpoint"]
    parameters: dict[str, int | float | str] = {
        "entries": ledger.size,
        "per_transaction": bench.sizes.ledger_chunk,
        **{f"{phase}_seconds": round(value, 2) for phase, value in ledger.seconds.items()},
        "stored_entries_per_second": round(ledger.size / stored),
        "views_entries_per_second": round(ledger.size / ledger.seconds["views"]),
        "database_bytes": ledger.path.stat().st_size if ledger.path is not None else 0,
        **{f"kind.{kind}": count for kind, count in ledger.kinds.items()},
    }
    return Figure(
        name="ledger.build-time",
        value=total,
        unit="s",
        about=f"generating and storing the synthetic ledger of {ledger.size:,} entries (SQLite file)",
        parameters=parameters,
    )
