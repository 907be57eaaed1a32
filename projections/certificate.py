"""Decision certificates: one binding decision, proven on its own. The document, and how it is built.

A certificate holds the entries a reader needs to check one decision without
the rest of the log: the charter (pinned by the trust anchor), the proposal,
every vote that counted, the close, the entries that introduced each signing
key, and any adopted charter amendment before the close, each with its RFC 9162
inclusion proof under one checkpoint signed by the operator and cosigned by
witnesses. Since version 2 it also carries the witnessed checkpoints that bound
the decision in time (SPEC 12): for each counted vote and for the close, per
witness, the earliest kept checkpoint that witness cosigned holding the entry,
each with its RFC 9162 consistency proof to the certificate's checkpoint (so it
is a prefix of it, and holds the entry too).

:mod:`projections.certificate_check` says what a certificate proves and checks
it; :class:`Certificate` is the document, read strictly (SPEC 10): exact
fields, exact types (a JSON ``true`` is never ``1``), bounded sizes.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from domain.charter import OPERATOR
from domain.rules import read_statement
from domain.shape import is_reference
from ledger.checkpoint import Checkpoint
from ledger.documents import Fields, exact_int, load_document
from ledger.encoding import decode_base64
from ledger.entry import MAX_ENTRY_BYTES
from ledger.errors import MalformedError, StorageError, VerificationError
from ledger.keys import VerifierKey
from ledger.merkle import HASH_SIZE
from ledger.note import Note, NoteSignature
from ledger.policy import Policy
from ledger.store import LogStore
from projections.ledger import Ledger
from projections.queries import View

CERTIFICATE_VERSION = 2
"""2: the witnessed checkpoints were added. Version 1 (without them) is still read."""
VERSIONS = (1, 2)
KIND = "accord-decision-certificate"
COMPONENT = "certificate"
MAX_CERTIFICATE = 32 * 1024 * 1024
"""A few hundred entries of at most 64 KiB each, for the largest council."""
MAX_ITEMS = 10_000
"""Entries, or witnessed checkpoints, one certificate may list."""
MAX_CHECKPOINT = 16_384
"""A checkpoint note with its cosignatures (as a bundle's)."""
MAX_PROOF = 64
"""Hashes in an RFC 9162 proof of a tree of at most 2^63 entries."""
_FIELDS = {1: frozenset({"version", "kind", "origin", "anchor", "decision", "proposal", "close", "checkpoint", "entries"})}
_FIELDS[2] = _FIELDS[1] | {"witnessed"}
_ENTRY_FIELDS = frozenset({"index", "entry", "proof"})
_WITNESSED_FIELDS = frozenset({"checkpoint", "consistency"})


def _malformed(problem: str) -> MalformedError:
    return MalformedError(COMPONENT, problem)


@dataclass(frozen=True)
class CertifiedEntry:
    """Entry ``index`` of the log (its exact bytes) and its inclusion proof under the certificate's checkpoint."""

    index: int
    data: bytes
    proof: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "entry": self.data.decode("utf-8"), "proof": _hashes_json(self.proof)}


@dataclass(frozen=True)
class WitnessedCheckpoint:
    """A kept checkpoint note, with cosignatures, and its consistency proof to the certificate's checkpoint."""

    note: str
    consistency: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {"checkpoint": self.note, "consistency": _hashes_json(self.consistency)}


