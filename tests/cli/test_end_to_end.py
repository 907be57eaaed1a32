"""The installed ``accord`` program, run as a delegation and a secretariat would run it.

A secretariat keeps the ledger (SQLite, or PostgreSQL when ACCORD_TEST_POSTGRES
is set); France's embassy has no ledger at all: it makes its key, signs the
charter and prepares and signs its vote there, and the signed files travel.
The story ends with an auditor's ``accord verify --anchor`` exiting 0.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from domain.charter import OPERATOR
from ledger.entry import Entry
from ledger.keys import VerifierKey
from ledger.note import Note
from ledger.timefmt import parse_time
from ledger.tlog_proof import TlogProof, verify_tlog_proof
from tests.cli.conftest import FOREIGN_VARIABLES, PASSPHRASE, PASSPHRASE_VARIABLES
from tests.conftest import postgres_schema_url
from tests.domain.scenario import ORIGIN

ACCORD = Path(sys.executable).parent / "accord"


@dataclass
class Place:
    """A directory where someone runs ``accord``, with that place's environment."""

    directory: Path
    store: str | None

    def run(self, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        environment = {name: value for name, value in os.environ.items() if name not in FOREIGN_VARIABLES}
        environment.update({variable: PASSPHRASE for variable in PASSPHRASE_VARIABLES})
        if self.store is not None:
            environment["ACCORD_STORE"] = self.store
        result = subprocess.run([str(ACCORD), *args], cwd=self.directory, env=environment, capture_output=True, text=True, timeout=120)
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode == code, f"accord {' '.join(args)} -> {result.returncode}: {result.stdout}{result.stderr}"
        return result

    def out(self, *args: str) -> str:
        return self.run(*args).stdout

    def json(self, *args: str) -> dict:  # type: ignore[type-arg]
        result = self.run(*args, "--json")
        document: dict = json.loads(result.stdout)  # type: ignore[type-arg]
        assert document["version"] == 1
        return document


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def secretariat_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'secretariat' / 'accord.db'}"
    else:
        yield from postgres_schema_url()


def charter_toml(keys: dict[str, str]) -> str:
    lines = [f'origin = "{ORIGIN}"', 'name = "European Security Council"', f'operator = "{keys[OPERATOR]}"', 'withdrawal_notice = "90d"', ""]
    for member, name in (("de", "Germany"), ("fr", "France"), ("pl", "Poland")):
        lines += ["[[member]]", f'id = "{member}"', f'name = "{name}"', f'keys = ["{keys[member]}"]', 'affiliations = ["NATO", "EU"]', ""]
    lines += ["[categories.military-operation]", 'procedure = "ratification"', 'min_period = "0s"', ""]
    return "\n".join(lines)


