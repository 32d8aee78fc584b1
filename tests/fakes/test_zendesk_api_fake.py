"""The Zendesk fake, driven by real zenpy over HTTP (and by plain requests where zenpy cannot)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import typing as t
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from zenpy import Zenpy
from zenpy.lib.api_objects import Comment, Ticket, Trigger, User, Webhook
from zenpy.lib.exception import (
    APIException,
    RatelimitBudgetExceeded,
    RecordNotFoundException,
)

from .zendesk_api import SCHEMA, FakeZendesk

EMAIL = "bot@shop.example"
TOKEN = "zd-api-token-0001"


class RewritingSession(requests.Session):
    """Sends zenpy's ``https://<subdomain>.zendesk.com/...`` requests to the fake instead."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base = urllib.parse.urlsplit(base_url)

    def request(self, method: str, url: str, *a: t.Any, **kw: t.Any) -> requests.Response:  # type: ignore[override]
        parts = urllib.parse.urlsplit(url)
        response = super().request(method, urllib.parse.urlunsplit(
            (self.base.scheme, self.base.netloc, parts.path, parts.query, parts.fragment)), *a, **kw)
        response.request.url = url  # zenpy picks its response handler by the host it asked for
        return response


@pytest.fixture
def zd() -> t.Iterator[FakeZendesk]:
    with FakeZendesk() as fake:
        fake.set_api_user(EMAIL, TOKEN)
        yield fake


def client(zd: FakeZendesk, **kwargs: t.Any) -> Zenpy:
    credentials = kwargs.pop("credentials", {"email": EMAIL, "token": TOKEN})
    return Zenpy(subdomain="acme", session=RewritingSession(zd.url), disable_cache=True, timeout=5,
                 **credentials, **kwargs)


@pytest.fixture
def api(zd: FakeZendesk) -> Zenpy:
    return client(zd)


def raw(zd: FakeZendesk, method: str, path: str, **kwargs: t.Any) -> requests.Response:
    return requests.request(method, zd.url + path, auth=(f"{EMAIL}/token", TOKEN), timeout=5, **kwargs)


def new_ticket(api: Zenpy, requester_id: int, **fields: t.Any) -> t.Any:
    fields.setdefault("comment", Comment(body="My parcel never arrived.", public=True, author_id=requester_id))
    return api.tickets.create(Ticket(subject="Where is my order?", requester_id=requester_id, **fields))


@pytest.fixture
def shopper(api: Zenpy) -> t.Any:
    return api.users.create_or_update(User(name="Ann Lee", email="ann@example.com", external_id="shopper-1",
                                            role="end-user"))


# -- users ---------------------------------------------------------------------------------


def test_users_create_or_update_by_external_id_then_email(zd, api):
    created = api.users.create_or_update(User(name="Ann Lee", email="Ann@Example.com", external_id="s-1"))
    assert created.id in zd.users and created.role == "end-user" and created.email == "ann@example.com"
    assert zd.requests[-1].status == 201 and zd.requests[-1].path == "/api/v2/users/create_or_update.json"
    again = api.users.create_or_update(User(name="Ann B. Lee", external_id="s-1"))
    assert again.id == created.id and zd.requests[-1].status == 200 and zd.users[created.id]["name"] == "Ann B. Lee"
    by_email = api.users.create_or_update(User(name="Ann", email="ann@example.com"))
    assert by_email.id == created.id and len([u for u in zd.users.values() if u["role"] == "end-user"]) == 1

    assert [u.id for u in api.users.search(external_id="s-1")] == [created.id]
    assert [u.id for u in api.users.search(query="email:ann@example.com")] == [created.id]
    assert list(api.users.search(external_id="nobody")) == []
    assert api.users(id=created.id).name == "Ann"
    me = api.users.me()
    assert me.email == EMAIL and me.role == "admin" and me.id == zd.api_user_id
    with pytest.raises(RecordNotFoundException):
        api.users(id=999999)
    assert zd.violations == []


