"""The tamper matrix: every way of changing a verified history is caught, at the right entry, for the right reason.

One realistic history is built per module (tests/audit/history.py); each
attack works on a copy of its SQLite file or on its list of entry bytes, and
must make verification fail with the exact error (and index, where an entry
is at fault). A refusal reports nothing as valid: ``audit`` raises instead of
returning, and the command line prints nothing on stdout, one line on
stderr, and exits 1.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from domain.charter import OPERATOR
from ledger.bundle import Manifest, write_bundle
from ledger.checkpoint import Checkpoint, cosign
from ledger.entry import Entry
from ledger.errors import VerificationError
from ledger.keys import Signer
from ledger.merkle import MemoryTree
from ledger.note import Note, NoteSignature
from ledger.statement import new_nonce
from ledger.store import Store
from projections.audit import Replay, audit, replay
from projections.ledger import Ledger
from tests.audit.history import (
    OTHER_ORIGIN,
    History,
    build_history,
    build_other_council,
    checkpoint_with_root,
    copy_store,
    forged_root,
    log_of,
    ok,
    refused,
    resigned,
    rewrite_log,
    statement_of,
    store_url,
    with_logged_at,
)
from tests.domain.scenario import ORIGIN, new_signer


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    return build_history(tmp_path_factory.mktemp("council"))


@pytest.fixture
def copy(history: History, tmp_path: Path) -> Path:
    """A copy of the council's store that an attack may change."""
    return copy_store(history.path, tmp_path / "copy.db")


def label(signer: Signer) -> str:
    return signer.verifier_key().label


def root_of(entries: Sequence[bytes]) -> bytes:
    tree = MemoryTree()
    for data in entries:
        tree.append(data)
    return tree.root()


def genuine_root(history: History) -> bytes:
    return Checkpoint.from_text(Note.from_text(history.checkpoint).text).root_hash


def root_mismatch(history: History, entries: Sequence[bytes]) -> str:
    return f"checkpoint: root at size {history.size}: got {genuine_root(history).hex()}, recomputed {root_of(entries).hex()}"


def verify_args(history: History, url: str) -> list[str]:
    return ["verify", "--store", url, "--anchor", history.anchor.hex(), *history.witness_options()]


def test_export_of_a_truncated_store_is_refused(history: History, copy: Path, tmp_path: Path) -> None:
    rewrite_log(copy, history.entries[:-3])
    message = f"accord: bundle: wrote {history.size - 3} entries, want {history.size}"
    assert refused("export", "--store", store_url(copy), "--out", tmp_path / "short.tar") == message
    assert not (tmp_path / "short.tar").exists()


def test_the_untouched_copy_verifies(history: History, copy: Path) -> None:
    result = audit(history.entries, history.anchor, history.checkpoint, witnesses=history.witnesses, quorum=2)
    assert (result.replay.size, result.checkpoint.size, len(result.cosigners)) == (history.size, history.size, 2)
    assert "the stored views equal the views rebuilt from the log" in ok(*verify_args(history, store_url(copy)))


# Attacks on the entries: each gives the entries an attacker leaves behind and what the verifier must say.


@dataclass(frozen=True)
class Attacked:
    entries: list[bytes]
    message: str
    index: int | None


Attack = Callable[[History], Attacked]


def flip(data: bytes, offset: int, replacement: bytes) -> bytes:
    """``data`` with the one byte at ``offset`` replaced."""
    assert len(replacement) == 1 and data[offset : offset + 1] != replacement
    return data[:offset] + replacement + data[offset + 1 :]


def replaced(entries: Sequence[bytes], index: int, data: bytes) -> list[bytes]:
    return [*entries[:index], data, *entries[index + 1 :]]


def _late_vote(history: History) -> tuple[int, bytes]:
    index = history.marks["late_vote"]
    return index, history.entries[index]


def flipped_v(history: History) -> Attacked:
    index, data = _late_vote(history)
    tampered = flip(data, data.index(b'"v":1}') + 4, b"2")
    return Attacked(replaced(history.entries, index, tampered), f"entry {index}: entry: version: got 2, want 1", index)


def flipped_index(history: History) -> Attacked:
    index, data = _late_vote(history)
    tampered = flip(data, data.index(b'"index":7,') + 8, b"6")
    return Attacked(replaced(history.entries, index, tampered), f"entry {index}: entry: index got 6, want 7", index)


