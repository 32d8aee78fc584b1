"""The sidebar app's calls: JWT-signed by Zendesk's proxy with the shared secret; and its bundle."""

from __future__ import annotations

import io
import json
import time
import zipfile

import jwt
import pytest
from click.testing import CliRunner

from tests.zendesk.conftest import APP_SECRET


def token(ticket_id, secret=APP_SECRET, expires_in=60, **claims):
    now = int(time.time())
    return jwt.encode({"ticket_id": str(ticket_id), "agent_name": "Dana Agent", "iat": now, "exp": now + expires_in,
                       "iss": "handover-connector:zendesk-app", **claims}, secret, algorithm="HS256")


def call(client, action, bearer):
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    return client.post(f"/hooks/zendesk/app/{action}", data="{}", headers={**headers, "Content-Type": "application/json"})


@pytest.fixture
def ticket_id(api, workspace_id, worker, zendesk):
    from tests.zendesk.conftest import drain

    cid = api.post("/v1/conversations", json={"shopper": {"name": "Ann"}}).get_json()["id"]
    api.post(f"/v1/conversations/{cid}/handover", json={})
    drain(worker)
    return next(t["id"] for t in zendesk.tickets.values() if t.get("external_id") == cid), cid


def test_each_button_through_the_sidebar(app, api, ticket_id):
    client = app.test_client()
    tid, cid = ticket_id
    state = call(client, "state", token(tid)).get_json()
    assert state["state"] == "needs_you" and state["buttons"] == ["give_back", "resolve"]
    back = call(client, "give_back", token(tid)).get_json()
    assert back["state"] == "ai" and back["buttons"] == ["take_over", "resolve"]
    again = call(client, "give_back", token(tid)).get_json()
    assert again["notice"] == "The AI is already in charge."
    taken = call(client, "take_over", token(tid)).get_json()
    assert taken["state"] == "taken" and taken["label"] == "Taken by Dana Agent"
    assert taken["buttons"] == ["give_back", "resolve"]
    call(client, "give_back", token(tid))
    done = call(client, "resolve", token(tid)).get_json()
    assert done["state"] == "resolved" and done["buttons"] == ["take_over"]
    events = api.get(f"/v1/conversations/{cid}/events").get_json()["data"]
    assert [(e["type"], e["actor"]["name"], e["source"]) for e in events if e["source"] == "zendesk"] == [
        ("given_back", "Dana Agent", "zendesk"), ("handed_over", "Dana Agent", "zendesk"),
        ("given_back", "Dana Agent", "zendesk"), ("resolved", "Dana Agent", "zendesk")]


def test_the_sidebar_needs_a_valid_fresh_token(app, ticket_id):
    client = app.test_client()
    tid, _ = ticket_id
    assert call(client, "state", None).status_code == 401
    assert call(client, "state", "not-a-jwt").status_code == 401
    assert call(client, "state", token(tid, secret="another-secret-of-thirty-two-bytes-long")).status_code == 401
    assert call(client, "state", token(tid, expires_in=-120)).status_code == 401
    unsigned = jwt.encode({"ticket_id": str(tid), "exp": int(time.time()) + 60}, key=None, algorithm="none")
    assert call(client, "take_over", unsigned).status_code == 401
    assert call(client, "state", token(999999)).get_json() == {"linked": False, "label": "Not a handover ticket"}
    assert call(client, "dance", token(tid)).status_code == 404


def test_render_writes_an_uploadable_app(tmp_path):
    from connector.cli import main

    result = CliRunner().invoke(main, ["manifests", "render", "--base-url", "https://handover.example.com",
                                       "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    bundle = zipfile.ZipFile(io.BytesIO((tmp_path / "zendesk" / "handover-zendesk-app.zip").read_bytes()))
    names = set(bundle.namelist())
    assert {"manifest.json", "translations/en.json", "assets/iframe.html", "assets/logo.png",
            "assets/logo-small.png"} <= names
    manifest = json.loads(bundle.read("manifest.json"))
    assert manifest["frameworkVersion"] == "2.0"
    assert manifest["location"]["support"]["ticket_sidebar"]["url"] == "assets/iframe.html"
    assert manifest["domainWhitelist"] == ["handover.example.com"]
    assert {"name": "shared_secret", "type": "text", "secure": True, "required": True} in manifest["parameters"]
    assert {"name", "email", "url"} <= set(manifest["author"])
    translations = json.loads(bundle.read("translations/en.json"))
    assert translations["app"]["name"] and translations["app"]["description"]
    page = bundle.read("assets/iframe.html").decode()
    assert 'var CONNECTOR = "https://handover.example.com";' in page
    assert "{{setting.shared_secret}}" in page and "{{jwt.token}}" in page  # left for Zendesk's proxy
    assert bundle.read("assets/logo.png").startswith(b"\x89PNG")
