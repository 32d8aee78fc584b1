"""Which e-mails a change causes (in its transaction) and sending them (from the worker)."""

from __future__ import annotations

import typing as t

from sqlalchemy import select
from sqlalchemy.orm import Session

from connector import representations
from connector import workspace_settings
from connector.delivery import outbox
from connector.notifications import compose
from connector.notifications.links import action_link
from connector.notifications.mailer import Mailer
from connector.plugins import GiveUp
from connector.storage.models import Event
from connector.storage.models import Message

if t.TYPE_CHECKING:
    from connector.app import Connector
    from connector.handover import Change

EMAIL = "email"
NOTIFY_HANDOVER = "notify_handover"
SUGGEST_HANDOVER = "suggest_handover"
NOTIFY_SHOPPER = "notify_shopper"
#: messages quoted in an e-mail
TRANSCRIPT_TAIL = 6


def enqueue_emails(session: Session, change: "Change") -> None:
    """Outbox rows for the e-mails this change causes."""
    types = {event.type for event in change.events}
    conversation = change.conversation
    recipients = workspace_settings.read_section(change.workspace, "notifications").get("recipients", [])
    payload = {
        "conversation": representations.conversation_json(conversation),
        "events": [representations.event_json(e, conversation.id) for e in change.events],
        "shop": change.workspace.name,
        "workspace_id": change.workspace.id,
    }
    common = {"workspace_pk": change.workspace.pk, "conversation_pk": conversation.pk, "plugin": EMAIL,
              "now": conversation.updated_at}
    if recipients and "handed_over" in types:
        outbox.enqueue(session, action=NOTIFY_HANDOVER, payload={**payload, "to": recipients}, **common)
    if recipients and "handover_suggested" in types:
        outbox.enqueue(session, action=SUGGEST_HANDOVER, payload={**payload, "to": recipients}, **common)
    if "human_joined" in types and conversation.shopper_email and _last_handover_was_automatic(session, conversation.pk):
        outbox.enqueue(session, action=NOTIFY_SHOPPER, payload={**payload, "to": [conversation.shopper_email]}, **common)


def _last_handover_was_automatic(session: Session, conversation_pk: int) -> bool:
    trigger = session.scalar(
        select(Event.trigger).where(Event.conversation_pk == conversation_pk, Event.type == "handed_over")
        .order_by(Event.pk.desc()).limit(1)
    )
    return trigger == "automatic"


class EmailSender:
    """Renders and sends one e-mail delivery."""

    def __init__(self, connector: "Connector") -> None:
        self.connector = connector
        self.mailer = Mailer(connector.settings.smtp_url, timeout=connector.settings.delivery_timeout)

    def deliver(self, action: str, payload: dict[str, t.Any], idempotency_key: str, conversation_pk: int) -> str:
        conversation = payload["conversation"]
        base_url = self.connector.settings.base_url
        context: dict[str, t.Any] = {"shopper": compose.shopper_label(conversation), "shop": payload.get("shop")}
        handed = next((e for e in payload["events"] if e["type"] in ("handed_over", "handover_suggested")), None)
        if handed is not None:
            context.update(scenario=handed["scenario"], actor=handed["actor"]["name"], reason=handed["reason"])
        if action in (NOTIFY_HANDOVER, SUGGEST_HANDOVER):
            context["transcript"] = self._transcript_tail(conversation_pk, conversation["id"])
        if action == NOTIFY_HANDOVER:
            message = compose.build(
                "handover", to=payload["to"], subject="Customer needs your help", message_id=idempotency_key,
                link=f"{base_url.rstrip('/')}/console/conversations/{conversation['id']}", **context)
        elif action == SUGGEST_HANDOVER:
            links = {name: action_link(self.connector.secret_key, base_url, payload["workspace_id"], conversation["id"], name)
                     for name in ("take_over", "let_ai_continue")}
            message = compose.build(
                "suggestion", to=payload["to"], subject=f"You have a new conversation from {context['shopper']}",
                message_id=idempotency_key, **links, **context)
        elif action == NOTIFY_SHOPPER:
            joined = next((e for e in payload["events"] if e["type"] == "human_joined"), None)
            message = compose.build(
                "agent_joined", to=payload["to"], subject="An agent has joined your conversation",
                message_id=idempotency_key, name=(conversation.get("shopper") or {}).get("name"),
                agent=joined["actor"]["name"] if joined else None, **context)
        else:
            raise GiveUp(f"unknown e-mail action {action!r}")
        return self.mailer.send(message)

    def _transcript_tail(self, conversation_pk: int, conversation_id: str) -> list[dict[str, t.Any]]:
        with self.connector.db.read() as session:
            rows = list(session.scalars(
                select(Message).where(Message.conversation_pk == conversation_pk)
                .order_by(Message.pk.desc()).limit(TRANSCRIPT_TAIL)))
        return [representations.message_json(m, conversation_id) for m in reversed(rows)]


class EmailListener:
    """Writes the e-mail deliveries of each change in the change's transaction."""

    def in_transaction(self, session: Session, change: "Change") -> None:
        if change.events:
            enqueue_emails(session, change)

    def after_commit(self, change: "Change") -> None:
        return None