def flipped_logged_at_earlier(history: History) -> Attacked:
    # "2027-..." -> "2026-...": before the entry preceding it.
    index, data = _late_vote(history)
    start = data.index(b'"logged_at":"') + len(b'"logged_at":"')
    tampered = flip(data, start + 3, b"6")
    logged_at, previous = statement_of(tampered)[0].logged_at, statement_of(history.entries[index - 1])[0].logged_at
    message = f"entry {index}: vote.cast: logged_at {logged_at} is before the previous entry's {previous}"
    return Attacked(replaced(history.entries, index, tampered), message, index)


def flipped_logged_at_later(history: History) -> Attacked:
    # "08:00:00" -> "08:10:00": still in order and before the deadline, so only the root can tell.
    index, data = _late_vote(history)
    start = data.index(b'"logged_at":"') + len(b'"logged_at":"')
    tampered = flip(data, start + len("2027-01-21T08:"), b"1")
    entries = replaced(history.entries, index, tampered)
    return Attacked(entries, root_mismatch(history, entries), None)


def flipped_statement_text(history: History) -> Attacked:
    index, data = _late_vote(history)
    tampered = flip(data, data.index(b"approve"), b"A")
    message = f"entry {index}: vote.cast: invalid signature by {label(history.keys['fr'])}"
    return Attacked(replaced(history.entries, index, tampered), message, index)


def flipped_signature_line(history: History) -> Attacked:
    # A character well inside the base64, past the 4-byte key id: the signature itself.
    index, data = _late_vote(history)
    line = data.index(f"\u2014 {ORIGIN}/fr ".encode()) + len(f"\u2014 {ORIGIN}/fr ".encode())
    offset = line + 20
    tampered = flip(data, offset, b"A" if data[offset : offset + 1] != b"A" else b"B")
    message = f"entry {index}: vote.cast: invalid signature by {label(history.keys['fr'])}"
    return Attacked(replaced(history.entries, index, tampered), message, index)


FIELD_FLIPS = {
    "v": flipped_v,
    "index": flipped_index,
    "logged_at-earlier": flipped_logged_at_earlier,
    "logged_at-later": flipped_logged_at_later,
    "statement": flipped_statement_text,
    "signature": flipped_signature_line,
}


def dropped_entry(history: History) -> Attacked:
    index = history.marks["late_vote"]
    return Attacked([*history.entries[:index], *history.entries[index + 1 :]], f"entry {index}: entry: index got {index + 1}, want {index}", index)


def swapped_entries(history: History) -> Attacked:
    index = history.marks["late_vote"]
    entries = list(history.entries)
    entries[index], entries[index + 1] = entries[index + 1], entries[index]
    return Attacked(entries, f"entry {index}: entry: index got {index + 1}, want {index}", index)


def swapped_entries_reindexed(history: History) -> Attacked:
    # The index is not signed: an attacker renumbers, so the close now comes before fr's vote and miscounts.
    index = history.marks["late_vote"]
    vote, close = Entry.from_bytes(history.entries[index]), Entry.from_bytes(history.entries[index + 1])
    moved_close = Entry(index, close.logged_at, close.statement).to_bytes()
    moved_vote = Entry(index + 1, vote.logged_at, vote.statement).to_bytes()
    entries = [*history.entries[:index], moved_close, moved_vote, *history.entries[index + 2 :]]
    message = f"entry {index}: proposal.close: tally of P-1 got 1 approve, 0 object, 1 abstain, 4 silent, want 0 approve, 0 object, 1 abstain, 5 silent"
    return Attacked(entries, message, index)


def truncated_log(history: History) -> Attacked:
    kept = history.size - 3
    return Attacked(history.entries[:kept], f"checkpoint: size {history.size} is beyond the {kept} entries verified", None)


def resigned_by_another_member(history: History) -> Attacked:
    index, data = _late_vote(history)
    tampered = resigned(data, [history.keys["pl"]])
    message = f"entry {index}: vote.cast: not signed by a valid key of fr: got {label(history.keys['pl'])}"
    return Attacked(replaced(history.entries, index, tampered), message, index)


def signed_by_revoked_key(history: History) -> Attacked:
    index = history.marks["after_rotation"]
    tampered = resigned(history.entries[index], [history.old_de])
    message = f"entry {index}: statement.make: signature by revoked key de+{history.old_de.verifier_key().key_id.hex()}"
    return Attacked(replaced(history.entries, index, tampered), message, index)


def forged_close_outcome(history: History) -> Attacked:
    index = history.marks["silence_close"]
    _, close = statement_of(history.entries[index])
    tampered = resigned(history.entries[index], [history.keys[OPERATOR]], body={**close.body, "outcome": "rejected"})
    message = f"entry {index}: proposal.close: outcome of P-1 got 'rejected', want 'adopted'"
    return Attacked(replaced(history.entries, index, tampered), message, index)


