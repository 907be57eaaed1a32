"""What a new user meets (issue 13): safe defaults, reads without side effects, errors a script can read."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from domain.charter import OPERATOR
from tests.cli.conftest import Council, fails, invoke, label, ok, one_line_error
from tests.domain.scenario import ORIGIN


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_postgres_down_a_read_fails_with_one_line() -> None:
    """Item 7: a refused connection is one line at once, not 'couldn't get a connection after 30.00 sec'."""
    port = _free_port()
    url = f"postgresql://postgres@127.0.0.1:{port}/accord"
    one_line_error(
        "status", "--store", url,
        message=f'accord: store: cannot connect to {url}: connection failed: connection to server at "127.0.0.1", port {port} failed: Connection refused',
    )


# Item 3: naming witnesses without a quorum means all of them.


def test_witness_without_quorum_means_all_named_witnesses(council: Council) -> None:
    council.propose()
    council.checkpoint()
    fr, pl = council.witness_key("fr"), council.witness_key("pl")
    message = "accord: checkpoint: cosignature: too few witnesses cosigned: got 0, want at least 1"
    one_line_error("verify", "--anchor", council.anchor, "--witness", fr, message=message)
    ok("cosign", "--key", council.key("fr"))
    assert "1 witness cosignature(s) verified" in ok("verify", "--anchor", council.anchor, "--witness", fr)
    one_line_error("verify", "--anchor", council.anchor, "--witness", fr, "--witness", pl,
                   message="accord: checkpoint: cosignature: too few witnesses cosigned: got 1, want at least 2")
    # the same key named twice is one witness
    ok("verify", "--anchor", council.anchor, "--witness", fr, "--witness", council.verifier_key("fr"))
    # an explicit quorum still chooses
    ok("verify", "--anchor", council.anchor, "--witness", fr, "--witness", pl, "--witness-quorum", "1")


def test_witness_without_quorum_means_all_named_witnesses_for_a_certificate(busy_council: Council) -> None:
    busy_council.checkpoint()
    ok("certificate", "D-1", "--out", "d1.certificate")
    pl = busy_council.witness_key("pl")
    fails("verify-certificate", "d1.certificate", "--anchor", busy_council.anchor, "--witness", pl)
    ok("cosign", "--key", busy_council.key("pl"))
    ok("certificate", "D-1", "--out", "d1.certificate")
    ok("verify-certificate", "d1.certificate", "--anchor", busy_council.anchor, "--witness", pl)


# Item 4: accord verify-receipt, offline.


def _submitted_vote(council: Council) -> None:
    proposal = council.propose()
    ok("prepare", "vote.cast", "--origin", ORIGIN, "--actor", "fr", "--body", json.dumps({"proposal": proposal, "position": "approve"}), "--out", "vote.json")
    ok("sign", "vote.json", "--key", council.key("fr"))
    ok("submit", "vote.json", "--operator-key", council.key(OPERATOR), "--receipt", "vote.proof")


def test_verify_receipt_proves_the_submitted_statement_offline(council: Council) -> None:
    _submitted_vote(council)
    operator = council.verifier_key(OPERATOR)
    Path("operator.vkey").write_text(operator + "\n", encoding="utf-8")
    council.database.rename("elsewhere.db")  # offline: no store at all
    for log_key in (operator, "operator.vkey"):
        out = ok("verify-receipt", "vote.proof", "--statement", "vote.json", "--log-key", log_key)
        assert out.startswith(f"vote.cast by fr is entry 2 of {ORIGIN}, logged at ")
        assert out.endswith("under the operator's checkpoint of size 3; 0 witness cosignature(s) verified\n")
    document = json.loads(ok("verify-receipt", "vote.proof", "--statement", "vote.json", "--log-key", operator, "--json"))
    assert document["ok"] is True and document["index"] == 2 and document["checkpoint"]["size"] == 3
    assert not council.database.exists()


