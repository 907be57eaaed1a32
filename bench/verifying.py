"""Figures: ``accord verify`` and ``accord import`` end to end, their speed and their memory.

Each is the real command in a child process (:mod:`bench.runs`): the
interpreter starts, the store is opened, every entry is read, parsed and
hashed, every signature verified (in as many worker processes as the
machine has CPUs, from 2,000 entries on), every rule judged, the stored
views compared with the views rebuilt, the root recomputed and the
operator's checkpoint checked. Entries per second is the ledger's size
over the child's wall-clock time.
"""

from __future__ import annotations

import json
import os

from ledger.store import Store
from projections.exchange import export_bundle
from projections.ledger import Ledger

from bench.context import Bench, MeasurementFailed
from bench.ledgers import SyntheticLedger, big_ledger, small_ledger
from bench.report import Figure, Outcome, Skipped
from bench.runs import CommandRun, run_accord
from bench.signatures import SODIUM_MISSING, raw_rates

VERIFY_FLOOR = 1.6
"""Issues #6, #17: a full verify on 2 cores at least 1.6 times one core's raw OpenSSL Ed25519 rate."""
VERIFY_SODIUM_FLOOR = 0.8
"""Issue #17: and at least 0.8 times one core's raw libsodium rate."""
MEMORY_LIMIT = 1.5
"""Issue #6: verify streams, so its peak memory barely grows with the ledger."""
IMPORT_FLOOR = 0.8
"""Issue #6: an import costs at most a quarter more than a verify of the same entries."""


def verify_run(bench: Bench, ledger: SyntheticLedger, verifier: str | None = None) -> CommandRun:
    """``accord verify --store URL --anchor HEX`` of ``ledger`` (with ``--verifier NAME`` if named), run once per run.

    Raises MeasurementFailed unless it verified every entry and the views.
    """
    option = [] if verifier is None else ["--verifier", verifier]

    def run() -> CommandRun:
        bench.progress(f"accord verify {' '.join(option)}: {ledger.size:,} entries of {ledger.url}")
        done = run_accord(bench, ["verify", "--store", ledger.url, "--anchor", ledger.anchor, *option, "--json"])
        summary = json.loads(done.stdout)
        if not (summary.get("ok") and summary.get("entries") == ledger.size and summary.get("views")):
            raise MeasurementFailed(f"accord verify of {ledger.url}: got {summary}, want ok, {ledger.size} entries and the views")
        return done

    return bench.fixture(f"verify {ledger.url} {verifier or 'default'}", run)


def verify_rate(bench: Bench, ledger: SyntheticLedger, verifier: str | None = None) -> float:
    """Entries per second of :func:`verify_run`."""
    return ledger.size / verify_run(bench, ledger, verifier).seconds


def verify_parameters(ledger: SyntheticLedger, run: CommandRun) -> dict[str, int | float | str]:
    """The run's cost, and ``cpu_limited_entries_per_second``: the rate its CPU time allows on idle CPUs.

    That is the size over the larger of the main process's CPU seconds (it
    folds the rules on one core) and all processes' CPU seconds shared over
    the machine's CPUs: what the wall-clock rate would be if nothing else
    ran and the processes overlapped perfectly. A wall-clock rate well under
    it says the machine was busy with other work, or the pipeline stalled.
    """
    cpus = os.cpu_count() or 1
    limit = max(run.main_cpu_seconds, (run.main_cpu_seconds + run.worker_cpu_seconds) / cpus)
    return {
        "entries": ledger.size,
        "cpus": cpus,
        "cpu_limited_entries_per_second": round(ledger.size / limit) if limit else 0,
        **run.cost_parameters(),
    }


def verify_sqlite(bench: Bench) -> Figure:
    """Entries per second of a full ``accord verify`` of the big SQLite ledger, against one core's raw OpenSSL Ed25519 rate.

    The default verifier (libsodium through PyNaCl). The goal (issue #17) is
    at least 1.6 times ``ed25519.verify`` on 2 cores: the workers parse and
    verify in parallel and the fold hides behind them. The parameters say
    where the CPU went: ``main_cpu_seconds`` is the process that folds the
    rules and compares the views (one core at most), ``worker_cpu_seconds``
    the workers that parse, hash and verify; a main process busy for the
    whole wall time is what limits the rate.
    """
    ledger = big_ledger(bench)
    run = verify_run(bench, ledger)
    return Figure(
        name="verify.sqlite",
        value=ledger.size / run.seconds,
        unit="entries/s",
        about=f"accord verify (signatures, rules, views, root) of {ledger.size:,} synthetic entries, SQLite, {os.cpu_count()} CPUs",
        baseline=raw_rates(bench).openssl,
        baseline_about="ed25519.verify: raw cryptography (OpenSSL) verifies/s, one core",
        ratio_floor=VERIFY_FLOOR,
        parameters=verify_parameters(ledger, run),
    )


