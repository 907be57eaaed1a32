"""The witness over HTTP: c2sp.org/tlog-witness ``POST /add-checkpoint``, a thin handler.

Everything is decided by :class:`ledger.witness_state.WitnessState` (the
check and the update in one transaction); this module only reads the body,
runs that call off the event loop and writes its answer.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Mapping, Sequence

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from ledger.keys import Signer, VerifierKey
from ledger.witness import MAX_REQUEST_BYTES
from ledger.witness_state import WitnessState


BODY_WITHIN = 30.0
"""Seconds a client has to send a whole request: a trickling one is answered 408, not waited for."""


def wall_clock() -> int:
    return int(time.time())


async def _body(request: Request, limit: int) -> bytes | None:
    """The request body, or None once it grows past ``limit`` bytes (memory stays bounded)."""
    chunks, size = [], 0
    async with asyncio.timeout(BODY_WITHIN):
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
    return b"".join(chunks)


def witness_app(
    state: WitnessState, log_keys: Mapping[str, Sequence[VerifierKey]], witness: Signer, clock: Callable[[], int] = wall_clock
) -> Starlette:
    """The ASGI app of one witness with key ``witness`` for the logs in ``log_keys`` (origin -> keys)."""

    async def add_checkpoint(request: Request) -> Response:
        try:
            body = await _body(request, MAX_REQUEST_BYTES)
        except ClientDisconnect:
            return Response("witness: the client closed the connection before the end of the body\n", 400, media_type="text/plain")
        except TimeoutError:
            return Response(f"witness: the request did not arrive within {BODY_WITHIN:g} s\n", 408, media_type="text/plain")
        if body is None:
            return Response(f"witness: request larger than {MAX_REQUEST_BYTES} bytes\n", 413, media_type="text/plain")
        answer = await run_in_threadpool(state.add_checkpoint, body, log_keys, witness, clock)
        if answer.evidence is not None:
            print(f"accord: witness: refused a fork ({answer.status}); equivocation evidence written to {answer.evidence}", file=sys.stderr, flush=True)
        return Response(answer.body, answer.status, headers={"content-type": answer.content_type})

    async def wrong_method(request: Request) -> Response:
        return Response(f"witness: method: got {request.method}, want POST\n", 405, headers={"Allow": "POST"}, media_type="text/plain")

    others = ["GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"]
    return Starlette(routes=[Route("/add-checkpoint", add_checkpoint, methods=["POST"]), Route("/add-checkpoint", wrong_method, methods=others)])
