"""Issue 14, items 6 and 11: the demo widget's links are scoped, expire and can be revoked; no JSON
route answers a deeply nested body with a 500."""

from __future__ import annotations

import time

import itsdangerous.timed
import pytest

from werkzeug.exceptions import Unauthorized

from connector.console.demo import widget_url
from connector.storage import repository

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.fixture
def workspace(make_workspace, database):
    workspace_id, key = make_workspace()
    with database.read() as session:
        return repository.get_workspace(session, workspace_id), key


def link(connector, workspace_id):
    return widget_url(connector.secret_key, "http://localhost", workspace_id).replace("http://localhost", "")


def start(client, path):
    response = client.post(f"{path}/conversations", json={"name": "Ann"})
    assert response.status_code == 201
    return response.get_json()


def test_a_widget_reads_and_writes_only_the_conversations_it_started(app, connector, workspace, api_for):
    row, key = workspace
    path = link(connector, row.id)
    mine, other_browser = app.test_client(), app.test_client()
    cid = start(mine, path)["conversation"]["id"]
    assert mine.get(f"{path}/conversations/{cid}/messages").status_code == 200
    assert mine.post(f"{path}/conversations/{cid}/messages", json={"text": "hello"}).status_code == 201
    # the same link in another browser cannot read or write it
    assert other_browser.get(f"{path}/conversations/{cid}/messages").status_code == 404
    assert other_browser.post(f"{path}/conversations/{cid}/messages", json={"text": "hi"}).status_code == 404
    # nor can the widget reach a conversation the platform created through the API
    from tests.conftest import ApiClient

    real = ApiClient(app, key).post("/v1/conversations", json={"shopper": {"name": "Real shopper"}}).get_json()["id"]
    assert mine.get(f"{path}/conversations/{real}/messages").status_code == 404
    assert mine.post(f"{path}/conversations/{real}/messages", json={"text": "hi"}).status_code == 404


def test_widget_links_expire(app, connector, workspace, monkeypatch):
    row, _ = workspace
    path = link(connector, row.id)
    client = app.test_client()
    assert client.get(path).status_code == 200
    made = time.time()
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: made + connector.settings.demo_link_seconds + 5)
    assert client.get(path).status_code == 404
    assert client.post(f"{path}/conversations", json={"name": "Ann"}).status_code == 404


def test_revoking_ends_every_earlier_link_and_its_streams(app, connector, workspace):
    from connector.console.demo import _stream_target as stream_target
    from connector.console.demo import revoke

    row, _ = workspace
    path = link(connector, row.id)
    client = app.test_client()
    started = start(client, path)
    stream = f"/demo/stream?token={started['stream_token']}"
    with app.test_request_context(stream):  # the check the WebSocket upgrade runs first
        assert stream_target() == (row.id, started["conversation"]["id"])
    nonce = revoke(connector.db, row)
    assert client.get(path).status_code == 404
    assert client.get(f"{path}/conversations/{started['conversation']['id']}/messages").status_code == 404
    with app.test_request_context(stream), pytest.raises(Unauthorized):
        stream_target()
    fresh = widget_url(connector.secret_key, "http://localhost", row.id, nonce).replace("http://localhost", "")
    assert client.get(fresh).status_code == 200


def test_deeply_nested_json_is_a_400_everywhere(app, connector, workspace):
    row, key = workspace
    path = link(connector, row.id)
    client = app.test_client()
    for url, headers in ((f"{path}/conversations", {}),
                         ("/v1/conversations", {"Authorization": f"Bearer {key}"})):
        response = client.post(url, data=DEEP, headers={**headers, "Content-Type": "application/json"})
        assert response.status_code == 400, url
        assert response.get_json()["error"]["code"] == "invalid_json", url
