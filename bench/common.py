"""What the benchmarks share: the bare Flask baseline, PostgreSQL scratch schemas, the table.

Every benchmark runs the connector and then :mod:`bench.bare` under the same gunicorn
options with the same load, in one invocation, and prints both with their ratio: the
machine has two cores shared with other work, so only figures measured in the same run
can be compared.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import typing as t
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_POSTGRES = os.environ.get("CONNECTOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: t.Iterable[float], fraction: float) -> float:
    """Nearest-rank percentile (NaN for no values)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def wait_healthy(base: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        try:
            if requests.get(f"{base}/healthz", timeout=1).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise SystemExit(f"server at {base} not healthy after {timeout}s")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the process group (gunicorn stops gracefully), then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=wait)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


@contextlib.contextmanager
def bare_server(*, workers: int, threads: int, slack_secret: str = "") -> t.Iterator[tuple[str, int]]:
    """The bare Flask baseline on a free port: yields (base URL, gunicorn master pid)."""
    port = free_port()
    env = {**os.environ, "BARE_SLACK_SECRET": slack_secret}
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "bare.py"), "--port", str(port), "--workers", str(workers),
         "--threads", str(threads)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, process)
        yield base, process.pid
    finally:
        stop(process)


@contextlib.contextmanager
def postgres_schema(url: str = DEFAULT_POSTGRES) -> t.Iterator[str]:
    """A fresh schema in the PostgreSQL database at ``url``; yields a URL that uses it, drops it after.

    Never the database's own public schema: the test suites of other sessions use it.
    """
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
    schema = f"bench_{secrets.token_hex(4)}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        separator = "&" if "?" in url else "?"
        yield f"{url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def ratio(ours: float, theirs: float) -> str:
    if not theirs or math.isnan(ours) or math.isnan(theirs):
        return "n/a"
    return f"{ours / theirs:.2f}"


def fmt(value: t.Any) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.1f}"
    return str(value)


def print_comparison(title: str, rows: list[tuple[str, dict[str, float], dict[str, float]]],
                     rate_unit: str) -> None:
    """One line per (label, connector figures, baseline figures): rate, p50, p99 of each, and ratios.

    Figures are dicts with ``rate``, ``p50`` and ``p99`` (ms). The rate ratio is
    connector / baseline (higher is better, 1.0 is as fast as bare Flask); the p99 ratio is
    connector / baseline too (lower is better).
    """
    print(title)
    head = (f"{'':<22}{'connector ' + rate_unit:>18}{'p50 ms':>9}{'p99 ms':>9}"
            f"{'bare ' + rate_unit:>14}{'p50 ms':>9}{'p99 ms':>9}{'rate ratio':>12}{'p99 ratio':>11}")
    print(head)
    for label, ours, theirs in rows:
        print(f"{label:<22}{fmt(ours['rate']):>18}{fmt(ours['p50']):>9}{fmt(ours['p99']):>9}"
              f"{fmt(theirs['rate']):>14}{fmt(theirs['p50']):>9}{fmt(theirs['p99']):>9}"
              f"{ratio(ours['rate'], theirs['rate']):>12}{ratio(ours['p99'], theirs['p99']):>11}")
