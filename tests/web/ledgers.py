"""Ledgers for the register's tests: a small council whose every free text is hostile markup.

Statements are written by any member or civil-society actor, so titles,
texts, explanations, names and attachments all try to become markup: a
``<script>`` that would set ``window.__pwned`` and log "pwned", an event
handler attribute, and text closing the SVG elements it is shown in.
"""

from __future__ import annotations

from domain.charter import OPERATOR
from ledger.keys import Signer
from projections.ledger import Ledger
from tests.domain.scenario import DAY, new_signer
from tests.projections.council import Clock, Council

SCRIPT = '<script>window.__pwned = "script"; console.log("pwned")</script>'
ATTRIBUTE = '"><img src=x onerror="window.__pwned=\'attribute\'; console.log(\'pwned\')">'
SVG_TEXT = "</title></text></svg><script>window.__pwned='svg'; console.log('pwned')</script>"
NAME = "<b onmouseover=\"window.__pwned='name'\">Dock & Port Union</b>"

HOSTILE = (SCRIPT, ATTRIBUTE, SVG_TEXT, NAME)


def hostile_council(ledger: Ledger, clock: Clock) -> Council:
    """D-1 (adopted, hostile title, text, explanations, attachment, statements), P-2 open with a
    hostile explanation, a civil-society organization with a hostile name and its hostile appeal,
    and a checkpoint over all of it (so receipts and certificates exist)."""
    council = Council(ledger, clock)
    adopted = council.propose(title=SCRIPT, text=ATTRIBUTE, period=DAY)
    council.say("de", "vote.cast", {"proposal": adopted, "position": "approve", "explanation": SVG_TEXT})
    council.say("fr", "vote.cast", {"proposal": adopted, "position": "object", "explanation": ATTRIBUTE})
    council.say("fr", "vote.cast", {"proposal": adopted, "position": "abstain", "explanation": SCRIPT})
    council.say("in", "statement.make", {"text": SCRIPT, "about": adopted})
    clock.now += DAY
    council.close(adopted)
    council.say("fr", "decision.attach", {"decision": "D-1", "type": "interpretative", "text": SVG_TEXT})
    council.say("pl", "decision.attach", {"decision": "D-1", "type": "reservation", "text": ATTRIBUTE})
    etuc: Signer = council.keys.setdefault("etuc", new_signer("etuc"))
    council.say("etuc", "civil-society.register", {"name": NAME, "kind": "trade-union", "countries": ["de"], "keys": [etuc.verifier_key().to_text()]})
    council.say("etuc", "appeal.file", {"title": SCRIPT, "text": SVG_TEXT, "concerned": ["pl"], "urgency": "high"})
    council.say("pl", "appeal.acknowledge", {"appeal": "A-1"})
    council.say(OPERATOR, "appeal.answer", {"appeal": "A-1", "text": ATTRIBUTE})
    open_one = council.propose(title=SVG_TEXT, text=SCRIPT, references=["A-1"])
    council.say("ua", "vote.cast", {"proposal": open_one, "position": "object", "explanation": NAME})
    ledger.publish_checkpoint(council.keys[OPERATOR])
    return council
