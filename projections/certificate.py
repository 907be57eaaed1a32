"""Decision certificates: one binding decision, proven on its own.

A certificate holds the entries a reader needs to check one decision without
the rest of the log: the charter (pinned by the trust anchor), the proposal,
every vote that counted, the close, the entries that introduced each signing
key, and any adopted charter amendment before the close, each with its RFC 9162
inclusion proof under one checkpoint signed by the operator and cosigned by
witnesses.

What it proves on its own: every entry it holds is in the log under that
checkpoint; each is signed by a key its actor held from an earlier entry; the
votes are on this proposal, before its deadline, one per member; the close's
tally counts exactly those votes and, under the category's procedure, means
adoption. What it cannot prove without the whole log (that no key was revoked
in between, that no other vote came later) the log's rules checked when each
entry was appended, and any auditor can check again with ``accord verify``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from domain.charter import DEFAULT_CATEGORIES, OPERATOR, Category, check_amendment
from domain.rules import ADOPTED, Tally, outcome, read_statement
from domain.state import ABSTAIN, APPROVE, OBJECT
from ledger.checkpoint import Checkpoint, open_checkpoint, verify_cosignatures
from ledger.entry import Entry
from ledger.errors import AccordError, MalformedError, VerificationError
from ledger.keys import VerifierKey
from ledger.merkle import verify_inclusion
from ledger.note import known_signers
from ledger.statement import Statement
from ledger.timefmt import parse_time
from projections.ledger import Ledger
from projections.queries import View

CERTIFICATE_VERSION = 1
KIND = "accord-decision-certificate"


def _fail(problem: str) -> VerificationError:
    return VerificationError("certificate", problem)


# Building.


def _key_introductions(view_at: View, actor_id: str, key: VerifierKey) -> int | None:
    actor = next((a for a in view_at.members() if a["id"] == actor_id), None)
    for record in actor["keys"] if actor else []:
        if VerifierKey.from_text(record["key"]) == key:
            return int(record["added"])
    return None


def build_certificate(ledger: Ledger, decision_id: str) -> str:
    """The certificate of binding decision ``decision_id``, under the newest checkpoint."""
    view = View(ledger)
    decision = view.decision(decision_id)
    if decision is None:
        raise VerificationError("certificate", f"no binding decision {decision_id} on this ledger")
    close_index = int(decision["adopted"])
    proposal = View(ledger, close_index).proposal(decision["proposal"])
    assert proposal is not None
    before_close = View(ledger, close_index - 1).proposal(decision["proposal"]) or proposal
    counted = set(proposal.get("counted", []))
    wanted = {0, int(proposal["submitted"]), close_index}
    wanted |= {int(vote["index"]) for vote in before_close["votes"] if vote["actor"] in counted}
    for amendment in view.decisions():
        if amendment["category"] == "charter-amendment" and int(amendment["adopted"]) < close_index:
            amended = view.proposal(amendment["proposal"])
            assert amended is not None
            wanted |= {int(amended["submitted"]), int(amendment["adopted"])}
    note = ledger.log.latest_checkpoint()
    if note is None or Checkpoint.from_text(note.text).size <= close_index:
        raise VerificationError("certificate", f"no checkpoint covers the close of {decision_id} (entry {close_index}) yet")
    checkpoint = Checkpoint.from_text(note.text)
    # Every signing key's introduction, and theirs in turn, down to the charter.
    pending = sorted(wanted)
    while pending:
        index = pending.pop()
        entry = ledger.log.entry(index)
        signed, statement = read_statement(entry.statement)
        if index == 0:
            continue
        view_at = View(ledger, index)
        for signature in signed.signatures:
            for record_key in _actor_keys(view_at, statement.actor):
                if signature.made_by(record_key):
                    added = _key_introductions(view_at, statement.actor, record_key)
                    for introduced in _with_context(ledger, view_at, added):
                        if introduced not in wanted:
                            wanted.add(introduced)
                            pending.append(introduced)
    operator = next(a for a in view.members() if a["id"] == OPERATOR)
    for record in operator["keys"]:
        wanted.add(int(record["added"]))
    entries = [
        {
            "index": index,
            "entry": ledger.log.entry(index).to_bytes().decode("utf-8"),
            "proof": [base64.b64encode(h).decode() for h in ledger.log.inclusion_proof(index, checkpoint.size)],
        }
        for index in sorted(wanted)
    ]
    document = {
        "version": CERTIFICATE_VERSION,
        "kind": KIND,
        "origin": checkpoint.origin,
        "anchor": ledger.log.entry(0).leaf_hash().hex(),
        "decision": decision_id,
        "proposal": decision["proposal"],
        "close": close_index,
        "checkpoint": note.to_text(),
        "entries": entries,
    }
    return json.dumps(document, indent=1) + "\n"


def _actor_keys(view_at: View, actor_id: str) -> list[VerifierKey]:
    actor = next((a for a in view_at.members() if a["id"] == actor_id), None)
    return [VerifierKey.from_text(record["key"]) for record in actor["keys"]] if actor else []


def _with_context(ledger: Ledger, view_at: View, added: int | None) -> list[int]:
    """The entry that introduced a key, with what it rests on: an accession on its adopted
    admission (submission and close), a key-revocation close on its submission."""
    if added is None:
        return []
    found = [added]
    _, statement = read_statement(ledger.log.entry(added).statement)
    if statement.kind in ("accession", "proposal.close"):
        proposal = view_at.proposal(statement.body["proposal"])
        if proposal is not None:
            found.append(int(proposal["submitted"]))
            if statement.kind == "accession" and proposal.get("ended"):
                found.append(int(proposal["ended"]["index"]))
    return found


# Checking.


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


def _introduce(keys: _Keys, index: int, statement: Statement, statements: Mapping[int, Statement]) -> None:
    """Record the keys entry ``index`` introduces, from the included entries it rests on."""
    body = statement.body
    if statement.kind == "key.add":
        keys.add(statement.actor, VerifierKey.from_text(body["key"]), index)
    elif statement.kind == "key.revoke" and "replacement" in body:
        keys.add(statement.actor, VerifierKey.from_text(body["replacement"]), index)
    elif statement.kind == "civil-society.register":
        for text in body["keys"]:
            keys.add(statement.actor, VerifierKey.from_text(text), index, proves_itself=True)
    elif statement.kind == "accession":
        for close_index, close in statements.items():
            if close.kind != "proposal.close" or close.body.get("outcome") != ADOPTED or close_index > index:
                continue
            candidate = statements[_adopted_close(statements, close_index).body["submission"]].body.get("candidate")
            if isinstance(candidate, dict) and candidate.get("id") == statement.actor:
                for text in candidate["keys"]:
                    keys.add(statement.actor, VerifierKey.from_text(text), index, proves_itself=True)
    elif statement.kind == "proposal.close" and body.get("outcome") == ADOPTED:
        submitted = statements[_adopted_close(statements, index).body["submission"]].body
        if submitted.get("category") == "key-revocation" and "replacement" in submitted:
            keys.add(submitted["subject"], VerifierKey.from_text(submitted["replacement"]), index)


_FIELDS = {"entries", "decision", "proposal", "close", "checkpoint"}
"""What a certificate must hold besides its kind and version."""


def verify_certificate(text: str, anchor: bytes, witnesses: Sequence[VerifierKey] = (), quorum: int = 0) -> Certified:
    """Check a certificate on its own, pinned to the charter's leaf hash ``anchor``."""
    try:
        document = json.loads(text)
        if document.get("kind") != KIND or document.get("version") != CERTIFICATE_VERSION:
            raise _fail(f"not a decision certificate of version {CERTIFICATE_VERSION}")
        missing = sorted(_FIELDS - set(document))
        if missing:
            raise MalformedError("certificate", f"missing field {missing[0]}")
        listed = [(int(item["index"]), item["entry"].encode("utf-8"), [base64.b64decode(h) for h in item["proof"]]) for item in document["entries"]]
        decision_id, proposal_id, close_index = str(document["decision"]), str(document["proposal"]), int(document["close"])
    except KeyError as error:
        raise MalformedError("certificate", f"an entry is missing field {error.args[0]}") from error
    except (json.JSONDecodeError, TypeError, ValueError, AttributeError) as error:
        raise MalformedError("certificate", f"malformed: {error}") from error
    entries: dict[int, Entry] = {}
    for index, data, _ in listed:
        entry = Entry.from_bytes(data)
        if entry.index != index or index in entries:
            raise _fail(f"entry {index} is listed twice or under another index")
        entries[index] = entry
    if 0 not in entries or entries[0].leaf_hash() != anchor:
        raise _fail("its charter is missing or is not the pinned trust anchor")
    statements = {index: read_statement(entry.statement)[1] for index, entry in sorted(entries.items())}
    charter = statements[0]
    origin = charter.origin
    keys = _Keys()
    keys.add(OPERATOR, VerifierKey.from_text(charter.body["operator"]), -1)
    for founder in [*charter.body.get("members", []), *charter.body.get("observers", [])]:
        for key_text in founder["keys"]:
            keys.add(founder["id"], VerifierKey.from_text(key_text), -1)
    # The checkpoint, signed by a key the operator held.
    opened = None
    for index in sorted(entries):
        _introduce(keys, index, statements[index], statements)
    for _, key, _ in keys.held.get(OPERATOR, []):
        try:
            opened = open_checkpoint(document["checkpoint"], key)
            break
        except AccordError:
            continue
    if opened is None:
        raise _fail("its checkpoint is not signed by the operator")
    checkpoint, note = opened
    if checkpoint.origin != origin:
        raise _fail(f"its checkpoint is of origin {checkpoint.origin!r}, the charter of {origin!r}")
    try:
        cosigners = verify_cosignatures(note, witnesses, quorum)
    except AccordError as error:
        raise _fail(f"its checkpoint: {error}") from error
    for index, data, proof in listed:
        try:
            verify_inclusion(index, checkpoint.size, entries[index].leaf_hash(), proof, checkpoint.root_hash)
        except AccordError as error:
            raise _fail(f"entry {index} is not in the log under the checkpoint: {error}") from error
    for index, entry in entries.items():
        if index == 0:
            continue
        statement = statements[index]
        try:
            signed = known_signers(read_statement(entry.statement)[0], keys.signing(statement.actor, index))
        except AccordError as error:
            raise _fail(f"entry {index} ({statement.kind}): {error}") from error
        if not signed:
            raise _fail(f"entry {index} ({statement.kind}) is not signed by a key {statement.actor} held before it")
    return _check_decision(decision_id, proposal_id, close_index, statements, entries, checkpoint, cosigners)


