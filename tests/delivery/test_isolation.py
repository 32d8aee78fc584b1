"""Each delivery on its own: tenants whose desks number tickets alike, a delivery that keeps
failing, an outcome that cannot be stored. On SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from connector.app import build_connector
from connector.app import create_app
from connector.delivery.worker import DeliveryWorker
from connector.plugin_registry import PluginRegistry
from connector.plugins import ThreadRef
from connector.storage import repository
from connector.storage.models import Delivery
from connector.storage.models import Link
from tests.conftest import ApiClient
from tests.draining import drain
from tests.fakes.vendor import FakeVendor
from tests.plugins.fakedesk import FakeDesk
from tests.plugins.fakedesk import sign


def install(connector, api_key, vendor_url, secret, name="desk"):
    with connector.db.write() as session:
        workspace = repository.workspace_for_key(session, api_key)
        connector.integrations.save(session, workspace, name, {
            "api_base_url": vendor_url, "api_key": "k", "signing_secret": secret})


def deliveries(database):
    with database.read() as session:
        return [(d.plugin, d.action, d.status, d.attempts, d.last_error) for d in session.query(Delivery)]


def desk_event(client, secret, body):
    raw = json.dumps(body).encode()
    return client.post("/hooks/desk/events", data=raw,
                       headers={"X-Signature": sign(secret, raw), "Content-Type": "application/json"})


def test_two_tenants_whose_desks_number_tickets_alike(settings, database, make_workspace):
    connector = build_connector(settings, db=database, plugins=PluginRegistry([FakeDesk("desk")]))
    app = create_app(connector=connector)
    worker = DeliveryWorker(connector, worker_id="w")
    with FakeVendor() as desk_one, FakeVendor() as desk_two:  # each numbers its threads v1, v2, ...
        tenants = []
        for vendor, secret in ((desk_one, "secret-one"), (desk_two, "secret-two")):
            api = ApiClient(app, make_workspace("pro")[1])
            install(connector, api.api_key, vendor.url, secret)
            cid = api.post("/v1/conversations").get_json()["id"]
            api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": f"hi from {secret}"})
            api.post(f"/v1/conversations/{cid}/handover")
            tenants.append((api, cid, vendor, secret))
        drain(worker)
        for api, cid, vendor, secret in tenants:
            api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": f"more from {secret}"})
        drain(worker)

        with database.read() as session:
            links = sorted((link.external_id, link.workspace_pk) for link in session.query(Link))
        assert [external for external, _ in links] == ["v1", "v1"]  # the same ticket number, twice
        assert len({workspace for _, workspace in links}) == 2
        for api, cid, vendor, secret in tenants:
            opened = vendor.requests_for("/threads")
            assert [r.json["conversation_id"] for r in opened if r.path == "/threads"] == [cid]
            mirrored = [r.json["message"]["text"] for r in vendor.requests_for("/threads/v1/messages")]
            assert mirrored == [f"more from {secret}"]
        assert {status for _, _, status, _, _ in deliveries(database)} == {"delivered"}

        client = app.test_client()
        for api, cid, vendor, secret in tenants:  # each tenant's reply on "its" v1 reaches its own conversation
            answer = desk_event(client, secret, {"event_id": "e1", "thread_id": "v1", "action": "message",
                                                 "agent": "Bo", "text": f"answer for {secret}"})
            assert answer.get_json()["outcome"] == "applied"
        for api, cid, vendor, secret in tenants:
            texts = [m["text"] for m in api.get(f"/v1/conversations/{cid}/messages").get_json()["data"]
                     if m["author"] == "human"]
            assert texts == [f"answer for {secret}"]


class Flaky(FakeDesk):
    """Raises on one shopper's messages, every time (a plugin bug)."""

    def mirror_message(self, ctx, thread, conversation, message):
        if "poison" in message["text"]:
            raise RuntimeError("bug in the plugin")
        return super().mirror_message(ctx, thread, conversation, message)


class SameTicket(FakeDesk):
    """Answers every new thread with the same id: the second link cannot be stored."""

    def open_thread(self, ctx, conversation, transcript, events):
        super().open_thread(ctx, conversation, transcript, events)
        return ThreadRef("always-the-same")


@pytest.mark.parametrize("kind", ["raises", "cannot_be_stored"])
def test_a_failing_delivery_never_holds_back_its_batch_and_ends_dead(kind, settings, database, make_workspace):
    plugin = Flaky("desk") if kind == "raises" else SameTicket("desk")
    settings = settings.model_copy(update={"delivery_max_attempts": 3})
    connector = build_connector(settings, db=database, plugins=PluginRegistry([plugin]))
    app = create_app(connector=connector)
    worker = DeliveryWorker(connector, worker_id="w")
    with FakeVendor() as vendor:
        api = ApiClient(app, make_workspace("pro")[1])
        install(connector, api.api_key, vendor.url, "s")
        cids = []
        for n in range(4):
            cid = api.post("/v1/conversations").get_json()["id"]
            api.post(f"/v1/conversations/{cid}/handover")
            api.post(f"/v1/conversations/{cid}/messages",
                     json={"author": "shopper", "text": "poison" if n == 2 else f"fine {n}"})
            cids.append(cid)
        drain(worker, until=lambda: all(status in ("delivered", "dead") for _, _, status, _, _ in deliveries(database)))

        rows = deliveries(database)
        dead = [(action, attempts, error) for _, action, status, attempts, error in rows if status == "dead"]
        if kind == "raises":
            assert dead == [("mirror_message", 3, "internal error: RuntimeError (after 3 attempts)")]
            texts = [r.json["message"]["text"] for r in vendor.requests_for("/threads/") if r.path.endswith("/messages")]
            assert sorted(texts) == ["fine 0", "fine 1", "fine 3"]  # each once
        else:
            opens = [(attempts, error) for action, attempts, error in dead if action == "open_thread"]
            assert len(opens) == 3  # the three threads whose link clashes, each tried 3 times, then dead
            assert all(attempts == 3 and "IntegrityError" in error for attempts, error in opens)
            with database.read() as session:
                assert session.query(Link).count() == 1  # the first conversation's thread
            texts = [r.json["message"]["text"] for r in vendor.requests_for("/threads/") if r.path.endswith("/messages")]
            assert len(texts) == 1  # whichever conversation opened first, its message once; the rest dead
        assert len([r for r in rows if r[2] == "delivered"]) >= 1


def test_retry_and_dead_log_lines_name_the_delivery(settings, database, make_workspace, caplog):
    settings = settings.model_copy(update={"delivery_max_attempts": 2})
    connector = build_connector(settings, db=database, plugins=PluginRegistry([Flaky("desk")]))
    app = create_app(connector=connector)
    worker = DeliveryWorker(connector, worker_id="w")
    with FakeVendor() as vendor:
        api = ApiClient(app, make_workspace("pro")[1])
        install(connector, api.api_key, vendor.url, "s")
        cid = api.post("/v1/conversations").get_json()["id"]
        api.post(f"/v1/conversations/{cid}/handover")
        api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": "poison"})
        with caplog.at_level("INFO", logger="connector.delivery.worker"):
            drain(worker, until=lambda: all(s in ("delivered", "dead") for _, _, s, _, _ in deliveries(database)))
    with database.read() as session:
        failing = session.query(Delivery).filter(Delivery.status == "dead").one().id
    lines = [r.getMessage() for r in caplog.records if failing in r.getMessage()]
    assert f"delivery retry: {failing} desk mirror_message (attempt 1): internal error: RuntimeError" in lines
    assert any(line.startswith(f"delivery dead: {failing} desk mirror_message (attempt 2)") for line in lines)
