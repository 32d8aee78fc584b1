"""Slack and Zendesk through a live ``connector serve`` (gunicorn, its own delivery worker),
set up with the real CLI against the fake vendor APIs, as an admin would."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import subprocess
import sys
import time

import requests

from tests.e2e.conftest import ENV
from tests.e2e.conftest import serve
from tests.fakes.slack_api import FakeSlack
from tests.fakes.zendesk_api import FakeZendesk

SLACK_SECRET = "live-slack-signing-secret-00000001"


def cli(cwd, *args, env=None):
    done = subprocess.run([sys.executable, "-m", "connector", *args], cwd=cwd, env={**ENV, **(env or {})},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def wait_for(check, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_a_handover_round_trip_through_slack_and_zendesk(tmp_path):
    env = {"CONNECTOR_SLACK_POSTS_PER_SECOND": "0", "CONNECTOR_DELIVERY_POLL_INTERVAL": "0.05"}
    with FakeSlack() as slack, FakeZendesk() as zendesk:
        slack.add_token("xoxb-live", team_id="T01", bot_user_id="UBOT", bot_id="BBOT")
        slack.add_channel("CLIVE", name="handover")
        slack.add_user("UAGENT", name="sam", real_name="Sam Rivera", display_name="Sam")
        zendesk.set_api_user("bot@shop.example", "zd-live-token")
        agent = zendesk.add_agent("Dana Agent", "dana@shop.example")
        cli(tmp_path, "db", "upgrade", env=env)
        workspace = json.loads(cli(tmp_path, "workspace", "create", "--name", "Live", "--json", env=env))
        with serve(tmp_path, env=env, expect_key=False) as live:
            cli(tmp_path, "integration", "set", workspace["id"], "slack", "channel=CLIVE", "bot_token=xoxb-live",
                f"signing_secret={SLACK_SECRET}", f"api_base_url={slack.url}", env=env)
            cli(tmp_path, "integration", "set", workspace["id"], "zendesk", "subdomain=acme",
                "email=bot@shop.example", "api_token=zd-live-token", f"api_base_url={zendesk.url}", env=env)
            api = requests.Session()
            api.headers["Authorization"] = f"Bearer {workspace['api_key']}"
            cid = api.post(f"{live.base_url}/v1/conversations",
                           json={"shopper": {"name": "Ann", "email": "ann@example.com"}}).json()["id"]
            api.post(f"{live.base_url}/v1/conversations/{cid}/messages", json={"author": "shopper", "text": "Help!"})
            assert api.post(f"{live.base_url}/v1/conversations/{cid}/handover", json={}).status_code == 200

            parent = wait_for(lambda: next((m for m in slack.messages("CLIVE") if not m.get("thread_ts")), None))
            ticket = wait_for(lambda: next((t for t in zendesk.tickets.values() if t.get("external_id") == cid), None))

            # Sam answers in the Slack thread: it reaches the shopper, and the Zendesk ticket.
            body = json.dumps({"type": "event_callback", "team_id": "T01", "event_id": "EvLIVE1",
                               "event": {"type": "message", "channel": "CLIVE", "user": "UAGENT", "text": "On it!",
                                         "ts": "1735689999.000100", "thread_ts": parent["ts"]}})
            stamp = str(int(time.time()))
            signature = "v0=" + hmac.new(SLACK_SECRET.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
            acked = requests.post(f"{live.base_url}/hooks/slack/events", data=body, timeout=5, headers={
                "Content-Type": "application/json", "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature})
            assert acked.status_code == 200

            def human_messages():
                data = api.get(f"{live.base_url}/v1/conversations/{cid}/messages").json()["data"]
                return [(m["text"], m["author_name"], m["source"]) for m in data if m["author"] == "human"]

            assert wait_for(human_messages) == [("On it!", "Sam", "slack")]
            wait_for(lambda: any("On it!" in (c.get("html_body") or c["body"]) for c in zendesk.tickets[ticket["id"]]["comments"]))

            # Dana solves the ticket in Zendesk: the conversation is resolved, and Slack says so.
            zendesk.assign(ticket["id"], agent["id"])
            zendesk.set_status(ticket["id"], "solved", actor_id=agent["id"])
            secret = next(iter(zendesk.webhooks.values()))["signing_secret"]
            for _, fired in zendesk.fired:
                raw = fired.encode() if isinstance(fired, str) else json.dumps(fired).encode()
                at = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                mac = base64.b64encode(hmac.new(secret.encode(), at.encode() + raw, hashlib.sha256).digest()).decode()
                answer = requests.post(f"{live.base_url}/hooks/zendesk/webhook", data=raw, timeout=5, headers={
                    "Content-Type": "application/json", "X-Zendesk-Webhook-Signature-Timestamp": at,
                    "X-Zendesk-Webhook-Signature": mac})
                assert answer.status_code == 200, answer.text
            wait_for(lambda: api.get(f"{live.base_url}/v1/conversations/{cid}").json()["status"] == "resolved")
            wait_for(lambda: "Resolved" in json.dumps(slack.versions("CLIVE", parent["ts"])[-1].get("blocks")))
    assert slack.violations == [] and zendesk.violations == []
