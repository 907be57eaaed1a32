"""The organization's rules (SPEC section 5), as one pure function.

:func:`apply` takes the state before entry ``i`` and entry ``i`` and returns
the state after it, or raises an AccordError naming the rule (RuleViolation),
the signature (SignatureError) or the field (MalformedError) at fault. The
log's writer calls it before appending and the verifier calls it on replay,
so both judge every entry alike. It reads no disk, clock or network: time is
the entry's ``logged_at``.

Each statement kind has one handler; a handler receives the checked entry as
a :class:`Context` and returns the new state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from immutables import Map

from domain.charter import (
    CONSENSUS_MINUS_CONCERNED,
    OPERATOR,
    RATIFICATION,
    actor_key,
    check_amendment,
    parse_founders,
    parse_settings,
)
from domain.state import (
    ABSTAIN,
    ACTIVE,
    APPROVE,
    CIVIL_SOCIETY,
    MEMBER,
    OBJECT,
    OBSERVER,
    OPERATOR_ROLE,
    POSITIONS,
    SUSPENDED,
    Actor,
    Admission,
    KeyRecord,
    LedgerState,
    Proposal,
    evolve,
)
from ledger.entry import Entry
from ledger.errors import MalformedError, RuleViolation, SignatureError
from ledger.keys import VerifierKey
from ledger.note import Note, known_signers
from ledger.statement import Statement, check_actor_id
from ledger.timefmt import format_time, parse_time

Verify = Callable[[Note, Sequence[VerifierKey]], list[VerifierKey]]
"""Which of the given keys signed the note; raises SignatureError on a bad signature."""

CIVIL_SOCIETY_KINDS = ("ngo", "trade-union", "local-community", "other")
URGENCIES = ("low", "normal", "high", "critical")
ATTACHMENT_TYPES = ("interpretative", "reservation")
ADOPTED, REJECTED = "adopted", "rejected"
EFFECT_FIELDS: Mapping[str, frozenset[str]] = {
    "admission": frozenset({"candidate"}),
    "observer-revocation": frozenset({"subject"}),
    "suspension": frozenset({"subject", "lift"}),
    "key-revocation": frozenset({"subject", "key", "replacement"}),
    "charter-amendment": frozenset({"amendment"}),
}
EVERY_ROLE = (MEMBER, OBSERVER, CIVIL_SOCIETY, OPERATOR_ROLE)
PRESENT = (ACTIVE, SUSPENDED)
"""Standings in which an actor still speaks for itself (not withdrawn or revoked)."""


def _article(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


@dataclass(frozen=True)
class Tally:
    """Positions of the electorate members still active at close."""

    approve: int
    object: int
    abstain: int
    silent: int

    def to_json(self) -> dict[str, int]:
        return {"approve": self.approve, "object": self.object, "abstain": self.abstain, "silent": self.silent}


def effective_electorate(state: LedgerState, proposal: Proposal, now: int) -> list[str]:
    """The electorate fixed at submission, minus members no longer active at ``now``."""
    active = []
    for member_id in proposal.electorate:
        member = state.actors.get(member_id)
        if member is not None and member.role == MEMBER and member.standing(now) == ACTIVE:
            active.append(member_id)
    return active


def tally(state: LedgerState, proposal: Proposal, now: int) -> Tally:
    """The live tally of ``proposal`` at time ``now``."""
    positions = [proposal.positions.get(member) for member in effective_electorate(state, proposal, now)]
    return Tally(
        approve=positions.count(APPROVE),
        object=positions.count(OBJECT),
        abstain=positions.count(ABSTAIN),
        silent=positions.count(None),
    )


def outcome(procedure: str, counted: Tally) -> str:
    """Adopted or rejected, by the procedure's rule (SPEC 5.3).

    Consensus (silence procedure): no objection. Ratification: every counted
    member approves, and there is at least one. Consensus minus the
    concerned: as consensus; the concerned are not in the electorate.
    """
    if procedure == RATIFICATION:
        unanimous = counted.approve > 0 and counted.object == counted.abstain == counted.silent == 0
        return ADOPTED if unanimous else REJECTED
    return ADOPTED if counted.object == 0 else REJECTED


class Context:
    """One entry under judgement: its statement, its time, the state before it."""

    def __init__(self, state: LedgerState, entry: Entry, note: Note, statement: Statement, verify: Verify) -> None:
        self.state = state
        self.index = entry.index
        self.now = entry.logged_at_seconds
        self.note = note
        self.statement = statement
        self.kind = statement.kind
        self.body = statement.body
        self.verify = verify

    def violation(self, rule: str, problem: str, field: str | None = None) -> RuleViolation:
        return RuleViolation(rule, problem, kind=self.kind, field=field)

    # Who speaks.

    def signed_by(self, keys: Sequence[VerifierKey], actor: Actor | None = None) -> list[VerifierKey]:
        """The keys among ``keys`` that signed; refuses a note none of them signed."""
        try:
            verified = self.verify(self.note, keys)
        except SignatureError as error:
            raise SignatureError(self.kind, error.problem) from error
        if verified:
            return verified
        for revoked in actor.revoked_keys() if actor is not None else ():
            if any(signature.made_by(revoked) for signature in self.note.signatures):
                raise SignatureError(self.kind, f"signature by revoked key {self.statement.actor}+{revoked.key_id.hex()}")
        found = ", ".join(signature.label for signature in self.note.signatures)
        raise SignatureError(self.kind, f"not signed by a valid key of {self.statement.actor}: got {found}")

    def author(self, roles: Iterable[str], standings: Iterable[str] = (ACTIVE,)) -> Actor:
        """The signing actor, which must hold one of ``roles`` in one of ``standings``."""
        actor = self.state.actors.get(self.statement.actor)
        if actor is None:
            raise self.violation("actor.unknown", f"{self.statement.actor} is not an actor of this ledger", "actor")
        self.signed_by(actor.valid_keys(), actor)
        roles = tuple(roles)
        if actor.role not in roles:
            want = " or ".join(_article(role) for role in roles)
            raise self.violation("actor.role", f"{actor.id} is {_article(actor.role)}; want {want}", "actor")
        standing = actor.standing(self.now)
        if standing not in tuple(standings):
            raise self.violation("actor.standing", f"{actor.id} is {standing}; want {' or '.join(standings)}", "actor")
        return actor

    # What it says.

    def fields(self, required: Iterable[str], optional: Iterable[str] = ()) -> None:
        """The body holds every required field and nothing unknown."""
        required, allowed = set(required), set(required) | set(optional)
        for name in sorted(required - set(self.body)):
            raise self.violation("statement.body", f"missing field {name}", f"body.{name}")
        for name in sorted(set(self.body) - allowed):
            raise self.violation("statement.body", f"unknown field {name}", f"body.{name}")

    def text(self, name: str, *, empty: bool = False) -> str:
        value = self.body.get(name)
        if not isinstance(value, str) or (not empty and not value.strip()):
            raise self.violation("statement.body", f"{name} must be a non-empty string, got {value!r}", f"body.{name}")
        return value

    def optional_text(self, name: str) -> str | None:
        return self.text(name, empty=True) if name in self.body else None

    def choice(self, name: str, choices: Sequence[str]) -> str:
        value = self.body.get(name)
        if value not in choices:
            raise self.violation("statement.body", f"{name} got {value!r}, want one of {', '.join(choices)}", f"body.{name}")
        assert isinstance(value, str)
        return value

    def ids(self, name: str) -> tuple[str, ...]:
        value = self.body.get(name, [])
        if not isinstance(value, list):
            raise self.violation("statement.body", f"{name} must be a list, got {value!r}", f"body.{name}")
        for item in value:
            check_actor_id(item, f"body.{name}")
        if len(set(value)) != len(value):
            raise self.violation("statement.body", f"{name} lists an id twice", f"body.{name}")
        return tuple(value)

    def reference(self, name: str, prefixes: str) -> str:
        """A ``P-n``/``D-n``/``A-n`` already on the log, of one of ``prefixes``."""
        value = self.body.get(name)
        if not isinstance(value, str) or value[:1] not in prefixes or not self.state.exists(value):
            want = "/".join(f"{prefix}-n" for prefix in prefixes)
            raise self.violation(f"{self.kind}.unknown-reference", f"{name} {value!r} is not a {want} on this log", f"body.{name}")
        return value

    def key(self, name: str, actor: str, value: object = None) -> VerifierKey:
        try:
            return actor_key(self.body.get(name) if value is None else value, self.state.origin, actor, f"body.{name}")
        except MalformedError as error:
            raise self.violation("statement.body", error.problem, f"body.{name}") from error

    def open_proposal(self, name: str = "proposal") -> Proposal:
        proposal_id = self.reference(name, "P")
        proposal = self.state.open_proposals.get(proposal_id)
        if proposal is None:
            raise self.violation("proposal.not-open", f"{proposal_id} is no longer open", f"body.{name}")
        return proposal


Handler = Callable[[Context], LedgerState]
HANDLERS: dict[str, Handler] = {}


def handles(kind: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        HANDLERS[kind] = handler
        return handler

    return register


# Membership and keys (SPEC 5.2).


@handles("membership.suspend")
def _suspend(ctx: Context) -> LedgerState:
    member = ctx.author((MEMBER,))
    ctx.fields((), ("reason",))
    ctx.optional_text("reason")
    return ctx.state.with_actor(evolve(member, suspended_by="self"))


@handles("membership.resume")
def _resume(ctx: Context) -> LedgerState:
    member = ctx.author((MEMBER,), (SUSPENDED,))
    ctx.fields(())
    if member.suspended_by != "self":
        raise ctx.violation("membership.resume-not-self", f"{member.id} was suspended by decision {member.suspended_by}; only a decision lifts it")
    return ctx.state.with_actor(evolve(member, suspended_by=None))


@handles("membership.withdraw")
def _withdraw(ctx: Context) -> LedgerState:
    member = ctx.author((MEMBER,), PRESENT)
    ctx.fields((), ("reason",))
    ctx.optional_text("reason")
    if member.withdrawal_effective is not None:
        raise ctx.violation("membership.already-withdrawing", f"{member.id} withdraws from {format_time(member.withdrawal_effective)} already")
    effective = ctx.now + ctx.state.settings.withdrawal_notice_seconds
    return ctx.state.with_actor(evolve(member, withdrawal_effective=effective))


@handles("affiliation.declare")
def _declare_affiliations(ctx: Context) -> LedgerState:
    member = ctx.author((MEMBER,), PRESENT)
    ctx.fields({"affiliations"})
    affiliations = ctx.body["affiliations"]
    if not isinstance(affiliations, list) or not all(isinstance(a, str) and a.strip() for a in affiliations):
        raise ctx.violation("statement.body", "affiliations must be a list of names", "body.affiliations")
    return ctx.state.with_actor(evolve(member, affiliations=tuple(affiliations)))


@handles("accession")
def _accede(ctx: Context) -> LedgerState:
    ctx.fields({"proposal"})
    candidate_id = ctx.statement.actor
    admission = ctx.state.admissions.get(candidate_id)
    if admission is None:
        raise ctx.violation("accession.not-admitted", f"no adopted admission of {candidate_id} awaits accession", "actor")
    if ctx.body["proposal"] != admission.proposal:
        raise ctx.violation("accession.wrong-proposal", f"proposal got {ctx.body['proposal']!r}, want {admission.proposal!r}", "body.proposal")
    candidate = admission.candidate
    keys = [ctx.key("keys", candidate_id, text) for text in candidate["keys"]]
    ctx.signed_by(keys)
    actor = Actor(
        id=candidate_id,
        name=candidate["name"],
        role=candidate["role"],
        keys=tuple(KeyRecord(key, ctx.index) for key in keys),
        joined=ctx.index,
        affiliations=tuple(candidate.get("affiliations", ())),
    )
    return evolve(ctx.state.with_actor(actor), admissions=ctx.state.admissions.delete(candidate_id))


@handles("civil-society.register")
def _register(ctx: Context) -> LedgerState:
    ctx.fields({"name", "kind", "countries", "keys"})
    actor_id = ctx.statement.actor
    if actor_id in ctx.state.actors or actor_id == OPERATOR or _admission_pending(ctx.state, actor_id):
        raise ctx.violation("civil-society.id-taken", f"actor id {actor_id} is taken", "actor")
    name = ctx.text("name")
    organization_kind = ctx.choice("kind", CIVIL_SOCIETY_KINDS)
    countries = ctx.body["countries"]
    if not isinstance(countries, list) or not all(isinstance(c, str) and c for c in countries):
        raise ctx.violation("statement.body", "countries must be a list of country codes", "body.countries")
    listed = ctx.body["keys"]
    if not isinstance(listed, list) or not listed:
        raise ctx.violation("statement.body", "keys must list at least one verifier key", "body.keys")
    keys = [ctx.key("keys", actor_id, text) for text in listed]
    _distinct_keys(ctx, keys, "body.keys")
    _require_every_signature(ctx, keys)
    actor = Actor(
        id=actor_id,
        name=name,
        role=CIVIL_SOCIETY,
        keys=tuple(KeyRecord(key, ctx.index) for key in keys),
        joined=ctx.index,
        details={"kind": organization_kind, "countries": tuple(countries)},
    )
    return ctx.state.with_actor(actor)


def _distinct_keys(ctx: Context, keys: Sequence[VerifierKey], field: str) -> None:
    if len({key.key_id for key in keys}) != len(keys):
        raise ctx.violation("statement.body", "a key is listed twice", field)


def _require_every_signature(ctx: Context, keys: Sequence[VerifierKey]) -> None:
    """Proof of possession: every one of ``keys`` signed the statement."""
    try:
        signed = ctx.verify(ctx.note, keys)
    except SignatureError as error:
        raise SignatureError(ctx.kind, error.problem) from error
    for key in keys:
        if key not in signed:
            raise SignatureError(ctx.kind, f"not signed by the new key {key.label}: a key must prove possession")


@handles("key.add")
def _add_key(ctx: Context) -> LedgerState:
    actor = ctx.author(EVERY_ROLE, PRESENT)
    ctx.fields({"key"})
    key = ctx.key("key", actor.id)
    if any(record.key.public == key.public or record.key.key_id == key.key_id for record in actor.keys):
        raise ctx.violation("key.already-held", f"{actor.id} already holds key {key.label}", "body.key")
    _require_every_signature(ctx, [key])
    return ctx.state.with_actor(evolve(actor, keys=actor.keys + (KeyRecord(key, ctx.index),)))


def _revoke(actor: Actor, key: VerifierKey, replacement: VerifierKey | None, index: int) -> Actor:
    keys = tuple(evolve(r, revoked=index) if r.key == key and r.valid else r for r in actor.keys)
    if replacement is not None:
        keys += (KeyRecord(replacement, index),)
    return evolve(actor, keys=keys)


def _check_revocation(ctx: Context, actor: Actor, key: VerifierKey, replacement: VerifierKey | None) -> None:
    if key not in actor.valid_keys():
        raise ctx.violation("key.not-valid", f"{key.label} is not a valid key of {actor.id}", "body.key")
    if replacement is None and set(actor.valid_keys()) == {key}:
        raise ctx.violation("key.last-key", f"{key.label} is the last valid key of {actor.id}; name a replacement", "body.key")
    if replacement is not None and any(r.key.key_id == replacement.key_id for r in actor.keys):
        raise ctx.violation("key.already-held", f"{actor.id} already holds key {replacement.label}", "body.replacement")


@handles("key.revoke")
def _revoke_key(ctx: Context) -> LedgerState:
    actor = ctx.author(EVERY_ROLE, PRESENT)
    ctx.fields({"key"}, ("replacement",))
    key = ctx.key("key", actor.id)
    replacement = ctx.key("replacement", actor.id) if "replacement" in ctx.body else None
    _check_revocation(ctx, actor, key, replacement)
    if replacement is not None:
        _require_every_signature(ctx, [replacement])
    return ctx.state.with_actor(_revoke(actor, key, replacement, ctx.index))


# Proposals and procedures (SPEC 5.3).


def _admission_pending(state: LedgerState, candidate_id: str) -> bool:
    """Whether an admission of ``candidate_id`` is open or adopted and awaiting accession."""
    return candidate_id in state.admissions or any(
        p.effect.get("candidate", {}).get("id") == candidate_id for p in state.open_proposals.values()
    )


def _check_effect(ctx: Context, category: str) -> dict[str, Any]:
    """The category's own fields, checked against the state at submission."""
    state = ctx.state
    if category == "admission":
        candidate = ctx.body.get("candidate")
        if not isinstance(candidate, dict) or not {"id", "name", "role", "keys"} <= set(candidate) <= {"id", "name", "role", "keys", "affiliations"}:
            raise ctx.violation("statement.body", "candidate needs id, name, role, keys (and may list affiliations)", "body.candidate")
        candidate_id = check_actor_id(candidate["id"], "body.candidate.id")
        existing = state.actors.get(candidate_id)
        if candidate_id == OPERATOR or (existing is not None and existing.standing(ctx.now) in PRESENT):
            raise ctx.violation("admission.already-admitted", f"{candidate_id} is already an actor of this ledger", "body.candidate.id")
        if existing is not None and existing.role == CIVIL_SOCIETY:
            raise ctx.violation("admission.already-admitted", f"{candidate_id} is a civil-society organization", "body.candidate.id")
        if _admission_pending(state, candidate_id):
            raise ctx.violation("admission.pending", f"an admission of {candidate_id} is already open or awaits accession", "body.candidate.id")
        if candidate["role"] not in (MEMBER, OBSERVER):
            raise ctx.violation("statement.body", f"candidate role got {candidate['role']!r}, want member or observer", "body.candidate.role")
        if not isinstance(candidate["name"], str) or not candidate["name"].strip():
            raise ctx.violation("statement.body", "candidate name must be a non-empty string", "body.candidate.name")
        if not isinstance(candidate["keys"], list) or not candidate["keys"]:
            raise ctx.violation("statement.body", "candidate keys must list at least one verifier key", "body.candidate.keys")
        _distinct_keys(ctx, [ctx.key("candidate.keys", candidate_id, text) for text in candidate["keys"]], "body.candidate.keys")
        affiliations = candidate.get("affiliations", [])
        if not isinstance(affiliations, list) or not all(isinstance(a, str) and a for a in affiliations):
            raise ctx.violation("statement.body", "candidate affiliations must be a list of names", "body.candidate.affiliations")
        return {"candidate": candidate}
    if category in ("observer-revocation", "suspension", "key-revocation"):
        subject_id = check_actor_id(ctx.body.get("subject"), "body.subject")
        subject = state.actors.get(subject_id)
        want_role = {"observer-revocation": OBSERVER, "suspension": MEMBER}.get(category)
        if subject is None or subject.standing(ctx.now) not in PRESENT or (want_role and subject.role != want_role):
            want = _article(want_role) if want_role else "an actor"
            raise ctx.violation(f"{category}.subject", f"{subject_id} is not {want} of this ledger", "body.subject")
        effect: dict[str, Any] = {"subject": subject_id}
        if category == "suspension":
            lift = ctx.body.get("lift", False)
            if not isinstance(lift, bool):
                raise ctx.violation("statement.body", f"lift must be true or false, got {lift!r}", "body.lift")
            if lift and (subject.suspended_by in (None, "self")):
                raise ctx.violation("suspension.not-suspended", f"{subject_id} is not suspended by a decision", "body.subject")
            if not lift and subject.suspended_by not in (None, "self"):
                raise ctx.violation("suspension.already-suspended", f"{subject_id} is suspended by {subject.suspended_by} already", "body.subject")
            effect["lift"] = lift
        if category == "key-revocation":
            key = ctx.key("key", subject_id)
            replacement = ctx.key("replacement", subject_id) if "replacement" in ctx.body else None
            _check_revocation(ctx, subject, key, replacement)
            effect["key"] = key.to_text()
            if replacement is not None:
                effect["replacement"] = replacement.to_text()
        return effect
    if category == "charter-amendment":
        try:
            return {"amendment": check_amendment(ctx.body.get("amendment"))}
        except MalformedError as error:
            raise ctx.violation("statement.body", error.problem, f"body.{error.component}") from error
    return {}


