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

from domain.charter import OPERATOR, Settings, check_amendment, parse_settings
from domain.state import ABSTAIN, APPROVE, OBJECT
from domain.voting import ADOPTED, Tally, outcome
from domain.rules import read_statement
from ledger.checkpoint import Checkpoint, open_checkpoint, verify_cosignatures
from ledger.entry import Entry
from ledger.errors import AccordError, MalformedError, VerificationError
from ledger.keys import VerifierKey
from ledger.merkle import verify_consistency, verify_inclusion
from ledger.note import Note, known_signers
from ledger.policy import Policy
from ledger.statement import Statement
from ledger.timefmt import format_time, parse_time
from projections.certificate import COMPONENT, Certificate
from projections.witnessed import Sighting, WitnessedTime, check_witnessed_by, first_sightings, sightings

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


def _key(text: object) -> VerifierKey:
    return VerifierKey.from_text(str(text))


def _introduce(keys: _Keys, index: int, statement: Statement, statements: Mapping[int, Statement]) -> None:
    """Record the keys entry ``index`` introduces, from the earlier included entries it rests on."""
    body = statement.body
    if statement.kind == "key.add":
        keys.add(statement.actor, _key(body.get("key")), index)
    elif statement.kind == "key.revoke" and "replacement" in body:
        keys.add(statement.actor, _key(body["replacement"]), index)
    elif statement.kind == "civil-society.register":
        for text in body.get("keys", []):
            keys.add(statement.actor, _key(text), index, proves_itself=True)
    elif statement.kind == "accession":
        for close_index, close in statements.items():
            if close_index > index or close.kind != "proposal.close" or close.body.get("outcome") != ADOPTED:
                continue
            candidate = _submission(statements, close_index, 5).body.get("candidate")
            if isinstance(candidate, dict) and candidate.get("id") == statement.actor:
                for text in candidate.get("keys", []):
                    keys.add(statement.actor, _key(text), index, proves_itself=True)
    elif statement.kind == "proposal.close" and body.get("outcome") == ADOPTED:
        submitted = _submission(statements, index, 5).body
        if submitted.get("category") == "key-revocation" and "replacement" in submitted:
            keys.add(str(submitted.get("subject")), _key(submitted["replacement"]), index)


