"""Sustained shopper-message ingest through the platform API, on SQLite and PostgreSQL.

For each backend: a real ``connector serve`` (gunicorn gthread) in a temporary working
directory, a workspace made with the CLI, ``--conversations`` conversations, then
``--clients`` concurrent clients posting shopper messages for ``--warmup`` unmeasured and
``--seconds`` measured seconds. Clients are threads spread over 4 processes (the client
is GIL-bound), each with its own keep-alive ``http.client`` connection (``requests`` costs
~3x the client CPU per request, CPU the server lacks when both share a small machine).
Only 201s count as messages; anything else is an error. Reported: messages/s, p50/p99/max
ms, errors, peak summed RSS of the gunicorn master and workers (/proc, every 50 ms), and
over the measured window the server's CPU (cores) and how busy the whole machine was
(a warning goes to stderr when something else already keeps the CPUs busy before a run).

Run it from the repository root with the project's venv::

    .venv/bin/python bench/ingest.py                      # both backends, 16 clients, 10 s
    .venv/bin/python bench/ingest.py --backend sqlite --seconds 5 --json
    .venv/bin/python bench/ingest.py --workers 1 --threads 32 --rate 300 --postgres-url postgresql://...

By default the clients run closed loop (each sends its next message when the last is
answered), which measures saturation; ``--rate`` offers a fixed rate instead (open loop),
which measures the latency at that rate. PostgreSQL runs in a fresh schema
``bench_<random>`` (via ``options=-csearch_path``) that is dropped at the end; the URL
defaults to ``$CONNECTOR_TEST_POSTGRES_URL`` or the local test database.
Each backend's run is followed by the same load on ``bench/bare.py`` (bare Flask parsing the
same JSON, on the same gunicorn options): the table ends with the ratios. Only those are
comparable between runs on a shared machine. Goal (issue 15): rate ratio >= 0.30 with the
connector's p99 at most 3x bare Flask's.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import multiprocessing as mp
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
from collections import Counter
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import bare_server  # noqa: E402
from common import print_comparison  # noqa: E402

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CLIENT_PROCESSES = 4
#: Safety cap on requests per client thread, whatever the duration.
MAX_REQUESTS_PER_THREAD = 100_000


# -- /proc -------------------------------------------------------------------------------
def read(path: str) -> str:
    try:
        with open(path) as handle:
            return handle.read()
    except OSError:  # the process exited
        return ""


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants."""
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:  # exited meanwhile
            continue
        for task in tasks:
            todo.extend(int(child) for child in read(f"/proc/{pid}/task/{task}/children").split())
    return pids


def rss_kib(pid: int) -> int:
    return next((int(line.split()[1]) for line in read(f"/proc/{pid}/status").splitlines()
                 if line.startswith("VmRSS:")), 0)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of ``pids`` (all their threads)."""
    stats = [read(f"/proc/{pid}/stat").rsplit(")", 1)[-1].split() for pid in pids]
    return sum(int(f[11]) + int(f[12]) for f in stats if len(f) > 12) / os.sysconf("SC_CLK_TCK")


def machine_ticks() -> tuple[int, int]:
    """(all, idle + iowait) jiffies of the whole machine."""
    values = [int(v) for v in read("/proc/stat").splitlines()[0].split()[1:]]
    return sum(values), values[3] + values[4]


def busy_pct(before: tuple[int, int], after: tuple[int, int]) -> int:
    return round(100 * (1 - (after[1] - before[1]) / max(1, after[0] - before[0])))


# -- the server --------------------------------------------------------------------------
def connector_cli(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run([sys.executable, "-m", "connector", *args], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"connector {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def wait_healthy(base: str, server: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited with {server.returncode}:\n{log.read_text()}")
        try:
            if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not healthy after {timeout}s:\n{log.read_text()}")


def stop_server(server: subprocess.Popen) -> None:
    """SIGTERM to the server's own process group (gunicorn stops gracefully), then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(server.pid, sig)
            server.wait(timeout=wait)
            return
        except ProcessLookupError:  # the group is gone
            return
        except subprocess.TimeoutExpired:
            continue


