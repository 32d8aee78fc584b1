"""The whole Slack story end to end: handover, mirror, replies, every button, resolve, reopen.

The connector's Flask app receives requests signed exactly as Slack signs them; its
delivery worker calls a real local HTTP fake of the Slack Web API through slack_sdk,
which checks every call against Slack's API description.
"""

from __future__ import annotations

import pytest

from tests.slack.conftest import AGENT
from tests.slack.conftest import CHANNEL
from tests.slack.conftest import drain


def buttons(message):
    return [e["action_id"] for b in message.get("blocks") or [] if b["type"] == "actions" for e in b["elements"]]


def block_text(message):
    texts = []
    for block in message.get("blocks") or []:
        if block.get("text"):
            texts.append(block["text"]["text"])
        for element in block.get("elements") or []:
            if element.get("type") == "mrkdwn":
                texts.append(element["text"])
    return "\n".join(texts)


def parent(slack):
    [message] = [m for m in slack.messages(CHANNEL) if not m.get("thread_ts") or m["thread_ts"] == m["ts"]]
    return message


def replies(slack):
    top = parent(slack)
    return slack.thread(CHANNEL, top["ts"])


def conversation(api, cid):
    return api.get(f"/v1/conversations/{cid}").get_json()


def messages(api, cid):
    return api.get(f"/v1/conversations/{cid}/messages").get_json()["data"]


@pytest.fixture
def handed_over(api, workspace_id, worker, slack):
    """A conversation with some history, handed over through the platform API and posted to Slack."""
    cid = api.post("/v1/conversations", json={"shopper": {"name": "Ann Lee", "email": "ann@example.com"}}).get_json()["id"]
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": "Where is my order #1042?"})
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "ai", "text": "It shipped on Monday."})
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": "It is broken <b>& wet</b>, I want a person"})
    assert api.post(f"/v1/conversations/{cid}/handover", json={"reason": "asked for a person"}).status_code == 200
    drain(worker)
    return cid


def test_handover_posts_parent_with_state_buttons_and_the_transcript(handed_over, slack):
    top = parent(slack)
    assert top["user"] == "UBOT"
    text = block_text(top)
    assert "Ann Lee" in text and "ann@example.com" in text
    assert "Needs you" in text
    assert "asked for a person" in text  # why
    assert buttons(top) == ["give_back", "resolve"]  # a human has it: they reply to take it
    values = {e["value"] for b in top["blocks"] if b["type"] == "actions" for e in b["elements"]}
    assert values == {handed_over}
    transcript = "\n".join(m["text"] for m in replies(slack))
    assert transcript.index("Where is my order #1042?") < transcript.index("It shipped on Monday.")
    assert "&lt;b&gt;&amp; wet&lt;/b&gt;" in transcript  # Slack's control characters escaped


def test_later_messages_are_mirrored_under_their_authors_name(api, handed_over, worker, slack):
    api.post(f"/v1/conversations/{handed_over}/messages", json={"author": "shopper", "text": "Hello? Anyone?"})
    api.post(f"/v1/conversations/{handed_over}/messages",
             json={"author": "human", "text": "Bo from the console here", "author_name": "Bo"})
    drain(worker)
    posted = {m["text"]: m for m in replies(slack)}
    assert posted["Hello? Anyone?"]["username"] == "Ann Lee (shopper)"
    assert posted["Bo from the console here"]["username"] == "Bo (agent)"


