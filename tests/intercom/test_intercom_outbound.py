"""The plugin's outbound calls and set-up, on the SDK, against the fake Intercom API over HTTP.

These call the plugin's methods with a hand-made DeliveryContext (what the worker would
pass); the end-to-end tests (test_intercom_flow.py) run the same through the connector.
"""

from __future__ import annotations

import pytest
import requests

from connector.plugins import DeliveryContext
from connector.plugins import GiveUp
from connector.plugins import RetryLater
from handover_intercom.plugin import IntercomIntegration
from handover_intercom.settings import IntercomSettings
from tests.fakes.intercom_api import FakeIntercom

TOKEN = "tok-outbound"


@pytest.fixture
def ic():
    with FakeIntercom(client_secret="s3cret") as fake:
        fake.bot = fake.add_admin("Handover Bot", token=TOKEN)
        fake.sam = fake.add_admin("Sam")
        yield fake
        assert fake.violations == []
        assert all(r.headers.get("Intercom-Version") == "2.14" for r in fake.requests)


def settings(fake: FakeIntercom, token: str = TOKEN) -> IntercomSettings:
    return IntercomSettings(access_token=token, client_secret=fake.client_secret, admin_id=fake.bot["id"],
                            api_base_url=fake.url)


def context(fake: FakeIntercom, key: str = "delivery-1") -> DeliveryContext:
    return DeliveryContext(workspace_id="ws_1", settings=settings(fake), idempotency_key=key,
                           http=requests.Session(), timeout=5, base_url="https://connector.example")


CONVERSATION = {"id": "conv_1", "status": "open", "controller": "human",
                "shopper": {"name": "Ann <b>", "email": "ann@example.com"}}
TRANSCRIPT = [
    {"id": "m1", "author": "shopper", "text": "Where is my order?", "created_at": "2026-01-01T10:00:00Z"},
    {"id": "m2", "author": "ai", "text": "Let me check.", "author_name": None, "created_at": "2026-01-01T10:00:05Z"},
    {"id": "m3", "author": "shopper", "text": "I want a <refund>", "created_at": "2026-01-01T10:01:00Z"},
]
EVENTS = [{"id": "e1", "type": "handed_over", "trigger": "automatic", "scenario": "Refund over 100",
           "actor": {"kind": "ai", "name": None}, "source": "api", "reason": None, "at": "2026-01-01T10:01:01Z"}]


def test_configure_makes_shopper_email_once_and_insists_on_the_conversation_attribute(ic):
    plugin = IntercomIntegration()
    with pytest.raises(GiveUp) as missing:
        plugin.configure("ws_1", settings(ic), requests.Session(), 5, "https://connector.example")
    assert "handover_conversation_id" in missing.value.reason
    ic.define_attribute("conversation", "handover_conversation_id")
    for _ in range(2):
        assert plugin.configure("ws_1", settings(ic), requests.Session(), 5, "https://connector.example") == {}
    assert [(a["model"], a["name"]) for a in ic.data_attributes] == [
        ("contact", "shopper_email"), ("conversation", "handover_conversation_id")]
    assert len([r for r in ic.requests if r.method == "POST" and r.path == "/data_attributes"]) == 1


def test_check_says_who_the_token_belongs_to_or_what_is_wrong(ic):
    plugin = IntercomIntegration()
    health = plugin.check(settings(ic), requests.Session(), 5)
    assert health.ok and "Handover Bot" in health.detail and ic.app_id in health.detail
    bad = plugin.check(settings(ic, token="revoked"), requests.Session(), 5)
    assert not bad.ok and "access token" in bad.detail and "revoked" not in bad.detail
    wrong_admin = plugin.check(settings(ic).model_copy(update={"admin_id": "999999"}), requests.Session(), 5)
    assert not wrong_admin.ok and "999999" in wrong_admin.detail


def test_check_names_an_unreachable_url_and_why(ic):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    settings_ = settings(ic).model_copy(update={"api_base_url": f"http://127.0.0.1:{port}"})
    health = IntercomIntegration().check(settings_, requests.Session(), 2)
    assert not health.ok
    assert f"could not reach http://127.0.0.1:{port}/me: connection refused" in health.detail, health.detail


def _open(plugin: IntercomIntegration, ic: FakeIntercom, key: str = "delivery-1"):
    thread = plugin.open_thread(context(ic, key), CONVERSATION, TRANSCRIPT, EVENTS)
    results = [plugin.run_task(context(ic, f"{key}-task{i}"), thread, task) for i, task in enumerate(thread.tasks)]
    return thread, results


