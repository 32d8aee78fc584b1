"""A run: one conversation's queued tasks claimed with the first, applied in order, stored in
one transaction; a failure or a changed state ends it, and what it left runs next, uncounted.
On SQLite and PostgreSQL."""

from __future__ import annotations

from pydantic import BaseModel
from pydantic import SecretStr
from sqlalchemy import event

from connector.app import build_connector
from connector.app import create_app
from connector.delivery import outbox
from connector.delivery.worker import DeliveryWorker
from connector.plugin_registry import PluginRegistry
from connector.plugins import InboundEvent
from connector.plugins import Integration
from connector.plugins import RetryLater
from connector.plugins import TaskResult
from connector.plugins import ThreadRef
from connector.storage import repository
from connector.storage.models import Conversation
from connector.storage.models import Delivery
from connector.storage.models import Message
from connector.storage.models import Workspace
from tests.conftest import ApiClient


class RepliesSettings(BaseModel):
    token: SecretStr


class Replies(Integration):
    """Each task is an agent's reply, read back from the "vendor": a message event for the core."""

    name = "replies"
    title = "Replies"
    settings_model = RepliesSettings

    def __init__(self) -> None:
        self.fail = set()
        self.ask = set()
        self.ran: list[int] = []
        #: the controller each asking task saw
        self.saw: dict[int, str] = {}
        self.tokens: list[str] = []

    def open_thread(self, ctx, conversation, transcript, events):
        return ThreadRef("T1")

    def mirror_message(self, ctx, thread, conversation, message):
        return None

    def mirror_state(self, ctx, thread, conversation, events):
        return None

    def run_task(self, ctx, thread, task):
        n = task["n"]
        self.ran.append(n)
        self.tokens.append(ctx.settings.token.get_secret_value())
        if n in self.fail:
            raise RetryLater("the vendor is down")
        if n in self.ask:
            self.saw[n] = ctx.conversation().controller
        return TaskResult(events=(InboundEvent(
            plugin=self.name, event_id=f"reply:{n}", thread_id=thread.external_id, action="message",
            actor_name="Agent", text=f"reply {n}", external_message_id=f"m{n}", take_over=bool(task.get("take_over")),
            reason="replied" if task.get("take_over") else None),))


def set_up(settings, database, make_workspace, *, hand_over=True):
    plugin = Replies()
    connector = build_connector(settings, db=database, plugins=PluginRegistry([plugin]))
    api = ApiClient(create_app(connector=connector), make_workspace("pro")[1])
    with database.write() as session:
        workspace = repository.workspace_for_key(session, api.api_key)
        connector.integrations.save(session, workspace, "replies", {"token": "t-1"})
    cid = api.post("/v1/conversations").get_json()["id"]
    if hand_over:
        api.post(f"/v1/conversations/{cid}/handover")
    with database.write() as session:
        conversation = session.query(Conversation).filter_by(id=cid).one()
        outbox.store_link(session, workspace_pk=conversation.workspace_pk, conversation_pk=conversation.pk,
                          plugin="replies", external_id="T1", data={})
        keys = (conversation.workspace_pk, conversation.pk)
    worker = DeliveryWorker(connector, worker_id="w")
    while worker.run_once():  # what the set-up queued (its own transactions), and the sweep
        pass
    return plugin, connector, worker, keys


def queue(database, keys, tasks):
    with database.write() as session:
        for task in tasks:
            outbox.enqueue_task(session, workspace_pk=keys[0], conversation_pk=keys[1], plugin="replies", task=task)


def replies(database):
    with database.read() as session:
        return [m.text for m in session.query(Message).filter_by(author="human").order_by(Message.pk)]


def tasks(database):
    with database.read() as session:
        return [(d.payload["task"]["n"], d.status, d.attempts) for d in
                session.query(Delivery).filter_by(plugin="replies", action="task").order_by(Delivery.pk)]


