"""Outside JSON documents, read strictly: bounded, typed, and never a traceback.

Every JSON document that comes from outside the process (a bundle's manifest,
a saved verification, an evidence file, a certificate, a command-line value)
is read through :func:`load_document`: its size and nesting are bounded, keys
may not repeat, ``NaN``/``Infinity`` and numbers that are not exact integers
are refused, and fields are taken out with :class:`Fields`, whose getters
check the type (a JSON ``true`` is never the integer ``1``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, NoReturn

from ledger.errors import MalformedError

MAX_DEPTH = 64
"""JSON nested deeper than this is refused everywhere (SPEC 10)."""

MAX_ARGUMENT = 65_536
"""A JSON value given on the command line: no larger than an entry can be."""

SAFE_INTEGER = 2**53 - 1
"""Integers beyond IEEE 754 double precision are not exact in JSON (RFC 8785)."""


def exact_int(value: object, component: str, field: str, minimum: int = 0, maximum: int = SAFE_INTEGER) -> int:
    """``value`` if it is an integer (not a boolean) in ``minimum..maximum``, else MalformedError naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedError(component, f"{field} got {_shown(value)}, want an integer")
    if not minimum <= value <= maximum:
        raise MalformedError(component, f"{field} got {value}, want {minimum} to {maximum}")
    return value


_JSON_NAMES: dict[type, str] = {dict: "object", list: "list"}


def _shown(value: object) -> str:
    text = json.dumps(value) if isinstance(value, (bool, str, int, float)) or value is None else f"a JSON {_JSON_NAMES.get(type(value), type(value).__name__)}"
    return text if len(text) <= 40 else text[:37] + "..."


def check_depth(value: Any, component: str, limit: int = MAX_DEPTH) -> None:
    """Refuse a parsed JSON value nested deeper than ``limit`` (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            raise MalformedError(component, f"JSON nested deeper than {limit} levels")
        stack.extend((child, depth + 1) for child in children)


def might_be_deep(data: str | bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether ``data`` holds enough brackets to nest deeper than ``limit``: a cheap test before a walk."""
    if isinstance(data, str):
        return data.count("[") + data.count("{") > limit
    return data.count(b"[") + data.count(b"{") > limit


def _pairs(component: str) -> Any:
    def object_from(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        document: dict[str, Any] = {}
        for key, value in pairs:
            if key in document:
                raise MalformedError(component, f"duplicate key {key!r}")
            document[key] = value
        return document

    return object_from


def _refuse(component: str, what: str) -> Any:
    def refuse(text: str) -> NoReturn:
        raise MalformedError(component, f"{what} {text[:40]} is not allowed: numbers must be exact integers")

    return refuse


def _integer(component: str) -> Any:
    def integer(text: str) -> int:
        if len(text.lstrip("-")) > 16:
            raise MalformedError(component, f"integer {text[:40]} is beyond JSON's exact integers")
        value = int(text)
        if not -SAFE_INTEGER <= value <= SAFE_INTEGER:
            raise MalformedError(component, f"integer {text} is beyond JSON's exact integers")
        return value

    return integer


def parse_json(text: str | bytes, component: str, max_bytes: int) -> Any:
    """Parse outside JSON strictly (see the module's doc); ``component`` names the document in errors."""
    if len(text) > max_bytes:
        raise MalformedError(component, f"document of {len(text)} bytes, want at most {max_bytes}")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            raise MalformedError(component, f"not UTF-8 at byte {error.start}") from error
    try:
        value = json.loads(
            text,
            object_pairs_hook=_pairs(component),
            parse_float=_refuse(component, "number"),
            parse_int=_integer(component),
            parse_constant=_refuse(component, "constant"),
        )
    except json.JSONDecodeError as error:
        raise MalformedError(component, f"not JSON: {error.msg} at char {error.pos}") from error
    except RecursionError as error:
        raise MalformedError(component, f"JSON nested deeper than {MAX_DEPTH} levels") from error
    if might_be_deep(text):
        check_depth(value, component)
    return value


def load_document(text: str | bytes, component: str, max_bytes: int) -> Fields:
    """A JSON object from outside, read strictly, as :class:`Fields`."""
    value = parse_json(text, component, max_bytes)
    if not isinstance(value, dict):
        raise MalformedError(component, f"got a JSON {type(value).__name__}, want an object")
    return Fields(value, component)


class Fields:
    """A JSON object's fields, taken out with their types checked; errors name the field."""

    def __init__(self, document: dict[str, Any], component: str, prefix: str = "") -> None:
        self.document = document
        self.component = component
        self.prefix = prefix

    def _name(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def _get(self, name: str) -> Any:
        if name not in self.document:
            raise MalformedError(self.component, f"{self._name(name)} is missing")
        return self.document[name]

    def has(self, name: str) -> bool:
        return name in self.document

    def integer(self, name: str, minimum: int = 0, maximum: int = SAFE_INTEGER) -> int:
        return exact_int(self._get(name), self.component, self._name(name), minimum, maximum)

    def text(self, name: str) -> str:
        value = self._get(name)
        if not isinstance(value, str):
            raise MalformedError(self.component, f"{self._name(name)} got {_shown(value)}, want a string")
        return value

    def optional_text(self, name: str) -> str | None:
        return None if self.document.get(name) is None else self.text(name)

    def array(self, name: str) -> list[Any]:
        value = self._get(name)
        if not isinstance(value, list):
            raise MalformedError(self.component, f"{self._name(name)} got {_shown(value)}, want a list")
        return value

    def texts(self, name: str) -> list[str]:
        items = self.array(name)
        for number, item in enumerate(items):
            if not isinstance(item, str):
                raise MalformedError(self.component, f"{self._name(name)}[{number}] got {_shown(item)}, want a string")
        return items

    def member(self, name: str) -> Fields:
        value = self._get(name)
        if not isinstance(value, dict):
            raise MalformedError(self.component, f"{self._name(name)} got {_shown(value)}, want an object")
        return Fields(value, self.component, f"{self._name(name)}.")

    def members(self, name: str) -> Iterator[Fields]:
        for number, item in enumerate(self.array(name)):
            if not isinstance(item, dict):
                raise MalformedError(self.component, f"{self._name(name)}[{number}] got {_shown(item)}, want an object")
            yield Fields(item, self.component, f"{self._name(name)}[{number}].")

    def expect(self, name: str, wanted: object) -> None:
        """Refuse unless field ``name`` is exactly ``wanted`` (same type: ``true`` is not ``1``)."""
        value = self.document.get(name)
        if type(value) is not type(wanted) or value != wanted:
            raise MalformedError(self.component, f"{self._name(name)} got {_shown(value)}, want {_shown(wanted)}")