# -- tickets -------------------------------------------------------------------------------


def test_create_ticket_returns_an_audit(zd, api, shopper):
    audit = new_ticket(api, shopper.id, external_id="conv-1", tags=["handover", "Scenario_A"],
                       custom_fields=[{"id": 360001, "value": "x"}])
    assert audit.ticket.id in zd.tickets
    stored = zd.tickets[audit.ticket.id]
    assert stored["requester_id"] == shopper.id and stored["external_id"] == "conv-1"
    assert stored["tags"] == ["handover", "scenario_a"] and stored["status"] == "new"
    assert stored["custom_fields"] == [{"id": 360001, "value": "x"}]
    [comment] = stored["comments"]
    assert comment["author_id"] == shopper.id and comment["via"]["channel"] == "api" and comment["public"] is True
    [event] = [e for e in audit.audit.events if e["type"] == "Comment"]
    assert {"type": "Create", "field_name": "status", "value": "new"} in [
        {k: e[k] for k in ("type", "field_name", "value")} for e in audit.audit.events if e["type"] == "Create"]
    assert event["type"] == "Comment" and event["id"] == comment["id"] and event["body"] == "My parcel never arrived."
    assert api.tickets(id=audit.ticket.id).subject == "Where is my order?"
    found = list(api.tickets(external_id="conv-1"))
    assert [x.id for x in found] == [audit.ticket.id]
    assert zd.requests[-1].query == {"external_id": "conv-1", "page[size]": "100"}  # zenpy asks for cursor pages
    assert zd.violations == []


def test_a_requester_can_be_given_inline(zd):
    # zenpy's Ticket cannot carry an inline requester (its setter wants a User with an id)
    answer = raw(zd, "POST", "/api/v2/tickets.json", json={"ticket": {
        "subject": "Hi", "requester": {"name": "Bo", "email": "bo@example.com"},
        "comment": {"html_body": "<p>Hello <b>there</b></p>", "public": False}}})
    assert answer.status_code == 201 and set(answer.json()) == {"ticket", "audit"}
    ticket = zd.tickets[answer.json()["ticket"]["id"]]
    assert zd.users[ticket["requester_id"]]["email"] == "bo@example.com"
    comment = ticket["comments"][0]
    assert comment["body"] == "Hello there" and comment["public"] is False and comment["author_id"] == zd.api_user_id


def test_the_same_idempotency_key_makes_one_ticket(zd, shopper):
    session = RewritingSession(zd.url)
    session.headers["Idempotency-Key"] = "conv-1:create"
    api = Zenpy(subdomain="acme", email=EMAIL, token=TOKEN, session=session, disable_cache=True)
    first = new_ticket(api, shopper.id, external_id="conv-1")
    second = new_ticket(api, shopper.id, external_id="conv-1")
    assert first.ticket.id == second.ticket.id and len(zd.tickets) == 1
    creates = [r for r in zd.requests if r.path == "/api/v2/tickets.json"]
    assert [r.idempotency_hit for r in creates] == [False, True]

    body = {"ticket": {"subject": "S", "comment": {"body": "b"}, "external_id": "conv-2"}}
    answer = raw(zd, "POST", "/api/v2/tickets.json", json=body, headers={"Idempotency-Key": "k2"})
    assert answer.status_code == 201 and answer.headers["x-idempotency-lookup"] == "miss"
    again = raw(zd, "POST", "/api/v2/tickets.json", json=body, headers={"Idempotency-Key": "k2"})
    assert again.status_code == 201 and again.headers["x-idempotency-lookup"] == "hit"
    assert again.json() == answer.json()
    other = raw(zd, "POST", "/api/v2/tickets.json", json={**body, "ticket": {**body["ticket"], "subject": "T"}},
                headers={"Idempotency-Key": "k2"})
    assert other.status_code == 400 and other.json()["error"] == "IdempotentRequestError"
    assert len(zd.tickets) == 2


