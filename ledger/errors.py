"""One error family for Accord.

Every error a user can cause is an :class:`AccordError`; library exceptions
(``InvalidSignature``, ``sqlite3.Error``, ``json.JSONDecodeError``...) are
translated where they enter. Messages read ``component: problem`` and, where
there is something to compare, ``got X, want Y``, so that one line on stderr
names the rule or field at fault.
"""

from __future__ import annotations

from typing import Any


class AccordError(Exception):
    """Base of every error Accord reports to a user.

    ``component`` names the part that refused (``note``, ``merkle``,
    ``entry``, ``vote.cast``...); ``problem`` says what was wrong.
    """

    def __init__(self, component: str, problem: str) -> None:
        self.component = component
        self.problem = problem
        super().__init__(f"{component}: {problem}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross process boundaries (parallel verification); subclasses'
        # constructors differ, so rebuild from the attributes, not the arguments.
        return (_rebuild, (type(self), self.args, self.__dict__.copy()))


def _rebuild(kind: type[AccordError], args: tuple[Any, ...], attributes: dict[str, Any]) -> AccordError:
    error = kind.__new__(kind)
    error.args = args
    error.__dict__.update(attributes)
    return error


class MalformedError(AccordError):
    """Bytes that do not parse as the format they claim to be."""


class SignatureError(AccordError):
    """A signature that is missing, forged, or made by a key not accepted."""


class KeyFileError(AccordError):
    """A key file that cannot be read: wrong passphrase, wrong format."""


class ProofError(AccordError):
    """A Merkle proof, checkpoint or consistency check that does not hold."""


class VerificationError(AccordError):
    """A log, bundle or certificate that fails verification; ``index`` is the first bad entry."""

    def __init__(self, component: str, problem: str, index: int | None = None) -> None:
        self.index = index
        super().__init__(component, problem)


class StorageError(AccordError):
    """The store could not be read or written."""


class RuleViolation(AccordError):
    """A statement the organization's rules refuse.

    ``rule`` is the rule's stable name (``vote.after-deadline``), for programs
    and tests; the message starts with the statement's kind (``vote.cast:
    after the deadline ...``), for people. ``field`` is the offending field
    of the statement, where there is one.
    """

    def __init__(self, rule: str, problem: str, *, kind: str | None = None, field: str | None = None) -> None:
        self.rule = rule
        self.kind = kind
        self.field = field
        super().__init__(kind or rule, problem)
