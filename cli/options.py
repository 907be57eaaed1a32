"""What every command shares: options defined once, the context object, output, errors."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ParamSpec, TypeVar

import click

from cli.documents import FailureDocument
from domain.charter import OPERATOR, parse_duration
from ledger.documents import MAX_ARGUMENT, parse_json
from ledger.errors import AccordError, KeyFileError, MalformedError, StorageError
from ledger.keyfile import read_key_file, read_verifier_key
from ledger.keys import Signer, VerifierKey
from ledger.store import LogStore, store_environment
from ledger.timefmt import format_time, parse_time
from projections.ledger import Ledger

if TYPE_CHECKING:
    from cli.remote import RemoteLedger

F = TypeVar("F", bound=Callable[..., Any])
D = TypeVar("D", bound=Mapping[str, Any])
P = ParamSpec("P")
R = TypeVar("R")
DEFAULT_STORE = "sqlite:///accord.db"
JSON_VERSION = 1
JSON_REQUESTED = "accord.json"
"""Set in the context's meta when a command was given --json: its failures print JSON too."""
ARGUMENTS = "accord.arguments"
"""The command line after ``accord``, kept in the context's meta for refusals before parsing ends."""


class Refused(click.ClickException):
    """An AccordError on its way out: one line on stderr, exit 1; under --json also a document on stdout."""

    exit_code = 1

    def __init__(self, message: str, document: FailureDocument | None = None) -> None:
        super().__init__(message)
        self.document = document

    def show(self, file: IO[Any] | None = None) -> None:
        if self.document is not None:
            click.echo(json.dumps(self.document, ensure_ascii=False, indent=2))
        click.echo(f"accord: {self.message}", err=True)


def failure_document(error: AccordError) -> FailureDocument:
    """What ``--json`` prints on stdout for a refusal."""
    index = getattr(error, "index", None)
    return {"version": JSON_VERSION, "ok": False, "error": {"component": error.component, "message": str(error), "index": index}}


def usage_document(error: click.UsageError) -> FailureDocument:
    """What ``--json`` prints on stdout for a command line click refused (exit 2)."""
    return {"version": JSON_VERSION, "ok": False, "error": {"component": "usage", "message": error.format_message(), "index": None}}


class BadInput(Refused):
    """Input refused before any work (a passphrase too short to make a key with): one line, exit 2."""

    exit_code = 2


class AccordGroup(click.Group):
    """A group whose commands' AccordErrors become one line on stderr and exit code 1
    (and, under --json, a failure document on stdout): the one place errors meet the user."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[ARGUMENTS] = list(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as error:
            # Refused before the command ran (so before --json was read): a caller that asked
            # for JSON still gets a document to parse, beside click's usage text and exit 2.
            arguments: list[str] = ctx.meta.get(ARGUMENTS, [])
            options = arguments[: arguments.index("--")] if "--" in arguments else arguments
            if "--json" in options:
                click.echo(json.dumps(usage_document(error), ensure_ascii=False, indent=2))
            raise
        except AccordError as error:
            raise Refused(str(error), failure_document(error) if ctx.meta.get(JSON_REQUESTED) else None) from error
        except BrokenPipeError:
            # The reader has gone (accord log | head -1): what it wanted it got. Quietly exit 0,
            # with stdout on /dev/null so that the interpreter's last flush finds no pipe to break.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(0)


@dataclass
class Session:
    """The context object: the store chosen and what was opened on it."""

    store_url: str = DEFAULT_STORE
    log_url: str | None = None
    """A log server to act through (``--log``) instead of the store."""
    _ledger: Ledger | None = field(default=None, repr=False)
    _remote: RemoteLedger | None = field(default=None, repr=False)
    _signers: dict[str, Signer] = field(default_factory=dict, repr=False)
    passphrase_files: dict[str, str] = field(default_factory=dict, repr=False)
    """``--...-passphrase-file`` paths by the variable their ``--...-passphrase-env`` defaults to."""

    def signer(self, key_file: str, passphrase_env: str) -> Signer:
        """The key in ``key_file``, asked for its passphrase once per command."""
        if key_file not in self._signers:
            self._signers[key_file] = load_signer(key_file, passphrase_env)
        return self._signers[key_file]

    def ledger(self, create: bool = False) -> Ledger:
        """The ledger in the store; a store that does not exist is created only when ``create``
        (init, import, sync): a read or an act on a missing SQLite file or PostgreSQL schema refuses
        and creates nothing."""
        if self._ledger is None:
            if not create and not LogStore.exists(self.store_url):
                raise StorageError("ledger", f"no ledger in {self.store_url}: create one with accord init")
            self._ledger = Ledger.open(self.store_url)
        return self._ledger

    def remote(self) -> RemoteLedger:
        """The log server named by ``--log``, as a :class:`cli.remote.RemoteLedger`."""
        if self._remote is None:
            from cli.remote import RemoteLedger

            assert self.log_url is not None
            self._remote = RemoteLedger(self.log_url)
        return self._remote

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None
        if self._remote is not None:
            self._remote.close()
            self._remote = None


def missing_sqlite_file(url: str) -> Path | None:
    """The file an SQLite store URL names, when it does not exist yet; None otherwise."""
    try:
        settings = store_environment(url)
    except StorageError:
        return None
    if settings.get("PERSISTENCE_MODULE") != "eventsourcing.sqlite":
        return None
    path = Path(settings["SQLITE_DBNAME"])
    return None if path.exists() else path


pass_session = click.make_pass_decorator(Session, ensure=True)


def _remembered(attribute: str) -> Callable[[click.Context, click.Parameter, str | None], str | None]:
    """A callback that keeps an option's value on the session (which closes with the command)."""

    def remember(ctx: click.Context, _: click.Parameter, value: str | None) -> str | None:
        if value is not None:
            session = ctx.ensure_object(Session)
            setattr(session, attribute, value)
            ctx.call_on_close(session.close)
        return value

    return remember