@handles("proposal.submit")
def _submit(ctx: Context) -> LedgerState:
    proposer = ctx.author((MEMBER,))
    category = ctx.body.get("category")
    settings = ctx.state.settings
    if not isinstance(category, str) or category not in settings.categories:
        raise ctx.violation("proposal.unknown-category", f"category {category!r} is not in the charter", "body.category")
    ctx.fields({"category", "title", "text", "deadline"}, {"concerned", "references"} | EFFECT_FIELDS.get(category, set()))
    title = ctx.text("title")
    text = ctx.text("text")
    try:
        deadline = parse_time(ctx.body["deadline"], "body.deadline")
    except MalformedError as error:
        raise ctx.violation("statement.body", error.problem, "body.deadline") from error
    rules = settings.categories[category]
    if deadline <= ctx.now:
        raise ctx.violation("proposal.deadline-passed", f"deadline {ctx.body['deadline']} is not after logged_at {format_time(ctx.now)}", "body.deadline")
    if deadline - ctx.now < rules.min_period_seconds:
        raise ctx.violation(
            "proposal.min-period",
            f"voting period of {deadline - ctx.now}s is shorter than the {rules.min_period} minimum for {category}",
            "body.deadline",
        )
    concerned = ctx.ids("concerned")
    for member_id in concerned:
        member = ctx.state.actors.get(member_id)
        if member is None or member.role != MEMBER or member.standing(ctx.now) not in PRESENT:
            raise ctx.violation("proposal.concerned-unknown", f"concerned {member_id} is not a member", "body.concerned")
    references = ctx.body.get("references", [])
    if not isinstance(references, list) or not all(isinstance(r, str) and ctx.state.exists(r) for r in references):
        raise ctx.violation("proposal.unknown-reference", f"references {references!r} must name P-n, D-n or A-n on this log", "body.references")
    effect = _check_effect(ctx, category)
    excluded = set(concerned) if rules.procedure == CONSENSUS_MINUS_CONCERNED else set()
    electorate = tuple(
        sorted(
            member.id
            for member in ctx.state.actors.values()
            if member.role == MEMBER and member.standing(ctx.now) == ACTIVE and member.id not in excluded
        )
    )
    if not electorate:
        raise ctx.violation("proposal.no-electorate", "no active member would be left to decide")
    number = ctx.state.proposals + 1
    proposal = Proposal(
        id=f"P-{number}",
        proposer=proposer.id,
        category=category,
        procedure=rules.procedure,
        title=title,
        text=text,
        deadline=deadline,
        electorate=electorate,
        submitted=ctx.index,
        submitted_at=ctx.now,
        concerned=concerned,
        references=tuple(references),
        effect=effect,
        positions=Map(),
    )
    return evolve(ctx.state, proposals=number, open_proposals=ctx.state.open_proposals.set(proposal.id, proposal))


