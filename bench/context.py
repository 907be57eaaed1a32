"""One benchmark run: its sizes, its scratch directory, the fixtures its figures share."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from ledger.store_sql import SqlStore

T = TypeVar("T")

PROOF_ENTRIES_VARIABLE = "BENCH_PROOF_ENTRIES"
LEDGER_ENTRIES_VARIABLE = "BENCH_ENTRIES"


class BenchError(Exception):
    """A run that cannot be made as asked (bad option or setting)."""


class MeasurementFailed(Exception):
    """What a figure measures did not work (a command exited 1, a count is wrong): the figure has no number."""


@dataclass(frozen=True)
class Sizes:
    """How much work each figure does; ``--quick`` shrinks all but the definitions.

    ``batch_size``, ``proof_baseline_entries``, ``ledger_chunk`` and
    ``reads_baseline_entries`` are part of what the figures mean (1,000
    entries per transaction; proofs and reads at 10^3), so quick runs keep
    them. ``ledger_entries`` is the synthetic ledger that verify, import,
    memory and reads are measured on; ``memory_baseline_entries`` the smaller
    one its peak memory is compared with.
    """

    verify_rounds: int
    single_appends: int
    batches: int
    batch_size: int
    proof_entries: int
    proof_baseline_entries: int
    proof_build_batch: int
    proof_samples: int
    ledger_entries: int
    ledger_chunk: int
    memory_baseline_entries: int
    reads_baseline_entries: int
    reads_samples: int
    checked_appends: int
    git_commits: int

    @classmethod
    def choose(cls, quick: bool, environ: Mapping[str, str]) -> Sizes:
        """The sizes of a full or quick run.

        ``BENCH_PROOF_ENTRIES`` overrides the big proof log's size and
        ``BENCH_ENTRIES`` the synthetic ledger's (10^6 for the issue's
        decades-of-decisions figures).
        """
        sizes = cls(
            verify_rounds=8 if quick else 40,
            single_appends=200 if quick else 2_000,
            batches=3 if quick else 20,
            batch_size=1_000,
            proof_entries=20_000 if quick else 1_000_000,
            proof_baseline_entries=1_000,
            proof_build_batch=10_000,
            proof_samples=50 if quick else 200,
            ledger_entries=5_000 if quick else 100_000,
            ledger_chunk=1_000,
            memory_baseline_entries=2_000 if quick else 10_000,
            reads_baseline_entries=1_000,
            reads_samples=20 if quick else 50,
            checked_appends=200 if quick else 1_000,
            git_commits=200 if quick else 2_000,
        )
        proof_entries = _whole_number(environ, PROOF_ENTRIES_VARIABLE)
        if proof_entries is not None:
            if proof_entries <= sizes.proof_baseline_entries:
                raise BenchError(
                    f"{PROOF_ENTRIES_VARIABLE}: got {proof_entries}, want more than the baseline's {sizes.proof_baseline_entries} entries"
                )
            sizes = cls(**{**asdict(sizes), "proof_entries": proof_entries})
        ledger_entries = _whole_number(environ, LEDGER_ENTRIES_VARIABLE)
        if ledger_entries is not None:
            smallest = max(sizes.memory_baseline_entries, sizes.reads_baseline_entries)
            if ledger_entries <= smallest:
                raise BenchError(f"{LEDGER_ENTRIES_VARIABLE}: got {ledger_entries}, want more than the baseline's {smallest} entries")
            sizes = cls(**{**asdict(sizes), "ledger_entries": ledger_entries})
        return sizes


def _whole_number(environ: Mapping[str, str], variable: str) -> int | None:
    text = environ.get(variable)
    if not text:
        return None
    try:
        return int(text.replace("_", ""))
    except ValueError:
        raise BenchError(f"{variable}: got {text!r}, want a whole number") from None


class Bench:
    """A run: sizes, a temporary directory for databases, fixtures built once and shared.

    Use as a context manager; leaving it closes every store opened through
    :meth:`open_store` and removes the directory.
    """

    def __init__(self, sizes: Sizes, *, quick: bool, show_progress: bool | None = None) -> None:
        self.sizes = sizes
        self.quick = quick
        self.show_progress = sys.stderr.isatty() if show_progress is None else show_progress
        self._fixtures: dict[str, Any] = {}
        self._resources = ExitStack()
        self._directory: Path | None = None

    def __enter__(self) -> Bench:
        scratch = self._resources.enter_context(tempfile.TemporaryDirectory(prefix="accord-bench-"))
        self._directory = Path(scratch)
        return self

    def __exit__(self, *_: object) -> None:
        self._fixtures.clear()
        self._resources.close()

    @property
    def directory(self) -> Path:
        """The run's scratch directory, removed when the run ends."""
        if self._directory is None:
            raise BenchError("no scratch directory outside a run: use Bench as a context manager")
        return self._directory

    def scratch(self, name: str) -> Path:
        """A path in the run's directory that nothing uses yet (a file or directory to create)."""
        path = self.directory / name
        if path.exists():
            raise BenchError(f"{name!r} already exists in this run")
        return path

    def open_store(self, name: str) -> SqlStore:
        """A fresh SQLite store in the run's directory, closed when the run ends.

        Requires ``name`` to be unused in this run.
        """
        store = SqlStore(f"sqlite:///{self.scratch(f'{name}.db')}")
        self.keep(store)
        return store

    def keep(self, resource: AbstractContextManager[T]) -> T:
        """``resource`` entered now and exited when the run ends, before anything registered earlier."""
        return self._resources.enter_context(resource)

    def at_exit(self, action: Callable[[], object]) -> None:
        """Call ``action`` when the run ends, after everything registered later is closed."""
        self._resources.callback(action)

    def fixture(self, name: str, build: Callable[[], T]) -> T:
        """``build()``, called at most once per run; later calls return its result.

        A build that raised MeasurementFailed raises it again, without
        being retried: every figure that needs it fails the same way.
        """
        if name not in self._fixtures:
            try:
                self._fixtures[name] = build()
            except MeasurementFailed as failure:
                self._fixtures[name] = failure
        value = self._fixtures[name]
        if isinstance(value, MeasurementFailed):
            raise value
        built: T = value
        return built

    def progress(self, message: str) -> None:
        """A progress line on stderr, shown only when stderr is a terminal."""
        if self.show_progress:
            print(f"bench: {message}", file=sys.stderr, flush=True)
