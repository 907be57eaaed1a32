"""Fixtures shared by the witness tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.witness.test_serve_policy import Deployment
from tests.witness.test_witnessed_time import Witnessed


@pytest.fixture
def witnessed(tmp_path: Path) -> Iterator[Witnessed]:
    """A council whose log the three test witnesses cosign at the times each test says."""
    made = Witnessed(tmp_path)
    yield made
    made.ledger.close()


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    """A log server with a 2-of-3 policy and its three witness processes, stopped after the test."""
    made = Deployment(tmp_path)
    yield made
    made.stop()
