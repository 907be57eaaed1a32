"""Figures: proofs at 10^6 entries against the same proofs at 10^3, to show they cost O(log n).

Both logs are real SQLite logs filled through ``Log.append`` (so the stored
Merkle nodes are the ones a deployment stores) and closed by a checkpoint
that an operator key signs. A proof at n entries reads and hashes about
log2(n) nodes, so going from 10^3 to 10^6 entries should about double its
cost (log2 10^6 / log2 10^3 = 2); each figure fails the run above 3, which
no O(log n) proof can reach from depth alone and a linear one would pass by
orders of magnitude.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass

from ledger.checkpoint import open_checkpoint
from ledger.keys import Signer
from ledger.log import Log
from ledger.merkle import consistency_plan, inclusion_plan, leaf_hash, verify_consistency, verify_inclusion

from bench.context import Bench
from bench.report import Figure
from bench.timing import paired_medians, seconds

OPERATOR = "bench.accord.example/log"
RATIO_LIMIT = 3.0
PROGRESS_EVERY = 100_000


@dataclass(frozen=True)
class ProofLog:
    """A filled log, its checkpointed root, and the sample proofs to time on it.

    ``indexes[k]`` is an entry whose leaf hash is ``leaves[k]``; ``old_sizes[k]``
    is an earlier tree size whose root is ``old_roots[k]``; all were read
    before any clock started.
    """

    log: Log
    size: int
    root: bytes
    build_seconds: float
    indexes: tuple[int, ...]
    leaves: tuple[bytes, ...]
    old_sizes: tuple[int, ...]
    old_roots: tuple[bytes, ...]


@dataclass(frozen=True)
class ProofLogs:
    """The baseline log (10^3 entries) and the measured one (10^6 unless BENCH_PROOF_ENTRIES says)."""

    baseline: ProofLog
    measured: ProofLog


def proof_logs(bench: Bench) -> ProofLogs:
    """The run's two proof logs, built on first use."""
    sizes = bench.sizes

    def build() -> ProofLogs:
        return ProofLogs(
            baseline=_build_log(bench, sizes.proof_baseline_entries, seed=1),
            measured=_build_log(bench, sizes.proof_entries, seed=2),
        )

    return bench.fixture("proof-logs", build)


def _build_log(bench: Bench, entries: int, seed: int) -> ProofLog:
    """Fill a fresh SQLite log with ``entries`` short synthetic statements, checkpoint it, draw samples."""
    log = Log(bench.open_store(f"proof-{entries}"))
    batch = bench.sizes.proof_build_batch

    def fill() -> None:
        for start in range(0, entries, batch):
            log.append([f"synthetic statement {index}\n" for index in range(start, min(start + batch, entries))])
            done = min(start + batch, entries)
            if done % PROGRESS_EVERY == 0 or done == entries:
                bench.progress(f"proof log of {entries:,}: {done:,} entries appended")

    build_seconds = seconds(fill)
    operator = Signer.generate(OPERATOR)
    checkpoint, _ = open_checkpoint(log.publish_checkpoint(operator).to_text(), operator.verifier_key())
    if checkpoint.size != entries:
        raise AssertionError(f"checkpoint covers {checkpoint.size} entries, want {entries}")

    chooser = random.Random(seed)
    samples = bench.sizes.proof_samples
    indexes = tuple(chooser.randrange(entries) for _ in range(samples))
    old_sizes = tuple(chooser.randint(1, entries) for _ in range(samples))
    return ProofLog(
        log=log,
        size=entries,
        root=checkpoint.root_hash,
        build_seconds=build_seconds,
        indexes=indexes,
        leaves=tuple(_leaf_of(log, index) for index in indexes),
        old_sizes=old_sizes,
        old_roots=tuple(log.root_at(size) for size in old_sizes),
    )


def _leaf_of(log: Log, index: int) -> bytes:
    """The leaf hash of entry ``index`` computed from its stored bytes, as a verifier holding the entry would."""
    stored = log.store.entry(index)
    if stored is None:
        raise AssertionError(f"entry {index} is missing from a log of {log.size}")
    return leaf_hash(stored.data)


def log_build_seconds(bench: Bench) -> Figure:
    """Seconds to fill the measured proof log through Log.append, in batches of 10,000 per transaction.

    Set-up for the proof figures, reported because filling a large log is
    itself a figure operators ask for (an import, a rebuild). The entries are
    short synthetic statements, so this is Accord's per-entry cost (entry
    serialization, tree hashing, insert) without signature-sized payloads.
    """
    logs = proof_logs(bench)
    return Figure(
        name="proof.log.build-time",
        value=logs.measured.build_seconds,
        unit="s",
        about=f"filling a SQLite log of {logs.measured.size:,} entries through Log.append",
        parameters=_build_parameters(bench, logs),
    )


