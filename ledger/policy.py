"""Witness policies (c2sp.org/tlog-policy): which logs, which witnesses, and what quorum of them.

A policy file is lines of ``log <vkey> [<url>]``, ``witness <name> <vkey>
[<url>]``, ``group <name> <k>|any|all <member>...`` and exactly one
``quorum <name>``; items are separated by spaces and tabs, ``#`` starts a
comment line, blank lines are ignored. A group or the quorum may only name
what earlier lines defined, which rules out cycles; ``none`` is the quorum
that asks for no cosignature. Parsing is strict: anything else is refused
with the line number, so that a typo can never silently weaken a quorum.

Evaluation (:meth:`Policy.check`) verifies the policy witnesses'
cosignatures on a checkpoint note and says whether they meet the quorum.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ledger.checkpoint import verify_cosignature
from ledger.errors import AccordError, MalformedError, SignatureError
from ledger.keys import COSIGNATURE_V1, ED25519, VerifierKey
from ledger.note import Note, known_signers

NONE = "none"
MAX_POLICY_BYTES = 64 * 1024
# tlog-policy asks for at least 32 of each; more than this is not a policy a person wrote.
MAX_ITEMS = 256
_FORBIDDEN = re.compile("[\x00-\x08\x0a-\x1f\x7f]")
_SEPARATOR = re.compile("[ \t]+")
_THRESHOLD = re.compile(r"[1-9][0-9]{0,5}")


def _fail(number: int, problem: str) -> MalformedError:
    return MalformedError("policy", f"line {number}: {problem}")


@dataclass(frozen=True)
class PolicyLog:
    key: VerifierKey
    url: str | None = None


@dataclass(frozen=True)
class PolicyWitness:
    name: str
    key: VerifierKey
    url: str | None = None


@dataclass(frozen=True)
class Group:
    """Witnessed when at least ``threshold`` of ``members`` (witnesses or groups) are."""

    name: str
    threshold: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    logs: tuple[PolicyLog, ...]
    witnesses: Mapping[str, PolicyWitness]
    groups: Mapping[str, Group]
    quorum: str
    """A witness's name, a group's name, or ``none``."""

    @classmethod
    def from_text(cls, data: str | bytes) -> Policy:
        """Parse a policy file; MalformedError naming the line for anything tlog-policy does not allow."""
        raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
        if len(raw) > MAX_POLICY_BYTES:
            raise MalformedError("policy", f"file of {len(raw)} bytes, want at most {MAX_POLICY_BYTES}")
        if raw and not raw.endswith(b"\n"):
            raise MalformedError("policy", "last line does not end in a newline")
        # Octets with the high bit set are opaque: names compare byte for byte.
        text = raw.decode("utf-8", "surrogateescape")
        logs: list[PolicyLog] = []
        witnesses: dict[str, PolicyWitness] = {}
        groups: dict[str, Group] = {}
        members_used: set[str] = set()
        quorum: str | None = None
        for number, line in enumerate(text.split("\n")[:-1], 1):
            forbidden = _FORBIDDEN.search(line)
            if forbidden is not None:
                raise _fail(number, f"control character 0x{ord(forbidden.group()):02x}, want only tab and newline")
            items = _SEPARATOR.split(line.strip(" \t"))
            if items == [""] or items[0].startswith("#"):
                continue
            keyword, arguments = items[0], items[1:]
            if keyword == "log":
                logs.append(_log(number, arguments, logs))
            elif keyword == "witness":
                witness = _witness(number, arguments, witnesses, groups)
                witnesses[witness.name] = witness
            elif keyword == "group":
                group = _group(number, arguments, witnesses, groups, members_used)
                groups[group.name] = group
            elif keyword == "quorum":
                if quorum is not None:
                    raise _fail(number, "a second quorum line: want exactly one")
                if len(arguments) != 1:
                    raise _fail(number, f"quorum takes one name, got {len(arguments)}")
                if arguments[0] != NONE and arguments[0] not in witnesses and arguments[0] not in groups:
                    raise _fail(number, f"quorum names {arguments[0]!r}, which no earlier line defines")
                quorum = arguments[0]
            else:
                raise _fail(number, f"unknown keyword {keyword!r}, want log, witness, group or quorum")
            if max(len(logs), len(witnesses), len(groups)) > MAX_ITEMS:
                raise _fail(number, f"more than {MAX_ITEMS} logs, witnesses or groups")
        if quorum is None:
            raise MalformedError("policy", "no quorum line: want exactly one (quorum none asks for no cosignature)")
        return cls(tuple(logs), witnesses, groups, quorum)

    def to_text(self) -> str:
        lines = [" ".join(["log", log.key.to_text(), *([log.url] if log.url else [])]) for log in self.logs]
        lines += [" ".join(["witness", w.name, w.key.to_text(), *([w.url] if w.url else [])]) for w in self.witnesses.values()]
        for group in self.groups.values():
            threshold = "all" if group.threshold == len(group.members) else str(group.threshold)
            lines.append(" ".join(["group", group.name, threshold, *group.members]))
        lines.append(f"quorum {self.quorum}")
        return "".join(line + "\n" for line in lines)

    @property
    def witness_keys(self) -> list[VerifierKey]:
        return [witness.key for witness in self.witnesses.values()]

    def met_by(self, witnessed: Iterable[str]) -> bool:
        """Whether the witnesses named in ``witnessed`` (policy names) meet the quorum."""
        cosigned = set(witnessed)
        return self.quorum == NONE or self._witnessed(self.quorum, cosigned)

    def _witnessed(self, name: str, cosigned: set[str]) -> bool:
        group = self.groups.get(name)
        if group is None:
            return name in cosigned
        return sum(self._witnessed(member, cosigned) for member in group.members) >= group.threshold

    def cosigners(self, note: Note) -> dict[str, int]:
        """Policy witness name -> timestamp, for every policy witness whose cosignature on ``note`` verifies.

        A cosignature line that claims a policy witness's key and fails is a
        SignatureError: one bad line rejects the note, as for any signature.
        """
        found: dict[str, int] = {}
        for name, witness in self.witnesses.items():
            if any(signature.made_by(witness.key) for signature in note.signatures):
                try:
                    found[name] = verify_cosignature(note, witness.key)
                except AccordError as error:
                    raise SignatureError("policy", f"witness {name}: {error}") from error
        return found

    def check(self, note: Note) -> dict[str, int]:
        """The verified cosigners (name -> timestamp), once they meet the quorum; SignatureError otherwise.

        A policy that lists logs applies only to their checkpoints: the note must be signed by one of them.
        """
        if self.logs and not known_signers(note, [log.key for log in self.logs]):
            listed = ", ".join(log.key.label for log in self.logs[:3]) + (", ..." if len(self.logs) > 3 else "")
            raise SignatureError("policy", f"the checkpoint is not signed by a log the policy lists ({listed})")
        found = self.cosigners(note)
        if not self.met_by(found):
            got = ", ".join(sorted(found)) or "none"
            raise SignatureError("policy", f"quorum {self.quorum} not met: cosigned by {got}")
        return found

    def accepts_log(self, key: VerifierKey) -> bool:
        """Whether ``key`` is one of the policy's logs (a policy with no log lines accepts the log known from context)."""
        return not self.logs or any(log.key == key for log in self.logs)


