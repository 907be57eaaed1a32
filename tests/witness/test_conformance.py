"""A witness process held to c2sp.org/tlog-witness, byte for byte, with a client written from the spec.

The requests are built here from the spec's text (``old N``, base64 proof
lines, an empty line, the checkpoint note) and sent with the standard
library's http.client, not with Accord's own request model or HTTP client.
"""

from __future__ import annotations

import base64
import http.client
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.checkpoint import verify_cosignature
from ledger.note import Note
from tests.witness.keys import LOG, checkpoint_note, signer, tree, witness_signer
from tests.witness.processes import Process, witness_process

OPERATOR = signer(LOG)
WITNESS = witness_signer("witness.test/conformance")
HONEST = tree(64)


@pytest.fixture(scope="module")
def witness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    directory: Path = tmp_path_factory.mktemp("conformance")
    process = witness_process(directory, "w", WITNESS, [OPERATOR.verifier_key().to_text()])
    yield process
    process.stop()


def post(witness: Process, body: bytes, path: str = "/add-checkpoint", method: str = "POST") -> tuple[int, str, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", witness.port, timeout=10)
    try:
        connection.request(method, path, body=body)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


def body(old: int, proof: list[bytes], note: str) -> bytes:
    lines = f"old {old}\n" + "".join(base64.b64encode(node).decode() + "\n" for node in proof)
    return (lines + "\n" + note).encode("utf-8")


def test_witness_conforms_to_tlog_witness_status_by_status(witness: Process) -> None:
    note8 = checkpoint_note(OPERATOR, HONEST, 8)
    # 404: an origin the witness has no key for.
    assert post(witness, body(0, [], checkpoint_note(signer("unknown.test/log"), HONEST, 8)))[0] == 404
    # 403: the right origin, signed by another key.
    assert post(witness, body(0, [], checkpoint_note(signer(LOG, generation=9), HONEST, 8)))[0] == 403
    # 400: an old size above the checkpoint's; and a body that is not one.
    assert post(witness, body(9, [], note8))[0] == 400
    assert post(witness, b"old 0\n")[0] == 400
    # 200: one or more note signature lines, each a cosignature/v1 of the checkpoint.
    status, _, answer = post(witness, body(0, [], note8))
    assert status == 200
    lines = answer.decode("utf-8").split("\n")
    assert lines[-1] == "" and all(line.startswith("\u2014 witness.test/conformance ") for line in lines[:-1])
    cosigned = Note.from_text(note8 + answer.decode("utf-8"))
    assert verify_cosignature(cosigned, WITNESS.cosigner_key()) > 1_700_000_000
    # 409: old size not the last cosigned; the body is that size, text/x.tlog.size.
    status, content_type, answer = post(witness, body(0, [], checkpoint_note(OPERATOR, HONEST, 20)))
    assert (status, content_type, answer) == (409, "text/x.tlog.size", b"8\n")
    # 409 too: the same size with another root.
    status, content_type, answer = post(witness, body(8, [], checkpoint_note(OPERATOR, tree(8, fork_at=2), 8)))
    assert (status, content_type, answer) == (409, "text/x.tlog.size", b"8\n")
    # 422: a consistency proof that does not hold (a fork of the tree after entry 5).
    forked = tree(20, fork_at=5)
    assert post(witness, body(8, forked.consistency_proof(8, 20), checkpoint_note(OPERATOR, forked, 20)))[0] == 422
    # 200 from the size the 409 named, with the RFC 6962 proof from it.
    status, _, answer = post(witness, body(8, HONEST.consistency_proof(8, 20), checkpoint_note(OPERATOR, HONEST, 20)))
    assert status == 200
    # The witness persisted 20: old 8 is now a 409 naming 20.
    assert post(witness, body(8, HONEST.consistency_proof(8, 30), checkpoint_note(OPERATOR, HONEST, 30)))[2] == b"20\n"


def test_witness_answers_only_post_on_add_checkpoint(witness: Process) -> None:
    assert post(witness, b"", method="GET")[0] == 405
    assert post(witness, b"", path="/checkpoint")[0] == 404


def test_witness_refuses_an_oversized_request_without_reading_it_all(witness: Process) -> None:
    assert post(witness, b"old 0\n" + b"A" * 200_000)[0] == 413
