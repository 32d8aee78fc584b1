"""How the core applies what plugins translate: inbound events, at most once.

A plugin hands the core :class:`~connector.plugins.InboundEvent`\\ s, through the host in a
web request (:func:`record`, :func:`defer`) or returned from a task. :func:`apply_event`
then, inside the caller's write transaction,

1. finds the conversation through the thread, among the workspaces whose credentials
   authenticated the event (links are unique per workspace: two helpdesk accounts may
   number tickets alike),
2. drops our own posts echoed back by the vendor,
3. drops redeliveries (a receipt per workspace, plugin and vendor event id, written with
   the command, so a crash never loses an event and a retry never doubles it),
4. runs the command through the handover service with the plugin as its source, so the
   outbox mirrors it to every other linked tool and to the chat platform, never back,
5. queues :meth:`~connector.plugins.Integration.tell_agent` when the command is refused
   and the event says how to reach the agent.

An event for a thread whose first post is in flight is parked and applied once its link
is recorded (:func:`connector.delivery.outbox.unpark`), never answered and dropped.
"""

from __future__ import annotations

import dataclasses
import logging
import typing as t

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connector import domain
from connector.acknowledgements import Deferral
from connector.delivery import outbox
from connector.metrics import INBOUND_EVENTS
from connector.plugins import InboundEvent
from connector.plugins import InboundResult
from connector.plugins import text
from connector.storage.models import Conversation
from connector.storage.models import Receipt
from connector.storage.models import Workspace
from connector.storage.models import utcnow

if t.TYPE_CHECKING:
    from connector.app import Connector

log = logging.getLogger(__name__)

COMMANDS: dict[str, domain.Command] = {
    "hand_over": domain.Command.HAND_OVER,
    "give_back": domain.Command.GIVE_BACK,
    "resolve": domain.Command.RESOLVE,
}


def event_to_json(event: InboundEvent) -> dict[str, t.Any]:
    values = dataclasses.asdict(event)
    values["attachments"] = [dict(a) for a in event.attachments]
    values["workspaces"] = sorted(event.workspaces) if event.workspaces is not None else None
    return values


def event_from_json(values: dict[str, t.Any]) -> InboundEvent:
    values = dict(values)
    values["attachments"] = tuple(values.get("attachments") or ())
    if values.get("workspaces") is not None:
        values["workspaces"] = frozenset(values["workspaces"])
    return InboundEvent(**values)


def _observe(event: InboundEvent, result: InboundResult) -> InboundResult:
    INBOUND_EVENTS.labels(event.plugin, result.outcome).inc()
    log.info("inbound %s", result.outcome, extra={
        "action": f"inbound_{result.outcome}", "plugin": event.plugin, "code": result.code})
    return result


def apply_event(connector: "Connector", session: Session, event: InboundEvent) -> InboundResult:
    """Apply one event in ``session``'s write transaction; see the module docstring."""
    link = outbox.find_link(session, event.plugin, event.thread_id, event.workspaces)
    if link is None:
        return InboundResult("unknown_thread")
    conversation = connector.handover.lock(session, link.workspace_pk, link.conversation_pk)
    if event.conversation_id is not None and event.conversation_id != conversation.id:
        return InboundResult("unknown_thread")
    if event.external_message_id and outbox.is_echo(session, link.workspace_pk, event.plugin,
                                                    event.external_message_id):
        return InboundResult("echo", conversation.id)
    # a redelivery fails on the receipt's unique key, first thing inside the savepoint below
    receipt = (event.plugin, f"{link.workspace_pk}:{event.event_id}")
    workspace = session.get(Workspace, link.workspace_pk)
    actor = domain.Actor(kind="human", name=event.actor_name)
    service = connector.handover
    try:
        with session.begin_nested():  # a refusal or a duplicate undoes this event only
            if event.action == "message":
                if event.take_over:
                    service.run_command(workspace, conversation.id, domain.Command.HAND_OVER, actor=actor,
                                        source=event.plugin, reason=event.reason, session=session)
                service.post_message(
                    workspace, conversation.id, author="human", text=event.text, author_name=event.actor_name,
                    attachments=list(event.attachments), source=event.plugin, receipt=receipt, session=session,
                )
            else:
                service.run_command(workspace, conversation.id, COMMANDS[event.action], actor=actor,
                                    source=event.plugin, reason=event.reason, receipt=receipt, session=session)
    except IntegrityError:
        return InboundResult("duplicate", conversation.id)
    except domain.Refused as refused:
        if event.agent is not None:
            outbox.enqueue(session, workspace_pk=link.workspace_pk, conversation_pk=link.conversation_pk,
                           plugin=event.plugin, action=outbox.TELL_AGENT, now=utcnow(), payload={
                               "agent": event.agent, "event": event_to_json(event),
                               "refusal": {"code": refused.code, "text": text.refusal_for_agents(refused.code)}})
        return InboundResult("refused", conversation.id, refused.code)
    return InboundResult("applied", conversation.id)


