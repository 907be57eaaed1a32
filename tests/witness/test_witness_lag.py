"""The charter's witness_lag (SPEC 5.1, 12): how far logged_at may stray from a witness's time."""

from __future__ import annotations

import pytest

from domain.rules import apply
from domain.snapshot import from_snapshot, to_snapshot
from ledger.entry import Entry
from ledger.errors import RuleViolation
from ledger.timefmt import format_time
from tests.domain.scenario import T0, Scenario, founding_charter


def test_witness_lag_defaults_to_five_minutes() -> None:
    council = Scenario()
    assert (council.state.settings.witness_lag, council.state.settings.witness_lag_seconds) == ("5m", 300)


def test_charter_sets_its_witness_lag_and_the_snapshot_keeps_it() -> None:
    council = Scenario(witness_lag="90s")
    assert council.state.settings.witness_lag_seconds == 90
    assert from_snapshot(to_snapshot(council.state)).settings.witness_lag == "90s"


def test_charter_with_a_malformed_witness_lag_is_refused() -> None:
    _, note = founding_charter(witness_lag="soon")
    with pytest.raises(RuleViolation) as raised:
        apply(None, Entry(0, format_time(T0), note))
    assert raised.value.rule == "statement.body"
    assert raised.value.field == "witness_lag"
    assert str(raised.value) == "charter: want a duration like 14d, 12h or 0s, got 'soon'"
