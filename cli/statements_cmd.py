"""Writing: prepare, sign and submit statements, in three steps (offline signing) or one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Unpack

import click

from cli.acting import (
    SubmitOptions,
    act,
    acting,
    operator_key_option,
    read_note_or_statement,
    sign_offline,
    submit_note,
    write_or_print,
)
from cli.options import (
    operator_passphrase_option,
    Session,
    json_object,
    key_option,
    log_option,
    load_signer,
    output_path,
    pass_session,
    passphrase_env_option,
    read_text,
    store_option,
    time_value,
)
from domain import commands
from domain.rules import check_statement, check_statement_kinds, read_statement
from domain.state import LedgerState
from ledger.documents import MAX_ARGUMENT, parse_json
from ledger.errors import MalformedError
from ledger.note import sign_note
from ledger.statement import Statement


def _field(text: str) -> tuple[str, Any]:
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise click.BadParameter(f"want NAME=VALUE, got {text!r}", param_hint="--field")
    try:
        return name, parse_json(value, "--field", MAX_ARGUMENT)
    except MalformedError as error:
        if error.problem.startswith("not JSON"):
            return name, value
        raise click.BadParameter(f"{name}: {error.problem}", param_hint="--field") from error


@click.command()
@click.argument("kind", type=click.Choice(check_statement_kinds()[1:]))
@click.option("--origin", required=True, help="The ledger's origin.")
@click.option("--actor", required=True, help="Who speaks (your actor id).")
@click.option("--field", "fields", multiple=True, metavar="NAME=VALUE", help="A body field; VALUE is JSON if it parses, else text.")
@click.option("--body", "body_json", metavar="JSON", callback=json_object, help="The whole body as a JSON object.")
@click.option("--signed-at", default="+0s", show_default=True, callback=time_value, help="RFC 3339, or +DURATION from now.")
@click.option("--out", type=click.Path(dir_okay=False), callback=output_path, help="Write here instead of stdout.")
def prepare(kind: str, origin: str, actor: str, fields: tuple[str, ...], body_json: dict[str, Any] | None, signed_at: str, out: str | None) -> None:
    """Write an unsigned statement of KIND, to sign with 'accord sign' (no ledger needed).

    Its body is checked first, as 'accord submit' will check it (every field
    present and known, of its type): a statement that cannot pass is refused
    here, before anyone signs it on an air-gapped machine.

    \b
    Example, a vote prepared and signed on an air-gapped machine:
      accord prepare vote.cast --origin accord.example/european-security --actor de \\
          --field proposal=P-3 --field position=approve --out vote.json
      accord sign vote.json --key de.key
      accord submit vote.json            # on a machine with the ledger
    """
    body: dict[str, Any] = dict(body_json or {})
    body.update(_field(text) for text in fields)
    statement = commands.statement(origin, kind, actor, signed_at, body)
    check_statement(statement)
    write_or_print(out, statement.to_text())


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@key_option
@passphrase_env_option
@click.option("--out", type=click.Path(dir_okay=False), callback=output_path, help="Write the signed note here ('-': stdout) instead of back to FILE.")
def sign(file: str, key_file: str, passphrase_env: str, out: str | None) -> None:
    """Add your signature to a statement or charter in FILE; works with no ledger present.

    \b
    Example:
      accord sign charter.note --key de.key
    """
    found = read_note_or_statement(read_text(file))
    signer = load_signer(key_file, passphrase_env)
    signed = sign_note(found if not isinstance(found, Statement) else found.to_text(), signer)
    write_or_print(out or file, signed.to_text())
    if out not in (None, "-"):
        return
    if out is None:
        click.echo(f"signed {file} as {signer.verifier_key().label}", err=True)


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@store_option
@log_option
@operator_key_option
@operator_passphrase_option
@click.option("--receipt", type=click.Path(dir_okay=False), callback=output_path, help="Where to write the receipt (default: FILE.proof).")
@pass_session
def submit(session: Session, file: str, operator_key: str | None, operator_passphrase_env: str, receipt: str | None) -> None:
    """Append the signed statement in FILE and write its receipt (a C2SP tlog-proof).

    \b
    Example:
      accord submit vote.json --receipt vote.proof
    """
    entry = submit_note(
        session, read_text(file), operator_key=operator_key, operator_passphrase_env=operator_passphrase_env, receipt=receipt or f"{file}.proof"
    )
    statement = read_statement(entry.statement)[1]
    click.echo(f"entry {entry.index}: {statement.kind} by {statement.actor}")


def _done(entry_index: int, what: str) -> None:
    click.echo(f"entry {entry_index}: {what}")


@click.command()
@click.option("--category", required=True, help="The decision category, e.g. general or military-operation.")
@click.option("--title", required=True)
@click.option("--text", help="The proposal's text.")
@click.option("--text-file", type=click.Path(exists=True, dir_okay=False), help="Read the text from a file.")
@click.option("--deadline", required=True, callback=time_value, help="RFC 3339 or relative: +7d.")
@click.option("--concerned", multiple=True, metavar="ID", help="A concerned member (repeatable).")
@click.option("--ref", "references", multiple=True, metavar="ID", help="A referenced appeal, decision or proposal.")
@click.option("--effect", metavar="JSON", callback=json_object, help="The category's own fields, e.g. '{\"subject\": \"by\"}' or a candidate.")
@acting
def propose(session: Session, key_file: str, passphrase_env: str, category: str, title: str, text: str | None, text_file: str | None,
            deadline: str, concerned: tuple[str, ...], references: tuple[str, ...], effect: dict[str, Any] | None, **submit: Unpack[SubmitOptions]) -> None:
    """Submit a proposal; prints its id (P-n).

    \b
    Example:
      accord propose --category joint-exercise --title "Baltic exercise" --text "..." --deadline +14d --key de.key
    """
    if (text is None) == (text_file is None):
        raise click.UsageError("give exactly one of --text and --text-file")
    body: dict[str, Any] = {"category": category, "title": title, "text": text if text is not None else read_text(str(text_file)), "deadline": deadline}
    if concerned:
        body["concerned"] = list(concerned)
    if references:
        body["references"] = list(references)
    if effect:
        body.update(effect)
    _, state = act(session, key_file, passphrase_env, "proposal.submit", body, **submit)
    click.echo(f"P-{state.proposals}")


@click.command()
@click.argument("proposal")
@click.argument("position", type=click.Choice(["approve", "object", "abstain"]))
@click.option("--explanation", help="Why (kept in the log with the vote).")
@click.option("--offline", is_flag=True, help="Sign the vote without a ledger (origin and actor from the key's name) and write the signed note.")
@click.option("--out", type=click.Path(dir_okay=False), callback=output_path, help="With --offline: write the signed note here (default: stdout).")
@acting
def vote(session: Session, key_file: str, passphrase_env: str, proposal: str, position: str, explanation: str | None,
         offline: bool, out: str | None, **submit: Unpack[SubmitOptions]) -> None:
    """Cast (or change) your position on PROPOSAL before its deadline.

    \b
    Example:
      accord vote P-3 object --explanation "Not without a mandate" --key fr.key
    On an air-gapped machine, in one step (then 'accord submit vote.note'):
      accord vote P-3 approve --key fr.key --offline --out vote.note
    """
    body = {"proposal": proposal, "position": position}
    if explanation:
        body["explanation"] = explanation
    if offline:
        write_or_print(out, sign_offline(session.signer(key_file, passphrase_env), "vote.cast", body).to_text())
        return
    if out is not None:
        raise click.UsageError("--out writes an offline vote: give --offline too")
    entry, _ = act(session, key_file, passphrase_env, "vote.cast", body, **submit)
    _done(entry.index, f"{position} on {proposal}")


@click.command()
@click.argument("proposal")
@acting
def withdraw(session: Session, key_file: str, passphrase_env: str, proposal: str, **submit: Unpack[SubmitOptions]) -> None:
    """Withdraw your own open PROPOSAL.

    \b
    Example:
      accord withdraw P-3 --key de.key
    """
    entry, _ = act(session, key_file, passphrase_env, "proposal.withdraw", {"proposal": proposal}, **submit)
    _done(entry.index, f"{proposal} withdrawn")


@click.command()
@click.argument("proposal")
@acting
def close(session: Session, key_file: str, passphrase_env: str, proposal: str, **submit: Unpack[SubmitOptions]) -> None:
    """Close PROPOSAL with the outcome and tally the rules compute; prints the decision if adopted.

    \b
    Example:
      accord close P-3 --key operator.key
    """
    def build(state: LedgerState, actor: str, signed_at: str, now: int) -> Statement:
        if proposal not in state.open_proposals:
            raise MalformedError("close", f"{proposal} is not an open proposal")
        return commands.close(state, proposal, actor, signed_at, now)

    entry, state = act(session, key_file, passphrase_env, "proposal.close", build=build, **submit)
    body = read_statement(entry.statement)[1].body
    tally = body["tally"]
    counts = ", ".join(f"{tally[name]} {name}" for name in ("approve", "object", "abstain", "silent"))
    decided = f": binding decision D-{state.decisions}" if body["outcome"] == "adopted" else ""
    _done(entry.index, f"{proposal} {body['outcome']} ({counts}){decided}")


@click.command()
@click.argument("decision")
@click.option("--interpretative", "kind", flag_value="interpretative", help="An interpretative statement.")
@click.option("--reservation", "kind", flag_value="reservation", help="A formal reservation.")
@click.option("--text", required=True)
@acting
def attach(session: Session, key_file: str, passphrase_env: str, decision: str, kind: str | None, text: str, **submit: Unpack[SubmitOptions]) -> None:
    """Attach an interpretative statement or a reservation to DECISION.

    \b
    Example:
      accord attach D-2 --reservation --text "Without prejudice to our neutrality" --key at.key
    """
    if kind is None:
        raise click.UsageError("give one of --interpretative and --reservation")
    entry, _ = act(session, key_file, passphrase_env, "decision.attach", {"decision": decision, "type": kind, "text": text}, **submit)
    _done(entry.index, f"{kind} attached to {decision}")


@click.command()
@click.option("--text", required=True)
@click.option("--about", metavar="ID", help="A proposal, decision or appeal it is about.")
@acting
def say(session: Session, key_file: str, passphrase_env: str, text: str, about: str | None, **submit: Unpack[SubmitOptions]) -> None:
    """Make a statement (any actor, observers included).

    \b
    Example:
      accord say --text "India offers to mediate." --about P-4 --key in.key
    """
    body = {"text": text, **({"about": about} if about else {})}
    entry, _ = act(session, key_file, passphrase_env, "statement.make", body, **submit)
    _done(entry.index, "statement made" + (f" about {about}" if about else ""))


@click.group()
def appeal() -> None:
    """Civil society's appeals: file, acknowledge, answer.

    \b
    Example:
      accord appeal file --title "Border crossings" --text "..." --concerned pl --key etuc.key
    """


@appeal.command("file")
@click.option("--title", required=True)
@click.option("--text", required=True)
@click.option("--concerned", multiple=True, metavar="ID", help="A concerned actor (repeatable).")
@click.option("--urgency", type=click.Choice(["low", "normal", "high", "critical"]), default="normal", show_default=True)
@acting
def appeal_file(session: Session, key_file: str, passphrase_env: str, title: str, text: str, concerned: tuple[str, ...], urgency: str, **submit: Unpack[SubmitOptions]) -> None:
    """File an appeal (civil society); prints its id (A-n).

    \b
    Example:
      accord appeal file --title "Border crossings" --text "..." --concerned pl --urgency high --key etuc.key
    """
    body = {"title": title, "text": text, "concerned": list(concerned), "urgency": urgency}
    _, state = act(session, key_file, passphrase_env, "appeal.file", body, **submit)
    click.echo(f"A-{state.appeals}")


def _respond(kind: str, verb: str) -> Callable[..., None]:
    @click.argument("appeal_id", metavar="APPEAL")
    @click.option("--text", required=kind == "appeal.answer", help="The answer." if kind == "appeal.answer" else "An optional note.")
    @acting
    def respond(session: Session, key_file: str, passphrase_env: str, appeal_id: str, text: str | None, **submit: Unpack[SubmitOptions]) -> None:
        body = {"appeal": appeal_id, **({"text": text} if text else {})}
        entry, _ = act(session, key_file, passphrase_env, kind, body, **submit)
        _done(entry.index, f"{appeal_id} {verb}")

    respond.__doc__ = f"""{verb.capitalize()} APPEAL (members, operator).

    \b
    Example:
      accord appeal {kind.split('.')[1]} A-1 {'--text "Referred to the council." ' if kind == 'appeal.answer' else ''}--key pl.key
    """
    return respond


appeal.command("acknowledge")(_respond("appeal.acknowledge", "acknowledged"))
appeal.command("answer")(_respond("appeal.answer", "answered"))


@click.group()
def membership() -> None:
    """Your own membership: suspend, resume, withdraw.

    \b
    Example:
      accord membership suspend --reason "Elections at home" --key ua.key
    """


def _membership(kind: str, verb: str, example: str) -> Callable[..., None]:
    @acting
    def change(session: Session, key_file: str, passphrase_env: str, reason: str | None = None, **submit: Unpack[SubmitOptions]) -> None:
        entry, state = act(session, key_file, passphrase_env, kind, {"reason": reason} if reason else {}, **submit)
        _done(entry.index, verb)

    if kind != "membership.resume":
        change = click.option("--reason", help="Why (kept in the log).")(change)
    change.__doc__ = f"""{example}

    \b
    Example:
      accord membership {kind.split('.')[1]} --key ua.key
    """
    return change


membership.command("suspend")(_membership("membership.suspend", "participation suspended", "Suspend your participation."))
membership.command("resume")(_membership("membership.resume", "participation resumed", "Resume after suspending yourself."))
membership.command("withdraw")(_membership("membership.withdraw", "withdrawal notified; final after the notice period", "Withdraw, effective after the notice period; final."))


@click.command()
@click.argument("alliances", nargs=-1)
@acting
def affiliation(session: Session, key_file: str, passphrase_env: str, alliances: tuple[str, ...], **submit: Unpack[SubmitOptions]) -> None:
    """Declare your other memberships (informational; replaces the earlier list).

    \b
    Example:
      accord affiliation NATO EU --key pl.key
    """
    entry, _ = act(session, key_file, passphrase_env, "affiliation.declare", {"affiliations": list(alliances)}, **submit)
    _done(entry.index, "affiliations: " + (", ".join(alliances) or "none"))


@click.command()
@click.option("--name", required=True)
@click.option("--kind", "organization", required=True, type=click.Choice(["ngo", "trade-union", "local-community", "other"]))
@click.option("--country", "countries", multiple=True, metavar="CODE", help="A country it works in (repeatable).")
@acting
def register(session: Session, key_file: str, passphrase_env: str, name: str, organization: str, countries: tuple[str, ...], **submit: Unpack[SubmitOptions]) -> None:
    """Register a civil-society organization, signed by its own new key.

    \b
    Example:
      accord keygen --origin accord.example/european-security --actor etuc --out etuc.key
      accord register --name "European Trade Union Confederation" --kind trade-union --country de --key etuc.key
    """
    signer = session.signer(key_file, passphrase_env)
    body = {"name": name, "kind": organization, "countries": list(countries), "keys": [signer.verifier_key().to_text()]}
    entry, _ = act(session, key_file, passphrase_env, "civil-society.register", body, **submit)
    _done(entry.index, f"registered {name}")


@click.command()
@click.argument("proposal")
@acting
def accede(session: Session, key_file: str, passphrase_env: str, proposal: str, **submit: Unpack[SubmitOptions]) -> None:
    """Accept your adopted admission PROPOSAL, signing with the key it names.

    \b
    Example:
      accord accede P-1 --key md.key
    """
    entry, _ = act(session, key_file, passphrase_env, "accession", {"proposal": proposal}, **submit)
    _done(entry.index, f"acceded by {proposal}")


COMMANDS = [prepare, sign, submit, propose, vote, withdraw, close, attach, say, appeal, membership, affiliation, register, accede]