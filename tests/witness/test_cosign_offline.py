"""``accord cosign --checkpoint FILE --log-key VKEY --key FILE``: offline, the witness's checks against its state."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.checkpoint import verify_cosignature
from ledger.encoding import encode_base64
from ledger.note import Note
from tests.cli.conftest import invoke, no_traceback
from tests.witness.keys import LOG, checkpoint_note, signer, tree, witness_signer
from tests.witness.processes import PASSPHRASE, key_file

OPERATOR = signer(LOG)
WITNESS = witness_signer("witness.test/offline")
HONEST = tree(30)


@pytest.fixture
def directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ACCORD_PASSPHRASE", PASSPHRASE)
    key_file(tmp_path, "w", WITNESS)
    return tmp_path


def cosign(directory: Path, note: str, proof: list[bytes] | None = None) -> tuple[int, str, str]:
    (directory / "checkpoint.txt").write_text(note)
    args = ["cosign", "--checkpoint", directory / "checkpoint.txt", "--log-key", OPERATOR.verifier_key().to_text(), "--key", directory / "w.key"]
    if proof is not None:
        (directory / "proof.txt").write_text("".join(encode_base64(node) + "\n" for node in proof))
        args += ["--proof", directory / "proof.txt"]
    result = invoke(args)
    no_traceback(result)
    return result.exit_code, result.stdout, result.stderr


def test_offline_cosign_prints_the_line_and_remembers_the_size(directory: Path) -> None:
    note = checkpoint_note(OPERATOR, HONEST, 10)
    code, line, _ = cosign(directory, note)
    assert code == 0
    assert verify_cosignature(Note.from_text(note + line), WITNESS.cosigner_key()) > 0
    code, line, _ = cosign(directory, checkpoint_note(OPERATOR, HONEST, 30), HONEST.consistency_proof(10, 30))
    assert code == 0 and line.startswith("\u2014 witness.test/offline ")


def test_offline_cosign_refuses_a_checkpoint_that_does_not_extend_the_last(directory: Path) -> None:
    assert cosign(directory, checkpoint_note(OPERATOR, HONEST, 10))[0] == 0
    forked = tree(30, fork_at=4)
    code, out, err = cosign(directory, checkpoint_note(OPERATOR, forked, 30), forked.consistency_proof(10, 30))
    assert (code, out) == (1, "")
    assert err.startswith("accord: witness: refused (422): checkpoint of size 30 is not consistent with size 10: ")


def test_offline_cosign_refuses_a_checkpoint_of_another_log(directory: Path) -> None:
    code, _, err = cosign(directory, checkpoint_note(signer("other.test/log"), HONEST, 10))
    assert (code, err) == (1, "accord: witness: refused (404): unknown log 'other.test/log'\n")


def test_offline_cosign_of_a_fork_writes_the_evidence_beside_its_state(directory: Path) -> None:
    assert cosign(directory, checkpoint_note(OPERATOR, HONEST, 10))[0] == 0
    forked = tree(30, fork_at=4)
    code, _, err = cosign(directory, checkpoint_note(OPERATOR, forked, 30), forked.consistency_proof(10, 30))
    (written,) = directory.glob("equivocation-*.json")
    assert code == 1 and err.endswith(f"; equivocation evidence written to {written}\n")
    checked = invoke(["check-evidence", str(written), "--operator", OPERATOR.verifier_key().to_text()])
    assert checked.exit_code == 0 and checked.stdout.startswith(f"equivocation by {LOG}: the signed tree of size 30 has root {forked.root_at(10).hex()}")


def test_evidence_dir_goes_with_checkpoint(directory: Path) -> None:
    result = invoke(["cosign", "--key", str(directory / "w.key"), "--evidence-dir", str(directory)])
    assert result.exit_code == 2 and "--evidence-dir go with --checkpoint" in result.stderr
