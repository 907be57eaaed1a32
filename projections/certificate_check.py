"""Checking a decision certificate on its own: signatures and proofs first, then what the statements say.

What a certificate proves, with nothing but the file and the pinned trust
anchor: every entry it holds is in the log under the operator's checkpoint;
each is signed by a key its actor held from an earlier entry; the votes are
on this proposal, logged before its deadline, one per member; the close's
tally counts exactly those votes and, under the category's procedure, means
adoption. With witness keys, the checkpoint is cosigned by them. Under a
policy (SPEC 12), also: each counted vote was in the log by the witnesses'
time T <= deadline + witness_lag (a quorum of the policy's witnesses
cosigned a checkpoint holding it by then), and no entry it holds is
forward- or backdated against the witnessed checkpoints it carries. What it
cannot prove without the whole log (that no key was revoked in between, that
no other vote came later) the log's rules checked when each entry was
appended, and any auditor can check again with ``accord verify``.

:func:`verify_certificate` is written as numbered steps; each refusal names
its step, and no statement body is believed before its signature and its
inclusion are checked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from domain.bodies import Accession, Body, CivilSocietyRegister, KeyAdd, KeyRevoke, ProposalClose, ProposalSubmit, VoteCast, parse_body
from domain.charter import OPERATOR, Settings
from domain.founding import parse_charter
from domain.rules import read_statement
from domain.state import ABSTAIN, APPROVE, OBJECT
from domain.voting import ADOPTED, outcome
from ledger.checkpoint import Checkpoint, open_checkpoint, verify_cosignatures
from ledger.entry import Entry
from ledger.errors import AccordError, MalformedError, VerificationError
from ledger.keys import VerifierKey
from ledger.merkle import verify_consistency, verify_inclusion
from ledger.note import Note, known_signers
from ledger.policy import Policy
from ledger.statement import Statement
from projections.certificate import COMPONENT, Certificate
from projections.witnessed import Sighting, WitnessedTime, check_witnessed_by, first_sightings, sightings, trusted_witnesses

STEPS = {
    1: "document",
    2: "anchor",
    3: "checkpoint",
    4: "inclusion",
    5: "signatures",
    6: "decision",
    7: "witnessed time",
}


SELF_INTRODUCING = ("accession", "civil-society.register")


def _fail(step: int, problem: str) -> VerificationError:
    return VerificationError(COMPONENT, f"step {step} ({STEPS[step]}): {problem}")


@dataclass(frozen=True)
class Certified:
    """A decision that a certificate proved."""

    decision: str
    proposal: str
    title: str
    category: str
    procedure: str
    tally: Mapping[str, int]
    close_index: int
    checkpoint: Checkpoint
    cosigners: list[VerifierKey]
    witnessed: Mapping[int, Mapping[str, Sighting]]
    """Under a policy: per counted vote and the close, the witnesses' earliest sightings in time."""


class _Keys:
    """Which key each actor held from which entry on, as the certificate's entries introduce them."""

    def __init__(self) -> None:
        self.held: dict[str, list[tuple[int, VerifierKey, bool]]] = {}

    def add(self, actor: str, key: VerifierKey, index: int, proves_itself: bool = False) -> None:
        """``proves_itself``: the introducing entry is signed by the key it introduces
        (an accession, a registration), which the log's rules required."""
        self.held.setdefault(actor, []).append((index, key, proves_itself))

    def signing(self, actor: str, index: int) -> list[VerifierKey]:
        """The keys that may have signed entry ``index``: held from before it, or introduced by it to prove possession."""
        return [key for since, key, proves in self.held.get(actor, []) if since < index or (since == index and proves)]


