"""Founding (SPEC 5.1): the charter at entry 0, its one shape check and the first state.

:func:`parse_charter` is every check of a charter that needs no signature
and no log: ``accord charter draft`` runs it before anyone signs, and
:func:`found` runs it again at ``init`` and on every replay.
"""

from __future__ import annotations

from dataclasses import dataclass

from immutables import Map

from domain.charter import OPERATOR, Founder, Settings, actor_key, parse_founders, parse_settings
from domain.context import Verify
from domain.state import MEMBER, OPERATOR_ROLE, Actor, KeyRecord, LedgerState
from ledger.entry import Entry
from ledger.errors import MalformedError, RuleViolation, SignatureError
from ledger.keys import VerifierKey
from ledger.note import Note
from ledger.statement import Statement

CHARTER_FIELDS = frozenset({"name", "operator", "members", "observers", "categories", "withdrawal_notice", "signed_at_skew", "witness_lag"})


def _violation(rule: str, problem: str, field: str | None = None) -> RuleViolation:
    return RuleViolation(rule, problem, kind="charter", field=field)


@dataclass(frozen=True)
class Charter:
    """A charter's body, checked: the settings, the operator's key and the founders."""

    settings: Settings
    operator: VerifierKey
    founders: tuple[Founder, ...]


def parse_charter(statement: Statement) -> Charter:
    """The typed charter of ``statement``, or the RuleViolation ``init`` would raise."""
    if statement.kind != "charter":
        raise RuleViolation("charter.first", f"entry 0 must be the charter, got kind {statement.kind!r}", kind=statement.kind, field="kind")
    if statement.actor != OPERATOR:
        raise _violation("charter.actor", f"actor got {statement.actor!r}, want {OPERATOR!r}", "actor")
    body = statement.body
    for name in sorted(set(body) - CHARTER_FIELDS):
        raise _violation("statement.body", f"unknown field {name}", f"body.{name}")
    origin = statement.origin
    try:
        settings = parse_settings(body, origin)
        operator = actor_key(body.get("operator"), origin, OPERATOR, "body.operator")
        founders = tuple(parse_founders(body, origin))
    except MalformedError as error:
        raise _violation("statement.body", error.problem, error.component) from error
    return Charter(settings, operator, founders)


def found(entry: Entry, note: Note, statement: Statement, verify: Verify) -> LedgerState:
    """The state after the charter at entry 0, signed by the operator and every founding member."""
    if entry.index != 0:
        raise _violation("entry.index", f"got {entry.index}, want 0: the log starts with its charter")
    charter = parse_charter(statement)
    settings, operator_key, founders = charter.settings, charter.operator, charter.founders
    now = entry.logged_at_seconds
    if abs(statement.signed_at_seconds - now) > settings.signed_at_skew_seconds:
        raise _violation("statement.signed-at-skew", f"signed_at {statement.signed_at} is more than {settings.signed_at_skew} from logged_at {entry.logged_at}", "signed_at")
    try:
        signed = verify(note, [operator_key, *(key for founder in founders for key in founder.keys)])
    except SignatureError as error:
        raise SignatureError("charter", error.problem) from error
    if operator_key not in signed:
        raise SignatureError("charter", f"not signed by the operator key {operator_key.label}")
    for founder in founders:
        if founder.role == MEMBER and not set(founder.keys) & set(signed):
            raise SignatureError("charter", f"not signed by founding member {founder.id}")
    actors = {OPERATOR: Actor(OPERATOR, settings.name + " secretariat", OPERATOR_ROLE, (KeyRecord(operator_key, 0),), 0)}
    for founder in founders:
        actors[founder.id] = Actor(
            id=founder.id,
            name=founder.name,
            role=founder.role,
            keys=tuple(KeyRecord(key, 0) for key in founder.keys),
            joined=0,
            affiliations=founder.affiliations,
        )
    state = LedgerState(
        size=1,
        logged_at=now,
        anchor=entry.leaf_hash(),
        settings=settings,
        actors=Map(actors),
        nonce_horizon=settings.signed_at_skew_seconds,
    )
    return state.remember_nonce(statement.nonce, statement.signed_at_seconds)