@handles("vote.cast")
def _vote(ctx: Context) -> LedgerState:
    voter = ctx.author((MEMBER,))
    ctx.fields({"proposal", "position"}, ("explanation",))
    proposal = ctx.open_proposal()
    position = ctx.choice("position", POSITIONS)
    ctx.optional_text("explanation")
    if ctx.now >= proposal.deadline:
        raise ctx.violation("vote.after-deadline", f"logged at {format_time(ctx.now)}, not before the deadline {format_time(proposal.deadline)} of {proposal.id}")
    if voter.id not in proposal.electorate:
        raise ctx.violation("vote.not-in-electorate", f"{voter.id} is not in the electorate of {proposal.id}", "actor")
    positions = proposal.positions
    assert isinstance(positions, Map)
    voted = evolve(proposal, positions=positions.set(voter.id, position))
    return evolve(ctx.state, open_proposals=ctx.state.open_proposals.set(proposal.id, voted))


@handles("proposal.withdraw")
def _withdraw_proposal(ctx: Context) -> LedgerState:
    member = ctx.author((MEMBER,), PRESENT)
    ctx.fields({"proposal"})
    proposal = ctx.open_proposal()
    if proposal.proposer != member.id:
        raise ctx.violation("proposal.not-proposer", f"{proposal.id} was proposed by {proposal.proposer}, not {member.id}", "actor")
    return evolve(ctx.state, open_proposals=ctx.state.open_proposals.delete(proposal.id))


