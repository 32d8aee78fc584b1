"""Handovers nobody claims: the timer, the reminder, the give back, once across processes.

The timers are outbox rows; a test makes one come due by moving its ``next_attempt_at``
to now (the time it would otherwise wait), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import update

from connector.claim_timeouts import CLAIM_TIMER
from connector.storage.models import Delivery
from connector.storage.models import utcnow
from tests.delivery.test_workers import stop
from tests.notifications.conftest import deliver
from tests.delivery.test_workers import wait_until
from tests.delivery.test_workers import worker_process

TIMEOUT = 60


def set_timeout(api, action="remind", seconds=TIMEOUT):
    api.put("/v1/settings/notifications", json={"recipients": ["help@shop.example"]})
    assert api.put("/v1/settings/handover", json={"enabled": True, "mode": "automate", "scenarios": [],
                                                   "claim_timeout_seconds": seconds,
                                                   "unclaimed_action": action}).status_code == 200


def handed_over(api):
    cid = api.post("/v1/conversations", json={"shopper": {"name": "Ann"}}).get_json()["id"]
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "shopper", "text": "I need a person"})
    assert api.post(f"/v1/conversations/{cid}/handover", json={"reason": "asked"}).status_code == 200
    return cid


def timers(database):
    with database.read() as session:
        return [(d.status, d.next_attempt_at, d.created_at) for d in
                session.query(Delivery).filter(Delivery.plugin == CLAIM_TIMER).order_by(Delivery.pk)]


def time_passes(database):
    """The claim timeout runs out: every waiting timer comes due."""
    with database.write() as session:
        session.execute(update(Delivery).where(Delivery.plugin == CLAIM_TIMER, Delivery.status == "pending")
                        .values(next_attempt_at=utcnow() - dt.timedelta(seconds=1)))


def events(api, cid):
    return [(e["type"], e["reason"]) for e in api.get(f"/v1/conversations/{cid}/events").get_json()["data"]]


def reminders(inbox):
    return [m for _, m in inbox.messages if m["Subject"].startswith("Still waiting")]


def test_an_unclaimed_handover_logs_and_reminds_once(api, inbox, worker, database):
    set_timeout(api)
    cid = handed_over(api)
    [(status, due, created)] = timers(database)
    assert status == "pending" and abs((due - created).total_seconds() - TIMEOUT) < 1
    deliver(worker)
    assert not reminders(inbox)  # not yet due: nothing happens before the timeout
    time_passes(database)
    deliver(worker)
    assert ("handover_unclaimed", f"no human replied within {TIMEOUT // 60} min") in events(api, cid)
    [reminder] = reminders(inbox)
    assert reminder["Subject"] == "Still waiting: Ann"
    plain, _ = inbox.bodies(reminder)
    assert "waiting for a human for 1 min" in plain and "I need a person" in plain
    assert api.get(f"/v1/conversations/{cid}").get_json()["controller"] == "human"  # remind only
    time_passes(database)
    deliver(worker)
    assert len(reminders(inbox)) == 1 and [t for t, _ in events(api, cid)].count("handover_unclaimed") == 1


def test_a_human_reply_in_time_cancels_it(api, inbox, worker, database):
    set_timeout(api)
    cid = handed_over(api)
    api.post(f"/v1/conversations/{cid}/messages", json={"author": "human", "text": "Hi, I'm Bo", "author_name": "Bo"})
    time_passes(database)
    deliver(worker)
    assert "handover_unclaimed" not in [t for t, _ in events(api, cid)]
    assert not reminders(inbox)
    assert [status for status, _, _ in timers(database)] == ["delivered"]  # ran, found it claimed, did nothing


def test_a_new_hand_over_starts_a_new_clock(api, inbox, worker, database):
    set_timeout(api)
    cid = handed_over(api)
    api.post(f"/v1/conversations/{cid}/give-back", json={})
    api.post(f"/v1/conversations/{cid}/handover", json={})
    assert len(timers(database)) == 2
    time_passes(database)
    deliver(worker)
    assert [t for t, _ in events(api, cid)].count("handover_unclaimed") == 1  # the second hand over's, once


def test_give_back_hands_it_to_the_ai_and_tells_the_platform(api, inbox, worker, database, vendor_url):
    api.put("/v1/settings/platform-webhook", json={"url": vendor_url})
    set_timeout(api, action="give_back")
    cid = handed_over(api)
    time_passes(database)
    deliver(worker)
    conversation = api.get(f"/v1/conversations/{cid}").get_json()
    assert (conversation["controller"], conversation["ai_may_reply"]) == ("ai", True)
    assert events(api, cid)[-2:] == [("handover_unclaimed", "no human replied within 1 min"), ("given_back", "unclaimed")]
    [reminder] = reminders(inbox)
    assert "The AI has the conversation again" in inbox.bodies(reminder)[0]
    with database.read() as session:
        sent = [d.payload["task"]["event"] for d in session.query(Delivery).filter(Delivery.plugin == "platform").order_by(Delivery.pk)]
    assert [e["conversation"]["controller"] for e in sent if e["type"] == "conversation.updated"][-1] == "ai"


@pytest.fixture
def vendor_url():
    from tests.fakes.vendor import FakeVendor

    with FakeVendor() as fake:
        yield f"{fake.url}/platform"


def test_two_worker_processes_send_one_reminder(api, inbox, database, settings):
    set_timeout(api)
    cids = [handed_over(api) for _ in range(5)]
    time_passes(database)
    smtp = {"smtp_url": settings.smtp_url}
    processes = [worker_process(settings, **smtp), worker_process(settings, **smtp)]
    try:
        wait_until(lambda: len(reminders(inbox)) >= 5 and all(s == "delivered" for s, _, _ in timers(database)),
                   60, "five reminders")
        time.sleep(1.0)  # room for a second reminder, if a timer could run twice
    finally:
        stop(processes)
    assert len(reminders(inbox)) == 5
    for cid in cids:
        assert [t for t, _ in events(api, cid)].count("handover_unclaimed") == 1
