"""``python -m bench.loadgen URL NOTES OUTPUT [--clients N] [--duration S] [--rate R]``: load on ``POST /add``.

Run as its own process by :mod:`bench.serving`, so its CPU is not the
server's interpreter's. ``NOTES`` is a JSON list of distinct, pre-signed
statement notes; each is posted once. Two modes:

closed loop (no ``--rate``)
    ``--clients`` keep-alive connections, each posting its next note as
    soon as the receipt of the last one came back,
    until ``--duration`` seconds have passed; the rate is receipts over the
    time from the first post to the last answer.
open loop (``--rate R``)
    note i is posted at ``start + i / R`` whatever is still in flight (at
    most ``--clients`` * 8 connections), and its latency is counted from that
    scheduled time to its receipt: a server that falls behind shows as
    latency, not as a slower sender (no coordinated omission).

``OUTPUT`` gets one JSON document: accepted, refusals by status, the first
refusal's line, seconds, whether the notes ran out, latency percentiles in
ms. Every request has a timeout; the run ends within duration + timeout.

The connections are plain HTTP/1.1 on asyncio streams by default (see
:class:`RawConnection`); ``--client httpx`` runs the same load through
httpx, the client Accord's commands use.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

TIMEOUT = 30.0
"""Seconds one request may take before it counts as failed."""


class Tally:
    """What the requests of one run got back."""

    def __init__(self) -> None:
        self.accepted = 0
        self.statuses: Counter[str] = Counter()
        self.first_refusal = ""
        self.latencies: list[float] = []
        self.last_answer = 0.0

    def record(self, status: str, line: str, started: float) -> None:
        now = time.perf_counter()
        self.last_answer = max(self.last_answer, now)
        self.statuses[status] += 1
        if status == "200":
            self.accepted += 1
            self.latencies.append((now - started) * 1000)
        elif not self.first_refusal:
            self.first_refusal = f"{status}: {line}"


class RawConnection:
    """One keep-alive HTTP/1.1 connection on asyncio streams: a POST and its answer, nothing else.

    The generator's own cost per request has to stay well under the
    server's on a machine of two cores; httpx (``--client httpx``) spends
    about a millisecond of CPU per request, as much as the server does.
    """

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.head = f"POST /add HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ".encode()
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, body: bytes) -> tuple[str, str]:
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        writer.write(self.head + str(len(body)).encode() + b"\r\n\r\n" + body)
        header = await reader.readuntil(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        status = lines[0].split(" ", 2)[1]
        fields = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:] if line)}
        content = await reader.readexactly(int(fields.get("content-length", "0")))
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return status, content.decode("utf-8", "replace").split("\n", 1)[0] if status != "200" else ""

    async def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


class HttpxConnection:
    """The same over one httpx.AsyncClient limited to one keep-alive connection."""

    def __init__(self, url: str) -> None:
        self.client = httpx.AsyncClient(base_url=url, timeout=TIMEOUT, limits=httpx.Limits(max_connections=1))

    async def post(self, body: bytes) -> tuple[str, str]:
        response = await self.client.post("/add", content=body)
        return str(response.status_code), response.text.split("\n", 1)[0] if response.status_code != 200 else ""

    async def close(self) -> None:
        await self.client.aclose()


Connection = RawConnection | HttpxConnection
CLIENT_KINDS: dict[str, Callable[[str], Connection]] = {"raw": RawConnection, "httpx": HttpxConnection}


async def _post(connection: Connection, note: bytes, started: float, tally: Tally) -> None:
    try:
        status, line = await asyncio.wait_for(connection.post(note), TIMEOUT)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ValueError, IndexError, httpx.HTTPError) as error:
        status, line = type(error).__name__, str(error)
        await connection.close()
    tally.record(status, line, started)


async def closed_loop(url: str, notes: Sequence[bytes], clients: int, duration: float, kind: str = "raw") -> dict[str, Any]:
    """Each of ``clients`` connections posts its next note once the last one's receipt is back."""
    tally = Tally()
    source = iter(notes)
    ran_out = False
    connections = [CLIENT_KINDS[kind](url) for _ in range(clients)]
    start = time.perf_counter()
    stop_at = start + duration

    async def worker(connection: Connection) -> None:
        nonlocal ran_out
        try:
            while time.perf_counter() < stop_at:
                note = next(source, None)
                if note is None:
                    ran_out = True
                    return
                await _post(connection, note, time.perf_counter(), tally)
        finally:
            await connection.close()

    await asyncio.gather(*(worker(connection) for connection in connections))
    return _summary(tally, start, ran_out)


async def open_loop(url: str, notes: Sequence[bytes], clients: int, duration: float, rate: float, kind: str = "raw") -> dict[str, Any]:
    """Note i posted at start + i / rate on an idle connection (a new one if none is idle, up to clients * 8)."""
    tally = Tally()
    idle: list[Connection] = []
    opened = 0
    most = clients * 8
    freed = asyncio.Condition()
    count = min(len(notes), max(1, int(duration * rate)))
    start = time.perf_counter()

    async def one(note: bytes, scheduled: float) -> None:
        nonlocal opened
        async with freed:
            while not idle and opened >= most:
                await freed.wait()
            if idle:
                connection = idle.pop()
            else:
                opened += 1
                connection = CLIENT_KINDS[kind](url)
        await _post(connection, note, scheduled, tally)
        async with freed:
            idle.append(connection)
            freed.notify()

    tasks = []
    for number in range(count):
        scheduled = start + number / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(notes[number], scheduled)))
    await asyncio.gather(*tasks)
    for connection in idle:
        await connection.close()
    summary = _summary(tally, start, count < int(duration * rate))
    summary["connections"] = opened
    return summary


def _summary(tally: Tally, start: float, exhausted: bool) -> dict[str, Any]:
    seconds = max(tally.last_answer - start, 1e-9)
    latencies = sorted(tally.latencies)
    return {
        "accepted": tally.accepted,
        "statuses": dict(tally.statuses),
        "first_refusal": tally.first_refusal,
        "seconds": seconds,
        "rate": tally.accepted / seconds,
        "exhausted": exhausted,
        "p50_ms": _percentile(latencies, 0.50),
        "p99_ms": _percentile(latencies, 0.99),
        "mean_ms": statistics.fmean(latencies) if latencies else None,
    }


def _percentile(ordered: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile of sorted values (None for none)."""
    if not ordered:
        return None
    rank = max(1, round(share * len(ordered) + 0.5 - 1e-9))
    return ordered[min(len(ordered), rank) - 1]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description="Load on a log server's POST /add.")
    parser.add_argument("url")
    parser.add_argument("notes", type=Path, help="a JSON list of pre-signed statement notes")
    parser.add_argument("output", type=Path)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--rate", type=float, help="open loop: posts per second, paced")
    parser.add_argument("--client", choices=sorted(CLIENT_KINDS), default="raw", help="raw asyncio HTTP/1.1 (default, cheapest) or httpx")
    arguments = parser.parse_args(sys.argv[1:] if argv is None else argv)
    notes = [note.encode("utf-8") for note in json.loads(arguments.notes.read_text(encoding="utf-8"))]
    if arguments.rate is None:
        result = asyncio.run(closed_loop(arguments.url, notes, arguments.clients, arguments.duration, arguments.client))
    else:
        result = asyncio.run(open_loop(arguments.url, notes, arguments.clients, arguments.duration, arguments.rate, arguments.client))
    arguments.output.write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
