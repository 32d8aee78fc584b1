"""Messages: who may write when, attachments, ordering, reopening."""

from __future__ import annotations

import pytest


@pytest.fixture
def conversation(api):
    return api.post("/v1/conversations", json={"shopper": {"name": "Ann"}}).get_json()


def post(api, conversation, **body):
    return api.post(f"/v1/conversations/{conversation['id']}/messages", json=body)


def messages(api, conversation, query=""):
    return api.get(f"/v1/conversations/{conversation['id']}/messages{query}").get_json()


def test_shopper_and_ai_messages_while_the_ai_drives(api, conversation):
    first = post(api, conversation, author="shopper", text="Do you ship to Norway?")
    assert first.status_code == 201
    body = first.get_json()
    assert body["message"]["author"] == "shopper"
    assert body["message"]["author_name"] == "Ann"  # the shopper's name by default
    assert body["message"]["source"] == "api"
    assert body["conversation"]["id"] == conversation["id"]
    assert post(api, conversation, author="ai", text="Yes, in 3-5 days.", author_name="Convi").status_code == 201
    listed = messages(api, conversation)["data"]
    assert [(m["author"], m["text"]) for m in listed] == [
        ("shopper", "Do you ship to Norway?"), ("ai", "Yes, in 3-5 days."),
    ]
    assert listed[1]["author_name"] == "Convi"


def test_the_post_answers_what_was_stored(api, conversation):
    """The message and conversation in a 201 are the stored ones: each message bumps version and updated_at once."""
    versions = [conversation["version"]]
    for author, text in (("shopper", "Hello?"), ("ai", "Hi!"), ("shopper", "Where is my parcel?")):
        body = post(api, conversation, author=author, text=text).get_json()
        assert body["conversation"] == api.get(f"/v1/conversations/{conversation['id']}").get_json()
        assert body["message"] == messages(api, conversation)["data"][-1]
        assert body["conversation"]["updated_at"] == body["message"]["created_at"]
        versions.append(body["conversation"]["version"])
    assert versions == list(range(versions[0], versions[0] + 4))


def test_ai_is_refused_while_a_human_is_in_charge_and_nothing_is_stored(api, conversation):
    api.post(f"/v1/conversations/{conversation['id']}/handover")
    before = api.get(f"/v1/conversations/{conversation['id']}").get_json()
    response = post(api, conversation, author="ai", text="I can help!")
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "human_in_control"
    assert messages(api, conversation)["data"] == []
    assert api.get(f"/v1/conversations/{conversation['id']}").get_json() == before


def test_human_is_refused_while_the_ai_is_in_charge(api, conversation):
    response = post(api, conversation, author="human", text="Hi, Bo here")
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "ai_in_control"
    assert messages(api, conversation)["data"] == []


def test_human_reply_keeps_lines_and_first_one_logs_human_joined(api, conversation):
    api.post(f"/v1/conversations/{conversation['id']}/handover", json={"actor": "Bo"})
    text = "Hi Ann,\n\nI can refund that.\nBo"
    assert post(api, conversation, author="human", text=text, author_name="Bo").status_code == 201
    assert post(api, conversation, author="human", text="Done.", author_name="Bo").status_code == 201
    listed = messages(api, conversation)["data"]
    assert listed[0]["text"] == text
    assert listed[0]["author_name"] == "Bo"
    types = [e["type"] for e in api.get(f"/v1/conversations/{conversation['id']}/events").get_json()["data"]]
    assert types == ["handed_over", "human_joined"]


def test_attachments_are_links(api, conversation):
    attachment = {"url": "https://cdn.example.com/receipt.pdf", "name": "receipt.pdf", "content_type": "application/pdf"}
    response = post(api, conversation, author="shopper", text="", attachments=[attachment])
    assert response.status_code == 201
    assert response.get_json()["message"]["attachments"] == [attachment]


def test_ai_and_human_refused_on_resolved_shopper_reopens_with_controller_kept(api, conversation):
    cid = conversation["id"]
    api.post(f"/v1/conversations/{cid}/handover")
    api.post(f"/v1/conversations/{cid}/resolve")
    for author in ("ai", "human"):
        response = post(api, conversation, author=author, text="hello?")
        assert response.status_code == 409
        assert response.get_json()["error"]["code"] == "conversation_resolved"
    reopened = post(api, conversation, author="shopper", text="One more thing").get_json()["conversation"]
    assert reopened["status"] == "open"
    assert reopened["controller"] == "human"
    assert reopened["needs_you"] is True
    events = api.get(f"/v1/conversations/{cid}/events").get_json()["data"]
    assert [e["type"] for e in events] == ["handed_over", "resolved", "reopened"]
    assert events[-1]["actor"]["kind"] == "shopper"


def test_messages_page_oldest_first(api, conversation):
    for n in range(5):
        post(api, conversation, author="shopper", text=f"m{n}")
    first = messages(api, conversation, "?limit=2")
    assert [m["text"] for m in first["data"]] == ["m0", "m1"]
    second = messages(api, conversation, f"?limit=2&cursor={first['next_cursor']}")
    assert [m["text"] for m in second["data"]] == ["m2", "m3"]
    third = messages(api, conversation, f"?limit=2&cursor={second['next_cursor']}")
    assert [m["text"] for m in third["data"]] == ["m4"]
    assert third["next_cursor"] is None


@pytest.mark.parametrize(
    "body, field",
    [
        ({"text": "hi"}, "author"),
        ({"author": "robot", "text": "hi"}, "author"),
        ({"author": "shopper"}, "text"),
        ({"author": "shopper", "text": 42}, "text"),
        ({"author": "shopper", "text": "   "}, "text"),
        ({"author": "shopper", "text": "x" * 20001}, "text"),
        ({"author": "shopper", "text": "hi", "colour": "red"}, "colour"),
        ({"author": "shopper", "text": "hi", "attachments": [{"url": "ftp://x", "name": "a", "content_type": "text/plain"}]}, "attachments.0.url"),
        ({"author": "shopper", "text": "hi", "attachments": [{"url": "https://x.test/a", "name": "a"}]}, "attachments.0.content_type"),
        ({"author": "shopper", "text": "hi", "author_name": ""}, "author_name"),
    ],
)
def test_wrong_fields_are_400_naming_the_field_and_nothing_is_stored(api, conversation, body, field):
    response = post(api, conversation, **body)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["field"] == field
    assert error["code"] == "invalid_field"
    assert messages(api, conversation)["data"] == []
    assert api.get(f"/v1/conversations/{conversation['id']}").get_json() == conversation
