"""The delivery engine end to end, against a real local HTTP fake vendor.

Platform webhooks, plugin threads, cross-mirroring, inbound dedupe and echoes, retries,
dead letters and replay, broken integrations: on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json

import pytest
from standardwebhooks.webhooks import Webhook

from connector.app import build_connector
from tests.draining import drain
from connector.delivery import outbox
from connector.delivery.worker import DeliveryWorker
from connector.plugin_registry import PluginRegistry
from connector.storage.models import Delivery
from connector.storage.models import Integration
from tests.fakes.vendor import FakeVendor
from tests.plugins.fakedesk import FakeDesk
from tests.plugins.fakedesk import sign


@pytest.fixture
def vendor():
    with FakeVendor() as fake:
        yield fake


@pytest.fixture
def connector(settings, database):
    return build_connector(settings, db=database, plugins=PluginRegistry([FakeDesk("desk_a"), FakeDesk("desk_b")]))


@pytest.fixture
def worker(connector):
    return DeliveryWorker(connector, worker_id="test-worker")


def statuses(database):
    with database.read() as session:
        return sorted((d.plugin, d.action, d.status) for d in session.query(Delivery))


def install(connector, api, vendor, name, secret="desk-signing-secret"):
    with connector.db.write() as session:
        from connector.storage import repository

        workspace = repository.workspace_for_key(session, api.api_key)
        connector.integrations.save(session, workspace, name, {
            "api_base_url": f"{vendor.url}/{name}", "api_key": "desk-api-key", "signing_secret": secret,
        })
        return workspace.id


def verify_independently(secret: str, headers, body: bytes) -> bool:
    """Standard Webhooks verification written from the spec, not from our code."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(part == f"v1,{expected}" for part in headers["webhook-signature"].split(" "))


# -- platform webhooks -------------------------------------------------------------------


def test_platform_events_are_signed_ordered_and_complete(api, vendor, worker, database):
    secret = api.put("/v1/settings/platform-webhook", json={"url": f"{vendor.url}/platform"}).get_json()["secret"]
    cid = api.post("/v1/conversations", json={"shopper": {"name": "Ann"}}).get_json()["id"]
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": "hi"})
    api.post(f"/v1/conversations/{cid}/handover", json={"actor": "Bo"})
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "human", "text": "Bo here", "author_name": "Bo"})
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "ai", "text": "refused"})  # 409, no event
    drain(worker)

    received = vendor.requests_for("/platform")
    events = [r.json for r in received]
    assert [e["type"] for e in events] == ["message.created", "conversation.updated", "message.created"]
    assert events[1]["conversation"]["needs_you"] is True
    assert events[2]["message"]["author"] == "human"
    assert all(e["workspace_id"].startswith("ws_") and e["id"].startswith("evt_") for e in events)
    for request in received:
        assert verify_independently(secret, request.headers, request.body)
        assert Webhook(secret).verify(request.body, dict(request.headers)) == request.json
        assert request.headers["webhook-id"] == request.json["id"]


def test_a_redelivered_platform_event_keeps_its_webhook_id(api, vendor, worker):
    api.put("/v1/settings/platform-webhook", json={"url": f"{vendor.url}/platform"})
    vendor.fail_next(2, status=503)
    cid = api.post("/v1/conversations").get_json()["id"]
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": "hi"})
    drain(worker, until=lambda: len(vendor.requests_for("/platform")) == 3)
    ids = {r.headers["webhook-id"] for r in vendor.requests_for("/platform")}
    assert len(ids) == 1
    assert [r.status for r in vendor.requests_for("/platform")] == [503, 503, 201]


def test_retry_after_is_honoured(api, vendor, worker, database):
    api.put("/v1/settings/platform-webhook", json={"url": f"{vendor.url}/platform"})
    vendor.fail_next(1, status=429, retry_after=1)
    cid = api.post("/v1/conversations").get_json()["id"]
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": "hi"})
    drain(worker, until=lambda: len(vendor.requests_for("/platform")) == 2, timeout=5)
    first, second = vendor.requests_for("/platform")
    assert second.received - first.received >= 0.95


