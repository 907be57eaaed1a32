"""RFC 3339 UTC timestamps at whole seconds: ``2026-11-24T12:00:00Z``.

The one form Accord writes and accepts in signed bytes, so that times compare
as strings and as numbers alike.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from ledger.errors import MalformedError

_FORM = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\Z")


def parse_time(text: str, field: str) -> int:
    """Seconds since the Unix epoch for an RFC 3339 UTC time at whole seconds.

    ``field`` names the field in the error (``logged_at``, ``signed_at``).
    """
    if not isinstance(text, str) or not _FORM.match(text):
        raise MalformedError(field, f"want RFC 3339 UTC time like 2026-11-24T12:00:00Z, got {text!r}")
    try:
        moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError as error:
        raise MalformedError(field, f"no such time {text!r}") from error
    return int(moment.timestamp())


def format_time(seconds: int) -> str:
    """The canonical text of a time given in seconds since the Unix epoch."""
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
