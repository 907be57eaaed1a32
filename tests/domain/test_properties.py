"""Property tests: random sequences of valid and invalid statements never leave the state inconsistent.

A hypothesis state machine drives a :class:`Scenario` with statements of every
kind, made by every sort of actor (members in any standing, observers, civil
society, the operator, strangers), some valid and some deliberately wrong:
votes after the deadline or on closed proposals, early closes, closes with a
wrong outcome or tally, signatures by revoked or foreign keys, replays,
entries logged out of order. Beside the rules it keeps :class:`Council`, a
small model of the organization written from SPEC section 5 alone (who is an
actor and in what standing, which keys are valid, each open proposal's
electorate and last positions), which says for every statement whether the
rules must accept it or which rule must refuse it. After every step the
rules' state is compared with the model, and at the end the log is replayed.

The rule bugs this machine found are pinned by the tests at the end, one each;
the paths into them are still kept out of the machine (each place says which),
since those tests say exactly what must happen there.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from domain.charter import OPERATOR
from domain.rules import apply, fold, read_statement
from domain.state import (
    ABSTAIN,
    ACTIVE,
    APPROVE,
    CIVIL_SOCIETY,
    MEMBER,
    OBJECT,
    OBSERVER,
    OPERATOR_ROLE,
    REVOKED,
    SUSPENDED,
    WITHDRAWN,
)
from ledger.entry import Entry
from ledger.errors import AccordError, RuleViolation, SignatureError
from ledger.keys import Signer, VerifierKey
from ledger.note import sign_note
from ledger.statement import Statement
from ledger.timefmt import format_time
from tests.domain.scenario import DAY, ORIGIN, Scenario, new_signer

HOUR = 3_600
MEMBERS = ("de", "fr", "pl", "ua")
OBSERVERS = ("in",)
CANDIDATES = ("md", "ge")
"""Fresh ids an admission may bring in; a withdrawn member may also be admitted again (a new membership)."""
ORGANIZATIONS = ("etuc", "wilpf")
"""Civil society registers under these, never under a candidate's id (see the squatting test below)."""
STRANGER = "xx"
VOICES = (*MEMBERS, *OBSERVERS, *CANDIDATES, *ORGANIZATIONS, STRANGER, OPERATOR)
EVERY_ROLE = (MEMBER, OBSERVER, CIVIL_SOCIETY, OPERATOR_ROLE)
PRESENT = (ACTIVE, SUSPENDED)

CONSENSUS, RATIFICATION, MINUS_CONCERNED = "consensus", "ratification", "consensus-minus-concerned"
SPEC_PROCEDURES = {
    **dict.fromkeys(("general", "joint-exercise", "risk-assessment", "regulation"), CONSENSUS),
    **dict.fromkeys(("military-operation", "armament-increase", "charter-amendment"), RATIFICATION),
    **dict.fromkeys(("admission", "observer-revocation"), CONSENSUS),
    **dict.fromkeys(("violation-finding", "suspension", "key-revocation"), MINUS_CONCERNED),
}
"""The default categories, copied from the SPEC 5.3 table rather than from domain.charter."""
CATEGORIES = (
    "general",
    "risk-assessment",
    "military-operation",
    "armament-increase",
    "violation-finding",
    "suspension",
    "admission",
    "observer-revocation",
    "key-revocation",
    "charter-amendment",
    "bloc-vote",
)
RATIFIED = ("military-operation", "armament-increase", "charter-amendment")
"""Listed again for members' own proposals, so that ratification comes up as often as consensus."""
AMENDMENTS: tuple[dict[str, Any], ...] = (
    {"withdrawal_notice": "0s"},
    {"withdrawal_notice": "1d"},
    {"signed_at_skew": "1d"},
    {"signed_at_skew": "7d"},
    {"categories": {"general": {"procedure": RATIFICATION, "min_period": "1d"}}},
    {"categories": {"violation-finding": {"procedure": CONSENSUS, "min_period": "0s"}}},
    {"categories": {"military-operation": {"procedure": RATIFICATION, "min_period": "7d"}}},
)
"""Never a skew wider than the charter's 7d: see test_replay_is_refused_after_an_amendment_widens_the_signed_at_skew."""
DURATIONS = {"0s": 0, "1d": DAY, "7d": 7 * DAY, "90d": 90 * DAY}

A_MEMBER = st.sampled_from(MEMBERS)
A_VOICE = st.one_of(A_MEMBER, st.sampled_from(VOICES))
"""Mostly members (the ones who can do most), often anyone else."""
SIGNING = st.sampled_from(("own",) * 10 + ("revoked", "foreign", "never-added"))
SKEWS = st.sampled_from((0,) * 6 + (-2 * DAY, 2 * DAY, -7 * DAY, -7 * DAY - 1, 8 * DAY))
MEMBERSHIP_ACTS = ("membership.suspend", "membership.resume", "membership.withdraw")
PERIODS = st.sampled_from((0, 1, HOUR, DAY, DAY, 7 * DAY, 7 * DAY, 30 * DAY, 120 * DAY))


def reason(error: AccordError) -> str:
    """The rule a refusal names, or the kind of signature failure."""
    if isinstance(error, RuleViolation):
        return error.rule
    if isinstance(error, SignatureError):
        return "signature.revoked" if "revoked key" in error.problem else "signature"
    return type(error).__name__


def public(signers: Sequence[Signer]) -> list[VerifierKey]:
    return [signer.verifier_key() for signer in signers]


# The model: SPEC section 5, as plainly as it can be said.


@dataclass
class Party:
    """An actor as the model sees it."""

    role: str
    keys: list[Signer]
    revoked: list[Signer] = field(default_factory=list)
    suspended_by: str | None = None
    withdrawal_effective: int | None = None
    revoked_by: str | None = None
    joined: int = 0
    """The entry that began this membership: an id admitted again is a new membership."""

    def standing(self, now: int) -> str:
        if self.revoked_by is not None:
            return REVOKED
        if self.withdrawal_effective is not None and now >= self.withdrawal_effective:
            return WITHDRAWN
        return SUSPENDED if self.suspended_by is not None else ACTIVE

    def holds(self, key: Signer) -> bool:
        return key.verifier_key() in public(self.keys)

    def held(self, key: Signer) -> bool:
        return key.verifier_key() in public(self.keys + self.revoked)


