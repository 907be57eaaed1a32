"""The log's side of witnessing (SPEC 12): ``accord serve --policy``.

Each batch's operator-signed checkpoint goes to every policy witness in
parallel with the consistency proof from the size that witness cosigned
last; a 409 names that size and the request is sent again from it. The
checkpoint is published, and the batch's receipts released, only once the
cosignatures that verified meet the policy's quorum; until then the batch
waits and is sent again (receipts wait, ``/healthz`` says 503). While no
batch comes, the latest checkpoint is sent again every ``witness_lag / 2``
so that the witnesses' times keep moving.

Each witness has a sender thread of its own that sends one request at a
time, on a kept-alive connection: a slow witness never sees two requests
race. A round waits for the quorum among every witness, not only those idle
when it began: one still busy with the previous checkpoint is given the new
one as soon as it answers (older ones it never got are skipped, newest
first), so a round waits for the quorum's fastest members and no longer.
A cosignature that comes after its round's quorum is kept with its
checkpoint while that is still the newest stored: written in the same
transaction as the next checkpoint (a version of the older one carrying it,
just before), or within FLUSH_EVERY when no batch comes, so that its time
bounds logged_at too and no extra write competes with the appends. One
that comes once a newer checkpoint is stored is dropped (``late_dropped``):
the checkpoint stream is kept in order of size, which its readers bisect.
Answers are read to at most MAX_ANSWER_BYTES.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from ledger.checkpoint import Checkpoint
from ledger.errors import AccordError, StorageError
from ledger.encoding import encode_base64
from ledger.note import Note, NoteSignature
from ledger.policy import Policy, PolicyWitness
from ledger.store import AppendConflict
from ledger.witness import SIZE_CONTENT_TYPE
from projections.ledger import Ledger

REQUEST_TIMEOUT = 5.0
RETRY_PAUSE = 0.5
"""Seconds between rounds while the quorum is not met."""
MAX_CONFLICTS = 3
MAX_ANSWER_BYTES = 64 * 1024
"""A witness's answer is a few signature lines (or a size): more is refused, never read whole."""
MAX_STORE_ATTEMPTS = 5
MAX_HELD = 64
"""Late answers held at most (a few per witness are ever pending)."""
FLUSH_EVERY = 0.5
"""Seconds at most that late lines wait while no batch comes (a batch's checkpoint carries them sooner)."""
KEEPALIVE_SECONDS = 60.0
"""How long an idle connection to a witness is kept (``accord witness serve`` keeps them longer)."""


class QuorumUnavailable(StorageError):
    """The policy's quorum did not cosign (witnesses down or refusing): nothing is published."""


@dataclass
class _Witness:
    policy: PolicyWitness
    url: str
    """The policy's URL for this witness (Witnessing refuses a witness without one)."""
    cosigned: int = 0
    """The size this witness told us it cosigned last (0 until it says)."""
    last_error: str | None = None
    wanted: Note | None = None
    """The newest checkpoint to send once the sender is free (None: nothing to send)."""
    thread: threading.Thread | None = None


@dataclass
class _Round:
    """What one round (one checkpoint) has gathered: per witness, its lines ([] for a failure)."""

    note: Note
    answers: dict[str, list[NoteSignature]] = field(default_factory=dict)
    open: bool = True
    """False once the round returned: later answers are late ones."""