def _key(number: int, text: str, sig_type: int, what: str) -> VerifierKey:
    try:
        key = VerifierKey.from_text(text)
    except AccordError as error:
        raise _fail(number, f"{what} key: {error}") from error
    if key.sig_type != sig_type:
        want = "0x01 (Ed25519)" if sig_type == ED25519 else "0x04 (cosignature/v1)"
        raise _fail(number, f"{what} key {key.label} has type 0x{key.sig_type:02x}, want {want}")
    return key


def _log(number: int, arguments: list[str], logs: list[PolicyLog]) -> PolicyLog:
    if len(arguments) not in (1, 2):
        raise _fail(number, f"log takes a vkey and an optional URL, got {len(arguments)} items")
    key = _key(number, arguments[0], ED25519, "log")
    if any(log.key.public == key.public for log in logs):
        raise _fail(number, f"log key {key.label} is listed twice")
    return PolicyLog(key, arguments[1] if len(arguments) == 2 else None)


def _check_name(number: int, name: str, witnesses: Mapping[str, PolicyWitness], groups: Mapping[str, Group]) -> None:
    if name == NONE:
        raise _fail(number, "the name none is predefined")
    if name in witnesses or name in groups:
        raise _fail(number, f"name {name!r} is defined twice")


def _witness(number: int, arguments: list[str], witnesses: Mapping[str, PolicyWitness], groups: Mapping[str, Group]) -> PolicyWitness:
    if len(arguments) not in (2, 3):
        raise _fail(number, f"witness takes a name, a vkey and an optional URL, got {len(arguments)} items")
    name = arguments[0]
    _check_name(number, name, witnesses, groups)
    key = _key(number, arguments[1], COSIGNATURE_V1, f"witness {name}")
    for other in witnesses.values():
        if other.key.public == key.public:
            raise _fail(number, f"witness {name} has the key of witness {other.name}")
    return PolicyWitness(name, key, arguments[2] if len(arguments) == 3 else None)


def _group(
    number: int, arguments: list[str], witnesses: Mapping[str, PolicyWitness], groups: Mapping[str, Group], used: set[str]
) -> Group:
    if len(arguments) < 3:
        raise _fail(number, "group takes a name, a threshold (k, any or all) and at least one member")
    name, threshold_text, members = arguments[0], arguments[1], tuple(arguments[2:])
    _check_name(number, name, witnesses, groups)
    for member in members:
        if member == NONE:
            raise _fail(number, "none cannot be a group member")
        if member not in witnesses and member not in groups:
            raise _fail(number, f"group {name} names {member!r}, which no earlier line defines")
        if member in used:
            raise _fail(number, f"{member!r} is already a member of a group: each name may be listed once")
        used.add(member)
    if threshold_text == "any":
        threshold = 1
    elif threshold_text == "all":
        threshold = len(members)
    elif _THRESHOLD.fullmatch(threshold_text) and int(threshold_text) <= len(members):
        threshold = int(threshold_text)
    else:
        raise _fail(number, f"threshold got {threshold_text!r}, want any, all or a decimal k with 1 <= k <= {len(members)}")
    return Group(name, threshold, members)
