"""Live-stream fan-out: 1,000 concurrent WebSocket clients on one ``connector serve``.

    .venv/bin/python bench/stream.py [--clients 1000] [--rounds 30]

Starts ``connector serve`` (one gunicorn process, a thread per socket) in a temporary
directory with SQLite, opens ``--clients`` sockets on ``/v1/stream`` from four client
processes, then posts ``--rounds`` messages through the API. For each message it records
when every socket received it. Prints the fan-out latency from the API call to the last
socket (p50, p99 over rounds), the latency over all deliveries, and the server's memory
(resident set of the gunicorn master and worker, current and peak).
"""

from __future__ import annotations

import argparse
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
from pathlib import Path

import requests
from simple_websocket import Client

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
    received: list[tuple[int, float]] = []
    lock = threading.Lock()
    clients = []

    def read(client: Client) -> None:
        while not stop.is_set():
            try:
                data = client.receive(timeout=0.5)
            except Exception:
                return
            if data is None:
                continue
            event = json.loads(data)
            if event.get("type") == "message.created":
                with lock:
                    received.append((int(event["message"]["text"].split()[-1]), time.time()))

    for _ in range(count):
        try:
            client = Client.connect(url)
            greeting = client.receive(timeout=10)
        except Exception:  # refused or reset: counted as not connected
            continue
        if greeting is None:  # accepted but never served: counted as not connected
            client.close()
            continue
        clients.append(client)
        threading.Thread(target=read, args=(client,), daemon=True).start()
    ready.put(len(clients))
    stop.wait()
    with lock:
        results.put(received)
    for client in clients:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    env["CONNECTOR_EMBEDDED_WORKER"] = "0"
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        server = subprocess.Popen(
            [sys.executable, "-m", "connector", "serve", "--port", str(port), "--threads", str(args.clients + 50)],
            cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
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
            for _ in range(200):
                try:
                    if requests.get(f"{base}/healthz", timeout=1).ok:
                        break
                except requests.ConnectionError:
                    time.sleep(0.05)
            headers = {"Authorization": f"Bearer {key}"}
            conversation = requests.post(f"{base}/v1/conversations", json={}, headers=headers, timeout=5).json()["id"]
            idle_rss = rss_mib(server.pid)[0]

            ready, results, stop = multiprocessing.Queue(), multiprocessing.Queue(), multiprocessing.Event()
            share = args.clients // PROCESSES
            url = f"ws://127.0.0.1:{port}/v1/stream?token={key}"
            workers = [multiprocessing.Process(target=client_process, args=(url, share, ready, results, stop))
                       for _ in range(PROCESSES)]
            for worker in workers:
                worker.start()
            connected = sum(ready.get(timeout=300) for _ in workers)
            connected_rss = rss_mib(server.pid)[0]

            sent: dict[int, float] = {}
            session = requests.Session()
            for n in range(args.rounds):
                sent[n] = time.time()
                session.post(f"{base}/v1/conversations/{conversation}/messages",
                             json={"author": "shopper", "text": f"round {n}"}, headers=headers, timeout=10)
                time.sleep(0.3)
            time.sleep(1.0)
            stop.set()
            received = [item for _ in workers for item in results.get(timeout=60)]
            for worker in workers:
                worker.join(timeout=30)
            current_rss, peak_rss = rss_mib(server.pid)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()

    per_round: dict[int, list[float]] = {}
    for n, at in received:
        per_round.setdefault(n, []).append(at - sent[n])
    complete = [max(v) for n, v in per_round.items() if len(v) == connected] or [float("nan")]
    every = sorted(latency for values in per_round.values() for latency in values)

    def pct(values: list[float], q: float) -> float:
        return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000

    print(f"clients connected           {connected} of {args.clients}")
    print(f"rounds fully delivered      {len(complete)} of {args.rounds}")
    print(f"last-socket latency  p50    {statistics.median(complete) * 1000:.1f} ms")
    print(f"last-socket latency  p99    {pct(complete, 0.99):.1f} ms")
    print(f"any-socket latency   p50    {pct(every, 0.5):.1f} ms   p99 {pct(every, 0.99):.1f} ms")
    print(f"server RSS idle / {connected} sockets / end (peak)  "
          f"{idle_rss:.0f} / {connected_rss:.0f} / {current_rss:.0f} ({peak_rss:.0f}) MiB")


if __name__ == "__main__":
    main()
