"""Group commit: submissions pooled, judged in arrival order, appended and checkpointed together.

The HTTP handlers hand each submitted note to :meth:`Batcher.submit` and
await the future it returns. One worker thread (the rules and the Ed25519
checks are CPU-bound: off the event loop, which keeps accepting) takes the
submissions that arrive within ``window`` seconds of the first, up to
``max_batch``, and appends them through ``Ledger.append_each`` in one
transaction: a refused statement gets its own error and leaves the others
as they are. The accepted ones are covered by one checkpoint signed by the
operator and handed to ``publish`` (the step a witnessing policy wraps);
each caller's receipt is then proved from the batch's own nodes.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from ledger.batchtree import BatchTree
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.entry import Entry
from ledger.errors import AccordError, StorageError
from ledger.keys import Signer
from ledger.merkle import CompactRange
from ledger.note import Note
from ledger.tlog_proof import TlogProof
from projections.ledger import Ledger

WINDOW = 0.005
MAX_BATCH = 256
MAX_PENDING = 4_096

Publish = Callable[[Note], Note]
"""Given the operator-signed checkpoint of a batch, make it the log's published one and return
the note that now covers the batch (it, cosigned, or a newer one another writer published)."""


class Pushback(AccordError):
    """The queue of submissions is full: try again after ``retry_after`` seconds."""

    def __init__(self, pending: int, retry_after: int = 1) -> None:
        self.retry_after = retry_after
        super().__init__("log", f"too many submissions waiting: {pending}; try again in {retry_after} s")


class Unavailable(StorageError):
    """The store (or the publishing step) failed for the whole batch."""


@dataclass
class Submission:
    note: str
    answer: Future[TlogProof]
    arrived: float


def publish_checkpoint(ledger: Ledger) -> Publish:
    """The publishing step with no policy: store the note as the newest checkpoint unless a newer one is stored."""

    def publish(note: Note) -> Note:
        if ledger.log.adopt_checkpoint(note):
            return note
        latest = ledger.log.latest_checkpoint()
        assert latest is not None
        return latest

    return publish


class Batcher:
    """The writer of one server process: one thread, one Ledger."""

    def __init__(
        self,
        ledger: Ledger,
        operator: Signer,
        publish: Publish | None = None,
        *,
        window: float = WINDOW,
        max_batch: int = MAX_BATCH,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.ledger = ledger
        self.operator = operator
        self.publish = publish or publish_checkpoint(ledger)
        self.window = window
        self.max_batch = max_batch
        self._queue: queue.Queue[Submission] = queue.Queue(maxsize=max_pending)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="accord-batcher", daemon=True)
        self.batches = 0
        """Batches committed so far (for /status)."""

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def submit(self, note: str) -> Future[TlogProof]:
        """Queue ``note``; its future resolves to the receipt or to the AccordError that refused it.

        Raises Pushback at once when the queue is full.
        """
        submission = Submission(note, Future(), time.monotonic())
        try:
            self._queue.put_nowait(submission)
        except queue.Full:
            raise Pushback(self._queue.qsize()) from None
        return submission.answer

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                first = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            batch = [first]
            deadline = time.monotonic() + self.window
            while len(batch) < self.max_batch:
                remaining = deadline - time.monotonic()
                try:
                    batch.append(self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self.commit(batch)
            except Exception as error:  # a bug must not leave callers waiting forever
                for submission in batch:
                    if not submission.answer.done():
                        submission.answer.set_exception(Unavailable("log", f"the batch failed: {type(error).__name__}: {error}"))

    def commit(self, batch: Sequence[Submission]) -> None:
        """Append, checkpoint and answer one batch; every submission's future is resolved."""
        try:
            results = self.ledger.append_each([submission.note for submission in batch])
        except AccordError as error:
            for submission in batch:
                submission.answer.set_exception(Unavailable("log", f"storage unavailable: {error}"))
            return
        accepted: list[tuple[Submission, Entry]] = []
        for submission, result in zip(batch, results, strict=True):
            if isinstance(result, Entry):
                accepted.append((submission, result))
            else:
                submission.answer.set_exception(result)
        if not accepted:
            return
        try:
            receipts = self.receipts([entry for _, entry in accepted])
        except AccordError as error:
            # Appended but not covered by a published checkpoint: no 200 for them; the next
            # batch's checkpoint (or the server's start) covers them.
            for submission, _ in accepted:
                submission.answer.set_exception(Unavailable("log", f"appended but no checkpoint was published: {error}"))
            return
        self.batches += 1
        for (submission, _), receipt in zip(accepted, receipts, strict=True):
            submission.answer.set_result(receipt)

    def receipts(self, entries: Sequence[Entry]) -> list[TlogProof]:
        """Checkpoint the batch ``entries`` (consecutive, just appended) and prove each in it."""
        first, end = entries[0].index, entries[-1].index + 1
        frontier = CompactRange(first, self.ledger.store.read_nodes(CompactRange.frontier_ids(first)))
        tree = BatchTree(frontier, [entry.leaf_hash() for entry in entries])
        note = sign_checkpoint(Checkpoint(self.operator.name, end, tree.root()), self.operator)
        published = self.publish(note)
        size = Checkpoint.from_text(published.text).size
        # Another server may have appended after this batch and published a larger tree:
        # then the proofs are read from the stored nodes of that tree.
        prove = tree.inclusion_proof if size == end else self.ledger.log.inclusion_proof
        text = published.to_text()
        return [TlogProof(entry.index, tuple(prove(entry.index, size)), text) for entry in entries]
