"""What the browser tests need: Debian's Chromium through playwright, axe-core, servers on free ports.

Each is found or started here, and each test that needs one is skipped with
the reason when it is absent (CI's ``.ci/run`` installs them all). A server
is a child process on a free 127.0.0.1 port, waited for a bounded time and
stopped by its own pid.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
AXE = ARTIFACTS / "axe" / "node_modules" / "axe-core" / "axe.min.js"
STARTUP_SECONDS = 30


def launch_chromium() -> Any:
    """(playwright, browser) for Debian's chromium, or a skip naming what is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests need playwright (pip install -e '.[test]')")
    if not CHROMIUM.is_file():
        pytest.skip(f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install -y chromium; .ci/run does it)")
    playwright = sync_playwright().start()
    return playwright, playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def axe_script() -> Path:
    """axe-core's script, installed from the npm registry into tests/artifacts/axe if it is not there yet."""
    npm = shutil.which("npm")
    if not AXE.is_file() and npm is not None:
        AXE.parents[2].mkdir(parents=True, exist_ok=True)
        try:
            subprocess.run([npm, "install", "--no-save", "--no-audit", "--no-fund", "axe-core"], cwd=AXE.parents[2], timeout=180,
                           check=False, capture_output=True)
        except subprocess.TimeoutExpired:
            pass
    if not AXE.is_file():
        pytest.skip(f"the accessibility check needs axe-core at {AXE.relative_to(ROOT)} (npm install axe-core there; .ci/run does it)")
    return AXE


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(command: Sequence[str], port: int, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run ``command`` (a server listening on ``port``) until the block ends; yields its base URL."""
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(list(command), cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                raise AssertionError(f"server exited with {process.returncode}: {process.stderr.read().decode() if process.stderr else ''}")
            try:
                if httpx.get(base + "/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server on port {port} not up after {STARTUP_SECONDS} s")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def pages_only(store_url: str, port: int) -> list[str]:
    """The command of a server of the register's pages alone (no operator key needed)."""
    program = "import sys, uvicorn; from server.pages.routes import create_app; uvicorn.run(create_app(sys.argv[1]), host='127.0.0.1', port=int(sys.argv[2]), log_level='warning')"
    return [sys.executable, "-c", program, store_url, str(port)]