def test_a_server_error_is_not_remembered_for_the_idempotency_key(zd):
    body = {"ticket": {"subject": "S", "comment": {"body": "b"}}}
    zd.fail(times=1, status=503, path_contains="/tickets.json")
    assert raw(zd, "POST", "/api/v2/tickets.json", json=body, headers={"Idempotency-Key": "k"}).status_code == 503
    retried = raw(zd, "POST", "/api/v2/tickets.json", json=body, headers={"Idempotency-Key": "k"})
    assert retried.status_code == 201 and retried.headers["x-idempotency-lookup"] == "miss" and len(zd.tickets) == 1


def test_update_with_comment_and_list_comments(zd, api, shopper):
    agent = zd.add_agent("Dana Agent", "dana@shop.example")
    ticket_id = new_ticket(api, shopper.id).ticket.id
    audit = api.tickets.update(Ticket(id=ticket_id, comment=Comment(body="Internal: checking", public=False),
                                      additional_tags=["needs_you"]))
    assert audit.ticket.id == ticket_id and audit.audit.events[0]["public"] is False
    zd.agent_comment(ticket_id, agent["id"], "We are on it.")
    comments = list(api.tickets.comments(ticket_id))
    assert [c.body for c in comments] == ["My parcel never arrived.", "Internal: checking", "We are on it."]
    assert [c.via.channel for c in comments] == ["api", "api", "web"]
    assert comments[2].author_id == agent["id"] and comments[2].plain_body == "We are on it."
    assert all(c.type == "Comment" and c.created_at and c.html_body for c in comments)
    newest = raw(zd, "GET", f"/api/v2/tickets/{ticket_id}/comments.json?sort_order=desc").json()["comments"]
    assert newest[0]["body"] == "We are on it."
    assert zd.tickets[ticket_id]["tags"] == ["needs_you"] and zd.tickets[ticket_id]["status"] == "open"

    api.tickets.update(Ticket(id=ticket_id, remove_tags=["needs_you"], status="pending"))
    assert zd.tickets[ticket_id]["tags"] == [] and zd.tickets[ticket_id]["status"] == "pending"
    api.tickets.update(Ticket(id=ticket_id, comment=Comment(body="Still there?", author_id=shopper.id)))
    assert zd.tickets[ticket_id]["status"] == "open"  # an end user's comment reopens
    assert zd.violations == []


def test_tag_endpoints(zd, api, shopper):
    ticket_id = new_ticket(api, shopper.id, tags=["handover"]).ticket.id
    api.tickets.add_tags(ticket_id, ["give_back_to_ai"])
    assert zd.tickets[ticket_id]["tags"] == ["handover", "give_back_to_ai"]
    api.tickets.delete_tags(ticket_id, ["give_back_to_ai"])
    assert zd.tickets[ticket_id]["tags"] == ["handover"]
    api.tickets.set_tags(ticket_id, ["a", "b"])
    assert zd.tickets[ticket_id]["tags"] == ["a", "b"]
    assert [r.method for r in zd.requests if r.path.endswith("/tags.json")] == ["PUT", "DELETE", "POST"]
    assert zd.violations == []


def test_solving_needs_an_assignee(zd, api, shopper):
    ticket_id = new_ticket(api, shopper.id).ticket.id
    with pytest.raises(APIException) as refused:
        api.tickets.update(Ticket(id=ticket_id, status="solved"))
    assert refused.value.response.status_code == 422
    assert refused.value.response.json()["error"] == "RecordInvalid" and "status" in refused.value.response.json()["details"]
    api.tickets.update(Ticket(id=ticket_id, status="solved", assignee_id=zd.api_user_id,
                              comment=Comment(body="Resolved", public=False)))
    assert zd.tickets[ticket_id]["status"] == "solved" and zd.tickets[ticket_id]["assignee_id"] == zd.api_user_id


