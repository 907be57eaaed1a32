"""The log server's client, on httpx: submit statements, read the checkpoint, tiles and entry bundles.

Every request has a timeout; 429 and 503 answers are retried a bounded
number of times, after the server's Retry-After (capped) or an exponential
backoff; a transport failure or a refusal becomes one AccordError line. No
call waits longer than ``attempts * (timeout + max_wait)``.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx

from ledger.checkpoint import Checkpoint
from ledger.errors import AccordError, StorageError
from ledger.note import Note
from ledger.tiles import TILE_WIDTH, Tile, TiledTree, decode_bundle, decode_hashes
from ledger.tlog_proof import TlogProof

TIMEOUT = 10.0
ATTEMPTS = 6
BACKOFF = 0.1
MAX_WAIT = 5.0
RETRIED = (429, 503)
AHEAD = 4
"""Entry bundles fetched ahead of the one being read."""
MAX_KEPT_PAGES = 10_000


class RemoteRefusal(AccordError):
    """The server refused a request; ``status`` is its HTTP status, the message its one line."""

    def __init__(self, status: int, line: str) -> None:
        self.status = status
        text = line.strip().removeprefix("accord: ")
        component, colon, problem = text.partition(": ")
        super().__init__(component if colon else "log", problem if colon else text or f"HTTP {status}")


class LogClient:
    """One log server at ``url`` (its tlog-tiles prefix), over one keep-alive connection pool."""

    def __init__(self, url: str, *, timeout: float = TIMEOUT, attempts: int = ATTEMPTS, backoff: float = BACKOFF, max_wait: float = MAX_WAIT) -> None:
        self.url = url.rstrip("/")
        self.attempts = attempts
        self.backoff = backoff
        self.max_wait = max_wait
        self.timeout = timeout
        self._http = httpx.Client(base_url=self.url, timeout=httpx.Timeout(timeout), headers={"User-Agent": "accord"})

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LogClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **options: Any) -> httpx.Response:
        """The answer to a request, once it is not 429/503 or the attempts are spent; raises RemoteRefusal for any other status >= 400."""
        for attempt in range(self.attempts):
            try:
                response = self._http.request(method, path, **options)
            except httpx.TimeoutException as error:
                raise StorageError("log", f"{self.url}{path}: no answer within {self.timeout:g} s") from error
            except httpx.HTTPError as error:
                raise StorageError("log", f"cannot reach {self.url}{path}: {error}") from error
            if response.status_code not in RETRIED or attempt == self.attempts - 1:
                break
            time.sleep(self._wait(response, attempt))
        if response.status_code >= 400:
            raise RemoteRefusal(response.status_code, response.text.splitlines()[0] if response.text else "")
        return response

    def _wait(self, response: httpx.Response, attempt: int) -> float:
        retry_after = response.headers.get("Retry-After", "")
        wait = float(retry_after) if retry_after.isascii() and retry_after.isdigit() and len(retry_after) < 10 else self.backoff * 2**attempt
        return min(wait, self.max_wait)

    def add(self, note: str) -> TlogProof:
        """Submit a signed statement note; its receipt once the server appended and checkpointed it."""
        response = self._request("POST", "/add", content=note.encode("utf-8"), headers={"Content-Type": "text/plain; charset=utf-8"})
        return TlogProof.from_text(response.text)

    def checkpoint(self) -> str:
        """The newest published checkpoint note (unverified: the caller checks it)."""
        return self._request("GET", "/checkpoint").text

    def checkpoint_size(self) -> tuple[str, int]:
        note = self.checkpoint()
        return note, Checkpoint.from_text(Note.from_text(note).text).size

    def status(self) -> dict[str, Any]:
        document: dict[str, Any] = self._request("GET", "/status").json()
        return document

    def hashes(self, tile: Tile) -> list[bytes]:
        return decode_hashes(self._request("GET", "/" + tile.path()).content, tile)

    def bundle(self, tile: Tile) -> list[bytes]:
        return decode_bundle(self._request("GET", "/" + tile.path()).content, tile)

    def tree(self, size: int) -> TiledTree:
        """The tree of ``size`` as its hash tiles say (for proofs and past roots)."""
        return TiledTree(size, self.hashes)

    def kept(self, after: int, upto: int) -> list[str]:
        """Every published checkpoint note the server kept of ``after < size <= upto``, oldest first
        (``GET /checkpoints``, a page at a time; at most MAX_KEPT_PAGES pages)."""
        notes: list[str] = []
        for _ in range(MAX_KEPT_PAGES):
            page: dict[str, Any] = self._request("GET", "/checkpoints", params={"after": after, "upto": upto}).json()
            found = page.get("checkpoints")
            if not isinstance(found, list) or not all(isinstance(note, str) for note in found):
                raise StorageError("log", f"{self.url}/checkpoints: not a list of checkpoint notes")
            notes[:0] = found
            if not page.get("more") or not found:
                return notes
            oldest = Checkpoint.from_text(Note.from_text(found[0]).text).size
            if oldest <= after or oldest > upto:
                raise StorageError("log", f"{self.url}/checkpoints: a checkpoint of size {oldest} outside {after} < size <= {upto}")
            upto = oldest - 1
        raise StorageError("log", f"{self.url}/checkpoints: more than {MAX_KEPT_PAGES} pages")

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
