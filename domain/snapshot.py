"""The rule state as JSON, so a writer can start from a snapshot, not entry 0.

A snapshot is a cache: the verifier never reads one, and a writer that finds
none (or one it cannot read) folds the log from the charter instead.
"""

from __future__ import annotations

import base64
from typing import Any

from immutables import Map

from domain.charter import DEFAULT_WITNESS_LAG, Category, Settings
from domain.state import Actor, Admission, KeyRecord, LedgerState, Proposal
from ledger.canonical import canonical_bytes, parse_canonical
from ledger.errors import MalformedError
from ledger.keys import VerifierKey

SNAPSHOT_VERSION = 1


def actor_json(actor: Actor) -> dict[str, Any]:
    """An actor as plain JSON values (the snapshot's form; the views build on it)."""
    return {
        "id": actor.id,
        "name": actor.name,
        "role": actor.role,
        "keys": [{"key": r.key.to_text(), "added": r.added, "revoked": r.revoked} for r in actor.keys],
        "joined": actor.joined,
        "affiliations": list(actor.affiliations),
        "suspended_by": actor.suspended_by,
        "withdrawal_effective": actor.withdrawal_effective,
        "revoked_by": actor.revoked_by,
        "details": {k: list(v) if isinstance(v, tuple) else v for k, v in actor.details.items()},
    }


def _read_actor(doc: dict[str, Any]) -> Actor:
    details = {k: tuple(v) if isinstance(v, list) else v for k, v in doc["details"].items()}
    return Actor(
        id=doc["id"],
        name=doc["name"],
        role=doc["role"],
        keys=tuple(KeyRecord(VerifierKey.from_text(r["key"]), r["added"], r["revoked"]) for r in doc["keys"]),
        joined=doc["joined"],
        affiliations=tuple(doc["affiliations"]),
        suspended_by=doc["suspended_by"],
        withdrawal_effective=doc["withdrawal_effective"],
        revoked_by=doc["revoked_by"],
        details=details,
    )


def proposal_json(proposal: Proposal) -> dict[str, Any]:
    """An open proposal as plain JSON values (the snapshot's form; the views build on it)."""
    return {
        "id": proposal.id,
        "proposer": proposal.proposer,
        "category": proposal.category,
        "procedure": proposal.procedure,
        "title": proposal.title,
        "text": proposal.text,
        "deadline": proposal.deadline,
        "electorate": list(proposal.electorate),
        "submitted": proposal.submitted,
        "submitted_at": proposal.submitted_at,
        "concerned": list(proposal.concerned),
        "references": list(proposal.references),
        "effect": dict(proposal.effect),
        "positions": dict(proposal.positions),
    }


def _read_proposal(doc: dict[str, Any]) -> Proposal:
    return Proposal(
        id=doc["id"],
        proposer=doc["proposer"],
        category=doc["category"],
        procedure=doc["procedure"],
        title=doc["title"],
        text=doc["text"],
        deadline=doc["deadline"],
        electorate=tuple(doc["electorate"]),
        submitted=doc["submitted"],
        submitted_at=doc["submitted_at"],
        concerned=tuple(doc["concerned"]),
        references=tuple(doc["references"]),
        effect=doc["effect"],
        positions=Map(doc["positions"]),
    )


def to_snapshot(state: LedgerState) -> bytes:
    """Canonical JSON of the whole rule state."""
    settings = state.settings
    return canonical_bytes(
        {
            "v": SNAPSHOT_VERSION,
            "size": state.size,
            "logged_at": state.logged_at,
            "anchor": base64.b64encode(state.anchor).decode(),
            "settings": {
                "origin": settings.origin,
                "name": settings.name,
                "categories": {name: c.to_json() for name, c in settings.categories.items()},
                "withdrawal_notice": settings.withdrawal_notice,
                "signed_at_skew": settings.signed_at_skew,
                "witness_lag": settings.witness_lag,
            },
            # Sorted: a persistent map's iteration order depends on how it was built.
            "actors": [actor_json(state.actors[key]) for key in sorted(state.actors)],
            "open_proposals": [proposal_json(state.open_proposals[key]) for key in sorted(state.open_proposals)],
            "admissions": [
                {"proposal": a.proposal, "decision": a.decision, "candidate": dict(a.candidate)}
                for a in (state.admissions[key] for key in sorted(state.admissions))
            ],
            "counts": [state.proposals, state.decisions, state.appeals],
            "nonces": dict(state.nonces),
            "nonce_horizon": state.nonce_horizon,
            "nonce_floor": state.nonce_floor,
        }
    )


def from_snapshot(data: bytes) -> LedgerState:
    """The state a snapshot holds; MalformedError if it is not one."""
    doc = parse_canonical(data, "snapshot")
    version = doc.get("v") if isinstance(doc, dict) else None
    if version != SNAPSHOT_VERSION:
        raise MalformedError("snapshot", f"version: got {version!r}, want {SNAPSHOT_VERSION}")
    settings = doc["settings"]
    nonces: dict[str, int] = doc["nonces"]
    days: dict[int, dict[str, int]] = {}
    for nonce, signed_at in nonces.items():
        days.setdefault(signed_at // 86_400, {})[nonce] = signed_at
    proposals, decisions, appeals = doc["counts"]
    return LedgerState(
        size=doc["size"],
        logged_at=doc["logged_at"],
        anchor=base64.b64decode(doc["anchor"]),
        settings=Settings(
            origin=settings["origin"],
            name=settings["name"],
            categories={name: Category(c["procedure"], c["min_period"]) for name, c in settings["categories"].items()},
            withdrawal_notice=settings["withdrawal_notice"],
            signed_at_skew=settings["signed_at_skew"],
            witness_lag=settings.get("witness_lag", DEFAULT_WITNESS_LAG),
        ),
        actors=Map({a["id"]: _read_actor(a) for a in doc["actors"]}),
        open_proposals=Map({p["id"]: _read_proposal(p) for p in doc["open_proposals"]}),
        admissions=Map({a["candidate"]["id"]: Admission(a["proposal"], a["decision"], a["candidate"]) for a in doc["admissions"]}),
        proposals=proposals,
        decisions=decisions,
        appeals=appeals,
        nonces=Map(nonces),
        nonce_days=Map({day: Map(members) for day, members in days.items()}),
        nonce_horizon=doc["nonce_horizon"],
        nonce_floor=doc["nonce_floor"],
    )