def test_verify_receipt_checks_what_prove_writes(busy_council: Council) -> None:
    busy_council.checkpoint()
    ok("prove", "7", "--out", "close.proof")
    Path("close.note").write_text(busy_council.entry(7).statement, encoding="utf-8")
    assert ok("verify-receipt", "close.proof", "--statement", "close.note", "--log-key", busy_council.verifier_key(OPERATOR)).startswith(
        f"proposal.close by operator is entry 7 of {ORIGIN}"
    )


def test_verify_receipt_refuses_another_statement(council: Council) -> None:
    _submitted_vote(council)
    text = Path("vote.json").read_text(encoding="utf-8")
    Path("other.json").write_text(council.entry(1).statement, encoding="utf-8")
    result = fails("verify-receipt", "vote.proof", "--statement", "other.json", "--log-key", council.verifier_key(OPERATOR))
    assert result.stderr.startswith("accord: receipt: this statement is not entry 2 under the receipt's checkpoint: ")
    assert text == council.entry(2).statement


def test_verify_receipt_refuses_a_forged_logged_at(council: Council) -> None:
    _submitted_vote(council)
    lines = Path("vote.proof").read_text(encoding="utf-8").split("\n")
    assert lines[1].startswith("extra ")
    lines[1] = "extra " + base64.b64encode(b"2020-01-01T00:00:00Z").decode()
    Path("forged.proof").write_text("\n".join(lines), encoding="utf-8")
    result = fails("verify-receipt", "forged.proof", "--statement", "vote.json", "--log-key", council.verifier_key(OPERATOR))
    assert result.stderr.startswith("accord: receipt: this statement is not entry 2 under the receipt's checkpoint: ")


def test_verify_receipt_refuses_another_log_key_and_missing_witnesses(council: Council) -> None:
    _submitted_vote(council)
    one_line_error("verify-receipt", "vote.proof", "--statement", "vote.json", "--log-key", council.verifier_key("fr"),
                   message=f"accord: receipt: the statement is for the ledger {ORIGIN!r}, the log key for {ORIGIN + '/fr'!r}")
    one_line_error("verify-receipt", "vote.proof", "--statement", "vote.json", "--log-key", council.verifier_key(OPERATOR),
                   "--witness", council.witness_key("pl"),
                   message="accord: cosignature: too few witnesses cosigned: got 0, want at least 1")


# Item 10: public documents are readable by others; keys stay private.


def test_certificates_and_receipts_are_written_0644(busy_council: Council) -> None:
    busy_council.checkpoint()
    ok("certificate", "D-1", "--out", "d1.certificate")
    ok("prove", "D-1", "--out", "d1.proof")
    proposal = busy_council.propose()
    ok("prepare", "vote.cast", "--origin", ORIGIN, "--actor", "fr", "--body", json.dumps({"proposal": proposal, "position": "approve"}), "--out", "vote.json")
    ok("sign", "vote.json", "--key", busy_council.key("fr"))
    ok("submit", "vote.json", "--operator-key", busy_council.key(OPERATOR), "--receipt", "vote.proof")
    for document in ("d1.certificate", "d1.proof", "vote.proof"):
        assert oct(Path(document).stat().st_mode & 0o777) == "0o644", document
    assert oct(Path(busy_council.key("fr")).stat().st_mode & 0o777) == "0o600"


# Item 5: under --json a failure is a document on stdout too.


def test_json_failure_prints_a_failure_document_with_the_same_exit_code(council: Council) -> None:
    result = fails("show", "P-9", "--json")
    assert json.loads(result.stdout) == {
        "version": 1, "ok": False, "error": {"component": "show", "message": "show: no P-9 on this ledger as of entry 0", "index": None},
    }
    assert result.stderr == "accord: show: no P-9 on this ledger as of entry 0\n"
    council.tamper(0, b"European Security Council", b"European Securitas Council")
    result = fails("verify", "--anchor", council.anchor, "--json")
    document = json.loads(result.stdout)
    assert document["ok"] is False and document["error"]["index"] == 0 and document["error"]["component"]
    assert result.stderr == f"accord: {document['error']['message']}\n"


