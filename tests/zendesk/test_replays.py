"""Issue 14, item 10: a captured Zendesk webhook cannot be replayed; sidebar tokens are short-lived and ours."""

from __future__ import annotations

import time

import jwt
import pytest

from tests.zendesk.conftest import APP_SECRET
from tests.zendesk.conftest import drain

ISSUER = "handover-connector:zendesk-app"


@pytest.fixture
def ticket(api, workspace_id, worker, zendesk):
    cid = api.post("/v1/conversations", json={"shopper": {"name": "Ann"}}).get_json()["id"]
    api.post(f"/v1/conversations/{cid}/handover", json={})
    drain(worker)
    return next(t for t in zendesk.tickets.values() if t.get("external_id") == cid), cid


def test_a_captured_webhook_replayed_with_a_new_invocation_id_is_a_duplicate(api, ticket, worker, zendesk, agent,
                                                                              webhooks):
    """A captured give-back, replayed after the agent took the conversation again, changes nothing."""
    row, cid = ticket
    zendesk.add_tags(row["id"], ["give_back_to_ai"], actor_id=agent["id"])
    [first] = webhooks.deliver_fired()
    assert first.get_json()["outcome"] == "queued"
    drain(worker)
    assert api.get(f"/v1/conversations/{cid}").get_json()["controller"] == "ai"
    api.post(f"/v1/conversations/{cid}/handover", json={})  # the agent takes it back
    drain(worker)
    for n in range(3):  # the attacker changes the unsigned header each time
        assert webhooks.replay(-1, invocation=f"forged-{n}").get_json()["outcome"] == "duplicate"
    drain(worker)
    assert api.get(f"/v1/conversations/{cid}").get_json()["controller"] == "human"


def test_a_replayed_agent_reply_is_looked_at_once_more_at_most(api, ticket, worker, zendesk, agent, webhooks):
    row, cid = ticket
    zendesk.agent_comment(row["id"], agent["id"], "On its way.")
    webhooks.deliver_fired()
    drain(worker)
    outcomes = [webhooks.replay(-1, invocation=f"forged-{n}").get_json()["outcome"] for n in range(5)]
    assert outcomes == ["queued", "duplicate", "duplicate", "duplicate", "duplicate"]
    drain(worker)
    humans = [m for m in api.get(f"/v1/conversations/{cid}/messages").get_json()["data"] if m["author"] == "human"]
    assert [m["text"] for m in humans] == ["On its way."]


def sidebar(client, claims):
    token = jwt.encode(claims, APP_SECRET, algorithm="HS256")
    return client.post("/hooks/zendesk/app/state", data="{}",
                       headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})


def test_sidebar_tokens_need_iat_a_short_lifetime_and_our_issuer(app, ticket):
    row, _ = ticket
    client = app.test_client()
    now = int(time.time())
    good = {"ticket_id": str(row["id"]), "iss": ISSUER, "iat": now, "exp": now + 60}
    assert sidebar(client, good).status_code == 200
    refused = {
        "no iat": {k: v for k, v in good.items() if k != "iat"},
        "no issuer": {k: v for k, v in good.items() if k != "iss"},
        "another issuer": {**good, "iss": "someone-else"},
        "a year long": {**good, "exp": now + 365 * 24 * 3600},
        "issued in the future": {**good, "iat": now + 3600, "exp": now + 3660},
    }
    for why, claims in refused.items():
        assert sidebar(client, claims).status_code == 401, why


def test_a_signed_but_deeply_nested_body_is_a_400(webhooks):
    """Issue 14, item 11: every JSON route answers 400 to JSON nested too deeply, vendors' hooks too."""
    answer = webhooks.post(("[" * 100_000 + "]" * 100_000).encode())
    assert answer.status_code == 400 and answer.get_json()["error"]["code"] == "invalid_json"
