"""The log's side of witnessing (SPEC 12): ``accord serve --policy``.

Each batch's operator-signed checkpoint goes to every policy witness in
parallel with the consistency proof from the size that witness cosigned
last; a 409 names that size and the request is sent again from it. The
checkpoint is published, and the batch's receipts released, only once the
cosignatures that verified meet the policy's quorum; until then the batch
waits and is sent again (receipts wait, ``/healthz`` says 503). While no
batch comes, the latest checkpoint is sent again every ``witness_lag / 2``
so that the witnesses' times keep moving.

Requests to one witness are sent one at a time, in order: a slow witness
never sees two requests race, and a batch does not wait for it once the
others made the quorum. Its cosignature, when it comes, is added to the
checkpoint if that is still the latest, so that its time is kept too.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import httpx

from ledger.checkpoint import Checkpoint
from ledger.errors import AccordError, StorageError
from ledger.encoding import encode_base64
from ledger.note import Note, NoteSignature
from ledger.policy import Policy, PolicyWitness
from ledger.witness import SIZE_CONTENT_TYPE
from projections.ledger import Ledger

REQUEST_TIMEOUT = 5.0
RETRY_PAUSE = 0.5
"""Seconds between rounds while the quorum is not met."""
MAX_CONFLICTS = 3


class QuorumUnavailable(StorageError):
    """The policy's quorum did not cosign (witnesses down or refusing): nothing is published."""


