"""One benchmark run: its sizes, its scratch directory, the fixtures its figures share."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from ledger.store import Store

T = TypeVar("T")

PROOF_ENTRIES_VARIABLE = "BENCH_PROOF_ENTRIES"


class BenchError(Exception):
    """A run that cannot be made as asked (bad option or setting)."""


@dataclass(frozen=True)
class Sizes:
    """How much work each figure does; ``--quick`` shrinks all but the definitions.

    ``batch_size`` and ``proof_baseline_entries`` are part of what the
    figures mean (1,000 entries per transaction; proofs at 10^3), so quick
    runs keep them.
    """

    verify_rounds: int
    single_appends: int
    batches: int
    batch_size: int
    proof_entries: int
    proof_baseline_entries: int
    proof_build_batch: int
    proof_samples: int

    @classmethod
    def choose(cls, quick: bool, environ: Mapping[str, str]) -> Sizes:
        """The sizes of a full or quick run; ``BENCH_PROOF_ENTRIES`` overrides the big log's size."""
        sizes = cls(
            verify_rounds=8 if quick else 40,
            single_appends=200 if quick else 2_000,
            batches=3 if quick else 20,
            batch_size=1_000,
            proof_entries=20_000 if quick else 1_000_000,
            proof_baseline_entries=1_000,
            proof_build_batch=10_000,
            proof_samples=50 if quick else 200,
        )
        text = environ.get(PROOF_ENTRIES_VARIABLE)
        if text:
            try:
                entries = int(text.replace("_", ""))
            except ValueError:
                raise BenchError(f"{PROOF_ENTRIES_VARIABLE}: got {text!r}, want a whole number") from None
            if entries <= sizes.proof_baseline_entries:
                raise BenchError(
                    f"{PROOF_ENTRIES_VARIABLE}: got {entries}, want more than the baseline's {sizes.proof_baseline_entries} entries"
                )
            sizes = cls(**{**asdict(sizes), "proof_entries": entries})
        return sizes


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

    def open_store(self, name: str) -> Store:
        """A fresh SQLite store in the run's directory, closed when the run ends.

        Requires ``name`` to be unused in this run.
        """
        if self._directory is None:
            raise BenchError("open_store outside a run: use Bench as a context manager")
        path = self._directory / f"{name}.db"
        if path.exists():
            raise BenchError(f"database {name!r} already exists in this run")
        # Registered before the directory's removal runs, so closed first.
        return self._resources.enter_context(Store(f"sqlite:///{path}"))

    def fixture(self, name: str, build: Callable[[], T]) -> T:
        """``build()``, called at most once per run; later calls return its result."""
        if name not in self._fixtures:
            self._fixtures[name] = build()
        value: T = self._fixtures[name]
        return value

    def progress(self, message: str) -> None:
        """A progress line on stderr, shown only when stderr is a terminal."""
        if self.show_progress:
            print(f"bench: {message}", file=sys.stderr, flush=True)
