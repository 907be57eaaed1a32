"""Figures: appends per second on SQLite, against ``eventsourcing`` storing the same bytes.

The baseline is the library under the log doing nothing but its insert: the
very events Accord stored (entry bytes and Merkle node hashes), read back and
inserted into a fresh database through ``recorder.insert_events`` in
transactions of the same sizes. The ratio accord/raw is then what Accord
adds on top of its storage: reading the head, building and serializing
entries, hashing the tree, the rule check (accept-all here).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import cycle, islice

from eventsourcing.persistence import StoredEvent

from ledger.log import Log
from ledger.store import LOG_STREAM

from bench.context import Bench
from bench.report import Figure
from bench.statements import signed_statements
from bench.timing import seconds

RAW_BASELINE = "raw eventsourcing insert_events, same bytes, same transactions"


def append_one_per_transaction(bench: Bench) -> Figure:
    """Signed statements appended one per ``Log.append`` call, so one per transaction.

    What a writer serving members one at a time sustains. On SQLite in WAL
    mode each commit waits for the disk (fsync), so the raw baseline is
    mostly the disk's commit rate and the ratio shows how much of an append
    Accord's own work takes.
    """
    notes = signed_statements(bench).notes
    return _append_figure(bench, "append.sqlite.one-per-tx", [[note] for note in notes])


def append_batched(bench: Bench) -> Figure:
    """Signed statements appended 1,000 per ``Log.append`` call, so 1,000 per transaction.

    What an import or a busy writer grouping statements sustains. Commits are
    rare here, so the figure is Accord's per-entry CPU cost (serializing
    entries, hashing) against the library's per-row insert cost. The
    statements are the shared pool, reused in turn; every entry still differs
    by its index.
    """
    notes = signed_statements(bench).notes
    size, count = bench.sizes.batch_size, bench.sizes.batch_size * bench.sizes.batches
    pool = list(islice(cycle(notes), count))
    batches = [pool[start : start + size] for start in range(0, count, size)]
    return _append_figure(bench, f"append.sqlite.batch-{size}", batches)


def _append_figure(bench: Bench, name: str, batches: Sequence[Sequence[str]]) -> Figure:
    """Append ``batches`` through Log.append, then insert the stored events raw, each into a fresh database."""
    count = sum(len(batch) for batch in batches)
    label = name.rpartition(".")[2]

    bench.progress(f"{name}: appending {count:,} statements through Log.append")
    log = Log(bench.open_store(f"accord-{label}"))
    accord_seconds = seconds(lambda: [log.append(batch) for batch in batches])

    events = log.store.recorder.select_events(LOG_STREAM, limit=count)
    if len(events) != count:
        raise AssertionError(f"{name}: log holds {len(events)} entries, want {count}")
    raw_batches: list[Sequence[StoredEvent]] = []
    start = 0
    for batch in batches:
        raw_batches.append(events[start : start + len(batch)])
        start += len(batch)

    bench.progress(f"{name}: inserting the same {count:,} events through insert_events")
    recorder = bench.open_store(f"raw-{label}").recorder
    raw_seconds = seconds(lambda: [recorder.insert_events(batch) for batch in raw_batches])

    stored_bytes = sum(len(event.state) for event in events)
    return Figure(
        name=name,
        value=count / accord_seconds,
        unit="appends/s",
        about=f"Log.append of signed statements, {len(batches[0])} per transaction, SQLite file",
        baseline=count / raw_seconds,
        baseline_about=RAW_BASELINE,
        parameters={
            "entries": count,
            "per_transaction": len(batches[0]),
            "statement_bytes_mean": round(sum(len(note.encode("utf-8")) for batch in batches for note in batch) / count),
            "stored_bytes_mean": round(stored_bytes / count),
            "accord_seconds": round(accord_seconds, 3),
            "raw_seconds": round(raw_seconds, 3),
        },
    )
