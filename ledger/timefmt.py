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
    # Not cached: a log seldom repeats a time (every entry has two of its own), and a cache's
    # bookkeeping on every miss cost more than reading the text again.
    if not _FORM.match(text):
        return None
    try:
        return int(datetime.fromisoformat(text).timestamp())
    except ValueError:
        return None


def parse_time(text: str, field: str) -> int:
    """Seconds since the Unix epoch for an RFC 3339 UTC time at whole seconds.

    ``field`` names the field in the error (``logged_at``, ``signed_at``).
    """
    seconds = _seconds(text) if isinstance(text, str) else None
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
