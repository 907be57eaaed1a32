"""Bundles: carried to a machine with no database and no network, verified there, imported into a local copy.

Import verifies everything before it appends anything: a bundle that
contradicts the local copy, starts after it, or carries a checkpoint that is
not the operator's changes nothing. Incremental verification continues from
a saved state and checks only the entries after it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from domain import commands
from domain.charter import OPERATOR
from ledger.bundle import Bundle, Manifest, write_bundle
from ledger.checkpoint import Checkpoint
from ledger.entry import Entry
from ledger.errors import AccordError, MalformedError, VerificationError
from ledger.note import sign_note
from ledger.note import Note
from ledger.store import Store
from projections.audit import Replay, audit
from projections.exchange import import_bundle
from projections.ledger import Ledger
from tests.audit.history import (
    History,
    build_history,
    checkpoint_with_root,
    copy_store,
    forged_root,
    log_of,
    ok,
    operator_checkpoint,
    refused,
    resigned,
    rewrite_log,
    statement_of,
    store_url,
    with_forged_body,
)
from tests.domain.scenario import ORIGIN

ACCORD = Path(sys.executable).parent / "accord"
UNREACHABLE = "postgresql://nobody@127.0.0.1:1/none"


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    return build_history(tmp_path_factory.mktemp("council"))


@pytest.fixture(scope="module")
def bundles(history: History, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The full history as a directory and as a tar file, and the early copy as a tar file."""
    folder = tmp_path_factory.mktemp("bundles")
    made = {"dir": folder / "ledger", "tar": folder / "ledger.tar", "early": folder / "early.tar"}
    ok("export", "--store", history.url, "--out", made["dir"])
    ok("export", "--store", history.url, "--out", made["tar"])
    ok("export", "--store", store_url(history.early), "--out", made["early"])
    return made


@pytest.fixture
def local(history: History, tmp_path: Path) -> Path:
    """A delegation's local copy: the store as it was at the first checkpoint."""
    return copy_store(history.early, tmp_path / "local.db")


def anchor(history: History) -> list[str]:
    return ["--anchor", history.anchor.hex()]


def verified(*args: object) -> dict[str, object]:
    document = json.loads(ok(*args, "--json"))
    assert document["version"] == 1 and document["ok"] is True
    return dict(document)


# Export and verify.


@pytest.mark.parametrize("form", ["dir", "tar"])
def test_export_then_verify_round_trip(history: History, tmp_path: Path, form: str) -> None:
    out = tmp_path / ("bundle.tar" if form == "tar" else "bundle")
    said = ok("export", "--store", history.url, "--out", out)
    assert said == f"exported entries 0 to {history.size - 1} and the checkpoint of size {history.size} to {out}\n"
    assert out.is_file() if form == "tar" else sorted(p.name for p in out.iterdir()) == ["bundle.json", "checkpoint", "checkpoints", "entries"]
    with Bundle(out) as bundle:
        assert bundle.manifest == Manifest(ORIGIN, 0, history.size)
        assert list(bundle.entries()) == history.entries
        assert bundle.checkpoint_note == history.checkpoint
    document = verified("verify", "--bundle", out, *anchor(history), *history.witness_options())
    assert (document["entries"], document["checked_from"], document["checkpoint"]) == (
        history.size,
        0,
        {"size": history.size, "root": Checkpoint.from_text(Note.from_text(history.checkpoint).text).root_hash.hex()},
    )
    assert document["cosigners"] == [key.label for key in history.witnesses]
    assert [p.name for p in tmp_path.iterdir()] == [out.name], "no staging directory is left behind"


def test_export_never_overwrites_a_bundle(history: History, bundles: dict[str, Path]) -> None:
    before = bundles["tar"].read_bytes()
    assert refused("export", "--store", history.url, "--out", bundles["tar"]) == f"accord: bundle: {bundles['tar']} exists already"
    assert bundles["tar"].read_bytes() == before