@dataclass
class Motion:
    """An open proposal as the model sees it; ``effect`` holds signers, not key texts."""

    id: str
    proposer: str
    category: str
    procedure: str
    deadline: int
    submitted: int
    """The index of the entry that submitted it, which a close must name."""
    electorate: frozenset[str]
    memberships: frozenset[tuple[str, int]]
    """The electorate as memberships (id, entry it began): SPEC 5.3, an id admitted again is not in it."""
    concerned: tuple[str, ...]
    effect: dict[str, Any]
    positions: dict[str, str] = field(default_factory=dict)


class Council:
    """What the rules' state must say, kept by the test alone."""

    def __init__(self, scenario: Scenario) -> None:
        keys = scenario.keys
        self.parties: dict[str, Party] = {OPERATOR: Party(OPERATOR_ROLE, [keys[OPERATOR]])}
        self.parties.update({member: Party(MEMBER, [keys[member]]) for member in MEMBERS})
        self.parties.update({observer: Party(OBSERVER, [keys[observer]]) for observer in OBSERVERS})
        self.motions: dict[str, Motion] = {}
        self.proposals = self.decisions = self.appeals = 0
        self.admissions: dict[str, tuple[str, str, Signer]] = {}
        """Adopted admissions awaiting accession: candidate -> (proposal, role, key)."""
        self.categories = {category: (procedure, 0) for category, procedure in SPEC_PROCEDURES.items()}
        self.withdrawal_notice = 90 * DAY
        self.skew = 7 * DAY
        self.nonces: set[str] = set()
        self.logged_at = scenario.state.logged_at
        self.accepted = 0
        """Entries accepted after the charter."""

    # What any entry must pass before its kind is judged.

    def precheck(self, statement: Statement, now: int) -> str | None:
        if now < self.logged_at:
            return "entry.logged-at"
        if statement.origin != ORIGIN:
            return "statement.origin"
        if abs(statement.signed_at_seconds - now) > self.skew:
            return "statement.signed-at-skew"
        if statement.nonce in self.nonces:
            return "statement.duplicate"
        return None

    def speaker(self, actor: str, signers: Sequence[Signer], roles: Sequence[str], standings: Sequence[str], now: int) -> str | None:
        """Why ``actor`` may not say this, signing with ``signers``; None if it may."""
        party = self.parties.get(actor)
        if party is None:
            return "actor.unknown"
        if not any(party.holds(signer) for signer in signers):
            revoked = public(party.revoked)
            return "signature.revoked" if any(signer.verifier_key() in revoked for signer in signers) else "signature"
        if party.role not in roles:
            return "actor.role"
        if party.standing(now) not in standings:
            return "actor.standing"
        return None

    def exists(self, reference: str) -> bool:
        """Whether ``reference`` is a canonical ``P-n``/``D-n``/``A-n`` already on the log."""
        match = re.fullmatch(r"([PDA])-([1-9][0-9]*)", reference)
        counts = {"P": self.proposals, "D": self.decisions, "A": self.appeals}
        return match is not None and int(match[2]) <= counts[match[1]]

    def open_motion(self, kind: str, reference: str) -> str | None:
        if not reference.startswith("P-") or not self.exists(reference):
            return f"{kind}.unknown-reference"
        if reference not in self.motions:
            return "proposal.not-open"
        return None

    def active_members(self, now: int) -> set[str]:
        return {actor for actor, party in self.parties.items() if party.role == MEMBER and party.standing(now) == ACTIVE}

    def in_electorate(self, motion: Motion, actor: str) -> bool:
        """Whether ``actor``'s current membership is one the electorate was fixed with."""
        party = self.parties.get(actor)
        return party is not None and (actor, party.joined) in motion.memberships

    def counted(self, motion: Motion, now: int) -> list[str]:
        """The effective electorate: fixed at submission, minus members not active now,
        minus ids whose membership is a new one."""
        return sorted(member for member in motion.electorate & self.active_members(now) if self.in_electorate(motion, member))

    def tally(self, motion: Motion, now: int) -> dict[str, int]:
        positions = [motion.positions.get(member) for member in self.counted(motion, now)]
        return {APPROVE: positions.count(APPROVE), OBJECT: positions.count(OBJECT), ABSTAIN: positions.count(ABSTAIN), "silent": positions.count(None)}

    def adopted(self, motion: Motion, now: int) -> bool:
        """SPEC 5.3: ratification needs every counted member's approval (and one member at
        least); consensus, with or without the concerned, needs no counted objection."""
        positions = [motion.positions.get(member) for member in self.counted(motion, now)]
        if motion.procedure == RATIFICATION:
            return bool(positions) and all(position == APPROVE for position in positions)
        return OBJECT not in positions

    # Judging a submission.

    def judge_submission(self, proposer: str, signers: Sequence[Signer], body: Mapping[str, Any], effect: Mapping[str, Any], now: int) -> str | None:
        refusal = self.speaker(proposer, signers, (MEMBER,), (ACTIVE,), now)
        if refusal:
            return refusal
        category = body["category"]
        if category not in self.categories:
            return "proposal.unknown-category"
        procedure, min_period = self.categories[category]
        period = effect["period"]
        if period <= 0:
            return "proposal.deadline-passed"
        if period < min_period:
            return "proposal.min-period"
        for member in body.get("concerned", []):
            party = self.parties.get(member)
            if party is None or party.role != MEMBER or party.standing(now) not in PRESENT:
                return "proposal.concerned-unknown"
        if not all(self.exists(reference) for reference in body.get("references", [])):
            return "proposal.unknown-reference"
        refusal = self.judge_effect(category, effect, now)
        if refusal:
            return refusal
        if not self.electorate(procedure, body.get("concerned", []), now):
            return "proposal.no-electorate"
        return None

    def judge_effect(self, category: str, effect: Mapping[str, Any], now: int) -> str | None:
        if category == "admission":
            candidate = effect["candidate"]
            party = self.parties.get(candidate)
            if candidate == OPERATOR or (party is not None and (party.standing(now) in PRESENT or party.role == CIVIL_SOCIETY)):
                return "admission.already-admitted"
            pending = any(motion.effect.get("candidate") == candidate for motion in self.motions.values())
            if candidate in self.admissions or pending:
                return "admission.pending"
        if category in ("observer-revocation", "suspension", "key-revocation"):
            party = self.parties.get(effect["subject"])
            want = {"observer-revocation": OBSERVER, "suspension": MEMBER}.get(category)
            if party is None or party.standing(now) not in PRESENT or (want is not None and party.role != want):
                return f"{category}.subject"
            if category == "suspension":
                by_decision = party.suspended_by not in (None, "self")
                if effect["lift"] and not by_decision:
                    return "suspension.not-suspended"
                if not effect["lift"] and by_decision:
                    return "suspension.already-suspended"
            if category == "key-revocation":
                if not party.holds(effect["key"]):
                    return "key.not-valid"
                if effect["replacement"] is None and public(party.keys) == [effect["key"].verifier_key()]:
                    return "key.last-key"
        return None

    def electorate(self, procedure: str, concerned: Sequence[str], now: int) -> frozenset[str]:
        excluded = set(concerned) if procedure == MINUS_CONCERNED else set()
        return frozenset(self.active_members(now) - excluded)

    def submit(self, proposer: str, body: Mapping[str, Any], effect: Mapping[str, Any], now: int, index: int) -> Motion:
        category = body["category"]
        procedure = self.categories[category][0]
        self.proposals += 1
        concerned = tuple(body.get("concerned", ()))
        motion = Motion(
            id=f"P-{self.proposals}",
            proposer=proposer,
            category=category,
            procedure=procedure,
            deadline=now + effect["period"],
            submitted=index,
            electorate=self.electorate(procedure, concerned, now),
            memberships=frozenset((member, self.parties[member].joined) for member in self.electorate(procedure, concerned, now)),
            concerned=concerned,
            effect={name: value for name, value in effect.items() if name != "period"},
        )
        self.motions[motion.id] = motion
        return motion

    def take_effect(self, motion: Motion, decision: str, now: int) -> None:
        """An adopted proposal's effect, from its close on (moot if the subject is gone)."""
        effect = motion.effect
        if motion.category == "admission":
            self.admissions[effect["candidate"]] = (motion.id, effect["role"], effect["key"])
        elif motion.category == "charter-amendment":
            amendment = effect["amendment"]
            for category, rules in amendment.get("categories", {}).items():
                self.categories[category] = (rules["procedure"], DURATIONS[rules["min_period"]])
            self.withdrawal_notice = DURATIONS.get(amendment.get("withdrawal_notice", ""), self.withdrawal_notice)
            self.skew = DURATIONS.get(amendment.get("signed_at_skew", ""), self.skew)
        elif "subject" in effect:
            party = self.parties.get(effect["subject"])
            if party is None or party.standing(now) not in PRESENT or party.joined >= motion.submitted:
                return  # the subject is gone, or is a membership begun since the submission
            if motion.category == "observer-revocation":
                party.revoked_by = decision
            elif motion.category == "suspension":
                party.suspended_by = None if effect["lift"] else decision
            elif motion.category == "key-revocation":
                key, replacement = effect["key"], effect["replacement"]
                if not party.holds(key) or (replacement is None and len(party.keys) == 1):
                    return
                party.keys = [held for held in party.keys if held.verifier_key() != key.verifier_key()]
                party.revoked.append(key)
                if replacement is not None:
                    party.keys.append(replacement)


