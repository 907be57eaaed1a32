"""Witnessed time (SPEC 12): the witnesses' clocks bound the operator's ``logged_at``.

A policy witness's cosignature at time T of a checkpoint of size s says that
entries 0..s-1 existed at T and no other did. So, with the charter's
``witness_lag``:

- an entry i < s whose ``logged_at`` is later than T + witness_lag was
  forward-dated;
- an entry i >= s whose ``logged_at`` is earlier than T - witness_lag was
  backdated (a vote slipped in before a deadline that had passed while the
  witnesses watched).

:class:`WitnessedTime` is built from the verified cosignatures of every kept
checkpoint, then told of each entry in order during the verify fold: one
call per entry, O(1) amortised.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ledger.checkpoint import Checkpoint
from ledger.errors import AccordError, VerificationError
from ledger.keys import VerifierKey
from ledger.note import Note, known_signers
from ledger.policy import Group, Policy, PolicyWitness
from ledger.timefmt import format_time


@dataclass(frozen=True, order=True)
class Sighting:
    """Witness ``witness`` saw the log at ``size`` entries at POSIX time ``time``."""

    size: int
    time: int
    witness: str


def sightings(notes: Iterable[str], policy: Policy) -> list[Sighting]:
    """Every policy witness's verified cosignature on the checkpoint notes, sorted by size then time.

    A cosignature that claims a policy witness and fails to verify is an
    error; cosignatures by others are ignored.
    """
    found: set[Sighting] = set()
    for text in notes:
        try:
            note = Note.from_text(text)
            size = Checkpoint.from_text(note.text).size
            for witness, time in policy.cosigners(note).items():
                found.add(Sighting(size, time, witness))
        except AccordError as error:
            raise VerificationError("witnessed time", f"a kept checkpoint: {error}") from error
    return sorted(found)


def _duration(seconds: int) -> str:
    return f"{seconds // 60}m" if seconds % 60 == 0 and seconds else f"{seconds}s"


class WitnessedTime:
    """Checks each entry's ``logged_at`` against the witnesses' times, in entry order."""

    def __init__(self, seen: Sequence[Sighting]) -> None:
        self._by_size = sorted(seen)
        # Backdating: the latest time of a sighting of size <= index, so far.
        self._passed = 0
        self._latest: Sighting | None = None
        # Forward dating: the earliest time of a sighting of size > index, from each position on.
        self._earliest: list[Sighting | None] = [None] * (len(self._by_size) + 1)
        for position in range(len(self._by_size) - 1, -1, -1):
            later = self._earliest[position + 1]
            here = self._by_size[position]
            self._earliest[position] = here if later is None or here.time <= later.time else later

    def check(self, index: int, logged_at: int, lag: int) -> None:
        """Raise VerificationError if entry ``index`` at ``logged_at`` contradicts a witness by more than ``lag`` s.

        Requires entries in order of index.
        """
        while self._passed < len(self._by_size) and self._by_size[self._passed].size <= index:
            seen = self._by_size[self._passed]
            if self._latest is None or seen.time > self._latest.time:
                self._latest = seen
            self._passed += 1
        latest, earliest = self._latest, self._earliest[self._passed]
        if latest is not None and logged_at < latest.time - lag:
            raise VerificationError(
                f"entry {index}",
                f"backdated: logged_at {format_time(logged_at)} is more than witness_lag {_duration(lag)} before "
                f"{format_time(latest.time)}, when witness {latest.witness} cosigned a checkpoint of size {latest.size} without it",
                index=index,
            )
        if earliest is not None and logged_at > earliest.time + lag:
            raise VerificationError(
                f"entry {index}",
                f"forward-dated: logged_at {format_time(logged_at)} is more than witness_lag {_duration(lag)} after "
                f"{format_time(earliest.time)}, when witness {earliest.witness} cosigned a checkpoint of size {earliest.size} holding it",
                index=index,
            )


class InconsistentCheckpoint(VerificationError):
    """A checkpoint the log kept, validly signed, whose root is not the tree's at its size: an equivocation."""

    def __init__(self, problem: str, note_text: str, operators: Sequence[VerifierKey] = ()) -> None:
        self.note_text = note_text
        self.operators = tuple(operators)
        """Every key the operator has held, newest last: one of them signed both checkpoints."""
        super().__init__("checkpoint", problem)


def witness_policy(witnesses: Sequence[VerifierKey], quorum: int) -> Policy | None:
    """``--witness`` keys and ``--witness-quorum`` as the policy they mean (None when no cosignature is asked for).

    Each witness is named by its key's name, or by its label where two keys share a name.
    """
    if quorum <= 0 or not witnesses:
        return None
    by_label = {key.label: key for key in witnesses}
    names = [key.name for key in by_label.values()]
    named = {(key.name if names.count(key.name) == 1 else key.label): key for key in by_label.values()}
    group = Group("witnesses", min(quorum, len(named)), tuple(named))
    return Policy((), {name: PolicyWitness(name, key) for name, key in named.items()}, {group.name: group}, group.name)


