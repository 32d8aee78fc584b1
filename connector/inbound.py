"""The one way a plugin turns a vendor's event into a domain command.

Every plugin blueprint authenticates the vendor's request, parses it into an
:class:`InboundEvent` and calls :func:`handle_inbound`, which

1. finds the conversation through the thread or ticket it came from,
2. drops our own posts echoed back by the vendor,
3. drops redeliveries (a receipt per plugin and vendor event id, written in the same
   transaction as the command, so a crash never loses an event and a retry never doubles it),
4. runs the command through the handover service with the plugin as its source, so the
   outbox mirrors it to every other linked tool and to the chat platform, never back.
"""

from __future__ import annotations

import dataclasses
import logging
import typing as t

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from connector import domain
from connector.delivery import outbox
from connector.metrics import INBOUND_EVENTS
from connector.storage.models import Conversation
from connector.storage.models import Link
from connector.storage.models import Receipt
from connector.storage.models import Workspace

if t.TYPE_CHECKING:
    from connector.app import Connector

log = logging.getLogger(__name__)

Action = t.Literal["message", "hand_over", "give_back", "resolve"]
COMMANDS: dict[str, domain.Command] = {
    "hand_over": domain.Command.HAND_OVER,
    "give_back": domain.Command.GIVE_BACK,
    "resolve": domain.Command.RESOLVE,
}


@dataclasses.dataclass(frozen=True)
class InboundEvent:
    """A native event, already authenticated and parsed by the plugin."""

    plugin: str
    #: the vendor's id of this event (or of the message/action it carries), for dedupe
    event_id: str
    #: the native thread or ticket it happened in
    thread_id: str
    action: Action
    #: the agent who acted, as the vendor names them
    actor_name: str | None = None
    text: str = ""
    attachments: tuple[dict[str, str], ...] = ()
    #: the vendor's id of the message, to recognise our own posts coming back
    external_message_id: str | None = None
    reason: str | None = None
    #: for a message while the AI is in charge: hand over first ("Take over and send")
    take_over: bool = False
    #: the conversation the vendor's event names (a button's value): must match the thread's
    conversation_id: str | None = None
    #: the workspaces (pks) whose credentials authenticated the request; a thread of any
    #: other workspace is treated as unknown. None: the plugin routed by credentials already
    workspaces: frozenset[int] | None = None


@dataclasses.dataclass(frozen=True)
class InboundResult:
    #: applied, duplicate, echo, refused or unknown_thread
    outcome: str
    conversation_id: str | None = None
    #: the refusal code, when refused
    code: str | None = None


def handle_inbound(connector: "Connector", event: InboundEvent) -> InboundResult:
    """Apply one vendor event at most once; see the module docstring."""
    result = _handle(connector, event)
    INBOUND_EVENTS.labels(event.plugin, result.outcome).inc()
    log.info("inbound %s", result.outcome, extra={
        "action": f"inbound_{result.outcome}", "plugin": event.plugin, "code": result.code})
    return result


def defer(
    connector: "Connector", *, plugin: str, event_id: str, thread_id: str, task: dict[str, t.Any],
    workspaces: t.Collection[int] | None = None,
) -> InboundResult:
    """Persist a vendor event now and process it later, as a task of the plugin.

    For vendors that must be answered within a deadline (Slack: 3 s) while the work needs
    calls back to them (who wrote this, fetch the file): one short transaction writes a
    receipt for ``event_id`` and queues ``task`` for :meth:`Integration.run_task`, in order
    with the conversation's other deliveries to that plugin. A redelivery is a duplicate.
    """
    source = f"{plugin}:event"
    try:
        with connector.db.write() as session:
            link = session.scalar(select(Link).where(Link.plugin == plugin, Link.external_id == thread_id))
            conversation = session.get(Conversation, link.conversation_pk) if link is not None else None
            if conversation is None or (workspaces is not None and conversation.workspace_pk not in workspaces):
                result = InboundResult("unknown_thread")  # none, or another tenant's
            else:
                result = InboundResult("duplicate", conversation.id)
                seen = session.scalar(select(Receipt.pk).where(Receipt.source == source, Receipt.key == event_id))
                if seen is None:
                    session.add(Receipt(source=source, key=event_id))
                    outbox.enqueue_task(session, workspace_pk=conversation.workspace_pk,
                                        conversation_pk=conversation.pk, plugin=plugin, task=task)
                    result = InboundResult("queued", conversation.id)
    except IntegrityError:  # the same event, received twice at once
        result = InboundResult("duplicate")
    if result.outcome == "queued" and connector.worker is not None:
        connector.worker.wake()
    INBOUND_EVENTS.labels(plugin, result.outcome).inc()
    return result


def _handle(connector: "Connector", event: InboundEvent) -> InboundResult:
    with connector.db.read() as session:
        found = session.execute(
            select(Conversation, Workspace)
            .join(Link, Link.conversation_pk == Conversation.pk)
            .join(Workspace, Workspace.pk == Conversation.workspace_pk)
            .where(Link.plugin == event.plugin, Link.external_id == event.thread_id)
        ).first()
        if found is None:
            return InboundResult("unknown_thread")
        conversation, workspace = found
        if event.conversation_id is not None and event.conversation_id != conversation.id:
            return InboundResult("unknown_thread")
        if event.workspaces is not None and conversation.workspace_pk not in event.workspaces:
            return InboundResult("unknown_thread")  # another tenant's thread: not for these credentials
        if event.external_message_id and outbox.is_echo(session, event.plugin, event.external_message_id):
            return InboundResult("echo", conversation.id)
        seen = session.scalar(select(Receipt.pk).where(Receipt.source == event.plugin, Receipt.key == event.event_id))
        if seen is not None:
            return InboundResult("duplicate", conversation.id)

    actor = domain.Actor(kind="human", name=event.actor_name)
    receipt = (event.plugin, event.event_id)
    service = connector.handover
    try:
        if event.action == "message":
            if event.take_over:
                service.run_command(workspace, conversation.id, domain.Command.HAND_OVER, actor=actor,
                                    source=event.plugin, reason=event.reason)
            service.post_message(
                workspace, conversation.id, author="human", text=event.text, author_name=event.actor_name,
                attachments=list(event.attachments), source=event.plugin, receipt=receipt,
            )
        else:
            service.run_command(workspace, conversation.id, COMMANDS[event.action], actor=actor,
                                source=event.plugin, reason=event.reason, receipt=receipt)
    except IntegrityError:
        return InboundResult("duplicate", conversation.id)
    except domain.Refused as refused:
        return InboundResult("refused", conversation.id, refused.code)
    return InboundResult("applied", conversation.id)
