"""Figures: what ``accord status`` and ``accord decisions --last 50`` read, on the big ledger against 10^3 entries.

The read commands answer from the views (``projections.queries.View``),
never by replaying the log, so a read should cost about the same however
long the log: the goal is at most twice the time at 10^3 entries. Each
sample is one full read as the command makes it on an open ledger (the
views' position checked, the documents read and decoded), without click's
parsing and printing, which cost the same at any size. The two ledgers are
read alternately, sample by sample (:func:`bench.timing.paired_medians`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from projections.ledger import Ledger
from projections.queries import View

from bench.context import Bench
from bench.ledgers import big_ledger, small_ledger
from bench.report import Figure
from bench.timing import paired_medians

READ_LIMIT = 2.0
"""Issue #6: a read at 10^6 entries at most twice the same read at 10^3."""
LAST_DECISIONS = 50


def read_status(ledger: Ledger) -> dict[str, Any]:
    """What ``accord status`` reads: the view's status and the newest checkpoint."""
    view = View(ledger)
    latest = ledger.log.latest_checkpoint()
    return {**view.status(), "checkpoint": None if latest is None else latest.to_text()}


def read_last_decisions(ledger: Ledger) -> list[dict[str, Any]]:
    """What ``accord decisions --last 50`` reads: the last 50 decisions with their attachments and statements."""
    return View(ledger).decisions(LAST_DECISIONS)


def status_time(bench: Bench) -> Figure:
    """Median milliseconds of what ``accord status`` reads, on the big ledger against 10^3 entries."""
    return _read_figure(bench, "read.status", "accord status's reads (View.status, latest checkpoint)", read_status)


def decisions_time(bench: Bench) -> Figure:
    """Median milliseconds of what ``accord decisions --last 50`` reads, on the big ledger against 10^3 entries.

    The last 50 decisions, then their attachments and statements: three
    indexed queries, whatever the number of decisions.
    """
    return _read_figure(bench, "read.decisions-last-50", "accord decisions --last 50's reads (View.decisions(50))", read_last_decisions)


def _read_figure(bench: Bench, name: str, what: str, read: Callable[[Ledger], object]) -> Figure:
    measured_ledger = big_ledger(bench)
    baseline_ledger = small_ledger(bench, bench.sizes.reads_baseline_entries)
    measured = bench.keep(Ledger.open(measured_ledger.url))
    baseline = bench.keep(Ledger.open(baseline_ledger.url))
    samples = bench.sizes.reads_samples
    bench.progress(f"{name}: {samples} samples at {baseline_ledger.size:,} and {measured_ledger.size:,}")
    read(baseline), read(measured)  # warm-up: the first read opens the tables and fills the page cache
    baseline_us, measured_us = paired_medians(lambda _: read(baseline), lambda _: read(measured), samples)
    return Figure(
        name=name,
        value=measured_us / 1000,
        unit="ms",
        about=f"{what}, median at {measured_ledger.size:,} entries",
        baseline=baseline_us / 1000,
        baseline_about=f"the same at {baseline_ledger.size:,} entries",
        ratio_limit=READ_LIMIT,
        parameters={
            "entries": measured_ledger.size,
            "baseline_entries": baseline_ledger.size,
            "samples": samples,
            "decisions": len(View(measured).decisions()),
            "baseline_decisions": len(View(baseline).decisions()),
        },
    )
