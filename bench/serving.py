"""Figures of the secretariat server (SPEC 11): submissions/s, POST-to-receipt latency, mirror sync.

Every server is a real ``accord serve`` process on a free 127.0.0.1 port,
started on a ledger founded for the figure (a charter of a few members at
the wall clock's time), and stopped by its own pid when the figure is done
or the run ends. The load comes from :mod:`bench.loadgen`, a process of its
own, posting distinct statement notes signed before any clock starts. A
server that does not come up, or a load that fails, makes the figure
Failed with one line; every wait is bounded.

``SERVE_SECONDS`` (default 20, ``--quick`` 4) is how long the throughput is
sustained, ``LATENCY_SECONDS`` (default 10, ``--quick`` 3) how long each
paced latency run lasts. The machine's two cores are shared by the server,
the load generator and whatever else runs: the throughput is read as a
ratio to the same run's one-core Ed25519 verify rate.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from domain import commands
from domain.charter import OPERATOR
from ledger.keyfile import ScryptParameters, write_key_file
from ledger.keys import COSIGNATURE_V1, Signer
from ledger.note import sign_note
from ledger.timefmt import format_time
from projections.ledger import Ledger

from bench.context import Bench, MeasurementFailed
from bench.ledgers import big_ledger
from bench.postgres import fresh_store, server as postgres_server
from bench.postgres import NO_SERVER
from bench.report import Figure, Outcome, Skipped
from bench.runs import ROOT, run_accord
from bench.signatures import raw_rates
from bench.synthetic import signer as synthetic_signer
from bench.verifying import verify_parameters, verify_run

ORIGIN = "bench.accord.example/secretariat"
MEMBERS = ("de", "fr", "pl", "ua", "it", "es", "nl", "cz")
PASSPHRASE = "bench passphrase"
CHEAP_SCRYPT = ScryptParameters(log2_n=12)
"""The bench's throwaway key files: opening them is not what is measured."""
CLIENTS = 64
SUBMIT_FLOOR = 0.3
"""Issue #14: accepted submissions/s at least 0.3 times one core's raw Ed25519 verifies/s."""
LATENCY_LIMIT_MS = 250.0
WITNESSED_LIMIT_MS = 500.0
POSTGRES_FLOOR = 0.5
SYNC_FLOOR = 0.8
READY_WITHIN = 30.0
WARM_UP_SECONDS = 2.0
SPARE = 2.0
"""Notes pre-signed per note the warm-up rate predicts: the server speeds up once warm."""
MOST_NOTES = 400_000


def durations(bench: Bench) -> tuple[float, float]:
    """(seconds the throughput is sustained, seconds of each latency run), from the environment or the defaults."""
    sustained = float(os.environ.get("SERVE_SECONDS") or (4 if bench.quick else 20))
    latency = float(os.environ.get("LATENCY_SECONDS") or (3 if bench.quick else 10))
    return sustained, latency


def key(actor: str) -> Signer:
    name = ORIGIN if actor == OPERATOR else f"{ORIGIN}/{actor}"
    return Signer.from_seed(name, hashlib.sha256(f"bench serve/{actor}".encode()).digest())


def found(url: str) -> str:
    """Found the ledger in ``url`` (empty) at the wall clock's time; returns the charter's leaf hash."""
    now = int(time.time()) - 60
    founders = [commands.founder(member, member.upper(), [key(member).verifier_key()]) for member in MEMBERS]
    charter = commands.charter(ORIGIN, "Secretariat bench", key(OPERATOR).verifier_key(), founders, format_time(now))
    note = sign_note(charter.to_text(), key(OPERATOR), *(key(member) for member in MEMBERS)).to_text()
    with Ledger.open(url, clock=lambda: now) as ledger:
        (entry,) = ledger.append([note])
        ledger.publish_checkpoint(key(OPERATOR))
    return entry.leaf_hash().hex()


