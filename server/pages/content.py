"""What each page shows, shaped from the views' documents for the templates.

Plain data only (dictionaries, lists, numbers, text as members wrote it):
escaping is the templates' job, done once by Jinja2's autoescape.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ledger.checkpoint import Checkpoint, verify_cosignature
from ledger.errors import AccordError
from ledger.keys import COSIGNATURE_V1, VerifierKey
from ledger.note import Note
from ledger.timefmt import format_time, parse_time
from server.pages import pictures

if TYPE_CHECKING:
    from server.pages.site import Site

ROLES = (("member", "Members"), ("observer", "Observers"), ("civil-society", "Civil society"), ("operator", "Secretariat"))
POSITION_WORDS = {"approve": "approve", "object": "object", "abstain": "abstain", None: "no vote (silent)"}


def actors_by_id(actors: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {actor["id"]: actor for actor in actors}


def _who(actors: Mapping[str, dict[str, Any]], actor_id: str) -> dict[str, str]:
    actor = actors.get(actor_id)
    return {"id": actor_id, "name": actor["name"] if actor else actor_id, "role": actor["role"] if actor else "unknown"}


def act(site: Site, document: Mapping[str, Any], actors: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """Who did something, when, and the links to its entry and receipt."""
    index = int(document["index"])
    return {
        "by": _who(actors, document["actor"]),
        "index": index,
        "logged_at": document["logged_at"],
        "entry": site.entry(index),
        "receipt": site.receipt(index),
    }


def _said(site: Site, documents: Sequence[Mapping[str, Any]], actors: Mapping[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**act(site, d, actors), "text": d.get("text"), "type": d.get("type")} for d in documents]


def ballot(site: Site, proposal: Mapping[str, Any], actors: Mapping[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every electorate member's current position, with its explanation and whether it counts."""
    votes = {vote["actor"]: vote for vote in proposal["votes"]}
    if proposal["status"] == "open":
        counts = {m for m in proposal["electorate"] if actors.get(m, {}).get("standing") == "active"}
    else:
        counts = set(proposal.get("counted", []))
    rows = []
    for member in proposal["electorate"]:
        vote = votes.get(member)
        rows.append(
            {
                "member": _who(actors, member),
                "position": vote["position"] if vote else None,
                "word": POSITION_WORDS[vote["position"] if vote else None],
                "explanation": vote.get("explanation") if vote else None,
                "act": act(site, vote, actors) if vote else None,
                "counted": member in counts,
                "concerned": member in proposal.get("concerned", []),
            }
        )
    return rows