@handles("proposal.close")
def _close(ctx: Context) -> LedgerState:
    ctx.author((MEMBER, OPERATOR_ROLE))
    ctx.fields({"proposal", "submission", "outcome", "tally"}, ("decision",))
    proposal = ctx.open_proposal()
    if ctx.body["submission"] != proposal.submitted:
        # Binds the close to the exact entry it decides, so a certificate can prove which text was adopted.
        raise ctx.violation(
            "proposal.close-submission",
            f"submission got {ctx.body['submission']!r}, want {proposal.submitted} (the entry that submitted {proposal.id})",
            "body.submission",
        )
    counted = tally(ctx.state, proposal, ctx.now)
    if ctx.now < proposal.deadline and not (counted.approve > 0 and counted.approve == sum(counted.to_json().values())):
        raise ctx.violation(
            "proposal.close-early",
            f"{proposal.id} is open until {format_time(proposal.deadline)}; closing earlier needs every electorate member's approval",
        )
    result = outcome(proposal.procedure, counted)
    if ctx.body["outcome"] != result:
        raise ctx.violation("proposal.close-outcome", f"outcome of {proposal.id} got {ctx.body['outcome']!r}, want {result!r}", "body.outcome")
    if not _same_tally(ctx.body["tally"], counted.to_json()):
        raise ctx.violation("proposal.close-tally", f"tally of {proposal.id} got {_tally_text(ctx.body['tally'])}, want {_tally_text(counted.to_json())}", "body.tally")
    decision = f"D-{ctx.state.decisions + 1}" if result == ADOPTED else None
    if ctx.body.get("decision") != decision:
        # The number makes the signed close say which binding decision it creates.
        want = "no decision (it was rejected)" if decision is None else repr(decision)
        raise ctx.violation("proposal.close-decision", f"decision got {ctx.body.get('decision')!r}, want {want}", "body.decision")
    state = evolve(ctx.state, open_proposals=ctx.state.open_proposals.delete(proposal.id))
    if decision is None:
        return state
    return _take_effect(evolve(state, decisions=state.decisions + 1), proposal, decision, ctx.index, ctx.now)


