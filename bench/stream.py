"""Live-stream fan-out: 1,000 concurrent WebSocket clients on one ``connector serve``.

    .venv/bin/python bench/stream.py [--clients 1000] [--rounds 30]

Starts ``connector serve`` with its default options (one gunicorn process, 64 threads for
HTTP, every socket in the process's event loop) in a temporary directory with SQLite,
opens ``--clients`` sockets on ``/v1/stream`` from four client processes (asyncio clients), then posts ``--rounds`` messages through the API. For each message it records
when every socket received it. Prints the fan-out latency from the API call to the last
socket (p50, p99 over rounds), the latency over all deliveries, and the server's memory
(resident set of the gunicorn master and worker, current and peak).

``--backend both`` (the default) runs it on SQLite and on PostgreSQL (a scratch schema).
Each run is followed by the same clients and rounds against ``bench/bare.py`` (bare Flask
with flask-sock, a thread per socket, on the same gunicorn options with clients + 50
threads, since it can hold no more sockets than threads) that
fans each posted message out to its sockets from memory: the last table gives the
ratios, the only figures comparable between runs on a shared machine. Goal (issue 15):
1,000 sockets with default settings, fan-out p99 under 100 ms, RSS under 300 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
from pathlib import Path

import requests
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import bare_server  # noqa: E402
from common import postgres_schema  # noqa: E402
from common import print_comparison  # noqa: E402
from common import stop as stop_server  # noqa: E402
from common import wait_healthy  # noqa: E402

PROCESSES = 4


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mib(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of a process and its children, in MiB."""
    pids = [pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()]
    now = peak = 0
    for p in pids:
        status = Path(f"/proc/{p}/status").read_text()
        now += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
        peak += int(re.search(r"VmHWM:\s+(\d+)", status).group(1))
    return now / 1024, peak / 1024


def client_process(url: str, count: int, ready: "multiprocessing.Queue", results: "multiprocessing.Queue",
                   stop: "multiprocessing.Event") -> None:
    """Hold ``count`` sockets; report (round, receive time) for every marked message."""
    asyncio.run(hold(url, count, ready, results, stop))


async def hold(url: str, count: int, ready: "multiprocessing.Queue", results: "multiprocessing.Queue",
               stop: "multiprocessing.Event") -> None:
    received: list[tuple[int, float]] = []

    async def read(ws: t.Any) -> None:
        try:
            async for data in ws:
                event = json.loads(data)
                if event.get("type") == "message.created":
                    received.append((int(event["message"]["text"].split()[-1]), time.time()))
        except websockets.ConnectionClosed:
            return

    sockets, readers = [], []
    for _ in range(count):
        try:
            ws = await websockets.connect(url, open_timeout=60, compression=None)
        except Exception:  # refused or reset: counted as not connected
            continue
        sockets.append(ws)
        readers.append(asyncio.create_task(read(ws)))
    ready.put(len(sockets))
    await asyncio.get_running_loop().run_in_executor(None, stop.wait)
    results.put(received)
    for ws in sockets:
        await ws.close()


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000 if values else float("nan")


