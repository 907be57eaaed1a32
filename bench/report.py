"""Figures, the machine they were measured on, and how they are shown and saved."""

from __future__ import annotations

import json
import os
import platform
import secrets
import sqlite3
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

RESULTS_VERSION = 1


@dataclass(frozen=True)
class Figure:
    """One measured number.

    ``baseline`` is the comparable number measured in the same run (what it
    is: ``baseline_about``), and ``ratio`` is ``value / baseline``. When
    ``ratio_limit`` is set, a ratio above it is a failed run: the figure
    exists to hold a promise (``proof.*``: O(log n)).
    """

    name: str
    value: float
    unit: str
    about: str
    baseline: float | None = None
    baseline_about: str | None = None
    ratio_limit: float | None = None
    parameters: Mapping[str, int | float | str] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        return None if self.baseline is None or self.baseline == 0 else self.value / self.baseline

    @property
    def within_limit(self) -> bool:
        ratio = self.ratio
        return self.ratio_limit is None or ratio is None or ratio <= self.ratio_limit

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
            "parameters": dict(self.parameters),
        }


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
    }


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


def results_document(figures: Sequence[Figure], machine_info: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
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


def render_table(figures: Sequence[Figure]) -> str:
    """A plain-text table: one row per figure, the baseline described in the last column."""
    header = ("figure", "value", "unit", "baseline", "ratio", "baseline is")
    rows = [header]
    for figure in figures:
        ratio = format_number(figure.ratio)
        if figure.ratio_limit is not None and figure.ratio is not None:
            verdict = "<=" if figure.within_limit else "OVER"
            ratio = f"{ratio} ({verdict} {format_number(figure.ratio_limit)})"
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