def forged_close_tally(history: History) -> Attacked:
    index = history.marks["silence_close"]
    _, close = statement_of(history.entries[index])
    tally = {"approve": 2, "object": 0, "abstain": 0, "silent": 4}
    tampered = resigned(history.entries[index], [history.keys[OPERATOR]], body={**close.body, "tally": tally})
    message = f"entry {index}: proposal.close: tally of P-1 got 2 approve, 0 object, 0 abstain, 4 silent, want 1 approve, 0 object, 1 abstain, 4 silent"
    return Attacked(replaced(history.entries, index, tampered), message, index)


def vote_moved_after_deadline(history: History) -> Attacked:
    # Moved to the close's own time (the deadline): the order of logged_at still holds.
    index, data = _late_vote(history)
    deadline = statement_of(history.entries[index + 1])[0].logged_at
    tampered = with_logged_at(data, deadline)
    message = f"entry {index}: vote.cast: logged at {deadline}, not before the deadline {deadline} of P-1"
    return Attacked(replaced(history.entries, index, tampered), message, index)


def rewritten_by_a_key_holder(history: History) -> Attacked:
    # de's own key signs a different text: every rule holds, only the checkpoint's root can tell.
    index = history.marks["after_rotation"]
    tampered = resigned(history.entries[index], [history.keys["de"]], body={"text": "Germany never said this."})
    entries = replaced(history.entries, index, tampered)
    return Attacked(entries, root_mismatch(history, entries), None)


ATTACKS: dict[str, Attack] = {
    **{f"flipped-{name}": attack for name, attack in FIELD_FLIPS.items()},
    "dropped-entry": dropped_entry,
    "swapped-entries": swapped_entries,
    "swapped-entries-reindexed": swapped_entries_reindexed,
    "truncated-log": truncated_log,
    "resigned-by-another-member": resigned_by_another_member,
    "signed-by-revoked-key": signed_by_revoked_key,
    "forged-close-outcome": forged_close_outcome,
    "forged-close-tally": forged_close_tally,
    "vote-moved-after-deadline": vote_moved_after_deadline,
    "rewritten-by-a-key-holder": rewritten_by_a_key_holder,
}


@pytest.mark.parametrize("attack", ATTACKS.values(), ids=ATTACKS.keys())
def test_attack_on_the_entries_is_refused_by_audit(history: History, attack: Attack) -> None:
    attacked = attack(history)
    assert attacked.entries != history.entries
    with pytest.raises(VerificationError) as raised:
        audit(attacked.entries, history.anchor, history.checkpoint, witnesses=history.witnesses, quorum=2)
    assert str(raised.value) == attacked.message
    assert raised.value.index == attacked.index


STORE_ATTACKS = [
    pytest.param(attack, id=name)
    for name, attack in ATTACKS.items()
]


@pytest.mark.parametrize("attack", STORE_ATTACKS)
def test_attack_on_the_store_is_refused_by_verify(history: History, copy: Path, attack: Attack) -> None:
    attacked = attack(history)
    rewrite_log(copy, attacked.entries)
    assert refused(*verify_args(history, store_url(copy))) == f"accord: {attacked.message}"
    assert refused(*verify_args(history, store_url(copy)), "--json") == f"accord: {attacked.message}"


@pytest.mark.parametrize("attack", ATTACKS.values(), ids=ATTACKS.keys())
def test_attack_carried_in_a_bundle_is_refused_and_imports_nothing(history: History, tmp_path: Path, attack: Attack) -> None:
    attacked = attack(history)
    bundle = tmp_path / "attacked.tar"
    write_bundle(bundle, Manifest(ORIGIN, 0, len(attacked.entries)), attacked.entries, history.checkpoint)
    anchor = ["--anchor", history.anchor.hex()]
    message = attacked.message
    if len(attacked.entries) != history.size:
        # A bundle whose manifest disagrees with its checkpoint is refused before any entry is read.
        message = f"bundle: bundle.json says size {len(attacked.entries)}, its checkpoint {history.size}"
    assert refused("verify", "--bundle", bundle, *anchor, *history.witness_options()) == f"accord: {message}"
    delegation = tmp_path / "delegation.db"
    assert refused("import", bundle, "--store", store_url(delegation), *anchor, *history.witness_options()) == f"accord: {message}"
    assert log_of(delegation)[0] == 0


# Every single-bit change anywhere in an entry is refused, never accepted nor crashing.


