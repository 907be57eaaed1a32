"""The README's walkthrough, run as it stands: documentation that cannot rot."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 1, "the README has one walkthrough"
    script = "set -euo pipefail\n" + blocks[0]
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    environment.pop("ACCORD_STORE", None)
    result = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "D-1" in result.stdout and "ratification" in result.stdout
    assert "verified" in result.stdout and "certificate" not in result.stderr