def test_a_closed_ticket_refuses_updates_and_takes_a_follow_up(zd, api, shopper):
    agent = zd.add_agent("Dana Agent", "dana@shop.example")
    ticket_id = new_ticket(api, shopper.id).ticket.id
    with pytest.raises(ValueError):
        zd.set_status(ticket_id, "closed")  # only from solved
    zd.assign(ticket_id, agent["id"])
    zd.set_status(ticket_id, "solved", actor_id=agent["id"])
    zd.set_status(ticket_id, "closed")
    with pytest.raises(APIException) as refused:
        api.tickets.update(Ticket(id=ticket_id, comment=Comment(body="Hello?", author_id=shopper.id)))
    assert refused.value.response.status_code == 422 and "closed" in refused.value.response.text.lower()
    with pytest.raises(APIException):
        api.tickets.add_tags(ticket_id, ["x"])
    assert len(zd.tickets[ticket_id]["comments"]) == 1
    follow_up = new_ticket(api, shopper.id, via_followup_source_id=ticket_id)
    assert zd.tickets[follow_up.ticket.id]["via"]["source"]["rel"] == "follow_up"
    assert zd.tickets[ticket_id]["followup_ids"] == [follow_up.ticket.id]
    with pytest.raises(APIException):  # only a closed ticket can be followed up
        new_ticket(api, shopper.id, via_followup_source_id=follow_up.ticket.id)


def test_a_ticket_holds_at_most_5000_comments(zd, api, shopper):
    ticket_id = new_ticket(api, shopper.id).ticket.id
    with zd.lock:
        zd.tickets[ticket_id]["comments"].extend([dict(zd.tickets[ticket_id]["comments"][0])] * 4999)
    with pytest.raises(APIException) as refused:
        api.tickets.update(Ticket(id=ticket_id, comment=Comment(body="one more", public=False)))
    assert refused.value.response.status_code == 422
    api.tickets.update(Ticket(id=ticket_id, status="open"))  # changes without a comment still apply


# -- webhooks and triggers -------------------------------------------------------------------


def webhook(endpoint: str = "https://connector.example/hooks/zendesk/webhook", **more: t.Any) -> Webhook:
    return Webhook(name="Handover connector (connector.example)", endpoint=endpoint, http_method="POST",
                   request_format="json", status="active", subscriptions=["conditional_ticket_events"], **more)


def test_webhooks(zd, api):
    created = api.webhooks.create(webhook())
    assert isinstance(created.id, str) and created.id.startswith("01H") and created.id in zd.webhooks
    assert [r.path for r in zd.requests][-1] == "/api/v2/webhooks" and zd.requests[-1].status == 201
    secret = api.webhooks.show_secret(created.id)
    assert secret.algorithm == "SHA256" and secret.secret == zd.webhooks[created.id]["signing_secret"]
    assert "signing_secret" not in raw(zd, "GET", f"/api/v2/webhooks/{created.id}").json()["webhook"]
    assert api.webhooks(id=created.id).endpoint.endswith("/hooks/zendesk/webhook")
    assert [w.id for w in api.webhooks.list(filter="Handover")] == [created.id]
    assert list(api.webhooks.list(filter="nothing like it")) == []
    api.webhooks.update(created.id, webhook(endpoint="https://elsewhere.example/hook"))
    assert zd.webhooks[created.id]["endpoint"] == "https://elsewhere.example/hook"
    assert raw(zd, "PATCH", f"/api/v2/webhooks/{created.id}", json={"webhook": {"status": "inactive"}}).status_code == 204
    assert zd.webhooks[created.id]["status"] == "inactive"
    api.webhooks.delete(created)
    assert zd.webhooks == {}
    with pytest.raises(APIException) as missing:
        api.webhooks(id=created.id)
    assert missing.value.response.status_code == 404
    assert zd.violations == []


