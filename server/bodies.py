"""Request bodies read as a hostile client may send them: bounded in bytes and in time."""

from __future__ import annotations

import asyncio

from starlette.types import Receive

BODY_WITHIN = 30.0
"""Seconds a client has to send a whole request: a trickling one is answered 408, not waited for."""


class Disconnected(Exception):
    """The client closed the connection before the end of its body."""


async def bounded_body(receive: Receive, limit: int) -> bytes | None:
    """The body of the request whose ASGI receive channel is ``receive`` (a bare handler's own, or
    a Starlette Request's ``receive``), or None once it grows past ``limit`` bytes (read no further:
    memory stays bounded). Raises TimeoutError when it has not all arrived within BODY_WITHIN
    seconds, Disconnected when the client went away first."""
    chunks, size = [], 0
    async with asyncio.timeout(BODY_WITHIN):
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise Disconnected()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
