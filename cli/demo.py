"""The demonstration: the organization's story, told through the real commands.

Every step is an ``accord`` command run in-process on a fresh SQLite ledger in
the demo directory, printed as a person would type it, with its output. The
charter sets short periods (seconds) so deadlines and a withdrawal notice
pass while you watch; everything else is what a real council would do.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from ledger.keys import COSIGNATURE_V1, VerifierKey
from ledger.store import LOG_STREAM
from ledger.timefmt import format_time

ORIGIN = "accord.example/european-security"
PASSPHRASE = "correct horse battery staple"
FOUNDERS = [
    ("de", "Germany", ["NATO", "EU"]),
    ("fr", "France", ["NATO", "EU"]),
    ("pl", "Poland", ["NATO", "EU"]),
    ("at", "Austria", ["EU"]),
    ("ua", "Ukraine", []),
    ("rs", "Serbia", []),
    ("by", "Belarus", ["CSTO"]),
]
MEMBERS = [actor for actor, _, _ in FOUNDERS]
PERIOD = 3
VOTING = 40
"""Seconds the demo's proposals stay open: room for a dozen votes, each opening a scrypt-sealed key file (~0.5 s)."""
REGISTER_URL = "http://127.0.0.1:8000/"
"""Where ``accord serve`` shows the register by default (its --listen default)."""
"""Seconds: every voting period and the withdrawal notice, so the story fits in a minute."""


@contextmanager
def _inside(directory: Path) -> Iterator[None]:
    before = os.getcwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(before)


class Story:
    """Runs commands and narrates them."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say

    def chapter(self, title: str) -> None:
        self.say("")
        self.say(click.style(f"== {title}", bold=True))

    def tell(self, text: str) -> None:
        self.say(click.style(text, fg="cyan"))

    def run(self, *args: str, refused: bool = False, quiet: bool = False) -> str:
        """Run ``accord ARGS``; returns what it printed. ``refused``: it must fail, and we show why."""
        from click.testing import CliRunner

        from cli.main import accord

        self.say(click.style("$ accord " + " ".join(_quoted(a) for a in args), fg="green"))
        result = CliRunner().invoke(accord, list(args), catch_exceptions=False)
        output = result.stdout.rstrip("\n")
        if output and not quiet:
            self.say(output)
        if refused:
            if result.exit_code == 0:
                raise click.ClickException(f"demo: 'accord {args[0]}' should have been refused")
            self.say(click.style(result.stderr.rstrip("\n") + f"   (exit code {result.exit_code})", fg="yellow"))
        elif result.exit_code != 0:
            raise click.ClickException(f"demo: 'accord {' '.join(args)}' failed: {result.stderr.strip()}")
        return output

    def wait(self, seconds: float, why: str) -> None:
        self.tell(f"... {why} ({seconds:.0f} s)")
        time.sleep(seconds)


def _quoted(argument: str) -> str:
    if '"' in argument:
        return "'" + argument + "'"
    return f'"{argument}"' if any(c in argument for c in " ;,'") else argument


def _charter_toml(keys: dict[str, str]) -> str:
    lines = [
        f'origin = "{ORIGIN}"',
        'name = "European Security Council"',
        f'operator = "{keys["operator"]}"',
        f'withdrawal_notice = "{PERIOD}s"',
        'signed_at_skew = "7d"',
        "",
    ]
    for actor, name, alliances in FOUNDERS:
        lines += ["[[member]]", f'id = "{actor}"', f'name = "{name}"', f'keys = ["{keys[actor]}"]', f"affiliations = {alliances!r}".replace("'", '"'), ""]
    lines += ["[categories.military-operation]", 'procedure = "ratification"', 'min_period = "0s"', ""]
    return "\n".join(lines)


def _tamper(database: Path, index: int, old: bytes, new: bytes) -> None:
    """Change bytes of one stored entry behind the log's back, as an attacker with disk access would."""
    with sqlite3.connect(database) as connection:
        (state,) = connection.execute(
            "SELECT state FROM stored_events WHERE originator_id = ? AND originator_version = ?", (LOG_STREAM.hex, index)
        ).fetchone()
        assert old in state
        connection.execute(
            "UPDATE stored_events SET state = ? WHERE originator_id = ? AND originator_version = ?",
            (state.replace(old, new, 1), LOG_STREAM.hex, index),
        )