def test_agent_reply_reaches_the_shopper_once_under_the_agents_name(api, handed_over, worker, slack, sender):
    top = parent(slack)
    answer = sender.reply(top["ts"], "Hi Ann, I am on it &amp; will send a new one <https://shop.example/r|here>",
                          ts="1735689720.001900", event_id="EvREPLY1")
    assert answer.status_code == 200
    # Slack retries (its first attempt timed out on its side): the same event id again, and
    # the same message under another event id: one human message all the same.
    assert sender.reply(top["ts"], "Hi Ann, I am on it", ts="1735689720.001900", event_id="EvREPLY1", retry=1).status_code == 200
    assert sender.reply(top["ts"], "Hi Ann, I am on it", ts="1735689720.001900", event_id="EvREPLY1b").status_code == 200
    drain(worker)
    humans = [m for m in messages(api, handed_over) if m["author"] == "human"]
    assert [(m["author_name"], m["source"]) for m in humans] == [("Sam", "slack")]
    assert humans[0]["text"] == "Hi Ann, I am on it & will send a new one here (https://shop.example/r)"
    # not mirrored back into the thread it came from
    assert not any("I am on it" in m["text"] for m in replies(slack) if m.get("user") == "UBOT")
    # the first human reply after the hand over: the parent says who has it
    drain(worker)
    assert "Taken by @Sam" in block_text(parent(slack))


def test_our_own_posts_and_bookkeeping_events_are_ignored(api, handed_over, worker, slack, sender):
    top = parent(slack)
    before = len(messages(api, handed_over))
    ours = replies(slack)[0]
    echo = sender.event({"type": "message", "channel": CHANNEL, "user": "UBOT", "bot_id": "BBOT", "app_id": "A01",
                         "text": ours["text"], "ts": ours["ts"], "thread_ts": top["ts"], "username": "Ann Lee (shopper)"})
    edit = sender.event({"type": "message", "subtype": "message_changed", "hidden": True, "channel": CHANNEL,
                         "ts": "1735689999.000100", "message": {"text": "x", "thread_ts": top["ts"]}})
    top_level = sender.event({"type": "message", "channel": CHANNEL, "user": AGENT, "text": "lunch?", "ts": "1735690000.000100"})
    deleted = sender.event({"type": "message", "subtype": "message_deleted", "hidden": True, "channel": CHANNEL,
                            "ts": "1735690001.000100", "deleted_ts": "1735690000.000100"})
    assert [r.status_code for r in (echo, edit, top_level, deleted)] == [200, 200, 200, 200]
    drain(worker)
    assert len(messages(api, handed_over)) == before


def test_note_prefix_stays_internal(api, handed_over, worker, slack, sender):
    sender.reply(parent(slack)["ts"], "note: this customer tried this before, check order #99")
    drain(worker)
    assert not any(m["author"] == "human" for m in messages(api, handed_over))
    assert slack.ephemerals == []


def test_reply_while_ai_is_in_charge_asks_first_then_takes_over_and_sends(api, handed_over, worker, slack, sender):
    top = parent(slack)
    assert sender.action("give_back", handed_over, top["ts"]).status_code == 200
    assert conversation(api, handed_over)["controller"] == "ai"
    sender.reply(top["ts"], "Sorry for the wait, Ann!", ts="1735689800.000100")
    drain(worker)
    assert not any(m["author"] == "human" for m in messages(api, handed_over))
    [prompt] = slack.ephemerals
    assert prompt["user"] == AGENT and prompt["thread_ts"] == top["ts"]
    assert buttons(prompt) == ["take_over_and_send", "keep_note"]
    draft = prompt["blocks"][1]["elements"][0]["value"]
    # Somebody else cannot send Sam's draft.
    sender.action("take_over_and_send", draft, top["ts"], user="UOTHER", username="eve")
    drain(worker)
    assert conversation(api, handed_over)["controller"] == "ai"
    sender.action("take_over_and_send", draft, top["ts"])
    drain(worker)
    state = conversation(api, handed_over)
    assert state["controller"] == "human"
    humans = [m for m in messages(api, handed_over) if m["author"] == "human"]
    assert [(m["text"], m["author_name"]) for m in humans] == [("Sorry for the wait, Ann!", "Sam")]
    events = api.get(f"/v1/conversations/{handed_over}/events").get_json()["data"]
    assert [e["type"] for e in events][-2:] == ["handed_over", "human_joined"]
    assert events[-2]["actor"]["name"] == "Sam" and events[-2]["source"] == "slack"
    # a second click sends nothing twice
    sender.action("take_over_and_send", draft, top["ts"])
    drain(worker)
    assert len([m for m in messages(api, handed_over) if m["author"] == "human"]) == 1


