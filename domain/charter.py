"""The charter (SPEC section 5.1): the settings a ledger starts from.

Entry 0 is a ``charter`` statement whose body names the operator, the founding
members and observers, the decision categories with their procedures and
minimum voting periods, the notice period for withdrawal and the allowed skew
of ``signed_at``. Durations are written ``<n><unit>`` with unit s, m, h, d, w.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from ledger.errors import MalformedError, RuleViolation
from ledger.keys import ED25519, VerifierKey
from ledger.statement import check_actor_id

CONSENSUS = "consensus"
RATIFICATION = "ratification"
CONSENSUS_MINUS_CONCERNED = "consensus-minus-concerned"
PROCEDURES = (CONSENSUS, RATIFICATION, CONSENSUS_MINUS_CONCERNED)

OPERATOR = "operator"
"""The operator's actor id: reserved, never a member's."""

_DURATION = re.compile(r"(0|[1-9][0-9]{0,9})([smhdw])\Z")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800}


def parse_duration(text: object, field: str) -> int:
    """Seconds in a duration such as ``90d``, ``12h`` or ``0s``."""
    seconds = _seconds(text) if isinstance(text, str) else None
    if seconds is None:
        raise MalformedError(field, f"want a duration like 14d, 12h or 0s, got {text!r}")
    return seconds


@lru_cache(maxsize=256)
def _seconds(text: str) -> int | None:
    match = _DURATION.match(text)
    return None if match is None else int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


@dataclass(frozen=True)
class Category:
    """A decision category: how it is decided and its shortest voting period."""

    procedure: str
    min_period: str

    @property
    def min_period_seconds(self) -> int:
        return parse_duration(self.min_period, "min_period")

    def to_json(self) -> dict[str, str]:
        return {"procedure": self.procedure, "min_period": self.min_period}


DEFAULT_CATEGORIES: Mapping[str, Category] = {
    **{name: Category(CONSENSUS, "0s") for name in ("general", "joint-exercise", "risk-assessment", "regulation")},
    **{name: Category(RATIFICATION, "0s") for name in ("military-operation", "armament-increase", "charter-amendment")},
    **{name: Category(CONSENSUS, "0s") for name in ("admission", "observer-revocation")},
    **{name: Category(CONSENSUS_MINUS_CONCERNED, "0s") for name in ("violation-finding", "suspension", "key-revocation")},
}
DEFAULT_WITHDRAWAL_NOTICE = "90d"
DEFAULT_SIGNED_AT_SKEW = "7d"
DEFAULT_WITNESS_LAG = "5m"


@dataclass(frozen=True)
class Settings:
    """What the charter, and adopted charter amendments since, have settled."""

    origin: str
    name: str
    categories: Mapping[str, Category]
    withdrawal_notice: str
    signed_at_skew: str
    witness_lag: str = DEFAULT_WITNESS_LAG
    """How far ``logged_at`` may stray from a witness's time (SPEC 12)."""

    @property
    def withdrawal_notice_seconds(self) -> int:
        return parse_duration(self.withdrawal_notice, "withdrawal_notice")

    @property
    def signed_at_skew_seconds(self) -> int:
        return parse_duration(self.signed_at_skew, "signed_at_skew")

    @property
    def witness_lag_seconds(self) -> int:
        return parse_duration(self.witness_lag, "witness_lag")

    def amended(self, amendment: Mapping[str, Any]) -> Settings:
        """These settings with a checked amendment (see :func:`check_amendment`) applied."""
        categories = dict(self.categories)
        for name, category in amendment.get("categories", {}).items():
            categories[name] = Category(category["procedure"], category["min_period"])
        return replace(
            self,
            categories=categories,
            withdrawal_notice=amendment.get("withdrawal_notice", self.withdrawal_notice),
            signed_at_skew=amendment.get("signed_at_skew", self.signed_at_skew),
        )


def _violation(problem: str, field: str) -> RuleViolation:
    return RuleViolation("charter.invalid", problem, kind="charter", field=field)


def _require(body: Mapping[str, Any], field: str, kind: type, where: str = "") -> Any:
    value = body.get(field)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise RuleViolation(
            "statement.body", f"{where}{field} must be a {kind.__name__}, got {value!r}", field=where + field
        )
    return value


