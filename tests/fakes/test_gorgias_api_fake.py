"""The Gorgias fake, driven by plain requests over HTTP, as the plugin drives it."""

from __future__ import annotations

import json
import threading
import time
import typing as t

import pytest
import requests

from .gorgias_api import SCHEMA
from .gorgias_api import FakeGorgias
from .gorgias_api import render

EMAIL = "bot@shop.example"
KEY = "gorgias-api-key-0001"
NOW = "2026-01-02T10:00:00+00:00"


@pytest.fixture
def gorgias() -> t.Iterator[FakeGorgias]:
    with FakeGorgias() as fake:
        fake.add_api_key(EMAIL, KEY)
        yield fake


def call(fake: FakeGorgias, method: str, path: str, auth: tuple[str, str] = (EMAIL, KEY),
         **kwargs: t.Any) -> requests.Response:
    return requests.request(method, fake.api_url + path, auth=auth, timeout=5, **kwargs)


def customer(fake: FakeGorgias, email: str = "ann@example.com", name: str = "Ann Lee") -> dict[str, t.Any]:
    answer = call(fake, "POST", "/customers", json={
        "name": name, "email": email, "channels": [{"type": "email", "address": email, "preferred": True}]})
    assert answer.status_code == 201, answer.text
    return answer.json()