def test_keep_as_note_sends_nothing(api, handed_over, worker, slack, sender):
    top = parent(slack)
    sender.action("give_back", handed_over, top["ts"])
    sender.reply(top["ts"], "just thinking out loud")
    drain(worker)
    draft = slack.ephemerals[0]["blocks"][1]["elements"][0]["value"]
    assert sender.action("keep_note", draft, top["ts"]).status_code == 200
    drain(worker)
    assert conversation(api, handed_over)["controller"] == "ai"
    assert not any(m["author"] == "human" for m in messages(api, handed_over))


def test_each_button_runs_its_command_records_who_and_updates_the_parent(api, handed_over, worker, slack, sender):
    top = parent(slack)
    # give back
    assert sender.action("give_back", handed_over, top["ts"]).status_code == 200
    drain(worker)
    assert conversation(api, handed_over)["controller"] == "ai"
    assert buttons(parent(slack)) == ["take_over", "resolve"]
    assert "AI in charge" in block_text(parent(slack))
    # giving back again is refused, and the agent is told so, privately
    sender.action("give_back", handed_over, top["ts"])
    drain(worker)
    assert slack.ephemerals[-1]["text"] == "The AI is already in charge of this conversation."
    # take over
    sender.action("take_over", handed_over, top["ts"])
    drain(worker)
    assert conversation(api, handed_over)["controller"] == "human"
    assert "Taken by @sam" in block_text(parent(slack))
    assert buttons(parent(slack)) == ["give_back", "resolve"]
    # resolve
    sender.action("resolve", handed_over, top["ts"])
    drain(worker)
    assert conversation(api, handed_over)["status"] == "resolved"
    assert "Resolved" in block_text(parent(slack))
    assert buttons(parent(slack)) == ["take_over"]
    events = api.get(f"/v1/conversations/{handed_over}/events").get_json()["data"]
    by_slack = [(e["type"], e["actor"]["name"]) for e in events if e["source"] == "slack"]
    assert by_slack == [("given_back", "sam"), ("handed_over", "sam"), ("resolved", "sam")]
    notes = [m["text"] for m in replies(slack) if m["text"].startswith(":arrows_counterclockwise:")]
    assert any("Given back to the AI by sam" in n for n in notes)
    # the shopper writes again: reopened, mirrored, and the parent says so
    api.post(f"/v1/conversations/{handed_over}/messages", json={"author": "shopper", "text": "One more thing"})
    drain(worker)
    assert conversation(api, handed_over)["status"] == "open"
    assert "Taken by" in block_text(parent(slack)) or "Needs you" in block_text(parent(slack))
    assert "resolve" in buttons(parent(slack))
    assert any(m["text"] == "One more thing" for m in replies(slack))
    # every update re-sent all blocks, with a new block_id per version
    versions = [b["block_id"] for m in slack.versions(CHANNEL, top["ts"]) for b in m.get("blocks") or [] if b["type"] == "actions"]
    assert len(versions) == len(set(versions))


def test_a_button_for_another_conversation_changes_nothing(api, handed_over, worker, slack, sender):
    other = api.post("/v1/conversations", json={"shopper": {"name": "Bo"}}).get_json()["id"]
    sender.action("resolve", other, parent(slack)["ts"])
    sender.action("resolve", "conv_forged", parent(slack)["ts"])
    assert conversation(api, handed_over)["status"] == "open"
    assert conversation(api, other)["status"] == "open"


def test_long_transcripts_are_split_within_slacks_limits(api, workspace_id, worker, slack):
    cid = api.post("/v1/conversations", json={"shopper": {"name": "Cy"}}).get_json()["id"]
    sent = [f"message {i:03d} " + "x" * 380 for i in range(40)]
    for text in sent:
        api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": text})
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": "y" * 9000})
    api.post(f"/v1/conversations/{cid}/handover", json={})
    drain(worker)
    parts = replies(slack)
    assert len(parts) > 5
    assert all(len(p["text"]) <= 3000 for p in parts)
    joined = "".join(p["text"] for p in parts)
    positions = [joined.index(text) for text in sent]
    assert positions == sorted(positions)
    assert joined.count("y") >= 9000