def _same_tally(given: object, counted: Mapping[str, int]) -> bool:
    """Equal counts, as whole numbers: JSON true is not 1 here, though Python's == says it is."""
    return (
        isinstance(given, dict)
        and given.keys() == counted.keys()
        and all(type(given[name]) is int and given[name] == count for name, count in counted.items())
    )


def _tally_text(counts: object) -> str:
    if isinstance(counts, dict) and set(counts) == {APPROVE, OBJECT, ABSTAIN, "silent"}:
        return ", ".join(f"{counts[name]} {name}" for name in (APPROVE, OBJECT, ABSTAIN, "silent"))
    return repr(counts)


def _take_effect(state: LedgerState, proposal: Proposal, decision: str, index: int, now: int) -> LedgerState:
    """What an adopted proposal changes, from its close entry on.

    Checked at submission; an effect that events since have made moot (the
    subject withdrew, the key was already revoked) changes nothing.
    """
    effect = proposal.effect
    if proposal.category == "admission":
        candidate = effect["candidate"]
        return evolve(state, admissions=state.admissions.set(candidate["id"], Admission(proposal.id, decision, candidate)))
    if proposal.category == "charter-amendment":
        settings = state.settings.amended(effect["amendment"])
        horizon = max(state.nonce_horizon, settings.signed_at_skew_seconds)
        return evolve(state, settings=settings, nonce_horizon=horizon)
    subject = state.actors.get(effect.get("subject", ""))
    if subject is None or subject.standing(now) not in PRESENT:
        return state
    if proposal.category == "observer-revocation" and subject.role == OBSERVER:
        return state.with_actor(evolve(subject, revoked_by=decision))
    if proposal.category == "suspension" and subject.role == MEMBER:
        return state.with_actor(evolve(subject, suspended_by=None if effect["lift"] else decision))
    if proposal.category == "key-revocation":
        key = VerifierKey.from_text(effect["key"])
        replacement = VerifierKey.from_text(effect["replacement"]) if "replacement" in effect else None
        if replacement is not None and any(record.key.key_id == replacement.key_id for record in subject.keys):
            replacement = None  # the subject holds (or held and revoked) it already: never add it twice or revive it
        if key not in subject.valid_keys() or (replacement is None and set(subject.valid_keys()) == {key}):
            return state
        return state.with_actor(_revoke(subject, key, replacement, index))
    return state


