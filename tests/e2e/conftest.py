"""A live ``connector serve`` in a fresh working directory, as a user would start it."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import typing as t
from pathlib import Path

import pytest
import requests

ENV = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer(t.NamedTuple):
    base_url: str
    port: int
    cwd: Path
    api_key: str
    output: list[str]

    def printed(self, label: str) -> str:
        """A URL or value ``serve`` printed after ``label:``."""
        for line in self.output:
            if label in line:
                return line.split(": ", 1)[1].strip()
        raise AssertionError(f"serve did not print {label!r}: {''.join(self.output)}")


@contextlib.contextmanager
def serve(cwd: Path, env: dict[str, str] | None = None, expect_key: bool = True,
          options: t.Sequence[str] = ()) -> t.Iterator[LiveServer]:
    """``connector serve`` (with ``options``) on a free port in ``cwd``, until the block ends."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "connector", "serve", "--port", str(port), *options],
        cwd=cwd, env={**ENV, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        lines: list[str] = []
        key = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                break
            lines.append(line)
            match = re.search(r"Demo API key: (\S+)", line)
            if match:
                key = match.group(1)
            if "Booting worker" in line or "Listening at" in line:
                break
        assert key or not expect_key, "".join(lines)
        base = f"http://127.0.0.1:{port}"
        ready = time.monotonic() + 60
        while time.monotonic() < ready:  # a busy machine may take a while to answer the first request
            try:
                if requests.get(f"{base}/healthz", timeout=5).ok:
                    break
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.05)
        yield LiveServer(base, port, cwd, key, lines)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


@pytest.fixture
def live_server(tmp_path: Path) -> t.Iterator[LiveServer]:
    with serve(tmp_path) as server:
        yield server
