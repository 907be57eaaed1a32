"""The witness's decision for each status of c2sp.org/tlog-witness, and its state kept atomically."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.checkpoint import verify_cosignature
from ledger.encoding import encode_base64
from ledger.evidence import check_evidence
from ledger.note import Note
from ledger.witness import AddCheckpoint, WitnessRefusal
from ledger.witness_state import WitnessState
from tests.witness.keys import LOG, checkpoint_note, signer, tree, witness_signer

OPERATOR = signer(LOG)
WITNESS = witness_signer("witness.test/w1")
KEYS = {LOG: [OPERATOR.verifier_key()]}
HONEST = tree(40)


def request(size: int, old: int, built=HONEST, proof: list[bytes] | None = None, note: str | None = None) -> AddCheckpoint:
    if proof is None:
        proof = built.consistency_proof(old, size) if 0 < old < size else []
    return AddCheckpoint(old, tuple(proof), note or checkpoint_note(OPERATOR, built, size))


@pytest.fixture
def state(tmp_path) -> WitnessState:
    opened = WitnessState(tmp_path / "witness.db")
    yield opened
    opened.close()


def cosign(state: WitnessState, wanted: AddCheckpoint, now: int = 1_000) -> str:
    return state.cosign(wanted, KEYS, WITNESS, lambda: now).cosignatures


def refused(state: WitnessState, wanted: AddCheckpoint) -> WitnessRefusal:
    with pytest.raises(WitnessRefusal) as raised:
        cosign(state, wanted)
    return raised.value


def test_first_checkpoint_from_old_size_zero_is_cosigned_with_the_witness_time(state: WitnessState) -> None:
    wanted = request(10, 0)
    line = cosign(state, wanted, now=1_234)
    note = Note.from_text(wanted.checkpoint_note + line)
    assert verify_cosignature(note, WITNESS.cosigner_key()) == 1_234
    assert (state.last(LOG).size, state.last(LOG).root_hash) == (10, HONEST.root_at(10))


def test_extension_with_a_consistency_proof_is_cosigned(state: WitnessState) -> None:
    cosign(state, request(10, 0))
    cosign(state, request(33, 10))
    assert state.last(LOG).size == 33


def test_same_checkpoint_again_is_cosigned_again_with_a_newer_time(state: WitnessState) -> None:
    cosign(state, request(10, 0), now=100)
    line = cosign(state, request(10, 10), now=200)
    assert verify_cosignature(Note.from_text(request(10, 10).checkpoint_note + line), WITNESS.cosigner_key()) == 200


def test_unknown_log_is_404(state: WitnessState) -> None:
    other = signer("other.test/log")
    got = refused(state, AddCheckpoint(0, (), checkpoint_note(other, HONEST, 5)))
    assert (got.status, str(got)) == (404, "witness: unknown log 'other.test/log'")


def test_checkpoint_not_signed_by_the_log_key_is_403(state: WitnessState) -> None:
    impostor = signer(LOG, generation=1)
    got = refused(state, AddCheckpoint(0, (), checkpoint_note(impostor, HONEST, 5)))
    assert (got.status, str(got)) == (403, f"witness: checkpoint of {LOG} is not signed by a trusted key of the log")


def test_old_size_above_the_checkpoint_is_400(state: WitnessState) -> None:
    got = refused(state, request(5, 6, proof=[]))
    assert (got.status, str(got)) == (400, "witness: old size 6 is above the checkpoint's size 5")


def test_old_size_not_the_last_cosigned_is_409_with_that_size(state: WitnessState) -> None:
    cosign(state, request(10, 0))
    got = refused(state, request(20, 0))
    assert (got.status, got.size, str(got)) == (409, 10, "witness: old size got 0, want 10, the size cosigned last")


def test_same_size_with_another_root_is_409(state: WitnessState) -> None:
    cosign(state, request(10, 0))
    got = refused(state, request(10, 10, built=tree(10, fork_at=3)))
    assert (got.status, got.size) == (409, 10)
    assert [kept.status for kept in state.refused()] == [409]


def test_consistency_proof_that_does_not_hold_is_422_and_the_signed_fork_is_kept(state: WitnessState) -> None:
    cosign(state, request(10, 0))
    forked = tree(30, fork_at=7)
    got = refused(state, request(30, 10, built=forked))
    assert got.status == 422
    assert str(got).startswith("witness: checkpoint of size 30 is not consistent with size 10: ")
    assert state.last(LOG).size == 10
    kept = list(state.refused())
    assert [(k.status, k.request.old_size) for k in kept] == [(422, 10)]
    assert kept[0].request.checkpoint_note == checkpoint_note(OPERATOR, forked, 30)


def test_a_proof_from_old_size_zero_is_422(state: WitnessState) -> None:
    got = refused(state, request(10, 0, proof=[bytes(32)]))
    assert (got.status, str(got)) == (422, "witness: consistency proof from size 0 got 1 lines, want none")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"old 01\n\n", "witness: old size got '01', want a decimal from 0 to 2^63-1 without leading zeros"),
        (b"new 1\n\n", "witness: first line got 'new 1', want 'old <size>'"),
        (b"old 1\n", "witness: no empty line between the consistency proof and the checkpoint"),
        (b"old 1\nAAAA\n\n", "witness: proof line 1 got 3 bytes, want 32"),
        (b"old 1\n" + b"".join(encode_base64(bytes(32)).encode() + b"\n" for _ in range(64)) + b"\n", "witness: got 64 consistency proof lines, want at most 63"),
        (b"old 1\n\n\xff\n", "witness: not UTF-8"),
    ],
)
def test_malformed_request_body_is_400(body: bytes, message: str) -> None:
    with pytest.raises(WitnessRefusal) as raised:
        AddCheckpoint.from_bytes(body)
    assert raised.value.status == 400
    assert str(raised.value).startswith(message)


def test_request_bytes_round_trip() -> None:
    wanted = request(33, 10)
    assert AddCheckpoint.from_bytes(wanted.to_bytes()) == wanted


def test_two_racing_requests_from_one_old_size_are_never_both_cosigned(tmp_path) -> None:
    """tlog-witness's rollback race: A (old 10 -> 20) and B (old 10 -> 30) at once; one must get 409."""
    setup = WitnessState(tmp_path / "witness.db")
    cosign(setup, request(10, 0))
    setup.close()
    outcomes: dict[int, int] = {}
    barrier = threading.Barrier(2)

    def send(size: int) -> None:
        state = WitnessState(tmp_path / "witness.db")
        barrier.wait()
        answer = state.add_checkpoint(request(size, 10).to_bytes(), KEYS, WITNESS, lambda: 1_000)
        outcomes[size] = answer.status
        state.close()

    threads = [threading.Thread(target=send, args=(size,)) for size in (20, 30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes.values()) == [200, 409]
    final = WitnessState(tmp_path / "witness.db")
    assert final.last(LOG).size == next(size for size, status in outcomes.items() if status == 200)


# A fork the witness can prove becomes an evidence file (ledger.evidence) that anyone checks with the log's key.


@pytest.fixture
def keeping(tmp_path: Path) -> Iterator[WitnessState]:
    opened = WitnessState(tmp_path / "witness.db", evidence_dir=tmp_path)
    yield opened
    opened.close()


def evidence_files(state: WitnessState) -> list[Path]:
    assert state.evidence_dir is not None
    return sorted(state.evidence_dir.glob("equivocation-*.json"))


def test_fork_shown_by_the_logs_own_proof_is_refused_and_becomes_evidence(keeping: WitnessState) -> None:
    cosign(keeping, request(6, 0))
    forked = tree(20, fork_at=3)
    refusal = refused(keeping, request(20, 6, built=forked))
    assert refusal.status == 422 and refusal.evidence is not None
    assert evidence_files(keeping) == [Path(refusal.evidence)]
    proven = check_evidence(Path(refusal.evidence).read_text(encoding="utf-8"), OPERATOR.verifier_key())
    assert (proven.smaller.size, proven.larger.size, proven.prefix_root) == (6, 20, forked.root_at(6))
    assert proven.smaller.root_hash == HONEST.root_at(6)
    refused(keeping, request(20, 6, built=forked))  # sent again: the same file, not a second one
    assert evidence_files(keeping) == [Path(refusal.evidence)]
    assert keeping.last(LOG).size == 6


def test_same_size_with_another_root_becomes_evidence(keeping: WitnessState) -> None:
    cosign(keeping, request(8, 0))
    refusal = refused(keeping, request(8, 8, built=tree(8, fork_at=2)))
    assert refusal.status == 409 and refusal.evidence is not None
    proven = check_evidence(Path(refusal.evidence).read_text(encoding="utf-8"), OPERATOR.verifier_key())
    assert {proven.smaller.root_hash, proven.larger.root_hash} == {HONEST.root_at(8), tree(8, fork_at=2).root_at(8)}


@pytest.mark.parametrize(
    "wanted",
    [
        request(20, 6, proof=[bytes(32)] * len(HONEST.consistency_proof(6, 20))),  # binds to no root: a broken request
        request(20, 4, built=tree(20, fork_at=3)),  # from 4, a power of two: the proof never shows the fork's root at 4
        request(20, 0),  # old size not the one cosigned: the log is behind, not forked
    ],
    ids=["proof of nothing", "from a power of two", "stale old size"],
)
def test_refusal_that_proves_no_fork_writes_no_evidence(tmp_path: Path, wanted: AddCheckpoint) -> None:
    state = WitnessState(tmp_path / "witness.db", evidence_dir=tmp_path)
    cosign(state, request(wanted.old_size or 6, 0))
    assert refused(state, wanted).evidence is None
    assert evidence_files(state) == []


def test_evidence_directory_that_cannot_take_it_leaves_the_refusal_as_it_is(tmp_path: Path) -> None:
    state = WitnessState(tmp_path / "witness.db", evidence_dir=tmp_path / "gone")
    cosign(state, request(6, 0))
    refusal = refused(state, request(20, 6, built=tree(20, fork_at=3)))
    assert (refusal.status, refusal.evidence) == (422, None)
    assert [r.status for r in state.refused()] == [422]  # still kept in the state