@pytest.mark.parametrize("form", ["dir", "tar"])
def test_verify_bundle_needs_no_database_server(history: History, bundles: dict[str, Path], tmp_path: Path, form: str) -> None:
    # ACCORD_STORE names a server that cannot be reached (opening it would take 30 s and fail):
    # verifying a bundle must not try, nor leave a file behind in the working directory.
    workdir = tmp_path / "air-gapped"
    workdir.mkdir()
    environment = {key: value for key, value in os.environ.items() if key not in ("PERSISTENCE_MODULE",)}
    environment["ACCORD_STORE"] = UNREACHABLE
    done = subprocess.run(
        [ACCORD, "verify", "--bundle", bundles[form], *anchor(history), *history.witness_options()],
        cwd=workdir, env=environment, capture_output=True, text=True, timeout=20,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith(f"verified {history.size} entries from the charter of {bundles[form]}")
    assert list(workdir.iterdir()) == []


# Import.


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_import_into_an_empty_store_needs_the_anchor(history: History, bundles: dict[str, Path], request: pytest.FixtureRequest, backend: str) -> None:
    url = request.getfixturevalue(f"{backend}_url")
    assert refused("import", bundles["tar"], "--store", url) == "accord: import: the local copy is empty: pin the charter with --anchor"
    wrong = ("00" * 32)
    message = f"accord: entry 0: charter: leaf hash {history.anchor.hex()} is not the pinned trust anchor {wrong}"
    assert refused("import", bundles["tar"], "--store", url, "--anchor", wrong) == message
    with Ledger.open(url) as ledger:
        assert ledger.log.size == 0
    said = ok("import", bundles["tar"], "--store", url, *anchor(history), *history.witness_options())
    assert said == f"verified and appended {history.size} entries; the local copy now holds {history.size}\n"
    with Ledger.open(url) as ledger:
        assert [stored.data for stored in ledger.store.entries()] == history.entries
        latest = ledger.log.latest_checkpoint()
        assert latest is not None and latest.to_text() == history.checkpoint
    assert verified("verify", "--store", url, *anchor(history), *history.witness_options())["views"] is True


def test_import_of_a_bundle_that_extends_the_local_copy_appends_only_the_new_entries(
    history: History, bundles: dict[str, Path], local: Path
) -> None:
    new = history.size - history.early_size
    said = ok("import", bundles["dir"], "--store", store_url(local))
    assert said == f"verified and appended {new} entries; the local copy now holds {history.size}\n"
    with Ledger(Store(store_url(local))) as ledger:
        assert [stored.data for stored in ledger.store.entries()] == history.entries
    assert ok("import", bundles["dir"], "--store", store_url(local)) == f"verified and appended 0 entries; the local copy now holds {history.size}\n"
    verified("verify", "--store", store_url(local), *anchor(history), *history.witness_options())


def test_import_of_a_bundle_starting_at_the_local_head(history: History, local: Path, tmp_path: Path) -> None:
    tail = tmp_path / "tail.tar"
    ok("export", "--store", history.url, "--from", history.early_size, "--out", tail)
    with Bundle(tail) as bundle:
        assert bundle.manifest == Manifest(ORIGIN, history.early_size, history.size)
    ok("import", tail, "--store", store_url(local))
    assert log_of(local) == log_of(history.path)


def forked_bundle(history: History, path: Path) -> tuple[Path, int, str]:
    """A bundle of the whole history with an observer's statement rewritten before the first checkpoint,
    validly signed by the observer and checkpointed by an equivocating operator: (bundle, fork index, its checkpoint)."""
    index = history.marks["observer_statement"]
    assert index < history.early_size
    entries = list(history.entries)
    entries[index] = resigned(entries[index], [history.keys["in"]], body={"text": "India says something else.", "about": "P-1"})
    checkpoint = operator_checkpoint(entries, history.keys[OPERATOR])
    write_bundle(path, Manifest(ORIGIN, 0, len(entries)), entries, checkpoint)
    return path, index, checkpoint


def test_import_of_a_contradicting_bundle_is_refused_and_changes_nothing(history: History, local: Path, tmp_path: Path) -> None:
    bundle, index, _ = forked_bundle(history, tmp_path / "fork")
    # On its own the fork is a consistent, operator-signed history: only the local copy shows it is another one.
    ok("verify", "--bundle", bundle, *anchor(history))
    before = log_of(local)
    message = f"accord: import: bundle contradicts the local copy at entry {index}: nothing was imported"
    assert refused("import", bundle, "--store", store_url(local)) == message
    assert log_of(local) == before == (history.early_size, before[1])


def test_import_of_a_bundle_starting_after_the_local_head_is_refused(history: History, local: Path, tmp_path: Path) -> None:
    late = tmp_path / "late"
    first = history.early_size + 5
    ok("export", "--store", history.url, "--from", first, "--out", late)
    before = log_of(local)
    message = f"accord: import: bundle starts at entry {first}, after the {history.early_size} entries held here: nothing was imported"
    assert refused("import", late, "--store", store_url(local)) == message
    assert log_of(local) == before


def test_import_of_an_older_bundle_has_nothing_to_import(history: History, bundles: dict[str, Path], tmp_path: Path) -> None:
    full = copy_store(history.path, tmp_path / "full.db")
    message = f"accord: import: bundle's checkpoint covers {history.early_size} entries, fewer than the {history.size} held here: nothing to import"
    assert refused("import", bundles["early"], "--store", store_url(full)) == message
    assert log_of(full) == log_of(history.path)


def test_import_of_a_bundle_with_a_bad_checkpoint_signature_appends_nothing(history: History, local: Path, tmp_path: Path) -> None:
    note = Note.from_text(history.checkpoint)
    operator_line = note.signatures[0]
    broken = bytes([operator_line.signature[0] ^ 1]) + operator_line.signature[1:]
    bad = Note(note.text, (type(operator_line)(operator_line.name, operator_line.key_id, broken), *note.signatures[1:]))
    bundle = tmp_path / "bad-signature"
    write_bundle(bundle, Manifest(ORIGIN, 0, history.size), history.entries, bad.to_text())
    before = log_of(local)
    message = f"accord: checkpoint: not signed by the operator: note: invalid signature by {history.keys[OPERATOR].verifier_key().label}"
    assert refused("import", bundle, "--store", store_url(local)) == message
    assert refused("verify", "--bundle", bundle, *anchor(history)) == message
    assert log_of(local) == before


def test_import_of_a_rewritten_charter_under_this_origin_is_refused(history: History, local: Path, tmp_path: Path) -> None:
    # The manifest is not trusted: a bundle claiming this origin whose charter was rewritten (and re-signed by
    # every founder and the operator) is another ledger; it contradicts the local copy at entry 0.
    entries = list(history.entries)
    _, charter = statement_of(entries[0])
    founders = [history.keys[OPERATOR], history.old_de, *(history.keys[m] for m in ("fr", "pl", "ua", "rs", "by"))]
    entries[0] = resigned(entries[0], founders, body={**charter.body, "name": "A Rewritten Council"})
    bundle = tmp_path / "rewritten"
    write_bundle(bundle, Manifest(ORIGIN, 0, len(entries)), entries, operator_checkpoint(entries, history.keys[OPERATOR]))
    before = log_of(local)
    assert refused("import", bundle, "--store", store_url(local)) == "accord: import: bundle contradicts the local copy at entry 0: nothing was imported"
    assert log_of(local) == before
    rewritten_anchor = Entry.from_bytes(entries[0]).leaf_hash().hex()
    message = f"accord: entry 0: charter: leaf hash {rewritten_anchor} is not the pinned trust anchor {history.anchor.hex()}"
    assert refused("verify", "--bundle", bundle, *anchor(history)) == message


def test_import_appends_exactly_the_entries_it_verified(history: History, local: Path, tmp_path: Path) -> None:
    # The bundle changes between verification and appending (removable media, a shared folder): the
    # operator's answer to the appeal is rewritten, its signature line kept. The import must append
    # what it verified, or refuse; it must never leave an unverified entry in the local copy.
    bundle = tmp_path / "changing"
    write_bundle(bundle, Manifest(ORIGIN, 0, history.size), history.entries, history.checkpoint)
    target = history.marks["answer"]
    changed = list(history.entries)
    changed[target] = with_forged_body(changed[target], text="The appeal is dismissed.")

    def change_the_bundle(_before: object, entry: Entry, _after: object, _statement: object) -> None:
        if entry.index == history.size - 1:
            (bundle / "entries").write_bytes(b"".join(data + b"\n" for data in changed))

    with Ledger(Store(store_url(local))) as ledger:
        try:
            import_bundle(ledger, bundle, on_entry=change_the_bundle)
        except AccordError:
            pass
    with Ledger(Store(store_url(local))) as ledger:
        held = [stored.data for stored in ledger.store.entries()]
    assert held in (history.entries, history.entries[: history.early_size])


# Incremental verification: --save-state, then --since.


@pytest.fixture
def saved(history: History, bundles: dict[str, Path], tmp_path: Path) -> Path:
    """What a delegation saved after verifying the early bundle."""
    state = tmp_path / "early.verified"
    document = verified("verify", "--bundle", bundles["early"], *anchor(history), "--save-state", state)
    assert (document["entries"], document["checked_from"]) == (history.early_size, 0)
    return state


def test_saved_state_round_trips(history: History, saved: Path) -> None:
    text = saved.read_text()
    restored = Replay.from_text(text)
    assert (restored.anchor, restored.size, restored.checkpoint) == (history.anchor, history.early_size, history.early_checkpoint)
    assert restored.to_text() == text


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"version": 1, "kind": "accord-bundle"}', "since: not a saved verification (accord verify --save-state)"),
        ('{"version": 1, "kind": "accord-verified", "anchor": "00"}', "since: size is missing"),
        ("not json", "since: not JSON: Expecting value at char 0"),
        ('{"version": 1, "kind": "accord-verified", "size": true}', "since: size got true, want an integer"),
        ('{"version": 1, "kind": "accord-verified", "size": 1e400}', "since: number 1e400 is not allowed: numbers must be exact integers"),
        ('{"version": 1, "kind": "accord-verified", "size": 3, "frontier": []}', "since: frontier got 0 hashes, want 2 of 32 bytes for size 3"),
        ('{"state": ' + "[" * 65 + "]" * 65 + "}", "since: JSON nested deeper than 64 levels"),
        (b"\xff\xfe".decode("latin-1"), "since: not JSON: Expecting value at char 0"),
    ],
    ids=["another kind", "missing field", "not json", "boolean size", "huge number", "short frontier", "deep nesting", "not utf-8 text"],
)
def test_malformed_saved_state_is_refused(text: str, message: str) -> None:
    with pytest.raises(MalformedError) as raised:
        Replay.from_text(text)
    assert str(raised.value) == message


