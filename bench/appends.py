"""Figures: appends per second on SQLite, against ``eventsourcing`` storing the same bytes.

The baseline is the library under the log doing nothing but its insert: the
very events Accord stored (entry bytes and Merkle node hashes), read back and
inserted into a fresh database through ``recorder.insert_events`` in
transactions of the same sizes. The ratio accord/raw is then what Accord
adds on top of its storage: reading the head, building and serializing
entries, hashing the tree, and the rule check: accept-all for ``Log.append``,
the organization's rules and the views for ``Ledger.append``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import cycle, islice

from eventsourcing.persistence import StoredEvent

from domain import commands
from domain.state import ACTIVE, LedgerState
from ledger.log import Log
from ledger.note import sign_note
from ledger.store import LOG_STREAM
from ledger.store_sql import SqlStore
from ledger.timefmt import format_time
from projections.ledger import Ledger

from bench.context import Bench, MeasurementFailed
from bench.ledgers import SyntheticLedger, copy_ledger, small_ledger
from bench.report import Figure
from bench.statements import signed_statements
from bench.synthetic import MEMBERS, ORIGIN, signer
from bench.timing import seconds

CHECKED_FLOOR = 0.5
"""Issue #6: an append through every check at least half the raw insert rate."""

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
    store = bench.open_store(f"accord-{label}")
    log = Log(store)
    accord_seconds = seconds(lambda: [log.append(batch) for batch in batches])

    events = store.recorder.select_events(LOG_STREAM, limit=count)
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


@dataclass(frozen=True)
class CheckedAppends:
    """What :func:`measure_checked_appends` found: the two rates and how they were made."""

    accord_rate: float
    raw_rate: float
    parameters: dict[str, int | float | str]


def append_checked_one_per_transaction(bench: Bench) -> Figure:
    """Statements appended one per ``Ledger.append`` call through every check, onto a founded SQLite ledger.

    What the writer does for each member's statement: judge the statement
    by the rules at the head its last append left (its Ed25519 signature
    verified, the actor's key, standing, nonce and time checked), then store
    the entry with its Merkle nodes, the views' rows and their position in
    one transaction. The ledger is a copy of the synthetic one's first
    10^3 entries; the statements are ``statement.make`` by members, signed
    beforehand. Goal: at least half the raw insert rate of the same bytes.
    """
    source = small_ledger(bench, bench.sizes.reads_baseline_entries)
    found = sqlite_checked_appends(bench)
    return Figure(
        name="append.sqlite.checked-one-per-tx",
        value=found.accord_rate,
        unit="appends/s",
        about=f"Ledger.append of signed statements, one per call, through the rules and views, onto {source.size:,} entries, SQLite file",
        baseline=found.raw_rate,
        baseline_about="raw eventsourcing insert_events, same bytes, one per transaction",
        ratio_floor=CHECKED_FLOOR,
        parameters=found.parameters,
    )


def sqlite_checked_appends(bench: Bench) -> CheckedAppends:
    """:func:`measure_checked_appends` on SQLite files, once per run."""

    def measure() -> CheckedAppends:
        source = small_ledger(bench, bench.sizes.reads_baseline_entries)
        label = f"checked-{source.size}"
        return measure_checked_appends(bench, source, bench.open_store(f"accord-{label}"), bench.open_store(f"raw-{label}"))

    return bench.fixture("checked-appends-sqlite", measure)


def measure_checked_appends(bench: Bench, source: SyntheticLedger, store: SqlStore, raw_store: SqlStore) -> CheckedAppends:
    """Copy ``source`` into ``store``, then time ``Ledger.append`` of new statements one per call against the raw insert.

    ``store`` and ``raw_store`` must be empty; the raw baseline inserts the
    event ``store`` holds for each new entry into ``raw_store``, one per
    transaction, right after the append that stored it.
    """
    count = bench.sizes.checked_appends
    copy_ledger(source, store, source.size, bench)
    head = Ledger(store).log.entry(source.size - 1).logged_at_seconds
    # The clock stands still just after the copied head: every statement is
    # signed at that time, so none is refused for its skew, whatever today's date.
    at = head + 60
    ledger = Ledger(store, clock=lambda: at)
    state = ledger.state()
    notes = member_statements(state, count, format_time(at))

    bench.progress(f"append through the checks: {count:,} statements, one per Ledger.append, each then inserted raw")
    # Each append is followed by the raw insert of the event it stored, so
    # that a burst of load on the machine (or the disk) falls on both rates.
    recorder = raw_store.recorder
    accord_seconds = raw_seconds = 0.0
    events: list[StoredEvent] = []
    for index, note in enumerate(notes, source.size):
        accord_seconds += seconds(lambda: ledger.append([note]))
        stored = store.recorder.select_events(LOG_STREAM, gt=index - 1, lte=index, limit=1)
        raw_seconds += seconds(lambda: recorder.insert_events(stored))
        events.extend(stored)
    if len(events) != count or ledger.views.position() != source.size + count:
        raise MeasurementFailed(f"checked appends: {len(events)} entries and views at {ledger.views.position()}, want {count} after {source.size}")
    return CheckedAppends(
        accord_rate=count / accord_seconds,
        raw_rate=count / raw_seconds,
        parameters={
            "entries": count,
            "ledger_entries": source.size,
            "per_transaction": 1,
            "stored_bytes_mean": round(sum(len(event.state) for event in events) / count),
            "accord_seconds": round(accord_seconds, 3),
            "raw_seconds": round(raw_seconds, 3),
        },
    )


def member_statements(state: LedgerState | None, count: int, signed_at: str) -> list[str]:
    """``count`` signed ``statement.make`` notes, in turn by every active member still holding its first key.

    Each has a fresh nonce, so each is a new statement the rules accept at ``signed_at``.
    """
    if state is None:
        raise AssertionError("member statements on an empty ledger")
    speakers = []
    for member in MEMBERS:
        actor = state.actor(member)
        if actor is not None and actor.standing(state.logged_at) == ACTIVE and signer(member).verifier_key() in actor.valid_keys():
            speakers.append(member)
    notes = []
    for number in range(count):
        member = speakers[number % len(speakers)]
        body = {"text": f"Statement {number} of the delegation on the situation, for the record.", "about": "P-1"}
        statement = commands.statement(ORIGIN, "statement.make", member, signed_at, body)
        notes.append(sign_note(statement.to_text(), signer(member)).to_text())
    return notes