# The machine.


class CouncilMachine(RuleBasedStateMachine):
    """Random statements against the rules, each judged beforehand by the model."""

    def __init__(self) -> None:
        super().__init__()
        self.scenario = Scenario(members=MEMBERS, observers=OBSERVERS)
        self.model = Council(self.scenario)
        self.generation = 100

    @initialize(data=st.data(), categories=st.lists(st.sampled_from(CATEGORIES[:-1]), min_size=1, max_size=4))
    def proposals_on_the_table(self, data: st.DataObject, categories: list[str]) -> None:
        for category in categories:
            proposer = data.draw(A_MEMBER)
            self.table(data, proposer, category, data.draw(st.sampled_from((HOUR, DAY, 7 * DAY))), self.signers(proposer, "own"))

    @property
    def now(self) -> int:
        return self.scenario.now

    def fresh_key(self, actor: str) -> Signer:
        """A key of ``actor`` never used before anywhere in this run.

        So no key is listed twice, and a decision's replacement key is never one
        its holder adds or revokes itself (see the key tests below).
        """
        self.generation += 1
        return new_signer(actor, self.generation)

    def signers(self, actor: str, signing: str) -> list[Signer]:
        """How ``actor``'s statement is signed: by its own key, a revoked one, another actor's, or one never added."""
        party = self.model.parties.get(actor)
        if signing == "revoked" and party is not None and party.revoked:
            return [party.revoked[-1]]
        if signing == "foreign":
            other = "fr" if actor != "fr" else "de"
            return [self.model.parties[other].keys[0]]
        if signing == "own" and party is not None and party.keys:
            return [party.keys[0]]
        return [new_signer(actor, 99)]

    def pick_proposal(self, data: st.DataObject) -> str:
        """Mostly an open proposal; sometimes a closed, withdrawn or unknown one."""
        if self.model.motions and data.draw(st.integers(0, 3)) > 0:
            return data.draw(st.sampled_from(sorted(self.model.motions)))
        return f"P-{data.draw(st.integers(1, self.model.proposals + 1))}"

    def submit(self, statement: Statement, signers: Sequence[Signer], expected: str | None, logged_at: int | None = None) -> bool:
        """Sign ``statement`` and offer it as the next entry; True if accepted.

        The rules must accept it exactly when the model expects no refusal,
        and otherwise refuse it by the rule the model names.
        """
        now = self.now if logged_at is None else logged_at
        entry = Entry(len(self.scenario.entries), format_time(now), sign_note(statement.to_text(), *signers).to_text())
        return self.offer(entry, statement, expected)

    def offer(self, entry: Entry, statement: Statement, expected: str | None) -> bool:
        expected = self.model.precheck(statement, entry.logged_at_seconds) or expected
        before = self.scenario.state
        fingerprint = repr(before)
        try:
            apply(before, entry)
        except AccordError as error:
            assert repr(before) == fingerprint, "judging a refused statement changed the state before it"
            assert expected is not None, f"refused '{error}' ({reason(error)}), but the model expected acceptance"
            assert reason(error) == expected, f"refused '{error}' ({reason(error)}), but the model expected {expected}"
            again = self.scenario.refused_entry(entry)
            assert (type(again), str(again), reason(again)) == (type(error), str(error), reason(error)), "refusal is not deterministic"
            return False
        assert expected is None, f"accepted {statement.kind} by {statement.actor}, but the model expected refusal by {expected}"
        self.scenario.append(entry)
        assert repr(before) == fingerprint, "applying an entry changed the state before it"
        self.model.nonces.add(statement.nonce)
        self.model.logged_at = entry.logged_at_seconds
        self.model.accepted += 1
        return True

    def say(self, actor: str, kind: str, body: Mapping[str, Any], signers: Sequence[Signer], expected: str | None, skew: int = 0) -> bool:
        statement = self.scenario.statement(actor, kind, body, signed_at=self.now + skew)
        return self.submit(statement, signers, expected)

    # Time.

    @rule(seconds=st.sampled_from((0, 1, HOUR, HOUR, DAY, DAY, 7 * DAY, 30 * DAY, 91 * DAY)))
    def time_passes(self, seconds: int) -> None:
        self.scenario.advance(seconds)

    @rule(data=st.data(), offset=st.sampled_from((-1, 0, 1)))
    def time_reaches_a_deadline_or_a_withdrawal(self, data: st.DataObject, offset: int) -> None:
        """The clock lands just before, on or just after a moment a rule turns on."""
        withdrawals = [party.withdrawal_effective for party in self.model.parties.values() if party.withdrawal_effective is not None]
        deadlines = [motion.deadline for motion in self.model.motions.values()]
        chosen = withdrawals if len(withdrawals) > 0 and data.draw(st.booleans()) else deadlines
        moments = sorted(moment for moment in chosen if moment + offset >= self.now)
        if moments:
            self.scenario.now = data.draw(st.sampled_from(moments)) + offset

    # Proposals.

    @rule(data=st.data(), proposer=A_VOICE, category=st.sampled_from(CATEGORIES), period=PERIODS, signing=SIGNING)
    def propose(self, data: st.DataObject, proposer: str, category: str, period: int, signing: str) -> None:
        self.table(data, proposer, category, period, self.signers(proposer, signing))

    @rule(data=st.data(), proposer=A_MEMBER, category=st.sampled_from(CATEGORIES[:-1] + RATIFIED), period=st.sampled_from((HOUR, DAY, 7 * DAY, 30 * DAY)))
    def member_proposes(self, data: st.DataObject, proposer: str, category: str, period: int) -> None:
        self.table(data, proposer, category, period, self.signers(proposer, "own"))

    def table(self, data: st.DataObject, proposer: str, category: str, period: int, signers: Sequence[Signer]) -> None:
        """Submit a proposal of ``category`` with the fields its category takes, drawn at random."""
        body: dict[str, Any] = {"category": category, "title": f"A {category} proposal", "text": "The council resolves ...", "deadline": format_time(self.now + period)}
        concerned = data.draw(st.lists(A_MEMBER, max_size=2, unique=True))
        if data.draw(st.integers(0, 7)) == 0:
            concerned.append(data.draw(st.sampled_from((*CANDIDATES, "in", STRANGER))))
        if concerned:
            body["concerned"] = concerned
        if data.draw(st.integers(0, 7)) == 0:
            body["references"] = [data.draw(st.sampled_from(("A-1", "D-1", "P-1", "P-3")))]
        effect: dict[str, Any] = {"period": period}
        if category == "admission":
            candidate = data.draw(st.sampled_from((*CANDIDATES, *CANDIDATES, "de")))
            party = self.model.parties.get(candidate)
            role, key = data.draw(st.sampled_from((MEMBER, OBSERVER))), self.fresh_key(candidate)
            body["candidate"] = {"id": candidate, "name": candidate.upper(), "role": role, "keys": [key.verifier_key().to_text()]}
            effect.update(candidate=candidate, role=role, key=key)
        elif category in ("observer-revocation", "suspension"):
            effect["subject"] = body["subject"] = data.draw(st.sampled_from(("in", *MEMBERS, *CANDIDATES)))
            if category == "suspension":
                effect["lift"] = body["lift"] = data.draw(st.booleans())
        elif category == "key-revocation":
            subject = data.draw(st.sampled_from(VOICES))
            party = self.model.parties.get(subject)
            key = data.draw(st.sampled_from(party.keys + party.revoked)) if party else new_signer(subject, 0)
            replacement = self.fresh_key(subject) if data.draw(st.booleans()) else None
            body.update(subject=subject, key=key.verifier_key().to_text())
            if replacement is not None:
                body["replacement"] = replacement.verifier_key().to_text()
            effect.update(subject=subject, key=key, replacement=replacement)
        elif category == "charter-amendment":
            effect["amendment"] = body["amendment"] = data.draw(st.sampled_from(AMENDMENTS))
        expected = self.model.judge_submission(proposer, signers, body, effect, self.now)
        if self.say(proposer, "proposal.submit", body, signers, expected):
            self.model.submit(proposer, body, effect, self.now, len(self.scenario.entries) - 1)

    @rule(data=st.data(), voter=A_VOICE, position=st.sampled_from((APPROVE, APPROVE, OBJECT, ABSTAIN, "veto")), signing=SIGNING, skew=SKEWS)
    def vote(self, data: st.DataObject, voter: str, position: str, signing: str, skew: int) -> None:
        self.cast(voter, self.pick_proposal(data), position, self.signers(voter, signing), skew)

    @rule(data=st.data(), position=st.sampled_from((APPROVE, APPROVE, APPROVE, OBJECT, ABSTAIN)))
    def elector_votes(self, data: st.DataObject, position: str) -> None:
        if self.model.motions:
            motion = self.model.motions[data.draw(st.sampled_from(sorted(self.model.motions)))]
            voter = data.draw(st.sampled_from(sorted(motion.electorate)))
            self.cast(voter, motion.id, position, self.signers(voter, "own"), 0)

    @rule(data=st.data(), closer=st.sampled_from((OPERATOR, *MEMBERS)), dissent=st.sampled_from(("none", "silence", ABSTAIN, OBJECT)), early=st.booleans())
    def electors_decide_and_proposal_closes(self, data: st.DataObject, closer: str, dissent: str, early: bool) -> None:
        """Every elector approves but at most one, who stays silent, abstains or objects; then a
        close, before or at the deadline.

        Near-unanimity is rare by chance: without this, ratification, the
        difference between silence and objection, and early closes would hardly be tried.
        """
        if self.model.motions:
            motion = self.model.motions[data.draw(st.sampled_from(sorted(self.model.motions)))]
            dissenter = data.draw(st.sampled_from(sorted(motion.electorate))) if dissent != "none" else None
            for member in sorted(motion.electorate):
                if member != dissenter or dissent != "silence":
                    self.cast(member, motion.id, dissent if member == dissenter else APPROVE, self.signers(member, "own"), 0)
            if not early:
                self.scenario.now = max(self.now, motion.deadline)
            self.conclude(closer, motion.id, self.signers(closer, "own"))

    def cast(self, voter: str, proposal: str, position: str, signers: Sequence[Signer], skew: int) -> None:
        motion = self.model.motions.get(proposal)
        # Who speaks, then the body's shape, then what it is about.
        expected = self.model.speaker(voter, signers, (MEMBER,), (ACTIVE,), self.now)
        if expected is None and position not in (APPROVE, OBJECT, ABSTAIN):
            expected = "statement.body"
        expected = expected or self.model.open_motion("vote.cast", proposal)
        if expected is None and motion is not None and self.now >= motion.deadline:
            expected = "vote.after-deadline"
        if expected is None and motion is not None and not self.model.in_electorate(motion, voter):
            expected = "vote.not-in-electorate"
        if self.say(voter, "vote.cast", {"proposal": proposal, "position": position}, signers, expected, skew):
            assert motion is not None
            party = self.model.parties[voter]
            assert party.role == MEMBER and party.standing(self.now) == ACTIVE, f"a vote by {voter}, {party.role} {party.standing(self.now)}, was accepted"
            assert self.now < motion.deadline and self.model.in_electorate(motion, voter)
            motion.positions[voter] = position

    @rule(data=st.data(), closer=st.one_of(st.just(OPERATOR), A_VOICE), forgery=st.sampled_from(("none",) * 6 + ("submission", "outcome", "tally", "decision")), signing=SIGNING)
    def close(self, data: st.DataObject, closer: str, forgery: str, signing: str) -> None:
        self.conclude(closer, self.pick_proposal(data), self.signers(closer, signing), forgery)

    def conclude(self, closer: str, proposal: str, signers: Sequence[Signer], forgery: str = "none") -> None:
        """Close ``proposal`` with the model's own tally, outcome and decision number, or one of them forged."""
        motion = self.model.motions.get(proposal)
        expected = self.model.speaker(closer, signers, (MEMBER, OPERATOR_ROLE), (ACTIVE,), self.now) or self.model.open_motion("proposal.close", proposal)
        tally = {APPROVE: 0, OBJECT: 0, ABSTAIN: 0, "silent": 0}
        adopted, submission = False, 0
        if motion is not None:
            tally, adopted, submission = self.model.tally(motion, self.now), self.model.adopted(motion, self.now), motion.submitted
            if forgery == "submission":
                submission += 1
                expected = expected or "proposal.close-submission"
            unanimous = tally[APPROVE] > 0 and tally[APPROVE] == sum(tally.values())
            if expected is None and self.now < motion.deadline and not unanimous:
                expected = "proposal.close-early"
        outcome = "adopted" if adopted else "rejected"
        if forgery == "outcome":
            outcome = "rejected" if adopted else "adopted"
            expected = expected or "proposal.close-outcome"
        elif forgery == "tally":
            tally = {**tally, "silent": tally["silent"] + 1}
            expected = expected or "proposal.close-tally"
        body: dict[str, Any] = {"proposal": proposal, "submission": submission, "outcome": outcome, "tally": tally}
        if adopted:
            body["decision"] = f"D-{self.model.decisions + 1}"
        if forgery == "decision":
            # A decision number skipping one, or one claimed for a rejection.
            body["decision"] = f"D-{self.model.decisions + 2}"
            expected = expected or "proposal.close-decision"
        decisions = self.scenario.state.decisions
        if self.say(closer, "proposal.close", body, signers, expected):
            assert motion is not None
            assert self.scenario.state.decisions == decisions + adopted, "decisions are not numbered consecutively on adoption"
            last = [motion.positions.get(member) for member in self.model.counted(motion, self.now)]
            if motion.procedure == RATIFICATION:
                assert adopted == (bool(last) and set(last) == {APPROVE}), "ratified without every counted member's approval"
            else:
                assert adopted == (OBJECT not in last), "consensus adopted over an objection, or blocked without one"
            del self.model.motions[proposal]
            if adopted:
                self.model.decisions += 1
                self.model.take_effect(motion, f"D-{self.model.decisions}", self.now)

    @rule(data=st.data(), closer=st.sampled_from((OPERATOR, *MEMBERS)))
    def deadline_passes_and_proposal_closes(self, data: st.DataObject, closer: str) -> None:
        if self.model.motions:
            proposal = data.draw(st.sampled_from(sorted(self.model.motions)))
            self.scenario.now = max(self.now, self.model.motions[proposal].deadline)
            self.conclude(closer, proposal, self.signers(closer, "own"))

    @rule(data=st.data(), member=A_VOICE, signing=SIGNING)
    def proposal_withdrawn(self, data: st.DataObject, member: str, signing: str) -> None:
        proposal = self.pick_proposal(data)
        signers = self.signers(member, signing)
        expected = self.model.speaker(member, signers, (MEMBER,), PRESENT, self.now) or self.model.open_motion("proposal.withdraw", proposal)
        if expected is None and self.model.motions[proposal].proposer != member:
            expected = "proposal.not-proposer"
        if self.say(member, "proposal.withdraw", {"proposal": proposal}, signers, expected):
            del self.model.motions[proposal]

    @rule(member=A_VOICE, number=st.integers(1, 3), attachment=st.sampled_from(("reservation", "interpretative", "veto")), signing=SIGNING)
    def decision_attached(self, member: str, number: int, attachment: str, signing: str) -> None:
        signers = self.signers(member, signing)
        expected = self.model.speaker(member, signers, (MEMBER,), PRESENT, self.now)
        if expected is None and attachment == "veto":
            expected = "statement.body"  # the body's shape, before what it is about
        if expected is None and not self.model.exists(f"D-{number}"):
            expected = "decision.attach.unknown-reference"
        self.say(member, "decision.attach", {"decision": f"D-{number}", "type": attachment, "text": "Our reading of it."}, signers, expected)

    # Membership and keys.

    @rule(member=A_MEMBER, act=st.sampled_from(MEMBERSHIP_ACTS))
    def member_acts_on_its_membership(self, member: str, act: str) -> None:
        self.membership(member, act, "own")

    @rule(actor=A_VOICE, act=st.sampled_from(MEMBERSHIP_ACTS), signing=SIGNING)
    def anyone_acts_on_a_membership(self, actor: str, act: str, signing: str) -> None:
        self.membership(actor, act, signing)

    def membership(self, member: str, act: str, signing: str) -> None:
        signers = self.signers(member, signing)
        standings = {"membership.suspend": (ACTIVE,), "membership.resume": (SUSPENDED,), "membership.withdraw": PRESENT}[act]
        expected = self.model.speaker(member, signers, (MEMBER,), standings, self.now)
        party = self.model.parties.get(member)
        if expected is None and party is not None:
            if act == "membership.resume" and party.suspended_by != "self":
                expected = "membership.resume-not-self"
            if act == "membership.withdraw" and party.withdrawal_effective is not None:
                expected = "membership.already-withdrawing"
        if self.say(member, act, {}, signers, expected):
            assert party is not None
            if act == "membership.withdraw":
                party.withdrawal_effective = self.now + self.model.withdrawal_notice
            else:
                party.suspended_by = "self" if act == "membership.suspend" else None

    @rule(actor=A_VOICE, proof=st.sampled_from(("both", "both", "both", "old key only", "new key only")), again=st.booleans())
    def key_added(self, actor: str, proof: str, again: bool) -> None:
        party = self.model.parties.get(actor)
        old = self.signers(actor, "own")[0]
        new = party.revoked[0] if again and party is not None and party.revoked else self.fresh_key(actor)
        signers = {"both": [old, new], "old key only": [old], "new key only": [new]}[proof]
        expected = self.model.speaker(actor, signers, EVERY_ROLE, PRESENT, self.now)
        if expected is None and party is not None and party.held(new):
            expected = "key.already-held"
        if expected is None and proof == "old key only":
            expected = "signature"
        if self.say(actor, "key.add", {"key": new.verifier_key().to_text()}, signers, expected):
            assert party is not None
            party.keys.append(new)

    @rule(data=st.data(), actor=A_VOICE, replaced=st.booleans(), proven=st.sampled_from((True, True, True, False)))
    def key_revoked(self, data: st.DataObject, actor: str, replaced: bool, proven: bool) -> None:
        party = self.model.parties.get(actor)
        key = data.draw(st.sampled_from(party.keys + party.revoked)) if party else new_signer(actor, 0)
        signer = data.draw(st.sampled_from(party.keys)) if party and party.keys else key
        replacement = self.fresh_key(actor) if replaced else None
        signers = [signer, replacement] if replacement is not None and proven else [signer]
        body = {"key": key.verifier_key().to_text()}
        if replacement is not None:
            body["replacement"] = replacement.verifier_key().to_text()
        expected = self.model.speaker(actor, signers, EVERY_ROLE, PRESENT, self.now)
        if expected is None and party is not None:
            if not party.holds(key):
                expected = "key.not-valid"
            elif replacement is None and len(party.keys) == 1:
                expected = "key.last-key"
            elif replacement is not None and not proven:
                expected = "signature"
        if self.say(actor, "key.revoke", body, signers, expected):
            assert party is not None
            party.keys = [held for held in party.keys if held.verifier_key() != key.verifier_key()]
            party.revoked.append(key)
            if replacement is not None:
                party.keys.append(replacement)

    # Candidates and civil society.

    @rule(data=st.data(), right_proposal=st.sampled_from((True, True, False)), right_key=st.sampled_from((True, True, False)))
    def accession(self, data: st.DataObject, right_proposal: bool, right_key: bool) -> None:
        awaiting = sorted(self.model.admissions)
        candidate = data.draw(st.sampled_from(awaiting) if len(awaiting) > 0 and data.draw(st.integers(0, 3)) > 0 else st.sampled_from(CANDIDATES))
        admission = self.model.admissions.get(candidate)
        proposal, role, key = admission if admission else ("P-1", MEMBER, new_signer(candidate, 0))
        signers = [key if right_key else new_signer(candidate, 98)]
        expected = None
        if admission is None:
            expected = "accession.not-admitted"
        elif not right_proposal:
            expected = "accession.wrong-proposal"
        elif not right_key:
            expected = "signature"
        if self.say(candidate, "accession", {"proposal": proposal if right_proposal else "P-99"}, signers, expected):
            self.model.parties[candidate] = Party(role, [key], joined=len(self.scenario.entries) - 1)
            del self.model.admissions[candidate]

    @rule(organization=st.sampled_from((*ORGANIZATIONS, *ORGANIZATIONS, "de", OPERATOR)), proven=st.sampled_from((True, True, True, False)))
    def civil_society_registers(self, organization: str, proven: bool) -> None:
        key = self.fresh_key(organization)
        body = {"name": organization.upper(), "kind": "ngo", "countries": ["de"], "keys": [key.verifier_key().to_text()]}
        expected = None
        if organization in self.model.parties:
            expected = "civil-society.id-taken"
        elif not proven:
            expected = "signature"
        if self.say(organization, "civil-society.register", body, [key if proven else new_signer(organization, 97)], expected):
            self.model.parties[organization] = Party(CIVIL_SOCIETY, [key])

    @rule(data=st.data(), organization=st.sampled_from((*ORGANIZATIONS, "de", "in")), signing=SIGNING)
    def appeal_filed(self, data: st.DataObject, organization: str, signing: str) -> None:
        concerned = data.draw(st.lists(st.sampled_from((*MEMBERS, "in", STRANGER, OPERATOR)), max_size=2, unique=True))
        signers = self.signers(organization, signing)
        expected = self.model.speaker(organization, signers, (CIVIL_SOCIETY,), (ACTIVE,), self.now)
        if expected is None and not all(actor in self.model.parties for actor in concerned):
            expected = "appeal.concerned-unknown"
        body = {"title": "Border tensions", "text": "Workers report ...", "concerned": concerned, "urgency": "high"}
        if self.say(organization, "appeal.file", body, signers, expected):
            self.model.appeals += 1

    @rule(actor=st.one_of(st.just(OPERATOR), A_VOICE), kind=st.sampled_from(("appeal.acknowledge", "appeal.answer")), number=st.integers(1, 3), signing=SIGNING)
    def appeal_answered(self, actor: str, kind: str, number: int, signing: str) -> None:
        signers = self.signers(actor, signing)
        expected = self.model.speaker(actor, signers, (MEMBER, OPERATOR_ROLE), (ACTIVE,), self.now)
        if expected is None and not self.model.exists(f"A-{number}"):
            expected = f"{kind}.unknown-reference"
        self.say(actor, kind, {"appeal": f"A-{number}", "text": "Referred to the council."}, signers, expected)

    # Statements, replays and misdated entries.

    @rule(actor=st.sampled_from(VOICES), about=st.sampled_from((None, None, "P-1", "P-3", "D-1", "A-1")), signing=SIGNING, skew=SKEWS)
    def statement_made(self, actor: str, about: str | None, signing: str, skew: int) -> None:
        signers = self.signers(actor, signing)
        expected = self.model.speaker(actor, signers, EVERY_ROLE, PRESENT, self.now)
        if expected is None and about is not None and not self.model.exists(about):
            expected = "statement.make.unknown-reference"
        body = {"text": "India offers to mediate."} | ({"about": about} if about else {})
        self.say(actor, "statement.make", body, signers, expected, skew)

    @rule(data=st.data())
    def statement_replayed(self, data: st.DataObject) -> None:
        """An entry's statement offered again: a duplicate, or too old to pass the skew."""
        entries = self.scenario.entries
        if len(entries) > 1:
            old = entries[data.draw(st.integers(1, len(entries) - 1))]
            _, statement = read_statement(old.statement)
            replay = Entry(len(entries), format_time(self.now), old.statement)
            assert not self.offer(replay, statement, "statement.duplicate")

    @rule(flaw=st.sampled_from(("logged before its predecessor", "for another origin")))
    def entry_misdated_or_misaddressed(self, flaw: str) -> None:
        if flaw == "logged before its predecessor":
            before = self.scenario.state.logged_at - 1
            statement = self.scenario.statement("de", "statement.make", {"text": "backdated"}, signed_at=before)
            assert not self.submit(statement, self.signers("de", "own"), "entry.logged-at", logged_at=before)
        else:
            statement = self.scenario.statement("de", "statement.make", {"text": "elsewhere"}, origin="accord.test/other")
            assert not self.submit(statement, self.signers("de", "own"), "statement.origin")

    # What must hold after every step.

    @invariant()
    def log_counts_match(self) -> None:
        state, entries = self.scenario.state, self.scenario.entries
        assert state.size == len(entries) == self.model.accepted + 1
        times = [entry.logged_at_seconds for entry in entries]
        assert times == sorted(times) and state.logged_at == times[-1], "logged_at decreased"
        assert (state.proposals, state.decisions, state.appeals) == (self.model.proposals, self.model.decisions, self.model.appeals)

    @invariant()
    def actors_match_the_model(self) -> None:
        state = self.scenario.state
        assert sorted(state.actors) == sorted(self.model.parties)
        for actor_id, actor in state.actors.items():
            party = self.model.parties[actor_id]
            assert (actor.role, actor.standing(self.now)) == (party.role, party.standing(self.now)), actor_id
            assert actor.valid_keys() == public(party.keys), f"valid keys of {actor_id}"
            assert set(actor.revoked_keys()) == set(public(party.revoked)), f"revoked keys of {actor_id}"
            if actor.standing(self.now) in PRESENT:
                assert actor.valid_keys(), f"{actor_id} is left without a valid key"
        pending = {candidate: (admission.proposal, admission.candidate["role"]) for candidate, admission in state.admissions.items()}
        assert pending == {candidate: (proposal, role) for candidate, (proposal, role, _) in self.model.admissions.items()}

    @invariant()
    def open_proposals_match_the_model(self) -> None:
        state = self.scenario.state
        assert sorted(state.open_proposals) == sorted(self.model.motions)
        for proposal_id, proposal in state.open_proposals.items():
            motion = self.model.motions[proposal_id]
            assert all(self.model.parties[member].role == MEMBER for member in proposal.electorate), f"a non-member in the electorate of {proposal_id}"
            if proposal.procedure == MINUS_CONCERNED:
                assert not set(proposal.electorate) & set(proposal.concerned), f"a concerned member in the electorate of {proposal_id}"
            assert proposal.electorate == tuple(sorted(motion.electorate)), f"electorate of {proposal_id}"
            assert dict(proposal.positions) == motion.positions, f"positions on {proposal_id}"
            assert (proposal.procedure, proposal.deadline, proposal.submitted, proposal.concerned) == (motion.procedure, motion.deadline, motion.submitted, motion.concerned)

    @invariant()
    def settings_match_the_model(self) -> None:
        settings_now = self.scenario.state.settings
        categories = {name: (rules.procedure, rules.min_period_seconds) for name, rules in settings_now.categories.items()}
        assert categories == self.model.categories
        assert (settings_now.withdrawal_notice_seconds, settings_now.signed_at_skew_seconds) == (self.model.withdrawal_notice, self.model.skew)

    def teardown(self) -> None:
        """Replay determinism: folding the log from nothing, twice, or from a state halfway
        (as incremental verification does), gives the state the steps built."""
        entries = self.scenario.entries
        first, second = fold(entries), fold(entries)
        assert first == second == self.scenario.state
        halfway = len(entries) // 2
        assert fold(entries[halfway:], fold(entries[:halfway])) == self.scenario.state


