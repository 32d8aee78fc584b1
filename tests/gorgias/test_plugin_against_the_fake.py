"""The plugin's calls against the Gorgias fake, one method at a time (the core stood in for).

The end-to-end tests (test_gorgias_ticket_flow.py) run the same through the connector; these pin
down what each call sends and how each vendor answer is mapped.
"""

from __future__ import annotations

import typing as t

import pytest
import requests

from connector.plugins import ConversationView
from connector.plugins import Defer
from connector.plugins import DeliveryContext
from connector.plugins import GiveUp
from connector.plugins import IntegrationBroken
from connector.plugins import RetryLater
from connector.plugins import ThreadRef
from connector.plugins.webhooks import UrlTokens
from handover_gorgias import GorgiasIntegration
from handover_gorgias import client as client_module
from handover_gorgias.client import GorgiasClient
from handover_gorgias.settings import GorgiasSettings
from tests.fakes.gorgias_api import FakeGorgias

EMAIL = "bot@shop.example"
KEY = "gorgias-api-key-0001"
SECRET = "test-secret-key-" + "x" * 32
BASE = "https://handover.example.com"


class StubHost:
    base_url = BASE

    def __init__(self) -> None:
        self.stored: dict[int, GorgiasSettings] = {}

    def url_tokens(self, salt: str) -> UrlTokens:
        return UrlTokens(SECRET, salt)

    def settings(self, plugin: str) -> t.Any:
        host = self

        class Source:
            def all(self, refresh: bool = False) -> list[tuple[int, GorgiasSettings]]:
                return list(host.stored.items())

        return Source()


@pytest.fixture(autouse=True)
def fresh_buckets() -> t.Iterator[None]:
    client_module._buckets.clear()
    yield
    client_module._buckets.clear()


@pytest.fixture
def gorgias() -> t.Iterator[FakeGorgias]:
    with FakeGorgias(capacity=400) as fake:
        fake.add_api_key(EMAIL, KEY)
        yield fake
        assert fake.violations == [], "requests outside our summary of Gorgias' API"


@pytest.fixture
def host() -> StubHost:
    return StubHost()


@pytest.fixture
def plugin(host: StubHost) -> GorgiasIntegration:
    plugin = GorgiasIntegration()
    plugin.bind(host)  # type: ignore[arg-type]
    return plugin


def make_settings(gorgias: FakeGorgias, **values: t.Any) -> GorgiasSettings:
    return GorgiasSettings.model_validate({"domain": "acme", "email": EMAIL, "api_key": KEY,
                                           "api_base_url": gorgias.api_url, **values})


def set_up(plugin: GorgiasIntegration, host: StubHost, settings: GorgiasSettings,
           workspace: str = "ws_1") -> GorgiasSettings:
    extra = plugin.configure(workspace, settings, requests.Session(), 5, BASE)
    stored = GorgiasSettings.model_validate({**settings.model_dump(), "api_key": KEY, **extra})
    host.stored[1] = stored
    return stored


def replace(settings: GorgiasSettings, **values: t.Any) -> GorgiasSettings:
    return GorgiasSettings.model_validate({**settings.model_dump(), "api_key": settings.api_key.get_secret_value(),
                                           **values})


def ctx(settings: GorgiasSettings, view: ConversationView | None = None) -> DeliveryContext:
    return DeliveryContext(workspace_id="ws_1", settings=settings, idempotency_key="d1", http=requests.Session(),
                           timeout=5, base_url=BASE, conversation=lambda: view)


CONVERSATION = {"id": "conv_1", "status": "open", "controller": "human",
                "shopper": {"name": "Ann Lee", "email": "Ann@Example.com"}}
TRANSCRIPT = [
    {"id": "msg_1", "author": "shopper", "text": "Where is my parcel?", "created_at": "2026-01-02T10:00:00.000Z",
     "attachments": []},
    {"id": "msg_2", "author": "ai", "author_name": "Shop assistant", "text": "Let me check.",
     "created_at": "2026-01-02T10:00:05.000Z", "attachments": []},
]
HANDED_OVER = [{"id": "ev_1", "type": "handed_over", "actor": {"kind": "ai", "name": None}, "trigger": "automatic",
                "reason": None, "scenario": "Refund over 100", "source": "api", "at": "2026-01-02T10:00:06.000Z"}]


