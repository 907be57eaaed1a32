"""Every byte of tests/vectors/accord/golden.json, reproduced from its seeds.

The chain is the one the log walks: statement JSON -> canonical text -> signed
note -> entry bytes -> leaf hash -> root -> checkpoint -> cosignature ->
tlog-proof, through a real Log on the memory store.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from ledger.checkpoint import Checkpoint, cosign, sign_checkpoint
from ledger.entry import Entry
from ledger.keys import Signer
from ledger.log import Log
from ledger.note import sign_note
from ledger.statement import Statement
from ledger.store import Store
from ledger.timefmt import parse_time
from tests.vectorfiles import accord_golden

GOLDEN = accord_golden()
ORIGIN = GOLDEN["origin"]


def signer(actor: str) -> Signer:
    name = ORIGIN if actor == "operator" else f"{ORIGIN}/{actor}"
    return Signer.from_seed(name, bytes.fromhex(GOLDEN["keys"][actor]["seed_hex"]))


@pytest.mark.parametrize("actor", sorted(GOLDEN["keys"]))
def test_verifier_keys_are_reproduced_from_seeds(actor: str) -> None:
    assert signer(actor).verifier_key().to_text() == GOLDEN["keys"][actor]["vkey"]


@pytest.mark.parametrize("number", range(len(GOLDEN["statements"])))
def test_statement_text_and_note_are_reproduced(number: int) -> None:
    case: dict[str, Any] = GOLDEN["statements"][number]
    fields = dict(case["json"])
    assert fields.pop("v") == 1
    statement = Statement(**fields)
    assert statement.to_text() == case["text"]
    assert Statement.from_text(case["text"]) == statement
    assert sign_note(statement.to_text(), signer(statement.actor)).to_text() == case["note"]


@pytest.mark.parametrize("number", range(len(GOLDEN["entries"])))
def test_entry_bytes_and_leaf_hash_are_reproduced(number: int) -> None:
    case = GOLDEN["entries"][number]
    data = case["bytes_utf8"].encode("utf-8")
    entry = Entry.from_bytes(data)
    assert entry.index == number
    assert entry.to_bytes() == data
    assert entry.leaf_hash().hex() == case["leaf_hash_hex"]
    if number:
        assert entry.statement == GOLDEN["statements"][number - 1]["note"]


def test_log_of_the_golden_entries_gives_the_root_checkpoint_cosignature_and_proof() -> None:
    entries = [Entry.from_bytes(case["bytes_utf8"].encode("utf-8")) for case in GOLDEN["entries"]]
    times = iter(parse_time(entry.logged_at, "logged_at") for entry in entries)
    with Store("memory:") as store:
        log = Log(store, clock=lambda: next(times))
        for entry in entries:
            assert log.append([entry.statement]) == [entry]
        assert base64.b64encode(log.head().root).decode() == GOLDEN["root_b64"]
        note = log.publish_checkpoint(signer("operator"))
        assert note.to_text() == GOLDEN["checkpoint"]
        assert sign_checkpoint(Checkpoint(ORIGIN, 4, log.head().root), signer("operator")) == note
        cosigned = note.with_signatures(cosign(note, signer("fr"), GOLDEN["cosignature_time"]))
        assert cosigned.to_text() == GOLDEN["checkpoint_cosigned"]
        store.add_checkpoint(1, cosigned.to_text())
        assert log.receipt(2).to_text() == GOLDEN["tlog_proof_index_2"]
