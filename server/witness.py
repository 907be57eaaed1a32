"""The witness over HTTP: c2sp.org/tlog-witness ``POST /add-checkpoint``, a thin handler.

Everything is decided by :class:`ledger.witness_state.WitnessState` (the
check and the update in one transaction); this module only reads the body,
runs that call off the event loop and writes its answer.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ledger.keys import Signer, VerifierKey
from ledger.witness import MAX_REQUEST_BYTES
from ledger.witness_state import WitnessState
from server import bodies




def wall_clock() -> int:
    return int(time.time())


def witness_app(
    state: WitnessState, log_keys: Mapping[str, Sequence[VerifierKey]], witness: Signer, clock: Callable[[], int] = wall_clock
) -> Starlette:
    """The ASGI app of one witness with key ``witness`` for the logs in ``log_keys`` (origin -> keys)."""

    async def add_checkpoint(request: Request) -> Response:
        try:
            body = await bodies.bounded_body(request.receive, MAX_REQUEST_BYTES)
        except bodies.Disconnected:
            return Response("witness: the client closed the connection before the end of the body\n", 400, media_type="text/plain")
        except TimeoutError:
            return Response(f"witness: the request did not arrive within {bodies.BODY_WITHIN:g} s\n", 408, media_type="text/plain")
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
