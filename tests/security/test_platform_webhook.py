"""Issue 14, item 4: the platform webhook reaches no private address, by default and however DNS answers."""

from __future__ import annotations

import socket

import pytest

from connector.config import Settings
from connector.delivery.worker import DeliveryWorker
from connector.storage.models import Delivery
from tests.draining import drain
from tests.fakes.vendor import FakeVendor

PUBLIC = "93.184.216.34"  # a global address; nothing here can reach it, which is the point


@pytest.fixture
def vendor():
    with FakeVendor(hang_seconds=2.0) as fake:
        yield fake


@pytest.fixture
def worker(connector):
    return DeliveryWorker(connector, worker_id="ssrf-test-worker")


def platform_deliveries(database):
    with database.read() as session:
        return [(d.status, d.last_error) for d in session.query(Delivery).filter(Delivery.plugin == "platform")]


def send_one(api):
    cid = api.post("/v1/conversations").get_json()["id"]
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": "hi"})


def test_private_addresses_are_refused_by_default(monkeypatch):
    monkeypatch.delenv("CONNECTOR_WEBHOOK_DENY_PRIVATE", raising=False)
    assert Settings().webhook_deny_private is True
    monkeypatch.setenv("CONNECTOR_WEBHOOK_DENY_PRIVATE", "0")  # a platform next door
    assert Settings().webhook_deny_private is False


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9000/hooks", "http://10.0.0.5/hooks", "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/hooks",  # shared address space (carrier-grade NAT)
    "http://[::1]:9000/hooks", "http://[::ffff:127.0.0.1]/hooks", "http://0.0.0.0/hooks",
    "http://nowhere.invalid/hooks",  # a failed lookup is a refusal, not a pass
])
def test_the_api_refuses_urls_on_private_addresses(api, connector, url):
    connector.settings.webhook_deny_private = True
    response = api.put("/v1/settings/platform-webhook", json={"url": url})
    assert response.status_code == 400, url
    assert response.get_json()["error"]["field"] == "url"


def test_the_address_checked_is_the_address_connected_to(api, connector, vendor, worker, database, monkeypatch):
    """DNS rebinding: the name resolves to a public address while checked, then to loopback."""
    connector.settings.webhook_deny_private = True
    connector.plugins.get("platform").deny_private = True
    real = socket.getaddrinfo
    answers = []

    def rebinding(host, port, *args, **kwargs):
        if host != "rebind.example":
            return real(host, port, *args, **kwargs)
        answers.append(host)
        address = PUBLIC if len(answers) <= 2 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port or 80))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    assert api.put("/v1/settings/platform-webhook",
                   json={"url": f"http://rebind.example:{vendor.port}/platform"}).status_code == 200
    send_one(api)
    worker.run_once()
    assert vendor.requests_for("/") == []  # loopback was never reached


def test_redirects_are_not_followed(api, connector, worker, database):
    """Even with private addresses allowed: a 307 (which keeps the body) is an answer, not a hop."""

    class Redirecting(FakeVendor):
        target = ""

        def handle(self, record):
            super().handle(record)
            return 307, {"Location": self.target}, {}

    with FakeVendor() as internal, Redirecting() as platform:
        platform.target = f"{internal.url}/admin/reset"
        api.put("/v1/settings/platform-webhook", json={"url": f"{platform.url}/platform"})
        send_one(api)
        drain(worker)
        assert len(platform.requests_for("/platform")) == 1
        assert internal.requests_for("/") == []
    [(status, error)] = platform_deliveries(database)
    assert status == "dead" and "redirect" in error


def test_tenants_see_refused_or_timed_out_and_nothing_of_the_network(api, connector, vendor, worker, database):
    api.put("/v1/settings/platform-webhook", json={"url": f"{vendor.url}/platform"})
    vendor.refuse()
    send_one(api)
    worker.run_once()
    assert platform_deliveries(database) == [("pending", "refused")]
    with database.write() as session:
        session.query(Delivery).delete()
    vendor.accept()
    vendor.hang_next(1)
    send_one(api)
    worker.run_once()
    assert platform_deliveries(database) == [("pending", "timed out")]


def test_a_delivery_to_an_address_that_became_private_is_refused(api, connector, vendor, worker, database):
    """The URL was stored while allowed; with the guard on, the worker refuses it (and says only that)."""
    api.put("/v1/settings/platform-webhook", json={"url": f"{vendor.url}/platform"})
    connector.plugins.get("platform").deny_private = True
    send_one(api)
    drain(worker)
    assert vendor.requests_for("/") == []
    assert platform_deliveries(database) == [("dead", "refused: the webhook URL is not a public address")]