def history(site: Site, proposal_id: str, actors: Mapping[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every vote cast on the proposal in log order, marking the ones a later vote replaced."""
    votes = site.view.vote_history(proposal_id)
    last = {vote["actor"]: vote["index"] for vote in votes}
    return [
        {**act(site, vote, actors), "position": vote["position"], "explanation": vote.get("explanation"), "replaced": last[vote["actor"]] != vote["index"]}
        for vote in votes
    ]


def _linked_reference(site: Site, reference: str) -> dict[str, str]:
    section = {"P": "proposals", "D": "decisions", "A": "appeals"}.get(reference[:1])
    return {"id": reference, "href": site.page(f"{section}/{reference}.html") if section else ""}


def proposal(site: Site, found: Mapping[str, Any], actors: Mapping[str, dict[str, Any]], decision: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A proposal with its ballot, vote history, statements, tally and outcome."""
    submitted = int(found["submitted"])
    ended = found.get("ended")
    return {
        "decision": None,
        "tally": None,
        "outcome_if_closed_now": None,
        **found,
        "href": site.page(f"proposals/{found['id']}.html"),
        "proposer": _who(actors, found["proposer"]),
        "submission": {"index": submitted, "logged_at": found["submitted_at"], "entry": site.entry(submitted), "receipt": site.receipt(submitted)},
        "ending": act(site, ended, actors) if ended else None,
        "ballot": ballot(site, found, actors),
        "history": history(site, found["id"], actors),
        "said": _said(site, found["statements"], actors),
        "references": [_linked_reference(site, r) for r in found.get("references", [])],
        "effect_text": json.dumps(found.get("effect") or {}, ensure_ascii=False, sort_keys=True, indent=1) if found.get("effect") else None,
        "not_yet_voted": [_who(actors, m) for m in found.get("not_yet_voted", [])],
        "decision_href": site.page(f"decisions/{found['decision']}.html") if found.get("decision") else None,
        "attached": _said(site, decision["attachments"], actors) if decision else [],
    }


def decision(site: Site, found: Mapping[str, Any], proposal_doc: Mapping[str, Any], actors: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """A binding decision with its electorate's votes and what is attached to it."""
    adopted = int(found["adopted"])
    return {
        **found,
        "href": site.page(f"decisions/{found['id']}.html"),
        "proposal_href": site.page(f"proposals/{found['proposal']}.html"),
        "adoption": {"index": adopted, "logged_at": found["adopted_at"], "entry": site.entry(adopted), "receipt": site.receipt(adopted)},
        "certificate": site.certificate(dict(found)),
        "ballot": ballot(site, proposal_doc, actors),
        "attached": _said(site, found["attachments"], actors),
        "said": _said(site, found["statements"], actors),
    }


def matrix(site: Site, proposals: Sequence[Mapping[str, Any]], actors: Mapping[str, dict[str, Any]]) -> pictures.Matrix:
    names = {actor_id: actor["name"] for actor_id, actor in actors.items()}
    return pictures.vote_matrix(proposals, names)


def timeline(site: Site, actors: Sequence[dict[str, Any]]) -> pictures.Timeline:
    """Members' and observers' standing over time, from every version of their documents."""
    shown = [actor["id"] for actor in actors if actor["role"] in ("member", "observer")]
    versions: dict[str, list[tuple[int, dict[str, Any]]]] = {actor_id: [] for actor_id in shown}
    times: dict[int, int] = {}

    def time_of(index: int) -> int:
        if index not in times:
            times[index] = parse_time(site.ledger.log.entry(index).logged_at, "logged_at")
        return times[index]

    for index, doc in site.view.actor_history():
        if doc["id"] in versions:
            effective = doc.get("withdrawal_effective")
            seconds = None if effective is None else parse_time(effective, "withdrawal_effective")
            versions[doc["id"]].append((time_of(index), {**doc, "withdrawal_effective_seconds": seconds}))
    start = time_of(0) if site.view.size else 0
    by_id = actors_by_id(actors)
    rows = [(f"{by_id[a]['name']} ({a}, {by_id[a]['role']})", versions[a]) for a in shown]
    return pictures.membership_timeline(rows, start, max(site.view.now, start))


def _changes(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[str]:
    """What one version of an actor's document changed, in words."""
    if before is None:
        return ["joined"]
    said = []
    if after.get("suspended_by") != before.get("suspended_by"):
        said.append("suspended its participation" if after.get("suspended_by") else "resumed its participation")
    if after.get("withdrawal_effective") != before.get("withdrawal_effective") and after.get("withdrawal_effective"):
        said.append(f"announced its withdrawal, effective {after['withdrawal_effective']}")
    if after.get("revoked_by") != before.get("revoked_by") and after.get("revoked_by"):
        said.append(f"revoked by {after['revoked_by']}")
    if after.get("affiliations") != before.get("affiliations"):
        said.append("declared affiliations: " + (", ".join(after.get("affiliations") or []) or "none"))
    if len(after.get("keys", [])) != len(before.get("keys", [])):
        said.append("added a key")
    elif [k["revoked"] for k in after.get("keys", [])] != [k["revoked"] for k in before.get("keys", [])]:
        said.append("revoked a key")
    if after.get("joined") != before.get("joined"):
        said.append("joined again (a new membership)")
    return said or ["record updated"]


def membership_record(site: Site, actors: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every entry that changed a member's or observer's standing, affiliations or keys, in log order."""
    shown = {actor["id"] for actor in actors if actor["role"] in ("member", "observer")}
    latest: dict[str, dict[str, Any]] = {}
    record = []
    by_id = actors_by_id(actors)
    for index, doc in site.view.actor_history():
        if doc["id"] not in shown:
            continue
        changes = _changes(latest.get(doc["id"]), doc)
        latest[doc["id"]] = doc
        record.append({"who": _who(by_id, doc["id"]), "index": index, "entry": site.entry(index), "receipt": site.receipt(index), "changes": changes})
    return record


def actor_groups(site: Site, actors: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Actors grouped by role, each with its joining entry and keys."""
    groups = []
    for role, heading in ROLES:
        members = []
        for actor in (a for a in actors if a["role"] == role):
            joined = int(actor.get("joined", 0))
            keys = [{**k, "entry": site.entry(int(k["added"])), "revoked_entry": None if k["revoked"] is None else site.entry(int(k["revoked"]))} for k in actor["keys"]]
            members.append({**actor, "joined_entry": site.entry(joined), "key_records": keys})
        if members:
            groups.append({"role": role, "heading": heading, "actors": members})
    return groups


def appeal(site: Site, found: Mapping[str, Any], actors: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    filed = int(found["filed"])
    return {
        **found,
        "href": site.page(f"appeals/{found['id']}.html"),
        "filer_who": _who(actors, found["filer"]),
        "filing": {"index": filed, "logged_at": found["filed_at"], "entry": site.entry(filed), "receipt": site.receipt(filed)},
        "answered": _said(site, found["responses"], actors),
        "referring": [_linked_reference(site, p) for p in found["referred_by"]],
        "said": _said(site, found["statements"], actors),
        "concerned_who": [_who(actors, a) for a in found["concerned"]],
    }


def _witness_keys(site: Site) -> dict[tuple[str, bytes], tuple[str, VerifierKey]]:
    """Every member's and observer's keys (valid or not) in their witness form, by (name, key id)."""
    found = {}
    for actor in site.view.members():
        for record in actor["keys"]:
            key = VerifierKey.from_text(record["key"])
            witness = VerifierKey(key.name, COSIGNATURE_V1, key.public)
            found[(witness.name, witness.key_id)] = (actor["id"], witness)
    return found


def witnesses(site: Site, note: Note) -> list[dict[str, Any]]:
    """The cosignatures on a checkpoint: which actor, when, and whether the line verifies.

    Lines by keys this ledger does not know (and the operator's signature) are left out."""
    known = _witness_keys(site)
    shown = []
    for signature in note.signatures:
        if (signature.name, signature.key_id) not in known:
            continue
        actor, key = known[(signature.name, signature.key_id)]
        try:
            timestamp: str | None = format_time(verify_cosignature(note, key))
        except AccordError:
            timestamp = None
        shown.append({"actor": actor, "label": signature.label, "timestamp": timestamp})
    return shown


EARLIER_SHOWN, VERSIONS_READ = 10, 500
"""Earlier checkpoints on the log page, and how many stored versions (one per cosignature) are read to find them."""


def _earlier(site: Site, size: int, shown_text: str | None) -> list[dict[str, Any]]:
    """The newest version (most cosignatures) of up to EARLIER_SHOWN checkpoints before the one shown."""
    found: dict[str, Note] = {}
    for number, (_, text) in enumerate(site.ledger.log.store.checkpoints()):
        note = Note.from_text(text)
        if number >= VERSIONS_READ or len(found) > EARLIER_SHOWN:
            break
        if Checkpoint.from_text(note.text).size <= size and note.text != shown_text:
            found.setdefault(note.text, note)  # newest first: the first version seen has every cosignature
    return [
        {"size": Checkpoint.from_text(note.text).size, "root": Checkpoint.from_text(note.text).root_hash.hex(), "witnesses": witnesses(site, note)}
        for note in list(found.values())[:EARLIER_SHOWN]
    ]


def log(site: Site) -> dict[str, Any]:
    """The log page: size, latest checkpoint (as of this reading), its witnesses, earlier checkpoints."""
    log_ = site.ledger.log
    note = log_.latest_checkpoint() if site.as_of is None else log_.checkpoint_within(site.view.size)
    checkpoint = None if note is None else Checkpoint.from_text(note.text)
    return {
        "size": site.view.size,
        "checkpoint": None if checkpoint is None else {"size": checkpoint.size, "root": checkpoint.root_hash.hex(), "text": note.to_text() if note else ""},
        "witnesses": [] if note is None else witnesses(site, note),
        "earlier": _earlier(site, site.view.size, None if note is None else note.text),
        "last_entry": None if site.view.size == 0 else site.entry(site.view.size - 1),
    }
