"""Accord's commands run as a user runs them: a child process each, timed from outside.

The figures that stand for a command (``accord verify``, ``accord import``)
run it through :mod:`bench.peak` with this interpreter, so the time includes
the interpreter's start, the worker processes the command spawns and
everything it reads and writes, and the command's peak memory and CPU time
come back with it.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.context import Bench, MeasurementFailed

ROOT = Path(__file__).resolve().parent.parent
"""The project's directory: where ``cli`` and ``bench`` are imported from."""


@dataclass(frozen=True)
class CommandRun:
    """One run of ``accord ARGS...`` that exited 0: its output and its cost."""

    arguments: tuple[str, ...]
    stdout: str
    seconds: float
    """Wall-clock seconds from starting the child process to its exit."""
    command_seconds: float
    """The same, inside the command: without the interpreter's start and imports."""
    main_peak_kib: int
    worker_peak_kib: int
    """The largest of the command's worker processes; 0 when it spawned none."""
    main_cpu_seconds: float
    worker_cpu_seconds: float
    """All of its workers together."""

    @property
    def peak_mib(self) -> float:
        """Peak memory of the command: its own process plus its largest worker, in MiB."""
        return (self.main_peak_kib + self.worker_peak_kib) / 1024

    def cost_parameters(self) -> dict[str, int | float | str]:
        """What a figure reports of this run besides its time: where the CPU went, the memory."""
        return {
            "wall_seconds": round(self.seconds, 3),
            "command_seconds": round(self.command_seconds, 3),
            "main_cpu_seconds": round(self.main_cpu_seconds, 2),
            "worker_cpu_seconds": round(self.worker_cpu_seconds, 2),
            "main_peak_mib": round(self.main_peak_kib / 1024, 1),
            "worker_peak_mib": round(self.worker_peak_kib / 1024, 1),
        }


def run_accord(bench: Bench, arguments: Sequence[str]) -> CommandRun:
    """Run ``accord ARGS...`` in a child process and wait for it.

    Raises MeasurementFailed, with the end of the command's stderr, if it exits other than
    0: a figure never reports the speed of a failed command.
    """
    report = bench.scratch(f"run-{secrets.token_hex(4)}.json")
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "bench.peak", str(report), *arguments]
    start = time.perf_counter()
    completed = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if completed.returncode != 0:
        said = completed.stderr.strip().splitlines()
        raise MeasurementFailed(f"accord {arguments[0]} exited {completed.returncode}: {said[-1] if said else 'nothing on stderr'}")
    cost: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
    return CommandRun(
        arguments=tuple(arguments),
        stdout=completed.stdout,
        seconds=seconds,
        command_seconds=float(cost["command_seconds"]),
        main_peak_kib=int(cost["main_peak_kib"]),
        worker_peak_kib=int(cost["worker_peak_kib"]),
        main_cpu_seconds=float(cost["main_cpu_seconds"]),
        worker_cpu_seconds=float(cost["worker_cpu_seconds"]),
    )
