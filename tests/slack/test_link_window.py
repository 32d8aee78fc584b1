"""What Slack sends between its answer to a thread's first post and the end of that delivery
is kept and applied once the thread's link is recorded, never answered 200 and dropped."""

from __future__ import annotations

from tests.draining import drain
from tests.slack.conftest import SlackSender


def test_a_reply_and_a_button_in_the_link_window_are_both_applied(api, app, connector, workspace_id, worker,
                                                                    slack):
    plugin = connector.plugins.get("slack")
    sender = SlackSender(app.test_client(), slack.root)
    answers: list[dict] = []
    real_open = plugin.open_thread

    def open_then_agent_acts_at_once(ctx, conversation, transcript, events):
        thread = real_open(ctx, conversation, transcript, events)  # Slack has answered: the thread exists
        ts = thread.data["ts"]
        reply = sender.reply(ts, "I'm on it")
        button = sender.action("give_back", conversation["id"], ts)
        answers.extend([reply.get_json(silent=True) or {"status": reply.status_code},
                        {"status": button.status_code}])
        return thread  # ... and only now does the delivery end and the link get recorded

    plugin.open_thread = open_then_agent_acts_at_once
    try:
        cid = api.post("/v1/conversations", json={"shopper": {"name": "Ann"}}).get_json()["id"]
        api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": "a person please"})
        api.post(f"/v1/conversations/{cid}/handover")
        drain(worker)
    finally:
        plugin.open_thread = real_open

    assert [a.get("status", 200) for a in answers] == [200, 200]
    texts = [(m["author"], m["text"]) for m in api.get(f"/v1/conversations/{cid}/messages").get_json()["data"]]
    assert ("human", "I'm on it") in texts  # the reply reached the shopper
    events = [e["type"] for e in api.get(f"/v1/conversations/{cid}/events").get_json()["data"]]
    assert events[-1] == "given_back"  # and the button, after it, in order
    assert api.get(f"/v1/conversations/{cid}").get_json()["controller"] == "ai"
