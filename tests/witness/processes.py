"""Real ``accord`` server processes on free 127.0.0.1 ports, started and stopped by their own pid."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ledger.keys import Signer

from ledger.keyfile import write_key_file

PASSPHRASE = "correct horse battery staple"
START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def key_file(directory: Path, name: str, signer: Signer) -> Path:
    path = directory / f"{name}.key"
    if not path.exists():
        write_key_file(path, signer, PASSPHRASE.encode())
    return path


@dataclass
class Process:
    popen: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop this process by its pid (SIGTERM, then SIGKILL after 10 s)."""
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)


def accord_process(args: list[str], directory: Path, port: int, label: str) -> Process:
    """Run ``accord ARGS`` in the background and wait (bounded) until ``port`` accepts connections."""
    log = directory / f"{label}.log"
    environment = {**os.environ, "ACCORD_PASSPHRASE": PASSPHRASE, "ACCORD_OPERATOR_PASSPHRASE": PASSPHRASE}
    with log.open("wb") as out:
        popen = subprocess.Popen([sys.executable, "-c", "from cli.main import main; main()", *args], stdout=out, stderr=subprocess.STDOUT, env=environment)
    process = Process(popen, port, log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise AssertionError(f"accord {args[0]} exited with {popen.returncode}: {log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.05)
    process.stop()
    raise AssertionError(f"accord {args[0]} did not listen on port {port} within {START_TIMEOUT} s: {log.read_text()}")


def witness_process(
    directory: Path, name: str, witness: Signer, log_keys: list[str], port: int | None = None, evidence_dir: Path | None = None
) -> Process:
    port = port or free_port()
    args = ["witness", "serve", "--key", str(key_file(directory, name, witness)), "--state", str(directory / f"{name}.db"), "--listen", f"127.0.0.1:{port}"]
    if evidence_dir is not None:
        args += ["--evidence-dir", str(evidence_dir)]
    for key in log_keys:
        args += ["--log-key", key]
    return accord_process(args, directory, port, name)