def verify_certificate(
    text: str, anchor: bytes, witnesses: Sequence[VerifierKey] = (), quorum: int = 0, policy: Policy | None = None
) -> Certified:
    """Check a certificate on its own, pinned to the charter's leaf hash ``anchor``.

    ``witnesses``/``quorum``: that many of these keys must have cosigned its
    checkpoint. ``policy``: its quorum must have, and witnessed time (step 7)
    is checked. Raises MalformedError (step 1) or VerificationError naming
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

    # Step 2: the charter is the pinned trust anchor; only now is its body read.
    if 0 not in entries or entries[0].leaf_hash() != anchor:
        raise _fail(2, "the charter is missing or is not the pinned trust anchor")
    charter = statements[0]
    try:
        settings = parse_settings(charter.body, charter.origin)
        keys = _Keys()
        keys.add(OPERATOR, _key(charter.body.get("operator")), -1)
        for founder in [*charter.body.get("members", []), *charter.body.get("observers", [])]:
            for key_text in founder["keys"]:
                keys.add(founder["id"], _key(key_text), -1)
    except (AccordError, KeyError, TypeError) as error:
        raise _fail(2, f"the pinned charter cannot be read: {error}") from error

    # Step 3: the checkpoint is signed by the operator (the charter's key, or one an included entry
    # gave it, which steps 4 and 5 then prove), of the charter's origin, cosigned as required.
    operator_keys = [key for _, key, _ in keys.held[OPERATOR]] + _operator_keys_introduced(statements)
    checkpoint, note = _open(certificate.checkpoint, operator_keys, charter.origin, "its checkpoint")
    try:
        cosigners = verify_cosignatures(note, witnesses, quorum)
        if policy is not None:
            policy.check(note)
    except AccordError as error:
        raise _fail(3, f"its checkpoint: {error}") from error
    smaller = [_open(w.note, operator_keys, charter.origin, f"witnessed checkpoint {n}")[0] for n, w in enumerate(certificate.witnessed)]
    seen: list[Sighting] = []
    if policy is not None:
        try:
            seen = sightings([certificate.checkpoint, *(w.note for w in certificate.witnessed)], policy)
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

    # Step 5: each entry is signed by a key its actor held from an earlier entry; the keys an entry
    # introduces are read only once its own signature holds.
    for index, (signed, statement) in notes.items():
        # An accession or a registration is signed by the key it introduces (its possession proven):
        # that key is taken first, from the (verified) admission or from the entry itself.
        proves_itself = statement.kind in SELF_INTRODUCING
        if proves_itself:
            _introduce_checked(keys, index, statement, statements)
        if index > 0:
            try:
                by = known_signers(signed, keys.signing(statement.actor, index))
            except AccordError as error:
                raise _fail(5, f"entry {index} ({statement.kind}): {error}") from error
            if not by:
                raise _fail(5, f"entry {index} ({statement.kind}) is not signed by a key {statement.actor} held before it")
        if not proves_itself:
            _introduce_checked(keys, index, statement, statements)
    operator_held = {key for _, key, _ in keys.held[OPERATOR]}
    if not any(signature.made_by(key) for signature in note.signatures for key in operator_held):
        raise _fail(5, "its checkpoint is not signed by a key the operator held")

    # Step 6: only now, what the statements say: the proposal, the votes, the close.
    certified = _check_decision(certificate, statements, entries, settings, checkpoint, cosigners)

    # Step 7: under a policy, witnessed time bounds the votes and the close.
    if policy is None:
        return certified
    return _check_witnessed(certified, entries, statements, settings, seen, policy)


def _introduce_checked(keys: _Keys, index: int, statement: Statement, statements: Mapping[int, Statement]) -> None:
    try:
        _introduce(keys, index, statement, statements)
    except VerificationError:
        raise
    except AccordError as error:
        raise _fail(5, f"entry {index} ({statement.kind}) introduces a key that cannot be read: {error}") from error


def _operator_keys_introduced(statements: Mapping[int, Statement]) -> list[VerifierKey]:
    """Keys the operator's own included key.add entries name (candidates for step 3; step 5 proves the entries)."""
    found = []
    for statement in statements.values():
        if statement.actor == OPERATOR and statement.kind in ("key.add", "key.revoke"):
            text = statement.body.get("key" if statement.kind == "key.add" else "replacement")
            if isinstance(text, str):
                try:
                    found.append(VerifierKey.from_text(text))
                except AccordError:
                    continue  # step 5 names it
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


def _submission(statements: Mapping[int, Statement], index: int, step: int) -> Statement:
    """The submission that the adopting close at ``index`` decides, included too."""
    close = statements.get(index)
    if close is None or close.kind != "proposal.close" or close.body.get("outcome") != ADOPTED:
        raise _fail(step, f"entry {index} is not an included close that adopted a proposal")
    submission = close.body.get("submission")
    submitted = statements.get(submission) if type(submission) is int else None
    if submitted is None or submitted.kind != "proposal.submit":
        raise _fail(step, f"the submission that the close at entry {index} decides is not included")
    return submitted


def _settings_at(statements: Mapping[int, Statement], settings: Settings, close_index: int) -> Settings:
    """The charter's settings, with every included amendment adopted before the close applied in order."""
    for index, statement in sorted(statements.items()):
        if statement.kind != "proposal.close" or index >= close_index or statement.body.get("outcome") != ADOPTED:
            continue
        submitted = _submission(statements, index, 6)
        if submitted.body.get("category") == "charter-amendment":
            try:
                settings = settings.amended(check_amendment(submitted.body.get("amendment")))
            except AccordError as error:
                raise _fail(6, f"the amendment adopted at entry {index}: {error}") from error
    return settings


