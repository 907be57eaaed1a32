"""Typed statement bodies: one frozen dataclass per kind (SPEC 5), and the one shape check.

:func:`parse_body` turns a statement's JSON body into its kind's dataclass or
refuses it, naming the field: required and optional fields, types, the
choices of a position or an urgency, strings versus integers, booleans
never taken as integers, unknown fields. ``accord prepare`` calls it before
anything is signed, and the rules (so the writer and the verifier) call it
once per entry before judging it against the ledger.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from domain.charter import check_amendment
from domain.shape import Shape, is_reference
from domain.state import MEMBER, OBSERVER, POSITIONS
from domain.voting import ADOPTED, REJECTED, Tally
from ledger.errors import MalformedError, RuleViolation
from ledger.keys import VerifierKey
from ledger.statement import Statement, check_actor_id
from ledger.timefmt import parse_time

CIVIL_SOCIETY_KINDS = ("ngo", "trade-union", "local-community", "other")
URGENCIES = ("low", "normal", "high", "critical")
ATTACHMENT_TYPES = ("interpretative", "reservation")
EFFECT_FIELDS: Mapping[str, frozenset[str]] = {
    "admission": frozenset({"candidate"}),
    "observer-revocation": frozenset({"subject"}),
    "suspension": frozenset({"subject", "lift"}),
    "key-revocation": frozenset({"subject", "key", "replacement"}),
    "charter-amendment": frozenset({"amendment"}),
}


class Body:
    """A statement body of one kind, checked in shape."""

    KIND: ClassVar[str]

    @classmethod
    def parse(cls, statement: Statement) -> Body:
        """The body of ``statement``, or a RuleViolation naming the field at fault (each kind defines its own)."""
        raise NotImplementedError


B = TypeVar("B", bound=Body)
PARSERS: dict[str, Callable[[Statement], Body]] = {}


def kind(name: str) -> Callable[[type[B]], type[B]]:
    """Register a body class for statement kind ``name``; its ``parse`` reads the statement."""

    def register(cls: type[B]) -> type[B]:
        cls.KIND = name
        PARSERS[name] = cls.parse
        return cls

    return register


_LAST: list[Any] = [None, None, None]
"""The statement last read, the class it was read as and its body: a verifier's rules and its views
read each statement's body in turn, and the second reading is then this one's."""


def remembered(parse: Callable[[type[B], Statement], B]) -> Callable[[type[B], Statement], B]:
    """``parse`` that hands back the body it read last when asked for the very same statement again.

    Statements are frozen and their bodies never changed, so the same object
    reads the same; a refusal is not remembered (it is raised again).
    """

    @functools.wraps(parse)
    def read(cls: type[B], statement: Statement) -> B:
        statement_read, class_read, body = _LAST
        if statement_read is statement and class_read is cls:
            known: B = body
            return known
        body = parse(cls, statement)
        _LAST[:] = [statement, cls, body]
        return body

    return read


def parse_body(statement: Statement) -> Body:
    """The typed body of ``statement``, or a RuleViolation naming the field at fault."""
    parser = PARSERS.get(statement.kind)
    if parser is None:
        raise RuleViolation("statement.kind", f"unknown statement kind {statement.kind!r}", kind=statement.kind, field="kind")
    return parser(statement)


# Membership and keys (SPEC 5.2).


@kind("membership.suspend")
@dataclass(frozen=True)
class MembershipSuspend(Body):
    reason: str | None

    @classmethod
    @remembered
    def parse(cls, statement: Statement) -> MembershipSuspend:
        return cls(Shape(statement, (), ("reason",)).optional_text("reason"))


@kind("membership.resume")
@dataclass(frozen=True)
class MembershipResume(Body):
    @classmethod
    @remembered
    def parse(cls, statement: Statement) -> MembershipResume:
        Shape(statement)
        return cls()


@kind("membership.withdraw")
@dataclass(frozen=True)
class MembershipWithdraw(Body):
    reason: str | None

    @classmethod
    @remembered
    def parse(cls, statement: Statement) -> MembershipWithdraw:
        return cls(Shape(statement, (), ("reason",)).optional_text("reason"))


@kind("affiliation.declare")
@dataclass(frozen=True)
class AffiliationDeclare(Body):
    affiliations: tuple[str, ...]

    @classmethod
    @remembered
    def parse(cls, statement: Statement) -> AffiliationDeclare:
        return cls(Shape(statement, ("affiliations",)).names("affiliations", "affiliations must be a list of names"))


@kind("accession")
@dataclass(frozen=True)
class Accession(Body):
    proposal: str

    @classmethod
    @remembered
    def parse(cls, statement: Statement) -> Accession:
        return cls(Shape(statement, ("proposal",)).reference("proposal", "P"))


@kind("civil-society.register")
@dataclass(frozen=True)
class CivilSocietyRegister(Body):
    name: str
    organization: str
    """The body's ``kind``: ngo, trade-union, local-community or other."""
    countries: tuple[str, ...]
    keys: tuple[VerifierKey, ...]

    @classmethod
    @remembered
    def parse(cls, statement: Statement) -> CivilSocietyRegister:
        shape = Shape(statement, ("name", "kind", "countries", "keys"))
        return cls(
            name=shape.text("name"),
            organization=shape.choice("kind", CIVIL_SOCIETY_KINDS),
            countries=shape.names("countries", "countries must be a list of country codes"),
            keys=shape.keys("keys"),
        )