def test_out_of_attempts_is_dead_then_replayed(api, vendor, worker, database, connector):
    connector.settings.delivery_max_attempts = 3
    api.put("/v1/settings/platform-webhook", json={"url": f"{vendor.url}/platform"})
    vendor.fail_next(3, status=500)
    cid = api.post("/v1/conversations").get_json()["id"]
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": "hi"})
    drain(worker, until=lambda: len(vendor.requests_for("/platform")) == 3)
    with database.read() as session:
        [dead] = session.query(Delivery).all()
    assert (dead.status, dead.attempts) == ("dead", 3)
    assert "HTTP 500" in dead.last_error
    with database.write() as session:
        assert outbox.replay(session, dead.id)
    drain(worker, until=lambda: len(vendor.requests_for("/platform")) == 4)
    assert statuses(database) == [("platform", "platform_event", "delivered")]


def test_a_4xx_is_dead_at_once(api, vendor, worker, database):
    api.put("/v1/settings/platform-webhook", json={"url": f"{vendor.url}/platform"})
    vendor.fail_next(1, status=400)
    cid = api.post("/v1/conversations").get_json()["id"]
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": "hi"})
    drain(worker)
    assert statuses(database) == [("platform", "platform_event", "dead")]


# -- plugins: threads, mirroring, inbound --------------------------------------------------


@pytest.fixture
def two_desks(api, vendor, connector, app):
    workspace_id = install(connector, api, vendor, "desk_a")
    install(connector, api, vendor, "desk_b")
    return workspace_id


def test_handover_opens_a_thread_with_the_full_transcript_then_mirrors(api, vendor, worker, two_desks):
    cid = api.post("/v1/conversations", json={"shopper": {"name": "Ann"}}).get_json()["id"]
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": "Where is my parcel?"})
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "ai", "text": "Let me check."})
    drain(worker)
    assert vendor.requests_for("/desk_a") == []  # nothing until a hand over

    api.post(f"/v1/conversations/{cid}/handover", json={"actor": "Bo", "reason": "lost parcel"})
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": "Hello?"})
    api.post(f"/v1/conversations/{cid}/resolve")
    drain(worker)

    for desk in ("desk_a", "desk_b"):
        calls = [(r.path, r.json) for r in vendor.requests_for(f"/{desk}")]
        assert [path.split("/")[-1] if path.count("/") > 2 else path for path, _ in calls] == [
            f"/{desk}/threads", "messages", "state"]
        opened = calls[0][1]
        assert opened["conversation_id"] == cid
        assert [m["text"] for m in opened["transcript"]] == ["Where is my parcel?", "Let me check."]
        assert [e["type"] for e in opened["events"]] == ["handed_over"]
        assert calls[1][1]["message"]["text"] == "Hello?"
        assert calls[2][1]["status"] == "resolved"


def post_desk_event(app, workspace_id, desk, body, secret="desk-signing-secret"):
    raw = json.dumps(body).encode()
    return app.test_client().post(
        f"/hooks/{desk}/events", data=raw,
        headers={"X-Signature": sign(secret, raw), "Content-Type": "application/json"},
    )


def thread_id(vendor, desk):
    return vendor.requests_for(f"/{desk}/threads")[0].response_json["id"]


