"""RFC 3339 UTC timestamps at whole seconds: ``2026-11-24T12:00:00Z``.

The one form Accord writes and accepts in signed bytes, so that times compare
as strings and as numbers alike.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from functools import lru_cache

from ledger.errors import MalformedError

_FORM = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\Z", re.ASCII)


_DAY = 86_400


def _seconds(text: str) -> int | None:
    if not _FORM.match(text):
        return None
    try:
        return int(datetime.fromisoformat(text).timestamp())
    except ValueError:
        return None


_LAST_READ: list[tuple[str, int | None]] = [("", None)]
"""The time read last and its seconds, one tuple (read and replaced whole, so threads never see
half of one): an entry's logged_at is often its statement's signed_at, read just before. Not a
larger cache: a log seldom repeats a time otherwise, and a cache's bookkeeping on every miss
cost more than reading the text again."""


def parse_time(text: str, field: str) -> int:
    """Seconds since the Unix epoch for an RFC 3339 UTC time at whole seconds.

    ``field`` names the field in the error (``logged_at``, ``signed_at``).
    """
    if isinstance(text, str):
        last, seconds = _LAST_READ[0]
        if text != last:
            seconds = _seconds(text)
            _LAST_READ[0] = (text, seconds)
    else:
        seconds = None
    if seconds is None:
        if isinstance(text, str) and _FORM.match(text):
            raise MalformedError(field, f"no such time {text!r}")
        raise MalformedError(field, f"want RFC 3339 UTC time like 2026-11-24T12:00:00Z, got {text!r}")
    return seconds


def format_time(seconds: int) -> str:
    """The canonical text of a time given in seconds since the Unix epoch."""
    day, time_of_day = divmod(seconds, _DAY)
    hour, rest = divmod(time_of_day, 3600)
    return f"{_day_text(day)}T{hour:02d}:{rest // 60:02d}:{rest % 60:02d}Z"


@lru_cache(maxsize=4096)
def _day_text(day: int) -> str:
    """``YYYY-MM-DD`` of the day ``day`` days from the epoch (UTC), as strftime writes it: the date of
    a time is made once a day, the time of day from its digits."""
    return datetime.fromtimestamp(day * _DAY, tz=timezone.utc).strftime("%Y-%m-%d")