def commits_during(database, call):
    count = [0]

    def counted(connection):
        count[0] += 1

    event.listen(database.engine, "commit", counted)
    try:
        result = call()
    finally:
        event.remove(database.engine, "commit", counted)
    return result, count[0]


def test_a_run_of_replies_is_claimed_applied_in_order_and_stored_in_one_transaction(settings, database,
                                                                                    make_workspace):
    plugin, connector, worker, keys = set_up(settings, database, make_workspace)
    queue(database, keys, [{"n": n} for n in range(12)])
    claimed, commits = commits_during(database, worker.run_once)
    assert claimed == 12
    assert commits == 2  # the claim, then the run's outcomes: not one per reply
    assert replies(database) == [f"reply {n}" for n in range(12)]
    assert {status for _, status, _ in tasks(database)} == {"delivered"}
    assert plugin.tokens == ["t-1"] * 12


def test_a_failure_ends_the_run_what_came_before_stays_and_the_rest_waits_uncounted(settings, database,
                                                                                    make_workspace):
    plugin, connector, worker, keys = set_up(settings, database, make_workspace)
    plugin.fail = {2}
    queue(database, keys, [{"n": n} for n in range(5)])
    worker.run_once()
    assert plugin.ran == [0, 1, 2]  # nothing after the failure was tried
    assert replies(database) == ["reply 0", "reply 1"]
    assert tasks(database) == [(0, "delivered", 1), (1, "delivered", 1), (2, "pending", 1),
                               (3, "pending", 0), (4, "pending", 0)]
    plugin.fail = set()
    with database.write() as session:  # its retry is due now
        session.query(Delivery).filter_by(status="pending").update({"next_attempt_at": Delivery.created_at})
    worker.run_once()
    assert replies(database) == [f"reply {n}" for n in range(5)]  # in order, each once
    assert [n for n, status, _ in tasks(database) if status == "delivered"] == [0, 1, 2, 3, 4]


def test_a_task_that_reads_the_state_an_earlier_one_changed_waits_for_the_next_run(settings, database,
                                                                                   make_workspace):
    plugin, connector, worker, keys = set_up(settings, database, make_workspace, hand_over=False)
    plugin.ask = {0, 2}
    queue(database, keys, [{"n": 0}, {"n": 1, "take_over": True}, {"n": 2}, {"n": 3}])
    assert plugin_saw_after(worker) == 2  # 0 and 1, then 2 asked after 1 took over: the run ended
    assert plugin.saw == {0: "ai"}
    assert [status for _, status, _ in tasks(database)] == ["delivered", "delivered", "pending", "pending"]
    assert [attempts for _, _, attempts in tasks(database)][2:] == [0, 0]
    worker.run_once()
    assert plugin.saw == {0: "ai", 2: "human"}  # it saw the takeover, as it would one at a time
    assert replies(database)[-2:] == ["reply 2", "reply 3"]


def plugin_saw_after(worker):
    """Run once; how many tasks were delivered in it."""
    before = sum(1 for _, status, _ in tasks(worker.connector.db) if status == "delivered")
    worker.run_once()
    return sum(1 for _, status, _ in tasks(worker.connector.db) if status == "delivered") - before


def test_settings_are_decrypted_once_per_worker_until_they_change(settings, database, make_workspace):
    plugin, connector, worker, keys = set_up(settings, database, make_workspace)
    decrypted = []
    original = connector.integrations.decrypt

    def counting(row):
        decrypted.append(row.plugin)
        return original(row)

    connector.integrations.decrypt = counting
    worker = DeliveryWorker(connector, worker_id="fresh")  # its cache is empty
    for n in range(3):  # three claims, one task each
        queue(database, keys, [{"n": n}])
        worker.run_once()
    assert decrypted == ["replies"]
    with database.write() as session:
        workspace = session.get(Workspace, keys[0])
        connector.integrations.save(session, workspace, "replies", {"token": "t-2"})
    queue(database, keys, [{"n": 9}])
    worker.run_once()
    assert plugin.tokens[-1] == "t-2"  # a change is seen at once