def agent_reply_trigger(webhook_id: str) -> Trigger:
    body = json.dumps({"kind": "agent_reply", "ticket_id": "{{ticket.id}}", "external_id": "{{ticket.external_id}}",
                       "actor_id": "{{current_user.id}}", "role": "{{current_user.role}}", "tags": "{{ticket.tags}}"})
    return Trigger(title="Handover connector: agent reply", conditions={"all": [
        {"field": "update_type", "operator": "is", "value": "Change"},
        {"field": "comment_is_public", "operator": "is", "value": "requester_can_see_comment"},
        {"field": "role", "operator": "is_not", "value": "end_user"},
        {"field": "current_tags", "operator": "includes", "value": "handover"},
        {"field": "current_via_id", "operator": "is_not", "value": "5"},
    ]}, actions=[{"field": "notification_webhook", "value": [webhook_id, body]}])


def test_triggers(zd, api):
    hook = api.webhooks.create(webhook())
    created = api.triggers.create(agent_reply_trigger(hook.id))
    assert created.id in zd.triggers and zd.requests[-1].status == 201
    assert [x.id for x in api.triggers()] == [created.id]
    assert api.triggers(id=created.id).title == "Handover connector: agent reply"
    created.title = "Renamed"
    api.triggers.update(created)
    assert zd.triggers[created.id]["title"] == "Renamed"
    with pytest.raises(APIException) as refused:
        api.triggers.create(Trigger(title="bad", conditions={"all": [
            {"field": "ticket_is_public", "operator": "is", "value": "public"}]},
            actions=[{"field": "notification_webhook", "value": [hook.id, "{}"]}]))
    assert refused.value.response.status_code == 422 and "ticket_is_public" in refused.value.response.text
    with pytest.raises(APIException):  # a webhook that does not exist
        api.triggers.create(agent_reply_trigger("01HNOSUCHWEBHOOK"))
    api.triggers.delete(created)
    assert zd.triggers == {}
    assert zd.violations == []


def test_a_trigger_fires_on_an_agent_comment_but_not_on_an_api_comment(zd, api, shopper):
    agent = zd.add_agent("Dana Agent", "dana@shop.example")
    hook = api.webhooks.create(webhook())
    api.triggers.create(agent_reply_trigger(hook.id))
    ticket_id = new_ticket(api, shopper.id, external_id="conv-9", tags=["handover"]).ticket.id
    api.tickets.update(Ticket(id=ticket_id, comment=Comment(body="From the shopper", author_id=shopper.id)))
    api.tickets.update(Ticket(id=ticket_id, comment=Comment(body="By the bot", public=True)))
    assert zd.fired == []
    zd.agent_comment(ticket_id, agent["id"], "Internal", public=False)
    zd.agent_comment(ticket_id, shopper.id, "The shopper on the web")  # an end user: no fire
    assert zd.fired == []
    zd.agent_comment(ticket_id, agent["id"], "We will send a new one.")
    [(webhook_id, body)] = zd.fired
    assert webhook_id == hook.id
    assert json.loads(body) == {"kind": "agent_reply", "ticket_id": str(ticket_id), "external_id": "conv-9",
                                "actor_id": str(agent["id"]), "role": "agent", "tags": "handover"}


def test_trigger_actions_change_tags_and_the_cycle_runs_each_trigger_once(zd, api, shopper):
    agent = zd.add_agent("Dana Agent", "dana@shop.example")
    hook = api.webhooks.create(webhook())
    api.triggers.create(Trigger(title="give back", position=1, conditions={"all": [
        {"field": "current_tags", "operator": "includes", "value": "give_back_to_ai"},
        {"field": "current_via_id", "operator": "is", "value": 0}]}, actions=[
        {"field": "notification_webhook", "value": [hook.id, '{"status": "{{ticket.status}}"}']},
        {"field": "remove_tags", "value": "give_back_to_ai"},
        {"field": "current_tags", "value": "given_back"}]))
    api.triggers.create(Trigger(title="after", position=2, conditions={"all": [
        {"field": "current_tags", "operator": "includes", "value": "given_back"}]},
        actions=[{"field": "notification_webhook", "value": [hook.id, '{"after": true}']}]))
    ticket_id = new_ticket(api, shopper.id).ticket.id
    zd.add_tags(ticket_id, ["give_back_to_ai"], actor_id=agent["id"])
    assert zd.fired == [(hook.id, '{"status": "new"}'), (hook.id, '{"after": true}')]
    assert zd.tickets[ticket_id]["tags"] == ["given_back"]


