"""The JSON shapes of conversations, messages and events, the same on every channel.

The platform API, the WebSocket stream and the outgoing platform webhooks all show these
shapes, so they are built in one place.
"""

from __future__ import annotations

import datetime as dt
import typing as t

from connector.storage import repository
from connector.storage.models import new_id
from connector.storage.models import Conversation
from connector.storage.models import Event
from connector.storage.models import Message

if t.TYPE_CHECKING:
    from connector.handover import Change


def timestamp(value: dt.datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, to the millisecond."""
    return value.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_moment(value: str) -> dt.datetime | None:
    """An ISO 8601 date or time from a query string (UTC when it names no zone); None if it is not one."""
    try:
        at = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.timezone.utc)


def conversation_json(conversation: Conversation) -> dict[str, t.Any]:
    state = repository.state_of(conversation)
    return {
        "id": conversation.id,
        "external_id": conversation.external_id,
        "status": state.status.value,
        "controller": state.controller.value,
        "needs_you": state.needs_you,
        "ai_may_reply": state.ai_may_reply,
        "ever_handed_over": state.ever_handed_over,
        "ai_resolution": state.is_ai_resolution,
        "shopper": {"name": conversation.shopper_name, "email": conversation.shopper_email},
        "version": conversation.version,
        "created_at": timestamp(conversation.created_at),
        "updated_at": timestamp(conversation.updated_at),
    }


def message_json(message: Message, conversation_id: str) -> dict[str, t.Any]:
    return {
        "id": message.id,
        "conversation_id": conversation_id,
        "author": message.author,
        "author_name": message.author_name,
        "text": message.text,
        "attachments": list(message.attachments or []),
        "created_at": timestamp(message.created_at),
        "source": message.source,
    }


def event_json(event: Event, conversation_id: str) -> dict[str, t.Any]:
    return {
        "id": event.id,
        "conversation_id": conversation_id,
        "type": event.type,
        "actor": {"kind": event.actor_kind, "name": event.actor_name},
        "trigger": event.trigger,
        "reason": event.reason,
        "scenario": event.scenario,
        "source": event.source,
        "at": timestamp(event.at),
    }


def change_events(change: "Change") -> list[dict[str, t.Any]]:
    """The public events of one change: ``message.created`` and ``conversation.updated``.

    The same objects go to the chat platform's webhook and to the live stream.
    """
    conversation = conversation_json(change.conversation)
    base = {"workspace_id": change.workspace.id, "conversation": conversation}
    events = []
    if change.message is not None:
        events.append({
            "id": new_id("evt"), "type": "message.created", "at": timestamp(change.message.created_at),
            **base, "message": message_json(change.message, change.conversation.id),
        })
    if change.state_changed:
        events.append({
            "id": new_id("evt"), "type": "conversation.updated", "at": timestamp(change.conversation.updated_at),
            **base,
        })
    return events