def _introduce(keys: _Keys, index: int, actor: str, body: Body, bodies: Mapping[int, Body]) -> None:
    """Record the keys entry ``index`` (by ``actor``) introduces, from the earlier included entries it rests on."""
    if isinstance(body, KeyAdd):
        keys.add(actor, body.key, index)
    elif isinstance(body, KeyRevoke) and body.replacement is not None:
        keys.add(actor, body.replacement, index)
    elif isinstance(body, CivilSocietyRegister):
        for key in body.keys:
            keys.add(actor, key, index, proves_itself=True)
    elif isinstance(body, Accession):
        for close_index, close in bodies.items():
            if close_index < index and isinstance(close, ProposalClose) and close.outcome == ADOPTED and close.proposal == body.proposal:
                candidate = _submission(bodies, close_index, 5).effect.candidate
                if candidate is not None and candidate.id == actor:
                    for key in candidate.keys:
                        keys.add(actor, key, index, proves_itself=True)
    elif isinstance(body, ProposalClose) and body.outcome == ADOPTED:
        submitted = _submission(bodies, index, 5)
        effect = submitted.effect
        if submitted.category == "key-revocation" and effect.subject is not None and effect.replacement is not None:
            keys.add(effect.subject, effect.replacement, index)


def verify_certificate(
    text: str, anchor: bytes, witnesses: Sequence[VerifierKey] = (), quorum: int = 0, policy: Policy | None = None
) -> Certified:
    """Check a certificate on its own, pinned to the charter's leaf hash ``anchor``.

    ``witnesses``/``quorum``: that many of these keys must have cosigned its
    checkpoint. ``policy``: its quorum must have. Either way witnessed time
    (step 7) is checked against those witnesses. Raises MalformedError (step 1) or VerificationError naming
    the step and the entry at fault.
    """
    # Step 1: the document, read strictly; every entry and note parsed (shape only, nothing believed).
    try:
        certificate = Certificate.from_text(text)
        entries: dict[int, Entry] = {}
        for item in certificate.entries:
            entry = Entry.from_bytes(item.data)
            if entry.index != item.index or item.index in entries:
                raise MalformedError(COMPONENT, f"entry {item.index} is listed twice or under another index")
            entries[item.index] = entry
        notes = {index: read_statement(entry.statement) for index, entry in sorted(entries.items())}
    except AccordError as error:
        problem = error.problem if error.component == COMPONENT else str(error)
        raise MalformedError(COMPONENT, f"step 1 ({STEPS[1]}): {problem}") from error
    statements = {index: statement for index, (_, statement) in notes.items()}

    # Step 2: the charter is the pinned trust anchor; only now is its body read (as the log founded it).
    if 0 not in entries or entries[0].leaf_hash() != anchor:
        raise _fail(2, "the charter is missing or is not the pinned trust anchor")
    try:
        charter = parse_charter(statements[0])
    except AccordError as error:
        raise _fail(2, f"the pinned charter cannot be read: {error}") from error
    origin, settings = charter.settings.origin, charter.settings
    keys = _Keys()
    keys.add(OPERATOR, charter.operator, -1)
    for founder in charter.founders:
        for key in founder.keys:
            keys.add(founder.id, key, -1)

    # Step 3: the checkpoint is signed by the operator (the charter's key, or one an included entry
    # gave it, which steps 4 and 5 then prove), of the charter's origin, cosigned as required.
    operator_keys = [key for _, key, _ in keys.held[OPERATOR]] + _operator_keys_introduced(statements)
    checkpoint, note = _open(certificate.checkpoint, operator_keys, origin, "its checkpoint")
    try:
        cosigners = verify_cosignatures(note, witnesses, quorum)
        if policy is not None:
            policy.check(note)
    except AccordError as error:
        raise _fail(3, f"its checkpoint: {error}") from error
    smaller = [_open(w.note, operator_keys, origin, f"witnessed checkpoint {n}")[0] for n, w in enumerate(certificate.witnessed)]
    timed = trusted_witnesses(policy, witnesses, quorum)
    seen: list[Sighting] = []
    if timed is not None:
        try:
            seen = sightings([certificate.checkpoint, *(w.note for w in certificate.witnessed)], timed)
        except AccordError as error:
            raise _fail(3, str(error)) from error

    # Step 4: every entry is in the log under that checkpoint; every witnessed checkpoint is a prefix of it.
    for item in certificate.entries:
        try:
            verify_inclusion(item.index, checkpoint.size, entries[item.index].leaf_hash(), item.proof, checkpoint.root_hash)
        except AccordError as error:
            raise _fail(4, f"entry {item.index} is not in the log under the checkpoint: {error}") from error
    for number, (witnessed, small) in enumerate(zip(certificate.witnessed, smaller)):
        try:
            verify_consistency(small.size, checkpoint.size, small.root_hash, checkpoint.root_hash, witnessed.consistency)
        except AccordError as error:
            raise _fail(4, f"witnessed checkpoint {number} (size {small.size}) is not a prefix of the checkpoint: {error}") from error

    # Step 5: each entry is signed by a key its actor held from an earlier entry; its body is read
    # (in its kind's typed shape, as the log's rules read it) only once its signature holds.
    bodies: dict[int, Body] = {}
    for index, (signed, statement) in notes.items():
        if index == 0:
            continue
        # An accession or a registration is signed by the key it introduces (its possession proven):
        # that key is taken first, from the (verified) admission or from the entry itself.
        proves_itself = statement.kind in SELF_INTRODUCING
        if proves_itself:
            bodies[index] = _body(index, statement)
            _introduce(keys, index, statement.actor, bodies[index], bodies)
        try:
            by = known_signers(signed, keys.signing(statement.actor, index))
        except AccordError as error:
            raise _fail(5, f"entry {index} ({statement.kind}): {error}") from error
        if not by:
            raise _fail(5, f"entry {index} ({statement.kind}) is not signed by a key {statement.actor} held before it")
        if not proves_itself:
            bodies[index] = _body(index, statement)
            _introduce(keys, index, statement.actor, bodies[index], bodies)
    operator_held = {key for _, key, _ in keys.held[OPERATOR]}
    if not any(signature.made_by(key) for signature in note.signatures for key in operator_held):
        raise _fail(5, "its checkpoint is not signed by a key the operator held")

    # Step 6: only now, what the statements say: the proposal, the votes, the close.
    certified = _check_decision(certificate, statements, bodies, entries, settings, checkpoint, cosigners)

    # Step 7: under a policy (or named witnesses), witnessed time bounds the votes and the close.
    if timed is None:
        return certified
    return _check_witnessed(certified, entries, statements, bodies, settings, seen, timed)