def test_solved_trigger_fires_when_the_status_changes_to_solved(zd, api, shopper):
    agent = zd.add_agent("Dana Agent", "dana@shop.example")
    hook = api.webhooks.create(webhook())
    api.triggers.create(Trigger(title="solved", conditions={"all": [
        {"field": "status", "operator": "value", "value": "solved"},
        {"field": "current_via_id", "operator": "is_not", "value": "5"}]},
        actions=[{"field": "notification_webhook", "value": [hook.id, '{"by": "{{current_user.email}}"}']}]))
    ticket_id = new_ticket(api, shopper.id).ticket.id
    zd.assign(ticket_id, agent["id"])
    assert zd.fired == []
    zd.set_status(ticket_id, "solved", actor_id=agent["id"])
    assert zd.fired == [(hook.id, '{"by": "dana@shop.example"}')]
    zd.agent_comment(ticket_id, agent["id"], "Anything else?")  # still solved: not changed to solved again
    assert len(zd.fired) == 1


class _Receiver:
    """A tiny HTTP server that keeps what it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: t.Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers.items()), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/zendesk/webhook"


def test_fired_webhooks_are_delivered_signed(zd, api, shopper):
    receiver = _Receiver()
    try:
        agent = zd.add_agent("Dana Agent", "dana@shop.example")
        hook = api.webhooks.create(webhook(endpoint=receiver.url))
        api.triggers.create(agent_reply_trigger(hook.id))
        secret = api.webhooks.show_secret(hook.id).secret
        ticket_id = new_ticket(api, shopper.id, tags=["handover"]).ticket.id
        zd.deliver_webhooks = True
        zd.agent_comment(ticket_id, agent["id"], "Hello from Zendesk")
        [(headers, body)] = receiver.received
        assert body.decode() == zd.fired[0][1]
        timestamp = headers["X-Zendesk-Webhook-Signature-Timestamp"]
        assert len(timestamp) == 20 and timestamp.endswith("Z") and timestamp[10] == "T"
        expected = base64.b64encode(hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest())
        assert headers["X-Zendesk-Webhook-Signature"] == expected.decode()
        assert headers["X-Zendesk-Webhook-Id"] == hook.id
        assert zd.deliveries[0]["status"] == 200
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def test_sign_matches_an_independent_computation():
    secret, timestamp, body = "dGhpc19zZWNyZXQ=", "2021-03-25T05:09:27Z", b'{"ticket_id": "1"}'
    digest = hmac.new(secret.encode(), (timestamp + body.decode()).encode(), hashlib.sha256).digest()
    assert FakeZendesk.sign(secret, timestamp, body) == base64.b64encode(digest).decode()
    assert FakeZendesk.sign(secret, timestamp, body.decode()) == base64.b64encode(digest).decode()


# -- credentials, faults, validation ---------------------------------------------------------


def test_credentials(zd):
    with pytest.raises(APIException) as refused:
        client(zd, credentials={"email": EMAIL, "token": "wrong"}).users.me()
    assert refused.value.response.status_code == 401
    assert refused.value.response.json() == {"error": "Couldn't authenticate you"}
    zd.add_oauth_token("oauth-1")
    oauth = client(zd, credentials={"oauth_token": "oauth-1"})
    assert oauth.users.me().email == EMAIL
    assert zd.requests[-1].headers["Authorization"] == "Bearer oauth-1"
    zd.revoke("oauth-1")
    with pytest.raises(APIException):
        oauth.users.me()
    zd.revoke(TOKEN)
    assert raw(zd, "GET", "/api/v2/users/me.json").status_code == 401


def test_a_429_with_a_budget_of_one_second_raises(zd):
    api = client(zd, ratelimit_budget=1)
    zd.rate_limit(times=1, retry_after=30, path_contains="/users/me")
    with pytest.raises(RatelimitBudgetExceeded):
        api.users.me()
    assert zd.requests[-1].status == 429
    zd.rate_limit(times=1, retry_after=7)
    answer = raw(zd, "GET", "/api/v2/users/me.json")
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "7"
    assert answer.headers["X-Rate-Limit"] == "700" and answer.headers["X-Rate-Limit-Remaining"] == "0"
    normal = raw(zd, "GET", "/api/v2/users/me.json")
    assert normal.status_code == 200 and normal.headers["X-Rate-Limit"] == "700"
    assert 0 < int(normal.headers["X-Rate-Limit-Remaining"]) < 700


def test_injected_failures_match_the_path(zd, api):
    zd.fail(times=1, status=502, path_contains="/tickets")
    assert api.users.me().email == EMAIL  # not matched: answered normally
    with pytest.raises(APIException) as failed:
        list(api.tickets(external_id="x"))
    assert failed.value.response.status_code == 502
    assert list(api.tickets(external_id="x")) == []


@pytest.mark.parametrize(("body", "status", "problem"), [
    ({"ticket": {"subject": "S", "comment": {"body": "b"}, "requester_email": "a@b.c"}}, 400, "ticket.requester_email"),
    ({"ticket": {"subject": 5, "comment": {"body": "b"}}}, 400, "ticket.subject must be string"),
    ({"ticket": {"subject": "S", "comment": {"body": "b", "public": "yes"}}}, 400, "ticket.comment.public"),
    ({"ticket": {"subject": "S", "comment": {"body": "b"}, "tags": "handover"}}, 400, "ticket.tags must be an array"),
    ({"ticket": {"subject": "S", "comment": {"body": "b"}, "status": "resolved"}}, 400, "ticket.status must be one of"),
    ({"ticket": {"subject": "S"}}, 422, "ticket.comment is required"),
    ({"ticket": {"subject": "S", "comment": {"public": True}}}, 422, "needs one of ['body', 'html_body']"),
    ({"subject": "S", "comment": {"body": "b"}}, 400, "with 'ticket'"),
])
def test_ticket_bodies_are_checked_against_the_schema(zd, body, status, problem):
    answer = raw(zd, "POST", "/api/v2/tickets.json", json=body)
    assert answer.status_code == status
    [violation] = zd.violations
    assert violation.startswith("POST /api/v2/tickets.json: ") and problem in violation
    assert zd.tickets == {}


def test_other_requests_are_checked_too(zd, api, shopper):
    ticket_id = new_ticket(api, shopper.id).ticket.id
    assert raw(zd, "PUT", f"/api/v2/tickets/{ticket_id}.json", json={"ticket": {"comment": {"body": "x", "via": 5}}}
               ).status_code == 400
    assert raw(zd, "POST", "/api/v2/users/create_or_update.json", json={"user": {"name": "N", "role": "end_user"}}
               ).status_code == 400
    assert raw(zd, "GET", "/api/v2/users/search.json").status_code == 400
    assert raw(zd, "GET", "/api/v2/tickets.json?requester=1").status_code == 400
    assert raw(zd, "GET", f"/api/v2/tickets/{ticket_id}/audits.json").status_code == 404
    assert len(zd.violations) == 5
    assert "tickets/{id}/audits" not in json.dumps(SCHEMA["endpoints"])


def test_the_schema_is_our_own_summary_with_sources():
    assert "not a copy" in SCHEMA["about"]
    for key, endpoint in SCHEMA["endpoints"].items():
        assert endpoint["source"].startswith(("spec ", "docs")), key
        body = endpoint.get("body")
        if body and "object" in body:
            assert body["object"] in SCHEMA["objects"], key
