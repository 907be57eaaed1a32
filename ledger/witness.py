"""A witness's decision (c2sp.org/tlog-witness ``add-checkpoint``), with no disk, clock or network.

Given what the witness cosigned last for a log and a request body, decide
the HTTP status the spec prescribes and, on success, the cosignature lines
and the new state. The checks come in the spec's order: unknown origin 404,
no trusted signature 403, old size above the checkpoint's 400, old size not
the one cosigned last 409 (with that size), same size but another root 409,
consistency proof that does not hold 422. A witness checks signatures and
consistency only; auditors replay the rules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ledger.checkpoint import Checkpoint, cosign, parse_decimal
from ledger.encoding import as_text, decode_base64, encode_base64
from ledger.errors import AccordError, MalformedError, ProofError
from ledger.evidence import Prefix, build_evidence
from ledger.keys import Signer, VerifierKey
from ledger.merkle import EMPTY_ROOT, HASH_SIZE, prefix_root, verify_consistency
from ledger.note import Note, known_signers

MAX_PROOF_LINES = 63
MAX_REQUEST_BYTES = 64 * 1024
SIZE_CONTENT_TYPE = "text/x.tlog.size"
_OLD = re.compile(r"old ([0-9]+)")


class WitnessRefusal(AccordError):
    """A request the witness refuses, with the HTTP ``status`` tlog-witness prescribes.

    ``size`` is the last cosigned size, for a 409 whose body must carry it.
    """

    def __init__(self, status: int, problem: str, size: int | None = None) -> None:
        self.status = status
        self.size = size
        self.evidence: str | None = None
        """Where the equivocation this refusal proves was written, if it proves one."""
        super().__init__("witness", problem)


@dataclass(frozen=True)
class AddCheckpoint:
    """An add-checkpoint request: the old size, the consistency proof from it, the checkpoint note."""

    old_size: int
    proof: tuple[bytes, ...]
    checkpoint_note: str

    @classmethod
    def from_bytes(cls, body: bytes) -> AddCheckpoint:
        """Parse a request body; WitnessRefusal(400) if it is not one."""
        if len(body) > MAX_REQUEST_BYTES:
            raise WitnessRefusal(400, f"request of {len(body)} bytes, want at most {MAX_REQUEST_BYTES}")
        try:
            text = as_text(body, "witness")
            head, blank, note = text.partition("\n\n")
            if not blank:
                raise MalformedError("witness", "no empty line between the consistency proof and the checkpoint")
            old_line, *proof_lines = head.split("\n")
            matched = _OLD.fullmatch(old_line)
            if matched is None:
                raise MalformedError("witness", f"first line got {old_line[:40]!r}, want 'old <size>'")
            old_size = parse_decimal(matched.group(1), "witness", "old size")
            if len(proof_lines) > MAX_PROOF_LINES:
                raise MalformedError("witness", f"got {len(proof_lines)} consistency proof lines, want at most {MAX_PROOF_LINES}")
            proof = tuple(decode_base64(line, "witness", f"proof line {n}") for n, line in enumerate(proof_lines, 1))
            for number, node in enumerate(proof, 1):
                if len(node) != HASH_SIZE:
                    raise MalformedError("witness", f"proof line {number} got {len(node)} bytes, want {HASH_SIZE}")
        except MalformedError as error:
            raise WitnessRefusal(400, error.problem) from error
        return cls(old_size, proof, note)

    def to_bytes(self) -> bytes:
        lines = [f"old {self.old_size}", *(encode_base64(node) for node in self.proof)]
        return ("".join(line + "\n" for line in lines) + "\n" + self.checkpoint_note).encode("utf-8")


@dataclass(frozen=True)
class Cosigned:
    """What a witness cosigned last for one log: its size, root and the checkpoint note as it came."""

    origin: str
    size: int
    root_hash: bytes
    checkpoint_note: str


@dataclass(frozen=True)
class Accepted:
    """A checkpoint the witness cosigns: its new state and the response body (signature lines)."""

    state: Cosigned
    cosignatures: str


def judge(
    request: AddCheckpoint,
    log_keys: Mapping[str, Sequence[VerifierKey]],
    last: Cosigned | None,
    witness: Signer,
    now: int,
) -> Accepted:
    """Decide one add-checkpoint request against ``last`` (None: never cosigned this log).

    ``log_keys`` maps each known origin to the keys trusted to sign its
    checkpoints. Raises WitnessRefusal with the spec's status; on success
    the caller must persist ``state`` before answering, atomically with
    having read ``last``.
    """
    try:
        note = Note.from_text(request.checkpoint_note)
    except AccordError as error:
        raise WitnessRefusal(400, f"checkpoint note: {error}") from error
    origin = note.text.split("\n", 1)[0]
    trusted = log_keys.get(origin)
    if not trusted:
        raise WitnessRefusal(404, f"unknown log {origin[:80]!r}")
    try:
        signed = known_signers(note, trusted)
    except AccordError as error:
        raise WitnessRefusal(403, f"checkpoint of {origin}: {error}") from error
    if not signed:
        raise WitnessRefusal(403, f"checkpoint of {origin} is not signed by a trusted key of the log")
    try:
        checkpoint = Checkpoint.from_text(note.text)
    except AccordError as error:
        raise WitnessRefusal(400, str(error)) from error
    if request.old_size > checkpoint.size:
        raise WitnessRefusal(400, f"old size {request.old_size} is above the checkpoint's size {checkpoint.size}")
    last_size, last_root = (0, EMPTY_ROOT) if last is None else (last.size, last.root_hash)
    if request.old_size != last_size:
        raise WitnessRefusal(409, f"old size got {request.old_size}, want {last_size}, the size cosigned last", last_size)
    if checkpoint.size == last_size and checkpoint.root_hash != last_root:
        raise WitnessRefusal(
            409, f"checkpoint of size {checkpoint.size} has root {encode_base64(checkpoint.root_hash)}, not the cosigned {encode_base64(last_root)}", last_size
        )
    if request.old_size == 0 or request.old_size == checkpoint.size:
        if request.proof:
            raise WitnessRefusal(422, f"consistency proof from size {request.old_size} got {len(request.proof)} lines, want none")
    else:
        try:
            verify_consistency(last_size, checkpoint.size, last_root, checkpoint.root_hash, request.proof)
        except ProofError as error:
            raise WitnessRefusal(422, f"checkpoint of size {checkpoint.size} is not consistent with size {last_size}: {error.problem}") from error
    line = cosign(note, witness, now)
    state = Cosigned(origin, checkpoint.size, checkpoint.root_hash, note.to_text())
    return Accepted(state, line.to_line())


def equivocation(request: AddCheckpoint, last: Cosigned, refusal: WitnessRefusal, log_keys: Mapping[str, Sequence[VerifierKey]]) -> str | None:
    """The evidence file (:mod:`ledger.evidence`) a refusal proves, or None: the log signed both the
    checkpoint cosigned last and the one refused, and they cannot both be true.

    A 409 for the size cosigned last with another root proves it outright. A
    422 proves it when the log's own proof binds the new root to another root
    at the cosigned size (its fork's); a proof that binds to nothing shows only
    a broken request, and one from a power-of-two size never shows the root it
    starts from.
    """
    if refusal.status not in (409, 422) or request.old_size != last.size:
        return None
    try:
        checkpoint = Checkpoint.from_text(Note.from_text(request.checkpoint_note).text)
    except AccordError:
        return None
    prefix: Prefix | None = None
    if checkpoint.size != last.size:
        try:
            root = prefix_root(last.size, checkpoint.size, checkpoint.root_hash, request.proof)
        except ProofError:
            return None

        def prefix(size1: int, size2: int) -> tuple[bytes, Sequence[bytes]]:
            return root, request.proof

    for key in log_keys.get(last.origin, ()):
        try:
            return build_evidence(last.checkpoint_note, request.checkpoint_note, key, prefix)
        except AccordError:
            continue
    return None