def test_an_agent_reply_in_one_desk_reaches_the_other_and_the_platform_not_back(api, app, vendor, worker, two_desks):
    api.put("/v1/settings/platform-webhook", json={"url": f"{vendor.url}/platform"})
    cid = api.post("/v1/conversations").get_json()["id"]
    api.post(f"/v1/conversations/{cid}/handover")
    drain(worker)
    before_a = len(vendor.requests_for("/desk_a"))

    response = post_desk_event(app, two_desks, "desk_a", {
        "event_id": "evt-1", "thread_id": thread_id(vendor, "desk_a"), "action": "message",
        "agent": "Cleo", "text": "Hi, Cleo from support.", "message_id": "desk-msg-1",
    })
    assert response.get_json()["outcome"] == "applied"
    drain(worker)

    messages = api.get(f"/v1/conversations/{cid}/messages").get_json()["data"]
    assert [(m["author"], m["author_name"], m["source"]) for m in messages] == [("human", "Cleo", "desk_a")]
    assert len(vendor.requests_for("/desk_a")) == before_a  # never back to where it came from
    mirrored = vendor.requests_for(f"/desk_b/threads/{thread_id(vendor, 'desk_b')}/messages")
    assert [r.json["message"]["text"] for r in mirrored] == ["Hi, Cleo from support."]
    assert vendor.requests_for("/platform")[-1].json["message"]["author_name"] == "Cleo"


def test_the_same_webhook_five_times_has_one_effect(api, app, vendor, worker, two_desks):
    cid = api.post("/v1/conversations").get_json()["id"]
    api.post(f"/v1/conversations/{cid}/handover")
    drain(worker)
    body = {"event_id": "evt-dup", "thread_id": thread_id(vendor, "desk_a"), "action": "message",
            "agent": "Cleo", "text": "once", "message_id": "m-1"}
    outcomes = [post_desk_event(app, two_desks, "desk_a", body).get_json()["outcome"] for _ in range(5)]
    assert outcomes == ["applied"] + ["duplicate"] * 4
    assert len(api.get(f"/v1/conversations/{cid}/messages").get_json()["data"]) == 1


def test_our_own_post_echoed_back_has_no_effect(api, app, vendor, worker, two_desks):
    cid = api.post("/v1/conversations").get_json()["id"]
    api.post(f"/v1/conversations/{cid}/handover")
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "human", "text": "from the console"})
    drain(worker)
    [posted] = vendor.requests_for(f"/desk_a/threads/{thread_id(vendor, 'desk_a')}/messages")
    echo = {"event_id": "evt-echo", "thread_id": thread_id(vendor, "desk_a"), "action": "message",
            "agent": "Connector", "text": "from the console", "message_id": posted.response_json["id"]}
    assert post_desk_event(app, two_desks, "desk_a", echo).get_json()["outcome"] == "echo"
    assert len(api.get(f"/v1/conversations/{cid}/messages").get_json()["data"]) == 1


def test_desk_actions_run_domain_commands_with_the_desk_as_source(api, app, vendor, worker, two_desks):
    cid = api.post("/v1/conversations").get_json()["id"]
    api.post(f"/v1/conversations/{cid}/handover")
    drain(worker)
    tid = thread_id(vendor, "desk_a")
    give_back = {"event_id": "e-gb", "thread_id": tid, "action": "give_back", "agent": "Cleo"}
    assert post_desk_event(app, two_desks, "desk_a", give_back).get_json()["outcome"] == "applied"
    again = {**give_back, "event_id": "e-gb2"}
    assert post_desk_event(app, two_desks, "desk_a", again).get_json() == {"outcome": "refused", "code": "not_in_human_mode"}
    reply = {"event_id": "e-r", "thread_id": tid, "action": "message", "agent": "Cleo", "text": "I'll take it", "take_over": True}
    assert post_desk_event(app, two_desks, "desk_a", reply).get_json()["outcome"] == "applied"
    events = api.get(f"/v1/conversations/{cid}/events").get_json()["data"]
    assert [(e["type"], e["source"], e["actor"]["name"]) for e in events][1:] == [
        ("given_back", "desk_a", "Cleo"), ("handed_over", "desk_a", "Cleo"), ("human_joined", "desk_a", "Cleo")]