def test_random_statements_keep_state_consistent_with_a_model_of_the_rules() -> None:
    run_state_machine_as_test(
        CouncilMachine,
        settings=settings(max_examples=120, stateful_step_count=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]),
    )


# Rule bugs the machine steers around, each pinned by its shortest sequence.
# They are expected to fail until the rule is fixed; strict, so a fix shows up as XPASS.


def test_key_listed_twice_does_not_let_the_last_key_be_revoked() -> None:
    council = Scenario()
    key = council.keys["etuc"] = new_signer("etuc")
    registration = {"name": "ETUC", "kind": "trade-union", "countries": ["de"], "keys": [key.verifier_key().to_text()] * 2}
    try:
        council.do("etuc", "civil-society.register", registration)
    except RuleViolation:
        return  # refusing a key listed twice keeps the rule as well
    error = council.refused("etuc", "key.revoke", {"key": key.verifier_key().to_text()})
    assert isinstance(error, RuleViolation) and error.rule == "key.last-key"


def test_key_revoked_by_its_holder_is_not_revived_by_a_key_revocation_decision() -> None:
    council = Scenario()
    old, spare = council.keys["ua"], new_signer("ua", 1)
    proposal = council.propose(
        category="key-revocation", subject="ua", key=old.verifier_key().to_text(), replacement=spare.verifier_key().to_text(), concerned=["ua"]
    )
    council.do("ua", "key.add", {"key": spare.verifier_key().to_text()}, signers=[old, spare])
    council.do("ua", "key.revoke", {"key": spare.verifier_key().to_text()}, signers=[old])
    council.after_deadline(proposal)
    council.close(proposal)
    assert spare.verifier_key() not in council.state.actors["ua"].valid_keys()
    error = council.refused("ua", "statement.make", {"text": "signed with the revoked spare"}, signers=[spare])
    assert str(error) == f"statement.make: signature by revoked key ua+{spare.key_id.hex()}"