@pytest.mark.parametrize("mask", [0x01, 0x80], ids=["low-bit", "high-bit"])
def test_every_bit_flip_in_an_entry_is_refused(history: History, mask: int) -> None:
    # The admitted member's vote, near the end, so that each replay is short.
    target = history.marks["increase_at"]
    before = replay(history.entries[:target], Replay(history.anchor))
    data = history.entries[target]
    for offset in range(len(data)):
        tampered = data[:offset] + bytes([data[offset] ^ mask]) + data[offset + 1 :]
        with pytest.raises(VerificationError) as raised:
            audit([tampered, *history.entries[target + 1 :]], history.anchor, history.checkpoint, since=before)
        error = raised.value
        if error.index is None:
            assert str(error).startswith(f"checkpoint: root at size {history.size}: "), (offset, str(error))
        else:
            assert error.index >= target, (offset, str(error))


def test_any_change_to_the_charter_breaks_the_trust_anchor(history: History) -> None:
    data = history.entries[0]
    offset = data.index(b"European Security Council")
    tampered = flip(data, offset, b"e")
    with pytest.raises(VerificationError) as raised:
        audit([tampered, *history.entries[1:]], history.anchor, history.checkpoint)
    assert str(raised.value) == f"entry 0: charter: leaf hash {root_of([tampered]).hex()} is not the pinned trust anchor {history.anchor.hex()}"
    assert raised.value.index == 0


# Attacks beside the entries: views, checkpoints, cosignatures, another ledger.


def test_rewritten_projection_row_fails_the_view_comparison_until_rebuilt(history: History, copy: Path) -> None:
    with closing(sqlite3.connect(copy)) as connection, connection:
        changed = connection.execute(
            "UPDATE accord_rows SET doc = replace(doc, '\"status\":\"adopted\"', '\"status\":\"rejected\"')"
            " WHERE view = 'proposal' AND id = 'P-1' AND valid_to IS NULL AND doc LIKE '%\"status\":\"adopted\"%'"
        ).rowcount
    assert changed == 1
    message = "accord: projections: proposal P-1 as of entry 8 is not what that entry wrote: the stored views differ from the log; run accord rebuild"
    assert refused(*verify_args(history, store_url(copy))) == message
    ok("rebuild", "--store", store_url(copy))
    ok(*verify_args(history, store_url(copy)))


def test_checkpoint_with_a_wrong_root_resigned_by_the_operator_is_refused(history: History, copy: Path, tmp_path: Path) -> None:
    forged = tmp_path / "forged.checkpoint"
    forged.write_text(checkpoint_with_root(history.keys[OPERATOR], history.size, forged_root("forged")))
    message = f"accord: checkpoint: root at size {history.size}: got {forged_root('forged').hex()}, recomputed {genuine_root(history).hex()}"
    assert refused("verify", "--store", store_url(copy), "--anchor", history.anchor.hex(), "--checkpoint", forged) == message
    with pytest.raises(VerificationError) as raised:
        audit(history.entries, history.anchor, forged.read_text())
    assert (f"accord: {raised.value}", raised.value.index) == (message, None)
    # Stored as the newest checkpoint by someone with disk access: verify reads it from the store.
    with Store(store_url(copy)) as store:
        latest = store.latest_checkpoint()
        assert latest is not None
        store.add_checkpoint(latest[0] + 1, forged.read_text())
    assert refused("verify", "--store", store_url(copy), "--anchor", history.anchor.hex()) == message


def test_checkpoint_signed_by_someone_else_is_refused(history: History, copy: Path, tmp_path: Path) -> None:
    impostor = Signer.from_seed(ORIGIN, b"\x07" * 32)
    forged = tmp_path / "impostor.checkpoint"
    forged.write_text(checkpoint_with_root(impostor, history.size, genuine_root(history)))
    operator = history.keys[OPERATOR].verifier_key().label
    message = f"accord: checkpoint: not signed by the operator: note: no signature by a known key: got {label(impostor)}, want one of: {operator}"
    assert refused("verify", "--store", store_url(copy), "--anchor", history.anchor.hex(), "--checkpoint", forged) == message


def _operator_only(history: History) -> Note:
    note = Note.from_text(history.checkpoint)
    return Note(note.text, note.signatures[:1])


