"""Every parser of outside input, fuzzed (SPEC 10): a mutated input is refused with an
AccordError, or accepted exactly (it re-serializes to the bytes given); never another
exception, and never more memory than the cap.

The seeds are real documents (the golden vectors, a saved verification, a
manifest, a policy, a charter TOML, a key file, a witness request); hypothesis
flips, inserts, deletes and truncates bytes, and splices in the shapes that
broke parsers before (deep nesting, huge numbers, ``true`` for an integer,
non-UTF-8 bytes).
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.charter_cmd import charter_from_toml
from ledger.bundle import Manifest
from ledger.canonical import parse_canonical
from ledger.checkpoint import Checkpoint
from ledger.entry import Entry
from ledger.errors import AccordError
from ledger.evidence import check_evidence
from ledger.keyfile import ScryptParameters, key_file_text, read_key_file
from ledger.keys import Signer, VerifierKey
from ledger.merkle import CompactRange
from ledger.note import Note
from ledger.policy import Policy
from ledger.statement import Statement
from ledger.tlog_proof import TlogProof
from ledger.witness import AddCheckpoint
from projections.audit import Replay
from projections.certificate_check import verify_certificate
from tests.vectorfiles import accord_golden

GOLDEN = accord_golden()
MEMORY_CAP = 64 * 1024 * 1024
"""Peak bytes one parse may allocate, whatever the input (inputs here are a few KiB)."""
PASSPHRASE = b"correct horse battery"
FAST_SCRYPT = ScryptParameters(log2_n=10)

SPLICES = [b"[" * 200, b"1e400", b"true", b"\xff\xfe", b"\x00", b"\n\n", b"-0", b"9" * 40, b'"\\ud800"', b"\xe2\x80\x94 "]


def _seeds() -> dict[str, bytes]:
    statement = GOLDEN["statements"][0]
    key = Signer.generate(f"{GOLDEN['origin']}/de")
    saved = Replay(bytes(32), None, CompactRange(0, []), {}, None).to_text()
    witness = Signer.generate("witness.example/w1")
    return {
        "note": statement["note"].encode(),
        "statement": statement["text"].encode(),
        "entry": GOLDEN["entries"][1]["bytes_utf8"].encode(),
        "checkpoint": GOLDEN["checkpoint"].encode(),
        "cosigned": GOLDEN["checkpoint_cosigned"].encode(),
        "tlog-proof": GOLDEN["tlog_proof_index_2"].encode(),
        "manifest": Manifest(GOLDEN["origin"], 0, 4).to_text().encode(),
        "saved": saved.encode(),
        "evidence": b'{"version": 1, "kind": "accord-equivocation", "operator": "%s", "checkpoints": ["a", "b"], "prefix": {"root": "", "proof": []}}'
        % VerifierKey.from_text(GOLDEN["keys"]["operator"]["vkey"]).to_text().encode(),
        "certificate": b'{"version": 1, "kind": "accord-certificate", "decision": "D-1", "proposal": "P-1", "close": 3, "entries": [], "checkpoint": ""}',
        "policy": (f"log {GOLDEN['keys']['operator']['vkey']}\nwitness w1 {witness.cosigner_key().to_text()} https://w1.example/\nquorum w1\n").encode(),
        "charter": (
            f'origin = "{GOLDEN["origin"]}"\nname = "Council"\noperator = "{GOLDEN["keys"]["operator"]["vkey"]}"\n'
            f'withdrawal_notice = "90d"\n[[member]]\nid = "de"\nname = "Germany"\nkeys = ["{key.verifier_key().to_text()}"]\n'
        ).encode(),
        "key file": key_file_text(key, PASSPHRASE, FAST_SCRYPT).encode(),
        "add-checkpoint": b"old 0\n\n" + GOLDEN["checkpoint"].encode(),
    }


SEEDS = _seeds()


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")  # these parsers take text: the bytes were decoded before them


def _key_file(data: bytes, tmp: Path) -> object:
    path = tmp / "fuzzed.key"
    path.write_bytes(data)
    path.chmod(0o600)
    return read_key_file(path, PASSPHRASE)


# Each parser, and how an accepted value re-serializes (None: no serializer; acceptance is enough).
PARSERS: dict[str, tuple[Callable[[bytes, Path], object], Callable[[object], bytes] | None]] = {
    "note": (lambda d, _: Note.from_text(d), lambda v: v.to_text().encode()),  # type: ignore[attr-defined]
    "statement": (lambda d, _: Statement.from_text(_text(d)), None),
    "entry": (lambda d, _: Entry.from_bytes(d), None),
    "canonical": (lambda d, _: parse_canonical(d, "entry"), None),
    "checkpoint": (lambda d, _: Checkpoint.from_text(Note.from_text(d).text), None),
    "cosigned": (lambda d, _: Note.from_text(d), lambda v: v.to_text().encode()),  # type: ignore[attr-defined]
    "tlog-proof": (lambda d, _: TlogProof.from_text(d), lambda v: v.to_text().encode()),  # type: ignore[attr-defined]
    "manifest": (lambda d, _: Manifest.from_text(d), None),
    "saved": (lambda d, _: Replay.from_text(_text(d)), None),
    "evidence": (lambda d, _: check_evidence(_text(d)), None),
    "certificate": (lambda d, _: verify_certificate(_text(d), bytes(32)), None),
    "policy": (lambda d, _: Policy.from_text(d), None),
    "charter": (lambda d, _: charter_from_toml(_text(d), "2026-12-01T00:00:00Z"), None),
    "key file": (_key_file, None),
    "add-checkpoint": (lambda d, _: AddCheckpoint.from_bytes(d), None),
}
SEED_OF = {"canonical": "entry"}


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "splice"]))
        at = draw(st.integers(0, len(data)))
        if action == "flip" and data:
            at = min(at, len(data) - 1)
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif action == "truncate":
            del data[at:]
        else:
            data[at:at] = draw(st.sampled_from(SPLICES))
    return bytes(data)


def _judge(name: str, data: bytes, tmp: Path) -> None:
    parse, serialize = PARSERS[name]
    tracemalloc.start()
    try:
        value = parse(data, tmp)
    except AccordError:
        return
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < MEMORY_CAP, f"{name}: a parse took {peak} bytes"
    if serialize is not None:
        assert serialize(value) == data, f"{name}: accepted a mutated input that does not re-serialize to itself"


@pytest.mark.parametrize("name", PARSERS)
def test_every_seed_is_judged_without_another_exception(name: str, tmp_path: Path) -> None:
    # The seeds themselves: accepted (or, for documents that need a ledger, refused with an AccordError).
    _judge(name, SEEDS[SEED_OF.get(name, name)], tmp_path)


@pytest.mark.parametrize("name", PARSERS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_input_is_refused_with_an_accord_error_or_accepted_exactly(name: str, data: st.DataObject, tmp_path: Path) -> None:
    _judge(name, data.draw(mutated(SEEDS[SEED_OF.get(name, name)])), tmp_path)

