"""accord sync --policy (SPEC 12) and the checkpoints a mirror keeps, against real server processes.

The witnesses' cosignatures are made here and stored in the log's database
(as a witnessing server would store them); the server serves what is stored.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from ledger.checkpoint import Checkpoint, cosign
from ledger.keys import Signer
from ledger.bundle import Bundle
from ledger.note import Note
from ledger.published import compact
from projections.ledger import Ledger
from tests.server.conftest import Founded, found
from tests.server.processes import Server
from tests.server.test_end_to_end import anchor, run, verified
from tests.witness.keys import witness_signer

WITNESSES = {name: witness_signer(f"witness.test/{name}") for name in ("w1", "w2", "w3")}


def policy_file(founded: Founded, directory: Path) -> Path:
    lines = [f"log {founded.operator.verifier_key().to_text()}"]
    lines += [f"witness {name} {signer.cosigner_key().to_text()}" for name, signer in WITNESSES.items()]
    lines += ["group two-of-three 2 w1 w2 w3", "quorum two-of-three"]
    path = directory / "policy.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def publish(founded: Founded, texts: list[str], cosigners: tuple[str, ...], at: int | None = None, ago: int = 0) -> Note:
    """Append ``texts`` (signed ``ago`` seconds back, logged then too), publish a checkpoint, have ``cosigners`` cosign it at ``at``."""
    with Ledger.open(founded.url, clock=lambda: int(time.time()) - ago) as ledger:
        signed_at = int(time.time()) - ago
        if texts:
            ledger.append([founded.note("in", "statement.make", {"text": text}, signed_at) for text in texts])
        note = ledger.publish_checkpoint(founded.operator)
        for name in cosigners:
            witness: Signer = WITNESSES[name]
            note = ledger.log.add_cosignature(cosign(note, witness, at or int(time.time())), witness.cosigner_key())
        return note


def kept(url: str) -> list[str]:
    with Ledger.open(url) as ledger:
        return [text for _, text in ledger.store.checkpoints()][::-1]


def test_sync_with_a_policy_refuses_a_checkpoint_short_of_the_quorum_and_takes_it_once_met(tmp_path: Path, passphrase: str) -> None:
    founded = found(f"sqlite:///{tmp_path / 'log.db'}", tmp_path, said=4)
    policy = policy_file(founded, tmp_path)
    mirror = f"sqlite:///{tmp_path / 'mirror.db'}"
    publish(founded, ["under one witness"], ("w1",))
    with Server(founded) as server:
        code, out, err = run("sync", "--log", server.url, "--store", mirror, "--anchor", anchor(founded.url), "--policy", policy)
        assert (code, out) == (1, "")
        assert err == "accord: sync: the log's checkpoint of size 6 is refused: policy: quorum two-of-three not met: cosigned by w1\n"
        assert not (tmp_path / "mirror.db").exists() or Ledger.open(mirror).log.size == 0
        publish(founded, [], ("w2",))  # the same checkpoint, now cosigned by two of three
        code, out, err = run("sync", "--log", server.url, "--store", mirror, "--anchor", anchor(founded.url), "--policy", policy)
        assert code == 0, err
        assert out == f"verified and appended 6 entries from {server.url}; the mirror now holds 6\n"
    with Ledger.open(mirror) as copy:
        latest = copy.log.latest_checkpoint()
        assert latest is not None and {name for name in ("w1", "w2") if any(s.made_by(WITNESSES[name].cosigner_key()) for s in latest.signatures)} == {"w1", "w2"}
    verified(mirror)


def test_sync_keeps_every_checkpoint_the_log_published_with_its_cosignatures(tmp_path: Path, passphrase: str) -> None:
    founded = found(f"sqlite:///{tmp_path / 'log.db'}", tmp_path, said=2)
    mirror = f"sqlite:///{tmp_path / 'mirror.db'}"
    for batch in range(3):
        publish(founded, [f"batch {batch} a", f"batch {batch} b"], ("w1", "w3"))
    with Server(founded) as server:
        assert run("sync", "--log", server.url, "--store", mirror, "--anchor", anchor(founded.url))[0] == 0
        # Every one, older ones too, compacted (SPEC 12: per checkpoint, each witness's earliest and latest line), in order of size.
        assert compact(kept(mirror)) == compact(kept(founded.url)) and len(compact(kept(founded.url))) == 4
        assert kept(mirror)[-1] == kept(founded.url)[-1]
        for batch in range(3, 5):
            publish(founded, [f"batch {batch}"], ("w2",))
        code, out, err = run("sync", "--log", server.url, "--store", mirror)
        assert code == 0, err
        assert compact(kept(mirror)) == compact(kept(founded.url))
        assert kept(mirror)[-1] == kept(founded.url)[-1]
        # A witness that cosigns the newest checkpoint late: the next sync keeps its line too.
        publish(founded, [], ("w3",))
        assert run("sync", "--log", server.url, "--store", mirror)[1] == "the mirror holds 11 entries; the log's checkpoint covers 11: nothing new\n"
        assert kept(mirror)[-1] == kept(founded.url)[-1] and compact(kept(mirror)) == compact(kept(founded.url))
    verified(mirror)
    # An export of the mirror carries what the log published.
    bundle = tmp_path / "mirror.tar"
    assert run("export", "--store", mirror, "--out", bundle)[0] == 0
    with Bundle(bundle) as exported:
        assert list(exported.kept) == compact(kept(founded.url))


def test_the_kept_checkpoints_endpoint_pages_by_size_and_refuses_a_size_that_is_not_one(tmp_path: Path, passphrase: str) -> None:
    founded = found(f"sqlite:///{tmp_path / 'log.db'}", tmp_path, said=1)
    for number in range(4):
        publish(founded, [f"statement {number}"], ())
    with Server(founded) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        sizes = [Checkpoint.from_text(Note.from_text(text).text).size for text in http.get("/checkpoints").json()["checkpoints"]]
        assert sizes == [2, 3, 4, 5, 6]
        page = http.get("/checkpoints", params={"after": 3, "upto": 5}).json()
        assert [Checkpoint.from_text(Note.from_text(text).text).size for text in page["checkpoints"]] == [4, 5] and page["more"] is False
        for bad in ("-1", "x", "01", "9" * 20):
            answer = http.get("/checkpoints", params={"after": bad})
            assert (answer.status_code, answer.text) == (400, f"accord: checkpoints: after: got {bad!r}, want a tree size in decimal\n")


def test_sync_with_a_policy_refuses_an_entry_backdated_before_what_the_witnesses_saw(tmp_path: Path, passphrase: str) -> None:
    founded = found(f"sqlite:///{tmp_path / 'log.db'}", tmp_path, said=3, ago=7_200)
    policy = policy_file(founded, tmp_path)
    now = int(time.time())
    publish(founded, [], ("w1", "w2"), at=now)  # the witnesses saw 4 entries, now
    # The operator sets its clock back two hours and slips one more in, then has it cosigned.
    publish(founded, ["slipped in before the deadline"], ("w1", "w2"), at=now + 1, ago=7_200)
    mirror = f"sqlite:///{tmp_path / 'mirror.db'}"
    with Server(founded) as server:
        code, out, err = run("sync", "--log", server.url, "--store", mirror, "--anchor", anchor(founded.url), "--policy", policy)
    assert code == 1 and out == ""
    assert err.startswith("accord: entry 4: backdated: logged_at ") and "when witness w" in err and err.count("\n") == 1
    assert not (tmp_path / "mirror.db").exists() or Ledger.open(mirror).log.size == 0