def test_inbound_needs_a_valid_signature_and_a_known_thread(api, app, vendor, worker, two_desks):
    body = {"event_id": "x", "thread_id": "nope", "action": "resolve"}
    assert post_desk_event(app, two_desks, "desk_a", body, secret="wrong").status_code == 401
    assert post_desk_event(app, two_desks, "desk_a", body).get_json()["outcome"] == "unknown_thread"


def test_a_broken_integration_is_marked_unhealthy_and_its_delivery_kept(api, vendor, worker, two_desks, database):
    from connector.plugins import IntegrationBroken

    class Revoked(FakeDesk):
        def open_thread(self, ctx, conversation, transcript, events):
            raise IntegrationBroken("token_revoked")

    broken = dataclasses.replace(worker.connector, plugins=PluginRegistry([Revoked("desk_a"), FakeDesk("desk_b")]))
    worker = DeliveryWorker(broken, worker_id="test-worker")
    cid = api.post("/v1/conversations").get_json()["id"]
    api.post(f"/v1/conversations/{cid}/handover")
    drain(worker)
    with database.read() as session:
        health = {i.plugin: (i.health, i.health_reason) for i in session.query(Integration)}
        dead = [(d.plugin, d.status, d.last_error) for d in session.query(Delivery) if d.status == "dead"]
    assert health["desk_a"] == ("unhealthy", "token_revoked")
    assert dead == [("desk_a", "dead", "token_revoked")]
    assert len(vendor.requests_for("/desk_b/threads")) == 1  # the healthy one carries on


def test_settings_are_encrypted_at_rest(api, vendor, connector, database, two_desks):
    with database.read() as session:
        [row] = [i for i in session.query(Integration) if i.plugin == "desk_a"]
    assert "desk-api-key" not in row.settings_encrypted
    assert "desk-signing-secret" not in row.settings_encrypted
    with database.read() as session:
        loaded = connector.integrations.load(session, row.workspace_pk, "desk_a")
    assert loaded.api_key.get_secret_value() == "desk-api-key"
    assert "desk-api-key" not in repr(loaded)


def test_metrics_show_the_outbox_and_inbound_outcomes(api, app, vendor, worker, two_desks):
    api.put("/v1/settings/platform-webhook", json={"url": f"{vendor.url}/platform"})
    vendor.fail_next(50, status=500)
    cid = api.post("/v1/conversations").get_json()["id"]
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": "hi"})
    worker.run_once()
    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'connector_deliveries{plugin="platform",status="pending"} 1.0' in text
    assert 'connector_deliveries_failing{plugin="platform"} 1.0' in text
    assert "connector_delivery_latency_seconds_bucket" in text
    assert "connector_inbound_events_total" in text


def test_refused_connections_are_retried_until_the_vendor_is_back(api, vendor, worker, database):
    api.put("/v1/settings/platform-webhook", json={"url": f"{vendor.url}/platform"})
    vendor.refuse()
    cid = api.post("/v1/conversations").get_json()["id"]
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": "hi"})
    worker.run_once()
    with database.read() as session:
        [pending] = session.query(Delivery).all()
    assert (pending.status, pending.last_error) == ("pending", "refused")  # all a tenant sees of a network error
    vendor.accept()
    drain(worker, until=lambda: len(vendor.requests_for("/platform")) == 1)
    assert statuses(database) == [("platform", "platform_event", "delivered")]


def test_a_hang_past_the_timeout_is_retried_and_applied_once(api, vendor, worker, database):
    api.put("/v1/settings/platform-webhook", json={"url": f"{vendor.url}/platform"})
    vendor.hang_next(1, seconds=0.8)  # the client gives up after 0.5 s; the vendor applies it anyway
    cid = api.post("/v1/conversations").get_json()["id"]
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": "hi"})
    drain(worker, until=lambda: statuses(database) == [("platform", "platform_event", "delivered")])
    assert len(vendor.requests_for("/platform")) >= 2
    assert len([r for r in vendor.effects() if r.path == "/platform"]) == 1