def signed_notes(count: int, label: str) -> list[str]:
    """``count`` distinct statement notes by the members in turn, signed now."""
    signed_at = format_time(int(time.time()))
    notes = []
    for number in range(count):
        member = MEMBERS[number % len(MEMBERS)]
        statement = commands.statement(ORIGIN, "statement.make", member, signed_at, {"text": f"{label} statement {number}"})
        notes.append(sign_note(statement.to_text(), key(member)).to_text())
    return notes


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _environment() -> dict[str, str]:
    environment = {**os.environ, "ACCORD_PASSPHRASE": PASSPHRASE, "ACCORD_OPERATOR_PASSPHRASE": PASSPHRASE}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    environment.pop("ACCORD_STORE", None)
    return environment


@dataclass
class Process:
    """``accord ARGS`` in the background, its output in ``log``; stopped by its own pid."""

    label: str
    arguments: Sequence[str]
    log: Path
    port: int = field(default_factory=free_port)
    popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, bench: Bench, ready: str | None) -> Process:
        """Start it and wait until it listens (``ready``: a path that must answer 200); MeasurementFailed otherwise."""
        bench.at_exit(self.stop)
        command = [sys.executable, "-c", "from cli.main import main; main()", *self.arguments]
        with self.log.open("wb") as out:
            self.popen = subprocess.Popen(command, env=_environment(), stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + READY_WITHIN
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise MeasurementFailed(f"{self.label}: accord {self.arguments[0]} exited {self.popen.returncode}: {self.last_line()}")
            try:
                if ready is None:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                        return self
                elif httpx.get(self.url + ready, timeout=2).status_code == 200:
                    return self
            except (OSError, httpx.HTTPError):
                pass
            time.sleep(0.1)
        self.stop()
        raise MeasurementFailed(f"{self.label}: accord {self.arguments[0]} was not ready within {READY_WITHIN:g} s: {self.last_line()}")

    def last_line(self) -> str:
        lines = self.log.read_text(errors="replace").strip().splitlines() if self.log.exists() else []
        return lines[-1] if lines else "nothing on its output"

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        os.kill(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)


def log_server(bench: Bench, url: str, label: str, *extra: str) -> Process:
    """``accord serve`` over the ledger in ``url`` (its operator is :func:`key`'s)."""
    key_path = bench.directory / "operator.key"
    if not key_path.exists():
        write_key_file(key_path, key(OPERATOR), PASSPHRASE.encode(), scrypt=CHEAP_SCRYPT)
    port = free_port()
    arguments = ["serve", "--store", url, "--operator-key", str(key_path), "--listen", f"127.0.0.1:{port}", *extra]
    return Process(label, arguments, bench.scratch(f"{label}.log"), port).start(bench, "/healthz")


def load(bench: Bench, server: Process, notes: Sequence[str], duration: float, rate: float | None = None, label: str = "load") -> dict[str, Any]:
    """:mod:`bench.loadgen` against ``server`` in its own process; its summary. Bounded: duration + 90 s."""
    notes_file, output = bench.scratch(f"{label}-notes.json"), bench.scratch(f"{label}-result.json")
    notes_file.write_text(json.dumps(list(notes)), encoding="utf-8")
    command = [sys.executable, "-m", "bench.loadgen", server.url, str(notes_file), str(output), "--clients", str(CLIENTS), "--duration", str(duration)]
    if rate is not None:
        command += ["--rate", f"{rate:.3f}"]
    popen = subprocess.Popen(command, env=_environment(), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _, error = popen.communicate(timeout=duration + 90)
    except subprocess.TimeoutExpired:
        os.kill(popen.pid, signal.SIGKILL)
        popen.wait(timeout=10)
        raise MeasurementFailed(f"{label}: the load generator did not end within {duration + 90:g} s") from None
    if popen.returncode != 0:
        lines = error.decode(errors="replace").strip().splitlines()
        raise MeasurementFailed(f"{label}: the load generator exited {popen.returncode}: {lines[-1] if lines else 'nothing on stderr'}")
    if server.popen is not None and server.popen.poll() is not None:
        raise MeasurementFailed(f"{label}: the server exited {server.popen.returncode} under load: {server.last_line()}")
    result: dict[str, Any] = json.loads(output.read_text(encoding="utf-8"))
    refused = {status: count for status, count in result["statuses"].items() if status != "200"}
    if refused:
        raise MeasurementFailed(f"{label}: {sum(refused.values())} of {sum(result['statuses'].values())} submissions not accepted {refused}; first: {result['first_refusal']}")
    if result["exhausted"]:
        raise MeasurementFailed(f"{label}: the {len(notes)} pre-signed notes ran out after {result['seconds']:.1f} s")
    output.unlink()
    notes_file.unlink()
    return result


@dataclass(frozen=True)
class Sustained:
    """One store's closed-loop run and the server it ran on (still up, for the latency runs)."""

    server: Process
    result: dict[str, Any]
    notes: int
    seconds: float
    server_cpu_seconds: float | None = None
    """CPU the server process spent during the sustained run (None where /proc does not say)."""

    @property
    def rate(self) -> float:
        return float(self.result["rate"])


def sustained(bench: Bench, url: str, label: str) -> Sustained:
    """Found a ledger in ``url``, serve it, warm it up, then sustain 64 clients for the set duration."""
    seconds, _ = durations(bench)
    found(url)
    server = log_server(bench, url, label)
    warm = load(bench, server, signed_notes(int(WARM_UP_SECONDS * 5_000), f"{label} warm-up"), WARM_UP_SECONDS, label=f"{label}-warm-up")
    count = min(MOST_NOTES, int(warm["rate"] * seconds * SPARE) + 2_000)
    notes = signed_notes(count, label)
    before = process_cpu_seconds(server)
    result = load(bench, server, notes, seconds, label=label)
    after = process_cpu_seconds(server)
    spent = None if before is None or after is None else after - before
    return Sustained(server, result, count, seconds, spent)


def process_cpu_seconds(process: Process) -> float | None:
    """User and system CPU seconds of ``process`` so far, from /proc (None elsewhere)."""
    if process.popen is None:
        return None
    try:
        fields = Path(f"/proc/{process.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sqlite_sustained(bench: Bench) -> Sustained:
    return bench.fixture("serve-sqlite", lambda: sustained(bench, f"sqlite:///{bench.scratch('serve.db')}", "serve-sqlite"))


def _submit_parameters(run: Sustained) -> dict[str, int | float | str]:
    return {"clients": CLIENTS, "seconds": round(float(run.result["seconds"]), 2), "accepted": int(run.result["accepted"]),
            "presigned": run.notes, "p50_ms_closed_loop": round(float(run.result["p50_ms"] or 0), 1),
            "p99_ms_closed_loop": round(float(run.result["p99_ms"] or 0), 1), "load_average_1m": round(os.getloadavg()[0], 2),
            "server_cpu_us_per_submission": round(run.server_cpu_seconds / max(1, int(run.result["accepted"])) * 1e6) if run.server_cpu_seconds is not None else "unknown"}


def submit_sqlite(bench: Bench) -> Figure:
    """Accepted submissions/s over SQLite: 64 keep-alive clients, each waiting for its receipt, against raw Ed25519 verifies/s.

    Each accepted submission is one note parsed, one signature verified,
    the rules judged, one entry and its view rows appended in the batch's
    transaction, and a share of the batch's signed checkpoint and proofs.
    Goal (issue #14): at least 0.3 times one core's raw OpenSSL rate.
    """
    run = sqlite_sustained(bench)
    return Figure(
        name="serve.submit.sqlite",
        value=run.rate,
        unit="submissions/s",
        about=f"accord serve (SQLite), {CLIENTS} concurrent keep-alive clients posting distinct pre-signed notes for {run.seconds:g} s",
        baseline=raw_rates(bench).openssl,
        baseline_about="ed25519.verify: raw cryptography (OpenSSL) verifies/s, one core",
        ratio_floor=SUBMIT_FLOOR,
        parameters=_submit_parameters(run),
    )


def paced(bench: Bench, server: Process, rate: float, label: str) -> dict[str, Any]:
    """An open-loop run at ``rate`` submissions/s for the set latency duration."""
    _, seconds = durations(bench)
    notes = signed_notes(int(rate * seconds) + 1, label)
    return load(bench, server, notes, seconds, rate=rate, label=label)


def sqlite_latency(bench: Bench) -> dict[str, Any]:
    def measure() -> dict[str, Any]:
        run = sqlite_sustained(bench)
        try:
            return paced(bench, run.server, run.rate / 2, "serve-sqlite-paced")
        finally:
            run.server.stop()

    return bench.fixture("serve-sqlite-latency", measure)


def _latency_figure(name: str, result: dict[str, Any], percentile: str, limit: float, about: str, rate: float) -> Figure:
    value = result[f"{percentile}_ms"]
    if value is None:
        raise MeasurementFailed(f"{name}: no submission was answered")
    # The goal is absolute (ms): the baseline is that bound, so the ratio is value / bound, at most 1.
    return Figure(
        name=name, value=float(value), unit="ms", about=about, baseline=limit, baseline_about=f"the goal's bound: {limit:g} ms",
        ratio_limit=1.0 if percentile == "p99" else None,
        parameters={"rate": round(rate, 1), "accepted": int(result["accepted"]), "seconds": round(float(result["seconds"]), 2),
                    "mean_ms": round(float(result["mean_ms"] or 0), 1), "load_average_1m": round(os.getloadavg()[0], 2)},
    )


def latency_p50(bench: Bench) -> Figure:
    """Median ms from POST to receipt, open loop at half the sustained SQLite rate (no goal of its own)."""
    rate = sqlite_sustained(bench).rate / 2
    return _latency_figure("serve.submit.latency.p50", sqlite_latency(bench), "p50", LATENCY_LIMIT_MS, "POST /add to receipt, SQLite, paced at 0.5 x serve.submit.sqlite", rate)


def latency_p99(bench: Bench) -> Figure:
    """99th-percentile ms from POST to receipt at half the sustained SQLite rate; goal (issue #14) at most 250 ms."""
    rate = sqlite_sustained(bench).rate / 2
    return _latency_figure("serve.submit.latency.p99", sqlite_latency(bench), "p99", LATENCY_LIMIT_MS, "POST /add to receipt, SQLite, paced at 0.5 x serve.submit.sqlite", rate)


def submit_postgres(bench: Bench) -> Outcome:
    """``serve.submit.sqlite`` on PostgreSQL (a fresh schema), against the SQLite figure; goal at least 0.5."""
    base = postgres_server()
    if base is None:
        return Skipped("serve.submit.postgres", NO_SERVER)
    sqlite = sqlite_sustained(bench)
    store = fresh_store(bench, base, "serve")
    run = sustained(bench, store.url or "", "serve-postgres")
    run.server.stop()
    return Figure(
        name="serve.submit.postgres",
        value=run.rate,
        unit="submissions/s",
        about=f"accord serve (PostgreSQL), {CLIENTS} concurrent keep-alive clients for {run.seconds:g} s",
        baseline=sqlite.rate,
        baseline_about="serve.submit.sqlite: the same load on SQLite, same run",
        ratio_floor=POSTGRES_FLOOR,
        parameters=_submit_parameters(run),
    )


def witnessed_latency(bench: Bench) -> dict[str, Any]:
    """Three ``accord witness serve`` processes, a 2-of-3 policy, a log server with --policy, paced at half the SQLite rate."""

    def measure() -> dict[str, Any]:
        rate = sqlite_sustained(bench).rate / 2
        url = f"sqlite:///{bench.scratch('serve-witnessed.db')}"
        found(url)
        operator_key = key(OPERATOR).verifier_key().to_text()
        lines = [f"log {operator_key}"]
        for name in ("w1", "w2", "w3"):
            witness = Signer.from_seed(f"bench.accord.example/{name}", hashlib.sha256(f"bench witness {name}".encode()).digest(), COSIGNATURE_V1)
            key_path = bench.scratch(f"{name}.key")
            write_key_file(key_path, witness, PASSPHRASE.encode(), scrypt=CHEAP_SCRYPT)
            port = free_port()
            arguments = ["witness", "serve", "--key", str(key_path), "--state", str(bench.scratch(f"{name}.db")),
                         "--listen", f"127.0.0.1:{port}", "--log-key", operator_key]
            process = Process(f"witness {name}", arguments, bench.scratch(f"{name}.log"), port).start(bench, None)
            lines.append(f"witness {name} {witness.cosigner_key().to_text()} {process.url}")
        lines += ["group two-of-three 2 w1 w2 w3", "quorum two-of-three"]
        policy = bench.scratch("policy.txt")
        policy.write_text("\n".join(lines) + "\n", encoding="utf-8")
        server = log_server(bench, url, "serve-witnessed", "--policy", str(policy))
        try:
            result = paced(bench, server, rate, "serve-witnessed-paced")
        finally:
            server.stop()
        return {**result, "paced_rate": rate}

    return bench.fixture("serve-witnessed-latency", measure)


def _witnessed_figure(bench: Bench, name: str, percentile: str) -> Figure:
    """The witnessed figure, with the same run's unwitnessed latency at the same rate beside it: on a
    shared machine both swing with its load, and only the difference is witnessing's."""
    result = witnessed_latency(bench)
    figure = _latency_figure(name, result, percentile, WITNESSED_LIMIT_MS,
                             "POST /add to receipt, 2-of-3 tlog-policy, three witness processes on loopback", result["paced_rate"])
    try:
        unwitnessed = sqlite_latency(bench)[f"{percentile}_ms"]
    except MeasurementFailed:
        return figure
    if unwitnessed is None:
        return figure
    return replace(figure, parameters={**figure.parameters, f"unwitnessed_{percentile}_ms": round(float(unwitnessed), 1)})


def witnessed_p50(bench: Bench) -> Figure:
    """Median ms POST to receipt with a 2-of-3 witness policy on loopback, at half the sustained SQLite rate (no goal of its own)."""
    return _witnessed_figure(bench, "serve.submit.latency.witnessed.p50", "p50")


def witnessed_p99(bench: Bench) -> Figure:
    """99th-percentile ms POST to receipt with a 2-of-3 witness policy; goal (issue #15) at most 500 ms."""
    return _witnessed_figure(bench, "serve.submit.latency.witnessed.p99", "p99")


def sync_sqlite(bench: Bench) -> Figure:
    """Entries/s of ``accord sync`` of an empty mirror from a local server of the big ledger, against ``accord verify`` of it.

    The sync fetches the checkpoint, the hash tiles and every entry bundle
    over HTTP, audits every entry as ``verify`` does and appends them with
    their view rows; the baseline is ``verify.sqlite``'s run of the same
    entries. Goal (issue #14): at least 0.8.
    """
    ledger = big_ledger(bench)
    baseline = verify_run(bench, ledger)
    key_path = bench.directory / "synthetic-operator.key"
    write_key_file(key_path, synthetic_signer(OPERATOR), PASSPHRASE.encode(), scrypt=CHEAP_SCRYPT)
    port = free_port()
    arguments = ["serve", "--store", ledger.url, "--operator-key", str(key_path), "--listen", f"127.0.0.1:{port}"]
    server = Process("sync-source", arguments, bench.scratch("sync-source.log"), port).start(bench, "/checkpoint")
    mirror = f"sqlite:///{bench.scratch('mirror.db')}"
    try:
        bench.progress(f"accord sync: {ledger.size:,} entries from {server.url}")
        run = run_accord(bench, ["sync", "--log", server.url, "--store", mirror, "--anchor", ledger.anchor])
    finally:
        server.stop()
    with Ledger.open(mirror) as copy:
        held = copy.log.size
    if held != ledger.size:
        raise MeasurementFailed(f"accord sync: the mirror holds {held} entries, want {ledger.size}")
    return Figure(
        name="sync.sqlite",
        value=ledger.size / run.seconds,
        unit="entries/s",
        about=f"accord sync of an empty SQLite mirror from a local accord serve of {ledger.size:,} entries",
        baseline=ledger.size / baseline.seconds,
        baseline_about="verify.sqlite: accord verify of the same entries, same run",
        ratio_floor=SYNC_FLOOR,
        parameters=verify_parameters(ledger, run),
    )
