"""Parallel checking: the workers' answers equal the sequential ones, failures included."""

from __future__ import annotations

import itertools
import os
import pickle

import pytest

from bench.synthetic import synthetic_entries
from domain import commands
from domain.rules import read_statement
from ledger import ed25519
from ledger.entry import Entry
from ledger.errors import SignatureError, VerificationError
from ledger.keys import Signer
from ledger.merkle import leaf_hash
from ledger.note import Note, NoteSignature, known_signers, sign_note
from projections.audit import Replay, replay
from projections.checking import CHUNK, WORKER_NICENESS, Checked, _received, _verdict, _Workers, check_one

ENTRIES = [entry.to_bytes() for entry in synthetic_entries(3 * CHUNK + 17, seed=11)]
ANCHOR = leaf_hash(ENTRIES[0])


@pytest.fixture(scope="module")
def sequential() -> Replay:
    return replay(iter(ENTRIES), Replay(ANCHOR), roots_at=[len(ENTRIES)])


@pytest.mark.parametrize("verifier", sorted(ed25519.VERIFIERS))
def test_workers_reach_the_same_state_and_root_as_one_process(sequential: Replay, verifier: str) -> None:
    parallel = replay(iter(ENTRIES), Replay(ANCHOR), roots_at=[len(ENTRIES)], workers=2, verifier=verifier)
    assert parallel.state == sequential.state
    assert parallel.roots == sequential.roots
    assert sequential.state is not None and sequential.state.size == len(ENTRIES)


def test_the_ledger_checked_introduces_keys_after_the_first_chunk(sequential: Replay) -> None:
    """So the comparison above covers lines the workers could not check (keys they were not told of)."""
    kinds = [(index, read_statement(Entry.from_bytes(data).statement)[1].kind) for index, data in enumerate(ENTRIES)]
    introduced = [index for index, kind in kinds if kind in ("civil-society.register", "key.add")]
    assert any(index > CHUNK for index in introduced)


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="needs POSIX scheduling priorities")
def test_workers_yield_the_cpu_to_the_fold() -> None:
    """Fair scheduling left the fold two thirds of a core beside one worker per core: the workers
    run at a lower priority, so the one sequential part of a verify runs whenever it can."""
    fold = os.getpriority(os.PRIO_PROCESS, 0)
    with _Workers(2, {}, "libsodium") as pool:
        for worker in range(2):
            pool.send(worker, 0, ENTRIES[:2], [])
        for worker in range(2):
            assert len(pool.receive(worker)) == 2  # each has started and lowered its priority
        priorities = [os.getpriority(os.PRIO_PROCESS, process.pid) for process in pool._processes]
    assert priorities == [min(19, fold + WORKER_NICENESS)] * 2
    assert os.getpriority(os.PRIO_PROCESS, 0) == fold  # the fold's own is untouched


@pytest.mark.parametrize("workers", [1, 2])
def test_a_forged_signature_is_found_at_its_index_with_or_without_workers(workers: int) -> None:
    victim = next(i for i, data in enumerate(ENTRIES) if i > CHUNK and b"vote.cast" in data)
    forged = list(ENTRIES)
    forged[victim] = ENTRIES[victim].replace(b"approve", b"abstain", 1) if b"approve" in ENTRIES[victim] else ENTRIES[victim].replace(b"abstain", b"approve", 1)
    with pytest.raises(VerificationError) as raised:
        replay(iter(forged), Replay(ANCHOR), workers=workers)
    assert raised.value.index == victim
    assert str(raised.value).startswith(f"entry {victim}: vote.cast: invalid signature by ")


def test_a_malformed_entry_in_a_worker_is_reported_at_its_index() -> None:
    broken = list(itertools.islice(ENTRIES, 2 * CHUNK))
    broken[CHUNK + 3] = b"{not json"
    with pytest.raises(VerificationError) as raised:
        replay(iter(broken), Replay(ANCHOR), workers=2)
    assert raised.value.index == CHUNK + 3
    assert str(raised.value) == f"entry {CHUNK + 3}: entry: not JSON: Expecting property name enclosed in double quotes at char 1"