def verify_sqlite_libsodium(bench: Bench) -> Outcome:
    """The same run as ``verify.sqlite`` (the default verifier, libsodium), against one core's raw libsodium rate.

    The goal (issue #17) is at least 0.8: two cores, each spending no more
    than 1.5 times a signature's cost on everything else about an entry.
    """
    rates = raw_rates(bench)
    if rates.libsodium is None:
        return Skipped("verify.sqlite.libsodium", SODIUM_MISSING)
    ledger = big_ledger(bench)
    run = verify_run(bench, ledger)
    return Figure(
        name="verify.sqlite.libsodium",
        value=ledger.size / run.seconds,
        unit="entries/s",
        about=f"accord verify (default verifier: libsodium) of {ledger.size:,} synthetic entries, SQLite, {os.cpu_count()} CPUs",
        baseline=rates.libsodium,
        baseline_about="ed25519.verify.libsodium: raw libsodium verifies/s, one core",
        ratio_floor=VERIFY_SODIUM_FLOOR,
        parameters=verify_parameters(ledger, run),
    )


def verify_sqlite_openssl(bench: Bench) -> Figure:
    """The same verify with ``--verifier openssl`` (the fallback and reference), against one core's raw OpenSSL rate.

    No goal of its own: it says what the default's choice of libsodium is worth.
    """
    ledger = big_ledger(bench)
    run = verify_run(bench, ledger, "openssl")
    return Figure(
        name="verify.sqlite.openssl",
        value=ledger.size / run.seconds,
        unit="entries/s",
        about=f"accord verify --verifier openssl of {ledger.size:,} synthetic entries, SQLite, {os.cpu_count()} CPUs",
        baseline=raw_rates(bench).openssl,
        baseline_about="ed25519.verify: raw cryptography (OpenSSL) verifies/s, one core",
        parameters={**verify_parameters(ledger, run), "default_entries_per_second": round(verify_rate(bench, ledger))},
    )


def verify_memory(bench: Bench) -> Figure:
    """Peak memory (MiB) of ``accord verify`` of the big ledger, against the same at 10^4 entries.

    Peak resident memory of the verifying process plus that of its largest
    worker (``getrusage``), so a worker that held the whole log would show.
    Replay streams (the rule state forgets closed proposals and old nonces,
    the views are compared as they are read), so the goal is at most 1.5
    times the small ledger's peak, whatever the size.
    """
    ledger = big_ledger(bench)
    small = small_ledger(bench, bench.sizes.memory_baseline_entries)
    measured, baseline = verify_run(bench, ledger), verify_run(bench, small)
    return Figure(
        name="verify.memory",
        value=measured.peak_mib,
        unit="MiB",
        about=f"peak RSS of accord verify of {ledger.size:,} entries: main process + largest worker",
        baseline=baseline.peak_mib,
        baseline_about=f"the same at {small.size:,} entries",
        ratio_limit=MEMORY_LIMIT,
        parameters={
            "entries": ledger.size,
            "baseline_entries": small.size,
            "main_peak_mib": round(measured.main_peak_kib / 1024, 1),
            "worker_peak_mib": round(measured.worker_peak_kib / 1024, 1),
            "baseline_main_peak_mib": round(baseline.main_peak_kib / 1024, 1),
            "baseline_worker_peak_mib": round(baseline.worker_peak_kib / 1024, 1),
        },
    )


def import_sqlite(bench: Bench) -> Figure:
    """Entries per second of ``accord import`` of a bundle of the big ledger into an empty SQLite store, against verify.

    The bundle (a .tar, ``export_bundle``) is written beforehand. Import
    verifies every entry as ``accord verify`` does (without a view
    comparison: there are no views yet), appends them 1,000 per transaction
    and then builds the views, folding the rules once more. Goal: at least
    0.8 times the verify rate (``verify.sqlite``).
    """
    ledger = big_ledger(bench)
    bundle = bench.scratch(f"bundle-{ledger.size}.tar")
    with Store(ledger.url) as store:
        export_bundle(Ledger(store), bundle)
    target = bench.scratch("imported.db")
    url = f"sqlite:///{target}"
    bench.progress(f"accord import: {ledger.size:,} entries into {url}")
    run = run_accord(bench, ["import", str(bundle), "--store", url, "--anchor", ledger.anchor])
    with Store(url) as store:
        imported = Ledger(store).log.size
    if imported != ledger.size:
        raise MeasurementFailed(f"accord import: the store holds {imported} entries, want {ledger.size}")
    return Figure(
        name="import.sqlite",
        value=ledger.size / run.seconds,
        unit="entries/s",
        about=f"accord import of a .tar bundle of {ledger.size:,} entries into an empty SQLite store",
        baseline=verify_rate(bench, ledger),
        baseline_about="verify.sqlite: accord verify of the same entries",
        ratio_floor=IMPORT_FLOOR,
        parameters={**verify_parameters(ledger, run), "bundle_bytes": bundle.stat().st_size},
    )
