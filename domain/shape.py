"""Reading a statement body's shape: its fields present and known, each of its type.

A :class:`Shape` reads one body for one kind and refuses, as a RuleViolation
naming the field, what no ledger state could make right: a missing or
unknown field, a number where text is wanted, a position that is not one,
a boolean where an integer is wanted. What needs the ledger (does ``P-3``
exist, is the voter in its electorate) is the handlers' part.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from domain.charter import actor_key
from ledger.errors import MalformedError, RuleViolation
from ledger.keys import ED25519, VerifierKey
from ledger.statement import Statement, check_actor_id

REFERENCE = re.compile(r"[PDA]-[1-9][0-9]{0,15}\Z")
"""How proposals, decisions and appeals are named: ASCII digits only, no leading zero."""


def is_reference(value: object, prefixes: str = "PDA") -> bool:
    """Whether ``value`` names a proposal, decision or appeal (of one of ``prefixes``) in form."""
    return isinstance(value, str) and value[:1] in prefixes and REFERENCE.match(value) is not None


class Shape:
    """One statement's body under reading, for its kind."""

    def __init__(self, statement: Statement, required: Iterable[str] = (), optional: Iterable[str] = ()) -> None:
        self.statement = statement
        self.kind = statement.kind
        self.body: Mapping[str, Any] = statement.body
        self.fields(required, optional)

    def violation(self, rule: str, problem: str, field: str | None = None) -> RuleViolation:
        return RuleViolation(rule, problem, kind=self.kind, field=field)

    def malformed(self, name: str, problem: str) -> RuleViolation:
        return self.violation("statement.body", problem, f"body.{name}")

    def fields(self, required: Iterable[str], optional: Iterable[str] = ()) -> None:
        """The body holds every required field and nothing unknown."""
        if type(required) is tuple and type(optional) in (tuple, set, frozenset):
            # What almost every body is: a few fields, all known, none missing (no sets made).
            # Loops, not all() over generators: a body is read once an entry.
            body = self.body
            for name in required:
                if name not in body:
                    break
            else:
                for name in body:
                    if name not in required and name not in optional:
                        break
                else:
                    return
        wanted = set(required)
        allowed = wanted | set(optional)
        for name in sorted(wanted - set(self.body)):
            raise self.malformed(name, f"missing field {name}")
        for name in sorted(set(self.body) - allowed):
            raise self.malformed(name, f"unknown field {name}")

    def text(self, name: str, *, empty: bool = False) -> str:
        value = self.body.get(name)
        if not isinstance(value, str) or (not empty and not value.strip()):
            raise self.malformed(name, f"{name} must be {'a' if empty else 'a non-empty'} string, got {value!r}")
        return value

    def optional_text(self, name: str) -> str | None:
        return self.text(name, empty=True) if name in self.body else None

    def choice(self, name: str, choices: Sequence[str]) -> str:
        value = self.body.get(name)
        if not isinstance(value, str) or value not in choices:
            raise self.malformed(name, f"{name} got {value!r}, want one of {', '.join(choices)}")
        return value

    def ids(self, name: str) -> tuple[str, ...]:
        """A list of distinct actor ids (absent: none)."""
        value = self.body.get(name, [])
        if not isinstance(value, list):
            raise self.malformed(name, f"{name} must be a list, got {value!r}")
        for item in value:
            check_actor_id(item, f"body.{name}")
        if len(set(value)) != len(value):
            raise self.malformed(name, f"{name} lists an id twice")
        return tuple(value)

    def names(self, name: str, problem: str, value: object = None) -> tuple[str, ...]:
        """A list of non-empty strings (affiliations, countries); ``problem`` says what is wanted."""
        listed = self.body.get(name) if value is None else value
        if not isinstance(listed, list) or not all(isinstance(item, str) and item.strip() for item in listed):
            raise self.malformed(name, problem)
        return tuple(listed)

    def reference(self, name: str, prefixes: str) -> str:
        """A ``P-n``/``D-n``/``A-n`` of one of ``prefixes``, in form (whether it exists is the ledger's to say)."""
        value = self.body.get(name)
        if not is_reference(value, prefixes):
            raise self.unknown_reference(name, value, prefixes)
        assert isinstance(value, str)
        return value

    def unknown_reference(self, name: str, value: object, prefixes: str) -> RuleViolation:
        want = "/".join(f"{prefix}-n" for prefix in prefixes)
        return self.violation(f"{self.kind}.unknown-reference", f"{name} {value!r} is not a {want} on this log", f"body.{name}")

    def integer(self, name: str, what: str) -> int:
        """A non-negative integer: never a boolean, though Python's ``True == 1``."""
        value = self.body.get(name)
        if type(value) is not int or value < 0:
            raise self.malformed(name, f"{name} must be {what} (an integer), got {value!r}")
        return value

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.body.get(name, default)
        if not isinstance(value, bool):
            raise self.malformed(name, f"{name} must be true or false, got {value!r}")
        return value

    def key(self, name: str, actor: str | None = None, value: object = None, *, named: bool = True) -> VerifierKey:
        """An Ed25519 verifier key named for ``actor`` (the statement's own by default) on this origin;
        not ``named``: of any name (the caller checks it)."""
        text = self.body.get(name) if value is None else value
        try:
            if named:
                return actor_key(text, self.statement.origin, self.statement.actor if actor is None else actor, f"body.{name}")
            if not isinstance(text, str):
                raise MalformedError(f"body.{name}", f"want a verifier key, got {text!r}")
            key = VerifierKey.from_text(text)
            if key.sig_type != ED25519:
                raise MalformedError(f"body.{name}", "want an Ed25519 key (type 0x01)")
            return key
        except MalformedError as error:
            raise self.malformed(name, error.problem) from error

    def keys(self, name: str, actor: str | None = None, value: object = None, problem: str | None = None) -> tuple[VerifierKey, ...]:
        """A non-empty list of distinct verifier keys named for ``actor``."""
        listed = self.body.get(name) if value is None else value
        if not isinstance(listed, list) or not listed:
            raise self.malformed(name, problem or f"{name} must list at least one verifier key")
        keys = tuple(self.key(name, actor, text) for text in listed)
        if len({key.key_id for key in keys}) != len(keys):
            raise self.malformed(name, "a key is listed twice")
        return keys
