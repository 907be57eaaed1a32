"""Checking entries in parallel: everything about an entry that needs no rule state.

An entry's bytes, its canonical form, its signed note, its statement, its
leaf hash and the cryptography of its signatures can be checked without
knowing what came before it. Worker processes do that, a chunk of entries at
a time, while the verifier folds the rules in log order; the fold then only
asks which keys signed, and gets the answer the workers computed.

A worker checks a signature line against the keys it was told of when its
chunk was sent: every key held where the replay started, and every key the
entries sent so far name (announced_keys). Telling a worker of a key
changes nothing but speed: the fold decides which keys count, and checks
itself a line by a key no worker was told of.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import multiprocessing
import multiprocessing.connection
import os
import queue
import re
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from domain.rules import read_statement
from domain.state import LedgerState
from ledger import ed25519
from ledger.entry import Entry
from ledger.errors import AccordError
from ledger.keys import VerifierKey
from ledger.merkle import leaf_hash
from ledger.note import Note, NoteSignature, known_signers
from ledger.statement import Statement

CHUNK = 256
WINDOW = 3
"""Chunks in flight per worker: enough to keep workers busy, few enough to stream."""
PARALLEL_FROM = 2_000
"""Below this many entries, a pool costs more than it saves."""
WORKER_NICENESS = 10
"""How much lower than the fold's a worker's scheduling priority is (``os.nice``); see :func:`yield_to_the_fold`."""

Registry = Mapping[tuple[str, bytes], Sequence[bytes]]
"""Public keys by (key name, key id)."""

Tried = tuple[Mapping[bytes, bool] | None, ...]
"""Per signature line: the public keys tried and whether each verified; None when none was known."""

Fields = dict[str, Any]
"""A model's fields (its ``__dict__``), as a worker parsed and checked them."""

Verdict = tuple[bytes, Tried, AccordError | None, Fields | None, str, tuple[Fields, ...], Fields | None]
"""What a worker sends back of one entry: its leaf hash, the signatures tried, the error, then
the fields of the entry, the note's text, the fields of each signature line and those of the
statement it parsed (None and empty where it failed)."""


class Checked:
    """An entry checked without rule state: parsed, hashed, its signature lines tried.

    A plain class with slots, not a frozen dataclass: the fold makes one an
    entry, and a frozen dataclass's ``__init__`` sets each field through
    ``object.__setattr__``.
    """

    __slots__ = ("index", "entry", "note", "statement", "leaf", "tried", "error")

    def __init__(
        self,
        index: int,
        entry: Entry | None,
        note: Note | None,
        statement: Statement | None,
        leaf: bytes,
        tried: Tried,
        error: AccordError | None = None,
    ) -> None:
        self.index = index
        self.entry = entry
        self.note = note
        self.statement = statement
        self.leaf = leaf
        self.tried = tried
        """Per signature line: the public keys tried and whether each verified; None when none was known."""
        self.error = error

    def verify(self, note: Note, keys: Sequence[VerifierKey]) -> list[VerifierKey]:
        """As ``ledger.note.known_signers``, answered from what the workers found (checking what they could not)."""
        return known_signers(note, keys, self._holds)

    def _holds(self, line: int, key: VerifierKey, message: bytes, signature: bytes) -> bool:
        tried = self.tried[line]
        return tried[key.public] if tried is not None and key.public in tried else key.verify(message, signature)

def check_one(index: int, data: bytes, registry: Registry, holds: Callable[[bytes, bytes, bytes], bool] = ed25519.holds) -> Checked:
    """Check one entry's bytes and signatures; a malformed entry is reported, not raised."""
    leaf = leaf_hash(data)
    try:
        entry = Entry.from_bytes(data)
        note, statement = read_statement(entry.statement)
    except AccordError as error:
        return Checked(index, None, None, None, leaf, (), error)
    message = note.text.encode("utf-8")
    tried: list[Mapping[bytes, bool] | None] = []
    for signature in note.signatures:
        publics = registry.get((signature.name, signature.key_id))
        if not publics or len(signature.signature) != 64:
            tried.append(None)
            continue
        tried.append({public: holds(public, message, signature.signature) for public in publics})
    return Checked(index, entry, note, statement, leaf, tuple(tried))

