"""The error family: one line, data kept, and intact across processes."""

from __future__ import annotations

import pickle

from ledger.errors import MalformedError, RuleViolation, VerificationError


def test_errors_cross_process_boundaries_intact() -> None:
    for error in (
        MalformedError("entry", "not JSON"),
        RuleViolation("vote.after-deadline", "late", kind="vote.cast", field="x"),
        VerificationError("entry 3", "bad", index=3),
    ):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error) and copy.__dict__ == error.__dict__


def test_rule_violation_names_the_kind_and_keeps_the_rule() -> None:
    error = RuleViolation("vote.after-deadline", "too late", kind="vote.cast", field="body.position")
    assert str(error) == "vote.cast: too late"
    assert (error.rule, error.kind, error.field) == ("vote.after-deadline", "vote.cast", "body.position")
