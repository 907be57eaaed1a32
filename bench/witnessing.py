"""Figures of witnessing: add-checkpoint requests one witness serves, against raw Ed25519 signing.

A witness's work per request is: parse the body, verify the log's
signature, check a consistency proof, sign the cosignature and persist the
new size in a committed SQLite transaction. The proof is 20 hashes (a tree
of 2^18 + 1 entries from an old size near its end), as a busy log's would
be. Each round cosigns one request for each of ``LOGS`` logs whose state
was set just before, untimed; the baseline is the same number of raw
Ed25519 signatures with the witness's key, in the same rounds.
"""

from __future__ import annotations

import statistics
import time

from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.keys import COSIGNATURE_V1, Signer
from ledger.merkle import MemoryTree
from ledger.witness import AddCheckpoint
from ledger.witness_state import WitnessState

from bench.context import Bench, MeasurementFailed
from bench.report import Figure

NEW_SIZE = 2**18 + 1
OLD_SIZE = 261_215
"""From here to NEW_SIZE the RFC 9162 consistency proof is 20 hashes."""
LOGS = 50


def witness_add_checkpoint(bench: Bench) -> Figure:
    """Cosignatures per second one witness serves (20-hash proof checked, state committed), against raw Ed25519 signs/s."""
    tree = MemoryTree()
    for index in range(NEW_SIZE):
        tree.append(b"entry %d" % index)
    proof = tuple(tree.consistency_proof(OLD_SIZE, NEW_SIZE))
    if len(proof) != 20:
        raise MeasurementFailed(f"witness.add-checkpoint: proof of {len(proof)} hashes, want 20")
    seed = bytes(range(32))
    logs = [Signer.from_seed(f"bench.accord.example/log-{number}", seed) for number in range(LOGS)]
    keys = {log.name: [log.verifier_key()] for log in logs}
    witness = Signer.from_seed("bench.accord.example/witness", bytes(range(1, 33)), COSIGNATURE_V1)
    first = [AddCheckpoint(0, (), sign_checkpoint(Checkpoint(log.name, OLD_SIZE, tree.root_at(OLD_SIZE)), log).to_text()) for log in logs]
    requests = [
        AddCheckpoint(OLD_SIZE, proof, sign_checkpoint(Checkpoint(log.name, NEW_SIZE, tree.root_at(NEW_SIZE)), log).to_text()).to_bytes()
        for log in logs
    ]
    message = b"cosignature/v1\ntime 1800000000\n" + Checkpoint(logs[0].name, NEW_SIZE, tree.root_at(NEW_SIZE)).to_text().encode()
    rounds = max(3, bench.sizes.verify_rounds // 4)
    served, signed = [], []
    for number in range(rounds):
        state = WitnessState(bench.scratch(f"witness-{number}.db"))
        for request in first:
            state.cosign(request, keys, witness, lambda: 1_800_000_000)
        start = time.perf_counter()
        for body in requests:
            answer = state.add_checkpoint(body, keys, witness, lambda: 1_800_000_001)
            if answer.status != 200:
                raise MeasurementFailed(f"witness.add-checkpoint: got {answer.status}: {answer.body.decode()}")
        served.append(len(requests) / (time.perf_counter() - start))
        state.close()
        start = time.perf_counter()
        for _ in requests:
            witness.sign(message)
        signed.append(len(requests) / (time.perf_counter() - start))
    return Figure(
        name="witness.add-checkpoint",
        value=statistics.median(served),
        unit="cosignatures/s",
        about="WitnessState.add_checkpoint: parse, log signature, 20-hash consistency proof, cosign, SQLite commit (synchronous=FULL)",
        baseline=statistics.median(signed),
        baseline_about="raw Ed25519 signs/s with the witness key, same rounds",
        parameters={"proof_hashes": len(proof), "tree_size": NEW_SIZE, "old_size": OLD_SIZE, "requests_per_round": LOGS, "rounds": rounds},
    )