def _verdict(checked: Checked) -> Verdict:
    """What a worker sends back of a checked entry: its leaf hash, the signatures tried, the error,
    and the fields of the models it parsed, as plain dictionaries.

    Not the models: pickle's object protocol (``__reduce_ex__``, the state,
    the class) costs more in the worker than these dictionaries cost to
    put back into models in the fold.
    """
    entry, note, statement = checked.entry, checked.note, checked.statement
    if entry is None or note is None or statement is None:
        return (checked.leaf, checked.tried, checked.error, None, "", (), None)
    lines = tuple(line.__dict__ for line in note.signatures)
    return (checked.leaf, checked.tried, checked.error, entry.__dict__, note.text, lines, statement.__dict__)


def _received(index: int, verdict: Verdict) -> Checked:
    """The Checked a worker's verdict stands for, its models made from the fields the worker
    parsed and checked strictly, without checking them again (their ``__init__`` is not called)."""
    leaf, tried, error, entry_fields, text, lines, statement_fields = verdict
    if entry_fields is None or statement_fields is None:
        return Checked(index, None, None, None, leaf, tried, error)
    entry = object.__new__(Entry)
    entry.__dict__.update(entry_fields)
    signatures = []
    for fields in lines:
        line = object.__new__(NoteSignature)
        line.__dict__.update(fields)
        signatures.append(line)
    note = object.__new__(Note)
    note.__dict__.update(text=text, signatures=tuple(signatures))
    statement = object.__new__(Statement)
    statement.__dict__.update(statement_fields)
    return Checked(index, entry, note, statement, leaf, tried, error)


def check_chunk(first: int, chunk: Sequence[bytes], registry: Registry, verifier: str = "libsodium") -> list[Verdict]:
    """A worker's job: check a chunk of entries, sending back each one's verdict."""
    holds = ed25519.verifier(verifier)
    return [_verdict(check_one(index, data, registry, holds)) for index, data in enumerate(chunk, first)]

def die_with_parent() -> None:
    """In a worker: exit as soon as the process that started it is gone, killed or crashed.

    The worker watches the pipe ``multiprocessing`` keeps from its parent
    (``parent_process().sentinel``: the end of a pipe whose other end only
    the parent holds, or the parent's process handle on Windows); it becomes
    ready when the parent is gone, however it ended. Without this, a worker
    of a killed verify waits forever for its next chunk, holding the
    caller's pipes.
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="accord-watch-parent", daemon=True).start()

def yield_to_the_fold() -> None:
    """In a worker: lower this process's scheduling priority by ``WORKER_NICENESS``.

    The fold is the one part of a verify that cannot be shared out, and it
    runs beside one worker per core: with as many workers as cores, fair
    scheduling gave the fold two thirds of a core while the workers ran
    ahead of it, filled their window and then left a core idle (a verify of
    100,000 entries on 2 cores ran at three quarters of what its CPU time
    allowed). A worker at a lower priority yields to the fold whenever both
    want one core, and takes what the fold leaves. Lowering one's own
    priority needs no privilege; where there is no ``os.nice`` (Windows),
    nothing changes but speed.
    """
    if hasattr(os, "nice"):
        os.nice(WORKER_NICENESS)

def registry_of(state: LedgerState | None) -> dict[tuple[str, bytes], list[bytes]]:
    """Every Ed25519 key an actor has held, and every key an adopted admission names."""
    registry: dict[tuple[str, bytes], list[bytes]] = {}

    def add(key: VerifierKey) -> None:
        publics = registry.setdefault((key.name, key.key_id), [])
        if key.public not in publics:
            publics.append(key.public)

    if state is not None:
        for actor in state.actors.values():
            for record in actor.keys:
                add(record.key)
        for admission in state.admissions.values():
            for text in admission.candidate.get("keys", ()):
                add(VerifierKey.from_text(text))
    return registry

_INTRODUCING = re.compile(rb'\\"kind\\":\\"(?:charter|key\.add|key\.revoke|civil-society\.register|proposal\.submit)\\"')
_KEY_TAIL = re.compile(rb"\+[0-9a-f]{8}\+A[A-Za-z0-9+/]{43}")
"""What follows a verifier key's name: ``+<8 hex key id>+<base64 of type 0x01 and the key>``."""
_NAME_ENDS = frozenset(b' \t\n\r\x0b\x0c+"\\')
"""The bytes a key name cannot hold as it stands in entry bytes (white space, '+', a JSON quote or escape)."""