# -- the clients -------------------------------------------------------------------------
def client_process(base: str, key: str, conversation_ids: list[str], threads: int,
                   first_client: int, interval: float, stagger: float, warmup: float, seconds: float,
                   barrier: t.Any, results: t.Any) -> None:
    """``threads`` clients; puts (latencies in ms, error counts) of the measured window on ``results``.

    Closed loop (no ``interval``): a client sends once its last message is answered. Open
    loop: client n sends every ``interval`` s from ``n * stagger``; latency counts from when
    a message was due, and what is unsent when the window closes is an error.
    """
    latencies: list[float] = []  # list.append is atomic
    errors: Counter[str] = Counter()
    lock = threading.Lock()
    barrier.wait(timeout=60)
    origin = time.monotonic()
    start, end = origin + warmup, origin + warmup + seconds

    def client(number: int) -> None:
        conn = http.client.HTTPConnection(base.removeprefix("http://"), timeout=10)  # keep-alive
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        for i in range(MAX_REQUESTS_PER_THREAD):
            conversation = conversation_ids[(number + i * 7) % len(conversation_ids)]
            body = json.dumps({"author": "shopper", "text": f"client {number} message {i}"}).encode()
            began = origin + i * interval + number * stagger if interval else time.monotonic()
            if began >= end:
                break
            if interval and began < start <= time.monotonic():
                continue  # a warm-up backlog is dropped: the window starts afresh
            if interval and time.monotonic() >= end:  # the window closed, this client behind schedule
                unsent = math.ceil((end - began) / interval)
                with lock:
                    errors["unsent (server too slow)"] += unsent
                break
            time.sleep(max(0.0, began - time.monotonic()))
            try:
                conn.request("POST", f"/v1/conversations/{conversation}/messages", body, headers)
                with conn.getresponse() as response:
                    response.read()
                outcome = "ok" if response.status == 201 else f"HTTP {response.status}"
            except Exception as exc:  # refused, reset, timed out: the next request reconnects
                conn.close()
                outcome = type(exc).__name__
            finished = time.monotonic()
            if began < start:
                continue  # warm-up
            if outcome == "ok":
                latencies.append((finished - began) * 1000)
            else:
                with lock:
                    errors[outcome] += 1
        conn.close()

    workers = [threading.Thread(target=client, args=(first_client + n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    results.put((latencies, dict(errors)))


def run_load(args: argparse.Namespace, base: str, key: str, conversation_ids: list[str],
             server_pid: int) -> tuple[list[float], Counter[str], dict[str, float]]:
    ctx = mp.get_context("spawn")  # no fork of this process's threads
    nprocs = min(CLIENT_PROCESSES, args.clients)
    shares = [args.clients // nprocs + (n < args.clients % nprocs) for n in range(nprocs)]
    barrier, results = ctx.Barrier(nprocs + 1), ctx.Queue()
    interval = args.clients / args.rate if args.rate else 0.0
    procs = [
        ctx.Process(target=client_process, daemon=True, args=(
            base, key, conversation_ids, share, sum(shares[:n]),
            interval, interval / args.clients, args.warmup, args.seconds, barrier, results))
        for n, share in enumerate(shares)
    ]
    for proc in procs:
        proc.start()
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    try:
        barrier.wait(timeout=60)  # every client process is up: start together
        start = time.monotonic() + args.warmup
        tree, peak_kib, cpu0 = process_tree(server_pid), 0, None
        while (now := time.monotonic()) < start + args.seconds or cpu0 is None:  # sample every 50 ms
            peak_kib = max(peak_kib, sum(rss_kib(pid) for pid in tree))
            if cpu0 is None and now >= start:
                cpu0, machine0, began = cpu_seconds(tree), machine_ticks(), now
            time.sleep(0.05)
        cpu1, machine1, ended = cpu_seconds(tree), machine_ticks(), time.monotonic()
        for _ in procs:
            got, failed = results.get(timeout=30)
            latencies.extend(got)
            errors.update(failed)
    finally:
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
    usage = {"peak_rss_mib": round(peak_kib / 1024, 1), "server_cpu_cores": round((cpu1 - cpu0) / (ended - began), 2),
             "machine_busy_pct": busy_pct(machine0, machine1)}
    return latencies, errors, usage


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


# -- one backend -------------------------------------------------------------------------
def postgres_admin(url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True) as conn:
        conn.execute(statement)


def bench_backend(backend: str, args: argparse.Namespace) -> dict[str, t.Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    env["CONNECTOR_SECRET_KEY"] = secrets.token_urlsafe(48)
    schema = f"bench_{secrets.token_hex(4)}" if backend == "postgres" else None
    before = machine_ticks()
    time.sleep(1)
    idle_busy = busy_pct(before, machine_ticks())
    if idle_busy > 10:  # another workload shares the CPUs: the figures will be low
        print(f"warning: the machine was {idle_busy}% busy before the {backend} run", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix=f"bench-{backend}-") as tmp:
        cwd, server = Path(tmp), None
        try:
            if schema is None:
                env["CONNECTOR_DATABASE_URL"] = f"sqlite:///{cwd / 'var' / 'connector.db'}"
            else:
                postgres_admin(args.postgres_url, f"CREATE SCHEMA {schema}")
                separator = "&" if "?" in args.postgres_url else "?"
                env["CONNECTOR_DATABASE_URL"] = f"{args.postgres_url}{separator}options=-csearch_path%3D{schema}"
                connector_cli(["db", "upgrade"], cwd, env)
            key = json.loads(connector_cli(["workspace", "create", "--name", "bench", "--json"], cwd, env))["api_key"]
            with socket.socket() as sock:  # a free port
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            base, log = f"http://127.0.0.1:{port}", cwd / "server.log"
            with open(log, "w") as out:
                server = subprocess.Popen(
                    [sys.executable, "-m", "connector", "serve", "--host", "127.0.0.1", "--port", str(port),
                     "--workers", str(args.workers), "--threads", str(args.threads)],
                    cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                )
            wait_healthy(base, server, log)
            with requests.Session() as session:
                session.headers["Authorization"] = f"Bearer {key}"
                conversation_ids = []
                for n in range(args.conversations):
                    response = session.post(f"{base}/v1/conversations", timeout=10,
                                            json={"shopper": {"name": f"Shopper {n}"}})
                    response.raise_for_status()
                    conversation_ids.append(response.json()["id"])
            latencies, errors, usage = run_load(args, base, key, conversation_ids, server.pid)
        finally:
            if server is not None:
                stop_server(server)
            if schema is not None:
                postgres_admin(args.postgres_url, f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    # The baseline, right after, with the same load: bare Flask on the same gunicorn options.
    with bare_server(workers=args.workers, threads=args.threads) as (bare_base, bare_pid):
        bare_latencies, bare_errors, _ = run_load(args, bare_base, "bare", [f"conv_{n}" for n in range(args.conversations)],
                                                  bare_pid)
    bare_latencies.sort()
    latencies.sort()
    return {
        "bare_messages_per_s": round(len(bare_latencies) / args.seconds, 1),
        "bare_p50_ms": round(percentile(bare_latencies, 0.50), 1),
        "bare_p99_ms": round(percentile(bare_latencies, 0.99), 1),
        "bare_errors": sum(bare_errors.values()),
        "backend": backend, "workers": args.workers, "threads": args.threads, "clients": args.clients,
        "rate": args.rate or None, "seconds": args.seconds, "messages": len(latencies),
        "messages_per_s": round(len(latencies) / args.seconds, 1),
        "p50_ms": round(percentile(latencies, 0.50), 1), "p99_ms": round(percentile(latencies, 0.99), 1),
        "max_ms": round(latencies[-1], 1) if latencies else None,
        "errors": sum(errors.values()), "error_kinds": dict(errors),
        **usage, "busy_before_pct": idle_busy,
    }


COLUMNS = [("backend", "backend"), ("messages_per_s", "msg/s"), ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"),
           ("max_ms", "max ms"), ("errors", "errors"), ("peak_rss_mib", "peak RSS MiB"),
           ("server_cpu_cores", "server CPU"), ("machine_busy_pct", "machine busy %")]


def print_table(results: list[dict[str, t.Any]]) -> None:
    widths = [max(len(title), *(len(str(r[key])) for r in results)) for key, title in COLUMNS]
    print("  ".join(title.rjust(w) for (_, title), w in zip(COLUMNS, widths)))
    for result in results:
        print("  ".join(str(result[key]).rjust(w) for (key, _), w in zip(COLUMNS, widths)))
        if result["error_kinds"]:
            print(f"  {result['backend']} errors: {result['error_kinds']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured load before the window")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rate", type=float, default=0.0,
                        help="offer this many messages/s in all (open loop); default: as fast as answered")
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=16, help="threads per gunicorn worker")
    parser.add_argument("--postgres-url", default=os.environ.get("CONNECTOR_TEST_POSTGRES_URL", DEFAULT_POSTGRES))
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if min(args.clients, args.seconds, args.conversations, args.workers, args.threads) <= 0 or min(args.warmup, args.rate) < 0:
        parser.error("counts and durations must be positive")
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results = [bench_backend(backend, args) for backend in backends]
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        offered = f"offering {args.rate:g} msg/s" if args.rate else "closed loop"
        print(f"config: serve --workers {args.workers} --threads {args.threads}; {args.clients} clients ({offered}) in "
              f"{min(CLIENT_PROCESSES, args.clients)} processes, {args.conversations} "
              f"conversations, {args.warmup:g}s warm-up + {args.seconds:g}s measured, {os.cpu_count()} CPUs")
        print_table(results)
        print()
        print_comparison("against bare Flask (same gunicorn options, same load, same run):", [
            (r["backend"], {"rate": r["messages_per_s"], "p50": r["p50_ms"], "p99": r["p99_ms"]},
             {"rate": r["bare_messages_per_s"], "p50": r["bare_p50_ms"], "p99": r["bare_p99_ms"]})
            for r in results], "msg/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