def test_replacement_added_by_its_holder_before_the_decision_is_not_held_twice() -> None:
    council = Scenario()
    old, spare = council.keys["ua"], new_signer("ua", 1)
    proposal = council.propose(
        category="key-revocation", subject="ua", key=old.verifier_key().to_text(), replacement=spare.verifier_key().to_text(), concerned=["ua"]
    )
    council.do("ua", "key.add", {"key": spare.verifier_key().to_text()}, signers=[old, spare])
    council.after_deadline(proposal)
    council.close(proposal)
    assert council.state.actors["ua"].valid_keys() == [spare.verifier_key()]
    error = council.refused("ua", "key.revoke", {"key": spare.verifier_key().to_text()}, signers=[spare])
    assert isinstance(error, RuleViolation) and error.rule == "key.last-key"


def test_replay_is_refused_after_an_amendment_widens_the_signed_at_skew() -> None:
    council = Scenario()
    said = council.entry(council.statement("de", "statement.make", {"text": "once"}))
    council.append(said)
    council.advance(10 * DAY)
    proposal = council.propose(category="charter-amendment", amendment={"signed_at_skew": "30d"})
    for member in council.state.open_proposals[proposal].electorate:
        council.vote(member, proposal, "approve")
    council.close(proposal)
    error = council.refused_entry(Entry(len(council.entries), format_time(council.now), said.statement))
    # Its nonce is forgotten, so the log refuses it as older than its replay memory reaches.
    assert isinstance(error, RuleViolation) and error.rule == "statement.too-old"
    assert str(error) == f"statement.make: signed_at {read_statement(said.statement)[1].signed_at} is before {format_time(council.state.nonce_floor)}, from which on the log can still tell a replay"


