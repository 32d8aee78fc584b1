"""Outbox claims on both databases: one head per ordering key, leases, guarded updates."""

from __future__ import annotations

import datetime as dt

from connector.delivery import outbox
from connector.storage import repository
from connector.storage.models import Delivery
from connector.storage.models import utcnow


def make(database, keys):
    now = utcnow()
    with database.write() as session:
        workspace, _ = repository.create_workspace(session, "W", "pro")
        ids = []
        for conversation_pk in keys:
            row = outbox.enqueue(session, workspace_pk=workspace.pk, conversation_pk=None, plugin="p",
                                 action="x", payload={"n": len(ids)}, now=now)
            row.ordering_key = f"p:{conversation_pk}"
            ids.append(row.id)
    return ids


def claim(database, worker, now=None, lease=60.0, limit=10):
    with database.write() as session:
        rows = outbox.claim(session, worker_id=worker, now=now or utcnow(), lease=lease, limit=limit,
                            skip_locked=database.lock_for_update())
        return [(row.pk, row.id) for row in rows]


def test_only_the_oldest_open_delivery_of_each_key_is_claimed(database):
    ids = make(database, ["a", "a", "b", "a", "b"])
    first = claim(database, "w1")
    assert [i for _, i in first] == [ids[0], ids[2]]
    assert claim(database, "w2") == []  # the heads are in flight; the rest wait their turn
    with database.write() as session:
        assert outbox.mark_delivered(session, first[0][0], "w1", "ext-1")
    assert [i for _, i in claim(database, "w2")] == [ids[1]]


def test_a_dead_delivery_does_not_hold_the_line(database):
    ids = make(database, ["a", "a"])
    [(pk, _)] = claim(database, "w1")
    with database.write() as session:
        assert outbox.mark_dead(session, pk, "w1", "HTTP 400")
    assert [i for _, i in claim(database, "w1")] == [ids[1]]


def test_retry_waits_for_its_time_and_keeps_order(database):
    ids = make(database, ["a", "a"])
    [(pk, _)] = claim(database, "w1")
    later = utcnow() + dt.timedelta(seconds=30)
    with database.write() as session:
        assert outbox.mark_retry(session, pk, "w1", "HTTP 503", later)
    assert claim(database, "w1") == []  # not due, and the next one must wait behind it
    assert [i for _, i in claim(database, "w1", now=later + dt.timedelta(seconds=1))] == [ids[0]]


def test_an_expired_lease_is_claimed_again_and_the_old_worker_cannot_finish(database):
    [first] = make(database, ["a"])
    [(pk, _)] = claim(database, "dead-worker")
    assert claim(database, "w2") == []
    [(again, again_id)] = claim(database, "w2", now=utcnow() + dt.timedelta(seconds=61))
    assert (again, again_id) == (pk, first)
    with database.write() as session:
        assert not outbox.mark_delivered(session, pk, "dead-worker", None)
        assert outbox.mark_delivered(session, pk, "w2", None)
        row = session.get(Delivery, pk)
        assert (row.status, row.attempts, row.claimed_by) == ("delivered", 2, "w2")


def test_replay_only_from_dead(database):
    [delivery_id] = make(database, ["a"])
    [(pk, _)] = claim(database, "w1")
    with database.write() as session:
        assert not outbox.replay(session, delivery_id)
        outbox.mark_dead(session, pk, "w1", "gave up")
    with database.write() as session:
        assert outbox.replay(session, delivery_id)
        row = session.get(Delivery, pk)
        assert (row.status, row.attempts) == ("pending", 0)
    assert [i for _, i in claim(database, "w1")] == [delivery_id]