@handles("decision.attach")
def _attach(ctx: Context) -> LedgerState:
    ctx.author((MEMBER,), PRESENT)
    ctx.fields({"decision", "type", "text"})
    ctx.reference("decision", "D")
    ctx.choice("type", ATTACHMENT_TYPES)
    ctx.text("text")
    return ctx.state


# Statements and appeals (SPEC 5.4).


@handles("statement.make")
def _say(ctx: Context) -> LedgerState:
    ctx.author(EVERY_ROLE, PRESENT)
    ctx.fields({"text"}, ("about",))
    ctx.text("text")
    if "about" in ctx.body:
        ctx.reference("about", "PDA")
    return ctx.state


@handles("appeal.file")
def _file_appeal(ctx: Context) -> LedgerState:
    ctx.author((CIVIL_SOCIETY,))
    ctx.fields({"title", "text", "concerned", "urgency"})
    ctx.text("title")
    ctx.text("text")
    ctx.choice("urgency", URGENCIES)
    for actor_id in ctx.ids("concerned"):
        if actor_id not in ctx.state.actors:
            raise ctx.violation("appeal.concerned-unknown", f"concerned {actor_id} is not an actor of this ledger", "body.concerned")
    return evolve(ctx.state, appeals=ctx.state.appeals + 1)