@dataclass(frozen=True)
class Certificate:
    """A decision certificate as a document: nothing in it is checked yet but its shape."""

    origin: str
    anchor: bytes
    decision: str
    proposal: str
    close: int
    checkpoint: str
    entries: tuple[CertifiedEntry, ...]
    witnessed: tuple[WitnessedCheckpoint, ...] = ()
    version: int = CERTIFICATE_VERSION

    def to_text(self) -> str:
        document: dict[str, Any] = {
            "version": self.version,
            "kind": KIND,
            "origin": self.origin,
            "anchor": self.anchor.hex(),
            "decision": self.decision,
            "proposal": self.proposal,
            "close": self.close,
            "checkpoint": self.checkpoint,
            "entries": [entry.to_json() for entry in self.entries],
        }
        if self.version >= 2:
            document["witnessed"] = [witnessed.to_json() for witnessed in self.witnessed]
        return json.dumps(document, indent=1) + "\n"

    @classmethod
    def from_text(cls, text: str | bytes) -> Certificate:
        """Parse a certificate strictly; MalformedError naming the field for anything else."""
        fields = load_document(text, COMPONENT, MAX_CERTIFICATE)
        if fields.document.get("kind") != KIND:
            raise _malformed(f"kind got {_shown(fields.document.get('kind'))}, want {KIND!r}")
        version = fields.integer("version")
        if version not in VERSIONS:
            raise _malformed(f"version got {version}, want one of {', '.join(map(str, VERSIONS))}")
        _exactly(fields, _FIELDS[version])
        anchor = fields.text("anchor")
        if len(anchor) != 64 or anchor.strip("0123456789abcdef"):
            raise _malformed("anchor: want 64 lowercase hex digits (the charter's leaf hash)")
        decision, proposal = fields.text("decision"), fields.text("proposal")
        if not is_reference(decision, "D"):
            raise _malformed(f"decision got {_shown(decision)}, want D-n")
        if not is_reference(proposal, "P"):
            raise _malformed(f"proposal got {_shown(proposal)}, want P-n")
        return cls(
            origin=fields.text("origin"),
            anchor=bytes.fromhex(anchor),
            decision=decision,
            proposal=proposal,
            close=fields.integer("close", minimum=1),
            checkpoint=_bounded(fields, "checkpoint", MAX_CHECKPOINT),
            entries=tuple(_entries(fields)),
            witnessed=tuple(_witnessed(fields)) if version >= 2 else (),
            version=version,
        )


def _shown(value: object) -> str:
    text = json.dumps(value) if isinstance(value, (str, int, bool)) or value is None else "a JSON " + type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def _exactly(fields: Fields, allowed: Iterable[str]) -> None:
    """Every field the document's version has, and no other (a typo or an injection is never ignored)."""
    wanted = set(allowed)
    extra = sorted(set(fields.document) - wanted)
    if extra:
        raise _malformed(f"{fields.prefix}{extra[0]} is not a field of this document")
    missing = sorted(wanted - set(fields.document))
    if missing:
        raise _malformed(f"{fields.prefix}{missing[0]} is missing")


def _bounded(fields: Fields, name: str, limit: int) -> str:
    value = fields.text(name)
    if len(value) > limit:
        raise _malformed(f"{fields.prefix}{name} of {len(value)} characters, want at most {limit}")
    return value


def _listed(fields: Fields, name: str) -> Iterator[Fields]:
    if len(fields.array(name)) > MAX_ITEMS:
        raise _malformed(f"{name} lists {len(fields.array(name))} items, want at most {MAX_ITEMS}")
    return fields.members(name)


def _hashes(fields: Fields, name: str) -> tuple[bytes, ...]:
    texts = fields.texts(name)
    if len(texts) > MAX_PROOF:
        raise _malformed(f"{fields.prefix}{name} has {len(texts)} hashes, want at most {MAX_PROOF}")
    hashes = tuple(decode_base64(text, COMPONENT, f"{fields.prefix}{name}[{number}]") for number, text in enumerate(texts))
    for number, value in enumerate(hashes):
        if len(value) != HASH_SIZE:
            raise _malformed(f"{fields.prefix}{name}[{number}] is {len(value)} bytes, want {HASH_SIZE}")
    return hashes


def _hashes_json(hashes: Iterable[bytes]) -> list[str]:
    return [base64.b64encode(value).decode() for value in hashes]


def _entries(fields: Fields) -> Iterator[CertifiedEntry]:
    for item in _listed(fields, "entries"):
        _exactly(item, _ENTRY_FIELDS)
        data = _bounded(item, "entry", MAX_ENTRY_BYTES).encode("utf-8", "surrogatepass")
        yield CertifiedEntry(item.integer("index"), data, _hashes(item, "proof"))