def test_a_semi_automate_suggestion_opens_the_thread_and_take_over_catches_it_up(api, workspace_id, worker, slack, sender):
    api.put("/v1/settings/handover", json={"enabled": True, "mode": "semi_automate", "scenarios": [
        {"name": "Asks for a human", "instruction": "The shopper asks to talk to a person"}]})
    cid = api.post("/v1/conversations", json={"shopper": {"name": "Ann"}}).get_json()["id"]
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": "where is my order?"})
    drain(worker)
    assert slack.messages(CHANNEL) == []  # nothing to show yet
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": "can I speak to a real person please"})
    assert conversation(api, cid)["controller"] == "ai"
    drain(worker)
    top = parent(slack)
    assert "AI in charge" in block_text(top)
    assert "Suggested (semi-automate): scenario “Asks for a human” fired" in block_text(top)
    assert buttons(top) == ["take_over", "resolve"]
    assert "real person" in "\n".join(m["text"] for m in replies(slack))
    # the AI goes on; the thread waits
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "ai", "text": "I can help with that too!"})
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": "no, a person"})
    drain(worker)
    assert not any("a person" == m["text"] for m in replies(slack))
    # an agent takes over from the thread: the messages in between come first, in order
    sender.action("take_over", cid, top["ts"])
    drain(worker)
    assert conversation(api, cid)["controller"] == "human"
    texts = [m["text"] for m in replies(slack)]
    assert texts.index("I can help with that too!") < texts.index("no, a person")
    assert "Taken by @sam" in block_text(parent(slack))


def test_another_tenants_slack_app_cannot_touch_this_workspaces_threads(
        api, connector, handed_over, worker, slack, sender, make_workspace, database):
    from connector.storage import repository
    from connector.storage.models import Integration

    other_id, _ = make_workspace()
    with connector.db.write() as session:
        connector.integrations.save(session, repository.get_workspace(session, other_id), "slack", {
            "channel": "COTHER", "bot_token": "xoxb-other", "signing_secret": "the-other-tenants-secret-000001",
            "api_base_url": slack.url})
    top = parent(slack)
    forged = "the-other-tenants-secret-000001"
    assert sender.reply(top["ts"], "I am not really your agent", secret=forged).status_code == 200
    assert sender.action("resolve", handed_over, top["ts"], secret=forged).status_code == 200
    assert sender.event({"type": "app_uninstalled"}, secret=forged).status_code == 200
    drain(worker)
    assert conversation(api, handed_over)["status"] == "open"
    assert not any(m["author"] == "human" for m in messages(api, handed_over))
    with database.read() as session:
        health = {row.workspace_pk: row.health for row in session.query(Integration)}
        other_pk = repository.get_workspace(session, other_id).pk
    assert [pk for pk, state in health.items() if state == "unhealthy"] == [other_pk]


def test_a_reply_that_cannot_go_out_is_never_dropped_silently(api, handed_over, worker, slack, sender, database):
    from connector.storage.models import Workspace

    top = parent(slack)
    sender.action("give_back", handed_over, top["ts"])
    with database.write() as session:  # the workspace moves to a plan without the ability
        session.query(Workspace).update({"plan": "basic", "abilities": []})
    sender.reply(top["ts"], "Let me take this one")
    drain(worker)
    draft = slack.ephemerals[-1]["blocks"][1]["elements"][0]["value"]
    sender.action("take_over_and_send", draft, top["ts"])
    drain(worker)
    assert conversation(api, handed_over)["controller"] == "ai"
    assert slack.ephemerals[-1]["text"].startswith("Your reply was not sent to the shopper: Handover to human is not")
