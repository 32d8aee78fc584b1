"""``/v1/stream`` against a live server: auth before upgrade, live events, filters, Redis fan-out."""

from __future__ import annotations

import contextlib
import json
import os
import time

import pytest
import requests
from websockets.sync.client import connect as open_socket

from tests.e2e.conftest import serve

REDIS_URL = os.environ.get("CONNECTOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def sockets():
    """Sockets opened in a test, closed at its end."""
    with contextlib.ExitStack() as stack:
        yield stack


def connect(sockets, server, **query):
    query_string = "&".join(f"{k}={v}" for k, v in query.items())
    client = sockets.enter_context(open_socket(f"ws://127.0.0.1:{server.port}/v1/stream?{query_string}",
                                               open_timeout=20))
    assert json.loads(client.recv(timeout=20)) == {"type": "ping"}  # generous: a busy machine is slow
    return client


def next_event(client, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = client.recv(timeout=max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            break
        event = json.loads(data)
        if event["type"] != "ping":
            return event
    raise AssertionError("no event arrived")


def api(server, method, path, key=None, **body):
    return requests.request(method, f"{server.base_url}/v1{path}", json=body or None, timeout=5,
                            headers={"Authorization": f"Bearer {key or server.api_key}"})


def test_a_bad_key_is_refused_before_the_upgrade(live_server):
    headers = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    for url in ("/v1/stream", "/v1/stream?token=hck_wrong"):
        response = requests.get(live_server.base_url + url, headers=headers, timeout=5)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
    response = requests.get(live_server.base_url + "/v1/stream?conversation_id=conv_nope",
                            headers={**headers, "Authorization": f"Bearer {live_server.api_key}"}, timeout=5)
    assert response.status_code == 404


def test_events_arrive_live_in_the_contract_shape(live_server, sockets):
    client = connect(sockets, live_server, token=live_server.api_key)
    cid = api(live_server, "POST", "/conversations", shopper={"name": "Ann"}).json()["id"]
    api(live_server, "POST", f"/conversations/{cid}/messages", author="shopper", text="hello")
    created = next_event(client)
    assert created["type"] == "message.created"
    assert created["message"]["text"] == "hello"
    assert created["conversation"]["id"] == cid
    assert created["id"].startswith("evt_") and created["workspace_id"].startswith("ws_")
    api(live_server, "POST", f"/conversations/{cid}/handover")
    updated = next_event(client)
    assert updated["type"] == "conversation.updated"
    assert updated["conversation"]["needs_you"] is True


def test_conversation_filter_and_workspace_isolation(live_server, sockets):
    cid = api(live_server, "POST", "/conversations").json()["id"]
    other_cid = api(live_server, "POST", "/conversations").json()["id"]
    client = connect(sockets, live_server, token=live_server.api_key, conversation_id=cid)
    api(live_server, "POST", f"/conversations/{other_cid}/messages", author="shopper", text="not for you")
    api(live_server, "POST", f"/conversations/{cid}/messages", author="shopper", text="for you")
    assert next_event(client)["message"]["text"] == "for you"


@pytest.fixture
def redis_url():
    import redis

    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except Exception as exc:  # noqa: BLE001
        from tests.conftest import service_missing

        service_missing("Redis", exc)
    return REDIS_URL


def test_redis_fan_out_reaches_sockets_held_by_another_process(tmp_path, redis_url, sockets):
    env = {"CONNECTOR_REDIS_URL": redis_url}
    with serve(tmp_path, env) as first, serve(tmp_path, env, expect_key=False) as second:
        client = connect(sockets, first, token=first.api_key)
        cid = api(second, "POST", "/conversations", key=first.api_key).json()["id"]
        api(second, "POST", f"/conversations/{cid}/messages", key=first.api_key, author="shopper", text="via redis")
        event = next_event(client)
        assert event["message"]["text"] == "via redis"


def test_one_key_cannot_take_every_socket(tmp_path):
    """Issue 14, item 5: sockets are capped per API key and per workspace, with a clear refusal."""
    env = {"CONNECTOR_STREAM_MAX_PER_KEY": "2", "CONNECTOR_STREAM_MAX_PER_WORKSPACE": "3"}
    headers = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    with serve(tmp_path, env) as server, contextlib.ExitStack() as stack:
        held = [connect(stack, server, token=server.api_key) for _ in range(2)]
        refused = requests.get(f"{server.base_url}/v1/stream?token={server.api_key}", headers=headers, timeout=5)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "too_many_streams"
        # the rest of the API (and other tenants) still answer
        assert api(server, "GET", "/conversations").status_code == 200
        # a closed socket frees its place
        held.pop().close()
        deadline = time.monotonic() + 5
        while True:
            try:
                held.append(connect(stack, server, token=server.api_key))
                break
            except Exception:  # noqa: BLE001 - the server notices the close within a moment
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def test_the_workspace_cap_counts_every_key_of_the_workspace():
    from connector.api.stream import StreamSlots

    slots = StreamSlots(per_key=2, per_workspace=3)
    assert slots.take("key-a", "ws_1") and slots.take("key-a", "ws_1")
    assert not slots.take("key-a", "ws_1")  # that key is full
    assert slots.take("key-b", "ws_1")
    assert not slots.take("key-c", "ws_1")  # the workspace is full, whichever key asks
    assert slots.take("key-d", "ws_2")  # another tenant is not affected
    slots.give_back("key-a", "ws_1")
    assert slots.take("key-c", "ws_1")


def test_sockets_take_no_thread_so_more_than_the_threads_are_served(tmp_path):
    """Issue 15, item 4: with more sockets open than the server has threads, every one gets
    the event and the API still answers (a thread per socket answered nothing past 64)."""
    env = {"CONNECTOR_STREAM_MAX_PER_KEY": "200", "CONNECTOR_STREAM_MAX_PER_WORKSPACE": "200"}
    threads = 8
    with serve(tmp_path, env, options=["--threads", str(threads)]) as server, contextlib.ExitStack() as stack:
        cid = api(server, "POST", "/conversations").json()["id"]
        held = [connect(stack, server, token=server.api_key) for _ in range(threads * 3)]
        assert api(server, "GET", "/conversations").status_code == 200
        assert api(server, "POST", f"/conversations/{cid}/messages", author="shopper", text="to all").status_code == 201
        assert all(next_event(client)["message"]["text"] == "to all" for client in held)


def test_a_plain_request_to_a_stream_is_told_to_upgrade(live_server):
    for path in ("/v1/stream", "/console/stream"):
        response = requests.get(live_server.base_url + path, timeout=5,
                                headers={"Authorization": f"Bearer {live_server.api_key}"})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "websocket_required"
        assert response.json()["error"]["field"] == "Upgrade"
