"""Zendesk fixtures: the stateful fake API, the plugin set up against it, signed webhooks."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import typing as t

import pytest

from connector.app import build_connector
from tests.draining import drain  # noqa: F401  (re-exported for the tests here)
from connector.delivery.worker import DeliveryWorker
from connector.plugin_registry import PluginRegistry
from connector.storage import repository
from handover_zendesk import ZendeskIntegration
from tests.fakes.zendesk_api import FakeZendesk

API_EMAIL = "bot@shop.example"
API_TOKEN = "zd-api-token-0001"
APP_SECRET = "sidebar-shared-secret-0001-for-the-tests"


@pytest.fixture
def zendesk() -> t.Iterator[FakeZendesk]:
    with FakeZendesk() as fake:
        fake.set_api_user(API_EMAIL, API_TOKEN)
        yield fake
        assert fake.violations == [], "requests outside Zendesk's API description"


@pytest.fixture
def agent(zendesk) -> dict[str, t.Any]:
    return zendesk.add_agent("Dana Agent", "dana@shop.example")


@pytest.fixture
def connector(settings, database):
    return build_connector(settings, db=database, plugins=PluginRegistry([ZendeskIntegration()]))


@pytest.fixture
def worker(connector):
    return DeliveryWorker(connector, worker_id="zendesk-test-worker")


SETTINGS = {"subdomain": "acme", "email": API_EMAIL, "api_token": API_TOKEN, "app_secret": APP_SECRET}


@pytest.fixture
def workspace_id(connector, api, zendesk) -> str:
    """The API workspace with Zendesk set up the way `connector integration set` does it."""
    with connector.db.read() as session:
        workspace = repository.workspace_for_key(session, api.api_key)
    connector.integrations.set_up(connector.db, workspace, "zendesk", {**SETTINGS, "api_base_url": zendesk.url},
                                  base_url=connector.settings.base_url, timeout=5)
    return workspace.id


def stored_settings(connector, workspace_id):
    with connector.db.read() as session:
        workspace = repository.get_workspace(session, workspace_id)
        return connector.integrations.load(session, workspace.pk, "zendesk")


def zendesk_signature(secret: str, timestamp: str, body: bytes) -> str:
    """Zendesk's webhook signature, from its documentation: base64(HMAC-SHA256(secret, timestamp + body))."""
    return base64.b64encode(hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()).decode()


def now_iso(offset: float = 0) -> str:
    at = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=offset)
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


class WebhookSender:
    """Posts what the fake's triggers fired to /hooks/zendesk/webhook, signed as Zendesk signs it."""

    def __init__(self, client: t.Any, zendesk: FakeZendesk, secret: t.Callable[[], str]) -> None:
        self.client = client
        self.zendesk = zendesk
        self.secret = secret
        self.sent = 0
        #: every request posted: (timestamp, body, invocation id), for replaying one as captured
        self.posted: list[tuple[str, bytes, str | None]] = []

    def post(self, body: bytes, *, secret: str | None = None, timestamp: str | None = None,
             invocation: str | None = None) -> t.Any:
        timestamp = timestamp or now_iso()
        self.posted.append((timestamp, body, invocation))
        headers = {"Content-Type": "application/json",
                   "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
                   "X-Zendesk-Webhook-Signature": zendesk_signature(secret or self.secret(), timestamp, body)}
        if invocation:
            headers["X-Zendesk-Webhook-Invocation-Id"] = invocation
        return self.client.post("/hooks/zendesk/webhook", data=body, headers=headers)

    def replay(self, index: int = -1, invocation: str | None = None) -> t.Any:
        """A request posted before, byte for byte and with its signature, under another invocation id."""
        timestamp, body, first = self.posted[index]
        return self.post(body, timestamp=timestamp, invocation=invocation or first)

    def deliver_fired(self) -> list[t.Any]:
        """Everything fired since the last call, each once."""
        answers = []
        fired = self.zendesk.fired[self.sent:]
        self.sent += len(fired)
        for number, (_, body) in enumerate(fired):
            raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            answers.append(self.post(raw, invocation=f"inv-{self.sent}-{number}"))
        return answers


@pytest.fixture
def webhooks(app, zendesk, connector, workspace_id) -> WebhookSender:
    return WebhookSender(app.test_client(), zendesk,
                         lambda: stored_settings(connector, workspace_id).webhook_signing_secret.get_secret_value())