@kind("key.add")
@dataclass(frozen=True)
class KeyAdd(Body):
    key: VerifierKey

    @classmethod
    @remembered
    def parse(cls, statement: Statement) -> KeyAdd:
        return cls(Shape(statement, ("key",)).key("key"))


@kind("key.revoke")
@dataclass(frozen=True)
class KeyRevoke(Body):
    key: VerifierKey
    replacement: VerifierKey | None

    @classmethod
    @remembered
    def parse(cls, statement: Statement) -> KeyRevoke:
        shape = Shape(statement, ("key",), ("replacement",))
        return cls(shape.key("key"), shape.key("replacement") if "replacement" in shape.body else None)


# Proposals and their category's own fields (SPEC 5.3).


@dataclass(frozen=True)
class Candidate:
    """Who an admission would admit, and the keys it will accede with."""

    id: str
    name: str
    role: str
    keys: tuple[VerifierKey, ...]
    affiliations: tuple[str, ...]
    json: Mapping[str, Any]
    """The candidate as the proposal wrote it (kept in the proposal's effect)."""


@dataclass(frozen=True)
class Effect:
    """What an adopted proposal of its category changes; ``json`` as the proposal keeps it."""

    subject: str | None = None
    lift: bool | None = None
    """A suspension's: true lifts one."""
    key: VerifierKey | None = None
    replacement: VerifierKey | None = None
    candidate: Candidate | None = None
    amendment: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        if self.candidate is not None:
            return {"candidate": self.candidate.json}
        if self.amendment is not None:
            return {"amendment": self.amendment}
        effect: dict[str, Any] = {} if self.subject is None else {"subject": self.subject}
        if self.lift is not None:
            effect["lift"] = self.lift
        if self.key is not None:
            effect["key"] = self.key.to_text()
        if self.replacement is not None:
            effect["replacement"] = self.replacement.to_text()
        return effect


def _candidate(shape: Shape) -> Candidate:
    candidate = shape.body.get("candidate")
    if not isinstance(candidate, dict) or not {"id", "name", "role", "keys"} <= set(candidate) <= {"id", "name", "role", "keys", "affiliations"}:
        raise shape.malformed("candidate", "candidate needs id, name, role, keys (and may list affiliations)")
    candidate_id = check_actor_id(candidate["id"], "body.candidate.id")
    if candidate["role"] not in (MEMBER, OBSERVER):
        raise shape.malformed("candidate.role", f"candidate role got {candidate['role']!r}, want member or observer")
    if not isinstance(candidate["name"], str) or not candidate["name"].strip():
        raise shape.malformed("candidate.name", "candidate name must be a non-empty string")
    keys = shape.keys("candidate.keys", candidate_id, candidate["keys"], "candidate keys must list at least one verifier key")
    affiliations = shape.names("candidate.affiliations", "candidate affiliations must be a list of names", candidate.get("affiliations", []))
    return Candidate(candidate_id, candidate["name"], candidate["role"], keys, affiliations, candidate)


def _effect(shape: Shape, category: str) -> Effect:
    if category == "admission":
        return Effect(candidate=_candidate(shape))
    if category == "charter-amendment":
        try:
            return Effect(amendment=check_amendment(shape.body.get("amendment")))
        except MalformedError as error:
            raise shape.malformed(error.component, error.problem) from error
    if category not in ("observer-revocation", "suspension", "key-revocation"):
        return Effect()
    subject = check_actor_id(shape.body.get("subject"), "body.subject")
    if category == "suspension":
        return Effect(subject=subject, lift=shape.flag("lift"))
    if category == "key-revocation":
        # Whether the keys are named for the subject is checked once the subject is known to be an actor.
        replacement = shape.key("replacement", named=False) if "replacement" in shape.body else None
        return Effect(subject=subject, key=shape.key("key", named=False), replacement=replacement)
    return Effect(subject=subject)


