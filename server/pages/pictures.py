"""The layout of the register's two pictures: the vote matrix and the membership timeline.

Pure: documents from the views in, coordinates and words out. The SVG itself
is written by the templates (``matrix.svg``, ``timeline.svg``), escaped like
every other page, so a hostile name cannot become markup in a picture either.
Every mark carries its meaning as text as well as colour.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ledger.timefmt import format_time

POSITIONS = ("approve", "object", "abstain")
SILENT = "silent"
OUTSIDE = "outside"
"""A member who is not in the proposal's electorate (joined later, or left before)."""

CELL_WIDTH, CELL_HEIGHT, LABEL_WIDTH, HEADER_HEIGHT = 76, 26, 190, 30
TIMELINE_WIDTH, ROW_HEIGHT, AXIS_HEIGHT = 640, 26, 34
MIN_LABELLED_SEGMENT = 72
"""Pixels: narrower timeline segments carry their standing in their tooltip and the description only."""


@dataclass(frozen=True)
class Cell:
    x: int
    y: int
    member: str
    proposal: str
    mark: str
    """approve, object, abstain, silent or outside: the cell's class and its word."""

    @property
    def word(self) -> str:
        return "-" if self.mark == OUTSIDE else self.mark


@dataclass(frozen=True)
class Column:
    x: int
    proposal: str
    title: str


@dataclass(frozen=True)
class Row:
    y: int
    label: str


@dataclass(frozen=True)
class Matrix:
    width: int
    height: int
    columns: list[Column]
    rows: list[Row]
    cells: list[Cell]
    summary: str


def vote_matrix(proposals: Sequence[Mapping[str, Any]], names: Mapping[str, str]) -> Matrix:
    """Members (rows) by proposals (columns): each member's current position on each proposal.

    ``names`` maps member ids to names. Rows are every member in any of the
    proposals' electorates. (The picture holds no links: an image with links
    inside is a nest of controls to assistive technology; the table beside
    it links each proposal.)
    """
    members = sorted({member for proposal in proposals for member in proposal["electorate"]})
    columns = [Column(LABEL_WIDTH + i * CELL_WIDTH, p["id"], p["title"]) for i, p in enumerate(proposals)]
    rows = [Row(HEADER_HEIGHT + i * CELL_HEIGHT, f"{names.get(m, m)} ({m})") for i, m in enumerate(members)]
    cells = []
    sentences = []
    for proposal, column in zip(proposals, columns):
        positions = {vote["actor"]: vote["position"] for vote in proposal["votes"]}
        said: dict[str, list[str]] = {}
        for member, row in zip(members, rows):
            if member not in proposal["electorate"]:
                mark = OUTSIDE
            else:
                mark = positions.get(member, SILENT)
                said.setdefault(mark, []).append(member)
            cells.append(Cell(column.x, row.y, member, proposal["id"], mark))
        counts = "; ".join(f"{mark}: {', '.join(who)}" for mark, who in sorted(said.items()))
        sentences.append(f"{proposal['id']} ({proposal['title']}): {counts or 'no electorate'}.")
    summary = " ".join(sentences) or "No proposals."
    return Matrix(LABEL_WIDTH + len(columns) * CELL_WIDTH + 8, HEADER_HEIGHT + len(rows) * CELL_HEIGHT + 4, columns, rows, cells, summary)


@dataclass(frozen=True)
class Segment:
    x: int
    y: int
    width: int
    standing: str
    since: str
    until: str

    @property
    def labelled(self) -> bool:
        return self.width >= MIN_LABELLED_SEGMENT


@dataclass(frozen=True)
class Tick:
    x: int
    label: str
    anchor: str


@dataclass(frozen=True)
class Timeline:
    width: int
    height: int
    rows: list[Row]
    segments: list[Segment]
    ticks: list[Tick]
    axis_y: int
    summary: str


def _periods(versions: Sequence[tuple[int, Mapping[str, Any]]], end: int) -> list[tuple[int, int, str]]:
    """(from, until, standing) of one actor, from its document's versions (time, document)."""
    periods: list[tuple[int, int, str]] = []
    for number, (start, doc) in enumerate(versions):
        stop = versions[number + 1][0] if number + 1 < len(versions) else end
        effective = doc.get("withdrawal_effective_seconds")
        if doc.get("revoked_by"):
            periods.append((start, stop, "revoked"))
        elif effective is not None:
            if start < effective:
                periods.append((start, min(stop, effective), "withdrawing"))
            if stop > effective:
                periods.append((max(start, effective), stop, "withdrawn"))
        else:
            periods.append((start, stop, "suspended" if doc.get("suspended_by") else "active"))
    merged: list[tuple[int, int, str]] = []
    for period in periods:
        if merged and merged[-1][2] == period[2] and merged[-1][1] == period[0]:
            merged[-1] = (merged[-1][0], period[1], period[2])
        elif period[1] > period[0] or not merged:
            merged.append(period)
    return merged


def membership_timeline(actors: Sequence[tuple[str, Sequence[tuple[int, Mapping[str, Any]]]]], start: int, end: int) -> Timeline:
    """One row per actor (its label, and its document's versions as (time in seconds, document),
    oldest first), from ``start`` to ``end`` (seconds): when it was active, suspended, withdrawing
    (the notice period), withdrawn or revoked."""
    span = max(end - start, 1)

    def x_of(time: int) -> int:
        return LABEL_WIDTH + round((min(max(time, start), end) - start) * TIMELINE_WIDTH / span)

    rows, segments, sentences = [], [], []
    for number, (label, versions) in enumerate(actors):
        y = AXIS_HEIGHT + number * ROW_HEIGHT
        rows.append(Row(y, label))
        periods = _periods(versions, end)
        words = []
        for since, until, standing in periods:
            x = x_of(since)
            segments.append(Segment(x, y, max(x_of(until) - x, 2), standing, format_time(since), format_time(until)))
            words.append(f"{standing} from {format_time(since)}")
        sentences.append(f"{label}: {', '.join(words) or 'no record'}.")
    ticks = [
        Tick(LABEL_WIDTH, format_time(start), "start"),
        Tick(LABEL_WIDTH + TIMELINE_WIDTH // 2, format_time(start + span // 2), "middle"),
        Tick(LABEL_WIDTH + TIMELINE_WIDTH, format_time(end), "end"),
    ]
    height = AXIS_HEIGHT + len(rows) * ROW_HEIGHT + 6
    return Timeline(LABEL_WIDTH + TIMELINE_WIDTH + 100, height, rows, segments, ticks, AXIS_HEIGHT - 10, " ".join(sentences) or "No members.")