@dataclass
class _Witness:
    policy: PolicyWitness
    url: str
    """The policy's URL for this witness (Witnessing refuses a witness without one)."""
    executor: ThreadPoolExecutor
    cosigned: int = 0
    """The size this witness told us it cosigned last (0 until it says)."""
    last_error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class Witnessing:
    """Gathers a policy's cosignatures for the checkpoints of the ledger in ``store_url``."""

    def __init__(self, policy: Policy, store_url: str, *, timeout: float = REQUEST_TIMEOUT, clock: Callable[[], float] = time.monotonic) -> None:
        urls = {w.name: w.url for w in policy.witnesses.values() if w.url}
        missing = [w.name for w in policy.witnesses.values() if w.name not in urls]
        if missing:
            raise QuorumUnavailable("policy", f"witness {missing[0]} has no URL to send checkpoints to")
        self.policy = policy
        self.ledger = Ledger.open(store_url)
        self.client = httpx.Client(timeout=timeout, headers={"Content-Type": "text/plain; charset=utf-8"})
        self.witnesses = {w.name: _Witness(w, urls[w.name], ThreadPoolExecutor(1, thread_name_prefix=f"witness-{w.name}")) for w in policy.witnesses.values()}
        self.clock = clock
        self.lock = threading.Lock()
        self.quorum_met = True
        self.problem: str | None = None
        self.last_round = clock()
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None
        self._late: list[tuple[str, list[NoteSignature]]] = []
        """Cosignatures that came after their round's quorum, until their checkpoint is stored."""
        self._late_lock = threading.Lock()

    # Sending.

    def _request(self, witness: _Witness, note: Note, size: int) -> bytes:
        old = witness.cosigned if witness.cosigned <= size else 0
        proof = self.ledger.log.consistency_proof(old, size) if 0 < old < size else []
        lines = f"old {old}\n" + "".join(encode_base64(node) + "\n" for node in proof)
        return (lines + "\n" + note.to_text()).encode("utf-8")

    def _send(self, witness: _Witness, note: Note, size: int) -> list[NoteSignature]:
        """One witness's cosignature lines on ``note`` (verified), after at most MAX_CONFLICTS 409s; [] on failure."""
        with witness.lock:
            try:
                for _ in range(MAX_CONFLICTS):
                    response = self.client.post(witness.url.rstrip("/") + "/add-checkpoint", content=self._request(witness, note, size))
                    if response.status_code == 409 and response.headers.get("content-type", "").startswith(SIZE_CONTENT_TYPE):
                        told = response.text.strip()
                        if not (told.isascii() and told.isdigit()) or len(told) > 19 or int(told) > size:
                            raise QuorumUnavailable("witness", f"{witness.policy.name} has cosigned size {told[:20]}, beyond {size}")
                        witness.cosigned = int(told)
                        continue
                    if response.status_code != 200:
                        raise QuorumUnavailable("witness", f"{witness.policy.name} answered {response.status_code}: {response.text.strip()[:200]}")
                    cosigned = Note.from_text(note.to_text() + response.text)
                    times = self.policy.cosigners(cosigned)
                    if witness.policy.name not in times:
                        raise QuorumUnavailable("witness", f"{witness.policy.name} answered 200 without its cosignature")
                    witness.cosigned, witness.last_error = size, None
                    return [s for s in cosigned.signatures if s.made_by(witness.policy.key)]
                raise QuorumUnavailable("witness", f"{witness.policy.name} answered 409 {MAX_CONFLICTS} times in a row")
            except (httpx.HTTPError, AccordError) as error:
                witness.last_error = f"{witness.policy.name}: {error}"
                return []

    def gather(self, note: Note) -> Note | None:
        """``note`` with the cosignatures gathered in one round, once they meet the quorum; else None.

        Returns as soon as the quorum is met; slower witnesses finish in the background.
        """
        size = Checkpoint.from_text(note.text).size
        pending: dict[Future[list[NoteSignature]], str] = {}
        for name, witness in self.witnesses.items():
            if witness.lock.locked():
                continue  # still answering an earlier checkpoint: it catches up on the next one
            pending[witness.executor.submit(self._send, witness, note, size)] = name
        gathered: list[NoteSignature] = []
        cosigners: set[str] = set()
        waiting = set(pending)
        while waiting and not self.policy.met_by(cosigners):
            done, waiting = wait(waiting, return_when="FIRST_COMPLETED")
            for future in done:
                lines = future.result()
                if lines:
                    gathered += lines
                    cosigners.add(pending[future])
        for future in waiting:
            future.add_done_callback(functools.partial(self._arrived, note.text))
        self.last_round = self.clock()
        if not self.policy.met_by(cosigners):
            errors = [w.last_error for w in self.witnesses.values() if w.last_error]
            self.quorum_met, self.problem = False, f"quorum {self.policy.quorum} not met: cosigned by {', '.join(sorted(cosigners)) or 'none'}; " + "; ".join(errors)
            return None
        self.quorum_met, self.problem = True, None
        return note.with_signatures(*gathered)

    def _arrived(self, text: str, future: Future[list[NoteSignature]]) -> None:
        """A slower witness's lines for the checkpoint ``text``: kept with it once it is the latest."""
        if future.cancelled() or future.exception() is not None or not future.result():
            return
        with self._late_lock:
            self._late = [*self._late[-len(self.witnesses) :], (text, future.result())]
        self._keep_late()

    def _keep_late(self) -> None:
        """Add the late cosignatures of the latest stored checkpoint to it; forget those of older ones."""
        with self._late_lock:
            late, self._late = self._late, []
            latest = self.ledger.log.latest_checkpoint() if late else None
            for text, lines in late:
                if latest is None or text != latest.text:
                    if latest is None or Checkpoint.from_text(text).size > Checkpoint.from_text(latest.text).size:
                        self._late.append((text, lines))  # its round's checkpoint is not stored yet
                    continue
                for line in lines:
                    for witness in self.witnesses.values():
                        if line.made_by(witness.policy.key):
                            try:
                                self.ledger.log.add_cosignature(line, witness.policy.key)
                            except AccordError:
                                pass  # a newer checkpoint was stored meanwhile: it carries its own

    # Publishing.

    def publish(self, note: Note) -> Note:
        """The batcher's publishing step: wait (sending again) until the quorum cosigned, then store it."""
        with self.lock:
            while not self._stop.is_set():
                cosigned = self.gather(note)
                if cosigned is not None:
                    if self.ledger.log.adopt_checkpoint(cosigned):
                        self._keep_late()
                        latest = self.ledger.log.latest_checkpoint()
                        return latest if latest is not None and latest.text == cosigned.text else cosigned
                    latest = self.ledger.log.latest_checkpoint()
                    if latest is not None:
                        return latest
                self._stop.wait(RETRY_PAUSE)
            raise QuorumUnavailable("log", f"stopped before the witnesses cosigned: {self.problem}")

    def refresh(self) -> None:
        """Send the latest published checkpoint again, and keep the newer cosignatures."""
        with self.lock:
            latest = self.ledger.log.latest_checkpoint()
            if latest is None:
                return
            cosigned = self.gather(latest)
            if cosigned is None:
                return
            for name, witness in self.witnesses.items():
                for line in cosigned.signatures:
                    if line.made_by(witness.policy.key) and line not in latest.signatures:
                        try:
                            self.ledger.log.add_cosignature(line, witness.policy.key)
                        except AccordError:
                            pass  # a newer checkpoint was published meanwhile: it carries its own
            self._keep_late()

    def start(self, interval: float | None = None) -> None:
        """Start re-sending every ``interval`` s (default: the charter's witness_lag / 2) while idle."""
        if interval is None:
            state = self.ledger.state()
            interval = 150.0 if state is None else state.settings.witness_lag_seconds / 2
        every = max(0.5, interval)

        def run() -> None:
            while not self._stop.wait(min(every, 1.0)):
                if self.clock() - self.last_round >= every:
                    try:
                        self.refresh()
                    except AccordError as error:
                        self.quorum_met, self.problem = False, str(error)

        self._refresher = threading.Thread(target=run, name="witness-refresh", daemon=True)
        self._refresher.start()

    def stop(self) -> None:
        self._stop.set()
        if self._refresher is not None:
            self._refresher.join(timeout=10)
        for witness in self.witnesses.values():
            witness.executor.shutdown(wait=False, cancel_futures=True)
        self.client.close()
        self.ledger.close()

    def health(self) -> str | None:
        """Why the log is not healthy as far as witnessing goes, or None."""
        return None if self.quorum_met else self.problem
