"""``python -m bench [--quick] [--only NAME ...] [--output FILE] [--list]``

Runs the registered figures in order, prints a table to stdout and writes the
versioned results document (default ``bench/results.json``). Exits 1 when a
figure misses its goal (its ratio over its limit or under its floor) or
fails (the command it measures exited 1), saying so on one line for each and
ending with the exit status; 2 on bad options. Figures that cannot run here
(no PostgreSQL named) are skipped, saying why, without failing the run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import appends, gitlog, keyfiles, ledgers, postgres, proofs, reads, serving, signatures, verifying, witnessing
from bench.context import Bench, BenchError, MeasurementFailed, Sizes
from bench.report import Failed, Figure, Outcome, Skipped, cpu_seconds, load_average, machine, render_table, results_document, write_results

FigureFunction = Callable[[Bench], Outcome]

# In the order they run and print. A new figure is one function and one line
# here; its name is the one its Figure carries.
FIGURES: tuple[tuple[str, FigureFunction], ...] = (
    ("ed25519.verify", signatures.ed25519_verify),
    ("ed25519.verify.libsodium", signatures.ed25519_verify_libsodium),
    ("keys.open", keyfiles.keys_open),
    ("append.sqlite.one-per-tx", appends.append_one_per_transaction),
    ("append.sqlite.batch-1000", appends.append_batched),
    ("append.sqlite.checked-one-per-tx", appends.append_checked_one_per_transaction),
    ("proof.log.build-time", proofs.log_build_seconds),
    ("proof.log.build-rate", proofs.log_build_rate),
    ("proof.inclusion.generate", proofs.inclusion_generate),
    ("proof.inclusion.verify", proofs.inclusion_verify),
    ("proof.consistency.generate", proofs.consistency_generate),
    ("proof.consistency.verify", proofs.consistency_verify),
    ("ledger.build-time", ledgers.ledger_build_time),
    ("verify.sqlite", verifying.verify_sqlite),
    ("verify.sqlite.libsodium", verifying.verify_sqlite_libsodium),
    ("verify.sqlite.openssl", verifying.verify_sqlite_openssl),
    ("verify.vs-git-ssh", gitlog.verify_against_git),
    ("verify.memory", verifying.verify_memory),
    ("import.sqlite", verifying.import_sqlite),
    ("read.status", reads.status_time),
    ("read.decisions-last-50", reads.decisions_time),
    ("append.postgres.checked-one-per-tx", postgres.append_checked_postgres),
    ("verify.postgres.openssl", postgres.verify_postgres_openssl),
    ("witness.add-checkpoint", witnessing.witness_add_checkpoint),
    ("serve.submit.sqlite", serving.submit_sqlite),
    ("serve.submit.latency.p50", serving.latency_p50),
    ("serve.submit.latency.p99", serving.latency_p99),
    ("serve.submit.postgres", serving.submit_postgres),
    ("serve.submit.latency.witnessed.p50", serving.witnessed_p50),
    ("serve.submit.latency.witnessed.p99", serving.witnessed_p99),
    ("sync.sqlite", serving.sync_sqlite),
)

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results.json"
BUSY_SHARE = 0.1
"""Share of the CPUs' time that other processes took during a run above which the run says so."""


def select(names: Sequence[str]) -> list[tuple[str, FigureFunction]]:
    """The registered figures named, or under a named prefix (``proof`` selects ``proof.*``); all if none named.

    Raises BenchError for a name that selects nothing.
    """
    if not names:
        return list(FIGURES)
    wanted = [name for text in names for name in text.split(",") if name]
    for name in wanted:
        if not any(_selects(name, figure) for figure, _ in FIGURES):
            known = ", ".join(figure for figure, _ in FIGURES)
            raise BenchError(f"--only {name!r} selects no figure; known: {known}")
    return [(figure, function) for figure, function in FIGURES if any(_selects(name, figure) for name in wanted)]


