"""The fixed shapes of the JSON documents commands print (``--json``), as types.

Each is what the command builds, key for key and in the order printed; the
tests pin the bytes, these pin the fields.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict


class Failure(TypedDict):
    """What went wrong: the component (or ``usage``), the one-line message, the entry index if any."""

    component: str
    message: str
    index: int | None


class FailureDocument(TypedDict):
    """What ``--json`` prints on stdout for a refusal."""

    version: int
    ok: Literal[False]
    error: Failure


class CheckpointSummary(TypedDict):
    size: int
    root: str
    """Hex."""


class Verification(TypedDict):
    """What ``accord verify --json`` prints (beside ``version``)."""

    kind: Literal["verification"]
    ok: Literal[True]
    source: str
    entries: int
    checked_from: int
    anchor: str
    """The charter's leaf hash, hex."""
    checkpoint: CheckpointSummary
    cosigners: list[str]
    views: NotRequired[bool]
    """Present (true) when a store's views were checked against the log."""
    policy: NotRequired[dict[str, int]]
    """With --policy: the policy's witnesses that cosigned, with their times."""
    witnessed_time: NotRequired[list[str]]
    """With --policy or --witness: the trusted witnesses whose times bounded every logged_at (SPEC 12)."""
