"""Fixtures shared by the witnessed-time tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.witness.test_witnessed_time import Witnessed


@pytest.fixture
def witnessed(tmp_path: Path) -> Iterator[Witnessed]:
    """A council whose log the three test witnesses cosign at the times each test says."""
    made = Witnessed(tmp_path)
    yield made
    made.ledger.close()
