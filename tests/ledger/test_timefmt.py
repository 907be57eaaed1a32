"""Times in the one RFC 3339 form: read and written as datetime reads and writes them."""

from __future__ import annotations

import calendar
import random
import re
from datetime import datetime, timezone

import pytest

from ledger.errors import MalformedError
from ledger.timefmt import format_time, parse_time


def datetime_seconds(text: str) -> int | None:
    """The reference, written apart from the code under test: six ASCII fields, then datetime's own calendar."""
    fields = re.fullmatch(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z", text)
    if fields is None:
        return None
    try:
        return calendar.timegm(datetime(*map(int, fields.groups())).timetuple())
    except ValueError:
        return None


def datetime_text(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


EDGES = [
    "2026-11-24T12:00:00Z", "0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2024-02-29T00:00:00Z",
    "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2000-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z",
    "2026-01-00T00:00:00Z", "2026-04-31T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T23:60:00Z", "2026-01-01T23:59:60Z",
    "2026-01-01T23:59:59z", "2026-01-01 23:59:59Z", "2026-01-01T23:59:59Z\n", "2026-01-01T23:59:59+00:00", "２026-01-01T00:00:00Z",
]


def test_parse_time_reads_every_time_as_datetime_does_and_refuses_the_rest() -> None:
    rng = random.Random(17)
    texts = EDGES + [
        f"{rng.randint(0, 9999):04}-{rng.randint(0, 13):02}-{rng.randint(0, 32):02}T{rng.randint(0, 25):02}:{rng.randint(0, 61):02}:{rng.randint(0, 61):02}Z"
        for _ in range(20_000)
    ]
    for text in texts:
        want = datetime_seconds(text)
        if want is None:
            with pytest.raises(MalformedError):
                parse_time(text, "logged_at")
        else:
            assert parse_time(text, "logged_at") == want, text


def test_format_time_writes_every_time_as_strftime_does() -> None:
    rng = random.Random(18)
    edges = [0, -1, 1, 86_399, 86_400, -86_400, -86_401, 253_402_300_799, -62_135_596_800]
    for seconds in edges + [rng.randint(-62_135_596_800, 253_402_300_799) for _ in range(20_000)]:
        assert format_time(seconds) == datetime_text(seconds), seconds
    for beyond in (253_402_300_800, -62_135_596_801):
        with pytest.raises((ValueError, OverflowError)):
            datetime_text(beyond)
        with pytest.raises((ValueError, OverflowError)):
            format_time(beyond)