def test_incremental_verify_of_an_untouched_store_holds(history: History, saved: Path) -> None:
    document = verified("verify", "--store", history.url, *anchor(history), *history.witness_options(), "--since", saved)
    assert (document["checked_from"], document["entries"]) == (history.early_size, history.size)


@pytest.mark.parametrize("source", ["bundle", "store"])
def test_incremental_verify_checks_only_the_new_entries(history: History, bundles: dict[str, Path], saved: Path, tmp_path: Path, source: str) -> None:
    # An entry the saved verification already covered is corrupted in the new source: it is not read again,
    # which shows that only the entries after the saved point are judged (the root comes from the saved frontier).
    entries = list(history.entries)
    entries[1] = resigned(entries[1], [history.keys["pl"]])
    where: list[object]
    if source == "bundle":
        bundle = tmp_path / "corrupted.tar"
        write_bundle(bundle, Manifest(ORIGIN, 0, history.size), entries, history.checkpoint)
        where = ["--bundle", bundle]
    else:
        copy = copy_store(history.path, tmp_path / "corrupted.db")
        rewrite_log(copy, entries)
        where = ["--store", store_url(copy)]
    again = tmp_path / "full.verified"
    document = verified("verify", *where, *anchor(history), *history.witness_options(), "--since", saved, "--save-state", again)
    assert (document["checked_from"], document["entries"]) == (history.early_size, history.size)
    assert Replay.from_text(again.read_text()).size == history.size
    # From the charter, the same source is refused at the corrupted entry.
    assert refused("verify", *where, *anchor(history)).startswith("accord: entry 1: civil-society.register: ")


