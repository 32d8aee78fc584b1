"""Shopper text never pings, links or formats on its own in Slack: it reaches it escaped."""

from __future__ import annotations

import json

from tests.draining import drain
from tests.slack.conftest import CHANNEL

NAME = "Ann <!channel>"
TEXT = "<@U123> look at <https://evil.example|your invoice> <!here> & <b>now</b>"
RAW = ("<!channel>", "<@U123>", "<https://evil.example|", "<!here>", "<b>")


def test_shopper_names_and_texts_reach_slack_escaped(api, workspace_id, worker, slack):
    cid = api.post("/v1/conversations", json={"shopper": {"name": NAME}}).get_json()["id"]
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": TEXT})
    api.post(f"/v1/conversations/{cid}/handover", json={"reason": "<!everyone> asked"})
    drain(worker)
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": TEXT})
    drain(worker)
    posted = slack.messages(CHANNEL)
    thread = [m for top in posted for m in slack.thread(CHANNEL, top["ts"])]
    written = json.dumps([{k: m.get(k) for k in ("text", "blocks")} for m in posted + thread], ensure_ascii=False)
    for raw in RAW + ("<!everyone>",):
        assert raw not in written, raw
    assert "&lt;!channel&gt;" in written and "&lt;@U123&gt;" in written and "&amp; &lt;b&gt;now&lt;/b&gt;" in written