def _body(index: int, statement: Statement) -> Body:
    """The typed body of entry ``index``: the shape check the writer ran when it was appended."""
    try:
        return parse_body(statement)
    except AccordError as error:
        raise _fail(5, f"entry {index} ({statement.kind}): {error}") from error


def _operator_keys_introduced(statements: Mapping[int, Statement]) -> list[VerifierKey]:
    """Keys the operator's own included key entries name: candidates for step 3, whose entries step 5 then proves."""
    found = []
    for statement in statements.values():
        if statement.actor == OPERATOR and statement.kind in ("key.add", "key.revoke"):
            try:
                body = parse_body(statement)
            except AccordError:
                continue  # step 5 names it
            if isinstance(body, KeyAdd):
                found.append(body.key)
            elif isinstance(body, KeyRevoke) and body.replacement is not None:
                found.append(body.replacement)
    return found


def _open(note_text: str, operator_keys: Sequence[VerifierKey], origin: str, what: str) -> tuple[Checkpoint, Note]:
    for key in operator_keys:
        try:
            checkpoint, note = open_checkpoint(note_text, key)
        except AccordError:
            continue
        if checkpoint.origin != origin:
            raise _fail(3, f"{what} is of origin {checkpoint.origin!r}, the charter of {origin!r}")
        return checkpoint, note
    raise _fail(3, f"{what} is not signed by the operator")


def _adopted(bodies: Mapping[int, Body], index: int, step: int) -> tuple[ProposalClose, ProposalSubmit]:
    """The adopting close at ``index`` and the submission it decides, both included."""
    close = bodies.get(index)
    if not isinstance(close, ProposalClose) or close.outcome != ADOPTED:
        raise _fail(step, f"entry {index} is not an included close that adopted a proposal")
    submitted = bodies.get(close.submission)
    if not isinstance(submitted, ProposalSubmit):
        raise _fail(step, f"the submission that the close at entry {index} decides is not included")
    return close, submitted