def trusted_witnesses(policy: Policy | None, witnesses: Sequence[VerifierKey] = (), quorum: int = 0) -> Policy | None:
    """The witnesses whose cosignatures bound every ``logged_at`` (SPEC 12), however a command named
    them: a policy's, the ``--witness`` keys with ``--witness-quorum`` (:func:`witness_policy`), or
    both (the keys join the policy's witnesses; the quorum stays the policy's). None: no witness is
    trusted, so nothing bounds the operator's clock.
    """
    named = witness_policy(witnesses, quorum)
    if policy is None or named is None:
        return policy or named
    taken = {*policy.witnesses, *policy.groups}
    joined = dict(policy.witnesses)
    for name, witness in named.witnesses.items():
        if all(witness.key.public != known.key.public for known in policy.witnesses.values()):
            name = witness.key.label if name in taken else name
            joined[name] = PolicyWitness(name, witness.key)
    return Policy(policy.logs, joined, policy.groups, policy.quorum)


def time_check(
    policy: Policy | None, witnesses: Sequence[VerifierKey], quorum: int, checkpoint_note: str, kept: Iterable[str]
) -> PolicyCheck | None:
    """The witnessed-time check of a replay against ``checkpoint_note`` (the one verified against) and
    the other checkpoints ``kept``, by the witnesses :func:`trusted_witnesses` names; None when none is.

    Every command that replays entries (verify, import, sync) calls this one function. A bad
    cosignature by a trusted witness on ``checkpoint_note`` is refused as the checkpoint check
    would refuse it (VerificationError of the checkpoint), before any entry is read.
    """
    trusted = trusted_witnesses(policy, witnesses, quorum)
    if trusted is None:
        return None
    try:
        known_signers(Note.from_text(checkpoint_note), trusted.witness_keys)
    except AccordError as error:
        raise VerificationError("checkpoint", str(error)) from error
    return PolicyCheck(trusted, [checkpoint_note, *kept])


class PolicyCheck:
    """What trusted witnesses add to a replay: witnessed time per entry, the quorum on the checkpoint."""

    def __init__(self, policy: Policy, kept: Iterable[str]) -> None:
        self.policy = policy
        self.time = WitnessedTime(sightings(kept, policy))

    def on_entry(self, index: int, logged_at: int, lag: int) -> None:
        self.time.check(index, logged_at, lag)

    def quorum(self, checkpoint_note: str) -> dict[str, int]:
        """The policy witnesses (name -> time) that cosigned the checkpoint, once they meet the quorum."""
        try:
            return self.policy.check(Note.from_text(checkpoint_note))
        except AccordError as error:
            raise VerificationError("checkpoint", str(error)) from error


def first_sightings(seen: Iterable[Sighting], index: int) -> dict[str, Sighting]:
    """Per witness, its earliest sighting of a checkpoint holding entry ``index`` (of a size above it)."""
    first: dict[str, Sighting] = {}
    for sighting in seen:
        if sighting.size > index and (sighting.witness not in first or sighting.time < first[sighting.witness].time):
            first[sighting.witness] = sighting
    return first


def check_witnessed_by(index: int, what: str, limit: int, lag: int, seen: Iterable[Sighting], policy: Policy, limit_name: str) -> dict[str, Sighting]:
    """Entry ``index`` was in the log by ``limit + lag`` in the witnesses' time (SPEC 12, for a deadline).

    Per policy witness, its earliest sighting of a checkpoint holding the entry
    (of a size above ``index``); those at or before ``limit + lag`` must meet
    the policy's quorum, and are returned. Else VerificationError naming the
    entry (``what``), a witness that saw it later (or never) and both times.
    """
    first = first_sightings(seen, index)
    in_time = {name: sighting for name, sighting in first.items() if sighting.time <= limit + lag}
    if policy.met_by(in_time):
        return in_time
    late = sorted((sighting for name, sighting in first.items() if name not in in_time), key=lambda s: (s.time, s.witness))
    bound = f"{limit_name} {format_time(limit)} + witness_lag {_duration(lag)}"
    if late:
        seen_late = late[0]
        raise VerificationError(
            f"entry {index}",
            f"{what} was first cosigned by witness {seen_late.witness} at {format_time(seen_late.time)} "
            f"(a checkpoint of size {seen_late.size}), later than {bound}: quorum {policy.quorum} not met in time",
            index=index,
        )
    missing = sorted(set(policy.witnesses) - set(first))
    raise VerificationError(
        f"entry {index}",
        f"{what}: no checkpoint holding it is cosigned by witness {missing[0] if missing else policy.quorum} by {bound}: quorum {policy.quorum} not met",
        index=index,
    )
