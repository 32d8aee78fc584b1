"""A live ``connector serve`` in a fresh working directory, as a user would start it."""

from __future__ import annotations

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


@pytest.fixture
def live_server(tmp_path: Path) -> t.Iterator[LiveServer]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "connector", "serve", "--port", str(port)],
        cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        lines: list[str] = []
        key = None
        deadline = time.monotonic() + 30
        while key is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                break
            lines.append(line)
            match = re.search(r"Demo API key: (\S+)", line)
            if match:
                key = match.group(1)
        assert key, "".join(lines)
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if requests.get(f"{base}/healthz", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        yield LiveServer(base, port, tmp_path, key, lines)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        finally:
            process.stdout.close()
