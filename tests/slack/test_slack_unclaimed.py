"""A handover nobody claims is nudged in its Slack thread."""

from __future__ import annotations

from tests.draining import drain
from tests.notifications.test_claim_timeouts import time_passes
from tests.slack.conftest import CHANNEL


def test_an_unclaimed_handover_gets_a_reply_in_its_thread(api, workspace_id, worker, slack, database):
    api.put("/v1/settings/handover", json={"enabled": False, "mode": "automate", "scenarios": [],
                                           "claim_timeout_seconds": 120})
    cid = api.post("/v1/conversations", json={"shopper": {"name": "Ann"}}).get_json()["id"]
    api.post(f"/v1/conversations/{cid}/handover")
    drain(worker)
    [top] = slack.messages(CHANNEL)
    before = len(slack.thread(CHANNEL, top["ts"]))
    time_passes(database)
    drain(worker)
    notes = [m["text"] for m in slack.thread(CHANNEL, top["ts"])[before:]]
    assert any("Still waiting for a human: no human replied within 2 min" in n for n in notes), notes
