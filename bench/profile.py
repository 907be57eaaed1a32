"""``python -m bench.profile [--entries N] [--store FILE] [--rounds R]``: where a verify's CPU goes, per entry.

Each phase of ``accord verify`` is timed on its own, in this one process,
over the same entries of the synthetic ledger (:mod:`bench.ledgers`), as
CPU time (``time.process_time``), the best of ``--rounds`` rounds:

- read: the entry bytes out of SQLite (``Log.entry_data``);
- parse: what a worker does before any signature (strict canonical JSON,
  the signed note's shape, the statement's fields, the leaf hash);
- hand-over: what it costs to get a worker's results to the fold (pickling
  them there, unpickling and rebuilding them here);
- signature: every signature line checked under its keys (libsodium);
- rules: ``domain.rules.apply`` over every entry, signatures answered from
  what the workers found;
- views: the rows each entry writes, compared with the stored ones (the
  rules and the views in turn, as a verify runs them, less the rules alone);
- tree: the frontier's appends (the leaf hashes are in parse).

Then one real verify (workers as ``accord verify`` uses them), its main
process's CPU and its workers' apart: the main process folds (hand-over's
second half, rules, views, tree, read), the workers parse and check
signatures. With two cores a verify cannot beat the larger of the main
process's time and half the total.

``--store FILE`` keeps the ledger in FILE between runs (made there if it
does not exist; the anchor is in FILE.anchor), so that before and after a
change are profiled on the same bytes.
"""

from __future__ import annotations

import argparse
import gc
import pickle
import resource
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from domain.rules import apply
from ledger import ed25519
from ledger.merkle import CompactRange
from ledger.store import Store
from projections import checking
from projections.audit import ViewCheck, replay, Replay
from projections.ledger import Ledger

from bench.context import Bench, Sizes
from bench.ledgers import SEED, store_ledger
from bench.synthetic import synthetic_entries

PHASES = ("read", "parse", "hand-over", "signature", "rules", "views", "tree")


def _cpu(work: Callable[[], Any], rounds: int) -> tuple[float, Any]:
    """The least CPU seconds of ``rounds`` calls of ``work``, and the last call's result."""
    best, result = float("inf"), None
    # What the phases before left alive is not this phase's garbage: the collector is to skip it.
    gc.collect()
    gc.freeze()
    for _ in range(rounds):
        start = time.process_time()
        result = work()
        best = min(best, time.process_time() - start)
    return best, result


def open_ledger(path: Path | None, entries: int, bench: Bench) -> tuple[str, bytes]:
    """The URL and anchor of the synthetic ledger of ``entries`` entries, made in ``path`` unless there already."""
    if path is None:
        path = bench.scratch(f"profile-{entries}.db")
    anchor_file = path.with_name(path.name + ".anchor")
    url = f"sqlite:///{path}"
    if not path.exists():
        print(f"profile: making a synthetic ledger of {entries:,} entries in {path}", file=sys.stderr)
        with Store(url) as store:
            made = store_ledger(store, synthetic_entries(entries, SEED), bench, "profile ledger")
        anchor_file.write_text(made.anchor)
    return url, bytes.fromhex(anchor_file.read_text().strip())


