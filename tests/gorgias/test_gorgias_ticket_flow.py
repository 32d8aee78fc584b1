"""Gorgias end to end: set-up by the CLI, a ticket per handover, agents acting from the ticket.

The connector talks to a stateful fake of the Gorgias API over real HTTP; the fake renders
the HTTP integration set-up created and POSTs it to the connector's live hook URL, as
Gorgias does, after the request that triggered it was answered. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import time

import pytest
import requests

from tests.draining import drain
from tests.gorgias.conftest import API_KEY
from tests.gorgias.conftest import body_of
from tests.gorgias.conftest import flow
from tests.gorgias.conftest import hook_url
from tests.gorgias.conftest import set_up_args
from tests.gorgias.conftest import stored_settings


def conversation(api, cid):
    return api.get(f"/v1/conversations/{cid}").get_json()


def messages(api, cid):
    return api.get(f"/v1/conversations/{cid}/messages").get_json()["data"]


def ticket_of(gorgias, cid):
    found = [x for x in gorgias.tickets.values() if x.get("external_id") == cid]
    assert len(found) == 1, f"{len(found)} tickets for {cid}"
    return found[0]


def deliveries_and_receipts(database):
    from connector.storage.models import Base

    tables = {table.name: table for table in Base.metadata.sorted_tables}
    with database.engine.connect() as connection:
        return tuple(connection.execute(tables[name].select()).fetchall().__len__() for name in ("deliveries", "receipts"))


@pytest.fixture
def handed_over(api, workspace_id, worker, gorgias):
    cid = api.post("/v1/conversations", json={"shopper": {"name": "Ann Lee", "email": "ann@example.com"}}).get_json()["id"]
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": "My parcel arrived <broken>"})
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "ai", "text": "Sorry to hear that!"})
    api.post(f"/v1/conversations/{cid}/handover", json={"reason": "damaged parcel"})
    flow(gorgias, worker)
    return cid


# -- set-up -----------------------------------------------------------------------------------


def test_one_command_sets_gorgias_up_again_changes_nothing_and_remove_deletes_it(cli, api, connector, gorgias,
                                                                                  workspace_id, live):
    (integration,) = gorgias.integrations.values()
    assert integration["http"]["url"].startswith(f"{live.url}/hooks/gorgias/")
    assert integration["http"]["triggers"] == {"ticket-message-created": True, "ticket-updated": True}
    (macro,) = gorgias.macros.values()
    assert macro["name"] == "Give back to AI" and macro["actions"][0]["arguments"] == {"tags": "give_back_to_ai"}
    settings = stored_settings(connector, workspace_id)
    assert (settings.integration_id, settings.macro_id) == (integration["id"], macro["id"])
    writes = [r for r in gorgias.requests if r.method != "GET"]
    again = cli(*set_up_args(workspace_id, gorgias))
    assert again.exit_code == 0, again.output
    assert API_KEY not in again.output
    assert len(gorgias.integrations) == 1 and len(gorgias.macros) == 1
    assert [r for r in gorgias.requests if r.method != "GET"] == writes  # nothing new, nothing changed
    checked = cli("integration", "test", workspace_id, "gorgias")
    assert checked.exit_code == 0 and "authenticated to acme" in checked.output, checked.output
    bad = cli("integration", "set", workspace_id, "gorgias", "api_key=wrong-key")
    assert bad.exit_code != 0 and "nothing was saved" in bad.output and "bad API key" in bad.output
    assert "wrong-key" not in bad.output
    assert cli("integration", "test", workspace_id, "gorgias").exit_code == 0  # the old key stays
    removed = cli("integration", "remove", workspace_id, "gorgias")
    assert removed.exit_code == 0, removed.output
    assert gorgias.integrations == {} and gorgias.macros == {}
    assert stored_settings(connector, workspace_id) is None


def test_remove_needs_gorgias_unless_forced_and_the_url_then_answers_401(cli, gorgias, workspace_id, app):
    url = hook_url(gorgias)
    port = gorgias.port
    gorgias.stop()
    refused = cli("integration", "remove", workspace_id, "gorgias")
    assert refused.exit_code != 0 and "use --force" in refused.output
    forced = cli("integration", "remove", workspace_id, "gorgias", "--force")
    assert forced.exit_code == 0, forced.output
    time.sleep(1.1)  # hooks read settings at most a second old
    answer = requests.post(url, json={"event": {"type": "ticket-updated"}, "ticket": {"id": "1"}}, timeout=5)
    assert answer.status_code == 401
    gorgias.port = port
    gorgias.start()


def test_integration_test_says_what_is_wrong(cli, gorgias, workspace_id):
    gorgias.revoke(API_KEY)
    result = cli("integration", "test", workspace_id, "gorgias")
    assert result.exit_code != 0 and "bad API key" in result.output
    gorgias.account_exists = False
    assert "unknown domain" in cli("integration", "test", workspace_id, "gorgias").output


# -- handover and later messages ----------------------------------------------------------------


def test_handover_opens_one_ticket_with_the_transcript_imported_not_sent(api, handed_over, gorgias, worker):
    ticket = ticket_of(gorgias, handed_over)
    assert (ticket["channel"], ticket["via"], ticket["status"]) == ("api", "api", "open")
    assert ticket["tags"] == ["ai_handover"] and ticket["subject"] == "Ann Lee needs a human (damaged parcel)"
    customer = gorgias.customers[ticket["customer_id"]]
    assert (customer["name"], customer["email"]) == ("Ann Lee", "ann@example.com")
    shopper, ai, note = ticket["messages"]
    assert shopper["from_agent"] is False and shopper["body_text"] == "My parcel arrived <broken>"
    assert "&lt;broken&gt;" in shopper["body_html"]
    assert ai["from_agent"] is True and "Sorry to hear that!" in ai["body_text"]
    assert all(m["sent_datetime"] for m in (shopper, ai))
    assert note["channel"] == "internal-note" and "damaged parcel" in note["body_text"]
    assert gorgias.sent_out == []
    # back to the AI and over again: the same ticket, a note
    api.post(f"/v1/conversations/{handed_over}/give-back", json={})
    api.post(f"/v1/conversations/{handed_over}/handover", json={"reason": "again"})
    flow(gorgias, worker)
    ticket = ticket_of(gorgias, handed_over)
    assert "Given back to the AI" in ticket["messages"][-2]["body_text"]
    assert "Handed over" in ticket["messages"][-1]["body_text"]


def test_shopper_messages_are_imported_and_our_own_echoes_are_not_relayed(api, handed_over, gorgias, worker, database):
    before = deliveries_and_receipts(database)
    api.post(f"/v1/conversations/{handed_over}/messages", json={"author": "shopper", "text": "Any news?"})
    flow(gorgias, worker)
    last = ticket_of(gorgias, handed_over)["messages"][-1]
    assert last["from_agent"] is False and last["body_text"] == "Any news?" and last["sent_datetime"]
    echo = gorgias.calls[-1]
    assert echo["status"] == 200 and body_of(echo)["message"]["id"] == str(last["id"])
    assert gorgias.sent_out == []
    assert [m["text"] for m in messages(api, handed_over)].count("Any news?") == 1
    after = deliveries_and_receipts(database)
    assert after[1] == before[1]  # the echo stored nothing


def test_an_agent_reply_takes_over_once_and_notes_and_rules_are_not_relayed(api, handed_over, gorgias, worker, agent,
                                                                            database):
    ticket = ticket_of(gorgias, handed_over)
    api.post(f"/v1/conversations/{handed_over}/give-back", json={})
    flow(gorgias, worker)
    assert conversation(api, handed_over)["controller"] == "ai"
    gorgias.internal_note(ticket["id"], "This customer is a VIP", agent)
    gorgias.rule_message(ticket["id"], "Thanks, we will reply shortly", agent=agent)
    flow(gorgias, worker)
    assert conversation(api, handed_over)["controller"] == "ai"
    gorgias.agent_reply(ticket["id"], "Hi Ann, a new parcel is on its way.", agent)
    flow(gorgias, worker)
    state = conversation(api, handed_over)
    assert state["controller"] == "human"
    humans = [m for m in messages(api, handed_over) if m["author"] == "human"]
    assert [(m["author_name"], m["text"]) for m in humans] == [("Dana Agent", "Hi Ann, a new parcel is on its way.")]
    # Gorgias delivers the same call again: one effect
    reply_call = next(c for c in reversed(gorgias.calls) if body_of(c)["message"]["from_agent"] == "True")
    before = deliveries_and_receipts(database)
    again = requests.post(reply_call["url"], data=reply_call["body"], headers=reply_call["headers"], timeout=5)
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    flow(gorgias, worker)
    assert deliveries_and_receipts(database) == before
    assert len([m for m in messages(api, handed_over) if m["author"] == "human"]) == 1


def test_a_wrong_token_is_refused_before_the_body_is_read_and_stores_nothing(api, handed_over, gorgias, live, database,
                                                                           workspace_id):
    from connector.plugins.webhooks import UrlTokens
    from handover_gorgias.verify import SALT
    from tests.conftest import SECRET_KEY

    before = deliveries_and_receipts(database)
    url = hook_url(gorgias)
    signed = UrlTokens(SECRET_KEY, SALT)
    for bad in (url[:-3] + "abc", f"{live.url}/hooks/gorgias/not-a-token", f"{live.url}/hooks/gorgias/",
                f"{live.url}/hooks/gorgias/{signed.dumps('ws_unknown', 'n0nce')}",  # signed, but no such workspace
                f"{live.url}/hooks/gorgias/{signed.dumps(workspace_id, 'old-nonce')}"):  # signed, not the nonce
        answer = requests.post(bad, data=b"{not even json", headers={"Content-Type": "application/json"}, timeout=5)
        assert answer.status_code == 401 and answer.json()["error"]["code"] == "unauthorized"
    assert deliveries_and_receipts(database) == before


def test_bad_bodies_get_400_naming_the_field(handed_over, gorgias):
    url = hook_url(gorgias)
    answer = requests.post(url, json={"event": {"type": "ticket-message-created"}, "ticket": {"id": "1"},
                                      "message": {"id": "2", "from_agent": "maybe"}}, timeout=5)
    assert answer.status_code == 400 and answer.json()["error"]["field"] == "message.from_agent"
    unknown = requests.post(url, json={"event": {"type": "ticket-updated", "id": "5"},
                                       "ticket": {"id": "999999", "status": "closed", "tags": "[]"}}, timeout=5)
    assert unknown.status_code == 200 and unknown.json()["outcome"] == "unknown_thread"


# -- closing, the tag, reopening --------------------------------------------------------------------


def test_closing_resolves_and_a_shopper_message_reopens_the_ticket(api, handed_over, gorgias, worker, agent):
    ticket = ticket_of(gorgias, handed_over)
    gorgias.close_ticket(ticket["id"], agent)
    flow(gorgias, worker)
    assert conversation(api, handed_over)["status"] == "resolved"
    api.post(f"/v1/conversations/{handed_over}/messages", json={"author": "shopper", "text": "It broke again"})
    flow(gorgias, worker)
    assert conversation(api, handed_over)["status"] == "open"
    ticket = ticket_of(gorgias, handed_over)
    assert ticket["status"] == "open"
    assert any(m["body_text"] == "It broke again" and not m["from_agent"] for m in ticket["messages"])
    gorgias.close_ticket(ticket["id"], agent)  # closing again resolves again
    flow(gorgias, worker)
    assert conversation(api, handed_over)["status"] == "resolved"


def test_resolved_elsewhere_closes_the_ticket_and_the_echo_changes_nothing(api, handed_over, gorgias, worker):
    api.post(f"/v1/conversations/{handed_over}/resolve", json={})
    flow(gorgias, worker)
    ticket = ticket_of(gorgias, handed_over)
    assert ticket["status"] == "closed" and "Resolved" in ticket["messages"][-1]["body_text"]
    assert gorgias.calls[-1]["status"] == 200


def test_the_macro_gives_back_and_the_tag_is_removed(api, handed_over, gorgias, worker, agent, connector, workspace_id):
    ticket = ticket_of(gorgias, handed_over)
    gorgias.apply_macro(ticket["id"], stored_settings(connector, workspace_id).macro_id, agent)
    flow(gorgias, worker)
    assert conversation(api, handed_over)["controller"] == "ai"
    assert "give_back_to_ai" not in gorgias.tag_names(ticket["id"])
    events = api.get(f"/v1/conversations/{handed_over}/events").get_json()["data"]
    assert events[-1]["type"] == "given_back" and events[-1]["source"] == "gorgias"


def test_a_reply_refused_by_the_core_is_noted_in_the_ticket(api, handed_over, gorgias, worker, agent, database):
    from connector.storage.models import Workspace

    ticket = ticket_of(gorgias, handed_over)
    api.post(f"/v1/conversations/{handed_over}/give-back", json={})
    flow(gorgias, worker)
    with database.write() as session:  # the workspace moves to a plan without the ability
        session.query(Workspace).update({"plan": "basic", "abilities": []})
    gorgias.agent_reply(ticket["id"], "I will take this", agent)
    flow(gorgias, worker)
    assert conversation(api, handed_over)["controller"] == "ai"
    last = ticket_of(gorgias, handed_over)["messages"][-1]
    assert last["channel"] == "internal-note" and "not sent to the shopper" in last["body_text"]


# -- the token, the rate limit ---------------------------------------------------------------------


def test_rotating_the_token_moves_the_integration_and_the_old_url_answers_401(api, handed_over, gorgias, worker,
                                                                              agent, cli, workspace_id):
    old = hook_url(gorgias)
    rotated = cli("integration", "set", workspace_id, "gorgias", "rotate_token=true")
    assert rotated.exit_code == 0, rotated.output
    new = hook_url(gorgias)
    assert new != old and len(gorgias.integrations) == 1
    time.sleep(1.1)  # hooks read settings at most a second old
    stale = requests.post(old, json={"event": {"type": "ticket-updated"}, "ticket": {"id": "1"}}, timeout=5)
    assert stale.status_code == 401
    ticket = ticket_of(gorgias, handed_over)
    gorgias.agent_reply(ticket["id"], "Still here", agent)
    flow(gorgias, worker)
    assert gorgias.calls[-1]["url"] == new and gorgias.calls[-1]["status"] == 200
    assert [m["text"] for m in messages(api, handed_over) if m["author"] == "human"] == ["Still here"]


def test_a_429_becomes_the_outbox_delay_and_nothing_sleeps(api, handed_over, gorgias, worker, database):
    from connector.storage.models import Delivery
    from connector.storage.models import utcnow

    gorgias.capacity = 40
    gorgias.fill_bucket()  # other workers used the account's 40 requests up
    api.post(f"/v1/conversations/{handed_over}/messages", json={"author": "shopper", "text": "Hello?"})
    started = time.monotonic()
    worker.run_once()
    assert time.monotonic() - started < 1.0  # no thread waited for the bucket
    limited = [r for r in gorgias.requests if r.status == 429]
    assert len(limited) == 1 and limited[0].method == "POST"
    with database.read() as session:
        (waiting,) = [d for d in session.query(Delivery).all() if d.status == "pending"]
        assert "429" in (waiting.last_error or "")
        delay = (waiting.next_attempt_at - utcnow()).total_seconds()
        assert 0.3 < delay <= 1.0  # Gorgias' Retry-after (1 s), not the outbox's quick backoff
    worker.run_once()  # too early: nothing is sent, nothing is counted
    assert len([r for r in gorgias.requests if r.status == 429]) == 1
    drain(worker, until=lambda: any(m["body_text"] == "Hello?" for m in ticket_of(gorgias, handed_over)["messages"]))
    assert len([r for r in gorgias.requests if r.status == 429]) == 1


def test_the_connector_paces_itself_below_the_accounts_bucket(api, handed_over, gorgias, worker, connector,
                                                               workspace_id):
    """Many shopper messages at once: the worker defers before Gorgias has to refuse."""
    from connector.storage import repository

    with connector.db.write() as session:  # the plugin told the window (3 s: wide against a busy machine's delays)
        workspace = repository.get_workspace(session, workspace_id)
        connector.integrations.save(session, workspace, "gorgias", {"rate_window_seconds": 3})
    time.sleep(1.1)  # the worker's settings cache expires
    gorgias.empty_bucket(capacity=4, window=3.0)  # a small bucket, empty: the first answer tells the plugin its size
    for number in range(8):
        api.post(f"/v1/conversations/{handed_over}/messages", json={"author": "shopper", "text": f"m{number}"})
    drain(worker, until=lambda: [m["body_text"] for m in ticket_of(gorgias, handed_over)["messages"]][-1] == "m7",
          timeout=30)
    texts = [m["body_text"] for m in ticket_of(gorgias, handed_over)["messages"] if m["body_text"].startswith("m")]
    assert texts == [f"m{n}" for n in range(8)]  # in order, each once
    assert [r for r in gorgias.requests if r.status == 429] == []  # the worker waited instead


def test_manifests_render_writes_the_gorgias_set_up_page(cli, tmp_path):
    result = cli("manifests", "render", "--base-url", "https://handover.example.com", "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    page = (tmp_path / "out" / "gorgias" / "setup.md").read_text()
    assert "https://handover.example.com/hooks/gorgias/<token>" in page and "rotate_token=true" in page
