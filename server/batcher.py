"""Group commit: submissions pooled, judged in arrival order, appended and checkpointed together.

The HTTP handler hands each submitted note to :meth:`Batcher.check_and_submit`
and awaits the future it returns: one of the batcher's checking threads
parses it and checks its signatures (:func:`prepare`: libsodium releases
the GIL, so the checks run beside the event loop and the batch), then
queues it in the order the submissions arrived (each takes a number when
handed over; a checked one waits for those before it, a refused one only
takes its turn). The appending
thread takes the submissions that arrive within ``window`` seconds of the
first, up to ``max_batch``, and appends them through ``Ledger.append_each``
in one transaction: the rules judge them in arrival order against the head,
and a refused statement gets its own error and leaves the others as they
are. The publishing thread then covers the accepted ones with one
checkpoint signed by the operator, handed to ``publish`` (the step a
witnessing policy wraps), and proves each caller's receipt from the batch's
own nodes; meanwhile the appending thread judges the next batch. Batches
are published in the order they were appended; when several wait, one
checkpoint covers them all.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from ledger.batchtree import BatchTree
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.entry import Entry
from ledger.errors import AccordError, StorageError
from ledger.keys import Signer
from ledger.merkle import CompactRange
from domain.rules import read_statement
from domain.state import LedgerState
from ledger.keys import VerifierKey
from ledger.note import Note, known_signers
from ledger.tlog_proof import TlogProof
from projections.ledger import SNAPSHOT_EVERY, Ledger, Prepared

WINDOW = 0.005
MAX_BATCH = 256
MAX_PENDING = 4_096
SNAPSHOT_SHARE = 0.01
"""Under load, the share of the appending thread's time that rule-state snapshots may take (see
:meth:`Batcher.snapshot`); idle, one is written once ``SNAPSHOT_EVERY`` entries have come."""
IDLE = 0.2
"""Seconds without a submission after which the appending thread counts as idle."""
CHECKERS = 2
"""Threads that parse submissions and check their signatures before the batch (libsodium releases the GIL)."""
AHEAD = 1
"""Batches the appending thread may append while the publishing thread still covers an earlier one."""

Check = Callable[[str, LedgerState | None], Prepared]
"""Parse a note and check its signatures against a recent rule state (:func:`prepare`)."""

Publish = Callable[[Note], Note]
"""Given the operator-signed checkpoint of a batch, make it the log's published one and return
the note that now covers the batch (it, cosigned, or a newer one another writer published)."""

Cover = Callable[[Note, Callable[[], bool]], Note | None]
"""The publishing step for a checkpoint of entries a stopped server appended without one: like
Publish, but it gives up (None) once the second argument says a batch's checkpoint, which covers
them too, is waiting to be published."""


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
    prepared: Prepared | None = None
    """The note parsed and its signatures checked already (:func:`prepare`), or None."""
    number: int = 0
    """Its place in the order of arrival (:meth:`Batcher.check_and_submit`)."""


@dataclass
class Appended:
    """A batch's accepted submissions and their entries, waiting for their checkpoint."""

    accepted: list[tuple[Submission, Entry]] = field(default_factory=list)


