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

import base64
import concurrent.futures
import multiprocessing
import multiprocessing.connection
import os
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import orjson

from domain.rules import read_statement
from domain.state import LedgerState
from ledger import ed25519
from ledger.entry import Entry
from ledger.errors import AccordError
from ledger.keys import KEY_ID_SIZE, VerifierKey
from ledger.merkle import leaf_hash
from ledger.note import SIGNATURE_PREFIX, Note, NoteSignature, known_signers
from ledger.statement import Statement

CHUNK = 256
WINDOW = 3
"""Chunks in flight per worker: enough to keep workers busy, few enough to stream."""
PARALLEL_FROM = 2_000
"""Below this many entries, a pool costs more than it saves."""

Registry = Mapping[tuple[str, bytes], Sequence[bytes]]
"""Public keys by (key name, key id)."""

Tried = tuple[Mapping[bytes, bool] | None, ...]
"""Per signature line: the public keys tried and whether each verified; None when none was known."""

Verdict = tuple[bytes, Tried, AccordError | None]
"""What a worker sends back of one entry: its leaf hash, the signatures tried, the error."""

_Model = TypeVar("_Model")


@dataclass(frozen=True, slots=True)
class Checked:
    """An entry checked without rule state: parsed, hashed, its signature lines tried."""

    index: int
    entry: Entry | None
    note: Note | None
    statement: Statement | None
    leaf: bytes
    tried: Tried
    """Per signature line: the public keys tried and whether each verified; None when none was known."""
    error: AccordError | None = None

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


def _rebuilt(model: type[_Model], /, **fields: object) -> _Model:
    """An instance of a frozen model whose fields a worker has already validated, without validating them again."""
    instance = object.__new__(model)
    instance.__dict__.update(fields)
    return instance


def _verdict(checked: Checked) -> Verdict:
    """What a worker sends back of a checked entry: its leaf hash, the signatures tried, the error.

    Not the parsed entry: unpickling its dozens of objects would cost the
    main process more than reading them again from the bytes it still holds.
    """
    return (checked.leaf, checked.tried, checked.error)


def _reread(index: int, data: bytes, verdict: Verdict) -> Checked:
    """The entry a worker found well formed, parsed again here without the checks it passed.

    The worker parsed these very bytes strictly (canonical JSON, the signed
    note's shape, the statement's fields); a plain ``orjson.loads`` and the
    note's layout give the same values, for a fraction of the cost.
    """
    leaf, tried, error = verdict
    if error is not None:
        return Checked(index, None, None, None, leaf, tried, error)
    document = orjson.loads(data)
    text = document["statement"]
    split = text.rfind("\n\n")
    note_text = text[: split + 1]
    lines = []
    for line in text[split + 2 : -1].split("\n"):
        name, _, signature = line[len(SIGNATURE_PREFIX) :].partition(" ")
        raw = base64.b64decode(signature)
        lines.append(_rebuilt(NoteSignature, name=name, key_id=raw[:KEY_ID_SIZE], signature=raw[KEY_ID_SIZE:]))
    fields = orjson.loads(note_text)
    return Checked(
        index,
        _rebuilt(Entry, index=document["index"], logged_at=document["logged_at"], statement=text),
        _rebuilt(Note, text=note_text, signatures=tuple(lines)),
        _rebuilt(
            Statement,
            origin=fields["origin"],
            kind=fields["kind"],
            actor=fields["actor"],
            signed_at=fields["signed_at"],
            nonce=fields["nonce"],
            body=fields["body"],
        ),
        leaf,
        tried,
    )


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
_VERIFIER_KEY = re.compile(rb'([^\s+"\\]+)\+([0-9a-f]{8})\+(A[A-Za-z0-9+/]{43})')


def announced_keys(data: bytes) -> list[VerifierKey]:
    """Verifier keys that entry bytes name, if the entry is of a kind that introduces keys.

    Read before the fold reaches the entry, so that workers can be told of a
    key from the chunk after the one that introduced it. Telling them of a
    key changes nothing but speed: the fold still decides which keys count.
    """
    if b"key" not in data or not _INTRODUCING.search(data):
        return []  # every statement naming a key has "keys" or "key" in its body
    found = []
    for match in _VERIFIER_KEY.finditer(data):
        try:
            found.append(VerifierKey.from_text(match.group(0).decode("ascii")))
        except (AccordError, UnicodeDecodeError):
            continue
    return found


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
    count = (os.cpu_count() or 1) if workers is None else workers
    source = iter(entries)
    holds = ed25519.verifier(verifier)
    if count <= 1:
        # One process: the fold checks every line itself, as it asks.
        for index, data in enumerate(source, first):
            yield check_one(index, data, {}, holds)
        return
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=count, mp_context=context, initializer=die_with_parent) as pool:
        pending: deque[tuple[int, list[bytes], concurrent.futures.Future[list[Verdict]]]] = deque()
        # Replaced, never changed, once sent: a chunk's arguments are pickled later, in another thread.
        told: dict[tuple[str, bytes], Sequence[bytes]] = dict(registry)
        position = first
        exhausted = False
        while True:
            while not exhausted and len(pending) < count * WINDOW:
                chunk = [data for _, data in zip(range(CHUNK), source, strict=False)]
                if not chunk:
                    exhausted = True
                    break
                for data in chunk:
                    for key in announced_keys(data):
                        publics = told.get((key.name, key.key_id), ())
                        if key.public not in publics:
                            told = {**told, (key.name, key.key_id): (*publics, key.public)}
                pending.append((position, chunk, pool.submit(check_chunk, position, chunk, told, verifier)))
                position += len(chunk)
            if not pending:
                return
            sent, chunk, verdicts = pending.popleft()
            for index, (data, verdict) in enumerate(zip(chunk, verdicts.result(), strict=True), sent):
                yield _reread(index, data, verdict)
