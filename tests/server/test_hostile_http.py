"""The log server under a hostile client (SPEC 10 and 11): every attack gets the spec's status,
one line naming the rule or field (the CLI's line, for /add), an unchanged log, bounded reading,
no traceback and no hang. Each test is named after the attack it pins."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from ledger.entry import Entry
from ledger.errors import AccordError, MalformedError
from ledger.note import Note, sign_note
from projections.ledger import Ledger
from server.app import build_app
from server.pages.routes import page_routes
from tests.server.conftest import Founded, found
from tests.server.processes import Server
from tests.rawhttp import exchange

TOO_LARGE = "accord: entry: too large: got more than 65535 bytes, want at most 65535\n"


def app_of(founded: Founded) -> Starlette:
    """The app as ``accord serve`` builds it: the log's routes, then the register's pages."""
    return build_app(founded.url, founded.operator, extra_routes=page_routes(founded.url))


def size(founded: Founded) -> int:
    with Ledger.open(founded.url) as ledger:
        return ledger.log.size


def cli_line(note: str) -> str:
    """The line ``accord`` prints for ``note``: the parser's refusal, as the CLI words it."""
    from domain.rules import read_statement

    with pytest.raises(AccordError) as refused:
        read_statement(note)
    return f"accord: {refused.value}\n"


def posted(founded: Founded, body: bytes | str) -> tuple[int, str]:
    before = size(founded)
    with TestClient(app_of(founded)) as http:
        answer = http.post("/add", content=body)
    assert size(founded) == before, "a refused submission appended"
    return answer.status_code, answer.text


def streamed(app: Starlette, path: str, chunks: int, chunk: int) -> tuple[int, str, int]:
    """POST ``chunks`` chunks of ``chunk`` bytes with no Content-Length; the status, body and chunks the app pulled."""
    pulled = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(chunks):
            pulled += 1
            yield b"x" * chunk

    async def run() -> httpx.Response:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://accord.test", timeout=10) as client:
                return await client.post(path, content=body())

    answer = asyncio.run(asyncio.wait_for(run(), 30))
    return answer.status_code, answer.text, pulled


def signed(founded: Founded, text: str) -> str:
    return sign_note(text, founded.keys["in"]).to_text()


def statement_text(founded: Founded) -> str:
    return Note.from_text(founded.say("hostile")).text


def test_a_chunked_body_over_the_entry_limit_is_413_and_reading_stops_at_the_limit(founded: Founded) -> None:
    status, text, pulled = streamed(app_of(founded), "/add", chunks=1000, chunk=10_000)
    assert (status, text) == (413, TOO_LARGE)
    assert pulled <= 8, f"the server pulled {pulled} chunks of 10 kB past a limit of 64 kB"
    assert size(founded) == 1


def test_a_body_that_is_not_utf8_is_400_naming_the_note(founded: Founded) -> None:
    assert posted(founded, b"\xff\xfe" + founded.say("x").encode()) == (400, "accord: note: the body is not UTF-8\n")


def test_an_empty_body_is_400_with_the_line_the_cli_prints(founded: Founded) -> None:
    assert posted(founded, b"") == (400, cli_line(""))


def test_thousands_of_signature_lines_are_413_and_hundreds_are_refused_by_name(founded: Founded) -> None:
    note = founded.say("many signatures")
    text = Note.from_text(note).text
    signature = note[len(text) + 1 :]
    assert posted(founded, text + "\n" + signature * 3000) == (413, TOO_LARGE)
    hundreds = text + "\n" + signature * 500
    assert len(hundreds.encode()) < 65_535
    assert posted(founded, hundreds) == (400, cli_line(hundreds))


def test_a_signature_line_of_malformed_base64_is_400_naming_the_line(founded: Founded) -> None:
    note = statement_text(founded) + "\n\u2014 " + founded.keys["in"].name + " !!!not*base64@@\n"
    expected = "accord: note: signature line 1: got invalid base64, want RFC 4648 standard base64\n"
    assert cli_line(note) == expected
    assert posted(founded, note) == (400, expected)


def test_a_statement_nested_100000_deep_is_413_and_20000_deep_is_400_naming_the_depth(founded: Founded) -> None:
    assert posted(founded, signed(founded, "[" * 100_000 + "]" * 100_000 + "\n")) == (413, TOO_LARGE)
    deep = signed(founded, "[" * 20_000 + "]" * 20_000 + "\n")
    status, text = posted(founded, deep)
    assert (status, text) == (400, cli_line(deep))
    assert "nested deeper than 64 levels" in text


def test_a_number_of_a_million_digits_is_413_and_of_50000_digits_is_400_naming_the_number(founded: Founded) -> None:
    text = statement_text(founded)
    assert posted(founded, signed(founded, text[:-2] + ',"n":' + "9" * 1_000_000 + "}\n")) == (413, TOO_LARGE)
    for digits in ("9" * 50_000, "-" + "9" * 5_000, "9" * 20):
        note = signed(founded, text[:-2] + ',"n":' + digits + "}\n")
        expected = f"accord: canonical json: a number of {len(digits.lstrip('-'))} digits exceeds the safe integer domain for JSON\n"
        assert cli_line(note) == expected
        assert posted(founded, note) == (400, expected)


