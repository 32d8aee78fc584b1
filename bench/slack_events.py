"""Slack thread replies under load: how fast Slack gets its answer, how soon the shopper sees it.

    .venv/bin/python bench/slack_events.py [--backend sqlite|postgres|both] [--rate 200] [--seconds 10]
    .venv/bin/python bench/slack_events.py --rate 0 --seconds 10     # closed loop: saturation

For each backend (SQLite in a temporary directory; PostgreSQL in a scratch schema that is
dropped after): starts ``connector serve`` (with its embedded delivery worker unless
``--worker-process``) and the project's fake Slack Web API, sets Slack up for a workspace,
hands ``--conversations`` (200) conversations over (so as many threads exist), then sends
signed thread-reply events to ``/hooks/slack/events`` from ``--threads`` keep-alive
clients, at ``--rate`` per second (open loop) or as fast as answered (``--rate 0``).
A WebSocket on ``/v1/stream`` records when each reply appears as a human message, and the
database is counted every 250 ms after the load ends: how many acknowledged replies are
stored at the end of the load, 15 s later, and when all of them were.

Then the same events, with the same clients, go to ``bench/bare.py`` (bare Flask that checks
the signature and parses the JSON, on the same gunicorn options): the last table gives
connector / bare Flask ratios measured in the same run, the only comparable figures on a
shared machine. Goals (issue 15): closed-loop rate ratio >= 0.40 with p99 at most 3x bare
Flask's; at 200 replies/s, p50 visibility under 1 s and all stored within 15 s.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import os
import queue
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
from pathlib import Path

import requests
from websockets.sync.client import connect as open_socket

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import DEFAULT_POSTGRES  # noqa: E402
from common import bare_server  # noqa: E402
from common import percentile  # noqa: E402
from common import postgres_schema  # noqa: E402
from common import print_comparison  # noqa: E402
from common import stop  # noqa: E402
from common import wait_healthy  # noqa: E402
from tests.fakes.slack_api import FakeSlack  # noqa: E402

SECRET = "bench-signing-secret-000000000001"
TOKEN = "xoxb-bench"
CHANNEL = "CBENCH"
CONVERSATIONS = 200


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ms(values: list[float], q: float) -> float:
    return percentile(values, q) * 1000


def run(args: list[str], cwd: str, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-m", "connector", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"connector {' '.join(args)} failed: {done.stderr}")
    return done.stdout


def prepare(total: int, conversations: list[str], parents: dict[str, str], agents: int) -> list[tuple]:
    """Signed reply events, made before the clock starts (the client shares the machine)."""
    signed_at = str(int(time.time()))
    prepared = []
    for n in range(total):
        cid = conversations[n % len(conversations)]
        body = json.dumps({
            "type": "event_callback", "team_id": "T01", "api_app_id": "A01", "event_id": f"EvB{n:08d}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": "T01", "user_id": "UBOT", "is_bot": True}],
            "event": {"type": "message", "channel": CHANNEL, "user": f"UAGENT{n % agents}",
                      "text": f"reply {n}", "ts": f"{1735689600 + n}.{n % 1000000:06d}",
                      "thread_ts": parents.get(cid, "1735600000.000001"), "parent_user_id": "UBOT"}}).encode()
        signature = "v0=" + hmac.new(SECRET.encode(), f"v0:{signed_at}:".encode() + body, hashlib.sha256).hexdigest()
        prepared.append((f"reply {n}", body, {"Content-Type": "application/json",
                                              "X-Slack-Request-Timestamp": signed_at, "X-Slack-Signature": signature}))
    return prepared


def send(port: int, prepared: list[tuple], rate: float, seconds: float, threads: int) -> dict:
    """Post the events from ``threads`` keep-alive clients: at ``rate``/s (open loop), or, with
    ``rate`` 0, each client as soon as its last was answered, for ``seconds`` (closed loop)."""
    jobs: queue.Queue = queue.Queue()
    sent: dict[str, float] = {}
    acks: list[float] = []
    errors: list[int] = []
    lock = threading.Lock()
    start = time.time() + 0.5
    end = start + seconds
    for n in range(len(prepared)):
        jobs.put((n, start + n / rate if rate else start))

    def sender() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while True:
            try:
                n, at = jobs.get_nowait()
            except queue.Empty:
                return
            delay = at - time.time()
            if delay > 0:
                time.sleep(delay)
            if not rate and time.time() >= end:
                return
            marker, body, headers = prepared[n]
            began = time.time()
            try:
                connection.request("POST", "/hooks/slack/events", body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                status = 0
            ended = time.time()
            with lock:
                sent[marker] = began
                if status == 200:
                    acks.append(ended - began)
                else:
                    errors.append(status)

    workers = [threading.Thread(target=sender) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    finished = time.time()
    return {"sent": sent, "acks": acks, "errors": errors, "start": start, "finished": finished,
            "rate": len(acks) / max(0.001, finished - start),
            "p50": ms(acks, 0.5), "p99": ms(acks, 0.99)}


def human_counts(engine: t.Any) -> tuple[int, int]:
    """(human messages stored, distinct texts among them) straight from the database."""
    from sqlalchemy import text

    with engine.connect() as connection:
        return tuple(connection.execute(text(
            "SELECT count(*), count(DISTINCT text) FROM messages WHERE author = 'human'")).one())


def bench_connector(args: argparse.Namespace, database_url: str) -> dict:
    from sqlalchemy import create_engine

    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    env.update({"CONNECTOR_SECRET_KEY": "b" * 40, "CONNECTOR_SLACK_POSTS_PER_SECOND": "0",
                "CONNECTOR_DELIVERY_POLL_INTERVAL": "0.05", "CONNECTOR_DATABASE_URL": database_url})
    if args.redis_url:
        env["CONNECTOR_REDIS_URL"] = args.redis_url
    env.update(item.split("=", 1) for item in args.env)
    port = free_port()
    with FakeSlack() as slack, tempfile.TemporaryDirectory() as workdir:
        env["CONNECTOR_DATABASE_URL"] = database_url.replace("{workdir}", workdir)
        slack.add_token(TOKEN, team_id="T01", bot_user_id="UBOT", bot_id="BBOT")
        slack.add_channel(CHANNEL, name="handover")
        for n in range(args.threads):
            slack.add_user(f"UAGENT{n}", name=f"agent{n}", real_name=f"Agent {n}", display_name=f"Agent {n}")
        run(["db", "upgrade"], workdir, env)
        created = json.loads(run(["workspace", "create", "--name", "Bench", "--json"], workdir, env))
        run(["integration", "set", created["id"], "slack", f"channel={CHANNEL}", f"bot_token={TOKEN}",
             f"signing_secret={SECRET}", f"api_base_url={slack.url}"], workdir, env)
        delivery = None
        if args.worker_process or args.acks_only:
            env["CONNECTOR_EMBEDDED_WORKER"] = "0"
            # Deliveries are background work: on a machine shared with the web processes,
            # they yield the CPU to Slack's acknowledgements.
            delivery = subprocess.Popen(["nice", "-n", "15", sys.executable, "-m", "connector", "worker"],
                                        cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        server = subprocess.Popen(
            [sys.executable, "-m", "connector", "serve", "--port", str(port), "--workers", str(args.workers),
             "--threads", str(args.server_threads)],
            cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        engine = create_engine(env["CONNECTOR_DATABASE_URL"])
        try:
            base = f"http://127.0.0.1:{port}"
            wait_healthy(base, server)
            api = requests.Session()
            api.headers["Authorization"] = f"Bearer {created['api_key']}"
            conversations = []
            for n in range(args.conversations):
                cid = api.post(f"{base}/v1/conversations", json={"shopper": {"name": f"Shopper {n}"}}).json()["id"]
                api.post(f"{base}/v1/conversations/{cid}/handover", json={})
                conversations.append(cid)
            deadline = time.time() + 120
            while len([m for m in slack.messages(CHANNEL) if not m.get("thread_ts")]) < args.conversations:
                if time.time() > deadline:
                    raise SystemExit("threads were not opened in time")
                time.sleep(0.1)
            if args.acks_only:  # the threads are open: no more deliveries from here on
                delivery.terminate()
                delivery.wait(timeout=30)
                delivery = None
            parents = {}
            for message in slack.messages(CHANNEL):
                if not message.get("thread_ts"):
                    found = re.search(r"(conv_\w+)", json.dumps(message.get("blocks")))
                    parents[found.group(1)] = message["ts"]
            before = human_counts(engine)[0]

            seen: dict[str, float] = {}
            stop_listening = threading.Event()
            stream = open_socket(f"ws://127.0.0.1:{port}/v1/stream?token={created['api_key']}", open_timeout=30,
                                 legacy=True)  # closed below, not in a with block

            def listen() -> None:
                while not stop_listening.is_set():
                    try:
                        data = stream.recv(timeout=0.5)
                    except TimeoutError:
                        continue
                    except Exception:
                        return
                    event = json.loads(data)
                    if event.get("type") == "message.created" and event["message"]["author"] == "human":
                        seen.setdefault(event["message"]["text"], time.time())

            threading.Thread(target=listen, daemon=True).start()
            total = int(args.rate * args.seconds) if args.rate else args.max_events
            result = send(port, prepare(total, conversations, parents, args.threads), args.rate, args.seconds,
                          args.threads)
            # How many acknowledged replies are stored, and when (straight from the database).
            acked, timeline, all_after = len(result["acks"]), [], None
            drain_until = result["finished"] + (0 if args.acks_only else args.drain)
            while True:
                stored = human_counts(engine)[0] - before
                elapsed = time.time() - result["finished"]
                timeline.append((elapsed, stored))
                if stored >= acked and all_after is None:
                    all_after = elapsed
                if all_after is not None or time.time() >= drain_until:
                    break
                time.sleep(0.25)
            time.sleep(0.5)  # the stream's last few
            stop_listening.set()
            stream.close()
            stored, distinct = human_counts(engine)
            stored, distinct = stored - before, distinct - before
        finally:
            if delivery is not None:
                delivery.terminate()
                delivery.wait(timeout=30)
            stop(server)
            engine.dispose()

    sent = result["sent"]
    visible = [seen[m] - sent[m] for m in seen if m in sent]

    def stored_by(seconds: float) -> int:
        return max((n for at, n in timeline if at <= seconds), default=0)

    result.update(acked=acked, stored=stored, duplicates=stored - distinct, all_stored_after=all_after,
                  stored_at_end=stored_by(0.3), stored_at_15s=stored_by(15.0), seen=len(seen),
                  visible_p50=ms(visible, 0.5), visible_p99=ms(visible, 0.99))
    return result


def bench_bare(args: argparse.Namespace) -> dict:
    conversations = [f"conv_{n}" for n in range(args.conversations)]
    with bare_server(workers=args.workers, threads=args.server_threads, slack_secret=SECRET) as (base, _):
        port = int(base.rsplit(":", 1)[1])
        total = int(args.rate * args.seconds) if args.rate else args.max_events
        return send(port, prepare(total, conversations, {}, args.threads), args.rate, args.seconds, args.threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--rate", type=float, default=200, help="events/s offered; 0: closed loop (saturation)")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--max-events", type=int, default=20000, help="closed loop: at most this many")
    parser.add_argument("--drain", type=float, default=60, help="how long to wait for the stored replies")
    parser.add_argument("--threads", type=int, default=16, help="client threads (agents)")
    parser.add_argument("--server-threads", type=int, default=32, help="threads per gunicorn worker")
    parser.add_argument("--worker-process", action="store_true",
                        help="deliver from a separate `connector worker` instead of the web processes' threads")
    parser.add_argument("--acks-only", action="store_true",
                        help="run no delivery worker: the acknowledgement path alone (nothing becomes visible)")
    parser.add_argument("--redis-url", default=None, help="fan-out across the server's worker processes")
    parser.add_argument("--conversations", type=int, default=CONVERSATIONS)
    parser.add_argument("--workers", type=int, default=1,
                        help="gunicorn worker processes (more than one needs --redis-url for the stream)")
    parser.add_argument("--env", action="append", default=[], metavar="CONNECTOR_X=value",
                        help="a setting for the connector's processes (repeatable)")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES,
                        help="a database in which a scratch schema is made and dropped")
    args = parser.parse_args()

    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    rows = []
    for backend in backends:
        if backend == "sqlite":
            ours = bench_connector(args, "sqlite:///{workdir}/var/connector.db")
        else:
            with postgres_schema(args.postgres_url) as url:
                ours = bench_connector(args, url)
        bare = bench_bare(args)  # right after, same load, same gunicorn options
        rows.append((backend, ours, bare))
        print(f"== {backend}: {len(ours['sent'])} replies sent in {ours['finished'] - ours['start']:.1f} s "
              f"({'closed loop' if not args.rate else f'offered {args.rate:.0f}/s'}, {args.threads} clients)")
        print(f"acknowledged 200            {ours['acked']}   errors {len(ours['errors'])}")
        print(f"acknowledgement      p50    {ours['p50']:.1f} ms   p99 {ours['p99']:.1f} ms")
        if not args.acks_only:
            print(f"visible on the stream p50   {ours['visible_p50']:.1f} ms   p99 {ours['visible_p99']:.1f} ms"
                  f"   ({ours['seen']} seen)")
            after = (f"all stored {ours['all_stored_after']:.1f} s after the load ended"
                     if ours["all_stored_after"] is not None else f"NOT all stored {args.drain:.0f} s after the load")
            print(f"stored as human messages    {ours['stored']} of {ours['acked']} acknowledged "
                  f"(at load end {ours['stored_at_end']}, +15 s {ours['stored_at_15s']}; {after}; "
                  f"duplicates {ours['duplicates']})")
    print()
    print_comparison("acknowledgements against bare Flask (signature check + JSON parse, same gunicorn options, "
                     "same load, same run):",
                     [(backend, ours, bare) for backend, ours, bare in rows], "ev/s")


if __name__ == "__main__":
    main()
