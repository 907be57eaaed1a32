"""``python -m bench [--quick] [--only NAME ...] [--output FILE] [--list]``

Runs the registered figures in order, prints a table to stdout and writes the
versioned results document (default ``bench/results.json``). Exits 1 when a
figure's ratio is over its limit, 2 on bad options.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import appends, proofs, signatures
from bench.context import Bench, BenchError, Sizes
from bench.report import Figure, machine, render_table, results_document, write_results

FigureFunction = Callable[[Bench], Figure]

# In the order they run and print. A new figure is one function and one line
# here; its name is the one its Figure carries.
FIGURES: tuple[tuple[str, FigureFunction], ...] = (
    ("ed25519.verify", signatures.ed25519_verify),
    ("append.sqlite.one-per-tx", appends.append_one_per_transaction),
    ("append.sqlite.batch-1000", appends.append_batched),
    ("proof.log.build-time", proofs.log_build_seconds),
    ("proof.log.build-rate", proofs.log_build_rate),
    ("proof.inclusion.generate", proofs.inclusion_generate),
    ("proof.inclusion.verify", proofs.inclusion_verify),
    ("proof.consistency.generate", proofs.consistency_generate),
    ("proof.consistency.verify", proofs.consistency_verify),
)

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results.json"


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
            print(f"{name:28}  {summary}")
        return 0
    try:
        selected = select(arguments.only)
        sizes = Sizes.choose(arguments.quick, os.environ)
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2

    figures = []
    started = time.perf_counter()
    with Bench(sizes, quick=arguments.quick) as bench:
        for name, function in selected:
            bench.progress(f"{name}: running")
            figure = function(bench)
            if figure.name != name:
                raise AssertionError(f"figure registered as {name!r} calls itself {figure.name!r}")
            figures.append(figure)
    elapsed = time.perf_counter() - started

    machine_info = machine()
    print(
        f"Accord bench{' (quick)' if arguments.quick else ''}: {machine_info['cpu_count']} CPUs ({machine_info['cpu_model']}), "
        f"{machine_info['python']}, cryptography {machine_info['cryptography']} ({machine_info['openssl']}), "
        f"SQLite {machine_info['sqlite']} on {machine_info['tempdir_filesystem']}"
    )
    print()
    print(render_table(figures))
    print()
    print(f"{len(figures)} figures in {elapsed:.1f} s; ratio = value / baseline.")

    settings = {"quick": arguments.quick, "sizes": vars(sizes).copy(), "seconds": round(elapsed, 1)}
    write_results(arguments.output, results_document(figures, machine_info, settings))
    print(f"Results written to {arguments.output}")

    over = [figure for figure in figures if not figure.within_limit]
    for figure in over:
        print(f"bench: {figure.name}: ratio {figure.ratio:.2f} is over its limit {figure.ratio_limit}", file=sys.stderr)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