def _check_decision(
    decision_id: str,
    proposal_id: str,
    close_index: int,
    statements: Mapping[int, Statement],
    entries: Mapping[int, Entry],
    checkpoint: Checkpoint,
    cosigners: list[VerifierKey],
) -> Certified:
    close = _adopted_close(statements, close_index)
    if close.body["proposal"] != proposal_id:
        raise _fail(f"entry {close_index} closes {close.body['proposal']}, not {proposal_id}")
    if close.body.get("decision") != decision_id:
        raise _fail(f"the close at entry {close_index} creates {close.body.get('decision')}, not {decision_id}")
    proposal_index = close.body["submission"]
    proposal = statements[proposal_index].body
    deadline = parse_time(proposal["deadline"], "deadline")
    votes: dict[str, str] = {}
    for index, statement in sorted(statements.items()):
        if statement.kind != "vote.cast" or statement.body.get("proposal") != proposal_id:
            continue
        if not proposal_index < index < close_index or entries[index].logged_at_seconds >= deadline:
            raise _fail(f"vote at entry {index} is not between the proposal and its deadline")
        if statement.actor in votes:
            raise _fail(f"{statement.actor} has two counted votes")
        votes[statement.actor] = statement.body["position"]
    tally = close.body["tally"]
    positions = list(votes.values())
    counts = {APPROVE: positions.count(APPROVE), OBJECT: positions.count(OBJECT), ABSTAIN: positions.count(ABSTAIN)}
    if any(tally.get(name) != count for name, count in counts.items()):
        raise _fail(f"the close's tally {tally} does not count the votes it rests on {counts}")
    categories = _categories(statements, close_index)
    category = proposal["category"]
    if category not in categories:
        raise _fail(f"category {category!r} is not in the charter")
    procedure = categories[category].procedure
    if outcome(procedure, Tally(tally[APPROVE], tally[OBJECT], tally[ABSTAIN], tally["silent"])) != ADOPTED:
        raise _fail(f"under {procedure}, the tally {tally} does not adopt {proposal_id}")
    return Certified(decision_id, proposal_id, proposal["title"], category, procedure, tally, close_index, checkpoint, cosigners)