def test_incremental_verify_refuses_a_checkpoint_that_does_not_extend_the_saved_one(history: History, saved: Path, tmp_path: Path) -> None:
    # The equivocating operator's fork rewrote an entry the saved checkpoint covers; its new entries are the genuine ones.
    bundle, _, checkpoint = forked_bundle(history, tmp_path / "fork")
    fork_root = Checkpoint.from_text(Note.from_text(checkpoint).text).root_hash.hex()
    genuine_root = Checkpoint.from_text(Note.from_text(history.checkpoint).text).root_hash.hex()
    message = f"accord: checkpoint: root at size {history.size}: got {fork_root}, recomputed {genuine_root}"
    assert refused("verify", "--bundle", bundle, *anchor(history), "--since", saved) == message
    # The same from a store (with its consistency proofs), against a forged checkpoint the operator signed.
    forged = checkpoint_with_root(history.keys[OPERATOR], history.size, forged_root("fork"))
    with Ledger(Store(history.url)) as ledger, pytest.raises(VerificationError) as raised:
        entries = (stored.data for stored in ledger.store.entries(history.early_size))
        audit(entries, history.anchor, forged, since=Replay.from_text(saved.read_text()), consistency_proof=ledger.log.consistency_proof)
    assert str(raised.value) == f"checkpoint: root at size {history.size}: got {forged_root('fork').hex()}, recomputed {genuine_root}"
    assert raised.value.index is None