class Witnessing:
    """Gathers a policy's cosignatures for the checkpoints of the ledger in ``store_url``."""

    def __init__(self, policy: Policy, store_url: str, *, timeout: float = REQUEST_TIMEOUT, clock: Callable[[], float] = time.monotonic) -> None:
        urls = {w.name: w.url for w in policy.witnesses.values() if w.url}
        missing = [w.name for w in policy.witnesses.values() if w.name not in urls]
        if missing:
            raise QuorumUnavailable("policy", f"witness {missing[0]} has no URL to send checkpoints to")
        self.policy = policy
        self.timeout = timeout
        self.ledger = Ledger.open(store_url)
        self.client = httpx.Client(
            timeout=timeout,
            headers={"Content-Type": "text/plain; charset=utf-8"},
            limits=httpx.Limits(max_connections=2 * len(urls) + 2, max_keepalive_connections=2 * len(urls) + 2, keepalive_expiry=KEEPALIVE_SECONDS),
        )
        self.witnesses = {w.name: _Witness(w, urls[w.name]) for w in policy.witnesses.values()}
        self.clock = clock
        self.lock = threading.Lock()
        self.quorum_met = True
        self.problem: str | None = None
        self.last_round = clock()
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None
        self._changed = threading.Condition()
        """Guards every witness's wanted/sending and the rounds; notified on each answer."""
        self._round: _Round | None = None
        self._late: dict[int, tuple[str, list[NoteSignature]]] = {}
        """Cosignatures that came after their round returned, by arrival number, until they are stored."""
        self._arrivals = 0
        """Cosignatures that came after their round's quorum, until their checkpoint is stored."""
        self._late_lock = threading.Lock()
        self.late_dropped = 0
        """Late lines of a checkpoint that was no longer the newest when they came (see :meth:`_forget`)."""
        self._proofs: dict[tuple[int, int], list[bytes]] = {}
        self._proofs_lock = threading.Lock()
        for witness in self.witnesses.values():
            witness.thread = threading.Thread(target=self._sender, args=(witness,), name=f"witness-{witness.policy.name}", daemon=True)
            witness.thread.start()

    # Sending.

    def _request(self, witness: _Witness, note: Note, size: int) -> bytes:
        old = witness.cosigned if witness.cosigned <= size else 0
        proof = self._consistency_proof(old, size) if 0 < old < size else []
        lines = f"old {old}\n" + "".join(encode_base64(node) + "\n" for node in proof)
        return (lines + "\n" + note.to_text()).encode("utf-8")

    def _consistency_proof(self, old: int, size: int) -> list[bytes]:
        """The proof from ``old`` to ``size``, read once per round for every witness that needs it."""
        with self._proofs_lock:
            proof = self._proofs.get((old, size))
        if proof is None:
            proof = self.ledger.log.consistency_proof(old, size)
            with self._proofs_lock:
                if len(self._proofs) >= 4 * len(self.witnesses):
                    self._proofs.clear()
                self._proofs[(old, size)] = proof
        return proof

    def _post(self, witness: _Witness, body: bytes) -> tuple[int, str, str]:
        """One POST /add-checkpoint: (status, content type, body), the body read to at most MAX_ANSWER_BYTES.

        A kept-alive connection the witness closed meanwhile fails before any answer: sent again once.
        """
        url = witness.url.rstrip("/") + "/add-checkpoint"
        for attempt in range(2):
            try:
                with self.client.stream("POST", url, content=body) as response:
                    read = bytearray()
                    for chunk in response.iter_bytes():
                        read += chunk
                        if len(read) > MAX_ANSWER_BYTES:
                            raise QuorumUnavailable("witness", f"{witness.policy.name} answered more than {MAX_ANSWER_BYTES} bytes")
                    return response.status_code, response.headers.get("content-type", ""), read.decode("utf-8", "replace")
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
                if attempt:
                    raise
        raise AssertionError("unreachable: the second attempt returns or raises")

    def _send(self, witness: _Witness, note: Note, size: int) -> list[NoteSignature]:
        """One witness's cosignature lines on ``note`` (verified), after at most MAX_CONFLICTS 409s; [] on failure."""
        try:
            for _ in range(MAX_CONFLICTS):
                status, content_type, text = self._post(witness, self._request(witness, note, size))
                if status == 409 and content_type.startswith(SIZE_CONTENT_TYPE):
                    told = text.strip()
                    if not (told.isascii() and told.isdigit()) or len(told) > 19 or int(told) > size:
                        raise QuorumUnavailable("witness", f"{witness.policy.name} has cosigned size {told[:20]}, beyond {size}")
                    witness.cosigned = int(told)
                    continue
                if status != 200:
                    raise QuorumUnavailable("witness", f"{witness.policy.name} answered {status}: {text.strip()[:200]}")
                cosigned = Note.from_text(note.to_text() + text)
                times = self.policy.cosigners(cosigned)
                if witness.policy.name not in times:
                    raise QuorumUnavailable("witness", f"{witness.policy.name} answered 200 without its cosignature")
                witness.cosigned, witness.last_error = size, None
                return [s for s in cosigned.signatures if s.made_by(witness.policy.key)]
            raise QuorumUnavailable("witness", f"{witness.policy.name} answered 409 {MAX_CONFLICTS} times in a row")
        except (httpx.HTTPError, AccordError) as error:
            witness.last_error = f"{witness.policy.name}: {error}"
            return []

    def _sender(self, witness: _Witness) -> None:
        """A witness's sender thread: sends the newest wanted checkpoint, one at a time, until stopped."""
        while True:
            with self._changed:
                while witness.wanted is None and not self._stop.is_set():
                    self._changed.wait()
                if self._stop.is_set():
                    return
                note, witness.wanted = witness.wanted, None
            assert note is not None
            lines = self._send(witness, note, Checkpoint.from_text(note.text).size)
            late = False
            with self._changed:
                round_ = self._round
                if round_ is not None and round_.open and round_.note.text == note.text:
                    round_.answers[witness.policy.name] = lines
                else:
                    late = bool(lines)
                self._changed.notify_all()
            if late:
                self._arrived(note.text, lines)

    def gather(self, note: Note) -> Note | None:
        """``note`` with the cosignatures gathered in one round, once they meet the quorum; else None.

        Returns as soon as the quorum is met, or once every witness answered (or failed) without
        meeting it; slower witnesses finish in the background.
        """
        round_ = _Round(note)
        deadline = time.monotonic() + self.timeout * (MAX_CONFLICTS + 1)
        with self._changed:
            self._round = round_
            for witness in self.witnesses.values():
                witness.wanted = note
            self._changed.notify_all()

            def cosigners() -> set[str]:
                return {name for name, lines in round_.answers.items() if lines}

            while not self.policy.met_by(cosigners()) and len(round_.answers) < len(self.witnesses) and not self._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            round_.open = False
            done = cosigners()
            gathered = [line for name in done for line in round_.answers[name]]
        self.last_round = self.clock()
        if not self.policy.met_by(done):
            errors = [w.last_error for w in self.witnesses.values() if w.last_error]
            self.quorum_met, self.problem = False, f"quorum {self.policy.quorum} not met: cosigned by {', '.join(sorted(done)) or 'none'}; " + "; ".join(errors)
            return None
        self.quorum_met, self.problem = True, None
        return note.with_signatures(*gathered)

    def _arrived(self, text: str, lines: list[NoteSignature]) -> None:
        """A slower witness's (verified) lines for the checkpoint ``text``: held until :meth:`_store` writes them with it."""
        with self._late_lock:
            self._arrivals += 1
            self._late[self._arrivals] = (text, lines)
            while len(self._late) > MAX_HELD:
                self.late_dropped += len(self._late.pop(next(iter(self._late)))[1])

    @property
    def late_held(self) -> int:
        """Late answers held, not stored yet."""
        with self._late_lock:
            return len(self._late)

    def _forget(self, stored: set[str], newest: Note, held: dict[int, tuple[str, list[NoteSignature]]]) -> None:
        """Let go of the ``held`` entries but those of checkpoints newer than ``newest`` (not stored yet).

        Those of the checkpoints in ``stored`` are stored now. Those of older ones are dropped: the
        log stores checkpoints in order of size, so a line that comes once a newer checkpoint is
        stored has no place left (counted in ``late_dropped``).
        """
        size = Checkpoint.from_text(newest.text).size
        with self._late_lock:
            for number, (text, lines) in held.items():
                if number not in self._late or Checkpoint.from_text(text).size > size:
                    continue
                del self._late[number]
                if text not in stored:
                    self.late_dropped += len(lines)

    def _store(self, cosigned: Note | None) -> Note | None:
        """Store ``cosigned`` as the newest checkpoint, in ONE transaction with the held late lines of
        the checkpoint it follows (a version of that one carrying them, stored just before it); with
        None, only those lines. Returns the newest stored note: ``cosigned`` (with any late lines of
        its own), or a newer one another server stored.
        """
        store = self.ledger.store
        for _ in range(MAX_STORE_ATTEMPTS):
            with self._late_lock:
                held = dict(self._late)

            def late(note: Note) -> list[NoteSignature]:
                return [line for text, got in held.values() if text == note.text for line in got if line not in note.signatures]

            latest = store.latest_checkpoint()
            newest = None if latest is None else Note.from_text(latest[1])
            sequence = 0 if latest is None else latest[0] + 1
            rows: list[tuple[int, str]] = []
            handled = set() if newest is None else {newest.text}
            if newest is not None and late(newest):
                newest = newest.with_signatures(*late(newest))
                rows.append((sequence, newest.to_text()))
            if cosigned is not None and (newest is None or Checkpoint.from_text(newest.text).size < Checkpoint.from_text(cosigned.text).size):
                newest = cosigned.with_signatures(*late(cosigned))
                rows.append((sequence + len(rows), newest.to_text()))
                handled.add(newest.text)
            if rows:
                try:
                    store.append_many([], rows)
                except AppendConflict:
                    continue  # another server stored a checkpoint meanwhile: read it and try again
            if newest is not None:
                self._forget(handled, newest, held)
            return newest
        raise StorageError("log", f"checkpoint lost {MAX_STORE_ATTEMPTS} races in a row")

    # Publishing.

    def publish(self, note: Note) -> Note:
        """The batcher's publishing step: wait (sending again) until the quorum cosigned, then store it."""
        published = self.publish_unless(note, lambda: False)
        assert published is not None
        return published

    def publish_unless(self, note: Note, superseded: Callable[[], bool]) -> Note | None:
        """:meth:`publish`, but None once ``superseded()`` says between rounds that a newer checkpoint waits."""
        with self.lock:
            while not self._stop.is_set():
                cosigned = self.gather(note)
                if cosigned is not None:
                    stored = self._store(cosigned)
                    if stored is not None:
                        return stored
                if superseded():
                    return None
                self._stop.wait(RETRY_PAUSE)
            raise QuorumUnavailable("log", f"stopped before the witnesses cosigned: {self.problem}")

    def refresh(self) -> None:
        """Send the latest published checkpoint again, and keep the newer cosignatures (one stored version)."""
        with self.lock:
            latest = self.ledger.log.latest_checkpoint()
            if latest is None:
                return
            cosigned = self.gather(latest)
            if cosigned is not None:
                self._arrived(latest.text, [line for line in cosigned.signatures if line not in latest.signatures])
            self._store(None)

    def flush(self) -> None:
        """Store the held late lines now, unless a batch is being published (which stores them with its checkpoint)."""
        if self._late and self.lock.acquire(blocking=False):
            try:
                self._store(None)
            finally:
                self.lock.release()

    def start(self, interval: float | None = None) -> None:
        """Start re-sending every ``interval`` s (default: the charter's witness_lag / 2) while idle."""
        if interval is None:
            state = self.ledger.state()
            interval = 150.0 if state is None else state.settings.witness_lag_seconds / 2
        every = max(0.5, interval)

        def run() -> None:
            while not self._stop.wait(min(every, FLUSH_EVERY)):
                try:
                    idle = self.clock() - self.last_round
                    if idle >= every:
                        self.refresh()
                    elif idle >= FLUSH_EVERY:
                        self.flush()  # under load the next batch's checkpoint carries them, in its own write
                except AccordError as error:
                    self.quorum_met, self.problem = False, str(error)

        self._refresher = threading.Thread(target=run, name="witness-refresh", daemon=True)
        self._refresher.start()

    def stop(self) -> None:
        with self._changed:
            self._stop.set()
            self._changed.notify_all()
        if self._refresher is not None:
            self._refresher.join(timeout=10)
        for witness in self.witnesses.values():
            if witness.thread is not None:
                witness.thread.join(timeout=self.timeout * 2)
        try:
            with self.lock:
                self._store(None)  # the late lines still held
        except AccordError:
            pass  # the store is going away with the server: those lines are lost, nothing else is
        self.client.close()
        self.ledger.close()

    def health(self) -> str | None:
        """Why the log is not healthy as far as witnessing goes, or None."""
        return None if self.quorum_met else self.problem
