"""The fake Intercom API behaves like Intercom where the connector depends on it.

Driven through the official SDK (python-intercom) over real HTTP, as the plugin drives it,
plus raw ``requests`` where the SDK would not send what is being refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer

import pytest
import requests
from intercom import AdminReplyConversationRequest
from intercom import ContactReplyIntercomUserIdRequest
from intercom import CreateContactRequestWithExternalId
from intercom import CreateOrUpdateTagRequest
from intercom import Intercom
from intercom.conversations import ConversationsManageRequestBody_Close
from intercom.conversations import CreateConversationRequestFrom
from intercom.core.api_error import ApiError

from tests.fakes.intercom_api import FakeIntercom

TOKEN = "tok-fake"


@pytest.fixture
def ic():
    with FakeIntercom(client_secret="s3cret") as fake:
        fake.bot = fake.add_admin("Handover Bot", token=TOKEN)
        fake.sam = fake.add_admin("Sam", "sam@shop.example")
        fake.fin = fake.add_admin("Fin", kind="bot")
        fake.define_attribute("conversation", "handover_conversation_id")
        fake.define_attribute("contact", "shopper_email")
        yield fake
        assert fake.violations == []


def sdk(fake: FakeIntercom, token: str = TOKEN, version: str | None = "2.14") -> Intercom:
    headers = {"Intercom-Version": version} if version else None
    return Intercom(token=token, base_url=fake.url, headers=headers, timeout=5)


def _conversation(fake: FakeIntercom, client: Intercom, external_id: str = "conv_1") -> tuple[str, str]:
    contact = client.contacts.create(request=CreateContactRequestWithExternalId(external_id=external_id, name="Ann"))
    message = client.conversations.create(from_=CreateConversationRequestFrom(type="user", id=contact.id), body="Help")
    return str(contact.id), str(message.conversation_id)


class Catcher:
    """A real HTTP endpoint recording what is POSTed to it."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        catcher = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                catcher.received.append((dict(self.headers.items()), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_me_names_the_tokens_admin_and_a_bad_token_is_401(ic):
    me = sdk(ic).admins.identify()
    assert (me.name, me.id, me.app.id_code) == ("Handover Bot", ic.bot["id"], ic.app_id)
    with pytest.raises(ApiError) as caught:
        sdk(ic, token="wrong").admins.identify()
    assert caught.value.status_code == 401
    assert caught.value.body["errors"][0]["code"] == "unauthorized"


def test_a_request_without_intercom_version_is_refused_and_recorded(ic):
    with pytest.raises(ApiError) as caught:
        sdk(ic, version=None).admins.identify()
    assert caught.value.status_code == 400
    assert ic.violations == ["GET /me: Intercom-Version None, not '2.14'"]
    ic.violations.clear()


def test_requests_are_checked_against_the_spec_extract(ic):
    headers = {"Authorization": f"Bearer {TOKEN}", "Intercom-Version": "2.14"}
    # an undescribed field, a body the schema refuses, an undescribed query parameter, an unknown path
    answers = [
        requests.post(f"{ic.url}/contacts", json={"external_id": "x", "nickname": "A"}, headers=headers),
        requests.post(f"{ic.url}/conversations", json={"body": "hi"}, headers=headers),
        requests.get(f"{ic.url}/tags?page=2", headers=headers),
        requests.post(f"{ic.url}/contacts/search", json={}, headers=headers).status_code,
        requests.put(f"{ic.url}/conversations/abc", json={"read": True}, headers=headers),
    ]
    assert [a if isinstance(a, int) else a.status_code for a in answers] == [400, 400, 400, 404, 400]
    assert len(ic.violations) == 5
    assert "nickname" in ic.violations[0] and "'from' is a required property" in ic.violations[1]
    assert "page" in ic.violations[2] and "integer" in ic.violations[4]
    ic.violations.clear()


def test_contacts_by_external_id_custom_attributes_must_exist(ic):
    client = sdk(ic)
    with pytest.raises(ApiError) as missing:
        client.contacts.show_contact_by_external_id("conv_9")
    assert missing.value.status_code == 404
    with pytest.raises(ApiError) as undefined:
        client.contacts.create(request=CreateContactRequestWithExternalId(
            external_id="conv_9", name="Ann", custom_attributes={"favourite": "tea"}))
    assert undefined.value.status_code == 400 and "favourite" in undefined.value.body["errors"][0]["message"]
    made = client.contacts.create(request=CreateContactRequestWithExternalId(
        external_id="conv_9", name="Ann", custom_attributes={"shopper_email": "ann@example.com"}))
    assert (made.email, made.custom_attributes) == ("", {"shopper_email": "ann@example.com"})
    assert client.contacts.show_contact_by_external_id("conv_9").id == made.id
    with pytest.raises(ApiError) as conflict:
        client.contacts.create(request=CreateContactRequestWithExternalId(external_id="conv_9", name="Ann"))
    assert conflict.value.status_code == 409 and made.id in conflict.value.body["errors"][0]["message"]