def view(status: str = "open", controller: str = "human") -> ConversationView:
    return ConversationView(workspace=1, conversation={**CONVERSATION, "status": status, "controller": controller},
                            events=[])


# -- set-up ------------------------------------------------------------------------------------


def test_set_up_creates_one_integration_and_one_macro_and_again_nothing_new(plugin, host, gorgias):
    stored = set_up(plugin, host, make_settings(gorgias))
    (integration,) = gorgias.integrations.values()
    assert integration["type"] == "http" and integration["http"]["method"] == "POST"
    assert integration["http"]["triggers"] == {"ticket-message-created": True, "ticket-updated": True}
    token = integration["http"]["url"].removeprefix(f"{BASE}/hooks/gorgias/")
    assert plugin.workspace_for_token(token) == 1
    (macro,) = gorgias.macros.values()
    assert macro["name"] == "Give back to AI"
    assert macro["actions"][0]["name"] == "addTags" and macro["actions"][0]["arguments"] == {"tags": "give_back_to_ai"}
    assert (stored.integration_id, stored.macro_id) == (integration["id"], macro["id"])
    writes = len([r for r in gorgias.requests if r.method != "GET"])
    again = set_up(plugin, host, stored)
    assert (again.integration_id, again.macro_id, again.token_nonce) == (
        stored.integration_id, stored.macro_id, stored.token_nonce)
    assert len(gorgias.integrations) == 1 and len(gorgias.macros) == 1
    assert len([r for r in gorgias.requests if r.method != "GET"]) == writes  # nothing changed, nothing written
    assert plugin.check(again, requests.Session(), 5).ok


def test_a_set_up_that_failed_half_way_is_found_again_by_name(plugin, host, gorgias):
    settings = make_settings(gorgias)
    gorgias.fail(1, 500, path_contains="/integrations")
    with pytest.raises(RetryLater):
        plugin.configure("ws_1", settings, requests.Session(), 5, BASE)
    assert len(gorgias.macros) == 1 and gorgias.integrations == {}
    stored = set_up(plugin, host, settings)  # nothing was stored: found by name, not made twice
    assert len(gorgias.macros) == 1 and len(gorgias.integrations) == 1
    assert stored.macro_id == next(iter(gorgias.macros))


def test_rotation_replaces_the_token_and_the_old_one_stops_working(plugin, host, gorgias):
    stored = set_up(plugin, host, make_settings(gorgias))
    old = gorgias.integrations[stored.integration_id]["http"]["url"].rsplit("/", 1)[1]
    rotated = set_up(plugin, host, replace(stored, rotate_token=True))
    assert rotated.rotate_token is False and rotated.token_nonce != stored.token_nonce
    new = gorgias.integrations[stored.integration_id]["http"]["url"].rsplit("/", 1)[1]
    assert new != old and len(gorgias.integrations) == 1
    assert plugin.workspace_for_token(old) is None and plugin.workspace_for_token(new) == 1


def test_unconfigure_deletes_both_and_tolerates_them_gone(plugin, host, gorgias):
    stored = set_up(plugin, host, make_settings(gorgias))
    gorgias.macros.clear()
    plugin.unconfigure(stored, requests.Session(), 5)
    assert gorgias.integrations == {}


