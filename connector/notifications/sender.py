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
from connector.config import Settings
from connector.plugins import DeliveryContext
from connector.plugins import GiveUp
from connector.plugins import Integration
from connector.plugins import TaskResult
from connector.plugins import ThreadRef
from connector.storage.database import Database
from connector.storage.models import Conversation
from connector.storage.models import Event
from connector.storage.models import Message

if t.TYPE_CHECKING:
    from connector.handover import Change

EMAIL = "email"
NOTIFY_HANDOVER = "notify_handover"
SUGGEST_HANDOVER = "suggest_handover"
NOTIFY_SHOPPER = "notify_shopper"
REMIND_UNCLAIMED = "remind_unclaimed"
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

    def queue(kind: str, to: list[str]) -> None:
        outbox.enqueue_task(session, action=kind, task={**payload, "kind": kind, "to": to}, **common)

    if recipients and "handed_over" in types:
        queue(NOTIFY_HANDOVER, recipients)
    if recipients and "handover_suggested" in types:
        queue(SUGGEST_HANDOVER, recipients)
    if recipients and "handover_unclaimed" in types:
        payload["waited_minutes"] = _waited_minutes(session, change)
        payload["gives_back"] = workspace_settings.read_section(
            change.workspace, "handover").get("unclaimed_action") == "give_back"
        queue(REMIND_UNCLAIMED, recipients)
    if "human_joined" in types and conversation.shopper_email and _last_handover_was_automatic(session, conversation.pk):
        queue(NOTIFY_SHOPPER, [conversation.shopper_email])


def _last_handover_was_automatic(session: Session, conversation_pk: int) -> bool:
    trigger = session.scalar(
        select(Event.trigger).where(Event.conversation_pk == conversation_pk, Event.type == "handed_over")
        .order_by(Event.pk.desc()).limit(1)
    )
    return trigger == "automatic"


class EmailChannel(Integration):
    """E-mail, as a built-in channel: each task renders and sends one e-mail."""

    name = EMAIL
    title = "E-mail"
    builtin = True

    def __init__(self, db: Database, settings: Settings, secret_key: str) -> None:
        self.db = db
        self.secret_key = secret_key
        self.base_url = settings.base_url
        self.mailer = Mailer(settings.smtp_url, timeout=settings.delivery_timeout)

    def run_task(self, ctx: DeliveryContext, thread: ThreadRef | None, task: dict[str, t.Any]) -> TaskResult:
        return TaskResult(external_ref=self.deliver(task["kind"], task, ctx.idempotency_key))

    def deliver(self, action: str, payload: dict[str, t.Any], idempotency_key: str) -> str:
        conversation = payload["conversation"]
        base_url = self.base_url
        context: dict[str, t.Any] = {"shopper": compose.shopper_label(conversation), "shop": payload.get("shop")}
        handed = next((e for e in payload["events"] if e["type"] in ("handed_over", "handover_suggested")), None)
        if handed is not None:
            context.update(scenario=handed["scenario"], actor=handed["actor"]["name"], reason=handed["reason"])
        if action in (NOTIFY_HANDOVER, SUGGEST_HANDOVER, REMIND_UNCLAIMED):
            context["transcript"] = self._transcript_tail(conversation["id"])
        if action == NOTIFY_HANDOVER:
            message = compose.build(
                "handover", to=payload["to"], subject="Customer needs your help", message_id=idempotency_key,
                link=f"{base_url.rstrip('/')}/console/conversations/{conversation['id']}", **context)
        elif action == SUGGEST_HANDOVER:
            links = {name: action_link(self.secret_key, base_url, payload["workspace_id"], conversation["id"], name)
                     for name in ("take_over", "let_ai_continue")}
            message = compose.build(
                "suggestion", to=payload["to"], subject=f"You have a new conversation from {context['shopper']}",
                message_id=idempotency_key, **links, **context)
        elif action == REMIND_UNCLAIMED:
            message = compose.build(
                "reminder", to=payload["to"], subject=f"Still waiting: {context['shopper']}",
                message_id=idempotency_key, minutes=payload.get("waited_minutes") or "a few",
                gave_back=bool(payload.get("gives_back")),
                link=f"{base_url.rstrip('/')}/console/conversations/{conversation['id']}", **context)
        elif action == NOTIFY_SHOPPER:
            joined = next((e for e in payload["events"] if e["type"] == "human_joined"), None)
            message = compose.build(
                "agent_joined", to=payload["to"], subject="An agent has joined your conversation",
                message_id=idempotency_key, name=(conversation.get("shopper") or {}).get("name"),
                agent=joined["actor"]["name"] if joined else None, **context)
        else:
            raise GiveUp(f"unknown e-mail action {action!r}")
        return self.mailer.send(message)

    def _transcript_tail(self, conversation_id: str) -> list[dict[str, t.Any]]:
        with self.db.read() as session:
            rows = list(session.scalars(
                select(Message).join(Conversation, Conversation.pk == Message.conversation_pk)
                .where(Conversation.id == conversation_id)
                .order_by(Message.pk.desc()).limit(TRANSCRIPT_TAIL)))
        return [representations.message_json(m, conversation_id) for m in reversed(rows)]


def _waited_minutes(session: Session, change: "Change") -> int | None:
    """How long the unclaimed handover has waited, from its hand over to now."""
    handed = session.scalar(select(Event.at).where(
        Event.conversation_pk == change.conversation.pk, Event.type == "handed_over").order_by(Event.pk.desc()).limit(1))
    if handed is None:
        return None
    return max(1, round((change.conversation.updated_at - handed).total_seconds() / 60))


class EmailListener:
    """Writes the e-mail deliveries of each change in the change's transaction."""

    def in_transaction(self, session: Session, change: "Change") -> None:
        if change.events:
            enqueue_emails(session, change)

    def after_commit(self, change: "Change") -> None:
        return None
