"""Intercom fixtures: the stateful fake API, the plugin set up against it, signed notifications.

The connector reaches the fake through the SDK's base URL (the plugin's ``api_base_url``);
the fake's notifications and inbox-app requests reach the connector through the Flask
test client, signed as Intercom signs them.
"""

from __future__ import annotations

import typing as t

import pytest

from connector.app import build_connector
from connector.delivery.worker import DeliveryWorker
from connector.plugin_registry import PluginRegistry
from connector.storage import repository
from handover_intercom import IntercomIntegration
from tests.draining import drain  # noqa: F401  (re-exported for the tests here)
from tests.fakes.intercom_api import FakeIntercom

ACCESS_TOKEN = "ic-access-token-0001"
CLIENT_SECRET = "ic-client-secret-0001"
WEBHOOK = "/hooks/intercom/webhook"


@pytest.fixture
def intercom() -> t.Iterator[FakeIntercom]:
    with FakeIntercom(client_secret=CLIENT_SECRET) as fake:
        fake.bot = fake.add_admin("Handover Bot", token=ACCESS_TOKEN)
        fake.sam = fake.add_admin("Sam Teammate", "sam@shop.example")
        fake.fin = fake.add_admin("Fin", kind="bot")
        fake.define_attribute("conversation", "handover_conversation_id")
        yield fake
        assert fake.violations == [], "requests outside Intercom's API description"
        assert all(r.headers.get("Intercom-Version") == "2.14" for r in fake.requests)


@pytest.fixture
def connector(settings, database):
    return build_connector(settings, db=database, plugins=PluginRegistry([IntercomIntegration()]))


@pytest.fixture
def worker(connector):
    return DeliveryWorker(connector, worker_id="intercom-test-worker")


@pytest.fixture
def workspace_id(connector, api, intercom) -> str:
    """The API workspace with Intercom set up the way `connector integration set` does it."""
    with connector.db.read() as session:
        workspace = repository.workspace_for_key(session, api.api_key)
    values = {"access_token": ACCESS_TOKEN, "client_secret": CLIENT_SECRET, "admin_id": intercom.bot["id"],
              "api_base_url": intercom.url}
    connector.integrations.set_up(connector.db, workspace, "intercom", values,
                                  base_url=connector.settings.base_url, timeout=5)
    return workspace.id


@pytest.fixture
def hooks(app, intercom):
    """The Flask test client; the fake's notifications go to the webhook URL through it."""
    client = app.test_client()
    intercom.webhook_url = WEBHOOK
    intercom.answers = []

    def send(url: str, body: bytes, headers: dict[str, str]) -> int:
        response = client.post(url, data=body, headers=headers)
        intercom.answers.append(response)
        return response.status_code

    intercom.sender = send
    return client
