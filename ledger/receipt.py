"""Checking a receipt offline: the statement a delegation submitted is entry ``index`` of the log.

A receipt is a C2SP tlog-proof@v1 (ledger/tlog_proof.py) whose ``extra`` line
carries the entry's ``logged_at``. The leaf hash commits to it, so the extra
needs no trust: a wrong time makes a different leaf, and the inclusion proof
fails. With the statement as submitted, the index and that time, the
verifier rebuilds the entry's bytes (SPEC section 4) and checks the proof.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ledger.checkpoint import Checkpoint
from ledger.entry import Entry
from ledger.errors import MalformedError, ProofError, VerificationError
from ledger.keys import VerifierKey
from ledger.note import Note, known_signers
from ledger.statement import Statement
from ledger.timefmt import parse_time
from ledger.tlog_proof import TlogProof, verify_tlog_proof


@dataclass(frozen=True)
class ProvenEntry:
    """What a receipt proves: ``entry`` is in the log under ``checkpoint``, cosigned by ``cosigners``."""

    entry: Entry
    statement: Statement
    checkpoint: Checkpoint
    cosigners: tuple[VerifierKey, ...]


def dated(proof: TlogProof, entry: Entry) -> TlogProof:
    """``proof`` of ``entry`` carrying the entry's ``logged_at`` on its extra line, as the receipts
    Accord hands out do, so that the statement alone, as submitted, is enough to check it."""
    if entry.index != proof.index:
        raise MalformedError("receipt", f"entry {entry.index} for a proof of entry {proof.index}")
    return TlogProof(proof.index, proof.hashes, proof.checkpoint_note, entry.logged_at.encode("ascii"))


def verify_receipt(
    receipt_text: str,
    statement_text: str,
    operator_key: VerifierKey,
    witness_keys: Iterable[VerifierKey] = (),
    quorum: int = 0,
) -> ProvenEntry:
    """Check that the signed statement ``statement_text`` is the entry the receipt names, under a
    checkpoint the operator signed and ``quorum`` of ``witness_keys`` cosigned."""
    proof = TlogProof.from_text(receipt_text)
    if proof.extra is None:
        raise MalformedError("receipt", "no extra line with the entry's logged_at: ask the operator for a new one with accord prove INDEX")
    try:
        logged_at = proof.extra.decode("ascii")
    except UnicodeDecodeError as error:
        raise MalformedError("receipt", "extra line: want the entry's logged_at, RFC 3339 UTC") from error
    parse_time(logged_at, "receipt logged_at")
    statement = Statement.from_text(Note.from_text(statement_text).text)
    if statement.origin != operator_key.name:
        raise VerificationError("receipt", f"the statement is for the ledger {statement.origin!r}, the log key for {operator_key.name!r}")
    entry = Entry(proof.index, logged_at, statement_text)
    witnesses = list(witness_keys)
    try:
        checkpoint = verify_tlog_proof(proof, entry.leaf_hash(), operator_key, witnesses, quorum)
    except ProofError as error:
        raise VerificationError("receipt", f"this statement is not entry {proof.index} under the receipt's checkpoint: {error}") from error
    cosigners = known_signers(Note.from_text(proof.checkpoint_note), witnesses)
    return ProvenEntry(entry, statement, checkpoint, tuple(cosigners))