def test_handover_makes_a_contact_without_email_and_one_tagged_conversation_with_the_transcript(ic):
    ic.define_attribute("contact", "shopper_email")
    ic.define_attribute("conversation", "handover_conversation_id")
    plugin = IntercomIntegration()
    thread, results = _open(plugin, ic)
    [contact] = ic.contacts.values()
    assert (contact["external_id"], contact["name"], contact["email"]) == ("conv_1", "Ann <b>", "")
    assert contact["custom_attributes"] == {"shopper_email": "ann@example.com"}
    [conversation] = ic.conversations.values()
    assert thread.external_id == conversation["id"] and thread.data == {"contact_id": contact["id"]}
    assert conversation["source"]["body"] == "<p>I want a &lt;refund&gt;</p>"  # the shopper's latest words, as text
    assert conversation["custom_attributes"] == {"handover_conversation_id": "conv_1"}
    assert [t["name"] for t in conversation["tags"]] == ["ai_handover", "scenario_refund_over_100"]
    [note] = [p for p in conversation["parts"] if p["part_type"] == "note"]
    assert results[-1].external_ref == note["id"]
    assert "Where is my order?" in note["body"] and "I want a &lt;refund&gt;" in note["body"]
    assert "Ann &lt;b&gt;" in note["body"] and "scenario “refund over 100” fired" in note["body"].lower()


def test_a_retried_handover_reuses_the_contact_and_makes_one_conversation(ic):
    ic.define_attribute("contact", "shopper_email")
    ic.define_attribute("conversation", "handover_conversation_id")
    plugin = IntercomIntegration()
    ic.rate_limit(1, reset_in=4, method="POST", path="/conversations")
    with pytest.raises(RetryLater) as limited:
        plugin.open_thread(context(ic), CONVERSATION, TRANSCRIPT, EVENTS)
    assert 3 <= limited.value.retry_after <= 6
    assert len(ic.contacts) == 1 and ic.conversations == {}
    thread, _ = _open(plugin, ic)  # the outbox's retry
    assert len(ic.contacts) == 1 and list(ic.conversations) == [thread.external_id]
    # the SDK did not retry the 429 itself: one attempt each
    posts = [r.status for r in ic.requests if r.method == "POST" and r.path == "/conversations"]
    assert posts == [429, 200]
    # a set-up task that fails is retried alone: still one conversation, tags once
    ic.rate_limit(1, path=f"/conversations/{thread.external_id}/tags")
    with pytest.raises(RetryLater):
        plugin.run_task(context(ic, "again"), thread, thread.tasks[0])
    plugin.run_task(context(ic, "again"), thread, thread.tasks[0])
    assert [t["name"] for t in ic.conversations[thread.external_id]["tags"]] == ["ai_handover", "scenario_refund_over_100"]


def test_a_retry_after_a_lost_answer_finds_the_conversation_it_made(ic):
    ic.define_attribute("contact", "shopper_email")
    ic.define_attribute("conversation", "handover_conversation_id")
    plugin = IntercomIntegration()
    other = plugin.open_thread(context(ic, "other"), {**CONVERSATION, "id": "conv_2"}, TRANSCRIPT, EVENTS)
    first = plugin.open_thread(context(ic), CONVERSATION, TRANSCRIPT, EVENTS)
    # the answer was lost (the link was never committed): the outbox calls open_thread again
    again = plugin.open_thread(context(ic), CONVERSATION, TRANSCRIPT, EVENTS)
    assert again.external_id == first.external_id != other.external_id
    assert again.tasks == first.tasks and len(ic.conversations) == 2 and len(ic.contacts) == 2


def test_later_messages_state_changes_and_reopening(ic):
    ic.define_attribute("contact", "shopper_email")
    ic.define_attribute("conversation", "handover_conversation_id")
    plugin = IntercomIntegration()
    thread, _ = _open(plugin, ic)
    conversation = ic.conversations[thread.external_id]
    ref = plugin.mirror_message(context(ic, "m4"), thread, CONVERSATION,
                                {"id": "m4", "author": "shopper", "text": "Hello?\n<i>x</i>", "attachments": []})
    reply = conversation["parts"][-1]
    assert ref == reply["id"] and reply["author"]["type"] == "user" and reply["part_type"] == "comment"
    assert reply["body"] == "<p>Hello?<br>&lt;i&gt;x&lt;/i&gt;</p>"
    ref = plugin.mirror_message(context(ic, "m5"), thread, CONVERSATION,
                                {"id": "m5", "author": "human", "author_name": "Bo", "text": "From Slack", "source": "slack"})
    assert ref == conversation["parts"][-1]["id"] and conversation["parts"][-1]["part_type"] == "note"
    resolved = {"id": "e2", "type": "resolved", "actor": {"kind": "human", "name": "Bo"}, "source": "slack",
                "reason": None, "at": "2026-01-01T11:00:00Z"}
    result = plugin.mirror_state(context(ic, "s1"), thread, {**CONVERSATION, "status": "resolved"}, [resolved])
    assert conversation["state"] == "closed"
    assert result.external_ref == conversation["parts"][-1]["id"] and conversation["parts"][-1]["part_type"] == "close"
    assert "Resolved by Bo (slack)" in conversation["parts"][-2]["body"]
    reopened = {"id": "e3", "type": "reopened", "actor": {"kind": "shopper", "name": None}, "source": "api",
                "reason": None, "at": "2026-01-01T12:00:00Z"}
    plugin.mirror_state(context(ic, "s2"), thread, CONVERSATION, [reopened])
    assert conversation["state"] == "open"
    assert [p["part_type"] for p in conversation["parts"][-2:]] == ["open", "note"]