def ticket(fake: FakeGorgias, customer_id: int, **fields: t.Any) -> dict[str, t.Any]:
    body = {"customer": {"id": customer_id}, "channel": "api", "via": "api", "from_agent": False,
            "subject": "Where is my parcel?",
            "messages": [{"channel": "api", "via": "api", "from_agent": False, "sender": {"id": customer_id},
                          "body_text": "It never arrived.", "sent_datetime": NOW}], **fields}
    answer = call(fake, "POST", "/tickets", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def integration(fake: FakeGorgias, url: str, **triggers: bool) -> dict[str, t.Any]:
    body = {"type": "http", "name": "relay", "http": {
        "url": url, "method": "POST", "request_content_type": "application/json",
        "response_content_type": "application/json",
        "triggers": triggers or {"ticket-message-created": True, "ticket-updated": True},
        "form": {"event": {"id": "{{event.id}}", "type": "{{event.type}}"},
                 "ticket": {"id": "{{ticket.id}}", "status": "{{ticket.status}}", "tags": "{{ticket.tags|tojson}}",
                            "external_id": "{{ticket.external_id}}"},
                 "message": {"id": "{{message.id}}", "from_agent": "{{message.from_agent}}",
                             "public": "{{message.public}}", "channel": "{{message.channel}}"}}}}
    answer = call(fake, "POST", "/integrations", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


class Receiver:
    """Stands in for the connector: records what the integration calls carried."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, t.Any]] = []
        self.headers: list[dict[str, str]] = []

    def __call__(self, method: str, url: str, headers: dict[str, str], body: bytes) -> int:
        self.bodies.append(json.loads(body))
        self.headers.append(headers)
        return 200


# -- authentication and the account --------------------------------------------------------


def test_basic_auth_with_the_api_key_is_required(gorgias):
    assert call(gorgias, "GET", "/account").json()["domain"] == "acme"
    assert call(gorgias, "GET", "/account", auth=(EMAIL.upper(), KEY)).status_code == 200
    assert call(gorgias, "GET", "/account", auth=(EMAIL, "wrong")).status_code == 401
    assert requests.get(gorgias.api_url + "/account", timeout=5).status_code == 401
    gorgias.revoke(KEY)
    assert call(gorgias, "GET", "/account").status_code == 401


def test_an_unknown_account_answers_404(gorgias):
    gorgias.account_exists = False
    assert call(gorgias, "GET", "/account").status_code == 404


# -- the schema check ---------------------------------------------------------------------


def test_requests_outside_the_schema_are_violations(gorgias):
    assert call(gorgias, "GET", "/tickets", params={"status": "open"}).status_code == 400  # not a list filter
    assert call(gorgias, "GET", "/customers", params={"external_id": "x"}).status_code == 400
    assert call(gorgias, "POST", "/customers", json={"name": "No channels"}).status_code == 400
    assert call(gorgias, "GET", "/satisfaction-surveys").status_code == 404
    assert call(gorgias, "POST", "/tickets", data=json.dumps({"messages": []})).status_code == 400  # no content type
    assert call(gorgias, "POST", "/tickets", json={"messages": []}).status_code == 400  # 1 to 500 messages
    assert len(gorgias.violations) == 6
    assert any("status" in v for v in gorgias.violations)


def test_every_routed_endpoint_is_in_the_schema():
    assert "DELETE /api/tickets/{id}/tags" in SCHEMA["endpoints"]
    assert "status" not in SCHEMA["endpoints"]["GET /api/tickets"]["query"]


# -- customers, tickets, messages ------------------------------------------------------------


def test_customers_by_email_and_name_and_no_second_one_with_the_same_address(gorgias):
    ann = customer(gorgias)
    again = call(gorgias, "POST", "/customers", json={
        "name": "Other", "channels": [{"type": "email", "address": "ANN@example.com"}]})
    assert again.status_code == 400
    found = call(gorgias, "GET", "/customers", params={"email": "ann@example.com"}).json()["data"]
    assert [c["id"] for c in found] == [ann["id"]]
    nameless = call(gorgias, "POST", "/customers", json={"name": "Bo", "channels": [], "external_id": "shopper:1"})
    assert nameless.status_code == 201 and nameless.json()["email"] is None
    by_name = call(gorgias, "GET", "/customers", params={"name": "bo"}).json()["data"]
    assert [c["external_id"] for c in by_name] == ["shopper:1"]
    assert gorgias.violations == []


def test_imported_messages_are_not_sent_but_agents_replies_are(gorgias):
    agent = gorgias.add_agent("Dana Agent", "dana@shop.example")
    ann = customer(gorgias)
    created = ticket(gorgias, ann["id"], external_id="conv-1", tags=[{"name": "ai_handover"}])
    assert created["status"] == "open" and [x["name"] for x in created["tags"]] == ["ai_handover"]
    answer = call(gorgias, "POST", f"/tickets/{created['id']}/messages", json={
        "channel": "api", "via": "api", "from_agent": True, "sender": {"email": EMAIL},
        "body_html": "<p>From the AI</p>", "sent_datetime": NOW})
    assert answer.status_code == 201 and answer.json()["body_text"] == "From the AI"
    assert gorgias.sent_out == []
    reply = gorgias.agent_reply(created["id"], "Hello Ann", agent)
    assert [m["id"] for m in gorgias.sent_out] == [reply["id"]]
    listed = call(gorgias, "GET", "/tickets", params={"external_id": "conv-1"}).json()["data"]
    assert [x["id"] for x in listed] == [created["id"]]
    assert call(gorgias, "GET", "/tickets", params={"external_id": "other"}).json()["data"] == []
    assert gorgias.violations == []


def test_a_customer_message_needs_a_customer_sender_and_an_agent_message_a_user(gorgias):
    ann = customer(gorgias)
    created = ticket(gorgias, ann["id"])
    wrong = call(gorgias, "POST", f"/tickets/{created['id']}/messages", json={
        "channel": "api", "via": "api", "from_agent": True, "sender": {"id": ann["id"]}, "body_text": "x"})
    assert wrong.status_code == 400


def test_messages_are_cursor_paginated(gorgias):
    ann = customer(gorgias)
    created = ticket(gorgias, ann["id"])
    for number in range(34):
        gorgias.customer_message(created["id"], f"message {number}")
    first = call(gorgias, "GET", f"/tickets/{created['id']}/messages").json()
    assert len(first["data"]) == 30 and first["meta"]["next_cursor"]
    rest = call(gorgias, "GET", f"/tickets/{created['id']}/messages",
                params={"cursor": first["meta"]["next_cursor"], "limit": 100}).json()
    assert len(rest["data"]) == 5 and rest["meta"]["next_cursor"] is None
    assert call(gorgias, "GET", f"/tickets/{created['id']}/messages", params={"limit": 101}).status_code == 400


def test_tags_add_replace_and_remove(gorgias):
    ann = customer(gorgias)
    created = ticket(gorgias, ann["id"], tags=[{"name": "ai_handover"}])
    path = f"/tickets/{created['id']}/tags"
    assert call(gorgias, "POST", path, json={"names": ["give_back_to_ai", "vip"]}).status_code == 201
    assert gorgias.tag_names(created["id"]) == ["ai_handover", "give_back_to_ai", "vip"]
    assert call(gorgias, "DELETE", path, json={"names": ["give_back_to_ai"]}).status_code == 204
    assert gorgias.tag_names(created["id"]) == ["ai_handover", "vip"]
    call(gorgias, "PUT", f"/tickets/{created['id']}", json={"tags": [{"name": "only"}]})
    assert gorgias.tag_names(created["id"]) == ["only"]
    assert call(gorgias, "DELETE", path, json={}).status_code == 400  # names or ids
    assert len(gorgias.violations) == 1


def test_closing_and_reopening(gorgias):
    ann = customer(gorgias)
    created = ticket(gorgias, ann["id"])
    closed = call(gorgias, "PUT", f"/tickets/{created['id']}", json={"status": "closed"}).json()
    assert closed["status"] == "closed" and closed["closed_datetime"]
    assert call(gorgias, "PUT", f"/tickets/{created['id']}", json={"status": "solved"}).status_code == 400
    gorgias.customer_message(created["id"], "Still there?")
    assert gorgias.tickets[created["id"]]["status"] == "open"


# -- HTTP integrations ------------------------------------------------------------------------


def test_the_integration_call_is_rendered_as_gorgias_renders_it(gorgias):
    receiver = Receiver()
    gorgias.transport = receiver
    agent = gorgias.add_agent("Dana Agent", "dana@shop.example")
    ann = customer(gorgias)
    created = ticket(gorgias, ann["id"], external_id="conv-1", tags=[{"name": "ai_handover"}])
    hook = integration(gorgias, "https://handover.example.com/hooks/gorgias/tok")
    gorgias.settle()
    assert receiver.bodies == []  # ticket-created only, and the integration came later
    reply = gorgias.agent_reply(created["id"], "Hello", agent)
    gorgias.internal_note(created["id"], "psst", agent)
    gorgias.close_ticket(created["id"])
    gorgias.settle()
    message, note, update = receiver.bodies
    assert message["event"]["type"] == "ticket-message-created" and message["event"]["id"].isdigit()
    assert message["ticket"] == {"id": str(created["id"]), "status": "open", "external_id": "conv-1",
                                 "tags": json.dumps([{"id": gorgias.tags["ai_handover"]["id"], "name": "ai_handover",
                                                      "uri": None, "decoration": None}])}
    assert message["message"] == {"id": str(reply["id"]), "from_agent": "True", "public": "True", "channel": "api"}
    assert note["message"]["public"] == "False" and note["message"]["channel"] == "internal-note"
    assert update["event"]["type"] == "ticket-updated" and update["ticket"]["status"] == "closed"
    assert update["message"] == {"id": "", "from_agent": "", "public": "", "channel": ""}  # undefined in ticket-updated
    assert [c["integration_id"] for c in gorgias.calls] == [hook["id"]] * 3
    assert gorgias.violations == []


def test_none_renders_as_none_and_lists_as_python_does():
    context = {"ticket": {"external_id": None, "tags": [{"name": "a"}], "id": 5}}
    assert render({"a": "{{ticket.external_id}}", "b": "{{ ticket.tags }}", "c": "#{{ticket.id}}#",
                   "d": "{{ticket.tags|tojson}}", "e": 7}, context) == {
        "a": "None", "b": "[{'name': 'a'}]", "c": "#5#", "d": '[{"name": "a"}]', "e": 7}


def test_only_subscribed_triggers_fire_and_api_updates_fire_too(gorgias):
    receiver = Receiver()
    gorgias.transport = receiver
    ann = customer(gorgias)
    created = ticket(gorgias, ann["id"])
    integration(gorgias, "https://handover.example.com/x", **{"ticket-updated": True})
    call(gorgias, "POST", f"/tickets/{created['id']}/messages", json={
        "channel": "api", "via": "api", "from_agent": False, "sender": {"id": ann["id"]}, "body_text": "x",
        "sent_datetime": NOW})
    call(gorgias, "POST", f"/tickets/{created['id']}/tags", json={"names": ["vip"]})
    call(gorgias, "POST", f"/tickets/{created['id']}/tags", json={"names": ["vip"]})  # no change: nothing fires
    gorgias.settle()
    assert [b["event"]["type"] for b in receiver.bodies] == ["ticket-updated"]


def test_underscored_or_unconfirmed_trigger_names_are_refused(gorgias):
    for name in ("ticket_message_created", "ticket-handed-over"):
        answer = call(gorgias, "POST", "/integrations", json={"type": "http", "name": "x", "http": {
            "url": "https://x.example.com", "method": "POST", "triggers": {name: True}}})
        assert answer.status_code == 400
    assert len(gorgias.violations) == 2


def test_the_call_leaves_after_the_triggering_request_was_answered(gorgias):
    answered = threading.Event()
    seen: list[bool] = []

    def transport(method: str, url: str, headers: dict[str, str], body: bytes) -> int:
        seen.append(answered.wait(2))
        return 200

    gorgias.transport = transport
    ann = customer(gorgias)
    created = ticket(gorgias, ann["id"])
    integration(gorgias, "https://handover.example.com/x")
    started = time.monotonic()
    call(gorgias, "PUT", f"/tickets/{created['id']}", json={"status": "closed"})
    assert time.monotonic() - started < 1.5
    answered.set()
    gorgias.settle()
    assert seen == [True]


def test_calls_go_over_http_with_the_integrations_headers(gorgias):
    from http.server import BaseHTTPRequestHandler
    from http.server import ThreadingHTTPServer

    got: list[tuple[str, dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: t.Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((self.path, dict(self.headers), body))
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        ann = customer(gorgias)
        created = ticket(gorgias, ann["id"])
        hook = integration(gorgias, f"http://127.0.0.1:{server.server_address[1]}/hooks/gorgias/tok")
        call(gorgias, "PUT", f"/integrations/{hook['id']}", json={"http": {
            **hook["http"], "headers": {"X-Extra": "1"}}})
        gorgias.close_ticket(created["id"])
        gorgias.settle()
    finally:
        server.shutdown()
        server.server_close()
    path, headers, body = got[0]
    assert path == "/hooks/gorgias/tok" and headers["X-Extra"] == "1"
    assert headers["Content-Type"] == "application/json" and json.loads(body)["ticket"]["status"] == "closed"
    assert gorgias.calls[0]["status"] == 401


def test_an_integration_failing_100_times_in_a_row_is_deactivated(gorgias):
    gorgias.transport = lambda *args: 500
    ann = customer(gorgias)
    created = ticket(gorgias, ann["id"])
    hook = integration(gorgias, "https://handover.example.com/x", **{"ticket-updated": True})
    for number in range(101):
        gorgias.add_tag(created["id"], f"t{number}")
    gorgias.settle()
    assert gorgias.integrations[hook["id"]]["deactivated_datetime"] is not None
    assert len(gorgias.calls) == 100


# -- macros -----------------------------------------------------------------------------------


def test_a_macro_adds_its_tags_when_an_agent_applies_it(gorgias):
    receiver = Receiver()
    gorgias.transport = receiver
    ann = customer(gorgias)
    created = ticket(gorgias, ann["id"])
    macro = call(gorgias, "POST", "/macros", json={"name": "Give back to AI", "actions": [
        {"name": "addTags", "title": "Add tags", "type": "user", "arguments": {"tags": "give_back_to_ai"}}]}).json()
    integration(gorgias, "https://handover.example.com/x", **{"ticket-updated": True})
    gorgias.apply_macro(created["id"], macro["id"])
    gorgias.settle()
    assert gorgias.tag_names(created["id"]) == ["give_back_to_ai"]
    assert "give_back_to_ai" in receiver.bodies[0]["ticket"]["tags"]
    assert call(gorgias, "GET", "/macros", params={"search": "give back"}).json()["data"][0]["id"] == macro["id"]
    assert call(gorgias, "DELETE", f"/macros/{macro['id']}").status_code == 204
    assert call(gorgias, "GET", f"/macros/{macro['id']}").status_code == 404
    bad = call(gorgias, "POST", "/macros", json={"name": "x", "actions": [{"name": "addTags", "arguments": {}}]})
    assert bad.status_code == 400


# -- the leaky bucket -----------------------------------------------------------------------


def test_the_leaky_bucket_answers_429_with_retry_after_and_leaks():
    with FakeGorgias(capacity=3, window=1.5) as fake:
        fake.add_api_key(EMAIL, KEY)
        answers = [call(fake, "GET", "/account") for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert answers[0].headers["X-Gorgias-Account-Api-Call-Limit"] == "1/3"
        assert answers[3].headers["Retry-after"] == "1"
        time.sleep(0.6)  # half a second leaks one request
        assert call(fake, "GET", "/account").status_code == 200


def test_the_default_bucket_is_40_requests_per_20_seconds(gorgias):
    answers = [call(gorgias, "GET", "/account") for _ in range(41)]
    assert [a.status_code for a in answers].count(429) == 1
    assert answers[-1].status_code == 429 and int(answers[-1].headers["Retry-after"]) >= 1
    assert requests.get(gorgias.api_url + "/account", auth=(EMAIL, "bad"), timeout=5).status_code == 401
