"""The inbox list on both databases: latest activity first, last message, unread marks, search."""

from __future__ import annotations

import re

import pytest

from connector.console import inbox
from connector.storage import repository
from tests.conftest import ApiClient
from tests.console.test_console_pages import csrf
from tests.console.test_console_pages import signed_in


@pytest.fixture
def shop(app, connector, make_workspace):
    workspace_id, key = make_workspace("pro", name="Shop")
    return workspace_id, ApiClient(app, key)


def rows(database, workspace_id, **kw):
    with database.read() as session:
        workspace = repository.get_workspace(session, workspace_id)
        return {r.conversation.shopper_name: r for r in inbox.list_rows(session, workspace, status="open", **kw)}


def new(api, name, email=None, *texts):
    cid = api.post("/v1/conversations", json={"shopper": {"name": name, "email": email}}).get_json()["id"]
    for text in texts:
        api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": text})
    return cid


def test_unread_until_seen_or_answered(database, connector, shop):
    workspace_id, api = shop
    ada = new(api, "Ada", "ada@example.com", "Where is my parcel?")
    bob = new(api, "Bob", None, "Do you ship to Norway?")
    new(api, "Cy", None)  # no shopper message: nothing to read
    listed = rows(database, workspace_id)
    assert [listed[n].unread for n in ("Ada", "Bob", "Cy")] == [True, True, False]
    assert listed["Ada"].last_message.text == "Where is my parcel?"

    with database.read() as session:
        workspace = repository.get_workspace(session, workspace_id)
        conversation = repository.get_conversation(session, workspace.pk, ada)
        inbox.mark_seen(database, workspace, ada, inbox.latest_shopper_pk(session, conversation.pk))
    assert not rows(database, workspace_id)["Ada"].unread
    api.post(f"/v1/conversations/{ada}/messages", json={"author": "shopper", "text": "Hello?"})
    assert rows(database, workspace_id)["Ada"].unread  # a newer message nobody has seen

    # a reply from the team, from any tool, means someone saw it
    api.post(f"/v1/conversations/{bob}/handover")
    api.post(f"/v1/conversations/{bob}/messages", json={"author": "human", "text": "Yes we do", "author_name": "Sam"})
    assert not rows(database, workspace_id)["Bob"].unread


def test_latest_activity_first(database, shop):
    workspace_id, api = shop
    first = new(api, "First", None, "one")
    new(api, "Second", None, "two")
    api.post(f"/v1/conversations/{first}/messages", json={"author": "shopper", "text": "again"})
    assert list(rows(database, workspace_id)) == ["First", "Second"]


def test_search_covers_name_email_and_text(database, shop):
    workspace_id, api = shop
    new(api, "Ada Lovelace", "ada@example.com", "Where is my parcel?")
    new(api, "Bob", "bob@bobs-shop.example", "Do you ship to Norway?")
    new(api, "100% Cotton", None, "size_chart")
    assert list(rows(database, workspace_id, search="lovelace")) == ["Ada Lovelace"]
    assert list(rows(database, workspace_id, search="BOBS-SHOP")) == ["Bob"]
    assert list(rows(database, workspace_id, search="norway")) == ["Bob"]
    assert list(rows(database, workspace_id, search="100%")) == ["100% Cotton"]  # % is text, not a wildcard
    assert list(rows(database, workspace_id, search="s_z")) == []  # _ too ("siz" would match a wildcard)
    assert list(rows(database, workspace_id, search="nothing like it")) == []