def test_civil_society_cannot_take_the_id_of_an_admitted_candidate() -> None:
    council = Scenario()
    candidate = new_signer("md")
    proposal = council.propose(category="admission", candidate={"id": "md", "name": "Moldova", "role": "member", "keys": [candidate.verifier_key().to_text()]})
    squatter = council.keys["md"] = new_signer("md", 7)
    registration = {"name": "Squatters", "kind": "ngo", "countries": ["md"], "keys": [squatter.verifier_key().to_text()]}
    try:
        council.do("md", "civil-society.register", registration)
    except RuleViolation as taken:
        assert taken.rule == "civil-society.id-taken"
        return
    council.after_deadline(proposal)
    council.close(proposal)
    council.keys["md"] = candidate
    assert isinstance(council.refused("md", "accession", {"proposal": proposal}), RuleViolation)
    assert council.state.actors["md"].role == "civil-society"


def test_observer_revocation_never_revokes_a_member_admitted_since() -> None:
    council = Scenario()
    first = council.propose(category="observer-revocation", subject="in", period=DAY)
    second = council.propose(category="observer-revocation", subject="in", period=30 * DAY)
    council.after_deadline(first)
    council.close(first)
    key = new_signer("in", 1)
    admission = council.propose(category="admission", period=DAY, candidate={"id": "in", "name": "India", "role": "member", "keys": [key.verifier_key().to_text()]})
    council.after_deadline(admission)
    council.close(admission)
    council.keys["in"] = key
    council.do("in", "accession", {"proposal": admission})
    council.after_deadline(second)
    council.close(second)
    assert council.state.actors["in"].standing(council.now) == ACTIVE