def prepare(note: str, state: LedgerState | None) -> Prepared:
    """``note`` parsed, with every signature by a key its actor holds in ``state`` checked now.

    The rules still decide which keys count (valid, revoked, the
    electorate's): the Verify returned answers their questions from the
    checks made here, and checks any other key itself. Raises the
    AccordError that parsing raises.
    """
    parsed = read_statement(note)
    signed, statement = parsed
    message = signed.text.encode("utf-8")
    checked: dict[tuple[VerifierKey, bytes], bool] = {}
    actor = None if state is None else state.actors.get(statement.actor)
    if actor is not None:
        for record in actor.keys:
            for signature in signed.signatures:
                if signature.made_by(record.key):
                    checked[(record.key, signature.signature)] = record.key.verify(message, signature.signature)

    def check(line: int, key: VerifierKey, signed_message: bytes, signature: bytes) -> bool:
        known = checked.get((key, signature)) if signed_message == message else None
        return key.verify(signed_message, signature) if known is None else known

    def verify(note: Note, keys: Sequence[VerifierKey]) -> list[VerifierKey]:
        return known_signers(note, keys, check)

    return parsed, verify


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
    """The writer of one server process: one Ledger, an appending thread and a publishing thread."""

    def __init__(
        self,
        ledger: Ledger,
        operator: Signer,
        publish: Publish | None = None,
        *,
        window: float = WINDOW,
        max_batch: int = MAX_BATCH,
        max_pending: int = MAX_PENDING,
        checkers: int = CHECKERS,
        check: Check | None = None,
        cover: Cover | None = None,
    ) -> None:
        self.ledger = ledger
        self.operator = operator
        self.publish = publish or publish_checkpoint(ledger)
        self.cover = cover
        """Publishes, before any batch, a checkpoint of what a stopped server left uncovered (see :meth:`_cover`)."""
        self.window = window
        self.max_batch = max_batch
        # SimpleQueue: put and get(timeout) in C, where queue.Queue took a Python Condition per item.
        self._queue: queue.SimpleQueue[Submission] = queue.SimpleQueue()
        self._appended: queue.Queue[Appended | None] = queue.Queue()
        self._ahead = threading.Semaphore(AHEAD + 1)
        """Batches appended and not yet answered, at most: while a checkpoint waits (for its
        witnesses, say), submissions wait in the queue, which answers 429 once full."""
        self._unchecked: queue.SimpleQueue[Submission | None] = queue.SimpleQueue()
        self.check = check or prepare
        self._numbers = itertools.count()
        """Numbers in order of arrival (next() on a count is atomic: no lock on the event loop's path)."""
        self._turns: dict[int, Submission | None] = {}
        """Checked submissions waiting for those that arrived before them (None: refused, only its turn)."""
        self._turn = 0
        """The number of the next submission to queue."""
        self._turns_lock = threading.Lock()
        self.max_pending = max_pending
        self._checkers = [threading.Thread(target=self._check_run, name=f"accord-check-{n}", daemon=True) for n in range(checkers)]
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="accord-batcher", daemon=True)
        self._publisher = threading.Thread(target=self._publish_run, name="accord-publisher", daemon=True)
        self.batches = 0
        """Batches committed so far (for /status)."""
        # A snapshot is JSON of the whole rule state, made under the GIL (some 10 ms per 1,000
        # nonces held): written with the rows of every 1,000th entry, it stalled the batch and
        # the event loop long enough to be the receipts' tail (serve.submit.latency.p99).
        ledger.snapshot_every = None
        self.snapshot_every = SNAPSHOT_EVERY
        """Entries after which a snapshot is due (when idle; under load, see :meth:`snapshot`)."""
        self._snapshot_at = self._folded()
        self._snapshot_done = time.monotonic()
        self._snapshot_took = 0.0

    def start(self) -> None:
        for checker in self._checkers:
            checker.start()
        self._thread.start()
        self._publisher.start()

    def stop(self) -> None:
        for _ in self._checkers:
            self._unchecked.put(None)
        for checker in self._checkers:
            checker.join(timeout=10)
        self._stopping.set()
        self._thread.join(timeout=10)
        self._appended.put(None)  # after the last batch appended: the publisher answers it, then ends
        self._publisher.join(timeout=10)

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    @property
    def state(self) -> LedgerState | None:
        """The rule state after the last batch this process appended (for :func:`prepare`; any recent one will do)."""
        return self.ledger.last_state

    def _folded(self) -> int:
        """Entries the held rule state has judged."""
        state = self.ledger.last_state
        return 0 if state is None else state.size

    def submit(self, note: str, prepared: Prepared | None = None) -> Future[TlogProof]:
        """Queue ``note``; its future resolves to the receipt or to the AccordError that refused it.

        Raises Pushback at once when the queue is full.
        """
        submission = Submission(note, Future(), time.monotonic(), prepared)
        self._enqueue(submission)
        return submission.answer

    def _enqueue(self, submission: Submission) -> None:
        """Queue a checked submission for the appending thread; Pushback once ``max_pending`` wait."""
        waiting = self._queue.qsize()
        if waiting >= self.max_pending:
            raise Pushback(waiting)
        self._queue.put(submission)

    def check_and_submit(self, note: str) -> Future[TlogProof]:
        """:func:`prepare` ``note`` in a checking thread, then :meth:`submit` it; the future resolves
        to its receipt, or to the AccordError that refused it (Pushback when the queue was full).

        One future for the caller to wait for, and one hand-over to the checking threads (a
        SimpleQueue: a thread pool's bookkeeping cost the event loop more than the hand-over).
        """
        submission: Submission = Submission(note, Future(), time.monotonic(), number=next(self._numbers))
        self._unchecked.put(submission)
        return submission.answer

    def _check_run(self) -> None:
        while (submission := self._unchecked.get()) is not None:
            self._check(submission)

    def _check(self, submission: Submission) -> None:
        checked: Submission | None = None
        try:
            submission.prepared = self.check(submission.note, self.state)
            checked = submission
        except AccordError as error:
            submission.answer.set_exception(error)
        except Exception as error:  # a bug must not leave the caller waiting forever
            _fail([submission], error)
        self._take_turn(submission, checked)

    def _take_turn(self, submission: Submission, checked: Submission | None) -> None:
        """Queue ``checked`` (``submission`` or None) once every submission that arrived before it is queued.

        The checking threads finish in any order; the batch must judge in the order of arrival
        (a vote right after its proposal). A refused one takes its turn and nothing else.
        """
        with self._turns_lock:
            if checked is not None and len(self._turns) >= self.max_pending:
                checked.answer.set_exception(Pushback(len(self._turns)))  # one slow check holds back at most this many
                checked = None
            self._turns[submission.number] = checked
            while self._turn in self._turns:
                ready = self._turns.pop(self._turn)
                self._turn += 1
                if ready is None:
                    continue
                try:
                    self._enqueue(ready)
                except Pushback as error:
                    ready.answer.set_exception(error)

    def _run(self) -> None:
        while not self._stopping.is_set():
            if not self._ahead.acquire(timeout=IDLE):
                continue
            try:
                first = self._queue.get(timeout=IDLE)
            except queue.Empty:
                self._ahead.release()
                self.snapshot(idle=True)
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
                appended = self.append(batch)
            except Exception as error:  # a bug must not leave callers waiting forever
                _fail(batch, error)
                appended = Appended()
            if appended.accepted:
                self._appended.put(appended)
            else:
                self._ahead.release()
            self.snapshot(idle=False)
        self.snapshot(idle=True, least=1)

    def snapshot(self, idle: bool, least: int | None = None) -> None:
        """Store a snapshot of the rule state (a restart's starting point) if it is due.

        Due once ``least`` (default ``snapshot_every``) entries were appended since the last; under load
        (not ``idle``) only once the time since the last is long enough for
        it to take at most ``SNAPSHOT_SHARE`` of this thread's time. A failed
        write is left for the next one: a snapshot is only a cache.
        """
        size = self._folded()
        now = time.monotonic()
        if size - self._snapshot_at < (self.snapshot_every if least is None else least) or (not idle and now - self._snapshot_done < self._snapshot_took / SNAPSHOT_SHARE):
            return
        try:
            self.ledger.write_snapshot()
        except AccordError:
            pass
        done = time.monotonic()
        self._snapshot_at, self._snapshot_done, self._snapshot_took = size, done, done - now

    def _cover(self) -> None:
        """Cover the entries a stopped server appended without a published checkpoint, through ``cover``.

        Under a policy that waits for the quorum (SPEC 12: never an operator-only checkpoint), as
        long as the witnesses are down; it gives way to the first batch appended meanwhile, whose
        checkpoint covers those entries too, so it never holds the batches back.
        """
        assert self.cover is not None
        head = self.ledger.log.head()
        latest = self.ledger.log.latest_checkpoint()
        if head.size == 0 or (latest is not None and Checkpoint.from_text(latest.text).size >= head.size):
            return
        note = sign_checkpoint(Checkpoint(self.operator.name, head.size, head.root), self.operator)
        try:
            self.cover(note, lambda: not self._appended.empty())
        except AccordError:
            pass  # stopped before the quorum cosigned: the next batch, or the next start, covers them

    def _publish_run(self) -> None:
        if self.cover is not None:
            self._cover()
        ending = False
        while not ending:
            item = self._appended.get()
            if item is None:
                break
            batches = [item]
            # Batches appended while the last checkpoint was being published: one checkpoint covers them all.
            while True:
                try:
                    more = self._appended.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    ending = True
                    break
                batches.append(more)
            accepted = [pair for batch in batches for pair in batch.accepted]
            try:
                self.answer(accepted)
            except Exception as error:  # a bug must not leave callers waiting forever
                _fail([submission for submission, _ in accepted], error)
            for _ in batches:
                self._ahead.release()

    def commit(self, batch: Sequence[Submission]) -> None:
        """Append, checkpoint and answer one batch in this thread; every submission's future is resolved."""
        appended = self.append(batch)
        if appended.accepted:
            self.answer(appended.accepted)

    def append(self, batch: Sequence[Submission]) -> Appended:
        """Judge and append one batch; the refused and the failed are answered, the accepted returned."""
        appended = Appended()
        prepared = [submission.prepared for submission in batch]
        try:
            results = self.ledger.append_each([submission.note for submission in batch], prepared if any(prepared) else None)
        except AccordError as error:
            for submission in batch:
                submission.answer.set_exception(Unavailable("log", f"storage unavailable: {error}"))
            return appended
        for submission, result in zip(batch, results, strict=True):
            if isinstance(result, Entry):
                appended.accepted.append((submission, result))
            else:
                submission.answer.set_exception(result)
        return appended

    def answer(self, accepted: Sequence[tuple[Submission, Entry]]) -> None:
        """Cover appended entries (consecutive) with one published checkpoint and answer each with its receipt."""
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


def _fail(batch: Sequence[Submission], error: Exception) -> None:
    for submission in batch:
        if not submission.answer.done():
            submission.answer.set_exception(Unavailable("log", f"the batch failed: {type(error).__name__}: {error}"))