def _witnessed(fields: Fields) -> Iterator[WitnessedCheckpoint]:
    for item in _listed(fields, "witnessed"):
        _exactly(item, _WITNESSED_FIELDS)
        yield WitnessedCheckpoint(_bounded(item, "checkpoint", MAX_CHECKPOINT), _hashes(item, "consistency"))


# Building, from a store that holds the decision.


def _view_int(document: dict[str, Any], field: str) -> int:
    """An entry index out of a view document (ours, but read as carefully as outside JSON)."""
    return exact_int(document.get(field), COMPONENT, field)


def _proposal(view: View, proposal_id: str) -> dict[str, Any]:
    found = view.proposal(proposal_id)
    if found is None:
        raise VerificationError(COMPONENT, f"proposal {proposal_id} is not in the views as of entry {view.size - 1}")
    return found


def _actor_keys(view_at: View, actor_id: str) -> list[tuple[VerifierKey, int]]:
    """The keys ``actor_id`` has held by this point, each with the entry that added it."""
    actor = next((a for a in view_at.members() if a["id"] == actor_id), None)
    return [(VerifierKey.from_text(record["key"]), _view_int(record, "added")) for record in actor["keys"]] if actor else []


def _with_context(ledger: Ledger, view_at: View, added: int) -> list[int]:
    """The entry that introduced a key, with what it rests on: an accession on its adopted
    admission (submission and close), a key-revocation close on its submission."""
    found = [added]
    _, statement = read_statement(ledger.log.entry(added).statement)
    if statement.kind in ("accession", "proposal.close"):
        proposal = view_at.proposal(str(statement.body.get("proposal")))
        if proposal is not None:
            found.append(_view_int(proposal, "submitted"))
            if statement.kind == "accession" and proposal.get("ended"):
                found.append(_view_int(proposal["ended"], "index"))
    return found


def _wanted(ledger: Ledger, decision_id: str) -> tuple[dict[str, Any], set[int], set[int]]:
    """The decision, the entries its certificate holds, and those witnessed time bounds (the counted votes and the close)."""
    view = View(ledger)
    decision = view.decision(decision_id)
    if decision is None:
        raise VerificationError(COMPONENT, f"no binding decision {decision_id} on this ledger")
    close_index = _view_int(decision, "adopted")
    proposal = _proposal(View(ledger, close_index), decision["proposal"])
    before_close = View(ledger, close_index - 1).proposal(decision["proposal"]) or proposal
    counted = set(proposal.get("counted", []))
    bound = {close_index} | {_view_int(vote, "index") for vote in before_close["votes"] if vote["actor"] in counted}
    wanted = {0, _view_int(proposal, "submitted")} | bound
    for amendment in view.decisions():
        if amendment["category"] == "charter-amendment" and _view_int(amendment, "adopted") < close_index:
            wanted |= {_view_int(_proposal(view, amendment["proposal"]), "submitted"), _view_int(amendment, "adopted")}
    # Every signing key's introduction, and theirs in turn, down to the charter.
    pending = sorted(wanted)
    while pending:
        index = pending.pop()
        if index == 0:
            continue
        signed, statement = read_statement(ledger.log.entry(index).statement)
        view_at = View(ledger, index)
        for key, added in _actor_keys(view_at, statement.actor):
            if any(signature.made_by(key) for signature in signed.signatures):
                for introduced in _with_context(ledger, view_at, added):
                    if introduced not in wanted:
                        wanted.add(introduced)
                        pending.append(introduced)
    wanted |= {added for _, added in _actor_keys(view, OPERATOR)}
    return decision, wanted, bound


WINDOW = 64
"""Kept checkpoints read at a time after the first that holds an entry."""


def _size(text: str) -> int:
    return Checkpoint.from_text(Note.from_text(text).text).size


