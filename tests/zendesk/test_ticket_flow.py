"""Zendesk end to end: set-up, a ticket per handover, agents acting from the ticket, faults.

The connector talks to a stateful fake of the Zendesk API through zenpy over real HTTP;
the fake evaluates the triggers set-up created and we deliver what they fire, signed
exactly as Zendesk signs webhooks.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from connector.storage.models import Delivery
from connector.storage.models import utcnow
from tests.zendesk.conftest import drain
from tests.zendesk.conftest import now_iso
from tests.zendesk.conftest import stored_settings


def conversation(api, cid):
    return api.get(f"/v1/conversations/{cid}").get_json()


def messages(api, cid):
    return api.get(f"/v1/conversations/{cid}/messages").get_json()["data"]


def ticket_of(zendesk, cid):
    found = [t for t in zendesk.tickets.values() if t.get("external_id") == cid]
    assert found, "no ticket"
    return found[-1]


@pytest.fixture
def handed_over(api, workspace_id, worker):
    cid = api.post("/v1/conversations", json={"shopper": {"name": "Ann Lee", "email": "ann@example.com"}}).get_json()["id"]
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": "My parcel arrived <broken>"})
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "ai", "text": "Sorry to hear that!"})
    api.post(f"/v1/conversations/{cid}/handover", json={"reason": "damaged parcel"})
    drain(worker)
    return cid


def test_set_up_creates_one_signed_webhook_and_the_triggers_idempotently(connector, zendesk, workspace_id):
    settings = stored_settings(connector, workspace_id)
    assert len(zendesk.webhooks) == 1
    [webhook] = zendesk.webhooks.values()
    assert webhook["endpoint"] == "http://127.0.0.1:8000/hooks/zendesk/webhook"
    assert webhook["subscriptions"] == ["conditional_ticket_events"]
    assert settings.webhook_id == str(webhook["id"]) and settings.webhook_signing_secret is not None
    assert len(zendesk.triggers) == 3 and sorted(settings.trigger_ids) == sorted(str(i) for i in zendesk.triggers)
    for trigger in zendesk.triggers.values():
        conditions = trigger["conditions"]["all"]
        assert {"field": "current_via_id", "operator": "is_not", "value": "5"} in conditions  # never our own updates
        assert {"field": "current_tags", "operator": "includes", "value": "ai_handover"} in conditions
    # running set-up again changes nothing
    from connector.storage import repository

    with connector.db.read() as session:
        workspace = repository.get_workspace(session, workspace_id)
    connector.integrations.set_up(connector.db, workspace, "zendesk", {}, base_url=connector.settings.base_url, timeout=5)
    assert len(zendesk.webhooks) == 1 and len(zendesk.triggers) == 3
    # removing the integration removes them
    assert connector.integrations.tear_down(connector.db, workspace.pk, "zendesk", timeout=5)
    assert zendesk.webhooks == {} and zendesk.triggers == {}


def test_handover_opens_a_ticket_with_requester_tags_and_transcript(api, handed_over, zendesk):
    ticket = ticket_of(zendesk, handed_over)
    assert "ai_handover" in ticket["tags"]
    requester = zendesk.users[ticket["requester_id"]]
    assert requester["name"] == "Ann Lee" and requester["email"] == "ann@example.com"
    assert requester["role"] == "end-user"
    first = ticket["comments"][0]
    assert first["public"] is False
    body = first.get("html_body") or first["body"]
    assert "My parcel arrived &lt;broken&gt;" in body and "Sorry to hear that!" in body
    assert "damaged parcel" in body and "Ann Lee" in ticket["subject"]


def test_a_retried_delivery_cannot_make_two_tickets(api, workspace_id, worker, zendesk, database):
    cid = api.post("/v1/conversations", json={"shopper": {"name": "Bo"}}).get_json()["id"]
    api.post(f"/v1/conversations/{cid}/handover", json={})
    zendesk.fail(times=1, status=500, path_contains="/tickets.json")
    drain_all(worker, database)
    assert len([t for t in zendesk.tickets.values() if t.get("external_id") == cid]) == 1
    creates = [r for r in zendesk.requests if r.method == "POST" and r.path.startswith("/api/v2/tickets.json")]
    assert creates and all(r.headers.get("Idempotency-Key") for r in creates)


def drain_all(worker, database):
    """Drain, making every retry due at once (time passes)."""
    for _ in range(6):
        drain(worker)
        with database.write() as session:
            waiting = session.query(Delivery).filter(Delivery.status == "pending").update({"next_attempt_at": utcnow()})
        if not waiting:
            return
    drain(worker)


def test_shopper_bursts_are_one_public_comment_by_the_requester(api, handed_over, worker, zendesk):
    ticket = ticket_of(zendesk, handed_over)
    before = len(ticket["comments"])
    for text in ("Hello?", "Are you there?", "It is really urgent"):
        api.post(f"/v1/conversations/{handed_over}/messages", json={"author": "shopper", "text": text})
    drain(worker)
    ticket = ticket_of(zendesk, handed_over)
    new = ticket["comments"][before:]
    assert len(new) == 1
    assert new[0]["public"] is True and new[0]["author_id"] == ticket["requester_id"]
    assert new[0]["body"] == "Hello?\n\nAre you there?\n\nIt is really urgent"


def test_agent_reply_reaches_the_shopper_once_and_our_comments_never_loop(api, handed_over, worker, zendesk, agent, webhooks):
    ticket = ticket_of(zendesk, handed_over)
    fired_before = len(zendesk.fired)
    api.post(f"/v1/conversations/{handed_over}/messages", json={"author": "shopper", "text": "Hello?"})
    drain(worker)
    assert len(zendesk.fired) == fired_before  # our own (API) comment fires nothing
    zendesk.agent_comment(ticket["id"], agent["id"], "We will send a new one today.")
    answers = webhooks.deliver_fired()
    assert [a.status_code for a in answers] == [200]
    assert answers[0].get_json()["outcome"] == "queued"
    drain(worker)
    # the same request again (at most one more look at the comments), and a second invocation of the same action
    assert [webhooks.replay(-1).get_json()["outcome"] for _ in range(3)] == ["queued", "duplicate", "duplicate"]
    webhooks.sent -= 1
    zendesk.fired.append(zendesk.fired[-1])
    webhooks.deliver_fired()
    drain(worker)
    humans = [m for m in messages(api, handed_over) if m["author"] == "human"]
    assert [(m["text"], m["author_name"], m["source"]) for m in humans] == [
        ("We will send a new one today.", "Dana Agent", "zendesk")]


def test_give_back_tag_solved_status_and_a_reply_that_takes_over(api, handed_over, worker, zendesk, agent, webhooks):
    ticket_id = ticket_of(zendesk, handed_over)["id"]
    zendesk.add_tags(ticket_id, ["give_back_to_ai"], actor_id=agent["id"])
    webhooks.deliver_fired()
    drain(worker)
    assert conversation(api, handed_over)["controller"] == "ai"
    assert "give_back_to_ai" not in zendesk.tickets[ticket_id]["tags"]
    # the agent replies while the AI is in charge: that takes it over
    zendesk.agent_comment(ticket_id, agent["id"], "Actually, let me handle this.")
    webhooks.deliver_fired()
    drain(worker)
    state = conversation(api, handed_over)
    assert state["controller"] == "human"
    assert messages(api, handed_over)[-1]["text"] == "Actually, let me handle this."
    # solved resolves
    zendesk.assign(ticket_id, agent["id"])
    zendesk.set_status(ticket_id, "solved", actor_id=agent["id"])
    webhooks.deliver_fired()
    drain(worker)
    assert conversation(api, handed_over)["status"] == "resolved"
    events = api.get(f"/v1/conversations/{handed_over}/events").get_json()["data"]
    from_zendesk = [(e["type"], e["actor"]["name"]) for e in events if e["source"] == "zendesk"]
    assert ("given_back", "Dana Agent") in from_zendesk and ("resolved", "Dana Agent") in from_zendesk


def test_changes_made_elsewhere_are_internal_notes_and_resolve_solves(api, handed_over, worker, zendesk):
    ticket_id = ticket_of(zendesk, handed_over)["id"]
    before = len(zendesk.tickets[ticket_id]["comments"])
    api.post(f"/v1/conversations/{handed_over}/give-back", json={})
    api.post(f"/v1/conversations/{handed_over}/resolve", json={})
    drain(worker)
    ticket = zendesk.tickets[ticket_id]
    notes = ticket["comments"][before:]
    assert notes and all(n["public"] is False for n in notes)
    assert ticket["status"] == "solved"


def test_a_shopper_message_on_a_closed_ticket_opens_a_follow_up(api, handed_over, worker, zendesk, agent, webhooks):
    first = ticket_of(zendesk, handed_over)["id"]
    zendesk.assign(first, agent["id"])
    zendesk.set_status(first, "solved", actor_id=agent["id"])
    zendesk.set_status(first, "closed")
    webhooks.deliver_fired()
    drain(worker)
    api.post(f"/v1/conversations/{handed_over}/messages", json={"author": "shopper", "text": "It broke again"})
    drain(worker)
    follow_up = ticket_of(zendesk, handed_over)
    assert follow_up["id"] != first and follow_up.get("via_followup_source_id") == first
    assert any("It broke again" in c["body"] for c in follow_up["comments"])
    # the conversation now lives in the follow-up: an agent's reply there is relayed
    zendesk.agent_comment(follow_up["id"], agent["id"], "Replacing it again, sorry!")
    webhooks.deliver_fired()
    drain(worker)
    assert messages(api, handed_over)[-1]["text"] == "Replacing it again, sorry!"


def test_429_becomes_the_outboxs_backoff_without_sleeping(api, workspace_id, worker, zendesk, database):
    cid = api.post("/v1/conversations", json={"shopper": {"name": "Cy"}}).get_json()["id"]
    api.post(f"/v1/conversations/{cid}/handover", json={})
    zendesk.rate_limit(times=1, retry_after=40)
    started = dt.datetime.now(dt.timezone.utc)
    worker.run_once()
    assert (dt.datetime.now(dt.timezone.utc) - started).total_seconds() < 5  # zenpy did not sleep it off
    with database.read() as session:
        row = session.query(Delivery).one()
        assert row.status == "pending" and "rate limited" in row.last_error
        assert row.next_attempt_at - utcnow() > dt.timedelta(seconds=35)


def test_bad_stale_and_unsigned_webhooks_are_refused(webhooks, handed_over, zendesk):
    body = json.dumps({"kind": "solved", "ticket_id": "1"}).encode()
    assert webhooks.post(body, secret="not-the-secret").status_code == 401
    assert webhooks.post(body, timestamp=now_iso(-400)).status_code == 401
    assert webhooks.client.post("/hooks/zendesk/webhook", data=body, headers={"Content-Type": "application/json"}).status_code == 401
    assert webhooks.post(b"not json").status_code == 400
    bad = webhooks.post(json.dumps({"kind": "dance", "ticket_id": "1"}).encode())
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "kind"
    unknown = webhooks.post(json.dumps({"kind": "solved", "ticket_id": "999999"}).encode())
    assert unknown.status_code == 200 and unknown.get_json()["outcome"] == "unknown_ticket"


def test_one_command_set_up_and_removal_through_the_cli(tmp_path, zendesk, monkeypatch):
    from click.testing import CliRunner

    from connector.cli import main
    from tests.zendesk.conftest import API_EMAIL
    from tests.zendesk.conftest import API_TOKEN
    from tests.zendesk.conftest import APP_SECRET

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONNECTOR_SECRET_KEY", "s" * 40)
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", f"sqlite:///{tmp_path}/c.db")
    monkeypatch.setenv("CONNECTOR_BASE_URL", "https://handover.example.com")
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    workspace = json.loads(runner.invoke(main, ["workspace", "create", "--name", "Z", "--json"]).output)["id"]
    args = ["integration", "set", workspace, "zendesk", "subdomain=acme", f"email={API_EMAIL}",
            f"api_token={API_TOKEN}", f"app_secret={APP_SECRET}", f"api_base_url={zendesk.url}"]
    first = runner.invoke(main, args)
    assert first.exit_code == 0, first.output
    assert API_TOKEN not in first.output and APP_SECRET not in first.output
    assert runner.invoke(main, args).exit_code == 0  # again: still one webhook, three triggers
    assert [w["endpoint"] for w in zendesk.webhooks.values()] == ["https://handover.example.com/hooks/zendesk/webhook"]
    assert len(zendesk.triggers) == 3
    checked = runner.invoke(main, ["integration", "test", workspace, "zendesk"])
    assert checked.exit_code == 0 and "authenticated as Handover Bot" in checked.output
    bad = runner.invoke(main, ["integration", "set", workspace, "zendesk", "api_token=wrong-token"])
    assert bad.exit_code != 0 and "nothing was saved" in bad.output
    assert runner.invoke(main, ["integration", "test", workspace, "zendesk"]).exit_code == 0  # the old token stays
    removed = runner.invoke(main, ["integration", "remove", workspace, "zendesk"])
    assert removed.exit_code == 0, removed.output
    assert zendesk.webhooks == {} and zendesk.triggers == {}


def test_updates_stay_inside_zendesks_per_ticket_limit_and_waiting_messages_go_as_one(
        api, connector, workspace_id, handed_over, worker, zendesk, database):
    from connector.storage import repository

    with connector.db.write() as session:
        workspace = repository.get_workspace(session, workspace_id)
        connector.integrations.save(session, workspace, "zendesk", {"updates_per_ten_minutes": 2})
    ticket_id = ticket_of(zendesk, handed_over)["id"]
    before = len(zendesk.tickets[ticket_id]["comments"])
    for text in ("one", "two"):
        api.post(f"/v1/conversations/{handed_over}/messages", json={"author": "shopper", "text": text})
        drain(worker)
    for text in ("three", "four"):
        api.post(f"/v1/conversations/{handed_over}/messages", json={"author": "shopper", "text": text})
    drain(worker)
    assert [c["body"] for c in zendesk.tickets[ticket_id]["comments"][before:]] == ["one", "two"]
    with database.read() as session:
        waiting = session.query(Delivery).filter(Delivery.status == "pending").order_by(Delivery.pk).all()
        assert len(waiting) == 2 and waiting[0].attempts == 0  # waiting is not failing
        assert waiting[0].next_attempt_at - utcnow() > dt.timedelta(minutes=9)
    with database.write() as session:  # ten minutes pass
        session.query(Delivery).filter(Delivery.status == "delivered").update(
            {"delivered_at": utcnow() - dt.timedelta(minutes=11)})
        session.query(Delivery).filter(Delivery.status == "pending").update({"next_attempt_at": utcnow()})
    drain(worker)
    assert [c["body"] for c in zendesk.tickets[ticket_id]["comments"][before:]] == ["one", "two", "three\n\nfour"]


def test_a_reply_that_cannot_go_out_is_noted_in_the_ticket(api, handed_over, worker, zendesk, agent, webhooks, database):
    from connector.storage.models import Workspace

    ticket_id = ticket_of(zendesk, handed_over)["id"]
    api.post(f"/v1/conversations/{handed_over}/give-back", json={})
    drain(worker)
    with database.write() as session:  # the workspace moves to a plan without the ability
        session.query(Workspace).update({"plan": "basic", "abilities": []})
    zendesk.agent_comment(ticket_id, agent["id"], "I will take this")
    webhooks.deliver_fired()
    drain(worker)
    assert conversation(api, handed_over)["controller"] == "ai"
    last = zendesk.tickets[ticket_id]["comments"][-1]
    assert last["public"] is False and "not sent to the shopper" in last["body"]
    assert not any(m["author"] == "human" for m in messages(api, handed_over))


def test_an_agents_name_is_looked_up_once_not_per_comment(api, handed_over, worker, zendesk, agent, webhooks):
    ticket_id = ticket_of(zendesk, handed_over)["id"]
    for text in ("First answer", "Second answer"):
        zendesk.agent_comment(ticket_id, agent["id"], text)
        webhooks.deliver_fired()
        drain(worker)
    humans = [m["author_name"] for m in messages(api, handed_over) if m["author"] == "human"]
    assert humans == ["Dana Agent", "Dana Agent"]
    lookups = [r for r in zendesk.requests if r.method == "GET" and r.path.rstrip("/").removesuffix(".json")
               == f"/api/v2/users/{agent['id']}"]
    assert len(lookups) == 1