@contextmanager
def _serving() -> Iterator[str]:
    """``accord serve`` on the demo's ledger, on a free local port, stopped (by its pid) on leaving."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-c", "from cli.main import main; main()", "serve", "--store", "sqlite:///accord.db",
               "--operator-key", "operator.key", "--listen", f"127.0.0.1:{port}"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not _answers(url + "/healthz"):
            if server.poll() is not None or time.monotonic() > deadline:
                raise click.ClickException("demo: accord serve did not start")
            time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def run_demo(directory: str, say: Callable[[str], None]) -> None:
    folder = Path(directory)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    os.environ["ACCORD_PASSPHRASE"] = PASSPHRASE
    os.environ["ACCORD_OPERATOR_PASSPHRASE"] = PASSPHRASE
    os.environ["ACCORD_NEW_PASSPHRASE"] = PASSPHRASE
    story = Story(say)
    with _inside(folder):
        _tell(story, folder)


def _tell(story: Story, folder: Path) -> None:  # noqa: PLR0915 - a story is long
    run, tell, chapter = story.run, story.tell, story.chapter
    tell(f"A fresh ledger in {folder}/accord.db. Every key file is encrypted (passphrase from ACCORD_PASSPHRASE).")

    chapter("1. Every delegation and the secretariat make their own key")
    keys = {"operator": run("keygen", "--origin", ORIGIN, "--out", "operator.key")}
    for actor in [*MEMBERS, "in", "etuc"]:
        keys[actor] = run("keygen", "--origin", ORIGIN, "--actor", actor, "--out", f"{actor}.key")

    chapter("2. The charter: drafted from TOML, signed by the secretariat and every founding member")
    Path("charter.toml").write_text(_charter_toml(keys), encoding="utf-8")
    tell("charter.toml names 7 founding members from different alliances (NATO, EU, CSTO, none);")
    tell("military operations need ratification by every member; consensus elsewhere.")
    Path("charter.note").write_text(run("charter", "draft", "charter.toml", quiet=True) + "\n", encoding="utf-8")
    tell("charter.note holds the unsigned charter: one line of canonical JSON. Each founder adds a signature line:")
    for signer in ["operator", *MEMBERS]:
        run("sign", "charter.note", "--key", f"{signer}.key")
    anchor = run("init", "charter.note", "--operator-key", "operator.key")
    tell(f"The trust anchor every verifier pins: {anchor}")

    chapter("3. Proposals under each procedure")

    closes_at = int(time.time()) + VOTING
    deadline = format_time(closes_at)
    india = {"candidate": {"id": "in", "name": "India", "role": "observer", "keys": [keys["in"]]}}

    admission = run("propose", "--category", "admission", "--title", "Admit India as observer", "--text", "India is invited to observe and mediate.",
                    "--deadline", deadline, "--effect", json.dumps(india), "--key", "de.key")
    hotline = run("propose", "--category", "general", "--title", "A crisis hotline between all capitals", "--text", "Open a 24/7 hotline.",
                  "--deadline", deadline, "--key", "pl.key")
    exercise = run("propose", "--category", "joint-exercise", "--title", "Joint Baltic naval exercise", "--text", "Exercise in June.",
                   "--deadline", deadline, "--key", "de.key")
    operation = run("propose", "--category", "military-operation", "--title", "Deploy an armed mission to the border", "--text", "...",
                    "--deadline", deadline, "--key", "fr.key")
    peacekeeping = run("propose", "--category", "military-operation", "--title", "Unarmed observers for the ceasefire line", "--text", "...",
                       "--deadline", "+1h", "--key", "at.key")
    finding = run("propose", "--category", "violation-finding", "--title", "Finding: airspace violations by Serbia", "--text", "...",
                  "--deadline", deadline, "--concerned", "rs", "--key", "pl.key")

    chapter("4. Votes")
    tell(f"{hotline} is decided by the silence procedure: abstention and silence never block.")
    run("vote", hotline, "object", "--explanation", "Cost unclear", "--key", "ua.key")
    run("vote", hotline, "abstain", "--explanation", "Costs clarified; we will not block", "--key", "ua.key")
    tell("Ukraine changed its vote before the deadline; both votes stay in the log, the later one counts.")
    run("vote", exercise, "object", "--explanation", "Provocative near our border", "--key", "by.key")
    for member in MEMBERS:
        if member != "at":
            run("vote", operation, "approve", "--key", f"{member}.key")
    run("vote", operation, "abstain", "--explanation", "Neutrality", "--key", "at.key")
    tell(f"{finding} is decided by consensus minus the concerned: Serbia cannot block a finding about itself.")
    run("vote", finding, "object", "--key", "rs.key", refused=True)

    chapter("5. A vote signed offline, on a machine with no ledger, and submitted from a file")
    run("prepare", "vote.cast", "--origin", ORIGIN, "--actor", "fr", "--field", f"proposal={peacekeeping}", "--field", "position=approve",
        "--field", "explanation=Signed in the embassy, offline", "--out", "fr-vote.json")
    run("sign", "fr-vote.json", "--key", "fr.key")
    run("submit", "fr-vote.json", "--operator-key", "operator.key", "--receipt", "fr-vote.proof")
    tell("fr-vote.proof is the delegation's receipt: a C2SP tlog-proof of its vote under a signed checkpoint.")
    for member in MEMBERS:
        if member != "fr":
            run("vote", peacekeeping, "approve", "--key", f"{member}.key")
    run("close", peacekeeping, "--key", "operator.key")
    tell("Every member approved, so it could be closed before its deadline.")

    chapter("6. Serbia withdraws: final once the notice period has passed")
    run("membership", "withdraw", "--reason", "Sovereign decision", "--key", "rs.key")
    story.wait(max(PERIOD, closes_at - time.time()) + 1, "the voting periods and the withdrawal notice pass")

    chapter("7. Closing: outcomes computed by the rules, decisions numbered on adoption")
    for proposal in (admission, hotline, exercise, operation, finding):
        run("close", proposal, "--key", "operator.key")
    run("vote", peacekeeping, "object", "--key", "rs.key", refused=True)
    tell("Ukraine suspends its participation for a while; it can resume it itself.")
    run("membership", "suspend", "--reason", "Elections at home", "--key", "ua.key")

    chapter("8. India accedes as observer and speaks")
    run("accede", admission, "--key", "in.key")
    run("say", "--text", "India welcomes the hotline and offers to mediate.", "--about", "D-3", "--key", "in.key")


    chapter("9. Reservations attached to a binding decision")
    run("attach", "D-1", "--reservation", "--text", "Without prejudice to Austrian neutrality", "--key", "at.key")

    chapter("10. Civil society appeals")
    run("register", "--name", "European Trade Union Confederation", "--kind", "trade-union", "--country", "de", "--country", "pl", "--key", "etuc.key")
    appeal = run("appeal", "file", "--title", "Dock workers fear escalation", "--text", "Shipments of munitions through civilian ports.",
                 "--concerned", "pl", "--urgency", "high", "--key", "etuc.key")
    run("appeal", "acknowledge", appeal, "--key", "pl.key")
    run("appeal", "answer", appeal, "--text", "Referred to the council's risk assessment.", "--key", "operator.key")
    assessment = run("propose", "--category", "risk-assessment", "--title", "Risk assessment of civilian ports", "--text", "...",
                     "--deadline", "+14d", "--ref", appeal, "--key", "pl.key")
    tell("India, an observer, speaks on it but has no decision rights:")
    run("say", "--text", "India can share its experience with port security.", "--about", assessment, "--key", "in.key")
    run("vote", assessment, "approve", "--key", "in.key", refused=True)

    chapter("11. Germany rotates its key")
    run("keygen", "--origin", ORIGIN, "--actor", "de", "--out", "de-2027.key")
    run("key", "add", "--key", "de.key", "--new-key", "de-2027.key")
    run("key", "revoke", "--key", "de-2027.key", "--revoke", keys["de"])
    tell("A statement signed with the revoked key is refused; everything it signed before stays valid:")
    run("say", "--text", "Signed with the old key", "--key", "de.key", refused=True)

    chapter("12. The register of binding decisions and the membership")
    run("decisions")
    run("members")
    run("appeals")

    chapter("13. The operator publishes a checkpoint; France and India cosign it as witnesses")
    run("checkpoint", "--sign", "--operator-key", "operator.key")
    run("cosign", "--key", "fr.key")
    run("cosign", "--key", "in.key")

    chapter("14. An auditor verifies the whole log from its charter")
    witnesses = [VerifierKey.from_text(keys[w]) for w in ("fr", "in")]
    witness_args = [arg for key in witnesses for arg in ("--witness", VerifierKey(key.name, COSIGNATURE_V1, key.public).to_text())]
    run("verify", "--anchor", anchor, *witness_args, "--witness-quorum", "2")

    chapter("15. The secretariat serves the log over HTTP; delegations act through it, an auditor mirrors it")
    with _serving() as url:
        tell(f"accord serve --store sqlite:///accord.db --operator-key operator.key --listen {url.removeprefix('http://')}  (started in the background)")
        ports = run("propose", "--category", "general", "--title", "A shared registry of port inspections", "--text", "...",
                    "--deadline", "+14d", "--key", "pl.key", "--log", url)
        run("vote", ports, "approve", "--key", "fr.key", "--log", url, "--receipt", "fr-ports.proof")
        run("vote", ports, "approve", "--key", "at.key", "--log", url)
        tell("fr-ports.proof came back from the server: the vote is appended and under the checkpoint the server signed.")
        run("vote", ports, "approve", "--key", "rs.key", "--log", url, refused=True)
        tell("An auditor keeps a verified mirror from the tiles and entry bundles alone, and checks it:")
        run("sync", "--log", url, "--store", "sqlite:///mirror.db", "--anchor", anchor)
        run("verify", "--store", "sqlite:///mirror.db", "--anchor", anchor)
        run("verify", "--log", url, "--anchor", anchor)
    tell("The server is stopped.")

    chapter("16. Someone with disk access rewrites Austria's abstention as an approval")
    shutil.copy("accord.db", "tampered.db")
    log_text = run("log", "--json", quiet=True)
    index = next(entry["index"] for entry in json.loads(log_text)["entries"] if '"position":"abstain"' in entry["statement"] and '"actor":"at"' in entry["statement"])
    _tamper(Path("tampered.db"), index, b'\\"position\\":\\"abstain\\"', b'\\"position\\":\\"approve\\"')
    tell(f"Entry {index} of tampered.db now claims Austria approved the armed mission.")
    run("verify", "--store", "sqlite:///tampered.db", "--anchor", anchor, refused=True)
    tell("The verifier names the first bad entry and why. The genuine log still verifies.")

    chapter("17. The public register, for citizens: the same pages served over HTTP and as static files")
    run("publish", "--html", "site")
    where = Path.cwd()  # the demo folder: the story is told inside it
    story.say("")
    story.say(click.style("The story is over: every act above is signed, logged, and verifiable offline.", bold=True))
    story.say(f"The register as a static site: {where / 'site' / 'index.html'}")
    story.say(f"The register served: accord serve --store sqlite:///{where / 'accord.db'} --operator-key {where / 'operator.key'}"
              f" (passphrase: ACCORD_OPERATOR_PASSPHRASE), then open {REGISTER_URL}")