def _adopted_close(statements: Mapping[int, Statement], index: int) -> Statement:
    """The adopting close at ``index``, whose submission is included too."""
    close = statements.get(index)
    if close is None or close.kind != "proposal.close" or close.body.get("outcome") != ADOPTED:
        raise _fail(f"entry {index} is not an included close that adopted a proposal")
    submitted = statements.get(close.body.get("submission"))  # type: ignore[arg-type]
    if submitted is None or submitted.kind != "proposal.submit":
        raise _fail(f"the submission that the close at entry {index} decides is not included")
    return close


def _categories(statements: Mapping[int, Statement], close_index: int) -> dict[str, Category]:
    """The charter's categories, with every included amendment adopted before the close applied in order."""
    categories = dict(DEFAULT_CATEGORIES)
    for name, category in statements[0].body.get("categories", {}).items():
        categories[name] = Category(category["procedure"], category["min_period"])
    for index, statement in sorted(statements.items()):
        if statement.kind != "proposal.close" or index >= close_index or statement.body.get("outcome") != ADOPTED:
            continue
        submitted = statements[_adopted_close(statements, index).body["submission"]]
        if submitted.body.get("category") == "charter-amendment":
            for name, category in check_amendment(submitted.body["amendment"]).get("categories", {}).items():
                categories[name] = Category(category["procedure"], category["min_period"])
    return categories