@handles("appeal.acknowledge")
def _acknowledge_appeal(ctx: Context) -> LedgerState:
    ctx.author((MEMBER, OPERATOR_ROLE))
    ctx.fields({"appeal"}, ("text",))
    ctx.reference("appeal", "A")
    ctx.optional_text("text")
    return ctx.state


@handles("appeal.answer")
def _answer_appeal(ctx: Context) -> LedgerState:
    ctx.author((MEMBER, OPERATOR_ROLE))
    ctx.fields({"appeal", "text"})
    ctx.reference("appeal", "A")
    ctx.text("text")
    return ctx.state


# The charter and the common checks.


def _charter(entry: Entry, note: Note, statement: Statement, verify: Verify) -> LedgerState:
    def violation(rule: str, problem: str, field: str | None = None) -> RuleViolation:
        return RuleViolation(rule, problem, kind="charter", field=field)

    if entry.index != 0:
        raise violation("entry.index", f"got {entry.index}, want 0: the log starts with its charter")
    if statement.kind != "charter":
        raise RuleViolation("charter.first", f"entry 0 must be the charter, got kind {statement.kind!r}", kind=statement.kind, field="kind")
    if statement.actor != OPERATOR:
        raise violation("charter.actor", f"actor got {statement.actor!r}, want {OPERATOR!r}", "actor")
    body = statement.body
    allowed = {"name", "operator", "members", "observers", "categories", "withdrawal_notice", "signed_at_skew", "witness_lag"}
    for name in sorted(set(body) - allowed):
        raise violation("statement.body", f"unknown field {name}", f"body.{name}")
    origin = statement.origin
    try:
        settings = parse_settings(body, origin)
        operator_key = actor_key(body.get("operator"), origin, OPERATOR, "body.operator")
        founders = parse_founders(body, origin)
    except MalformedError as error:
        raise violation("statement.body", error.problem, error.component) from error
    now = entry.logged_at_seconds
    if abs(statement.signed_at_seconds - now) > settings.signed_at_skew_seconds:
        raise violation("statement.signed-at-skew", f"signed_at {statement.signed_at} is more than {settings.signed_at_skew} from logged_at {entry.logged_at}", "signed_at")
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
        return _charter(entry, note, statement, verify)
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

