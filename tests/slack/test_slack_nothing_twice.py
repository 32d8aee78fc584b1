"""Issue 14, item 12: under faults (errors, 429s, answers lost after Slack applied a post), nothing is
posted twice, nothing is lost, and each thread keeps its order. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import re

from tests.slack.conftest import CHANNEL
from tests.slack.conftest import drain

CONVERSATIONS = 6
BEFORE = 8  # messages in the transcript (long: it goes in several parts)
AFTER = 6  # messages mirrored into the thread one by one
MARK = re.compile(r"\[c(\d+) m(\d+)\]")


def text(c, m):
    return f"[c{c} m{m}] " + "words of the shopper " * 30


def settled(connector):
    from connector.storage.models import Delivery

    with connector.db.read() as session:
        return session.query(Delivery).filter(Delivery.status.in_(("pending", "in_flight"))).count() == 0


def test_faults_lose_nothing_double_nothing_and_keep_order(api, workspace_id, worker, slack, connector):
    connector.settings.delivery_max_attempts = 60
    slack.fault_rate("chat.postMessage", seed=14, errors=0.30, rate_limited=0.10, late=0.05, late_seconds=1.3)
    cids = []
    for c in range(CONVERSATIONS):
        cid = api.post("/v1/conversations", json={"shopper": {"name": f"Shopper {c}"}}).get_json()["id"]
        for m in range(BEFORE):
            api.post(f"/v1/conversations/{cid}/messages",
                     json={"author": "shopper" if m % 2 == 0 else "ai", "text": text(c, m)})
        api.post(f"/v1/conversations/{cid}/handover", json={})
        cids.append(cid)
    drain(worker, until=lambda: settled(connector), timeout=240)
    for c, cid in enumerate(cids):
        for m in range(BEFORE, BEFORE + AFTER):
            api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": text(c, m)})
    drain(worker, until=lambda: settled(connector), timeout=240)

    tops = [m for m in slack.messages(CHANNEL) if m.get("thread_ts") in (None, m["ts"])]
    for c, cid in enumerate(cids):
        parents = [m for m in tops if cid in str(m.get("blocks"))]
        assert len(parents) == 1, f"conversation {c}: {len(parents)} threads"
        seen = [int(n) for reply in slack.thread(CHANNEL, parents[0]["ts"])
                for conv, n in MARK.findall(reply["text"]) if int(conv) == c]
        assert seen == list(range(BEFORE + AFTER)), f"conversation {c}: {seen}"
    with connector.db.read() as session:
        from connector.storage.models import Delivery

        assert {d.status for d in session.query(Delivery)} == {"delivered"}
    calls = slack.calls_of("chat.postMessage")
    assert sum(c.status == 500 for c in calls) > 10 and sum(c.status == 429 for c in calls) > 3
    assert slack.late_answers >= 2, "no answer was lost: the test proved nothing"
