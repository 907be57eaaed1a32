"""Figure: ``accord verify`` against the same statements kept as SSH-signed git commits.

A history of signed statements could be kept in git: one commit per
statement, its message the statement's text, signed with an SSH Ed25519
key (``gpg.format=ssh``), checked with ``git log --show-signature``. That
checks one Ed25519 signature per commit, as accord verify checks one per
entry, but starts ``ssh-keygen`` for every commit, and checks nothing else:
no rules, no views, no checkpoint.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from ledger.note import Note

from bench.context import Bench, MeasurementFailed
from bench.ledgers import big_ledger, entries_of
from bench.report import Figure
from bench.verifying import verify_parameters, verify_run

GIT_FLOOR = 50.0
"""Issue #6: accord verify at least 50 times as many entries per second as git verifies commits."""
SIGNER = "bench@accord.example"
GOOD_SIGNATURE = 'Good "git" signature'


def verify_against_git(bench: Bench) -> Figure:
    """Entries per second of ``accord verify`` of the big ledger, against commits per second of ``git log --show-signature``.

    The git history holds the big ledger's first N statements (N = 2,000,
    or the ledger's size if smaller; 200 in a quick run), one commit each,
    the statement's text as its message, each signed with one SSH Ed25519
    key; ``git log --show-signature`` over all N must report N good
    signatures. Rates are compared per entry: accord's is the full verify
    of the big ledger (``verify.sqlite``: signatures, rules, views,
    root), git's the signature check alone. Goal: accord at least 50 times
    faster.
    """
    ledger = big_ledger(bench)
    count = min(bench.sizes.git_commits, ledger.size)
    texts = [Note.from_text(entry.statement).text for entry in entries_of(ledger, count)]
    repository = _signed_history(bench, texts)

    bench.progress(f"git log --show-signature over {count:,} commits")
    start = time.perf_counter()
    shown = _git(repository, "log", "--show-signature")
    git_seconds = time.perf_counter() - start
    good = shown.count(GOOD_SIGNATURE)
    if good != count:
        raise MeasurementFailed(f"git log --show-signature: got {good} good signatures, want {count}")

    run = verify_run(bench, ledger)
    return Figure(
        name="verify.vs-git-ssh",
        value=ledger.size / run.seconds,
        unit="entries/s",
        about=f"accord verify of {ledger.size:,} entries (verify.sqlite), per entry",
        baseline=count / git_seconds,
        baseline_about=f"git log --show-signature, commits/s over {count:,} SSH-signed commits of the same statements",
        ratio_floor=GIT_FLOOR,
        parameters={
            **verify_parameters(ledger, run),
            "commits": count,
            "git_seconds": round(git_seconds, 3),
            "git": _git(repository, "--version").strip(),
        },
    )


def _signed_history(bench: Bench, texts: list[str]) -> Path:
    """A git repository in the run's directory with one SSH-signed commit per text, the text as its message."""
    home = bench.scratch("git-ssh")
    home.mkdir()
    key = home / "signing-key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", SIGNER, "-f", str(key)], check=True, capture_output=True)
    allowed = home / "allowed-signers"
    allowed.write_text(f'{SIGNER} namespaces="git" {(home / "signing-key.pub").read_text().strip()}\n', encoding="utf-8")
    repository = home / "statements"
    _git(home, "init", "-q", str(repository))
    settings = {
        "user.name": "Accord bench",
        "user.email": SIGNER,
        "gpg.format": "ssh",
        "user.signingkey": str(key),
        "gpg.ssh.allowedSignersFile": str(allowed),
        "commit.gpgsign": "true",
    }
    for name, value in settings.items():
        _git(repository, "config", name, value)
    for number, text in enumerate(texts, 1):
        # --cleanup=verbatim: the message is the statement's text, byte for byte.
        _git(repository, "commit", "-q", "-S", "--allow-empty", "--cleanup=verbatim", "-F", "-", stdin=text)
        if number % 500 == 0:
            bench.progress(f"git: {number:,} of {len(texts):,} signed commits made")
    return repository


def _git(directory: Path, *arguments: str, stdin: str | None = None) -> str:
    """``git ARGS`` in ``directory``, isolated from the user's and the system's git configuration."""
    environment = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_DATE": "2027-01-15T08:00:00Z",
        "GIT_COMMITTER_DATE": "2027-01-15T08:00:00Z",
    }
    completed = subprocess.run(
        ["git", *arguments], cwd=directory, env=environment, input=stdin, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise MeasurementFailed(f"git {' '.join(arguments)}: exit {completed.returncode}: {completed.stderr.strip()}")
    return completed.stdout