def measure(args: argparse.Namespace, base: str, key: str, conversation: str, pid: int) -> dict:
    """Open the sockets, post the rounds, and time the fan-out."""
    headers = {"Authorization": f"Bearer {key}"}
    idle_rss = rss_mib(pid)[0]
    ready, results, stop = multiprocessing.Queue(), multiprocessing.Queue(), multiprocessing.Event()
    share = args.clients // PROCESSES
    url = f"{base.replace('http://', 'ws://')}/v1/stream?token={key}"
    workers = [multiprocessing.Process(target=client_process, args=(url, share, ready, results, stop))
               for _ in range(PROCESSES)]
    for worker in workers:
        worker.start()
    connected = sum(ready.get(timeout=300) for _ in workers)
    connected_rss = rss_mib(pid)[0]
    sent: dict[int, float] = {}
    posts: list[float] = []
    session = requests.Session()
    for n in range(args.rounds):
        sent[n] = time.time()
        try:
            session.post(f"{base}/v1/conversations/{conversation}/messages",
                         json={"author": "shopper", "text": f"round {n}"}, headers=headers, timeout=10)
            posts.append(time.time() - sent[n])
        except requests.RequestException:
            posts.append(float("inf"))
        time.sleep(0.3)
    time.sleep(1.0)
    stop.set()
    received = [item for _ in workers for item in results.get(timeout=60)]
    for worker in workers:
        worker.join(timeout=30)
    current_rss, peak_rss = rss_mib(pid)
    per_round: dict[int, list[float]] = {}
    for n, at in received:
        per_round.setdefault(n, []).append(at - sent[n])
    complete = [max(v) for n, v in per_round.items() if len(v) == connected]
    every = [latency for values in per_round.values() for latency in values]
    return {"connected": connected, "complete": len(complete), "rate": float(connected),
            "p50": statistics.median(complete) * 1000 if complete else float("nan"), "p99": pct(complete, 0.99),
            "any_p50": pct(every, 0.5), "any_p99": pct(every, 0.99), "post_p99": pct(posts, 0.99),
            "idle_rss": idle_rss, "connected_rss": connected_rss, "current_rss": current_rss, "peak_rss": peak_rss}


def bench_connector(args: argparse.Namespace, database_url: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    env["CONNECTOR_EMBEDDED_WORKER"] = "0"
    # Every socket listens to one workspace, so that one message fans out to all of them:
    # the per-key and per-workspace caps (4 and 12 by default) are lifted to the client
    # count. Everything else, threads included, is connector serve's default.
    env["CONNECTOR_STREAM_MAX_PER_KEY"] = env["CONNECTOR_STREAM_MAX_PER_WORKSPACE"] = str(args.clients)
    if database_url:
        env["CONNECTOR_DATABASE_URL"] = database_url
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        threads = ["--threads", str(args.threads)] if args.threads else []
        server = subprocess.Popen(
            [sys.executable, "-m", "connector", "serve", "--port", str(port), *threads],
            cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)
        try:
            key = None
            while key is None:
                line = server.stdout.readline()
                if not line:
                    raise SystemExit("connector serve exited")
                match = re.search(r"Demo API key: (\S+)", line)
                key = match.group(1) if match else None
            threading.Thread(target=lambda: [None for _ in server.stdout], daemon=True).start()
            base = f"http://127.0.0.1:{port}"
            wait_healthy(base, server)
            conversation = requests.post(f"{base}/v1/conversations", json={}, timeout=5,
                                         headers={"Authorization": f"Bearer {key}"}).json()["id"]
            return measure(args, base, key, conversation, server.pid)
        finally:
            stop_server(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--threads", type=int, default=0,
                        help="the connector's threads per gunicorn worker (default: connector serve's, 64)")
    args = parser.parse_args()
    bare_threads = args.clients + 50  # flask-sock holds a thread per socket
    rows = []
    for backend in (["sqlite", "postgres"] if args.backend == "both" else [args.backend]):
        if backend == "sqlite":
            ours = bench_connector(args, None)
        else:
            with postgres_schema() as url:
                ours = bench_connector(args, url)
        with bare_server(workers=1, threads=bare_threads) as (base, pid):
            bare = measure(args, base, "bare", "conv_bare", pid)
        rows.append((backend, ours, bare))
        for label, r in (("connector", ours), ("bare Flask", bare)):
            print(f"== {backend}, {label}: {r['connected']} of {args.clients} sockets connected; "
                  f"{r['complete']} of {args.rounds} rounds reached every socket; "
                  f"any-socket p50 {r['any_p50']:.1f} ms p99 {r['any_p99']:.1f} ms; POST p99 {r['post_p99']:.1f} ms; "
                  f"RSS idle / open / end (peak) {r['idle_rss']:.0f} / {r['connected_rss']:.0f} / "
                  f"{r['current_rss']:.0f} ({r['peak_rss']:.0f}) MiB")
    print()
    print_comparison(f"fan-out to the last socket against bare Flask (connector: {args.threads or 'default'} "
                     f"threads and an event loop; bare: flask-sock, {bare_threads} threads; same run); "
                     "'sockets' = connected:", rows, "sockets")


if __name__ == "__main__":
    main()