def _first_holding(store: LogStore, newest: int, index: int) -> int:
    """The lowest number of a kept checkpoint holding entry ``index``, found by bisection
    (sizes never shrink as numbers grow); requires the one numbered ``newest`` to hold it."""
    low, high = 0, newest
    while low < high:
        middle = (low + high) // 2
        found = next(store.checkpoints(page=1, below=middle + 1), None)  # the newest numbered <= middle
        if found is not None and _size(found[1]) > index:
            high = found[0]
        else:
            low = middle + 1
    return low


def _first_cosigned(store: LogStore, bound: set[int], main: tuple[int, Note]) -> list[str]:
    """For each bound entry and each key that cosigned a kept checkpoint holding it, the first
    (oldest) such checkpoint: the earliest time that witness saw the entry in the log. In the
    order kept; left out where the certificate's own checkpoint carries that very cosignature.

    From the first checkpoint holding each entry (found by bisection), kept checkpoints are
    read forward, a window at a time, until every witness on the main checkpoint is found:
    a handful of reads per entry, not every checkpoint kept since (they grow by one per
    witness per witness_lag / 2 while the log is idle).
    """
    newest, note = main
    origin = Checkpoint.from_text(note.text).origin
    wanted = {(line.name, line.key_id) for line in note.signatures if line.name != origin}
    first: dict[tuple[int, str, bytes], tuple[int, str, NoteSignature]] = {}
    for index in sorted(bound):
        position, missing = _first_holding(store, newest, index), set(wanted)
        while missing and position <= newest:
            window = list(itertools.takewhile(lambda kept: kept[0] >= position, store.checkpoints(page=WINDOW, below=position + WINDOW)))
            for sequence, text in reversed(window):
                for line in Note.from_text(text).signatures:
                    key = (line.name, line.key_id)
                    if line.name != origin and (index, *key) not in first:
                        first[(index, *key)] = (sequence, text, line)
                        missing.discard(key)
            position += WINDOW
    # The same line on the main checkpoint is the same cosignature, at the same time.
    carried = {(sequence, text) for sequence, text, line in first.values() if line not in note.signatures}
    return [text for _, text in sorted(carried)]


def build_certificate(ledger: Ledger, decision_id: str, policy: Policy | None = None) -> str:
    """The certificate of binding decision ``decision_id``, under the newest checkpoint.

    With ``policy``, the certificate is checked as ``verify-certificate --policy``
    will check it (witnessed time included), and refused rather than written if it fails.
    """
    try:
        decision, wanted, bound = _wanted(ledger, decision_id)
    except (KeyError, TypeError) as error:
        # The views are ours, written by the projectors: a field missing there is a damaged store.
        raise StorageError(COMPONENT, f"the stored views of {decision_id} lack field {error}: accord rebuild folds them again") from error
    close_index = _view_int(decision, "adopted")
    latest = ledger.store.latest_checkpoint()
    newest, note = (-1, None) if latest is None else (latest[0], Note.from_text(latest[1]))
    checkpoint = None if note is None else Checkpoint.from_text(note.text)
    if note is None or checkpoint is None or checkpoint.size <= close_index:
        raise VerificationError(COMPONENT, f"no checkpoint covers the close of {decision_id} (entry {close_index}) yet")
    entries = tuple(
        CertifiedEntry(index, ledger.log.entry(index).to_bytes(), tuple(ledger.log.inclusion_proof(index, checkpoint.size)))
        for index in sorted(wanted)
    )
    witnessed = tuple(
        WitnessedCheckpoint(text, tuple(ledger.log.consistency_proof(Checkpoint.from_text(Note.from_text(text).text).size, checkpoint.size)))
        for text in _first_cosigned(ledger.store, bound, (newest, note))
    )
    certificate = Certificate(
        origin=checkpoint.origin,
        anchor=ledger.log.entry(0).leaf_hash(),
        decision=decision_id,
        proposal=decision["proposal"],
        close=close_index,
        checkpoint=note.to_text(),
        entries=entries,
        witnessed=witnessed,
    )
    text = certificate.to_text()
    if policy is not None:
        from projections.certificate_check import verify_certificate  # it reads this module's model

        verify_certificate(text, certificate.anchor, policy=policy)
    return text
