"""Files both ways, and the app manifest: only routes we serve, only scopes the code uses."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml
from click.testing import CliRunner

import handover_slack
from handover_slack import manifest
from tests.slack.conftest import CHANNEL
from tests.slack.conftest import drain

PLUGIN_DIR = Path(handover_slack.__file__).parent


def test_files_shared_in_the_thread_reach_the_shopper_through_expiring_links(api, app, workspace_id, worker, slack, sender):
    cid = api.post("/v1/conversations", json={"shopper": {"name": "Ann"}}).get_json()["id"]
    api.post(f"/v1/conversations/{cid}/handover", json={})
    drain(worker)
    top = [m for m in slack.messages(CHANNEL) if m.get("thread_ts") in (None, m["ts"])][0]
    content = b"%PDF-1.4 return label"
    file = slack.add_file("F0RETURN", "return-label.pdf", "application/pdf", content)
    sender.reply(top["ts"], "Here is your label", subtype="file_share", files=[file])
    sender.reply(top["ts"], "", subtype="file_share", files=[slack.add_file("F0PIC", "box.png", "image/png", b"\x89PNG..")])
    drain(worker)
    humans = [m for m in api.get(f"/v1/conversations/{cid}/messages").get_json()["data"] if m["author"] == "human"]
    assert [m["text"] for m in humans] == ["Here is your label", ""]
    [attachment] = humans[0]["attachments"]
    assert attachment["name"] == "return-label.pdf" and attachment["content_type"] == "application/pdf"
    path = attachment["url"].split("://", 1)[1].split("/", 1)[1]
    downloaded = app.test_client().get("/" + path)
    assert downloaded.status_code == 200 and downloaded.data == content
    assert downloaded.headers["Content-Type"] == "application/pdf"
    assert humans[1]["attachments"][0]["content_type"] == "image/png"
    # a forged or altered link serves nothing
    assert app.test_client().get("/" + path[:-3] + "xyz").status_code == 404


def test_attachment_links_expire(tmp_path, monkeypatch):
    import time

    import itsdangerous.timed

    from connector.attachments import AttachmentStore

    store = AttachmentStore(tmp_path, "k" * 40, "https://c.example", link_seconds=60)
    saved = store.save("ws_1", "a.txt", "text/plain", [b"hello"], max_bytes=10)
    token = saved["url"].rsplit("/", 1)[1]
    assert store.open(token) is not None
    made = time.time()
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: made + 30)
    assert store.open(token) is not None  # half a minute later: still good
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: made + 120)
    assert store.open(token) is None  # two minutes later: the file is there, the link is not


def test_shopper_attachments_appear_in_the_thread(api, workspace_id, worker, slack):
    cid = api.post("/v1/conversations", json={"shopper": {"name": "Ann"}}).get_json()["id"]
    api.post(f"/v1/conversations/{cid}/handover", json={})
    api.post(f"/v1/conversations/{cid}/messages", json={
        "author": "shopper", "text": "Photo of the damage",
        "attachments": [{"url": "https://cdn.shop.example/d.jpg", "name": "damage.jpg", "content_type": "image/jpeg"}]})
    drain(worker)
    posted = [m for m in slack.messages(CHANNEL) if "Photo of the damage" in m["text"]]
    assert posted and "<https://cdn.shop.example/d.jpg|damage.jpg>" in posted[0]["text"]


# -- the manifest ------------------------------------------------------------------------

#: Slack's required scope per Web API method and per event (https://docs.slack.dev/reference/methods,
#: https://docs.slack.dev/reference/events), for what the plugin calls and subscribes to.
METHOD_SCOPES = {
    "chat_postMessage": {"chat:write"},
    "chat_update": {"chat:write"},
    "chat_postEphemeral": {"chat:write"},
    "users_info": {"users:read"},
    "auth_test": set(),
    "conversations_info": {"channels:read", "groups:read"},  # the health check, public and private channels
    # finding a post whose answer was lost (message metadata), public and private channels
    "conversations_replies": {"channels:history", "groups:history"},
    "conversations_history": {"channels:history", "groups:history"},
}
EVENT_SCOPES = {
    "message.channels": {"channels:history"},
    "message.groups": {"groups:history"},
    "app_uninstalled": set(),
    "tokens_revoked": set(),
}
#: What calls with customised or authenticated features need beyond the method's own scope.
FEATURE_SCOPES = {
    "username": "chat:write.customize",  # chat.postMessage(username=..., icon_emoji=...)
    "url_private_download": "files:read",
}


def rendered(tmp_path):
    from connector.cli import main

    result = CliRunner().invoke(main, ["manifests", "render", "--base-url", "https://handover.example.com/",
                                       "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    return yaml.safe_load((tmp_path / "slack" / "manifest.yml").read_text())


def slack_calls_in_code() -> set[str]:
    calls = set()
    for path in PLUGIN_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in METHOD_SCOPES:
                calls.add(node.func.attr)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and re.match(
                    r"^(chat|users|conversations|files|auth|reactions|views|team)_", node.func.attr):
                calls.add(node.func.attr)
    return calls


def test_manifest_urls_are_routes_the_app_serves(tmp_path, app):
    doc = rendered(tmp_path)
    urls = [doc["settings"]["event_subscriptions"]["request_url"], doc["settings"]["interactivity"]["request_url"],
            *doc["oauth_config"]["redirect_urls"]]
    rules = {(rule.rule, method) for rule in app.url_map.iter_rules() for method in rule.methods}
    for url in urls:
        assert url.startswith("https://handover.example.com/hooks/slack/")
        path = url.removeprefix("https://handover.example.com")
        method = "GET" if path.endswith("oauth_redirect") else "POST"
        assert (path, method) in rules, f"{method} {path} is not served"
    assert len(doc["display_information"]["name"]) <= 35
    assert re.fullmatch(r"[a-z0-9._-]+", doc["features"]["bot_user"]["display_name"])


def test_manifest_scopes_are_exactly_what_the_code_uses(tmp_path):
    doc = rendered(tmp_path)
    scopes = set(doc["oauth_config"]["scopes"]["bot"])
    events = set(doc["settings"]["event_subscriptions"]["bot_events"])
    calls = slack_calls_in_code()
    assert calls <= set(METHOD_SCOPES), f"a Slack method without a known scope: {calls - set(METHOD_SCOPES)}"
    source = "\n".join(p.read_text() for p in PLUGIN_DIR.glob("*.py"))
    needed = set().union(*(EVENT_SCOPES[e] for e in events))
    for call in calls:
        needed |= METHOD_SCOPES[call]
    for feature, scope in FEATURE_SCOPES.items():
        if re.search(rf"\b{feature}\b", source):
            needed.add(scope)
    assert scopes == needed == set(manifest.BOT_SCOPES)
    assert events == set(manifest.BOT_EVENTS)


def test_a_file_sent_while_the_ai_is_in_charge_is_not_fetched_before_the_agent_decides(api, workspace_id, worker, slack, sender):
    cid = api.post("/v1/conversations", json={"shopper": {"name": "Ann"}}).get_json()["id"]
    api.post(f"/v1/conversations/{cid}/handover", json={})
    drain(worker)
    top = [m for m in slack.messages(CHANNEL) if m.get("thread_ts") in (None, m["ts"])][0]
    sender.action("give_back", cid, top["ts"])
    file = slack.add_file("F0LATER", "label.pdf", "application/pdf", b"%PDF")
    sender.reply(top["ts"], "the label", subtype="file_share", files=[file])
    drain(worker)
    assert slack.downloads == []
    draft = slack.ephemerals[-1]["blocks"][1]["elements"][0]["value"]
    sender.action("take_over_and_send", draft, top["ts"])
    drain(worker)
    [sent] = [m for m in api.get(f"/v1/conversations/{cid}/messages").get_json()["data"] if m["author"] == "human"]
    assert sent["attachments"][0]["name"] == "label.pdf" and len(slack.downloads) == 1