def test_check_says_what_is_wrong_in_words(plugin, host, gorgias):
    stored = set_up(plugin, host, make_settings(gorgias))
    bad_key = plugin.check(replace(stored, api_key="nope"), requests.Session(), 5)
    assert not bad_key.ok and bad_key.detail.startswith("bad API key")
    gorgias.integrations[stored.integration_id]["deactivated_datetime"] = "2026-01-01T00:00:00+00:00"
    assert "deactivated" in plugin.check(stored, requests.Session(), 5).detail
    del gorgias.integrations[stored.integration_id]
    assert "deleted in Gorgias" in plugin.check(stored, requests.Session(), 5).detail
    gorgias.account_exists = False
    unknown = plugin.check(stored, requests.Session(), 5)
    assert not unknown.ok and unknown.detail.startswith("unknown domain")
    port = gorgias.port
    gorgias.stop()
    down = plugin.check(make_settings(gorgias, api_base_url=f"http://127.0.0.1:{port}/api"),
                        requests.Session(), 2)
    assert not down.ok and down.detail.startswith("unreachable")
    gorgias.start()
    nowhere = plugin.check(make_settings(gorgias, api_base_url="https://no-such-account.invalid/api"),
                           requests.Session(), 2)
    assert not nowhere.ok and "does not resolve" in nowhere.detail
    assert KEY not in bad_key.detail + unknown.detail + down.detail


def test_a_bad_key_at_set_up_raises_and_nothing_is_created(plugin, gorgias):
    with pytest.raises(IntegrationBroken) as caught:
        plugin.configure("ws_1", make_settings(gorgias, api_key="wrong"), requests.Session(), 5, BASE)
    assert "bad API key" in caught.value.reason
    assert gorgias.integrations == {} and gorgias.macros == {}


# -- outbound ----------------------------------------------------------------------------------


def test_the_ticket_carries_the_transcript_as_imported_messages_under_their_authors(plugin, host, gorgias):
    stored = set_up(plugin, host, make_settings(gorgias))
    thread = plugin.open_thread(ctx(stored), CONVERSATION, TRANSCRIPT, HANDED_OVER)
    ticket = gorgias.tickets[int(thread.external_id)]
    assert ticket["external_id"] == "conv_1" and ticket["channel"] == "api" and ticket["via"] == "api"
    assert ticket["tags"] == ["ai_handover", "scenario_refund_over_100"]
    assert ticket["subject"] == "Ann Lee needs a human (Refund over 100)"
    customer = gorgias.customers[ticket["customer_id"]]
    assert customer["email"] == "ann@example.com" and customer["name"] == "Ann Lee"
    shopper, ai, note = ticket["messages"]
    assert shopper["from_agent"] is False and shopper["sender"]["id"] == customer["id"]
    assert shopper["sent_datetime"] == "2026-01-02T10:00:00.000Z" and shopper["body_text"] == "Where is my parcel?"
    assert ai["from_agent"] is True and ai["body_text"] == "Shop assistant: Let me check."
    assert note["channel"] == "internal-note" and "Give back to AI" in note["body_text"]
    assert gorgias.sent_out == []  # Gorgias sends none of it
    again = plugin.open_thread(ctx(stored), CONVERSATION, TRANSCRIPT, HANDED_OVER)  # a retried create
    assert again.external_id == thread.external_id and len(gorgias.tickets) == 1


def test_a_shopper_without_email_is_found_by_name_and_our_id(plugin, host, gorgias):
    stored = set_up(plugin, host, make_settings(gorgias))
    nameless = {**CONVERSATION, "shopper": {"name": "Bo", "email": None}}
    first = plugin._customer(GorgiasClient(stored, requests.Session(), 5), nameless)
    gorgias.add_customer("Bo")  # another Bo
    assert plugin._customer(GorgiasClient(stored, requests.Session(), 5), nameless) == first
    assert gorgias.customers[first]["external_id"] == "handover-shopper:conv_1"


def test_a_long_transcript_fits_gorgias_500_messages(plugin, host, gorgias):
    stored = set_up(plugin, host, make_settings(gorgias))
    long = [{**TRANSCRIPT[0], "id": f"msg_{n}", "text": f"line {n}"} for n in range(620)]
    thread = plugin.open_thread(ctx(stored), CONVERSATION, long, HANDED_OVER)
    messages = gorgias.tickets[int(thread.external_id)]["messages"]
    assert len(messages) == 500 and "Earlier in the conversation (122 messages)" in messages[0]["body_text"]
    assert messages[-2]["body_text"] == "line 619"