def test_installed_accord_runs_a_council_with_offline_signing_and_verifies_it(tmp_path: Path, secretariat_store: str) -> None:
    assert ACCORD.exists(), f"the accord console script is not installed beside {sys.executable}"
    secretariat = Place(tmp_path / "secretariat", secretariat_store)
    embassy = Place(tmp_path / "embassy", None)
    secretariat.directory.mkdir()
    embassy.directory.mkdir()

    def carry(name: str, source: Place, target: Place) -> None:
        shutil.copy(source.directory / name, target.directory / name)

    # Keys: France's is made in its embassy, on a machine with no ledger.
    keys = {actor: secretariat.out("keygen", "--origin", ORIGIN, "--actor", actor, "--out", f"{actor}.key").strip() for actor in ("de", "pl")}
    keys[OPERATOR] = secretariat.out("keygen", "--origin", ORIGIN, "--out", "operator.key").strip()
    keys["fr"] = embassy.out("keygen", "--origin", ORIGIN, "--actor", "fr", "--out", "fr.key").strip()
    assert oct((embassy.directory / "fr.key").stat().st_mode & 0o777) == "0o600"

    # The charter: drafted, signed by the secretariat and each founder (France in its embassy), founded.
    (secretariat.directory / "charter.toml").write_text(charter_toml(keys), encoding="utf-8")
    (secretariat.directory / "charter.note").write_text(secretariat.out("charter", "draft", "charter.toml"), encoding="utf-8")
    for signer in (OPERATOR, "de", "pl"):
        secretariat.run("sign", "charter.note", "--key", f"{signer}.key")
    carry("charter.note", secretariat, embassy)
    embassy.run("sign", "charter.note", "--key", "fr.key")
    carry("charter.note", embassy, secretariat)
    anchor = secretariat.out("init", "charter.note", "--operator-key", "operator.key").strip()
    secretariat.run("init", "charter.note", code=1)

    # A proposal under consensus that Poland objects to, and a military operation to ratify.
    assert secretariat.out("propose", "--category", "general", "--title", "A crisis hotline", "--text", "Open a hotline.",
                           "--deadline", "+30s", "--key", "de.key") == "P-1\n"  # every command opens a scrypt key file: ~0.5 s each, more on a busy machine
    secretariat.run("vote", "P-1", "object", "--explanation", "Cost unclear", "--key", "pl.key")
    assert secretariat.out("propose", "--category", "military-operation", "--title", "Unarmed observers", "--text", "...",
                           "--deadline", "+1h", "--key", "pl.key") == "P-2\n"

    # France prepares and signs its vote offline; the signed file is submitted at the secretariat.
    embassy.run("prepare", "vote.cast", "--origin", ORIGIN, "--actor", "fr", "--field", "proposal=P-2", "--field", "position=approve",
                "--field", "explanation=Signed in the embassy, offline", "--out", "vote.json")
    embassy.run("sign", "vote.json", "--key", "fr.key")
    assert sorted(os.listdir(embassy.directory)) == ["charter.note", "fr.key", "fr.key.pub", "vote.json"]  # no database was created
    carry("vote.json", embassy, secretariat)
    submitted = secretariat.run("submit", "vote.json", "--operator-key", "operator.key", "--receipt", "vote.proof")
    assert submitted.stdout == "entry 4: vote.cast by fr\n" and submitted.stderr == ""
    logged = secretariat.json("log")["entries"][4]
    entry = Entry(logged["index"], logged["logged_at"], logged["statement"])
    assert entry.statement == (embassy.directory / "vote.json").read_text()
    receipt = TlogProof.from_text((secretariat.directory / "vote.proof").read_text())
    verify_tlog_proof(receipt, entry.leaf_hash(), VerifierKey.from_text(keys[OPERATOR]))

    # Everyone ratifies P-2, so it closes early as binding decision D-1.
    for member in ("de", "pl"):
        secretariat.run("vote", "P-2", "approve", "--key", f"{member}.key")
    assert secretariat.out("close", "P-2", "--key", "operator.key") == (
        "entry 7: P-2 adopted (3 approve, 0 object, 0 abstain, 0 silent): binding decision D-1\n"
    )

    # After P-1's deadline a vote is refused and the log stays as it was; the close rejects P-1.
    deadline = parse_time(secretariat.json("show", "P-1")["item"]["deadline"], "deadline")
    time.sleep(max(0.0, deadline - time.time() + 1.1))
    before = secretariat.out("log", "--json")
    late = secretariat.run("vote", "P-1", "approve", "--key", "de.key", code=1)
    assert late.stderr.startswith("accord: vote.cast: logged at ") and late.stderr.endswith(" of P-1\n")
    assert late.stderr.count("\n") == 1 and late.stdout == ""
    assert secretariat.out("log", "--json") == before
    assert secretariat.out("close", "P-1", "--key", "operator.key") == "entry 8: P-1 rejected (0 approve, 1 object, 0 abstain, 2 silent)\n"
    decisions = secretariat.json("decisions")["decisions"]
    assert [(d["id"], d["proposal"], d["adopted"]) for d in decisions] == [("D-1", "P-2", 7)]

    # The operator publishes a checkpoint; France witnesses it from its embassy, over the network.
    secretariat.run("checkpoint", "--sign", "--operator-key", "operator.key")
    assert embassy.out("cosign", "--key", "fr.key", "--store", secretariat_store).startswith("cosigned checkpoint of size 9 as ")
    assert (embassy.directory / "fr.key.witness").exists()
    cosigned = Note.from_text(secretariat.out("checkpoint"))
    assert len(cosigned.signatures) == 2

    # An auditor verifies everything from the pinned anchor, with France as a witness.
    witness = keys["fr"]
    verified = secretariat.run("verify", "--anchor", anchor, "--witness", witness, "--witness-quorum", "1")
    assert verified.stdout.startswith("verified 9 entries from the charter") and verified.stderr == ""  # no progress bar when piped
    report = secretariat.json("verify", "--anchor", anchor, "--witness", witness, "--witness-quorum", "1")
    assert (report["ok"], report["entries"], report["anchor"]) == (True, 9, anchor)
    refused = secretariat.run("verify", "--anchor", "00" * 32, code=1)
    assert refused.stderr == f"accord: entry 0: charter: leaf hash {anchor} is not the pinned trust anchor {'00' * 32}\n"
    if not secretariat_store.startswith("sqlite:"):
        assert not (secretariat.directory / "accord.db").exists()