def announced_keys(data: bytes) -> list[VerifierKey]:
    """Verifier keys that entry bytes name, if the entry is of a kind that introduces keys.

    Read before the fold reaches the entry, so that workers can be told of a
    key from the chunk after the one that introduced it. Telling them of a
    key changes nothing but speed: the fold still decides which keys count.
    The key's distinctive tail is found first and its name read back from
    there (one expression for the whole key tried every name-like run at
    every position: 200 µs for a charter-sized entry).
    """
    if b"key" not in data or not _INTRODUCING.search(data):
        return []  # every statement naming a key has "keys" or "key" in its body
    found = []
    taken = 0
    for match in _KEY_TAIL.finditer(data):
        begin = match.start()
        while begin > taken and data[begin - 1] not in _NAME_ENDS:
            begin -= 1
        if begin == match.start():
            continue
        taken = match.end()
        try:
            found.append(VerifierKey.from_text(data[begin:taken].decode("ascii")))
        except (AccordError, UnicodeDecodeError):
            continue
    return found

def start_method() -> str:
    """fork where the platform has it and this process runs one thread (the command line): a worker
    then starts without importing anything again (a spawned one imports the whole command, about
    half a second of CPU each); spawn otherwise (a server's threads may hold locks a fork would copy)."""
    if "fork" in multiprocessing.get_all_start_methods() and sys.platform.startswith("linux") and threading.active_count() == 1:
        return "fork"
    return "spawn"

def _serve(tasks: multiprocessing.connection.Connection, results: multiprocessing.connection.Connection, registry: Registry, verifier: str) -> None:
    """A worker: check each chunk sent, in order, with the keys it was told of so far; stop at None."""
    die_with_parent()
    yield_to_the_fold()
    gc.freeze()  # what the worker started with (spawned: its imports; forked: the parent's objects) is never garbage
    gc.set_threshold(max(gc.get_threshold()[0], EASED_THRESHOLD))
    known: dict[tuple[str, bytes], list[bytes]] = {label: list(publics) for label, publics in registry.items()}
    while True:
        task = tasks.recv()
        if task is None:
            return
        first, chunk, added = task
        for name, key_id, public in added:
            publics = known.setdefault((name, key_id), [])
            if public not in publics:
                publics.append(public)
        try:
            results.send(check_chunk(first, chunk, known, verifier))
        except Exception as error:  # a bug, not a bad entry (those are verdicts): the verify raises it
            results.send(error)

class _Workers:
    """Worker processes of one verify, each sent chunks in turn and told of each new key once.

    A thread per worker writes its chunks (so that the fold never waits on a
    full pipe while that worker waits on it to read a result); results are
    read here, in the order the chunks were sent. Leaving ends the workers,
    however the verify ended.
    """

    def __init__(self, count: int, registry: Registry, verifier: str) -> None:
        context: Any = multiprocessing.get_context(start_method())
        self._processes: list[Any] = []
        self._results: list[multiprocessing.connection.Connection] = []
        self._outboxes: list[queue.SimpleQueue[Any]] = []
        self._told: list[int] = []
        connections = []
        for _ in range(count):
            task_reader, task_writer = context.Pipe(duplex=False)
            result_reader, result_writer = context.Pipe(duplex=False)
            process = context.Process(target=_serve, args=(task_reader, result_writer, registry, verifier), daemon=True, name="accord-check")
            process.start()
            task_reader.close()
            result_writer.close()
            self._processes.append(process)
            self._results.append(result_reader)
            connections.append(task_writer)
            self._told.append(0)
        # The threads start once every worker is forked: a fork copies only the thread that forks.
        for writer in connections:
            outbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
            threading.Thread(target=_write_all, args=(outbox, writer), name="accord-send-chunks", daemon=True).start()
            self._outboxes.append(outbox)

    def send(self, worker: int, first: int, chunk: list[bytes], announced: Sequence[tuple[str, bytes, bytes]]) -> None:
        """Send ``chunk`` (entries from ``first``) to ``worker``, with the keys announced since it was last told."""
        self._outboxes[worker].put((first, chunk, announced[self._told[worker] :]))
        self._told[worker] = len(announced)

    def receive(self, worker: int) -> list[Verdict]:
        """The verdicts of the oldest chunk ``worker`` has not answered yet."""
        try:
            verdicts = self._results[worker].recv()
        except EOFError:
            raise RuntimeError(f"checking worker {self._processes[worker].pid} ended unexpectedly (exit code {self._processes[worker].exitcode})") from None
        if isinstance(verdicts, Exception):
            raise verdicts
        result: list[Verdict] = verdicts
        return result

    def __enter__(self) -> _Workers:
        return self

    def __exit__(self, *_: object) -> None:
        for outbox in self._outboxes:
            outbox.put(None)
        for process in self._processes:
            process.terminate()  # each is ours, by its own id; a finished one is not disturbed
        for process, results in zip(self._processes, self._results, strict=True):
            process.join()
            results.close()

