"""The public test vectors, kept in the checkout under ``tests/vectors/``.

``merkle/`` holds RFC 9162 cases from transparency-dev/merkle, ``accord/``
Accord's own golden file; each folder's README says where its data comes from.
The tests read nothing outside the repository.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).resolve().parent / "vectors"


def accord_golden() -> dict[str, Any]:
    """``accord/golden.json``: byte-exact examples of Accord's formats."""
    golden: dict[str, Any] = json.loads((VECTORS / "accord" / "golden.json").read_text(encoding="utf-8"))
    return golden