def test_later_messages_and_state(plugin, host, gorgias):
    stored = set_up(plugin, host, make_settings(gorgias))
    thread = plugin.open_thread(ctx(stored), CONVERSATION, TRANSCRIPT, HANDED_OVER)
    ticket = gorgias.tickets[int(thread.external_id)]
    ref = plugin.mirror_message(ctx(stored), thread, CONVERSATION, {
        "id": "msg_3", "author": "shopper", "text": "Hello?", "created_at": "2026-01-02T10:01:00.000Z", "attachments": []})
    assert ref == str(ticket["messages"][-1]["id"]) and ticket["messages"][-1]["from_agent"] is False
    plugin.mirror_message(ctx(stored), ThreadRef(thread.external_id), CONVERSATION, {
        "id": "msg_4", "author": "human", "author_name": "Sam", "source": "slack", "text": "On it",
        "created_at": "2026-01-02T10:01:00.000Z", "attachments": []})
    assert ticket["messages"][-1]["channel"] == "internal-note" and "Sam (agent) via slack: On it" in ticket["messages"][-1]["body_text"]
    resolved = [{"id": "ev_2", "type": "resolved", "actor": {"kind": "human", "name": "Sam"}, "source": "slack",
                 "trigger": None, "reason": None, "scenario": None, "at": "2026-01-02T10:02:00.000Z"}]
    plugin.mirror_state(ctx(stored), thread, {**CONVERSATION, "status": "resolved"}, resolved)
    assert ticket["status"] == "closed" and "Resolved by Sam (slack)" in ticket["messages"][-1]["body_text"]
    reopened = [{**resolved[0], "id": "ev_3", "type": "reopened", "actor": {"kind": "shopper", "name": None}}]
    plugin.mirror_state(ctx(stored), thread, CONVERSATION, reopened)
    assert ticket["status"] == "open"
    assert gorgias.sent_out == []


# -- reading the ticket back ---------------------------------------------------------------------


def test_run_task_relays_agents_public_messages_only(plugin, host, gorgias):
    stored = set_up(plugin, host, make_settings(gorgias))
    thread = plugin.open_thread(ctx(stored), CONVERSATION, TRANSCRIPT, HANDED_OVER)
    ticket_id = int(thread.external_id)
    agent = gorgias.add_agent("Dana Agent", "dana@shop.example")
    reply = gorgias.agent_reply(ticket_id, "Your parcel left today.", agent)
    gorgias.internal_note(ticket_id, "customer seems upset", agent)
    gorgias.rule_message(ticket_id, "We got your message", agent=agent)
    result = plugin.run_task(ctx(stored, view()), thread, {"kind": "webhook", "ticket_id": ticket_id})
    (event,) = result.events
    assert (event.action, event.event_id, event.actor_name, event.text) == (
        "message", f"message:{reply['id']}", "Dana Agent", "Your parcel left today.")
    assert event.take_over and event.external_message_id == str(reply["id"])
    assert event.agent == {"ticket_id": thread.external_id, "user_id": agent["id"], "name": "Dana Agent"}


def test_run_task_gives_back_on_the_tag_and_removes_it_and_resolves_when_closed(plugin, host, gorgias):
    stored = set_up(plugin, host, make_settings(gorgias))
    thread = plugin.open_thread(ctx(stored), CONVERSATION, TRANSCRIPT, HANDED_OVER)
    ticket_id = int(thread.external_id)
    gorgias.add_agent("Dana Agent", "dana@shop.example")
    gorgias.apply_macro(ticket_id, stored.macro_id)
    result = plugin.run_task(ctx(stored, view()), thread, {"kind": "webhook"})
    assert [e.action for e in result.events] == ["give_back"]
    assert "give_back_to_ai" not in gorgias.tag_names(ticket_id)
    assert any(r.method == "DELETE" and r.path.endswith("/tags") for r in gorgias.requests)
    gorgias.close_ticket(ticket_id)
    assert [e.action for e in plugin.run_task(ctx(stored, view(controller="ai")), thread, {"kind": "webhook"}).events] \
        == ["resolve"]
    assert plugin.run_task(ctx(stored, view(status="resolved")), thread, {"kind": "webhook"}).events == ()