def profile(url: str, anchor: bytes, rounds: int) -> dict[str, float]:
    """Seconds of CPU per phase (see the module's text) over every entry of the store at ``url``."""
    seconds: dict[str, float] = {}
    with Store(url) as store:
        ledger = Ledger(store)
        seconds["read"], datas = _cpu(lambda: list(ledger.log.entry_data()), rounds)
        count = len(datas)
        keys = checking.registry_of(replay(datas[:1], Replay(anchor)).state)
        # Every key any entry names, as the workers are told of them.
        for data in datas:
            for key in checking.announced_keys(data):
                publics = keys.setdefault((key.name, key.key_id), [])
                if key.public not in publics:
                    publics.append(key.public)
        seconds["parse"], _ = _cpu(lambda: [checking.check_one(i, d, {}) for i, d in enumerate(datas)], rounds)
        holds = ed25519.verifier("libsodium")
        checked = [checking.check_one(i, d, keys, holds) for i, d in enumerate(datas)]
        seconds["signature"] = max(0.0, _cpu(lambda: [checking.check_one(i, d, keys, holds) for i, d in enumerate(datas)], rounds)[0] - seconds["parse"])
        seconds["hand-over"], folded = _cpu(lambda: _hand_over(datas, checked), rounds)

        def rules(check: ViewCheck | None = None) -> None:
            state = None
            for item in folded:
                before = state
                state = apply(before, item.entry, item.verify, (item.note, item.statement))
                if check is not None:
                    check(before, item.entry, state, item.statement)
            if check is not None:
                check.finish(count)

        seconds["rules"], _ = _cpu(rules, rounds)
        # The views in turn with the rules, as a verify compares them (each reads the body the rules read just before).
        folding, _ = _cpu(lambda: rules(ViewCheck(ledger.views, 0)), rounds)
        seconds["views"] = max(0.0, folding - seconds["rules"])

        def tree() -> bytes:
            frontier = CompactRange(0, [])
            for item in folded:
                frontier.append(item.leaf)
            return frontier.root()

        seconds["tree"], _ = _cpu(tree, rounds)
    return {phase: seconds[phase] / count * 1e6 for phase in PHASES} | {"entries": count}


def _hand_over(datas: Sequence[bytes], checked: Sequence[checking.Checked]) -> list[checking.Checked]:
    """A worker's results as the fold gets them: pickled by chunk there, unpickled and made into Checked here."""
    out: list[checking.Checked] = []
    size = checking.CHUNK
    for start in range(0, len(datas), size):
        sent = pickle.dumps([checking._verdict(item) for item in checked[start : start + size]], pickle.HIGHEST_PROTOCOL)
        verdicts = pickle.loads(sent)
        if hasattr(checking, "_reread"):  # before 2026-12-02: the fold parsed the bytes again
            reread: Any = getattr(checking, "_reread")
            out.extend(reread(index, data, verdict) for index, (data, verdict) in enumerate(zip(datas[start : start + size], verdicts), start))
        else:
            out.extend(checking._received(index, verdict) for index, verdict in enumerate(verdicts, start))
    return out


def whole_verify(url: str, anchor: bytes) -> dict[str, float]:
    """One verify of every entry as ``accord verify`` runs it (workers, views), its CPU by process, per entry."""
    with Store(url) as store:
        ledger = Ledger(store)
        checks = ViewCheck(ledger.views, 0)
        size = ledger.log.size
        started, wall = time.process_time(), time.perf_counter()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = replay(ledger.log.entry_data(), Replay(anchor), on_entry=checks, workers=2)
        checks.finish(done.size)
        main = time.process_time() - started
        wall = time.perf_counter() - wall
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    workers = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    return {"main": main / size * 1e6, "workers": workers / size * 1e6, "wall": wall / size * 1e6, "entries": size}


def render(phases: dict[str, float], whole: dict[str, float]) -> str:
    lines = [f"µs of CPU per entry over {int(phases['entries']):,} entries (one process, each phase alone):"]
    lines += [f"  {phase:10} {phases[phase]:7.1f}" for phase in PHASES]
    lines.append(f"  {'sum':10} {sum(phases[phase] for phase in PHASES):7.1f}")
    lines.append(
        f"one verify with 2 workers: main process {whole['main']:.1f} µs/entry, workers {whole['workers']:.1f} µs/entry, "
        f"wall {whole['wall']:.1f} µs/entry ({1e6 / whole['wall']:,.0f} entries/s)"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--entries", type=int, default=20_000, help="entries of the synthetic ledger (default 20,000)")
    parser.add_argument("--store", type=Path, help="a SQLite file to keep the ledger in between runs")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per phase, the least CPU time kept (default 2)")
    arguments = parser.parse_args(sys.argv[1:] if argv is None else argv)
    with Bench(Sizes.choose(False, {}), quick=False) as bench:
        url, anchor = open_ledger(arguments.store, arguments.entries, bench)
        phases = profile(url, anchor, arguments.rounds)
        whole = whole_verify(url, anchor)
    print(render(phases, whole))
    return 0


if __name__ == "__main__":
    sys.exit(main())
