"""The log client's reads of a hostile server, beyond one answer (SPEC 10: memory bounded
whatever the input; SPEC 11: the client does not trust the server).

``LogClient.kept`` reads ``GET /checkpoints`` a page at a time: every note of a page must be a
checkpoint of the range before the page is held (a server once could answer each size with one
real checkpoint and pages of anything), and what is held stays within what a bundle carries.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.errors import AccordError
from ledger.keys import Signer
from server.client import LogClient

ORIGIN = "accord.test/review"


class _Streamed(httpx.SyncByteStream):
    """A body streamed as a server sends it (httpx reads a body given as bytes at once)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __iter__(self):  # type: ignore[no-untyped-def]
        yield self.data


def _hostile_pages(requests: list[httpx.Request]) -> httpx.MockTransport:
    operator = Signer.from_seed(ORIGIN, bytes(32))

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        upto = int(request.url.params["upto"])
        first = sign_checkpoint(Checkpoint(ORIGIN, upto, bytes(32)), operator).to_text()
        junk = ["not a checkpoint " + "x" * 1000] * 20
        return httpx.Response(200, stream=_Streamed(json.dumps({"checkpoints": [first, *junk], "more": True}).encode()))

    return httpx.MockTransport(answer)


def test_a_page_of_checkpoints_holding_what_is_not_a_checkpoint_of_the_range_is_refused_at_once() -> None:
    requests: list[httpx.Request] = []
    client = LogClient("http://log.invalid")
    client._http = httpx.Client(base_url=client.url, transport=_hostile_pages(requests))
    with client, pytest.raises(AccordError) as refused:
        client.kept(0, 40)
    assert str(refused.value) == (
        "log: http://log.invalid/checkpoints: a kept checkpoint that is not one: note: no blank line between the text and the signatures"
    )
    assert len(requests) == 1, f"read {len(requests)} pages of junk before refusing"


def test_the_checkpoints_a_client_holds_stay_within_what_a_bundle_carries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real checkpoints, each size of the range in several versions (as late cosignatures make
    them): past MAX_KEPT notes the client refuses rather than holding more."""
    operator = Signer.from_seed(ORIGIN, bytes(32))
    pages: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        upto = int(request.url.params["upto"])
        pages.append(upto)
        version = sign_checkpoint(Checkpoint(ORIGIN, upto, bytes(32)), operator).to_text()
        return httpx.Response(200, stream=_Streamed(json.dumps({"checkpoints": [version] * 2, "more": True}).encode()))

    monkeypatch.setattr("server.client.MAX_KEPT", 5)
    client = LogClient("http://log.invalid")
    client._http = httpx.Client(base_url=client.url, transport=httpx.MockTransport(answer))
    with client, pytest.raises(AccordError) as refused:
        client.kept(0, 40)
    assert str(refused.value) == "log: http://log.invalid/checkpoints: more than the 5 checkpoints in 67108864 bytes a bundle carries"
    assert pages == [40, 39, 38]


def _client(answer: Callable[[httpx.Request], httpx.Response]) -> LogClient:
    client = LogClient("http://log.invalid")
    client._http = httpx.Client(base_url=client.url, transport=httpx.MockTransport(answer))
    return client


def _page(*notes: str) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(200, stream=_Streamed(json.dumps({"checkpoints": list(notes), "more": True}).encode()))


def _checkpoint(size: int) -> str:
    return sign_checkpoint(Checkpoint(ORIGIN, size, bytes(32)), Signer.from_seed(ORIGIN, bytes(32))).to_text()


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (_page(_checkpoint(7), _checkpoint(6)), "log: http://log.invalid/checkpoints: a page of checkpoints not oldest first"),
        (_page(_checkpoint(41)), "log: http://log.invalid/checkpoints: a checkpoint of size 41 outside 0 < size <= 40"),
        (
            lambda request: httpx.Response(200, stream=_Streamed(b"{not json")),
            "log: http://log.invalid/checkpoints: the page of checkpoints is not JSON:"
            " Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        (lambda request: httpx.Response(200, stream=_Streamed(b"[1]")), "log: http://log.invalid/checkpoints: the page of checkpoints is not a JSON object"),
    ],
    ids=["not-oldest-first", "outside-the-range", "not-json", "not-an-object"],
)
def test_a_hostile_page_of_checkpoints_is_refused_in_one_line(answer: Callable[[httpx.Request], httpx.Response], message: str) -> None:
    with _client(answer) as client, pytest.raises(AccordError) as refused:
        client.kept(0, 40)
    assert str(refused.value) == message


def test_a_compressed_answer_is_refused_unread() -> None:
    """Its size says nothing of what it inflates to (SPEC 10: memory bounded)."""
    answer = lambda request: httpx.Response(200, stream=_Streamed(b"x"), headers={"Content-Encoding": "gzip"})  # noqa: E731
    with _client(answer) as client, pytest.raises(AccordError) as refused:
        client.checkpoint()
    assert str(refused.value) == "log: http://log.invalid/checkpoint: the checkpoint is gzip-encoded, want it uncompressed"
