"""Reading: status, members, proposals, decisions, appeals, one item, the log itself."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Concatenate

import click

from cli.options import (
    P,
    R,
    Session,
    as_of_option,
    emit,
    json_option,
    pass_session,
    store_option,
)
from ledger.errors import StorageError
from projections.queries import View


def reading(command: Callable[Concatenate[Session, P], R]) -> Callable[P, R]:
    """The options of every read command: the store, --json and --as-of."""
    return store_option(json_option(as_of_option(pass_session(command))))


def _view(session: Session, as_of: int | None) -> View:
    ledger = session.ledger()
    if ledger.log.size == 0:
        raise StorageError("ledger", f"no ledger in {session.store_url}: create one with accord init")
    return View(ledger, as_of)


def _at(view: View) -> dict[str, Any]:
    return {"as_of": view.size - 1, "logged_at": view.logged_at}


@click.command()
@reading
def status(session: Session, as_json: bool, as_of: int | None) -> None:
    """The ledger: origin, name, size, trust anchor, latest checkpoint.

    \b
    Example:
      accord status --json
    """
    view = _view(session, as_of)
    document = {"kind": "status", **view.status()}
    log = session.ledger().log
    latest = log.latest_checkpoint() if as_of is None else log.checkpoint_within(view.size)
    document["checkpoint"] = None if latest is None else latest.to_text()

    def render(d: dict[str, Any]) -> Iterable[str]:
        yield f"{d['name']} ({d['origin']})"
        yield f"size {d['size']}, last entry logged at {d['logged_at']}"
        yield f"trust anchor {d['anchor']}"
        yield "latest checkpoint: " + ("none yet" if d["checkpoint"] is None else d["checkpoint"].split("\n")[1] + " entries")

    emit(document, as_json, render)


@click.command()
@reading
def members(session: Session, as_json: bool, as_of: int | None) -> None:
    """Members, observers, civil society and the operator, with standing and affiliations.

    \b
    Example:
      accord members --as-of 12
    """
    view = _view(session, as_of)
    actors = view.members()

    def render(d: dict[str, Any]) -> Iterable[str]:
        for actor in d["actors"]:
            keys = sum(1 for k in actor["keys"] if k["revoked"] is None)
            extra = f" [{', '.join(actor['affiliations'])}]" if actor["affiliations"] else ""
            yield f"{actor['id']:<10} {actor['role']:<14} {actor['standing']:<10} {actor['name']}{extra} ({keys} valid key{'s' * (keys != 1)})"

    emit({"kind": "members", **_at(view), "actors": actors}, as_json, render)


def _proposal_lines(p: dict[str, Any]) -> Iterable[str]:
    line = f"{p['id']:<6} {p['status']:<9} {p['category']:<20} {p['title']}"
    if p.get("decision"):
        line += f" -> {p['decision']}"
    yield line
    tally = p.get("tally")
    if tally:
        counts = ", ".join(f"{tally[name]} {name}" for name in ("approve", "object", "abstain", "silent"))
        yield f"       {p['procedure']}, deadline {p['deadline']}: {counts}"
    if p["status"] == "open" and p.get("not_yet_voted"):
        yield f"       not yet voted: {', '.join(p['not_yet_voted'])}"


@click.command()
@click.option("--open", "open_only", is_flag=True, help="Only open proposals.")
@reading
def proposals(session: Session, as_json: bool, as_of: int | None, open_only: bool) -> None:
    """Proposals; open ones with the live tally and who has not yet voted.

    \b
    Example:
      accord proposals --open
    """
    view = _view(session, as_of)

    def render(d: dict[str, Any]) -> Iterable[str]:
        for p in d["proposals"]:
            yield from _proposal_lines(p)

    emit({"kind": "proposals", **_at(view), "proposals": view.proposals(open_only)}, as_json, render)


def _decision_lines(d: dict[str, Any]) -> Iterable[str]:
    tally = d["tally"]
    yield f"{d['id']:<5} {d['title']} ({d['category']}, {d['procedure']}; {tally['approve']} approve, {tally['abstain']} abstain, {tally['silent']} silent)"
    yield f"      adopted at entry {d['adopted']} on {d['adopted_at']}, from {d['proposal']}"
    for attachment in d["attachments"]:
        yield f"      {attachment['type']} by {attachment['actor']}: {attachment['text']}"
    for said in d["statements"]:
        yield f"      statement by {said['actor']}: {said['text']}"


@click.command()
@click.option("--last", type=click.IntRange(min=1), help="Only the last N decisions.")
@reading
def decisions(session: Session, as_json: bool, as_of: int | None, last: int | None) -> None:
    """The register of binding decisions, with interpretative statements and reservations.

    \b
    Example:
      accord decisions --last 10
    """
    view = _view(session, as_of)
    register = view.decisions(last)

    def render(d: dict[str, Any]) -> Iterable[str]:
        if not d["decisions"]:
            yield "no binding decisions yet"
        for decision in d["decisions"]:
            yield from _decision_lines(decision)

    emit({"kind": "decisions", **_at(view), "decisions": register}, as_json, render)


def _appeal_lines(a: dict[str, Any]) -> Iterable[str]:
    yield f"{a['id']:<5} {a['status']:<12} {a['urgency']:<8} {a['title']} (by {a['filer']}, {a['age_days']} days old)"
    for response in a["responses"]:
        yield f"      {response['type']} by {response['actor']}" + (f": {response['text']}" if response.get("text") else "")
    if a["referred_by"]:
        yield f"      referred to {', '.join(a['referred_by'])}"


@click.command()
@reading
def appeals(session: Session, as_json: bool, as_of: int | None) -> None:
    """Civil society's appeals, with status and age; unanswered ones say so.

    \b
    Example:
      accord appeals --json
    """
    view = _view(session, as_of)

    def render(d: dict[str, Any]) -> Iterable[str]:
        if not d["appeals"]:
            yield "no appeals"
        for a in d["appeals"]:
            yield from _appeal_lines(a)

    emit({"kind": "appeals", **_at(view), "appeals": view.appeals()}, as_json, render)


@click.command()
@click.argument("item_id", metavar="ID")
@reading
def show(session: Session, as_json: bool, as_of: int | None, item_id: str) -> None:
    """One proposal (P-n), decision (D-n), appeal (A-n) or actor, in full.

    \b
    Example:
      accord show P-3
    """
    view = _view(session, as_of)
    found: dict[str, Any] | None
    lines: Callable[[dict[str, Any]], Iterable[str]]
    if item_id.startswith("P-"):
        found, lines = view.proposal(item_id), _proposal_lines
    elif item_id.startswith("D-"):
        found, lines = view.decision(item_id), _decision_lines
    elif item_id.startswith("A-"):
        found, lines = view.appeal(item_id), _appeal_lines
    else:
        found = next((a for a in view.members() if a["id"] == item_id), None)
        lines = lambda a: [f"{a['id']}: {a['name']}, {a['role']}, {a['standing']}", *(f"  key {k['key']} added at entry {k['added']}" + (f", revoked at entry {k['revoked']}" if k["revoked"] is not None else "") for k in a["keys"])]  # noqa: E731
    if found is None:
        raise StorageError("show", f"no {item_id} on this ledger as of entry {view.size - 1}")

    def render(d: dict[str, Any]) -> Iterable[str]:
        yield from lines(d["item"])
        for key in ("text",):
            if key in d["item"]:
                yield ""
                yield d["item"][key]
        for vote in d["item"].get("votes", []):
            yield f"  {vote['actor']}: {vote['position']} (entry {vote['index']})" + (f" - {vote['explanation']}" if vote.get("explanation") else "")

    emit({"kind": "item", **_at(view), "item": found}, as_json, render)


@click.command()
@click.option("--from", "start", type=click.IntRange(min=0), default=0, show_default=True, help="First entry.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many entries.")
@reading
def log(session: Session, as_json: bool, as_of: int | None, start: int, limit: int | None) -> None:
    """The entries themselves: index, logged_at and the signed statement exactly as logged.

    \b
    Example:
      accord log --from 10 --limit 5 --json
    """
    ledger = session.ledger()
    size = ledger.log.size if as_of is None else _view(session, as_of).size
    stop = size if limit is None else min(size, start + limit)
    entries = [{"index": e.index, "logged_at": e.logged_at, "statement": e.statement} for e in ledger.entries(start, stop)]

    def render(d: dict[str, Any]) -> Iterable[str]:
        for entry in d["entries"]:
            yield f"--- entry {entry['index']}, logged at {entry['logged_at']}"
            yield entry["statement"].rstrip("\n")

    emit({"kind": "log", "size": size, "entries": entries}, as_json, render)


COMMANDS = [status, members, proposals, decisions, appeals, show, log]