def test_a_usage_error_under_json_still_prints_a_failure_document(council: Council) -> None:
    result = invoke(["members", "--json", "--as-of", "many"])
    assert result.exit_code == 2
    document = json.loads(result.stdout)
    assert document["ok"] is False and document["error"]["component"] == "usage"
    assert "--as-of" in document["error"]["message"] and "many" in document["error"]["message"]
    assert "Usage:" in result.stderr
    assert invoke(["members", "--as-of", "many"]).stdout == ""  # without --json, click's usage text alone


# Item 6: reads have no side effects.


def test_status_in_an_empty_directory_creates_no_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for read in (["status"], ["members"], ["log"], ["proposals"], ["charter", "show"], ["verify", "--anchor", "00" * 32]):
        one_line_error(*read, message="accord: ledger: no ledger in sqlite:///accord.db: create one with accord init")
    one_line_error("status", "--store", "sqlite:///elsewhere.db", message="accord: ledger: no ledger in sqlite:///elsewhere.db: create one with accord init")
    assert json.loads(fails("members", "--json").stdout)["error"]["component"] == "ledger"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.postgres
def test_reads_of_a_missing_postgres_schema_create_no_schema(postgres_url: str) -> None:
    import psycopg

    schema = postgres_url.rsplit("schema=", 1)[1]
    for read in (["status"], ["members"], ["log"], ["verify", "--anchor", "00" * 32]):
        one_line_error(*read, "--store", postgres_url, message=f"accord: ledger: no ledger in {postgres_url}: create one with accord init")
    with psycopg.connect(postgres_url.split("?", 1)[0]) as database:
        found = database.execute("SELECT count(*) FROM information_schema.schemata WHERE schema_name = %s", (schema,)).fetchone()
    assert found == (0,)


def test_failed_init_leaves_no_database_file(council: Council) -> None:
    council.database.rename("founded.db")
    Path("unsigned.note").write_text(ok("charter", "draft", "charter.toml"), encoding="utf-8")
    result = fails("init", "unsigned.note")
    assert result.stderr.startswith("accord: ") and result.stderr.count("\n") == 1
    assert not council.database.exists()
    assert not list(Path(".").glob("accord.db*"))


# Item 9: init labels the anchor; charter show shows a charter, its signers and its anchor.


def test_init_labels_the_anchor_and_charter_show_shows_it(council: Council) -> None:
    council.database.unlink()
    result = invoke(["init", "charter.note", "--operator-key", council.key(OPERATOR)])
    assert result.exit_code == 0
    anchor = result.stdout.strip()
    assert result.stdout == anchor + "\n" and len(bytes.fromhex(anchor)) == 32  # bare on stdout: ANCHOR=$(accord init ...)
    assert council.view("status")["anchor"] == anchor
    assert result.stderr == "ledger founded; its trust anchor, which verifiers pin with --anchor (accord charter show shows it again):\n"
    text = ok("charter", "show")
    assert text.startswith(f"European Security Council ({ORIGIN}), founded at ")
    assert f"trust anchor {anchor} (the charter entry's leaf hash: verifiers pin it with --anchor)\n" in text
    assert "signed by operator, de, fr, pl, ua\n" in text
    assert "  military-operation   ratification, min period 0s\n" in text and "  general              consensus, min period 0s\n" in text
    document = json.loads(ok("charter", "show", "--json"))
    assert document["anchor"] == anchor and document["signed_by"] == ["operator", "de", "fr", "pl", "ua"]
    assert len(document["categories"]) == 12 and [m["id"] for m in document["members"]] == ["de", "fr", "pl", "ua"]
    ok("export", "--out", "ledger.tar")
    assert json.loads(ok("charter", "show", "--bundle", "ledger.tar", "--json")) == document


# Item 10: init with the wrong operator key appends nothing.


def test_init_with_the_wrong_operator_key_appends_nothing(council: Council) -> None:
    council.database.unlink()
    one_line_error("init", "charter.note", "--operator-key", council.key("de"),
                   message=f"accord: init: --operator-key is {label('de')}, not the charter's operator key {label(OPERATOR)}")
    assert not council.database.exists()
    ok("init", "charter.note", "--operator-key", council.key(OPERATOR))