def test_an_entry_holding_a_number_of_5000_digits_is_malformed_not_a_crash() -> None:
    data = b'{"index":0,"logged_at":"2026-01-01T00:00:00Z","statement":"x","v":' + b"1" * 5000 + b"}"
    with pytest.raises(MalformedError, match="a number of 5000 digits exceeds the safe integer domain"):
        Entry.from_bytes(data)


def test_duplicate_json_keys_are_400_naming_the_key(founded: Founded) -> None:
    text = statement_text(founded)
    note = signed(founded, text.replace('"kind":', '"kind":"vote.cast","kind":'))
    assert posted(founded, note) == (400, "accord: canonical json: duplicate key 'kind'\n")


def test_version_true_is_not_version_1_in_a_statement_or_an_entry(founded: Founded) -> None:
    note = signed(founded, statement_text(founded).replace('"v":1', '"v":true'))
    assert posted(founded, note) == (400, "accord: statement: version: got True, want 1\n")
    entry = b'{"index":0,"logged_at":"2026-01-01T00:00:00Z","statement":"x","v":true}'
    with pytest.raises(MalformedError, match="version: got True, want 1"):
        Entry.from_bytes(entry)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/add", "POST"),
        ("PUT", "/add", "POST"),
        ("DELETE", "/add", "POST"),
        ("POST", "/checkpoint", "GET or HEAD"),
        ("PATCH", "/status", "GET or HEAD"),
        ("POST", "/tile/0/000.p/1", "GET or HEAD"),
        ("DELETE", "/tile/entries/000.p/1", "GET or HEAD"),
        ("POST", "/healthz", "GET or HEAD"),
        ("PUT", "/openapi.json", "GET or HEAD"),
    ],
)
def test_a_wrong_method_on_the_logs_paths_is_405_with_one_line_and_allow(founded: Founded, method: str, path: str, allowed: str) -> None:
    with TestClient(app_of(founded)) as http:
        answer = http.request(method, path)
    assert (answer.status_code, answer.text) == (405, f"accord: method: got {method} on {path}, want {allowed}\n")
    assert answer.headers["allow"] == allowed.replace(" or ", ", ")
    assert size(founded) == 1


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("/tile/0/000.p/0", "partial width '0' is not a decimal from 1 to 255"),
        ("/tile/0/000.p/256", "partial width '256' is not a decimal from 1 to 255"),
        ("/tile/0/000.p/+1", "partial width '+1' is not a decimal from 1 to 255"),
        ("/tile/-1/000", "level '-1' is not a decimal from 0 to 63"),
        ("/tile/64/000", "level '64' is not a decimal from 0 to 63"),
        ("/tile/0/-01", "index is not in x-prefixed 3-digit groups"),
        ("/tile/0/abc", "index is not in x-prefixed 3-digit groups"),
        ("/tile/0/000.p/1/", "index is not in x-prefixed 3-digit groups"),
        ("/tile/0/" + "x999/" * 2000 + "999", "index of 2001 groups, want at most 7"),
    ],
)
def test_a_hostile_tile_path_is_404_with_one_line_naming_the_part(founded: Founded, path: str, problem: str) -> None:
    with TestClient(app_of(founded)) as http:
        answer = http.get(path)
    assert answer.status_code == 404
    assert answer.text.startswith("accord: tile: path 'tile/") and answer.text.endswith(f": {problem}\n")
    assert answer.text.count("\n") == 1 and len(answer.text) < 300


@pytest.mark.parametrize("path", ["/tile/0/000.p/2", "/tile/entries/000.p/2", "/tile/0/x999/x999/x999/x999/x999/x999/999", "/tile/1/000.p/1"])
def test_a_tile_beyond_the_checkpoint_is_404_naming_the_tile(founded: Founded, path: str) -> None:
    with TestClient(app_of(founded)) as http:
        answer = http.get(path)
    assert (answer.status_code, answer.text) == (404, f"accord: tile: {path[1:]} is beyond the published checkpoint\n")


def test_a_query_string_on_a_static_path_is_ignored_as_a_static_host_would(founded: Founded) -> None:
    with TestClient(app_of(founded)) as http:
        for path in ("/checkpoint", "/tile/0/000.p/1", "/tile/entries/000.p/1"):
            plain = http.get(path)
            queried = http.get(path + "?after=x&upto=-1&%00=%ff")
            assert plain.status_code == queried.status_code == 200
            assert queried.content == plain.content and queried.headers["cache-control"] == plain.headers["cache-control"]


# A real process, for what depends on the HTTP server: declared lengths, raw paths, cut bodies.


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Founded]]:
    directory: Path = tmp_path_factory.mktemp("hostile")
    founded = found(f"sqlite:///{directory / 'log.db'}", directory)
    process = Server(founded)
    yield process, founded
    process.stop()
    output = Path(process.log.name).read_text(errors="replace")
    assert "Traceback" not in output, output