def test_incremental_verify_refuses_a_checkpoint_older_than_the_saved_one_and_says_what_to_do(history: History, bundles: dict[str, Path], tmp_path: Path) -> None:
    state = tmp_path / "full.verified"
    verified("verify", "--bundle", bundles["tar"], *anchor(history), "--save-state", state)
    message = (f"accord: since: the saved verification already covers {history.size} entries, more than this checkpoint's {history.early_size}: "
               "give --since with a newer checkpoint, or drop --since to verify this one from the charter")
    assert refused("verify", "--bundle", bundles["early"], *anchor(history), "--since", state) == message


def test_incremental_verify_refuses_another_anchor_and_a_bundle_with_a_gap(history: History, saved: Path, tmp_path: Path) -> None:
    other = "11" * 32
    message = f"accord: since: saved verification is of anchor {history.anchor.hex()}, not {other}"
    assert refused("verify", "--store", history.url, "--anchor", other, "--since", saved) == message
    late = tmp_path / "late.tar"
    first = history.early_size + 3
    ok("export", "--store", history.url, "--from", first, "--out", late)
    message = f"accord: bundle: starts at entry {first}; this verification needs entries from {history.early_size}"
    assert refused("verify", "--bundle", late, *anchor(history), "--since", saved) == message


def test_audit_since_a_saved_replay_checks_the_consistency_proof(history: History, saved: Path) -> None:
    since = Replay.from_text(saved.read_text())
    with Ledger(Store(history.url)) as ledger:
        asked: list[tuple[int, int]] = []

        def proof(size1: int, size2: int) -> list[bytes]:
            asked.append((size1, size2))
            return ledger.log.consistency_proof(size1, size2)

        done = audit(history.entries[history.early_size :], history.anchor, history.checkpoint, since=since, consistency_proof=proof)
    assert asked == [(history.early_size, history.size)]
    assert (done.checked_from, done.replay.size) == (history.early_size, history.size)


def test_import_appends_nothing_past_the_bundles_checkpoint(history: History, local: Path, tmp_path: Path) -> None:
    # A member (pl) appends a statement of its own, validly signed, after the operator's checkpoint; the operator never logged it.
    last = Entry.from_bytes(history.entries[-1])
    said = commands.statement(ORIGIN, "statement.make", "pl", last.logged_at, {"text": "Poland was never asked."})
    unlogged = Entry(history.size, last.logged_at, sign_note(said.to_text(), history.keys["pl"]).to_text()).to_bytes()
    bundle = tmp_path / "padded"
    write_bundle(bundle, Manifest(ORIGIN, 0, history.size), history.entries, history.checkpoint)
    with open(bundle / "entries", "ab") as entries:
        entries.write(unlogged + b"\n")
    with Ledger(Store(store_url(local))) as ledger:
        try:
            import_bundle(ledger, bundle)
        except AccordError:
            pass
    with Ledger(Store(store_url(local))) as ledger:
        held = [stored.data for stored in ledger.store.entries()]
    assert held in (history.entries, history.entries[: history.early_size])
