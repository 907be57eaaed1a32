"""The secretariat server (SPEC section 11): the tlog-tiles read API, ``POST /add``, status.

Thin handlers over the same functions the CLI calls: a refusal's body is the
one line ``accord`` prints for that statement. Reads and writes use separate
stores of the same database, so serving tiles never waits for a batch. Other
pages (a witness, HTML views) are mounted with ``extra_routes``.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Future
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ledger.entry import MAX_ENTRY_BYTES, Entry
from ledger.errors import AccordError, MalformedError, RuleViolation, SignatureError, StorageError
from ledger.keys import Signer
from ledger.note import Note
from ledger.store import Store
from ledger.tiles import Tile
from ledger.tlog_proof import TlogProof
from ledger.timefmt import parse_time
from projections.ledger import Ledger
from server import bodies
from server.batcher import MAX_BATCH, MAX_PENDING, WINDOW, Batcher, Cover, Publish, Pushback
from server.openapi import document as openapi_document
from server.tiles import TileSource

CHECKPOINT_CACHE = "public, max-age=2"
"""The checkpoint changes with every batch: caches may keep it a moment, no more."""
TILE_CACHE = "public, max-age=31536000, immutable"
FRESH_FOR = 300
"""Seconds an entry may wait uncovered by the published checkpoint before /healthz fails."""
TEXT = "text/plain; charset=utf-8"
OCTETS = "application/octet-stream"
PROOF = "text/x.tlog-proof; charset=utf-8"
TEXT_TYPE = TEXT.encode()
PROOF_TYPE = PROOF.encode()
GC_THRESHOLDS = (20_000, 20, 100)
"""The collector's thresholds while a server runs (CPython's are 700, 10, 10); see build_app's lifespan."""


@dataclass(frozen=True)
class Settings:
    """How one server process batches: ``window`` seconds, ``max_batch`` statements, ``max_pending`` queued."""

    window: float = WINDOW
    max_batch: int = MAX_BATCH
    max_pending: int = MAX_PENDING
    fresh_for: float = FRESH_FOR


def http_status(error: AccordError) -> int:
    """The status of SPEC 11 for a refused submission."""
    if isinstance(error, Pushback):
        return 429
    if isinstance(error, StorageError):
        return 503
    if isinstance(error, RuleViolation):
        return 409 if error.rule == "statement.duplicate" else 422
    if isinstance(error, SignatureError):
        return 422
    if isinstance(error, MalformedError) and error.component == "entry" and error.problem.startswith("too large"):
        return 413
    return 400


def refusal(error: AccordError) -> Response:
    """The refusal as the CLI prints it, one line, with the status that names its kind."""
    status, text, _, headers = _refusal(error)
    return PlainTextResponse(text, status_code=status, headers={name.decode(): value.decode() for name, value in headers})


