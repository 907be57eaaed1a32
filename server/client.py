"""The log server's client, on httpx: submit statements, read the checkpoint, tiles and entry bundles.

Every request has a timeout; 429 and 503 answers are retried a bounded
number of times, after the server's Retry-After (capped) or an exponential
backoff; a transport failure or a refusal becomes one AccordError line.

The server is not trusted, so its answers are read bounded (SPEC 10): each
is streamed, uncompressed, and refused once it grows past the most its
resource can be (a hash tile: its width of 32-byte hashes; an entry bundle:
its width of the largest entries; a checkpoint: MAX_CHECKPOINT) or has not
all come within ``timeout`` seconds. No call waits longer than
``attempts * (2 * timeout + max_wait)``.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx

from ledger.bundle import MAX_CHECKPOINT, MAX_KEPT, MAX_KEPT_BYTES
from ledger.checkpoint import Checkpoint
from ledger.errors import AccordError, MalformedError, StorageError
from ledger.merkle import HASH_SIZE
from ledger.note import Note
from ledger.tiles import MAX_BUNDLED_ENTRY, TILE_WIDTH, Tile, TiledTree, decode_bundle, decode_hashes
from ledger.tlog_proof import TlogProof
from server.tiles import KEPT_PAGE

TIMEOUT = 10.0
ATTEMPTS = 6
BACKOFF = 0.1
MAX_WAIT = 5.0
RETRIED = (429, 503)
AHEAD = 4
"""Entry bundles fetched ahead of the one being read."""
MAX_ANSWER = 1 << 20
"""Bytes of an answer with no bound of its own: a receipt (a checkpoint and at most 64 hashes), /status."""
MAX_KEPT_ANSWER = KEPT_PAGE * 2 * MAX_CHECKPOINT
"""A page of published checkpoints: each note JSON-escaped (at most twice its bytes)."""
MAX_REFUSAL = 4_096
"""Bytes of a refusal read for its one line; the rest is not read."""


class RemoteRefusal(AccordError):
    """The server refused a request; ``status`` is its HTTP status, the message its one line."""

    def __init__(self, status: int, line: str) -> None:
        self.status = status
        text = line.strip().removeprefix("accord: ")
        component, colon, problem = text.partition(": ")
        super().__init__(component if colon else "log", problem if colon else text or f"HTTP {status}")


class LogClient:
    """One log server at ``url`` (its tlog-tiles prefix), over one keep-alive connection pool."""

    def __init__(self, url: str, *, timeout: float | None = None, attempts: int = ATTEMPTS, backoff: float = BACKOFF, max_wait: float = MAX_WAIT) -> None:
        """``timeout`` (default TIMEOUT, read when called) bounds each wait for the server and each answer's whole body."""
        timeout = TIMEOUT if timeout is None else timeout
        self.url = url.rstrip("/")
        self.attempts = attempts
        self.backoff = backoff
        self.max_wait = max_wait
        self.timeout = timeout
        # identity: a compressed answer could inflate past any cap before it is counted.
        self._http = httpx.Client(base_url=self.url, timeout=httpx.Timeout(timeout), headers={"User-Agent": "accord", "Accept-Encoding": "identity"})

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LogClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _request(self, method: str, path: str, limit: int, what: str, **options: Any) -> tuple[int, bytes]:
        """The status and body of the answer to a request, once it is not 429/503 or the attempts are
        spent; raises RemoteRefusal for any other status >= 400, StorageError for a body of more than
        ``limit`` bytes (the most the ``what`` asked for can be) or one not all come within the timeout."""
        for attempt in range(self.attempts):
            try:
                with self._http.stream(method, path, **options) as response:
                    status = response.status_code
                    if status in RETRIED and attempt < self.attempts - 1:
                        wait = self._wait(response, attempt)
                    elif status >= 400:
                        line = read_bounded(response, MAX_REFUSAL, self.timeout, f"{self.url}{path}", what, cut=True)
                        raise RemoteRefusal(status, line.decode("utf-8", "replace").splitlines()[0] if line else "")
                    else:
                        return status, read_bounded(response, limit, self.timeout, f"{self.url}{path}", what)
            except httpx.TimeoutException as error:
                raise StorageError("log", f"{self.url}{path}: no answer within {self.timeout:g} s") from error
            except httpx.HTTPError as error:
                raise StorageError("log", f"cannot reach {self.url}{path}: {error}") from error
            time.sleep(wait)
        raise AssertionError("bad math: the last attempt returns or raises")

    def _text(self, method: str, path: str, limit: int, what: str, **options: Any) -> str:
        body = self._request(method, path, limit, what, **options)[1]
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError as error:
            raise MalformedError("log", f"{self.url}{path}: the {what} is not UTF-8 at byte {error.start}") from error

    def _json(self, path: str, limit: int, what: str, **options: Any) -> dict[str, Any]:
        try:
            document = json.loads(self._request("GET", path, limit, what, **options)[1])
        except (ValueError, RecursionError) as error:
            raise MalformedError("log", f"{self.url}{path}: the {what} is not JSON: {error}") from error
        if not isinstance(document, dict):
            raise MalformedError("log", f"{self.url}{path}: the {what} is not a JSON object")
        return document

    def _wait(self, response: httpx.Response, attempt: int) -> float:
        retry_after = response.headers.get("Retry-After", "")
        wait = float(retry_after) if retry_after.isascii() and retry_after.isdigit() and len(retry_after) < 10 else self.backoff * 2**attempt
        return min(wait, self.max_wait)

    def add(self, note: str) -> TlogProof:
        """Submit a signed statement note; its receipt once the server appended and checkpointed it."""
        text = self._text("POST", "/add", MAX_ANSWER, "receipt", content=note.encode("utf-8"), headers={"Content-Type": "text/plain; charset=utf-8"})
        return TlogProof.from_text(text)

    def checkpoint(self) -> str:
        """The newest published checkpoint note (unverified: the caller checks it)."""
        return self._text("GET", "/checkpoint", MAX_CHECKPOINT, "checkpoint")

    def checkpoint_size(self) -> tuple[str, int]:
        note = self.checkpoint()
        return note, Checkpoint.from_text(Note.from_text(note).text).size

    def status(self) -> dict[str, Any]:
        return self._json("/status", MAX_ANSWER, "status")

    def hashes(self, tile: Tile) -> list[bytes]:
        return decode_hashes(self._request("GET", "/" + tile.path(), tile.width * HASH_SIZE, "hash tile")[1], tile)

    def bundle(self, tile: Tile) -> list[bytes]:
        return decode_bundle(self._request("GET", "/" + tile.path(), tile.width * (2 + MAX_BUNDLED_ENTRY), "entry bundle")[1], tile)

    def tree(self, size: int) -> TiledTree:
        """The tree of ``size`` as its hash tiles say (for proofs and past roots)."""
        return TiledTree(size, self.hashes)

    def kept(self, after: int, upto: int) -> list[str]:
        """Every published checkpoint note the server kept of ``after < size <= upto``, oldest first
        (``GET /checkpoints``, a page at a time).

        Each note of a page is read as a checkpoint of the range before the page is held, and
        what is held stays within what a bundle carries (MAX_KEPT notes in MAX_KEPT_BYTES), so a
        hostile server cannot make the client hold pages of anything.
        """
        notes: list[str] = []
        held = 0
        while True:
            page = self._json("/checkpoints", MAX_KEPT_ANSWER, "page of checkpoints", params={"after": after, "upto": upto})
            found = page.get("checkpoints")
            if not isinstance(found, list) or not all(isinstance(note, str) for note in found):
                raise StorageError("log", f"{self.url}/checkpoints: not a list of checkpoint notes")
            sizes = [self._kept_size(note, after, upto) for note in found]
            if any(later < earlier for earlier, later in zip(sizes, sizes[1:])):
                raise StorageError("log", f"{self.url}/checkpoints: a page of checkpoints not oldest first")
            held += sum(len(note) for note in found)
            if len(notes) + len(found) > MAX_KEPT or held > MAX_KEPT_BYTES:
                raise StorageError("log", f"{self.url}/checkpoints: more than the {MAX_KEPT} checkpoints in {MAX_KEPT_BYTES} bytes a bundle carries")
            notes[:0] = found
            if not page.get("more") or not found:
                return notes
            upto = sizes[0] - 1

    def _kept_size(self, text: str, after: int, upto: int) -> int:
        """The size of the checkpoint note ``text``, which must be within ``after < size <= upto``."""
        try:
            size = Checkpoint.from_text(Note.from_text(text).text).size
        except AccordError as error:
            raise StorageError("log", f"{self.url}/checkpoints: a kept checkpoint that is not one: {error}") from None
        if size <= after or size > upto:
            raise StorageError("log", f"{self.url}/checkpoints: a checkpoint of size {size} outside {after} < size <= {upto}")
        return size

    def entries(self, start: int, stop: int, size: int | None = None, ahead: int = AHEAD) -> Iterator[bytes]:
        """Entries ``start <= index < stop`` from the entry bundles of the tree of ``size``
        (default ``stop``), which a checkpoint of that size made the server publish.

        Up to ``ahead`` bundles are fetched in the background while the caller works on the
        ones before (the connection pool holds that many keep-alive connections).
        """
        size = stop if size is None else size
        if not 0 <= start <= stop <= size:
            raise StorageError("log", f"entries {start} to {stop} of a tree of size {size}: want 0 <= start <= stop <= size")
        tiles = [Tile(None, index, min(TILE_WIDTH, size - index * TILE_WIDTH)) for index in range(start // TILE_WIDTH, -(-stop // TILE_WIDTH))]
        if ahead <= 1 or len(tiles) <= 1:
            for tile in tiles:
                yield from _within(self.bundle(tile), tile, start, stop)
            return
        with ThreadPoolExecutor(ahead, thread_name_prefix="accord-fetch") as pool:
            fetching: deque[Future[list[bytes]]] = deque()
            upcoming = iter(tiles)
            try:
                for tile in itertools.islice(upcoming, ahead):
                    fetching.append(pool.submit(self.bundle, tile))
                for tile in tiles:
                    bundle = fetching.popleft().result()
                    following = next(upcoming, None)
                    if following is not None:
                        fetching.append(pool.submit(self.bundle, following))
                    yield from _within(bundle, tile, start, stop)
            finally:
                for pending in fetching:
                    pending.cancel()


def _within(bundle: list[bytes], tile: Tile, start: int, stop: int) -> list[bytes]:
    """The entries of ``bundle`` (the entry bundle ``tile``) with ``start <= index < stop``."""
    first = tile.index * TILE_WIDTH
    return bundle[max(0, start - first) : stop - first]


def read_bounded(response: httpx.Response, limit: int, within: float, where: str, what: str, cut: bool = False) -> bytes:
    """The body of ``response`` (streamed, not yet read), refused with one StorageError line naming
    ``what`` once it grows past ``limit`` bytes (with ``cut``, its first ``limit`` bytes instead) or
    has not all come within ``within`` seconds of this call; never more than ``limit`` bytes held
    beyond one network read. A compressed body is refused: its size says nothing of what it inflates to."""
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding != "identity":
        raise StorageError("log", f"{where}: the {what} is {encoding[:40]}-encoded, want it uncompressed")
    declared = response.headers.get("Content-Length", "")
    if not cut and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise StorageError("log", f"{where}: the {what} is {int(declared)} bytes, more than the {limit} it can be")
    deadline = time.monotonic() + within
    body = bytearray()
    for chunk in response.iter_raw():
        body += chunk
        if len(body) > limit:
            if cut:
                return bytes(body[:limit])
            raise StorageError("log", f"{where}: the {what} is more than the {limit} bytes it can be: not read further")
        if time.monotonic() > deadline:
            raise StorageError("log", f"{where}: the {what} did not all come within {within:g} s")
    return bytes(body)
