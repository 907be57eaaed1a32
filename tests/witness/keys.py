"""Deterministic keys and trees for the witness tests."""

from __future__ import annotations

import hashlib

from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.keys import COSIGNATURE_V1, Signer
from ledger.merkle import MemoryTree

LOG = "accord.test/european-security"


def signer(name: str, generation: int = 0) -> Signer:
    return Signer.from_seed(name, hashlib.sha256(f"{name}/{generation}".encode()).digest())


def witness_signer(name: str) -> Signer:
    return Signer.from_seed(name, hashlib.sha256(f"witness {name}".encode()).digest(), COSIGNATURE_V1)


def tree(size: int, fork_at: int | None = None) -> MemoryTree:
    """A tree of ``size`` leaves; from ``fork_at`` on, leaves differ from the honest tree's."""
    built = MemoryTree()
    for index in range(size):
        forked = fork_at is not None and index >= fork_at
        built.append(f"{'fork' if forked else 'entry'} {index}".encode())
    return built


def checkpoint_note(log: Signer, built: MemoryTree, size: int | None = None) -> str:
    size = built.size if size is None else size
    return sign_checkpoint(Checkpoint(log.name, size, built.root_at(size)), log).to_text()
