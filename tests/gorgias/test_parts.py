"""The Gorgias plugin's pure parts: settings, hook tokens, strict template values, rendering."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from handover_gorgias import render
from handover_gorgias.payload import FORM
from handover_gorgias.payload import parse
from handover_gorgias.settings import GorgiasSettings
from handover_gorgias.verify import SALT
from handover_gorgias.verify import BadField
from handover_gorgias.verify import optional_bool
from handover_gorgias.verify import token_matches
from connector.plugins.webhooks import UrlTokens
from tests.fakes.gorgias_api import render as gorgias_render

SECRET = "test-secret-key-" + "x" * 32


def settings(**values):
    return GorgiasSettings.model_validate({"domain": "acme", "email": "bot@acme.com", "api_key": "k", **values})


# -- settings ---------------------------------------------------------------------------------


def test_the_domain_may_be_given_as_the_host_or_url_and_the_base_url_follows():
    assert settings(domain="Acme.gorgias.com").domain == "acme"
    assert settings(domain="https://acme.gorgias.com/app").domain == "acme"
    assert settings().base_url == "https://acme.gorgias.com/api"
    assert settings(api_base_url="http://127.0.0.1:9/api/").base_url == "http://127.0.0.1:9/api"
    assert settings(api_base_url="https://proxy.example.com/gorgias/api").base_url == "https://proxy.example.com/gorgias/api"
    for bad in ({"domain": "ac me"}, {"domain": "-x"}, {"email": "nope"}, {"api_key": ""},
                {"api_base_url": "ftp://x"}, {"api_base_url": "http://proxy.example.com/api"}, {"unknown": 1}):
        with pytest.raises(ValidationError):
            settings(**bad)


def test_the_api_key_is_a_secret():
    shown = settings(api_key="very-secret")
    assert "very-secret" not in repr(shown) and "very-secret" not in shown.model_dump_json()
    assert settings(rotate_token="true").rotate_token is True


# -- hook tokens --------------------------------------------------------------------------------


def test_tokens_name_the_workspace_and_nonce_and_only_this_deployment_signs_them():
    tokens = UrlTokens(SECRET, SALT)
    token = tokens.dumps("ws_1", "nonce-a")
    assert tokens.loads(token) == ("ws_1", "nonce-a")
    assert token_matches(tokens.loads(token), "ws_1", "nonce-a")
    assert not token_matches(tokens.loads(token), "ws_1", "nonce-b")  # rotated
    assert not token_matches(tokens.loads(token), "ws_2", "nonce-a")
    other = UrlTokens("another-secret-" + "y" * 32, SALT)
    assert other.loads(token) is None
    assert UrlTokens(SECRET, "other").loads(token) is None
    for bad in ("", "x" * 600, token[:-2] + "zz", "not.a.token"):
        assert tokens.loads(bad) is None


# -- the integration's body, read strictly ---------------------------------------------------------


def rendered(ticket, message=None, event_type="ticket-message-created"):
    context = {"ticket": ticket, "event": {"id": 901, "type": event_type}}
    if message is not None:
        context["message"] = message
    return json.dumps(gorgias_render(FORM, context)).encode()


TICKET = {"id": 55, "external_id": "conv_1", "status": "open", "tags": [{"id": 1, "name": "ai_handover"}],
          "updated_datetime": "2026-01-01T00:00:00+00:00"}


def test_the_form_as_gorgias_renders_it_reads_back():
    message = {"id": 77, "from_agent": False, "public": True, "channel": "api", "via": "api", "external_id": None,
               "rule_id": None}
    webhook = parse(rendered(TICKET, message))
    assert (webhook.ticket_id, webhook.message_id, webhook.event_id) == (55, 77, 901)
    assert webhook.from_agent is False and webhook.public is True  # "False" is false
    assert webhook.rule_id is None and webhook.message_external_id is None  # "None" is nothing
    assert webhook.tags == ["ai_handover"]
    assert webhook.ignorable() == "a customer message"
    assert webhook.dedupe_id == "event:901"


def test_what_needs_no_work_is_told_apart_by_the_body():
    agent = {"id": 78, "from_agent": True, "public": True, "channel": "api", "via": "helpdesk",
             "external_id": None, "rule_id": None}
    assert parse(rendered(TICKET, agent)).ignorable() is None
    assert parse(rendered(TICKET, {**agent, "channel": "internal-note", "public": False})).ignorable() == "an internal note"
    assert parse(rendered(TICKET, {**agent, "via": "rule", "rule_id": 4})).ignorable() == "a rule's message"
    assert parse(rendered(TICKET, {**agent, "external_id": "handover:msg_1"})).ignorable() == "our own message"
    update = parse(rendered(TICKET, event_type="ticket-updated"))
    assert update.message_id is None and update.ignorable() == "nothing to act on"
    tagged = {**TICKET, "tags": [{"name": "give_back_to_ai"}]}
    assert parse(rendered(tagged, event_type="ticket-updated")).ignorable() is None
    assert parse(rendered({**TICKET, "status": "closed"}, event_type="ticket-updated")).ignorable() is None


@pytest.mark.parametrize(("body", "field"), [
    (b"not json", "body"),
    (b"[]", "body"),
    (json.dumps({"event": {"type": "ticket-created"}, "ticket": {"id": "1"}}).encode(), "event.type"),
    (json.dumps({"event": {"type": "ticket-updated"}, "ticket": {"id": ""}}).encode(), "ticket.id"),
    (json.dumps({"event": {"type": "ticket-updated"}, "ticket": {"id": "1x"}}).encode(), "ticket.id"),
    (json.dumps({"event": {"type": "ticket-updated", "id": "abc"}, "ticket": {"id": "1"}}).encode(), "event.id"),
    (json.dumps({"event": {"type": "ticket-updated"}, "ticket": {"id": "1", "status": "solved"}}).encode(), "ticket.status"),
    (json.dumps({"event": {"type": "ticket-updated"}, "ticket": {"id": "1", "tags": "[oops"}}).encode(), "ticket.tags"),
    (json.dumps({"event": {"type": "ticket-message-created"}, "ticket": {"id": "1"},
                 "message": {"id": "2", "from_agent": "maybe"}}).encode(), "message.from_agent"),
    (json.dumps({"event": {"type": "ticket-message-created"}, "ticket": {"id": "1"}, "message": {}}).encode(), "message.id"),
])
def test_bad_values_are_refused_naming_the_field(body, field):
    with pytest.raises(BadField) as caught:
        parse(body)
    assert caught.value.field == field


def test_booleans_are_strict():
    assert optional_bool("True", "f") is True and optional_bool("false", "f") is False
    assert optional_bool(True, "f") is True and optional_bool("", "f") is None
    for bad in ("1", "yes", "FALSE ", 0):
        with pytest.raises(BadField):
            optional_bool(bad, "f")


# -- rendering -----------------------------------------------------------------------------------


def test_shopper_text_is_escaped_in_every_body():
    message = {"id": "m1", "author": "shopper", "text": "<script>alert(1)</script>\nline 2",
               "attachments": [{"url": "javascript:alert(1)", "name": "x"},
                               {"url": "https://files.example.com/a.png", "name": "<b>a</b>"}]}
    body = render.customer_body(message)
    assert "<script>" not in body["body_html"] and "&lt;script&gt;" in body["body_html"] and "<br>" in body["body_html"]
    assert "javascript:" not in body["body_html"] and "&lt;b&gt;a&lt;/b&gt;" in body["body_html"]
    ai = render.labelled_body({"id": "m2", "author": "ai", "text": "<i>hi</i>", "author_name": "<Bot>"}, {})
    assert ai["body_html"].startswith("<p><strong>&lt;Bot&gt;</strong></p>") and "&lt;i&gt;" in ai["body_html"]
    note = render.handover_note({"id": "c1", "shopper": {"name": "<Ann>", "email": "a@x.com"}}, [], "https://h.example")
    assert "&lt;Ann&gt;" in note["body_html"] and "https://h.example/console/conversations/c1" in note["body_text"]
