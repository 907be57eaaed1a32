"""The bench's memory figures: a command's peak is its own, not that of the process that started it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BALLAST_MIB = 256


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_a_commands_peak_memory_is_not_the_benchs_own(tmp_path: Path) -> None:
    # getrusage keeps, across exec, the peak of the process that forked: a bench grown large
    # made every verify it measured seem as large (verify.memory read 175 MiB for a 60 MiB verify).
    ballast = b"x" * (BALLAST_MIB << 20)  # written, so resident
    report = tmp_path / "cost.json"
    subprocess.run([sys.executable, "-m", "bench.peak", str(report), "--help"], check=True, capture_output=True)
    del ballast
    cost = json.loads(report.read_text())
    assert cost["exit_code"] == 0
    assert 0 < cost["main_peak_kib"] < (BALLAST_MIB << 10) // 2