def test_cosignature_by_an_unknown_witness_does_not_meet_the_quorum(history: History, copy: Path, tmp_path: Path) -> None:
    stranger = new_signer("xx")
    note = _operator_only(history).with_signatures(cosign(_operator_only(history), stranger, 1_800_000_000))
    forged = tmp_path / "stranger.checkpoint"
    forged.write_text(note.to_text())
    fr = ["--witness", history.keys["fr"].verifier_key().to_text(), "--witness-quorum", "1"]
    message = "accord: checkpoint: cosignature: too few witnesses cosigned: got 0, want at least 1"
    assert refused("verify", "--store", store_url(copy), "--anchor", history.anchor.hex(), "--checkpoint", forged, *fr) == message
    # Asked of a witness that is not named, the quorum cannot be met at all.
    message = "accord: checkpoint: cosignature: quorum of 2 cannot be met by 1 distinct witness keys"
    assert refused("verify", "--store", store_url(copy), "--anchor", history.anchor.hex(), *fr[:2], "--witness-quorum", "2") == message


def test_cosignature_forged_under_a_known_witness_name_is_refused(history: History, copy: Path, tmp_path: Path) -> None:
    fr = history.keys["fr"].cosigner_key()
    line = cosign(_operator_only(history), new_signer("xx"), 1_800_000_000)
    forged_line = NoteSignature(fr.name, fr.key_id, line.signature)
    forged = tmp_path / "forged-fr.checkpoint"
    forged.write_text(_operator_only(history).with_signatures(forged_line).to_text())
    message = f"accord: checkpoint: note: invalid signature by {fr.label}"
    assert refused("verify", "--store", store_url(copy), "--anchor", history.anchor.hex(), "--checkpoint", forged, *history.witness_options(1)) == message


def test_checkpoint_without_the_cosignatures_asked_for_is_refused(history: History, copy: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare.checkpoint"
    bare.write_text(_operator_only(history).to_text())
    message = "accord: checkpoint: cosignature: too few witnesses cosigned: got 0, want at least 2"
    assert refused("verify", "--store", store_url(copy), "--anchor", history.anchor.hex(), "--checkpoint", bare, *history.witness_options(2)) == message


def test_bundle_of_another_origin_fails_the_first_anchor(history: History, copy: Path, tmp_path: Path) -> None:
    other_anchor, _ = build_other_council(tmp_path / "other.db")
    bundle = tmp_path / "other.tar"
    ok("export", "--store", store_url(tmp_path / "other.db"), "--out", bundle)
    message = f"accord: entry 0: charter: leaf hash {other_anchor.hex()} is not the pinned trust anchor {history.anchor.hex()}"
    assert refused("verify", "--bundle", bundle, "--anchor", history.anchor.hex()) == message
    ok("verify", "--bundle", bundle, "--anchor", other_anchor.hex())
    before = log_of(copy)
    message = f"accord: import: bundle is of origin {OTHER_ORIGIN!r}, this ledger of {ORIGIN!r}"
    assert refused("import", bundle, "--store", store_url(copy)) == message
    assert log_of(copy) == before


def test_checkpoint_of_another_origin_is_not_the_operators(history: History, copy: Path, tmp_path: Path) -> None:
    _, other_checkpoint = build_other_council(tmp_path / "other.db")
    foreign = tmp_path / "foreign.checkpoint"
    foreign.write_text(other_checkpoint)
    other_operator = Note.from_text(other_checkpoint).signatures[0].label
    operator = history.keys[OPERATOR].verifier_key().label
    message = f"accord: checkpoint: not signed by the operator: note: no signature by a known key: got {other_operator}, want one of: {operator}"
    assert refused("verify", "--store", store_url(copy), "--anchor", history.anchor.hex(), "--checkpoint", foreign) == message


def _append_behind_the_checkpoint(history: History, copy: Path) -> None:
    """An entry slipped in after the newest checkpoint, past the views: the operator's answer, signed by pl."""
    bogus = Entry.from_bytes(resigned(history.entries[history.marks["answer"]], [history.keys["pl"]], nonce=new_nonce()))
    with Ledger(Store(store_url(copy))) as ledger:
        ledger.log.append_entries([Entry(history.size, bogus.logged_at, bogus.statement)])


def test_entry_appended_behind_the_checkpoint_is_refused(history: History, copy: Path) -> None:
    # Entries past the newest checkpoint are judged too: a bad one is refused even though no checkpoint covers it.
    _append_behind_the_checkpoint(history, copy)
    assert refused(*verify_args(history, store_url(copy))).endswith(f"appeal.answer: not signed by a valid key of operator: got {label(history.keys['pl'])}")


def test_entry_appended_behind_the_checkpoint_is_refused_with_its_index(history: History, copy: Path) -> None:
    _append_behind_the_checkpoint(history, copy)
    message = f"accord: entry {history.size}: appeal.answer: not signed by a valid key of operator: got {label(history.keys['pl'])}"
    assert refused(*verify_args(history, store_url(copy))) == message