def record(connector: "Connector", event: InboundEvent) -> InboundResult:
    """Apply one event now, in its own transaction (a button, a sidebar action)."""
    try:
        with connector.db.write() as session:
            result = apply_event(connector, session, event)
            if result.outcome == "unknown_thread" and _parkable(connector, session, event.plugin, event.workspaces):
                result = apply_event(connector, session, event)  # the link may have landed meanwhile
                if result.outcome == "unknown_thread":
                    outbox.park(session, event.plugin, event.thread_id, event.workspaces,
                                {"event": event_to_json(event)})
                    result = InboundResult("parked")
    except IntegrityError:  # the same event, received twice at once
        result = InboundResult("duplicate")
    _wake(connector, result)
    return _observe(event, result)


def defer(
    connector: "Connector", *, plugin: str, event_id: str, thread_id: str, task: dict[str, t.Any],
    workspaces: t.Collection[int] | None = None,
) -> InboundResult:
    """Persist a vendor event now and process it later, as a task of the plugin.

    A receipt for ``event_id`` and ``task`` for
    :meth:`~connector.plugins.Integration.run_task` are written together, in order with the
    conversation's other deliveries to that plugin, and with the receipts and tasks of other
    requests arriving at the same time (:mod:`connector.acknowledgements`). A redelivery is
    a duplicate.
    """
    allowed = frozenset(workspaces) if workspaces is not None else None
    source = f"{plugin}:event"
    # The thread is looked up before the write (and kept: a link, once recorded, keeps its
    # conversation). Then the write is two inserts; the receipt's unique key tells a
    # redelivery.
    known = connector.acks.threads.find(plugin, thread_id, allowed)
    if known is not None:
        workspace_pk, conversation_pk, conversation_id = known
        queued = connector.acks.write(Deferral(source, f"{workspace_pk}:{event_id}", workspace_pk, conversation_pk,
                                               plugin, task))
        result = InboundResult("queued" if queued else "duplicate", conversation_id)
        _wake(connector, result)
        INBOUND_EVENTS.labels(plugin, result.outcome).inc()
        return result
    try:  # no thread yet: it may be opening right now (park the event), or unknown
        with connector.db.write() as session:
            link = outbox.find_link(session, plugin, thread_id, allowed)
            if link is None:
                result = InboundResult("unknown_thread")
                if _parkable(connector, session, plugin, allowed):
                    link = outbox.find_link(session, plugin, thread_id, allowed)  # recorded meanwhile?
                    if link is None:
                        outbox.park(session, plugin, thread_id, allowed, {"task": task})
                        result = InboundResult("parked")
            if link is not None:
                conversation_id = session.scalar(select(Conversation.id).where(Conversation.pk == link.conversation_pk))
                key = f"{link.workspace_pk}:{event_id}"
                result = InboundResult("duplicate", conversation_id)
                seen = session.scalar(select(Receipt.pk).where(Receipt.source == source, Receipt.key == key))
                if seen is None:
                    session.add(Receipt(source=source, key=key))
                    outbox.enqueue_task(session, workspace_pk=link.workspace_pk,
                                        conversation_pk=link.conversation_pk, plugin=plugin, task=task)
                    result = InboundResult("queued", conversation_id)
    except IntegrityError:  # the same event, received twice at once
        result = InboundResult("duplicate")
    _wake(connector, result)
    INBOUND_EVENTS.labels(plugin, result.outcome).inc()
    return result


def _parkable(connector: "Connector", session: Session, plugin: str, workspaces: t.Collection[int] | None) -> bool:
    return outbox.opening_threads(session, plugin, workspaces, lock=connector.db.lock_for_update())


def _wake(connector: "Connector", result: InboundResult) -> None:
    if result.outcome == "queued" and connector.worker is not None:
        connector.worker.wake()