def log_build_rate(bench: Bench) -> Figure:
    """Entries per second while filling the measured proof log: its size over ``proof.log.build-time``."""
    logs = proof_logs(bench)
    return Figure(
        name="proof.log.build-rate",
        value=logs.measured.size / logs.measured.build_seconds,
        unit="entries/s",
        about=f"filling a SQLite log of {logs.measured.size:,} entries through Log.append",
        parameters=_build_parameters(bench, logs),
    )


def inclusion_generate(bench: Bench) -> Figure:
    """Median microseconds for ``Log.inclusion_proof(i, size)`` at a random i, against the same at 10^3.

    A generation reads the proof's stored nodes from SQLite, one row each,
    and folds at most one ephemeral node: about log2(size) reads.
    """

    def generate(proof_log: ProofLog) -> Callable[[int], object]:
        return lambda k: proof_log.log.inclusion_proof(proof_log.indexes[k], proof_log.size)

    return _paired_figure(bench, "proof.inclusion.generate", "Log.inclusion_proof from SQLite", generate, _inclusion_nodes)


def inclusion_verify(bench: Bench) -> Figure:
    """Median microseconds for ``verify_inclusion`` against the checkpoint's root, against the same at 10^3.

    Pure hashing: about log2(size) SHA-256 calls over 65 bytes, no I/O.
    The proofs are generated beforehand; the checkpoint's signature was
    checked once when the root was taken from it, as a verifier does.
    """

    def verify(proof_log: ProofLog) -> Callable[[int], object]:
        proofs = [proof_log.log.inclusion_proof(index, proof_log.size) for index in proof_log.indexes]
        return lambda k: verify_inclusion(proof_log.indexes[k], proof_log.size, proof_log.leaves[k], proofs[k], proof_log.root)

    return _paired_figure(bench, "proof.inclusion.verify", "merkle.verify_inclusion", verify, _inclusion_nodes)


def consistency_generate(bench: Bench) -> Figure:
    """Median microseconds for ``Log.consistency_proof(m, size)`` at a random m, against the same at 10^3."""

    def generate(proof_log: ProofLog) -> Callable[[int], object]:
        return lambda k: proof_log.log.consistency_proof(proof_log.old_sizes[k], proof_log.size)

    return _paired_figure(bench, "proof.consistency.generate", "Log.consistency_proof from SQLite", generate, _consistency_nodes)


def consistency_verify(bench: Bench) -> Figure:
    """Median microseconds for ``verify_consistency`` from the root at m to the checkpoint's, against the same at 10^3."""

    def verify(proof_log: ProofLog) -> Callable[[int], object]:
        proofs = [proof_log.log.consistency_proof(size, proof_log.size) for size in proof_log.old_sizes]
        return lambda k: verify_consistency(
            proof_log.old_sizes[k], proof_log.size, proof_log.old_roots[k], proof_log.root, proofs[k]
        )

    return _paired_figure(bench, "proof.consistency.verify", "merkle.verify_consistency", verify, _consistency_nodes)


def _inclusion_nodes(proof_log: ProofLog) -> float:
    return statistics.mean(len(inclusion_plan(index, proof_log.size).ids) for index in proof_log.indexes)


def _consistency_nodes(proof_log: ProofLog) -> float:
    return statistics.mean(len(consistency_plan(size, proof_log.size).ids) for size in proof_log.old_sizes)


def _paired_figure(
    bench: Bench,
    name: str,
    what: str,
    operation: Callable[[ProofLog], Callable[[int], object]],
    nodes: Callable[[ProofLog], float],
) -> Figure:
    """Time ``operation`` on the baseline and measured logs, alternately, sample by sample.

    ``nodes`` gives the mean number of stored tree nodes the samples' proofs
    are made of, the log n that the ratio should follow.
    """
    logs = proof_logs(bench)
    bench.progress(f"{name}: {bench.sizes.proof_samples} samples at {logs.baseline.size:,} and {logs.measured.size:,}")
    baseline, value = paired_medians(operation(logs.baseline), operation(logs.measured), bench.sizes.proof_samples)
    return Figure(
        name=name,
        value=value,
        unit="µs/proof",
        about=f"{what}, median at {logs.measured.size:,} entries",
        baseline=baseline,
        baseline_about=f"the same at {logs.baseline.size:,} entries",
        ratio_limit=RATIO_LIMIT,
        parameters={
            "entries": logs.measured.size,
            "baseline_entries": logs.baseline.size,
            "samples": bench.sizes.proof_samples,
            "nodes_mean": round(nodes(logs.measured), 2),
            "baseline_nodes_mean": round(nodes(logs.baseline), 2),
        },
    )


def _build_parameters(bench: Bench, logs: ProofLogs) -> dict[str, int | float | str]:
    return {"entries": logs.measured.size, "per_transaction": bench.sizes.proof_build_batch}
