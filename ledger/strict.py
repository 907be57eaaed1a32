"""Strict JSON types at the boundaries: a JSON ``true`` is never the integer 1.

Python's ``True == 1`` (and ``isinstance(True, int)``) would let a body field
``"submission": true`` pass for entry 1; another implementation of the rules
would refuse it, so two verifiers could disagree on one log. Every integer
read from outside bytes goes through :func:`strict_int`.
"""

from __future__ import annotations

from ledger.errors import MalformedError


def is_int(value: object) -> bool:
    """Whether ``value`` is a JSON integer: an ``int`` and not a ``bool``."""
    return type(value) is int


def strict_int(value: object, field: str, *, minimum: int | None = 0, maximum: int | None = None) -> int:
    """``value`` if it is an integer (never a boolean) within the bounds, else MalformedError naming ``field``."""
    if type(value) is not int:
        raise MalformedError(field, f"want an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise MalformedError(field, f"want an integer of at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise MalformedError(field, f"want an integer of at most {maximum}, got {value}")
    return value
