"""The witness's POST /add-checkpoint under a hostile client (SPEC 10 and 12, c2sp.org/tlog-witness):
the spec's status, one line naming what is wrong, nothing cosigned or persisted, bounded reading,
no traceback and no hang. Each test is named after the attack it pins."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from ledger.witness_state import WitnessState
from server.witness import witness_app
from tests.witness.keys import LOG, checkpoint_note, signer, tree, witness_signer
from tests.witness.processes import Process, witness_process
from tests.rawhttp import exchange

OPERATOR = signer(LOG)
WITNESS = witness_signer("witness.test/hostile")
HONEST = tree(40)
NOTE8 = checkpoint_note(OPERATOR, HONEST, 8)
NODE = base64.b64encode(bytes(32)) + b"\n"
TOO_LARGE = "witness: request larger than 65536 bytes\n"


def body(old: int | str, proof: list[bytes], note: str) -> bytes:
    return f"old {old}\n".encode() + b"".join(base64.b64encode(node) + b"\n" for node in proof) + b"\n" + note.encode()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[Starlette, WitnessState]]:
    state = WitnessState(tmp_path / "witness.db")
    yield witness_app(state, {LOG: [OPERATOR.verifier_key()]}, WITNESS, lambda: 1_000), state
    state.close()


def refused(app: tuple[Starlette, WitnessState], request: bytes, status: int, line: str, method: str = "POST") -> None:
    """``request`` gets ``status`` and the one ``line``, and the witness has cosigned nothing."""
    served, state = app
    with TestClient(served) as http:
        answer = http.request(method, "/add-checkpoint", content=request)
    assert (answer.status_code, answer.text) == (status, line)
    assert state.last(LOG) is None, "the refusal changed the witness's state"


def test_an_unknown_origin_is_404_naming_it(app: tuple[Starlette, WitnessState]) -> None:
    refused(app, body(0, [], checkpoint_note(signer("unknown.test/log"), HONEST, 8)), 404, "witness: unknown log 'unknown.test/log'\n")


def test_a_checkpoint_signed_by_another_key_is_403(app: tuple[Starlette, WitnessState]) -> None:
    line = f"witness: checkpoint of {LOG} is not signed by a trusted key of the log\n"
    refused(app, body(0, [], checkpoint_note(signer(LOG, generation=9), HONEST, 8)), 403, line)


def test_an_old_size_larger_than_the_checkpoints_is_400_naming_both(app: tuple[Starlette, WitnessState]) -> None:
    refused(app, body(9, [], NOTE8), 400, "witness: old size 9 is above the checkpoint's size 8\n")


def test_an_old_size_of_10000_digits_is_400_with_the_size_cut_short(app: tuple[Starlette, WitnessState]) -> None:
    digits = "9" * 10_000
    refused(app, body(digits, [], NOTE8), 400, f"witness: old size got {digits[:30]!r}, want a decimal from 0 to 2^63-1 without leading zeros\n")


def test_a_proof_of_10000_lines_is_413_and_of_1400_lines_is_400_naming_the_count(app: tuple[Starlette, WitnessState]) -> None:
    refused(app, b"old 1\n" + NODE * 10_000 + b"\n" + NOTE8.encode(), 413, TOO_LARGE)
    refused(app, b"old 1\n" + NODE * 1_400 + b"\n" + NOTE8.encode(), 400, "witness: got 1400 consistency proof lines, want at most 63\n")


def test_a_checkpoint_with_hundreds_of_signature_lines_is_400_naming_the_limit(app: tuple[Starlette, WitnessState]) -> None:
    signatures = NOTE8.split("\n\n", 1)[1]
    refused(app, body(0, [], NOTE8 + signatures * 300), 400, "witness: checkpoint note: note: too many signatures: got 301, want at most 100\n")


def test_a_checkpoint_signature_of_malformed_base64_is_400_naming_the_line(app: tuple[Starlette, WitnessState]) -> None:
    note = NOTE8.split("\n\n")[0] + "\n\n\u2014 " + LOG + " !!!not*base64@@\n"
    refused(app, body(0, [], note), 400, "witness: checkpoint note: note: signature line 1: got invalid base64, want RFC 4648 standard base64\n")


def test_a_body_that_is_not_utf8_or_empty_is_400(app: tuple[Starlette, WitnessState]) -> None:
    refused(app, b"old 0\n\n\xff" + NOTE8.encode(), 400, "witness: not UTF-8: invalid byte at offset 7\n")
    refused(app, b"", 400, "witness: no empty line between the consistency proof and the checkpoint\n")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_a_wrong_method_is_405_with_one_line_and_allow(app: tuple[Starlette, WitnessState], method: str) -> None:
    refused(app, b"", 405, f"witness: method: got {method}, want POST\n", method=method)
    with TestClient(app[0]) as http:
        assert http.request(method, "/add-checkpoint").headers["allow"] == "POST"


def test_a_chunked_body_past_the_limit_is_413_and_reading_stops_there(app: tuple[Starlette, WitnessState]) -> None:
    served, _ = app
    pulled = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(1_000):
            pulled += 1
            yield b"A" * 10_000

    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=served)
        async with httpx.AsyncClient(transport=transport, base_url="http://witness.test", timeout=10) as client:
            return await client.post("/add-checkpoint", content=chunks())

    answer = asyncio.run(asyncio.wait_for(run(), 30))
    assert (answer.status_code, answer.text) == (413, TOO_LARGE)
    assert pulled <= 8, f"the witness pulled {pulled} chunks of 10 kB past a limit of 64 kB"


# A real process, for what depends on the HTTP server: a declared length, a body cut short.


@pytest.fixture(scope="module")
def witness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    process = witness_process(tmp_path_factory.mktemp("hostile-witness"), "w", WITNESS, [OPERATOR.verifier_key().to_text()])
    yield process
    process.stop()
    output = process.log.read_text(errors="replace")
    assert "Traceback" not in output, output


def test_a_body_declared_at_a_gigabyte_is_413_before_the_client_sends_it(witness: Process) -> None:
    answer = exchange(witness.port, b"POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nContent-Length: 1000000000\r\n\r\nold 0\n" + b"A" * 70_000)
    assert answer.startswith(b"HTTP/1.1 413 ") and answer.endswith(b"\r\n\r\n" + TOO_LARGE.encode())


def test_a_body_cut_short_by_the_client_leaves_no_traceback(witness: Process) -> None:
    request = body(0, [], NOTE8)
    exchange(witness.port, b"POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nContent-Length: %d\r\n\r\n" % len(request) + request[:-20], within=5, shut=True)
    time.sleep(0.5)
    assert "Traceback" not in witness.log.read_text(errors="replace")


# The log as the witness's client: a hostile witness answering POST /add-checkpoint.


@pytest.mark.parametrize("told", ["\u00b2", "\u0663", "9" * 5_000])
def test_a_409_naming_a_size_that_is_not_an_ascii_decimal_is_a_witness_failure_not_a_crash(tmp_path: Path, told: str) -> None:
    from ledger.note import Note
    from ledger.policy import Policy
    from server.witnessing import Witnessing

    policy = Policy.from_text(
        f"log {OPERATOR.verifier_key().to_text()}\nwitness w1 {WITNESS.cosigner_key().to_text()} http://127.0.0.1:9/\nquorum w1\n"
    )
    witnessing = Witnessing(policy, f"sqlite:///{tmp_path / 'log.db'}")
    answer = httpx.Response(409, text=told + "\n", headers={"content-type": "text/x.tlog.size"})
    witnessing.client.close()
    witnessing.client = httpx.Client(transport=httpx.MockTransport(lambda request: answer))
    try:
        assert witnessing.gather(Note.from_text(NOTE8)) is None
        assert witnessing.problem is not None and f"w1 has cosigned size {told[:20]}, beyond 8" in witnessing.problem
    finally:
        witnessing.stop()


def test_a_request_trickled_slower_than_the_deadline_is_408_not_waited_for(app: tuple[Starlette, WitnessState], monkeypatch: pytest.MonkeyPatch) -> None:
    import server.bodies

    monkeypatch.setattr(server.bodies, "BODY_WITHIN", 0.5)
    served, state = app
    pulled = 0

    async def trickle() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(40):
            pulled += 1
            await asyncio.sleep(0.25)
            yield b"A"

    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=served)
        async with httpx.AsyncClient(transport=transport, base_url="http://witness.test", timeout=10) as client:
            return await client.post("/add-checkpoint", content=trickle())

    answer = asyncio.run(asyncio.wait_for(run(), 30))
    assert (answer.status_code, answer.text) == (408, "witness: the request did not arrive within 0.5 s\n")
    assert pulled < 10 and state.last(LOG) is None