def test_conversation_parts_state_and_custom_attributes(ic):
    client = sdk(ic)
    contact_id, conversation_id = _conversation(ic, client)
    with pytest.raises(ApiError):
        client.conversations.update(conversation_id, custom_attributes={"undefined_one": "x"})
    client.conversations.update(conversation_id, custom_attributes={"handover_conversation_id": "conv_1"})
    answer = client.conversations.reply(conversation_id, request=AdminReplyConversationRequest(
        message_type="note", admin_id=ic.bot["id"], body="<p>note</p>"))
    note = answer.conversation_parts.conversation_parts[-1]
    assert (note.part_type, note.author.type, note.author.id) == ("note", "admin", ic.bot["id"])
    client.conversations.manage(conversation_id, request=ConversationsManageRequestBody_Close(admin_id=ic.bot["id"]))
    assert ic.conversations[conversation_id]["state"] == "closed"
    client.conversations.reply(conversation_id, request=ContactReplyIntercomUserIdRequest(
        intercom_user_id=contact_id, body="<p>still there?</p>"))
    found = client.conversations.find(conversation_id)
    assert found.state == "open"  # the customer's reply reopened it
    assert found.custom_attributes == {"handover_conversation_id": "conv_1"}
    assert [p.part_type for p in found.conversation_parts.conversation_parts] == ["note", "close", "comment"]
    plain = client.conversations.find(conversation_id, display_as="plaintext")
    assert plain.conversation_parts.conversation_parts[-1].body == "still there?"
    # the API's note and close queue their notifications like a teammate's
    assert [n["topic"] for n in ic.pending] == ["conversation.admin.noted", "conversation.admin.closed"]


def test_tags_are_created_by_name_once_and_untagging_twice_is_404(ic):
    client = sdk(ic)
    _, conversation_id = _conversation(ic, client)
    tag = client.tags.create(request=CreateOrUpdateTagRequest(name="ai_handover"))
    assert client.tags.create(request=CreateOrUpdateTagRequest(name="ai_handover")).id == tag.id
    client.tags.tag_conversation(conversation_id, tag_id=tag.id, admin_id=ic.bot["id"])
    assert [t["name"] for t in ic.conversations[conversation_id]["tags"]] == ["ai_handover"]
    client.tags.untag_conversation(conversation_id, tag.id, admin_id=ic.bot["id"])
    with pytest.raises(ApiError) as again:
        client.tags.untag_conversation(conversation_id, tag.id, admin_id=ic.bot["id"])
    assert again.value.status_code == 404


def test_rate_limit_answers_429_with_x_ratelimit_reset(ic):
    ic.rate_limit(1, reset_in=5)
    with pytest.raises(ApiError) as caught:
        sdk(ic).admins.identify()
    headers = {k.lower(): v for k, v in caught.value.headers.items()}
    assert caught.value.status_code == 429 and headers["x-ratelimit-remaining"] == "0"
    assert 4 <= int(headers["x-ratelimit-reset"]) - time.time() <= 7
    assert sdk(ic).admins.identify().name == "Handover Bot"  # one 429, then served; the SDK did not retry
    assert [r.status for r in ic.requests] == [429, 200]


def test_notifications_are_signed_and_carry_only_the_new_part(ic):
    client = sdk(ic)
    _, conversation_id = _conversation(ic, client)
    catcher = Catcher()
    ic.webhook_url = catcher.url
    try:
        reply = ic.admin_reply(conversation_id, "Refund <issued>", ic.sam["id"])
        ic.bot_reply(conversation_id, "I am Fin", ic.fin["id"])
        ic.note(conversation_id, "internal", ic.sam["id"])
        ic.tag(conversation_id, "give_back_to_ai", ic.sam["id"])
        ic.close(conversation_id, ic.sam["id"])
        ic.ping()
    finally:
        catcher.close()
    topics = [json.loads(body)["topic"] for _, body in catcher.received]
    assert topics == ["conversation.admin.replied", "conversation.admin.replied", "conversation.admin.noted",
                      "conversation_part.tag.created", "conversation.admin.closed", "ping"]
    for headers, body in catcher.received:
        expected = "sha1=" + hmac.new(b"s3cret", body, hashlib.sha1).hexdigest()
        assert headers["X-Hub-Signature"] == expected
    first = json.loads(catcher.received[0][1])
    parts = first["data"]["item"]["conversation_parts"]
    assert parts["total_count"] == 1 and parts["conversation_parts"][0]["id"] == reply["id"]
    assert parts["conversation_parts"][0]["body"] == "<p>Refund &lt;issued&gt;</p>"  # HTML up to 2.14
    fin = json.loads(catcher.received[1][1])["data"]["item"]["conversation_parts"]["conversation_parts"][0]
    assert fin["author"]["type"] == "bot" and fin["author"]["from_ai_agent"] is True
    tags = json.loads(catcher.received[3][1])["data"]["item"]["tags"]["tags"]
    assert tags[0]["name"] == "give_back_to_ai" and tags[0]["applied_by"]["id"] == ic.sam["id"]


def test_from_2_15_notification_bodies_are_plain_text(ic):
    client = sdk(ic)
    _, conversation_id = _conversation(ic, client)
    ic.webhook_version = "2.15"
    notification = ic._notification("conversation.admin.replied", ic.conversations[conversation_id],
                                    [ic.admin_reply(conversation_id, "a < b\nsecond line", ic.sam["id"], send=False)])
    assert notification["data"]["item"]["conversation_parts"]["conversation_parts"][0]["body"] == "a < b\nsecond line"


def test_canvas_requests_are_signed_with_hmac_sha256(ic):
    client = sdk(ic)
    _, conversation_id = _conversation(ic, client)
    body, headers = ic.canvas_request(conversation_id, ic.sam["id"], component_id="resolve", stored_data={"v": "1"})
    assert headers["X-Body-Signature"] == hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    payload = json.loads(body)
    assert payload["component_id"] == "resolve" and payload["conversation"]["id"] == conversation_id
    assert payload["admin"]["name"] == "Sam" and payload["stored_data"] == {"v": "1"}
