"""Slack fixtures: the fake Web API, the plugin wired to it, and requests signed as Slack signs them."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import typing as t
import urllib.parse

import pytest

from connector.app import build_connector
from tests.draining import drain  # noqa: F401  (re-exported for the tests here)
from connector.delivery.worker import DeliveryWorker
from connector.plugin_registry import PluginRegistry
from connector.storage import repository
from handover_slack import SlackIntegration
from handover_slack.plugin import SlackApp
from tests.fakes.slack_api import FakeSlack

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-17-handover-test"
CHANNEL = "CHANDOFF"
AGENT = "UAGENT7"


@pytest.fixture
def slack() -> t.Iterator[FakeSlack]:
    with FakeSlack() as fake:
        fake.add_token(BOT_TOKEN, team_id="T01", bot_user_id="UBOT", bot_id="BBOT")
        fake.add_channel(CHANNEL, name="handover")
        fake.add_user(AGENT, name="sam", real_name="Sam Rivera", display_name="Sam")
        yield fake
        assert fake.violations == [], "requests outside Slack's API description"


@pytest.fixture
def slack_app() -> SlackApp:
    """The deployment's Slack app: none by default (single-workspace installs); no pacing."""
    return SlackApp(posts_per_second=0, signing_secret=None, client_id=None, client_secret=None)


@pytest.fixture
def connector(settings, database, slack_app):
    return build_connector(settings, db=database, plugins=PluginRegistry([SlackIntegration(slack_app)]))


@pytest.fixture
def worker(connector):
    return DeliveryWorker(connector, worker_id="slack-test-worker")


@pytest.fixture
def workspace_id(connector, api, slack) -> str:
    """The API workspace, with Slack set up as a single-workspace install."""
    with connector.db.write() as session:
        workspace = repository.workspace_for_key(session, api.api_key)
        connector.integrations.save(session, workspace, "slack", {
            "channel": CHANNEL, "bot_token": BOT_TOKEN, "signing_secret": SIGNING_SECRET, "api_base_url": slack.url,
        })
        return workspace.id


def slack_signature(secret: str, timestamp: str, body: str) -> str:
    """Slack's v0 signature, written from Slack's documentation, not from any library."""
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class SlackSender:
    """Sends requests to /hooks/slack/events the way Slack does."""

    def __init__(self, client: t.Any, response_base: str, secret: str = SIGNING_SECRET) -> None:
        self.client = client
        self.secret = secret
        #: where response_url points: the fake, never hooks.slack.com
        self.response_url = response_base.rstrip("/") + "/actions/T01/1/abc"
        self._events = 0

    def post(self, body: str, content_type: str, *, secret: str | None = None, timestamp: int | None = None,
             headers: dict[str, str] | None = None, signed: bool = True) -> t.Any:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        sent = {"Content-Type": content_type, **(headers or {})}
        if signed:
            sent["X-Slack-Request-Timestamp"] = ts
            sent["X-Slack-Signature"] = slack_signature(secret or self.secret, ts, body)
        return self.client.post("/hooks/slack/events", data=body.encode(), headers=sent)

    def event(self, event: dict[str, t.Any], *, event_id: str | None = None, retry: int | None = None,
              team_id: str = "T01", **kw: t.Any) -> t.Any:
        self._events += 1
        body = json.dumps({
            "token": "legacy-verification-token", "team_id": team_id, "api_app_id": "A01",
            "event": {"event_ts": event.get("ts", "1"), **event}, "type": "event_callback",
            "event_id": event_id or f"Ev{self._events:08d}", "event_time": int(time.time()),
            "authorizations": [{"team_id": team_id, "user_id": "UBOT", "is_bot": True}],
        })
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else None
        return self.post(body, "application/json", headers=headers, **kw)

    def reply(self, thread_ts: str, text: str, *, user: str = AGENT, ts: str | None = None,
              event_id: str | None = None, retry: int | None = None, secret: str | None = None,
              **extra: t.Any) -> t.Any:
        """An agent's reply in a thread: a plain message event, no subtype."""
        ts = ts or f"{time.time():.6f}"
        return self.event({"type": "message", "channel": CHANNEL, "channel_type": "channel", "user": user,
                           "text": text, "ts": ts, "thread_ts": thread_ts, "parent_user_id": "UBOT", **extra},
                          event_id=event_id, retry=retry, secret=secret)

    def action(self, action_id: str, value: str, message_ts: str, *, user: str = AGENT, username: str = "sam",
               extra: dict[str, t.Any] | None = None, **kw: t.Any) -> t.Any:
        payload = {
            "type": "block_actions", "api_app_id": "A01", "trigger_id": "4711.99.ab",
            "user": {"id": user, "username": username, "name": username, "team_id": "T01"}, "team": {"id": "T01"},
            "container": {"type": "message", "channel_id": CHANNEL, "message_ts": message_ts, "is_ephemeral": False},
            "channel": {"id": CHANNEL, "name": "handover"},
            "message": {"ts": message_ts, "bot_id": "BBOT", "blocks": []},
            "response_url": self.response_url,
            "actions": [{"type": "button", "action_id": action_id, "block_id": "b", "value": value,
                         "action_ts": f"{time.time():.6f}"}],
            **(extra or {}),
        }
        body = urllib.parse.urlencode({"payload": json.dumps(payload)})
        return self.post(body, "application/x-www-form-urlencoded", **kw)


@pytest.fixture
def sender(app, slack) -> SlackSender:
    return SlackSender(app.test_client(), slack.root)