@given(number=st.text(alphabet="0123456789\u0661\u00b2\u2460-x", max_size=3))
@settings(max_examples=200, deadline=None)
def test_reference_is_accepted_only_in_canonical_form(number: str) -> None:
    council = council_with_one_decision()
    entry = council.entry(council.statement("de", "statement.make", {"text": "About it.", "about": f"D-{number}"}))
    if number == "1":
        assert apply(council.state, entry).size == council.state.size + 1
    else:
        error = council.refused_entry(entry)
        assert isinstance(error, RuleViolation) and error.rule == "statement.make.unknown-reference"


@functools.cache
def council_with_one_decision() -> Scenario:
    """Built once: the examples only judge statements against its state, never append."""
    council = Scenario()
    proposal = council.propose()
    council.after_deadline(proposal)
    council.close(proposal)
    return council


def test_close_with_a_tally_of_booleans_is_refused() -> None:
    council = Scenario(members=("de",), observers=())
    proposal = council.propose()
    council.vote("de", proposal, APPROVE)
    tally = {APPROVE: True, OBJECT: False, ABSTAIN: False, "silent": False}
    body = {"proposal": proposal, "submission": 1, "outcome": "adopted", "tally": tally, "decision": "D-1"}
    error = council.refused(OPERATOR, "proposal.close", body)
    assert isinstance(error, RuleViolation) and error.rule == "proposal.close-tally"