def _submission(bodies: Mapping[int, Body], index: int, step: int) -> ProposalSubmit:
    """The submission that the adopting close at ``index`` decides, included too."""
    return _adopted(bodies, index, step)[1]


def _settings_at(bodies: Mapping[int, Body], settings: Settings, close_index: int) -> Settings:
    """The charter's settings, with every included amendment adopted before the close applied in order."""
    for index, body in sorted(bodies.items()):
        if index < close_index and isinstance(body, ProposalClose) and body.outcome == ADOPTED:
            amendment = _submission(bodies, index, 6).effect.amendment
            if amendment is not None:
                settings = settings.amended(amendment)
    return settings


def _check_decision(
    certificate: Certificate,
    statements: Mapping[int, Statement],
    bodies: Mapping[int, Body],
    entries: Mapping[int, Entry],
    settings: Settings,
    checkpoint: Checkpoint,
    cosigners: list[VerifierKey],
) -> Certified:
    close_index, proposal_id, decision_id = certificate.close, certificate.proposal, certificate.decision
    close, proposal = _adopted(bodies, close_index, 6)
    if close.proposal != proposal_id:
        raise _fail(6, f"entry {close_index} closes {close.proposal}, not {proposal_id}")
    if close.decision != decision_id:
        raise _fail(6, f"the close at entry {close_index} creates {close.decision}, not {decision_id}")
    votes: dict[str, str] = {}
    for index, body in sorted(bodies.items()):
        if not isinstance(body, VoteCast) or body.proposal != proposal_id:
            continue
        if not close.submission < index < close_index or entries[index].logged_at_seconds >= proposal.deadline:
            raise _fail(6, f"vote at entry {index} is not between the proposal and its deadline {proposal.deadline_text}")
        actor = statements[index].actor
        if actor in votes:
            raise _fail(6, f"{actor} has two counted votes (the second at entry {index})")
        votes[actor] = body.position
    tally, tally_json = close.tally, dict(close.tally_json)
    positions = list(votes.values())
    counts = {APPROVE: positions.count(APPROVE), OBJECT: positions.count(OBJECT), ABSTAIN: positions.count(ABSTAIN)}
    if tally is None or any(tally.to_json()[name] != count for name, count in counts.items()):
        raise _fail(6, f"the close's tally {tally_json} does not count the votes it rests on {counts}")
    categories = _settings_at(bodies, settings, close_index).categories
    if proposal.category not in categories:
        raise _fail(6, f"category {proposal.category!r} is not in the charter")
    procedure = categories[proposal.category].procedure
    if outcome(procedure, tally) != ADOPTED:
        raise _fail(6, f"under {procedure}, the tally {tally_json} does not adopt {proposal_id}")
    return Certified(
        decision_id, proposal_id, proposal.title, proposal.category, procedure, tally.to_json(), close_index, checkpoint, cosigners, {}
    )


def _check_witnessed(
    certified: Certified,
    entries: Mapping[int, Entry],
    statements: Mapping[int, Statement],
    bodies: Mapping[int, Body],
    settings: Settings,
    seen: Sequence[Sighting],
    policy: Policy,
) -> Certified:
    """Step 7: the rules of ``verify --policy`` (SPEC 12) on the checkpoints the certificate carries,
    and each counted vote in the log by deadline + witness_lag in the time of the policy's quorum."""
    lag = settings.witness_lag_seconds
    deadline = _submission(bodies, certified.close_index, 7).deadline
    time = WitnessedTime(seen)
    bound: dict[int, Mapping[str, Sighting]] = {}
    for index, entry in sorted(entries.items()):
        body = bodies.get(index)
        try:
            time.check(index, entry.logged_at_seconds, lag)
            if isinstance(body, VoteCast) and body.proposal == certified.proposal:
                what = f"the vote of {statements[index].actor}"
                bound[index] = check_witnessed_by(index, what, deadline, lag, seen, policy, "the deadline")
        except AccordError as error:
            raise _fail(7, str(error)) from error
    # The close is held by the checkpoint that the quorum cosigned (step 3): its time is reported, not bounded.
    bound[certified.close_index] = first_sightings(seen, certified.close_index)
    return replace(certified, witnessed=bound)