def test_seen_marks_are_per_workspace_and_do_not_touch_other_settings(app, connector, database, shop, make_workspace):
    workspace_id, api = shop
    cid = new(api, "Ada", None, "Hi")
    api.put("/v1/settings/handover", json={"enabled": True, "mode": "automate", "scenarios": []})
    client = signed_in(app, connector, workspace_id)
    assert client.get(f"/console/conversations/{cid}").status_code == 200  # opening it marks it seen
    assert not rows(database, workspace_id)["Ada"].unread
    assert api.get("/v1/settings/handover").get_json()["enabled"] is True

    other_id, other_key = make_workspace("pro", name="Other")
    other_api = ApiClient(app, other_key)
    theirs = new(other_api, "Zed", None, "Hi")
    assert rows(database, other_id)["Zed"].unread
    token = csrf(client, "/console/conversations")
    assert client.post(f"/console/conversations/{theirs}/seen", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/console/conversations/{cid}/seen").status_code == 400  # no CSRF token


def test_old_marks_fold_into_a_floor(database, shop, monkeypatch):
    workspace_id, api = shop
    monkeypatch.setattr(inbox, "MAX_MARKS", 2)
    cids = [new(api, f"S{i}", None, "hi") for i in range(3)]
    with database.read() as session:
        workspace = repository.get_workspace(session, workspace_id)
        pks = [inbox.latest_shopper_pk(session, repository.get_conversation(session, workspace.pk, c).pk)
               for c in cids]
    for cid, pk in zip(cids, pks):
        inbox.mark_seen(database, workspace, cid, pk)
    stored = inbox.seen_marks(workspace)
    assert sorted(stored["marks"]) == sorted(cids[1:]) and stored["floor"] == pks[0]
    assert not any(r.unread for r in rows(database, workspace_id).values())


def test_the_list_page_shows_time_unread_and_the_search_box(app, connector, shop):
    workspace_id, api = shop
    new(api, "Ada", "ada@example.com", "Where is my parcel?")
    new(api, "Bob", None, "Norway?")
    client = signed_in(app, connector, workspace_id)
    page = client.get("/console/conversations?q=ada").get_data(as_text=True)
    assert 'type="search"' in page and 'value="ada"' in page
    assert "Ada" in page and "Norway?" not in page
    assert re.search(r'<time class="when last" datetime="\d{4}-\d\d-\d\dT[\d:.]+Z"', page)
    assert 'aria-label="Unread"' in page
    empty = client.get("/console/conversations?q=%3Cscript%3E").get_data(as_text=True)
    assert "No open conversations match “&lt;script&gt;”." in empty


def test_the_live_timeline_sends_what_happened_since(app, connector, shop, make_workspace):
    workspace_id, api = shop
    cid = new(api, "Ada", None, "Hi")
    client = signed_in(app, connector, workspace_id)
    first = client.get(f"/console/conversations/{cid}/timeline?since=2000-01-01T00:00:00Z").get_json()
    assert first["conversation"]["id"] == cid and first["state_line"] == "The AI is in charge"
    assert first["items_html"].count('class="message shopper"') == 1 and 'id="why" hidden' in first["why_html"]

    [at] = re.findall(r'data-at="([^"]+)"', first["items_html"])
    api.post(f"/v1/conversations/{cid}/handover", json={"reason": "wants <b>a person</b>"})
    later = client.get(f"/console/conversations/{cid}/timeline", query_string={"since": at}).get_json()
    assert later["state_line"] == "A human is in charge" and later["ai_bar"] is None
    assert "Handed over by the chat platform: wants &lt;b&gt;a person&lt;/b&gt;" in later["items_html"]
    assert "Handed over by the chat platform" in later["why_html"] and "<b>" not in later["why_html"]

    bad = client.get(f"/console/conversations/{cid}/timeline?since=yesterday")
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "since"
    _, other_key = make_workspace("pro", name="Other")
    theirs = new(ApiClient(app, other_key), "Zed", None, "Hi")
    assert client.get(f"/console/conversations/{theirs}/timeline?since={at}").status_code == 404


def test_a_long_conversation_opens_on_its_latest_messages(app, connector, shop, monkeypatch):
    workspace_id, api = shop
    monkeypatch.setattr(inbox, "TRANSCRIPT_LIMIT", 5)
    cid = new(api, "Ada", None, *[f"line {n}" for n in range(8)])
    page = signed_in(app, connector, workspace_id).get(f"/console/conversations/{cid}").get_data(as_text=True)
    assert re.findall(r"line (\d)", page) == ["7", "3", "4", "5", "6", "7"]  # the list's preview, then the last 5
    assert "3 earlier messages are not shown." in page


def test_attachment_links_are_only_web_links(app, connector, shop):
    workspace_id, api = shop
    cid = new(api, "Ada", None)
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": "see", "attachments": [
        {"url": "https://files.example.com/a.png", "name": "a.png", "content_type": "image/png"}]})
    page = signed_in(app, connector, workspace_id).get(f"/console/conversations/{cid}").get_data(as_text=True)
    assert 'href="https://files.example.com/a.png"' in page