def _deadline(submitted: Statement, index: int) -> int:
    deadline = submitted.body.get("deadline")
    try:
        return parse_time(deadline if isinstance(deadline, str) else repr(deadline), "deadline")
    except AccordError as error:
        raise _fail(6, f"the proposal at entry {index}: {error}") from error


def _check_decision(
    certificate: Certificate,
    statements: Mapping[int, Statement],
    entries: Mapping[int, Entry],
    settings: Settings,
    checkpoint: Checkpoint,
    cosigners: list[VerifierKey],
) -> Certified:
    close_index, proposal_id, decision_id = certificate.close, certificate.proposal, certificate.decision
    submitted = _submission(statements, close_index, 6)
    close = statements[close_index].body
    if close.get("proposal") != proposal_id:
        raise _fail(6, f"entry {close_index} closes {close.get('proposal')}, not {proposal_id}")
    if close.get("decision") != decision_id:
        raise _fail(6, f"the close at entry {close_index} creates {close.get('decision')}, not {decision_id}")
    proposal_index = close["submission"]
    proposal = submitted.body
    deadline = _deadline(submitted, proposal_index)
    votes: dict[str, str] = {}
    for index, statement in sorted(statements.items()):
        if statement.kind != "vote.cast" or statement.body.get("proposal") != proposal_id:
            continue
        if not proposal_index < index < close_index or entries[index].logged_at_seconds >= deadline:
            raise _fail(6, f"vote at entry {index} is not between the proposal and its deadline {format_time(deadline)}")
        if statement.actor in votes:
            raise _fail(6, f"{statement.actor} has two counted votes (the second at entry {index})")
        votes[statement.actor] = str(statement.body.get("position"))
    tally_json = close.get("tally")
    tally = Tally.from_json(tally_json) if isinstance(tally_json, dict) else None
    positions = list(votes.values())
    counts = {APPROVE: positions.count(APPROVE), OBJECT: positions.count(OBJECT), ABSTAIN: positions.count(ABSTAIN)}
    if tally is None or any(tally.to_json()[name] != count for name, count in counts.items()):
        raise _fail(6, f"the close's tally {tally_json} does not count the votes it rests on {counts}")
    categories = _settings_at(statements, settings, close_index).categories
    category = proposal.get("category")
    if not isinstance(category, str) or category not in categories:
        raise _fail(6, f"category {category!r} is not in the charter")
    procedure = categories[category].procedure
    if outcome(procedure, tally) != ADOPTED:
        raise _fail(6, f"under {procedure}, the tally {tally_json} does not adopt {proposal_id}")
    return Certified(
        decision_id, proposal_id, str(proposal.get("title")), category, procedure, tally.to_json(), close_index, checkpoint, cosigners, {}
    )


def _check_witnessed(
    certified: Certified,
    entries: Mapping[int, Entry],
    statements: Mapping[int, Statement],
    settings: Settings,
    seen: Sequence[Sighting],
    policy: Policy,
) -> Certified:
    """Step 7: the rules of ``verify --policy`` (SPEC 12) on the checkpoints the certificate carries,
    and each counted vote in the log by deadline + witness_lag in the time of the policy's quorum."""
    lag = settings.witness_lag_seconds
    deadline = _deadline(_submission(statements, certified.close_index, 7), statements[certified.close_index].body["submission"])
    time = WitnessedTime(seen)
    bound: dict[int, Mapping[str, Sighting]] = {}
    for index, entry in sorted(entries.items()):
        statement = statements[index]
        try:
            time.check(index, entry.logged_at_seconds, lag)
            if statement.kind == "vote.cast" and statement.body.get("proposal") == certified.proposal:
                bound[index] = check_witnessed_by(index, f"vote by {statement.actor}", deadline, lag, seen, policy, "the deadline")
        except AccordError as error:
            raise _fail(7, str(error)) from error
    # The close is held by the checkpoint that the quorum cosigned (step 3): its time is reported, not bounded.
    bound[certified.close_index] = first_sightings(seen, certified.close_index)
    return replace(certified, witnessed=bound)
