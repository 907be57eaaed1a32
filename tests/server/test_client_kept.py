"""The log client's reads of a hostile server, beyond one answer (SPEC 10: memory bounded
whatever the input; SPEC 11: the client does not trust the server).

``LogClient.kept`` reads ``GET /checkpoints`` a page at a time: every note of a page must be a
checkpoint of the range before the page is held (a server once could answer each size with one
real checkpoint and pages of anything), and what is held stays within what a bundle carries.
"""

from __future__ import annotations

import json

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
    with client, pytest.raises(AccordError):
        client.kept(0, 40)
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
    with client, pytest.raises(AccordError, match="more than the 5 checkpoints in"):
        client.kept(0, 40)
    assert pages == [40, 39, 38]