def _selects(name: str, figure: str) -> bool:
    return figure == name or figure.startswith(name + ".")


def _others_share(start: tuple[float, float] | None, end: tuple[float, float] | None, elapsed: float) -> float | None:
    """The share of all CPUs' time during the run that went to processes other than the bench's own."""
    if start is None or end is None or elapsed <= 0:
        return None
    others = (end[0] - start[0]) - (end[1] - start[1])
    return max(0.0, others) / (elapsed * (os.cpu_count() or 1))


def _loads(loads: Sequence[float]) -> str:
    return "/".join(f"{load:.1f}" for load in loads) or "unknown"


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Accord's speed figures, each next to a baseline.")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run of a few seconds")
    parser.add_argument(
        "--only", action="append", default=[], metavar="NAME", help="run only this figure or prefix (repeatable, or comma-separated)"
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"results document (default {DEFAULT_OUTPUT})")
    parser.add_argument("--list", action="store_true", help="list the figures and exit")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    if arguments.list:
        for name, function in FIGURES:
            summary = (function.__doc__ or "").strip().splitlines()[0]
            print(f"{name:36}  {summary}")
        return 0
    try:
        selected = select(arguments.only)
        sizes = Sizes.choose(arguments.quick, os.environ)
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2

    figures: list[Outcome] = []
    load_at_start = load_average()
    cpu_at_start = cpu_seconds()
    started = time.perf_counter()
    with Bench(sizes, quick=arguments.quick) as bench:
        for name, function in selected:
            bench.progress(f"{name}: running")
            try:
                figure = function(bench)
            except MeasurementFailed as failure:
                figure = Failed(name, str(failure))
            if figure.name != name:
                raise AssertionError(f"figure registered as {name!r} calls itself {figure.name!r}")
            figures.append(figure)
    elapsed = time.perf_counter() - started
    others = _others_share(cpu_at_start, cpu_seconds(), elapsed)

    machine_info = machine()
    print(
        f"Accord bench{' (quick)' if arguments.quick else ''}: {machine_info['cpu_count']} CPUs ({machine_info['cpu_model']}), "
        f"{machine_info['python']}, cryptography {machine_info['cryptography']} ({machine_info['openssl']}), "
        f"SQLite {machine_info['sqlite']} on {machine_info['tempdir_filesystem']}; "
        f"load average {_loads(load_at_start)} at start, {_loads(machine_info['load_average'])} at end"
    )
    print()
    print(render_table(figures))
    print()
    print(f"{len(figures)} figures in {elapsed:.1f} s; ratio = value / baseline.")
    if others is not None and others > BUSY_SHARE:
        print(
            f"warning: other processes (database servers included) used {others:.0%} of the CPUs during the run: "
            "wall-clock figures are low and noisy; cpu_limited_entries_per_second in the results says what the CPU time allowed"
        )

    settings = {"quick": arguments.quick, "sizes": vars(sizes).copy(), "seconds": round(elapsed, 1), "load_average_at_start": load_at_start,
                "other_cpu_share": None if others is None else round(others, 3)}
    write_results(arguments.output, results_document(figures, machine_info, settings))
    print(f"Results written to {arguments.output}")

    for figure in figures:
        if isinstance(figure, Skipped):
            print(f"skipped {figure.name}: {figure.reason}")
    failures = [figure for figure in figures if isinstance(figure, Failed)]
    for failed in failures:
        print(f"failed {failed.name}: {failed.reason}")
    misses = [miss for figure in figures if isinstance(figure, Figure) and (miss := figure.miss()) is not None]
    for miss in misses:
        print(f"goal missed: {miss}")
    goals = sum(1 for figure in figures if isinstance(figure, Figure) and figure.goal is not None)
    if misses or failures:
        print(f"exit status 1: {len(misses)} of {goals} goals missed, {len(failures)} figure(s) failed")
        return 1
    print(f"exit status 0: all {goals} goals met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