def test_a_body_declared_at_a_gigabyte_is_413_before_the_client_sends_it(server: tuple[Server, Founded]) -> None:
    process, founded = server
    answer = exchange(process.port, b"POST /add HTTP/1.1\r\nHost: accord.test\r\nContent-Length: 1000000000\r\n\r\n" + b"x" * 70_000)
    assert answer.startswith(b"HTTP/1.1 413 ") and answer.endswith(b"\r\n\r\n" + TOO_LARGE.encode())
    assert size(founded) == 1


def test_a_body_cut_short_by_the_client_appends_nothing_and_leaves_no_traceback(server: tuple[Server, Founded]) -> None:
    process, founded = server
    note = founded.say("cut short").encode()
    request = b"POST /add HTTP/1.1\r\nHost: accord.test\r\nContent-Length: %d\r\n\r\n" % len(note) + note[:-20]
    assert exchange(process.port, request, within=5, shut=True) == b""
    time.sleep(0.5)
    assert size(founded) == 1
    assert "Traceback" not in process.output()


@pytest.mark.parametrize(
    ("path", "line"),
    [
        (b"/tile/0/x001/../../etc", "accord: tile: path 'tile/0/x001/../../etc': index is not in x-prefixed 3-digit groups\n"),
        (b"/tile/../checkpoint", "accord: tile: path 'tile/../checkpoint': level '..' is not a decimal from 0 to 63\n"),
        (b"/tile/0/" + b"x999/" * 3000 + b"999", f"accord: tile: path {('tile/0/' + 'x999/' * 3000)[:80]!r}: index of 3001 groups, want at most 7\n"),
    ],
)
def test_a_raw_tile_path_the_client_did_not_normalize_is_404_naming_it(server: tuple[Server, Founded], path: bytes, line: str) -> None:
    process, _ = server
    answer = exchange(process.port, b"GET " + path + b" HTTP/1.1\r\nHost: accord.test\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 404 ") and answer.endswith(b"\r\n\r\n" + line.encode())
    assert "Traceback" not in process.output()


@pytest.mark.parametrize("value", ["%C2%B2", "%D9%A3", "1e3", "-1", "01", "9" * 20])
def test_a_size_parameter_that_is_not_an_ascii_decimal_is_400_naming_it(founded: Founded, value: str) -> None:
    with TestClient(app_of(founded)) as http:
        answer = http.get(f"/checkpoints?after={value}")
    assert answer.status_code == 400
    assert answer.text.startswith("accord: checkpoints: after: got ") and answer.text.endswith(", want a tree size in decimal\n")


def test_a_time_in_other_script_digits_is_refused_as_not_rfc_3339() -> None:
    from ledger.timefmt import parse_time

    with pytest.raises(MalformedError, match="want RFC 3339 UTC time like 2026-11-24T12:00:00Z"):
        parse_time("\u0662\u0660\u0662\u0666-01-01T00:00:00Z", "signed_at")


@pytest.mark.parametrize("retry_after", ["\u00b2", "9" * 400, "1.5", ""])
def test_a_retry_after_that_is_not_an_ascii_decimal_falls_back_to_backoff(retry_after: str) -> None:
    from server.client import LogClient

    with LogClient("http://127.0.0.1:9", backoff=0.25, max_wait=5) as client:
        assert client._wait(httpx.Response(429, headers={"Retry-After": retry_after.encode("latin-1")}), 1) == 0.5


def test_a_body_trickled_slower_than_the_deadline_is_408_not_waited_for(founded: Founded, monkeypatch: pytest.MonkeyPatch) -> None:
    import server.bodies

    monkeypatch.setattr(server.bodies, "BODY_WITHIN", 0.5)
    app = app_of(founded)
    pulled = 0

    async def trickle() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(40):
            pulled += 1
            await asyncio.sleep(0.25)
            yield b"x"

    async def run() -> httpx.Response:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://accord.test", timeout=10) as client:
                return await client.post("/add", content=trickle())

    started = time.monotonic()
    answer = asyncio.run(asyncio.wait_for(run(), 30))
    assert (answer.status_code, answer.text) == (408, "accord: note: the body did not arrive within 0.5 s\n")
    assert pulled < 10 and time.monotonic() - started < 9
    assert size(founded) == 1


@pytest.mark.parametrize("path", ["/tile/0%2F000.p/1", "/tile/entries/000.p%2F1", "/tile/0/000%2F..", "/tile/%30/000.p/1"])
def test_a_percent_encoded_tile_path_is_404_not_the_tile_it_decodes_to(founded: Founded, path: str) -> None:
    with TestClient(app_of(founded)) as http:
        answer = http.get(path)
    assert (answer.status_code, answer.text) == (404, "accord: tile: path: want no percent-encoding, as the spec spells tile paths\n")