# -- errors and the rate limit --------------------------------------------------------------------


def test_vendor_answers_become_outcomes(gorgias):
    settings = make_settings(gorgias)
    client = GorgiasClient(settings, requests.Session(), 5)
    gorgias.rate_limit(1, retry_after=3)
    with pytest.raises(RetryLater) as limited:
        client.get("/account", "the account")
    assert limited.value.retry_after == 3
    with pytest.raises(Defer):  # the account's bucket is known to be full for 3 s: no request goes
        client.get("/account", "the account")
    client_module._buckets.clear()
    client = GorgiasClient(settings, requests.Session(), 5)
    gorgias.fail(1, 503)
    with pytest.raises(RetryLater):
        client.get("/account", "the account")
    with pytest.raises(GiveUp):
        client.get("/tickets/999999", "the ticket")
    with pytest.raises(GiveUp) as refused:
        client.put("/tickets/999999", "the ticket", {"status": "pending"})
    assert "refused" in refused.value.reason
    gorgias.violations.clear()  # that one was meant to be outside the schema
    with pytest.raises(IntegrationBroken):
        GorgiasClient(make_settings(gorgias, api_key="wrong"), requests.Session(), 5).get("/account", "the account")


def test_the_bucket_level_gorgias_reports_is_shared_by_every_client_of_the_account():
    with FakeGorgias(capacity=5, window=10) as fake:
        fake.add_api_key(EMAIL, KEY)
        settings = make_settings(fake)
        first, second = (GorgiasClient(settings, requests.Session(), 5) for _ in range(2))
        for _ in range(2):
            first.get("/account", "the account")
        fake.fill_bucket()  # another process used the rest
        with pytest.raises(RetryLater):
            second.get("/account", "the account")  # 429: Gorgias says it is full
        with pytest.raises(Defer) as deferred:
            first.get("/account", "the account")  # this process now knows it, and waits
        assert 0 < deferred.value.seconds <= 2
        assert len([r for r in fake.requests if r.status == 429]) == 1


def test_a_customer_made_meanwhile_by_another_worker_is_found_not_doubled(plugin, host, gorgias, monkeypatch):
    stored = set_up(plugin, host, make_settings(gorgias))
    client = GorgiasClient(stored, requests.Session(), 5)
    existing = gorgias.add_customer("Ann Lee", "ann@example.com")
    real_get = client.get
    lookups = []

    def racing_get(path: str, what: str, **params: t.Any) -> t.Any:
        lookups.append(path)
        if path == "/customers" and len(lookups) == 1:
            return {"data": []}  # the other worker had not created it yet when we looked
        return real_get(path, what, **params)

    monkeypatch.setattr(client, "get", racing_get)
    assert plugin._customer(client, CONVERSATION) == existing["id"]
    assert len(gorgias.customers) == 1


def test_an_agent_reply_on_a_long_ticket_is_read_from_the_newest_page(plugin, host, gorgias):
    stored = set_up(plugin, host, make_settings(gorgias))
    long = [{**TRANSCRIPT[0], "id": f"msg_{n}", "text": f"line {n}"} for n in range(300)]
    thread = plugin.open_thread(ctx(stored), CONVERSATION, long, HANDED_OVER)
    agent = gorgias.add_agent("Dana Agent", "dana@shop.example")
    reply = gorgias.agent_reply(int(thread.external_id), "Found it", agent)
    (event,) = plugin.run_task(ctx(stored, view()), thread, {"kind": "webhook"}).events
    assert event.event_id == f"message:{reply['id']}"
    reads = [r for r in gorgias.requests if r.path.endswith("/messages") and r.method == "GET"]
    assert len(reads) == 1