def check_categories(categories: object, field: str = "categories") -> dict[str, Category]:
    """Parse ``{"name": {"procedure": ..., "min_period": ...}}``."""
    if not isinstance(categories, dict):
        raise MalformedError(field, f"must be an object of categories, got {categories!r}")
    parsed = {}
    for name, category in categories.items():
        if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9-]{0,62}", name):
            raise MalformedError(field, f"category name must be lowercase words joined by '-', got {name!r}")
        if not isinstance(category, dict) or set(category) != {"procedure", "min_period"}:
            raise MalformedError(f"{field}.{name}", "want exactly procedure and min_period")
        if category["procedure"] not in PROCEDURES:
            raise MalformedError(
                f"{field}.{name}.procedure", f"got {category['procedure']!r}, want one of {', '.join(PROCEDURES)}"
            )
        parse_duration(category["min_period"], f"{field}.{name}.min_period")
        parsed[name] = Category(category["procedure"], category["min_period"])
    return parsed


def check_amendment(amendment: object) -> dict[str, Any]:
    """A charter amendment: any of categories, withdrawal_notice, signed_at_skew."""
    allowed = {"categories", "withdrawal_notice", "signed_at_skew"}
    if not isinstance(amendment, dict) or not amendment or not set(amendment) <= allowed:
        raise MalformedError("amendment", f"want an object with some of {sorted(allowed)}, got {amendment!r}")
    if "categories" in amendment:
        check_categories(amendment["categories"], "amendment.categories")
    for field in ("withdrawal_notice", "signed_at_skew"):
        if field in amendment:
            parse_duration(amendment[field], f"amendment.{field}")
    return amendment


def actor_key(text: object, origin: str, actor: str, field: str) -> VerifierKey:
    """A verifier key that must be named ``<origin>/<actor>`` (the operator's: ``<origin>``)."""
    if not isinstance(text, str):
        raise MalformedError(field, f"want a verifier key, got {text!r}")
    key = VerifierKey.from_text(text)
    want = origin if actor == OPERATOR else f"{origin}/{actor}"
    if key.name != want:
        raise MalformedError(field, f"key name got {key.name!r}, want {want!r}")
    if key.sig_type != ED25519:
        raise MalformedError(field, "want an Ed25519 key (type 0x01)")
    return key


@dataclass(frozen=True)
class Founder:
    """A founding member or observer as the charter names it."""

    id: str
    name: str
    role: str
    keys: tuple[VerifierKey, ...]
    affiliations: tuple[str, ...]


def parse_founders(body: Mapping[str, Any], origin: str) -> list[Founder]:
    founders: list[Founder] = []
    seen: set[str] = set()
    for group, role in (("members", "member"), ("observers", "observer")):
        listed = body.get(group, [])
        if not isinstance(listed, list) or (role == "member" and not listed):
            raise _violation(f"{group} must be a {'non-empty ' if role == 'member' else ''}list", group)
        for position, founder in enumerate(listed):
            where = f"{group}[{position}]"
            if not isinstance(founder, dict):
                raise _violation("must be an object", where)
            actor = check_actor_id(founder.get("id"), f"{where}.id")
            if actor == OPERATOR or actor in seen:
                raise _violation(f"actor id {actor!r} is reserved or listed twice", f"{where}.id")
            seen.add(actor)
            name = _require(founder, "name", str, f"{where}.")
            keys = _require(founder, "keys", list, f"{where}.")
            if not keys:
                raise _violation("a founder needs at least one key", f"{where}.keys")
            affiliations = founder.get("affiliations", [])
            if not isinstance(affiliations, list) or not all(isinstance(a, str) and a for a in affiliations):
                raise _violation("affiliations must be a list of names", f"{where}.affiliations")
            founders.append(
                Founder(
                    id=actor,
                    name=name,
                    role=role,
                    keys=tuple(actor_key(k, origin, actor, f"{where}.keys") for k in keys),
                    affiliations=tuple(affiliations),
                )
            )
    return founders


def parse_settings(body: Mapping[str, Any], origin: str) -> Settings:
    name = _require(body, "name", str)
    categories = dict(DEFAULT_CATEGORIES)
    categories.update(check_categories(body.get("categories", {})))
    notice = body.get("withdrawal_notice", DEFAULT_WITHDRAWAL_NOTICE)
    skew = body.get("signed_at_skew", DEFAULT_SIGNED_AT_SKEW)
    parse_duration(notice, "withdrawal_notice")
    lag = body.get("witness_lag", DEFAULT_WITNESS_LAG)
    parse_duration(skew, "signed_at_skew")
    parse_duration(lag, "witness_lag")
    return Settings(origin=origin, name=name, categories=categories, withdrawal_notice=notice, signed_at_skew=skew, witness_lag=lag)