def build_app(
    store_url: str,
    operator: Signer,
    *,
    settings: Settings = Settings(),
    publish: Publish | None = None,
    cover: Cover | None = None,
    extra_routes: Sequence[BaseRoute] = (),
    health: Callable[[], str | None] | None = None,
    on_stop: Callable[[], None] | None = None,
) -> Starlette:
    """The server's ASGI app over the ledger in ``store_url``, signing checkpoints with ``operator``.

    ``publish`` replaces the step that makes a batch's signed checkpoint the
    published one (a witnessing policy wraps it), and ``cover`` the step that
    publishes the checkpoint of entries a stopped server left uncovered
    (without it, the operator signs one at start); ``extra_routes`` are
    mounted beside the log's own; ``health`` says why the log is unhealthy
    beyond its checkpoint's age (witnesses), and ``on_stop`` runs before the
    batcher stops. The ledger is opened, and the operator key checked
    against its charter, when the app starts.
    """
    service: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ledger = Ledger.open(store_url)
        reader = Store(store_url)
        try:
            ledger.check_operator(operator)
            # Entries a killed server appended without a checkpoint are covered now, or, under a
            # policy, by the batcher once the quorum cosigns (SPEC 12).
            if ledger.log.size and cover is None:
                ledger.publish_checkpoint(operator)
            batcher = Batcher(ledger, operator, publish, window=settings.window, max_batch=settings.max_batch, max_pending=settings.max_pending, cover=cover)
            batcher.start()
            service.update(ledger=ledger, tiles=TileSource(reader), batcher=batcher, reader=reader, waker=_Waker(asyncio.get_running_loop()))
            # What is loaded now (modules, the rule state) lives as long as the server: frozen, the
            # collector no longer walks it, and in-flight requests age less often into the oldest
            # generation. Full collections of the whole heap took 50-180 ms under the GIL, every
            # second or so under load: the receipts' tail (serve.submit.latency.p99).
            thresholds = gc.get_threshold()
            gc.collect()
            gc.freeze()
            gc.set_threshold(*GC_THRESHOLDS)
            try:
                yield
            finally:
                gc.set_threshold(*thresholds)
                gc.unfreeze()
            if on_stop is not None:
                on_stop()
            batcher.stop()
        finally:
            reader.close()
            ledger.close()

    async def checkpoint(request: Request) -> Response:
        latest = await run_in_threadpool(service["tiles"].checkpoint)
        if latest is None:
            return PlainTextResponse("accord: log: no checkpoint yet\n", status_code=404)
        return Response(latest[0], media_type=TEXT, headers={"Cache-Control": CHECKPOINT_CACHE})

    async def tile(request: Request) -> Response:
        if b"%" in request.scope.get("raw_path", b""):  # no tile path has one; %2F is not a slash to a static host
            return PlainTextResponse("accord: tile: path: want no percent-encoding, as the spec spells tile paths\n", status_code=404)
        try:
            wanted = Tile.from_path("tile/" + request.path_params["path"])
        except MalformedError as error:
            return PlainTextResponse(f"accord: {error}\n", status_code=404)
        source: TileSource = service["tiles"]

        def read() -> bytes | None:
            latest = source.checkpoint()
            return None if latest is None else source.read(wanted, latest[1])

        data = await run_in_threadpool(read)
        if data is None:
            return PlainTextResponse(f"accord: tile: {wanted.path()} is beyond the published checkpoint\n", status_code=404)
        return Response(data, media_type=OCTETS, headers={"Cache-Control": TILE_CACHE})

    async def kept(request: Request) -> Response:
        try:
            after = _size_parameter(request, "after") or 0
            upto = _size_parameter(request, "upto")
        except MalformedError as error:
            return PlainTextResponse(f"accord: {error}\n", status_code=400)
        notes, more = await run_in_threadpool(service["tiles"].kept, after, upto)
        return JSONResponse({"checkpoints": notes, "more": more}, headers={"Cache-Control": CHECKPOINT_CACHE})

    async def add(scope: Scope, receive: Receive, send: Send) -> None:
        # A bare ASGI handler (see _LogApp): the submissions are the load, and Starlette's
        # middleware, routing, Request and Response took about a third of the event loop's time.
        try:
            body = await bodies.bounded_body(receive, MAX_ENTRY_BYTES)
        except bodies.Disconnected:
            return await _answer(send, *_refusal(MalformedError("note", "the client closed the connection before the end of the body")))
        except TimeoutError:
            return await _answer(send, 408, f"accord: note: the body did not arrive within {bodies.BODY_WITHIN:g} s\n")
        if body is None:
            return await _answer(send, *_refusal(MalformedError("entry", f"too large: got more than {MAX_ENTRY_BYTES} bytes, want at most {MAX_ENTRY_BYTES}")))
        try:
            note = body.decode("utf-8")
        except UnicodeDecodeError:
            return await _answer(send, *_refusal(MalformedError("note", "the body is not UTF-8")))
        batcher: Batcher = service["batcher"]
        try:
            receipt = await service["waker"].wait(batcher.check_and_submit(note))
        except AccordError as error:
            return await _answer(send, *_refusal(error))
        await _answer(send, 200, receipt.to_text(), PROOF_TYPE)

    def status_document() -> dict[str, Any]:
        return _status(service["ledger"], service["tiles"], service["batcher"], operator)

    async def status(request: Request) -> Response:
        try:
            return JSONResponse(await run_in_threadpool(status_document))
        except AccordError as error:
            return PlainTextResponse(f"accord: {error}\n", status_code=503)

    async def healthz(request: Request) -> Response:
        try:
            document = await run_in_threadpool(status_document)
        except AccordError as error:
            return PlainTextResponse(f"accord: {error}\n", status_code=503)
        problem = None if health is None else health()
        if problem is not None:
            return PlainTextResponse(f"accord: witnesses: {problem}\n", status_code=503)
        if document["checkpoint_age"] > settings.fresh_for:
            return PlainTextResponse(
                f"accord: log: the published checkpoint leaves entries uncovered for {document['checkpoint_age']} s, want at most {settings.fresh_for:g}\n",
                status_code=503,
            )
        return PlainTextResponse("ok\n")

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document())

    own: list[Route] = [
        Route("/checkpoint", checkpoint, methods=["GET"]),
        Route("/checkpoints", kept, methods=["GET"]),
        Route("/tile/{path:path}", tile, methods=["GET"]),
        Route("/add", _Bare(add), methods=["POST"]),  # _LogApp's shortcut takes it there first
        Route("/status", status, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
    # Any other method on the log's own paths is a one-line 405 (before the pages' catch-all takes GET /add).
    routes: list[BaseRoute] = [*own, *(Route(route.path, _WrongMethod(sorted(route.methods or ()))) for route in own), *extra_routes]
    app = _LogApp(add, routes=routes, lifespan=lifespan)
    app.state.service = service
    return app


class _LogApp(Starlette):
    """The server's app: ``POST /add`` straight to its handler, everything else through the routes."""

    def __init__(self, add: ASGIApp, **options: Any) -> None:
        super().__init__(**options)
        self.add = add

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/add" and scope["method"] == "POST" and not scope.get("root_path"):
            scope["app"] = self
            await self.add(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


class _Waker:
    """Awaitables for futures that other threads resolve, waking the event loop once per burst.

    The publishing thread answers a batch's submissions together; with
    ``asyncio.wrap_future`` each answer was a wake-up of the loop of its own.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._lock = threading.Lock()
        self._ready: list[tuple[Future[TlogProof], asyncio.Future[TlogProof]]] = []

    def wait(self, future: Future[TlogProof]) -> asyncio.Future[TlogProof]:
        waiter: asyncio.Future[TlogProof] = self.loop.create_future()
        future.add_done_callback(lambda done: self._done(done, waiter))
        return waiter

    def _done(self, done: Future[TlogProof], waiter: asyncio.Future[TlogProof]) -> None:
        with self._lock:
            self._ready.append((done, waiter))
            first = len(self._ready) == 1
        if first:
            self.loop.call_soon_threadsafe(self._resolve)

    def _resolve(self) -> None:
        with self._lock:
            ready, self._ready = self._ready, []
        for done, waiter in ready:
            if waiter.cancelled():
                continue
            error = done.exception()
            if error is None:
                waiter.set_result(done.result())
            else:
                waiter.set_exception(error)


class _Bare:
    """A bare ASGI handler as a Route's endpoint (a function would be taken for a Request handler)."""

    def __init__(self, handler: ASGIApp) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.handler(scope, receive, send)


def _refusal(error: AccordError) -> tuple[int, str, bytes, list[tuple[bytes, bytes]]]:
    """:func:`refusal`'s status, body and headers, for :func:`_answer`."""
    headers = [(b"retry-after", str(error.retry_after).encode())] if isinstance(error, Pushback) else []
    return http_status(error), f"accord: {error}\n", TEXT_TYPE, headers


async def _answer(send: Send, status: int, text: str, content_type: bytes = b"", headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    data = text.encode("utf-8")
    head = [(b"content-length", str(len(data)).encode()), (b"content-type", content_type or TEXT_TYPE), *headers]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": data})


class _WrongMethod:
    """An ASGI app (so that a Route takes every method to it) answering a one-line 405."""

    def __init__(self, allowed: list[str]) -> None:
        self.allowed = allowed

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        line = f"accord: method: got {request.method[:20]} on {request.url.path[:80]}, want {' or '.join(self.allowed)}\n"
        await PlainTextResponse(line, status_code=405, headers={"Allow": ", ".join(self.allowed)})(scope, receive, send)


def _size_parameter(request: Request, name: str) -> int | None:
    """The query parameter ``name`` as a tree size (decimal, at most 2^63), or None when absent."""
    text = request.query_params.get(name)
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 19 or (len(text) > 1 and text[0] == "0"):
        raise MalformedError("checkpoints", f"{name}: got {text[:30]!r}, want a tree size in decimal")
    return int(text)


def _status(ledger: Ledger, source: TileSource, batcher: Batcher, operator: Signer) -> dict[str, Any]:
    """Size, checkpoint age and witnesses, as ``GET /status`` reports them."""
    reader = source.store
    head = reader.head()
    entries = 0 if head is None else head.index + 1
    latest = source.checkpoint()
    size = 0 if latest is None else latest[1]
    age = 0
    if size < entries:
        stored = reader.entry(size)
        if stored is None:
            raise StorageError("status", f"entry {size} vanished while the log holds {entries}")
        age = max(0, int(time.time()) - parse_time(Entry.from_bytes(stored.data).logged_at, "logged_at"))
    witnesses = []
    if latest is not None:
        note = Note.from_text(latest[0])
        witnesses = sorted(signature.name for signature in note.signatures if signature.name != operator.name)
    return {
        "version": 1,
        "origin": operator.name,
        "size": size,
        "entries": entries,
        "checkpoint_age": age,
        "witnesses": witnesses,
        "pending": batcher.pending,
        "batches": batcher.batches,
    }
