"""Handover to the Slack thread's parent post, with Slack's pacing on, one handover a second.

    .venv/bin/python bench/slack_handovers.py [--backend sqlite|postgres|both] [--handovers 20]

For each backend: ``connector serve`` with default settings (Slack pacing of one post a
second per channel, the embedded worker) and the project's fake Slack Web API. Each
conversation has ``--transcript`` messages before its handover (so its thread gets
transcript posts) and ``--mirrors`` shopper messages right after (mirror posts), all into
one channel. The time from the handover call's answer to the parent post reaching the fake
is measured (the fake is polled every 10 ms).

The baseline, in the same run: the same handover in an idle channel (``--idle`` samples,
each after the channel's posts are done and its budget has refilled). Goal (issue 15):
busy p50 under 300 ms. Also printed: the most posts the fake saw in any one second
(Slack allows about one a second per channel, with short bursts).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import DEFAULT_POSTGRES  # noqa: E402
from common import free_port  # noqa: E402
from common import percentile  # noqa: E402
from common import postgres_schema  # noqa: E402
from common import print_comparison  # noqa: E402
from common import stop  # noqa: E402
from common import wait_healthy  # noqa: E402
from tests.fakes.slack_api import FakeSlack  # noqa: E402

TOKEN = "xoxb-bench"
CHANNEL = "CBENCH"
SECRET = "bench-signing-secret-000000000001"


def cli(args: list[str], cwd: str, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-m", "connector", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"connector {' '.join(args)} failed: {done.stderr}")
    return done.stdout


class Watcher:
    """Polls the fake's channel: when each conversation's parent post and every post arrived."""

    def __init__(self, slack: FakeSlack) -> None:
        self.slack, self.parents, self.posts, self.stopped = slack, {}, [], threading.Event()
        self.seen = 0
        threading.Thread(target=self.run, daemon=True).start()

    def run(self) -> None:
        while not self.stopped.is_set():
            messages = self.slack.messages(CHANNEL)
            now = time.time()
            for message in messages[self.seen:]:
                self.posts.append(now)
                if not message.get("thread_ts") or message.get("thread_ts") == message.get("ts"):
                    found = re.search(r"(conv_\w+)", json.dumps(message.get("blocks")))
                    if found:
                        self.parents.setdefault(found.group(1), now)
            self.seen = len(messages)
            time.sleep(0.01)


def bench(args: argparse.Namespace, database_url: str) -> tuple[dict, dict, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    env.update({"CONNECTOR_SECRET_KEY": "b" * 40})
    port = free_port()
    with FakeSlack() as slack, tempfile.TemporaryDirectory() as workdir:
        env["CONNECTOR_DATABASE_URL"] = database_url.replace("{workdir}", workdir)
        slack.add_token(TOKEN, team_id="T01", bot_user_id="UBOT", bot_id="BBOT")
        slack.add_channel(CHANNEL, name="handover")
        cli(["db", "upgrade"], workdir, env)
        created = json.loads(cli(["workspace", "create", "--name", "Bench", "--json"], workdir, env))
        cli(["integration", "set", created["id"], "slack", f"channel={CHANNEL}", f"bot_token={TOKEN}",
             f"signing_secret={SECRET}", f"api_base_url={slack.url}"], workdir, env)
        server = subprocess.Popen([sys.executable, "-m", "connector", "serve", "--port", str(port)],
                                  cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)
        watcher = Watcher(slack)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_healthy(base, server)
            api = requests.Session()
            api.headers["Authorization"] = f"Bearer {created['api_key']}"

            def conversation(n: int) -> str:
                cid = api.post(f"{base}/v1/conversations", json={"shopper": {"name": f"Shopper {n}"}}).json()["id"]
                for m in range(args.transcript):
                    api.post(f"{base}/v1/conversations/{cid}/messages",
                             json={"author": "shopper" if m % 2 == 0 else "ai", "text": f"message {m} " + "x" * 80})
                return cid

            def hand_over(cid: str) -> float:
                api.post(f"{base}/v1/conversations/{cid}/handover", json={}).raise_for_status()
                answered = time.time()
                for m in range(args.mirrors):
                    api.post(f"{base}/v1/conversations/{cid}/messages",
                             json={"author": "shopper", "text": f"after the handover {m}"})
                return answered

            def settle() -> None:  # every post is out and the channel's budget refilled
                last = -1
                while last != len(slack.messages(CHANNEL)):
                    last = len(slack.messages(CHANNEL))
                    time.sleep(2.0)
                time.sleep(4.0)

            idle_waits = []
            for n in range(args.idle):
                cid = conversation(1000 + n)
                settle()
                answered = hand_over(cid)
                slack.wait_for(lambda: cid in watcher.parents, timeout=60)
                idle_waits.append(watcher.parents[cid] - answered)
            settle()
            busy = [conversation(n) for n in range(args.handovers)]
            answered_at = {}
            start = time.time()
            for n, cid in enumerate(busy):
                time.sleep(max(0.0, start + n * args.interval - time.time()))
                answered_at[cid] = hand_over(cid)
            slack.wait_for(lambda: all(cid in watcher.parents for cid in busy), timeout=300)
            busy_waits = [watcher.parents[cid] - answered_at[cid] for cid in busy]
            settle()
            posts = sorted(watcher.posts)
            burst = max(sum(1 for q in posts if p <= q < p + 1.0) for p in posts) if posts else 0
        finally:
            watcher.stopped.set()
            stop(server)
    figures = lambda waits: {"rate": float(len(waits)), "p50": percentile(waits, 0.5) * 1000,  # noqa: E731
                             "p99": percentile(waits, 0.99) * 1000, "all": [round(w * 1000) for w in waits]}
    return figures(busy_waits), figures(idle_waits), burst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--handovers", type=int, default=20)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between handovers")
    parser.add_argument("--transcript", type=int, default=4, help="messages before each handover")
    parser.add_argument("--mirrors", type=int, default=2, help="shopper messages right after each handover")
    parser.add_argument("--idle", type=int, default=3, help="baseline samples in an idle channel")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    args = parser.parse_args()
    rows = []
    for backend in (["sqlite", "postgres"] if args.backend == "both" else [args.backend]):
        if backend == "sqlite":
            busy, idle, burst = bench(args, "sqlite:///{workdir}/var/connector.db")
        else:
            with postgres_schema(args.postgres_url) as url:
                busy, idle, burst = bench(args, url)
        rows.append((backend, busy, idle))
        print(f"== {backend}: handover -> parent post, ms, one handover every {args.interval:g} s: {busy['all']}")
        print(f"   idle channel: {idle['all']}; most posts the fake saw in one second: {burst}")
    print()
    print_comparison("handover -> Slack parent post in a busy channel against an idle channel (same run); "
                     "'n' = handovers:", rows, "n")


if __name__ == "__main__":
    main()