store_option = click.option(
    "--store",
    metavar="URL",
    envvar="ACCORD_STORE",
    default=DEFAULT_STORE,
    show_default=True,
    expose_value=False,
    is_eager=True,
    callback=_remembered("store_url"),
    help="The ledger's store: sqlite:///FILE or postgresql://USER@HOST/DB (env ACCORD_STORE).",
)


log_option = click.option(
    "--log",
    metavar="URL",
    envvar="ACCORD_LOG",
    expose_value=False,
    is_eager=True,
    callback=_remembered("log_url"),
    help="The log server at URL (accord serve) to act through or read, instead of --store (env ACCORD_LOG).",
)


def _remember_json(ctx: click.Context, _: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta[JSON_REQUESTED] = True
    return value


json_option = click.option(
    "--json", "as_json", is_flag=True, is_eager=True, callback=_remember_json,
    help="Print a versioned JSON document on stdout (a failure too: ok false, and the error).",
)
as_of_option = click.option("--as-of", type=click.IntRange(min=0), metavar="N", help="Read the view as of entry N.")
key_option = click.option("--key", "key_file", required=True, type=click.Path(exists=True, dir_okay=False), help="Your encrypted key file.")


def _passphrase_file(variable: str) -> Callable[[click.Context, click.Parameter, str | None], None]:
    """Remember ``--...-passphrase-file PATH`` as the source of the passphrase otherwise read from ``$variable``'s option."""

    def remember(ctx: click.Context, _: click.Parameter, value: str | None) -> None:
        if value is not None:
            ctx.ensure_object(Session).passphrase_files[variable] = value

    return remember


def passphrase_options(prefix: str, variable: str, whose: str) -> Callable[[F], F]:
    """``--{prefix}passphrase-env NAME`` and ``--{prefix}passphrase-file PATH``: one naming scheme for every key a command opens.

    ``--key`` goes with ``--passphrase-*``, ``--operator-key`` with
    ``--operator-passphrase-*``, ``--new-key`` and ``--replacement-key`` with
    ``--new-passphrase-*``. Without either, the passphrase is asked for on
    the terminal.
    """
    env = click.option(
        f"--{prefix}passphrase-env",
        default=variable,
        show_default=True,
        metavar="NAME",
        help=f"Environment variable holding {whose} passphrase; without it (or --{prefix}passphrase-file) you are asked.",
    )
    from_file = click.option(
        f"--{prefix}passphrase-file",
        metavar="PATH",
        type=click.Path(exists=True, dir_okay=False),
        expose_value=False,
        callback=_passphrase_file(variable),
        help=f"A file whose first line is {whose} passphrase.",
    )

    def decorate(function: F) -> F:
        return env(from_file(function))

    return decorate


passphrase_env_option = passphrase_options("", "ACCORD_PASSPHRASE", "your key file's")
operator_passphrase_option = passphrase_options("operator-", "ACCORD_OPERATOR_PASSPHRASE", "the operator key's")
new_passphrase_option = passphrase_options("new-", "ACCORD_NEW_PASSPHRASE", "the new key file's")


def passphrase(variable: str, *, confirm: bool = False, key_file: str = "the key file") -> bytes:
    """The passphrase from the ``--...-passphrase-file`` given, ``$variable``, or the terminal (never echoed).

    With none of them, a one-line KeyFileError names the variable: never a
    GetPassWarning and an "Aborted!".
    """
    ctx = click.get_current_context(silent=True)
    session = ctx.find_object(Session) if ctx is not None else None
    source = None if session is None else session.passphrase_files.get(variable)
    if source is not None:
        try:
            return Path(source).read_text(encoding="utf-8").split("\n", 1)[0].encode("utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise KeyFileError("passphrase", f"cannot read the passphrase file {source}: {error}") from None
    value = os.environ.get(variable)
    if value is None:
        value = _asked(f"Passphrase for {key_file}", confirm) if sys.stdin.isatty() else _piped(f"Passphrase for {key_file}", confirm)
        if value is None:
            raise KeyFileError(
                "passphrase", f"no passphrase for {key_file}: set {variable}, give a passphrase file, or run on a terminal"
            )
    return value.encode("utf-8")


def _asked(prompt: str, confirm: bool) -> str | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # getpass's GetPassWarning: the caller's refusal says it in one line
            answer: str = click.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=True)
    except click.Abort:
        return None
    return answer


def _piped(prompt: str, confirm: bool) -> str | None:
    """The passphrase as lines on a standard input that is no terminal; None at its end (never a hang, never "Aborted!")."""
    answers = []
    for question in (prompt, "Repeat for confirmation")[: 2 if confirm else 1]:
        line = sys.stdin.readline()
        if not line:
            return None
        click.echo(f"{question}: ", err=True)
        answers.append(line.rstrip("\r\n"))
    if len(set(answers)) != 1:
        raise KeyFileError("passphrase", "the two passphrases typed differ")
    return answers[0]


def load_signer(key_file: str, passphrase_env: str) -> Signer:
    """The key in ``key_file``; its passphrase is asked for only if the file holds an encrypted key."""
    return read_key_file(key_file, lambda: passphrase(passphrase_env, key_file=key_file))


if TYPE_CHECKING:
    _VerifierKeyParam = click.ParamType[VerifierKey, str | VerifierKey]
else:
    _VerifierKeyParam = click.ParamType  # generic from click 8.4 on; pyproject allows 8.1


class VerifierKeyType(_VerifierKeyParam):
    """A verifier key given as text, as a ``.pub`` file, or as a key file (whose first line names it)."""

    name = "VKEY|FILE"

    def convert(self, value: str | VerifierKey, param: click.Parameter | None, ctx: click.Context | None) -> VerifierKey:
        if isinstance(value, VerifierKey):
            return value
        try:
            return VerifierKey.from_text(value)
        except MalformedError as error:
            if not Path(value).is_file():
                self.fail(f"want a verifier key, a .pub file or a key file, got {value!r}: {error.problem}", param, ctx)
        try:
            return read_verifier_key(value)
        except KeyFileError as error:
            self.fail(error.problem, param, ctx)


VERIFIER_KEY = VerifierKeyType()


def output_path(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An option naming a file to write: its directory must exist, checked before any work is done."""
    if value is not None and value != "-":
        directory = Path(value).parent
        if not directory.is_dir():
            raise MalformedError(f"--{param.name}", f"no directory {str(directory)!r} to write {value!r} into")
    return value


def time_value(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An option holding a time: RFC 3339 UTC, or relative to now (``+7d``)."""
    if value is None:
        return None
    try:
        return when(value)
    except MalformedError as error:
        raise click.BadParameter(f"want RFC 3339 UTC like 2026-11-24T12:00:00Z or +DURATION like +7d, got {value!r}") from error


def json_object(ctx: click.Context, param: click.Parameter, value: str | None) -> dict[str, Any] | None:
    """An option holding a JSON object."""
    if value is None:
        return None
    try:
        document = parse_json(value, param.name or "json", MAX_ARGUMENT)
    except MalformedError as error:
        raise click.BadParameter(error.problem) from error
    if not isinstance(document, dict):
        raise click.BadParameter(f"want a JSON object, got {type(document).__name__}")
    return document


def speaker(signer: Signer, origin: str) -> str:
    """The actor id a key speaks for on the ledger of ``origin``: named ``<origin>/<actor>``, or the operator's ``<origin>``."""
    if signer.name == origin:
        return OPERATOR
    prefix = origin + "/"
    if not signer.name.startswith(prefix):
        raise MalformedError("key", f"key {signer.name} is not for this ledger: want a key named {origin}/<actor>")
    return signer.name[len(prefix) :]


def when(text: str, now: int | None = None) -> str:
    """An RFC 3339 UTC time, or one relative to now such as ``+7d`` or ``+12h``."""
    if text.startswith("+"):
        base = int(time.time()) if now is None else now
        return format_time(base + parse_duration(text[1:], "time"))
    parse_time(text, "time")
    return text


def write_atomically(path: str | Path, text: str, public: bool = False) -> None:
    """Write ``text`` to a temp name beside ``path``, then rename it into place.

    The file is private (0600) unless ``public``: receipts, certificates and
    evidence are documents for others to read (0644)."""
    target = Path(path)
    handle, temporary = tempfile.mkstemp(dir=target.parent or Path("."), prefix=f".{target.name}.")
    try:
        if public:
            os.chmod(temporary, 0o644)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, target)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def read_text(path: str) -> str:
    """A file's text, or standard input for ``-``."""
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise MalformedError("file", f"cannot read {path}: {error}") from error


def emit(document: D, as_json: bool, render: Callable[[D], Iterable[str]]) -> None:
    """Print ``document`` as versioned JSON, or as text lines for a person."""
    if as_json:
        click.echo(json.dumps({"version": JSON_VERSION, **document}, ensure_ascii=False, indent=2))
    else:
        for line in render(document):
            click.echo(line)


@contextmanager
def progress(length: int, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on a terminal (stderr); silent when piped."""
    if not sys.stderr.isatty():
        yield lambda _: None
        return
    with click.progressbar(length=length, label=label, file=sys.stderr) as bar:
        yield bar.update
