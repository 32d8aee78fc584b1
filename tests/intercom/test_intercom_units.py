"""The Intercom plugin's pure parts: signatures, notification translation, error mapping, rendering."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest
from intercom.core.api_error import ApiError

from connector.plugins import GiveUp
from connector.plugins import IntegrationBroken
from connector.plugins import RetryLater
from handover_intercom import events
from handover_intercom import render
from handover_intercom import verify
from handover_intercom.client import outcome
from handover_intercom.client import retry_after
from handover_intercom.settings import IntercomSettings

BODY = b'{"type":"notification_event","topic":"ping"}'


def test_hub_signature_is_hmac_sha1_of_the_raw_body_with_the_client_secret():
    good = "sha1=" + hmac.new(b"secret", BODY, hashlib.sha1).hexdigest()
    assert verify.hub_signature_ok(BODY, good, "secret")
    assert not verify.hub_signature_ok(BODY, good, "other secret")
    assert not verify.hub_signature_ok(BODY + b" ", good, "secret")
    assert not verify.hub_signature_ok(BODY, good.removeprefix("sha1="), "secret")  # the prefix is part of it
    assert not verify.hub_signature_ok(BODY, None, "secret")
    sha256 = "sha1=" + hmac.new(b"secret", BODY, hashlib.sha256).hexdigest()
    assert not verify.hub_signature_ok(BODY, sha256, "secret")


def test_body_signature_is_hex_hmac_sha256():
    good = hmac.new(b"secret", BODY, hashlib.sha256).hexdigest()
    assert verify.body_signature_ok(BODY, good, "secret")
    assert verify.body_signature_ok(BODY, good.upper(), "secret")
    assert not verify.body_signature_ok(BODY, good, "wrong")
    assert not verify.body_signature_ok(BODY, "", "secret")


def _part(part_id, kind="comment", author_type="admin", body="<p>Hi</p>", **author):
    return {"type": "conversation_part", "id": part_id, "part_type": kind, "body": body,
            "author": {"type": author_type, "id": "7", "name": "Sam", **author}}


def _item(*parts, tags=()):
    return {"type": "conversation", "id": "900", "tags": {"type": "tag.list", "tags": list(tags)},
            "conversation_parts": {"type": "conversation_part.list", "conversation_parts": list(parts)}}


def test_only_admins_comments_are_kept_from_admin_replied():
    item = _item(_part("1"), _part("2", author_type="bot"), _part("3", from_ai_agent=True),
                 _part("4", is_ai_answer=True), _part("5", kind="note"), _part("6", kind="assignment"))
    task = events.task_for("conversation.admin.replied", item)
    assert [p["id"] for p in task["parts"]] == ["1"]
    assert events.task_for("conversation.admin.replied", _item(_part("2", author_type="bot"))) is None
    assert events.task_for("conversation.admin.noted", _item(_part("5", kind="note"))) is None


def test_an_admin_reply_becomes_one_human_message_per_part():
    task = events.task_for("conversation.admin.replied", _item(_part("11", body="<p>Refund &amp; more</p><p>Bye</p>")))
    [event] = events.translate(task, "900", "notif_1", lambda admin_id: None)
    assert (event.action, event.event_id, event.external_message_id, event.take_over) == ("message", "part:11", "11", True)
    assert (event.actor_name, event.text) == ("Sam", "Refund & more\nBye")
    assert event.agent == {"admin_id": "7", "name": "Sam"}


@pytest.mark.parametrize("body, text", [
    ("<p>a &lt; b</p>", "a < b"),              # HTML, up to 2.14
    ("a < b, and <3", "a < b, and <3"),        # plain text from 2.15: left as it is
    ("<p>one<br>two</p>", "one\ntwo"),
    ("  plain  ", "plain"),
])
def test_bodies_in_html_and_in_plain_text_become_clean_text(body, text):
    assert events.clean_text(body) == text


def test_close_and_give_back_tag():
    closed = events.task_for("conversation.admin.closed", _item(_part("20", kind="close", body=None)))
    [event] = events.translate(closed, "900", "notif_2", lambda admin_id: None)
    assert (event.action, event.event_id, event.external_message_id) == ("resolve", "close:20", "20")
    assert events.task_for("conversation_part.tag.created", _item(tags=[{"id": "5", "name": "ai_handover"}])) is None
    tagged = events.task_for("conversation_part.tag.created", _item(tags=[
        {"id": "6", "name": "give_back_to_ai", "applied_at": 1700, "applied_by": {"type": "admin", "id": "7"}}]))
    [event] = events.translate(tagged, "900", "notif_3", lambda admin_id: {"7": "Sam"}[admin_id])
    assert (event.action, event.actor_name, event.event_id) == ("give_back", "Sam", "give_back:900:6:1700")


def _api_error(status, headers=None, code="x"):
    return ApiError(status_code=status, headers=headers or {}, body={"type": "error.list", "errors": [{"code": code, "message": "m"}]})


def test_429_with_x_ratelimit_reset_becomes_retry_later_for_that_long():
    now = time.time()
    error = outcome(_api_error(429, {"x-ratelimit-reset": str(int(now) + 30)}), "reply")
    assert isinstance(error, RetryLater) and 28 <= error.retry_after <= 31
    assert retry_after(_api_error(429, {"Retry-After": "7"})) == 7
    assert retry_after(_api_error(429, {"X-RateLimit-Reset": str(int(now) - 5)}), now) == 0


def test_other_errors_map_to_outcomes_without_the_token():
    assert isinstance(outcome(_api_error(503), "x"), RetryLater)
    assert isinstance(outcome(_api_error(401, code="unauthorized"), "x"), IntegrationBroken)
    assert isinstance(outcome(_api_error(403), "x"), IntegrationBroken)
    error = outcome(_api_error(400, code="parameter_invalid"), "create contact")
    assert isinstance(error, GiveUp) and "parameter_invalid" in error.reason


def test_settings():
    settings = IntercomSettings(access_token="t", client_secret="s", admin_id="12", region="eu")
    assert settings.base_url == "https://api.eu.intercom.io"
    assert IntercomSettings(access_token="t", client_secret="s", admin_id="12",
                            api_base_url="http://127.0.0.1:9/").base_url == "http://127.0.0.1:9"
    for bad in ({"admin_id": "sam"}, {"region": "jp"}, {"api_base_url": "ftp://x"}, {"extra": 1}):
        with pytest.raises(ValueError):
            IntercomSettings(**{"access_token": "t", "client_secret": "s", "admin_id": "12", **bad})
    assert "s3cr3t" not in repr(IntercomSettings(access_token="s3cr3t", client_secret="s3cr3t", admin_id="1"))


def test_shopper_text_is_escaped_in_replies_and_notes():
    message = {"author": "shopper", "text": "<b>hi</b>\n<a href=x>y</a>", "attachments": []}
    assert render.shopper_reply(message) == "<p>&lt;b&gt;hi&lt;/b&gt;<br>&lt;a href=x&gt;y&lt;/a&gt;</p>"
    note = render.message_note({"author": "ai", "text": "<script>", "author_name": None}, {"shopper": {}})
    assert "<script>" not in note and "&lt;script&gt;" in note


def test_a_long_transcript_becomes_several_notes():
    transcript = [{"author": "shopper", "text": "x" * 3000, "created_at": "2026-01-01T00:00:00Z"}] * 20
    notes = render.transcript_notes({"id": "c1", "shopper": {"name": "Ann"}}, transcript, [], "https://c.example")
    assert len(notes) > 1 and all(len(n) <= render.NOTE_LIMIT + 100 for n in notes)
    assert sum(n.count("x" * 3000) for n in notes) == 20


def test_canvas_buttons_follow_the_state():
    class View:
        id = "c1"

        def __init__(self, status, controller):
            self.conversation = {"id": "c1", "status": status, "controller": controller, "version": 3}
            self.events = []

    def buttons(view):
        return [c["id"] for c in render.canvas(view)["canvas"]["content"]["components"] if c["type"] == "button"]

    assert buttons(View("open", "ai")) == ["take_over", "resolve"]
    assert buttons(View("open", "human")) == ["give_back", "resolve"]
    assert buttons(View("resolved", "human")) == ["take_over"]
    assert buttons(None) == []
    assert render.canvas(View("open", "ai"))["canvas"]["stored_data"] == {"conversation_id": "c1", "version": "3"}