def test_libsodium_and_openssl_agree_on_valid_forged_and_garbled_signatures() -> None:
    key = Signer.from_seed("accord.test/x", bytes(32))
    message = b"a statement\n"
    good = key.sign(message)
    cases = [(message, good, True), (b"another\n", good, False), (message, bytes(64), False), (message, good[:32] + bytes(32), False)]
    for name in ed25519.VERIFIERS:
        holds = ed25519.verifier(name)
        assert [holds(key.verifier_key().public, m, s) for m, s, _ in cases] == [want for _, _, want in cases], name


def _note_with_unicode_and_two_signers() -> bytes:
    first, second = Signer.from_seed("accord.test/é", bytes(32)), Signer.from_seed("accord.test/z", bytes(range(32)))
    statement = commands.statement("accord.test", "statement.make", "de", "2027-01-01T00:00:00Z", {"text": "Ünïcode \u2028 \"quoted\" \\ and \U0001f600"})
    note = sign_note(statement.to_text(), first, second)
    return Entry(5, "2027-01-01T00:00:01Z", note.to_text()).to_bytes()


def test_the_fold_gets_exactly_what_the_worker_parsed() -> None:
    """The fold gets the models a worker parsed, through a pipe's pickle: they must equal the strict parse."""
    for index, data in [*enumerate(ENTRIES), (5, _note_with_unicode_and_two_signers())]:
        strict = check_one(index, data, {}, lambda *_: True)
        reread = _received(index, pickle.loads(pickle.dumps(_verdict(strict), pickle.HIGHEST_PROTOCOL)))
        assert (reread.entry, reread.note, reread.statement, reread.leaf) == (strict.entry, strict.note, strict.statement, strict.leaf), index
        assert reread.entry is not None and reread.entry.logged_at_seconds == strict.entry.logged_at_seconds  # type: ignore[union-attr]


@pytest.mark.parametrize("workers", [1, 2])
def test_the_collector_is_as_it_was_after_a_replay_that_held_or_failed(workers: int) -> None:
    """Checking eases the garbage collector for its time only: its thresholds and frozen objects are given back."""
    import gc

    threshold = gc.get_threshold()
    replay(iter(ENTRIES[:CHUNK + 5]), Replay(ANCHOR), workers=workers)
    assert gc.get_threshold() == threshold and gc.get_freeze_count() == 0
    broken = list(ENTRIES[: CHUNK + 5])
    broken[CHUNK + 1] = b"{not json"
    with pytest.raises(VerificationError):
        replay(iter(broken), Replay(ANCHOR), workers=workers)
    assert gc.get_threshold() == threshold and gc.get_freeze_count() == 0


def _outcome(verify: object) -> object:
    """What a Verify answered, or the SignatureError it raised, as text."""
    try:
        return [key.label for key in verify()]  # type: ignore[operator]
    except SignatureError as error:
        return f"SignatureError: {error}"


def test_the_workers_answer_for_one_line_and_one_key_is_known_signers_answer() -> None:
    """Checked.verify answers the common case (one line, one key) without open_note: it must say
    what known_signers says, for a good line, a forged one, a line by another key and an unchecked one."""
    signer, other = Signer.from_seed("accord.test/x", bytes(32)), Signer.from_seed("accord.test/y", bytes(range(32)))
    key, other_key = signer.verifier_key(), other.verifier_key()
    note = sign_note("a statement\n", signer)
    forged = Note(note.text, (NoteSignature(key.name, key.key_id, bytes(64)),))
    cases = [
        (note, [key], ({key.public: True},)),
        (note, [key], ({key.public: False},)),  # a worker found it forged
        (forged, [key], (None,)),  # no worker knew the key: checked here
        (note, [key], (None,)),
        (note, [other_key], (None,)),
        (note, [key, other_key], ({key.public: True},)),
        (sign_note(note, other), [key], ({key.public: True}, {other_key.public: True})),
    ]
    for case, (opened, keys, tried) in enumerate(cases):
        checked = Checked(0, None, opened, None, b"", tried)
        want = _outcome(lambda: known_signers(opened, keys, checked._holds))
        assert _outcome(lambda: checked.verify(opened, keys)) == want, case
    assert _outcome(lambda: Checked(0, None, note, None, b"", ({key.public: False},)).verify(note, [key])) == (
        f"SignatureError: note: invalid signature by {key.label}"
    )