# Item 10: accord log | head -1 exits 0, quietly.


def test_log_into_a_closed_pipe_exits_0_quietly(busy_council: Council) -> None:
    accord = Path(sys.executable).parent / "accord"
    process = subprocess.Popen([str(accord), "log"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader is gone before accord writes its first line
    stderr = process.stderr.read()
    assert process.wait(timeout=60) == 0 and stderr == b""


# Item 11: shell completion.


def test_completion_prints_clicks_script_for_each_shell() -> None:
    assert "_ACCORD_COMPLETE=bash_complete" in ok("completion", "bash")
    assert "_ACCORD_COMPLETE=zsh_complete" in ok("completion", "zsh")
    assert "_ACCORD_COMPLETE=fish_complete" in ok("completion", "fish")
    fails("completion", "tcsh", code=2)


# Item 10: a certificate missing a field, a snapshot of another version.


@pytest.mark.parametrize("missing", ["entries", "decision", "proposal", "close", "checkpoint"])
def test_certificate_missing_a_field_is_refused_naming_it(busy_council: Council, missing: str) -> None:
    busy_council.checkpoint()
    ok("certificate", "D-1", "--out", "d1.certificate")
    document = json.loads(Path("d1.certificate").read_text(encoding="utf-8"))
    del document[missing]
    Path("cut.certificate").write_text(json.dumps(document), encoding="utf-8")
    one_line_error("verify-certificate", "cut.certificate", "--anchor", busy_council.anchor, message=f"accord: certificate: step 1 (document): {missing} is missing")
    document = json.loads(Path("d1.certificate").read_text(encoding="utf-8"))
    del document["entries"][0]["proof"]
    Path("cut.certificate").write_text(json.dumps(document), encoding="utf-8")
    one_line_error("verify-certificate", "cut.certificate", "--anchor", busy_council.anchor, message="accord: certificate: step 1 (document): entries[0].proof is missing")


def test_snapshot_of_another_version_is_refused() -> None:
    from domain.snapshot import from_snapshot
    from ledger.canonical import canonical_bytes
    from ledger.errors import MalformedError

    with pytest.raises(MalformedError, match=r"^snapshot: version: got 2, want 1$"):
        from_snapshot(canonical_bytes({"v": 2, "settings": {}}))
    with pytest.raises(MalformedError, match=r"^snapshot: version: got None, want 1$"):
        from_snapshot(canonical_bytes({"settings": {}}))


# Item 8: export writes what its name says, and says what it leaves out.


def test_export_tar_gz_writes_a_gzip_tar_that_verifies(busy_council: Council) -> None:
    import tarfile

    busy_council.checkpoint()
    for name in ("big.tar.gz", "big.tgz"):
        ok("export", "--out", name)
        assert Path(name).is_file() and Path(name).read_bytes()[:2] == b"\x1f\x8b"  # gzip magic
        with tarfile.open(name, "r:gz") as archive:
            assert sorted(archive.getnames()) == ["bundle.json", "checkpoint", "checkpoints", "entries"]
        assert "verified 12 entries" in ok("verify", "--bundle", name, "--anchor", busy_council.anchor)


def test_export_warns_of_entries_past_the_latest_checkpoint_and_signs_one_given_the_operator_key(busy_council: Council) -> None:
    result = invoke(["export", "--out", "stale.tar"])
    assert result.exit_code == 0
    assert result.stdout == "exported entries 0 to 0 and the checkpoint of size 1 to stale.tar\n"
    assert result.stderr == ("accord: warning: entries 1 to 11 lie past the newest checkpoint and are not exported: "
                             "give --operator-key, or sign one with accord checkpoint --sign\n")
    result = invoke(["export", "--out", "fresh.tar", "--operator-key", busy_council.key(OPERATOR)])
    assert result.exit_code == 0 and result.stderr == ""
    assert result.stdout == "exported entries 0 to 11 and the checkpoint of size 12 to fresh.tar\n"
