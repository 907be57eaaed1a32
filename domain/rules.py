"""The organization's rules (SPEC section 5), as one pure function.

:func:`apply` takes the state before entry ``i`` and entry ``i`` and returns
the state after it, or raises an AccordError naming the rule (RuleViolation),
the signature (SignatureError) or the field (MalformedError) at fault. The
log's writer calls it before appending and the verifier calls it on replay,
so both judge every entry alike. It reads no disk, clock or network: time is
the entry's ``logged_at``.

Each entry is judged in two steps: what holds for every kind (index, time,
origin, skew, replay), then its kind's handler (domain.membership,
domain.proposals): who signed, the body's shape read once into its kind's
dataclass (domain.bodies, the same check ``accord prepare`` runs), and what
it says against the state. The voting arithmetic is in domain.voting, each
category's effect in domain.effects, the charter in domain.founding.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import domain.membership
import domain.proposals
from domain.bodies import PARSERS, Body, parse_body
from domain.context import HANDLERS, Context, Verify
from domain.founding import Charter, found, parse_charter
from domain.state import LedgerState
from domain.voting import ADOPTED, REJECTED, Tally, effective_electorate, outcome, tally
from ledger.entry import Entry
from ledger.errors import RuleViolation
from ledger.keys import VerifierKey
from ledger.note import Note, known_signers
from ledger.statement import Statement
from ledger.timefmt import format_time

__all__ = [
    "ADOPTED",
    "REJECTED",
    "Tally",
    "Verify",
    "apply",
    "assume_verified",
    "check_statement",
    "check_statement_kinds",
    "effective_electorate",
    "fold",
    "outcome",
    "read_statement",
    "tally",
]
assert domain.membership and domain.proposals  # imported for their handlers
assert set(HANDLERS) == set(PARSERS), "every statement kind has a body and a handler"


def assume_verified(note: Note, keys: Sequence[VerifierKey]) -> list[VerifierKey]:
    """The keys named on ``note``, with no cryptography: for entries already judged.

    Only for a writer catching up on its own store, whose entries its writers
    checked; a verifier never uses it.
    """
    return [key for key in keys if any(signature.made_by(key) for signature in note.signatures)]


def read_statement(text: str) -> tuple[Note, Statement]:
    """The note and the statement it signs (shape only: nothing is verified)."""
    note = Note.from_text(text)
    return note, Statement.from_text(note.text)


def check_statement(statement: Statement) -> Body | Charter:
    """Every check of ``statement`` that needs neither its signatures nor the ledger.

    ``accord prepare`` and ``accord charter draft`` run it before anything is
    signed; :func:`apply` runs the same checks on every entry.
    """
    if statement.kind == "charter":
        return parse_charter(statement)
    return parse_body(statement)


def apply(
    state: LedgerState | None,
    entry: Entry,
    verify: Verify = known_signers,
    parsed: tuple[Note, Statement] | None = None,
) -> LedgerState:
    """The state after ``entry``, given the state before it (None before the charter).

    ``parsed``, when given, is ``read_statement(entry.statement)`` done
    already (a verifier's workers parse in parallel). Raises RuleViolation,
    SignatureError or MalformedError, naming the rule, signature or field at
    fault; the state given is never changed.
    """
    note, statement = parsed if parsed is not None else read_statement(entry.statement)
    if state is None:
        return found(entry, note, statement, verify)
    kind = statement.kind
    if entry.index != state.size:
        raise RuleViolation("entry.index", f"got {entry.index}, want {state.size}", kind=kind, field="index")
    now = entry.logged_at_seconds
    if now < state.logged_at:
        raise RuleViolation("entry.logged-at", f"logged_at {entry.logged_at} is before the previous entry's {format_time(state.logged_at)}", kind=kind, field="logged_at")
    if statement.origin != state.origin:
        raise RuleViolation("statement.origin", f"statement for origin {statement.origin!r}, want {state.origin!r}", kind=kind, field="origin")
    if kind == "charter":
        raise RuleViolation("charter.once", "a ledger has one charter, at entry 0", kind=kind, field="kind")
    handler = HANDLERS.get(kind)
    if handler is None:
        raise RuleViolation("statement.kind", f"unknown statement kind {kind!r}", kind=kind, field="kind")
    skew = state.settings.signed_at_skew_seconds
    signed_at = statement.signed_at_seconds
    if abs(signed_at - now) > skew:
        raise RuleViolation(
            "statement.signed-at-skew",
            f"signed_at {statement.signed_at} is more than {state.settings.signed_at_skew} from logged_at {entry.logged_at}",
            kind=kind,
            field="signed_at",
        )
    if statement.nonce in state.nonces:
        raise RuleViolation("statement.duplicate", f"the log already holds a statement with nonce {statement.nonce}", kind=kind, field="nonce")
    if signed_at < state.nonce_floor:
        raise RuleViolation(
            "statement.too-old",
            f"signed_at {statement.signed_at} is before {format_time(state.nonce_floor)}, from which on the log can still tell a replay",
            kind=kind,
            field="signed_at",
        )
    after = handler(Context(state, entry, note, statement, verify))
    return after.after_entry(now, statement.nonce, signed_at)


def fold(entries: Iterable[Entry], state: LedgerState | None = None, verify: Verify = known_signers) -> LedgerState | None:
    """The state after every entry in order, from ``state`` (None: from the charter)."""
    for entry in entries:
        state = apply(state, entry, verify)
    return state


def check_statement_kinds() -> list[str]:
    """Every statement kind the rules know, the charter first."""
    return ["charter", *sorted(HANDLERS)]