@kind("proposal.submit")
@dataclass(frozen=True)
class ProposalSubmit(Body):
    category: str
    title: str
    text: str
    deadline: int
    deadline_text: str
    concerned: tuple[str, ...]
    references: tuple[str, ...]
    effect: Effect

    @classmethod
    @remembered
    def parse(cls, statement: Statement) -> ProposalSubmit:
        category = statement.body.get("category")
        if not isinstance(category, str):
            raise RuleViolation("proposal.unknown-category", f"category {category!r} is not in the charter", kind=statement.kind, field="body.category")
        shape = Shape(statement, ("category", "title", "text", "deadline"), {"concerned", "references"} | EFFECT_FIELDS.get(category, set()))
        title, text = shape.text("title"), shape.text("text")
        try:
            deadline = parse_time(shape.body["deadline"], "body.deadline")
        except MalformedError as error:
            raise shape.malformed("deadline", error.problem) from error
        concerned = shape.ids("concerned")
        references = shape.body.get("references", [])
        if not isinstance(references, list) or not all(is_reference(r) for r in references):
            raise shape.violation("proposal.unknown-reference", f"references {references!r} must name P-n, D-n or A-n on this log", "body.references")
        return cls(category, title, text, deadline, shape.body["deadline"], concerned, tuple(references), _effect(shape, category))


@kind("vote.cast")
@dataclass(frozen=True)
class VoteCast(Body):
    proposal: str
    position: str
    explanation: str | None

    @classmethod
    @remembered
    def parse(cls, statement: Statement) -> VoteCast:
        shape = Shape(statement, ("proposal", "position"), ("explanation",))
        return cls(shape.reference("proposal", "P"), shape.choice("position", POSITIONS), shape.optional_text("explanation"))


@kind("proposal.withdraw")
@dataclass(frozen=True)
class ProposalWithdraw(Body):
    proposal: str

    @classmethod
    @remembered
    def parse(cls, statement: Statement) -> ProposalWithdraw:
        return cls(Shape(statement, ("proposal",)).reference("proposal", "P"))


@kind("proposal.close")
@dataclass(frozen=True)
class ProposalClose(Body):
    proposal: str
    submission: int
    """The index of the entry that submitted the proposal."""
    outcome: str
    tally: Tally | None
    """The counts, if they are four whole numbers (else the close cannot match the rules' tally)."""
    tally_json: Mapping[str, Any]
    decision: str | None

    @classmethod
    @remembered
    def parse(cls, statement: Statement) -> ProposalClose:
        shape = Shape(statement, ("proposal", "submission", "outcome", "tally"), ("decision",))
        proposal = shape.reference("proposal", "P")
        submission = shape.integer("submission", "an entry index")
        outcome = shape.choice("outcome", (ADOPTED, REJECTED))
        counts = shape.body["tally"]
        if not isinstance(counts, dict):
            raise shape.malformed("tally", f"tally must be an object of approve, object, abstain and silent counts, got {counts!r}")
        decision = shape.body.get("decision")
        if decision is not None and not is_reference(decision, "D"):
            raise shape.malformed("decision", f"decision must name a D-n, got {decision!r}")
        tally = Tally.from_json(counts)
        return cls(proposal, submission, outcome, tally, counts, decision)


@kind("decision.attach")
@dataclass(frozen=True)
class DecisionAttach(Body):
    decision: str
    type: str
    text: str

    @classmethod
    @remembered
    def parse(cls, statement: Statement) -> DecisionAttach:
        shape = Shape(statement, ("decision", "type", "text"))
        return cls(shape.reference("decision", "D"), shape.choice("type", ATTACHMENT_TYPES), shape.text("text"))


# Statements and appeals (SPEC 5.4).


@kind("statement.make")
@dataclass(frozen=True)
class StatementMake(Body):
    text: str
    about: str | None

    @classmethod
    @remembered
    def parse(cls, statement: Statement) -> StatementMake:
        shape = Shape(statement, ("text",), ("about",))
        return cls(shape.text("text"), shape.reference("about", "PDA") if "about" in shape.body else None)


@kind("appeal.file")
@dataclass(frozen=True)
class AppealFile(Body):
    title: str
    text: str
    concerned: tuple[str, ...]
    urgency: str

    @classmethod
    @remembered
    def parse(cls, statement: Statement) -> AppealFile:
        shape = Shape(statement, ("title", "text", "concerned", "urgency"))
        return cls(shape.text("title"), shape.text("text"), shape.ids("concerned"), shape.choice("urgency", URGENCIES))


@kind("appeal.acknowledge")
@dataclass(frozen=True)
class AppealAcknowledge(Body):
    appeal: str
    text: str | None

    @classmethod
    @remembered
    def parse(cls, statement: Statement) -> AppealAcknowledge:
        shape = Shape(statement, ("appeal",), ("text",))
        return cls(shape.reference("appeal", "A"), shape.optional_text("text"))


@kind("appeal.answer")
@dataclass(frozen=True)
class AppealAnswer(Body):
    appeal: str
    text: str

    @classmethod
    @remembered
    def parse(cls, statement: Statement) -> AppealAnswer:
        shape = Shape(statement, ("appeal", "text"))
        return cls(shape.reference("appeal", "A"), shape.text("text"))
