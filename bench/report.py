"""Figures, the machine they were measured on, and how they are shown and saved."""

from __future__ import annotations

import json
import os
import platform
import resource
import secrets
import sqlite3
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

RESULTS_VERSION = 2
"""2: figures may carry ``ratio_floor`` and ``within_goal``; a skipped figure is ``{"name", "skipped"}``,
a failed one ``{"name", "failed"}``."""


@dataclass(frozen=True)
class Figure:
    """One measured number.

    ``baseline`` is the comparable number measured in the same run (what it
    is: ``baseline_about``), and ``ratio`` is ``value / baseline``. A figure
    that holds a promise carries it as a goal on the ratio: ``ratio_limit``
    for "at most" (``proof.*``: O(log n)), ``ratio_floor`` for "at least"
    (a full verify against the raw Ed25519 rate). A missed goal fails the run.
    """

    name: str
    value: float
    unit: str
    about: str
    baseline: float | None = None
    baseline_about: str | None = None
    ratio_limit: float | None = None
    ratio_floor: float | None = None
    parameters: Mapping[str, int | float | str] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        return None if self.baseline is None or self.baseline == 0 else self.value / self.baseline

    @property
    def goal(self) -> str | None:
        """The goal as the table shows it: ``<= 3`` or ``>= 1.6``; None without one."""
        if self.ratio_limit is not None:
            return f"<= {format_number(self.ratio_limit)}"
        if self.ratio_floor is not None:
            return f">= {format_number(self.ratio_floor)}"
        return None

    @property
    def within_limit(self) -> bool:
        """Whether the ratio meets the goal (a figure without a goal, or without a ratio, always does)."""
        ratio = self.ratio
        if ratio is None:
            return True
        if self.ratio_limit is not None and ratio > self.ratio_limit:
            return False
        return self.ratio_floor is None or ratio >= self.ratio_floor

    def miss(self) -> str | None:
        """One line saying how the goal was missed, or None when it was met."""
        if self.within_limit or self.ratio is None:
            return None
        side = "over its limit" if self.ratio_limit is not None and self.ratio > self.ratio_limit else "under its floor"
        return f"{self.name}: ratio {format_number(self.ratio)} is {side} (goal {self.goal}): {format_number(self.value)} {self.unit} against {format_number(self.baseline)}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "about": self.about,
            "baseline": self.baseline,
            "baseline_about": self.baseline_about,
            "ratio": self.ratio,
            "ratio_limit": self.ratio_limit,
            "ratio_floor": self.ratio_floor,
            "within_goal": self.within_limit,
            "parameters": dict(self.parameters),
        }


@dataclass(frozen=True)
class Skipped:
    """A figure this run could not measure, and why (no PostgreSQL server named, say)."""

    name: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "skipped": self.reason}


@dataclass(frozen=True)
class Failed:
    """A figure whose measurement failed (the command measured exited 1, say): the run fails too."""

    name: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "failed": self.reason}


Outcome = Figure | Skipped | Failed
"""What a figure function returns (Failed: what the run records when it raised MeasurementFailed)."""


def machine() -> dict[str, Any]:
    """What the figures depend on: CPUs, Python, the crypto and storage libraries, the disk."""
    import cryptography

    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "cryptography": cryptography.__version__,
        "openssl": _openssl_version(),
        "sqlite": sqlite3.sqlite_version,
        "eventsourcing": metadata.version("eventsourcing"),
        "rfc8785": metadata.version("rfc8785"),
        "tempdir": tempfile.gettempdir(),
        # One-entry-per-transaction appends wait for fsync: the disk matters.
        "tempdir_filesystem": _filesystem_of(tempfile.gettempdir()),
        # Wall-clock figures share the CPUs with whatever else runs: say how busy they were.
        "load_average": load_average(),
    }


def cpu_seconds() -> tuple[float, float] | None:
    """(seconds all CPUs were busy since boot, CPU seconds of this process and the children it waited for).

    Their change over a run says how much CPU time other processes took
    meanwhile. None where /proc/stat is not there (not Linux).
    """
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal ...: idle and iowait are not busy.
    busy = (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")
    own = sum(
        usage.ru_utime + usage.ru_stime
        for usage in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
    )
    return busy, own


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (runnable processes), or [] where unknown."""
    try:
        return [round(load, 2) for load in os.getloadavg()]
    except (AttributeError, OSError):
        return []


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _openssl_version() -> str:
    try:
        from cryptography.hazmat.backends.openssl import backend

        return str(backend.openssl_version_text())
    except (ImportError, AttributeError):
        return "unknown"


def _filesystem_of(path: str) -> str:
    """The type of the filesystem mounted deepest above ``path`` (Linux), or "unknown"."""
    best, kind = "", "unknown"
    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) < 3:
                    continue
                mount_point = fields[1]
                inside = path == mount_point or path.startswith(mount_point.rstrip("/") + "/")
                if inside and len(mount_point) >= len(best):
                    best, kind = mount_point, fields[2]
    except OSError:
        pass
    return kind


def results_document(figures: Sequence[Outcome], machine_info: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """The versioned JSON document written to ``bench/results.json``."""
    return {
        "version": RESULTS_VERSION,
        "machine": dict(machine_info),
        "settings": dict(settings),
        "figures": [figure.to_json() for figure in figures],
    }


def write_results(path: Path, document: Mapping[str, Any]) -> None:
    """Write ``document`` to a temporary name beside ``path``, then move it into place."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        temporary.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def format_number(value: float | None) -> str:
    """Three significant digits at most, thousands separated: 31,700  452  2.08  0.0971."""
    if value is None:
        return "-"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def render_table(figures: Sequence[Outcome]) -> str:
    """A plain-text table: one row per figure, the baseline described in the last column.

    The ratio column shows the goal beside the ratio, with ``ok`` or ``MISSED``.
    """
    header = ("figure", "value", "unit", "baseline", "ratio (goal)", "baseline is")
    rows = [header]
    for figure in figures:
        if isinstance(figure, (Skipped, Failed)):
            rows.append((figure.name, "-", "", "-", "skipped" if isinstance(figure, Skipped) else "FAILED", figure.reason[:120]))
            continue
        ratio = format_number(figure.ratio)
        if figure.goal is not None and figure.ratio is not None:
            ratio = f"{ratio} ({figure.goal} {'ok' if figure.within_limit else 'MISSED'})"
        rows.append(
            (
                figure.name,
                format_number(figure.value),
                figure.unit,
                format_number(figure.baseline),
                ratio,
                figure.baseline_about or "-",
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    numeric = {1, 3, 4}
    lines = []
    for number, row in enumerate(rows):
        cells = [cell.rjust(width) if column in numeric else cell.ljust(width) for column, (cell, width) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
        if number == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)
