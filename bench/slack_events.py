"""Slack thread replies under load: how fast Slack gets its answer, how soon the shopper sees it.

    .venv/bin/python bench/slack_events.py [--rate 200] [--seconds 10] [--threads 32]

Starts ``connector serve`` (SQLite, in a temporary directory, with its delivery worker)
and the project's fake Slack Web API, sets Slack up for a workspace, hands 20
conversations over (so 20 threads exist), then sends signed thread-reply events to
``/hooks/slack/events`` at ``--rate`` per second for ``--seconds``, spread over the
threads, from ``--threads`` client threads with keep-alive connections. A WebSocket on
``/v1/stream`` records when each reply appears as a human message.

Prints the acknowledgement latency (request sent to Slack's 200) p50/p99, the time until
the human message is visible through the platform's stream p50/p99, the achieved rate,
and how many replies arrived exactly once. Goal: p99 acknowledgement under 100 ms
(Slack's own limit is 3 s).
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
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from simple_websocket import Client

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.slack_api import FakeSlack  # noqa: E402

SECRET = "bench-signing-secret-000000000001"
TOKEN = "xoxb-bench"
CHANNEL = "CBENCH"
CONVERSATIONS = 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


def run(args: list[str], cwd: str, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-m", "connector", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"connector {' '.join(args)} failed: {done.stderr}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--threads", type=int, default=32)
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    env.update({"CONNECTOR_SECRET_KEY": "b" * 40, "CONNECTOR_SLACK_POSTS_PER_SECOND": "0",
                "CONNECTOR_DELIVERY_POLL_INTERVAL": "0.05"})
    port = free_port()
    with FakeSlack() as slack, tempfile.TemporaryDirectory() as workdir:
        slack.add_token(TOKEN, team_id="T01", bot_user_id="UBOT", bot_id="BBOT")
        slack.add_channel(CHANNEL, name="handover")
        for n in range(args.threads):
            slack.add_user(f"UAGENT{n}", name=f"agent{n}", real_name=f"Agent {n}", display_name=f"Agent {n}")
        run(["db", "upgrade"], workdir, env)
        created = json.loads(run(["workspace", "create", "--name", "Bench", "--json"], workdir, env))
        run(["integration", "set", created["id"], "slack", f"channel={CHANNEL}", f"bot_token={TOKEN}",
             f"signing_secret={SECRET}", f"api_base_url={slack.url}"], workdir, env)
        server = subprocess.Popen(
            [sys.executable, "-m", "connector", "serve", "--port", str(port), "--workers", "2", "--threads", "32"],
            cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(400):
                try:
                    if requests.get(f"{base}/healthz", timeout=1).ok:
                        break
                except requests.ConnectionError:
                    time.sleep(0.05)
            api = requests.Session()
            api.headers["Authorization"] = f"Bearer {created['api_key']}"
            conversations = []
            for n in range(CONVERSATIONS):
                cid = api.post(f"{base}/v1/conversations", json={"shopper": {"name": f"Shopper {n}"}}).json()["id"]
                api.post(f"{base}/v1/conversations/{cid}/handover", json={})
                conversations.append(cid)
            deadline = time.time() + 60
            while len([m for m in slack.messages(CHANNEL) if not m.get("thread_ts")]) < CONVERSATIONS:
                if time.time() > deadline:
                    raise SystemExit("threads were not opened in time")
                time.sleep(0.1)
            parents = {}
            for message in slack.messages(CHANNEL):
                if not message.get("thread_ts"):
                    found = re.search(r"(conv_\w+)", json.dumps(message.get("blocks")))
                    parents[found.group(1)] = message["ts"]

            seen: dict[str, float] = {}
            counts: dict[str, int] = {}
            stop = threading.Event()
            stream = Client.connect(f"ws://127.0.0.1:{port}/v1/stream?token={created['api_key']}")

            def listen() -> None:
                while not stop.is_set():
                    try:
                        data = stream.receive(timeout=0.5)
                    except Exception:
                        return
                    if not data:
                        continue
                    event = json.loads(data)
                    if event.get("type") == "message.created" and event["message"]["author"] == "human":
                        marker = event["message"]["text"]
                        seen.setdefault(marker, time.time())
                        counts[marker] = counts.get(marker, 0) + 1

            threading.Thread(target=listen, daemon=True).start()

            total = int(args.rate * args.seconds)
            jobs: queue.Queue = queue.Queue()
            sent: dict[str, float] = {}
            acks: list[float] = []
            errors: list[int] = []
            lock = threading.Lock()
            start = time.time() + 0.5
            for n in range(total):
                jobs.put((n, start + n / args.rate))

            def sender(index: int) -> None:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                while True:
                    try:
                        n, at = jobs.get_nowait()
                    except queue.Empty:
                        return
                    delay = at - time.time()
                    if delay > 0:
                        time.sleep(delay)
                    cid = conversations[n % CONVERSATIONS]
                    marker = f"reply {n}"
                    ts = f"{1735689600 + n}.{n % 1000000:06d}"
                    body = json.dumps({
                        "type": "event_callback", "team_id": "T01", "api_app_id": "A01", "event_id": f"EvB{n:08d}",
                        "event_time": int(time.time()),
                        "authorizations": [{"team_id": "T01", "user_id": "UBOT", "is_bot": True}],
                        "event": {"type": "message", "channel": CHANNEL, "user": f"UAGENT{index}", "text": marker,
                                  "ts": ts, "thread_ts": parents[cid], "parent_user_id": "UBOT"}})
                    now = str(int(time.time()))
                    signature = "v0=" + hmac.new(SECRET.encode(), f"v0:{now}:{body}".encode(), hashlib.sha256).hexdigest()
                    began = time.time()
                    try:
                        connection.request("POST", "/hooks/slack/events", body=body, headers={
                            "Content-Type": "application/json", "X-Slack-Request-Timestamp": now,
                            "X-Slack-Signature": signature})
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

            threads = [threading.Thread(target=sender, args=(i,)) for i in range(args.threads)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            finished = time.time()
            wait_until = time.time() + 60
            while len(seen) < len(sent) - len(errors) and time.time() < wait_until:
                time.sleep(0.1)
            stop.set()
            stream.close()
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()

    visible = [seen[m] - sent[m] for m in seen if m in sent]
    print(f"replies sent                {len(sent)} in {finished - start:.1f} s "
          f"({len(sent) / max(0.001, finished - start):.0f}/s, target {args.rate:.0f}/s)")
    print(f"acknowledged 200            {len(acks)}   errors {len(errors)}")
    print(f"acknowledgement      p50    {pct(acks, 0.5):.1f} ms   p99 {pct(acks, 0.99):.1f} ms   (goal p99 < 100 ms)")
    print(f"visible in the API   p50    {pct(visible, 0.5):.1f} ms   p99 {pct(visible, 0.99):.1f} ms")
    print(f"delivered exactly once      {sum(1 for m in sent if counts.get(m) == 1)} of {len(sent)}")


if __name__ == "__main__":
    main()
