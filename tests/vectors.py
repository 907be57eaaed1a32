"""Where the shared test vectors live: ``$ACCORD_VECTORS``, or ``shared/vectors`` beside the checkout."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def vectors_dir() -> Path:
    """The vectors directory (holding ``accord/`` and ``merkle/``)."""
    configured = os.environ.get("ACCORD_VECTORS")
    if configured:
        return Path(configured)
    # tests/vectors.py -> tests -> checkout -> its parent, which holds shared/
    return Path(__file__).resolve().parents[2] / "shared" / "vectors"


def accord_golden() -> dict[str, Any]:
    """``accord/golden.json``: byte-exact examples of Accord's formats."""
    golden: dict[str, Any] = json.loads((vectors_dir() / "accord" / "golden.json").read_text(encoding="utf-8"))
    return golden
