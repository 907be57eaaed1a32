"""The demonstration: a fresh SQLite ledger, signed statements, a checkpoint, a proof."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ledger.checkpoint import Checkpoint, cosign
from ledger.keys import Signer
from ledger.log import Log
from ledger.note import sign_note
from ledger.statement import Statement
from ledger.store import Store
from ledger.timefmt import format_time
from ledger.tlog_proof import TlogProof, verify_tlog_proof

ORIGIN = "accord.example/european-security"


def run_demo(directory: str, say: Callable[[str], None]) -> None:
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "accord.db"
    for leftover in folder.glob("accord.db*"):
        os.remove(leftover)
    operator = Signer.generate(ORIGIN)
    delegations = {actor: Signer.generate(f"{ORIGIN}/{actor}") for actor in ("de", "fr", "pl", "ua")}
    say(f"A fresh ledger at {database}, origin {ORIGIN}")
    say(f"Operator key: {operator.verifier_key().to_text()}")
    with Store(f"sqlite:///{database}") as store:
        log = Log(store)
        for number, (actor, key) in enumerate(delegations.items()):
            statement = Statement(
                origin=ORIGIN,
                kind="statement.make",
                actor=actor,
                signed_at=format_time(log.clock()),
                body={"text": f"The delegation of {actor} takes its seat."},
            )
            entry = log.append([sign_note(statement.to_text(), key).to_text()])[0]
            say(f"entry {entry.index}: {actor} signed and appended a statement at {entry.logged_at}")
        note = log.publish_checkpoint(operator)
        witness = delegations["pl"]
        cosigned = note.with_signatures(cosign(note, witness, log.clock()))
        say("\nThe operator's checkpoint, cosigned by the delegation of pl as witness:\n")
        say(cosigned.to_text())
        checkpoint = Checkpoint.from_text(note.text)
        receipt = TlogProof(2, tuple(log.inclusion_proof(2, checkpoint.size)), cosigned.to_text())
        (folder / "receipt-2.proof").write_text(receipt.to_text(), encoding="utf-8")
        say("A receipt for entry 2 (C2SP tlog-proof@v1):\n")
        say(receipt.to_text())
        verify_tlog_proof(receipt, log.entry(2).leaf_hash(), operator.verifier_key(), [witness.cosigner_key()], 1)
        say(f"Receipt verified offline: entry 2 is in the tree of size {checkpoint.size}, cosigned by 1 witness.")
