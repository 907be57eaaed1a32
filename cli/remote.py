"""The ledger as a ``--log URL`` client sees it: state folded from the entry bundles, submissions over HTTP.

An acting command needs the rule state (the origin, a close's tally, the
ids it prints); the client folds it from the log's entries with every
signature checked, the same ``apply`` the server judges by. A receipt is
checked before it is written: the entry it proves must hold the statement
submitted, and the proof must lead to a checkpoint signed by the ledger's
operator.
"""

from __future__ import annotations

from domain.rules import apply
from domain.state import LedgerState
from ledger.checkpoint import Checkpoint
from ledger.entry import Entry
from ledger.note import Note
from ledger.errors import StorageError, VerificationError
from ledger.tlog_proof import TlogProof, verify_tlog_proof
from projections.audit import operator_keys
from server.client import LogClient


class RemoteLedger:
    """The log served at ``url``, read through tiles and written through ``POST /add``."""

    def __init__(self, url: str) -> None:
        self.client = LogClient(url)
        self._state: LedgerState | None = None
        self._size = 0
        self._last: Entry | None = None

    def close(self) -> None:
        self.client.close()

    def state_at(self, size: int, tree_size: int | None = None) -> LedgerState | None:
        """The rule state after the first ``size`` entries (fetched once, folded once), read from
        the bundles of the tree of ``tree_size`` (default ``size``)."""
        if size < self._size:
            raise StorageError("log", f"the log shrank from {self._size} to {size} entries")
        for data in self.client.entries(self._size, size, tree_size):
            self._last = Entry.from_bytes(data)
            self._state = apply(self._state, self._last)
            self._size += 1
        return self._state

    def state(self) -> LedgerState | None:
        """The rule state under the newest published checkpoint."""
        return self.state_at(self.client.checkpoint_size()[1])

    def submit(self, note_text: str) -> tuple[Entry, LedgerState, TlogProof]:
        """Submit a statement; the entry, the state after it and the checked receipt."""
        receipt = self.client.add(note_text)
        covered = Checkpoint.from_text(Note.from_text(receipt.checkpoint_note).text).size
        state = self.state_at(receipt.index + 1, covered)
        entry = self._last
        assert entry is not None and state is not None
        if entry.statement != note_text:
            raise VerificationError("receipt", f"entry {receipt.index} does not hold the statement submitted")
        keys = operator_keys(state)
        if not keys:
            raise VerificationError("receipt", "the log has no operator key to check the receipt's checkpoint with")
        verify_tlog_proof(receipt, entry.leaf_hash(), keys[-1])
        return entry, state, receipt
