"""Commands: functions that return the unsigned statement of each kind.

They check nothing the rules check (the rules are the one judge) but fill in
what can be derived, such as a close's outcome and tally from the state. The
caller signs the statement's text and submits the note.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from domain.charter import OPERATOR, Category
from domain.voting import ADOPTED, outcome, tally
from domain.state import LedgerState
from ledger.keys import VerifierKey
from ledger.statement import Statement, new_nonce


def statement(origin: str, kind: str, actor: str, signed_at: str, body: Mapping[str, Any], nonce: str | None = None) -> Statement:
    return Statement(origin=origin, kind=kind, actor=actor, signed_at=signed_at, body=dict(body), nonce=nonce or new_nonce())


def founder(actor: str, name: str, keys: Iterable[VerifierKey], affiliations: Sequence[str] = ()) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": actor, "name": name, "keys": [key.to_text() for key in keys]}
    if affiliations:
        entry["affiliations"] = list(affiliations)
    return entry


def charter(
    origin: str,
    name: str,
    operator: VerifierKey,
    members: Sequence[Mapping[str, Any]],
    signed_at: str,
    *,
    observers: Sequence[Mapping[str, Any]] = (),
    categories: Mapping[str, Category] | None = None,
    withdrawal_notice: str | None = None,
    signed_at_skew: str | None = None,
    witness_lag: str | None = None,
    nonce: str | None = None,
) -> Statement:
    """The unsigned charter; the operator and every founding member sign it."""
    body: dict[str, Any] = {"name": name, "operator": operator.to_text(), "members": [dict(m) for m in members]}
    if observers:
        body["observers"] = [dict(o) for o in observers]
    if categories:
        body["categories"] = {category: rules.to_json() for category, rules in categories.items()}
    if withdrawal_notice is not None:
        body["withdrawal_notice"] = withdrawal_notice
    if signed_at_skew is not None:
        body["signed_at_skew"] = signed_at_skew
    if witness_lag is not None:
        body["witness_lag"] = witness_lag
    return statement(origin, "charter", OPERATOR, signed_at, body, nonce)


def close(state: LedgerState, proposal_id: str, actor: str, signed_at: str, now: int, nonce: str | None = None) -> Statement:
    """Close ``proposal_id`` with the outcome and tally the rules will compute at time ``now``.

    ``now`` must be the ``logged_at`` the entry will get (judged by the log's clock).
    """
    proposal = state.open_proposals[proposal_id]
    counted = tally(state, proposal, now)
    result = outcome(proposal.procedure, counted)
    body: dict[str, Any] = {"proposal": proposal_id, "submission": proposal.submitted, "outcome": result, "tally": counted.to_json()}
    if result == ADOPTED:
        body["decision"] = f"D-{state.decisions + 1}"
    return statement(state.origin, "proposal.close", actor, signed_at, body, nonce)
