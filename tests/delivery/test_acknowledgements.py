"""Group commit of acknowledged webhooks (connector.acknowledgements): each event's receipt and
task, many requests per transaction, every event queued once, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event

from connector import inbound
from connector.acknowledgements import AckWriter
from connector.delivery import outbox
from connector.storage.models import Conversation
from connector.storage.models import Delivery
from connector.storage.models import Receipt


@pytest.fixture
def thread(connector, api):
    """A conversation with a linked thread ``T1`` of the plugin ``replies``."""
    cid = api.post("/v1/conversations").get_json()["id"]
    with connector.db.write() as session:
        conversation = session.query(Conversation).filter_by(id=cid).one()
        outbox.store_link(session, workspace_pk=conversation.workspace_pk, conversation_pk=conversation.pk,
                          plugin="replies", external_id="T1", data={})
        return cid, conversation.workspace_pk, conversation.pk


def defer(connector, event_id: str, workspace_pk: int):
    return inbound.defer(connector, plugin="replies", event_id=event_id, thread_id="T1",
                         task={"kind": "reply", "id": event_id}, workspaces={workspace_pk})


def queued_tasks(connector) -> list[str]:
    with connector.db.read() as session:
        return [d.payload["task"]["id"] for d in
                session.query(Delivery).filter_by(plugin="replies", action="task").order_by(Delivery.pk)]


def held_first_batch(monkeypatch, writer: AckWriter) -> tuple[threading.Event, threading.Event]:
    """Hold the first batch's transaction open until released, so the next requests queue up."""
    entered, release = threading.Event(), threading.Event()
    original = writer._write_all
    calls = [0]

    def write_all(batch):
        calls[0] += 1
        if calls[0] == 1:
            entered.set()
            assert release.wait(30)
        original(batch)

    monkeypatch.setattr(writer, "_write_all", write_all)
    return entered, release


def test_requests_arriving_together_share_one_transaction_and_each_event_is_queued_once(
        connector, thread, monkeypatch):
    cid, workspace_pk, _ = thread
    entered, release = held_first_batch(monkeypatch, connector.acks)
    results: dict[str, list[str]] = {}
    lock = threading.Lock()

    def send(event_id: str) -> None:
        outcome = defer(connector, event_id, workspace_pk)
        with lock:
            results.setdefault(event_id, []).append(outcome.outcome)

    first = threading.Thread(target=send, args=("Ev0",))
    first.start()
    assert entered.wait(30)
    # while the first batch is held: 20 events, and 5 of them twice (a vendor's retry racing its original)
    ids = [f"Ev{n}" for n in range(1, 21)]
    others = [threading.Thread(target=send, args=(event_id,)) for event_id in ids + ids[:5]]
    for other in others:
        other.start()
    while connector.acks.batcher.waiting() < len(others):
        threading.Event().wait(0.01)
    arrived = list(dict.fromkeys(ticket.item.key.partition(":")[2] for ticket in connector.acks.batcher._pending))
    assert sorted(arrived) == sorted(ids)
    commits = [0]
    event.listen(connector.db.engine, "commit", lambda connection: commits.__setitem__(0, commits[0] + 1))
    release.set()
    for other in [first, *others]:
        other.join(30)
    assert commits[0] == 2  # the held batch, then all 25 waiting requests together
    assert queued_tasks(connector) == ["Ev0", *arrived]  # each once, in the order they arrived
    assert results["Ev0"] == ["queued"]
    for event_id in ids[:5]:
        assert sorted(results[event_id]) == ["duplicate", "queued"]
    for event_id in ids[5:]:
        assert results[event_id] == ["queued"]
    # and a later redelivery is a duplicate too
    assert defer(connector, "Ev3", workspace_pk).outcome == "duplicate"
    assert defer(connector, "Ev3", workspace_pk).conversation_id == cid
    with connector.db.read() as session:
        assert session.query(Receipt).filter_by(source="replies:event").count() == 21


def test_one_bad_event_fails_alone_and_the_rest_of_its_batch_is_written(connector, thread, monkeypatch):
    from connector.acknowledgements import Deferral

    _, workspace_pk, conversation_pk = thread
    entered, release = held_first_batch(monkeypatch, connector.acks)
    outcomes: dict[str, object] = {}

    def write(item: Deferral) -> None:
        try:
            outcomes[item.key] = connector.acks.write(item)
        except Exception as error:  # noqa: BLE001 - what that request would raise
            outcomes[item.key] = error

    def item(key: str, conversation: int) -> Deferral:
        return Deferral("replies:event", key, workspace_pk, conversation, "replies", {"id": key})

    first = threading.Thread(target=write, args=(item("a", conversation_pk),))
    first.start()
    assert entered.wait(30)
    batch = [threading.Thread(target=write, args=(item(key, conversation),))
             for key, conversation in (("b", conversation_pk), ("bad", 10**9), ("c", conversation_pk))]
    for request in batch:
        request.start()
    while connector.acks.batcher.waiting() < len(batch):
        threading.Event().wait(0.01)
    release.set()
    for request in [first, *batch]:
        request.join(30)
    assert outcomes["a"] is True and outcomes["b"] is True and outcomes["c"] is True
    assert isinstance(outcomes["bad"], Exception)  # no such conversation: that request fails (5xx, redelivered)
    assert queued_tasks(connector) == ["a", "b", "c"]
    with connector.db.read() as session:  # nothing half-written for the bad one
        assert session.query(Receipt).filter_by(key="bad").count() == 0


def test_a_known_thread_is_not_read_again_and_an_unknown_one_is(connector, thread):
    _, workspace_pk, _ = thread
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(connector.db.engine, "before_cursor_execute", seen)
    try:
        assert defer(connector, "Ev1", workspace_pk).outcome == "queued"
        assert any("FROM links" in s for s in statements)
        statements.clear()
        assert defer(connector, "Ev2", workspace_pk).outcome == "queued"
        assert not any("FROM links" in s for s in statements)  # kept from the first
        assert inbound.defer(connector, plugin="replies", event_id="Ev3", thread_id="T-unknown",
                             task={"id": "Ev3"}, workspaces={workspace_pk}).outcome == "unknown_thread"
        assert inbound.defer(connector, plugin="replies", event_id="Ev4", thread_id="T-unknown",
                             task={"id": "Ev4"}, workspaces={workspace_pk}).outcome == "unknown_thread"
        assert sum("FROM links" in s for s in statements) >= 2  # not found is never kept
    finally:
        event.remove(connector.db.engine, "before_cursor_execute", seen)
    assert queued_tasks(connector) == ["Ev1", "Ev2"]