def _write_all(outbox: queue.SimpleQueue[Any], writer: multiprocessing.connection.Connection) -> None:
    """A worker's sending thread: write each task to its pipe, then None; stop quietly once the worker is gone."""
    try:
        while True:
            task = outbox.get()
            writer.send(task)
            if task is None:
                return
    except OSError:
        return  # the worker was ended (the verify is over)
    finally:
        writer.close()

def checked_entries(
    entries: Iterable[bytes],
    first: int,
    registry: Registry,
    workers: int | None = None,
    verifier: str = "libsodium",
) -> Iterator[Checked]:
    """The entries checked, in order; in worker processes when ``workers`` > 1.

    ``verifier`` names the Ed25519 implementation (``ledger.ed25519.VERIFIERS``).

    ``registry`` holds the keys known where the entries start
    (:func:`registry_of` the state there). The keys that later entries
    introduce are read from their bytes as they are sent (announced_keys), so
    workers are told of them without waiting for the fold to reach them.
    """
    with _collector_eased():
        yield from _checked(entries, first, registry, workers, verifier)


@contextlib.contextmanager
def _collector_eased() -> Iterator[None]:
    """The cyclic garbage collector, while a log is checked and folded, told to skip what is alive
    already (the modules, the state so far: ``gc.freeze``) and to run a tenth as often.

    A fold makes and drops many small containers an entry, few of them in
    cycles; collecting every 700 allocations walked them all again (7-20%
    of the fold's time, measured on the synthetic ledger). Cycles are still
    collected, so memory stays bounded. The settings are restored after.
    """
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(threshold[0], EASED_THRESHOLD), *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


EASED_THRESHOLD = 10_000
"""Allocations between young-generation collections while checking (CPython's default is 700)."""


def _checked(entries: Iterable[bytes], first: int, registry: Registry, workers: int | None, verifier: str) -> Iterator[Checked]:
    count = (os.cpu_count() or 1) if workers is None else workers
    source = iter(entries)
    holds = ed25519.verifier(verifier)
    if count <= 1:
        # One process: the fold checks every line itself, as it asks.
        for index, data in enumerate(source, first):
            yield check_one(index, data, {}, holds)
        return
    with _Workers(count, registry, verifier) as pool:
        pending: deque[tuple[int, int]] = deque()
        known = {(name, key_id, public) for (name, key_id), publics in registry.items() for public in publics}
        announced: list[tuple[str, bytes, bytes]] = []
        position = first
        turn = 0
        exhausted = False
        while True:
            while not exhausted and len(pending) < count * WINDOW:
                chunk = list(itertools.islice(source, CHUNK))
                if not chunk:
                    exhausted = True
                    break
                for data in chunk:
                    for key in announced_keys(data):
                        if (key.name, key.key_id, key.public) not in known:
                            known.add((key.name, key.key_id, key.public))
                            announced.append((key.name, key.key_id, key.public))
                pool.send(turn, position, chunk, announced)
                pending.append((turn, position))
                position += len(chunk)
                turn = (turn + 1) % count
            if not pending:
                return
            worker, sent = pending.popleft()
            for index, verdict in enumerate(pool.receive(worker), sent):
                yield _received(index, verdict)
