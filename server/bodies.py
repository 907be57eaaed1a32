"""Request bodies read as a hostile client may send them: bounded in bytes and in time."""

from __future__ import annotations

import asyncio

from starlette.requests import Request

BODY_WITHIN = 30.0
"""Seconds a client has to send a whole request: a trickling one is answered 408, not waited for."""


async def bounded_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None once it grows past ``limit`` bytes (read no further: memory stays
    bounded). Raises TimeoutError when it has not all arrived within BODY_WITHIN seconds."""
    chunks, size = [], 0
    async with asyncio.timeout(BODY_WITHIN):
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
    return b"".join(chunks)
