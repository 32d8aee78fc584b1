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


def in_charge(conversation: dict[str, t.Any], events: list[dict[str, t.Any]]) -> tuple[str, str | None]:
    """Who has the conversation, as agents' tools show it: ``(state, who took it)``.

    ``state`` is ``ai`` (AI in charge), ``needs_you`` (handed over, nobody took it yet),
    ``taken`` (an agent took it over or replied) or ``resolved``. ``events`` is the
    conversation's event log (JSON shapes), oldest first.
    """
    if conversation["status"] == "resolved":
        return "resolved", None
    if conversation["controller"] == "ai":
        return "ai", None
    taker = None
    for event in events:
        if event["type"] == "handed_over":
            person = event["actor"]["kind"] == "human" and event["actor"].get("name")
            taker = event["actor"]["name"] if person and event.get("source") not in ("api", None) else None
        elif event["type"] == "human_joined" and taker is None:
            taker = event["actor"].get("name") or "an agent"
    return ("taken", taker) if taker else ("needs_you", None)


def agent_actions(conversation: dict[str, t.Any], state: str) -> list[str]:
    """The actions an agent's tool offers in that state: take_over, give_back, resolve."""
    actions = []
    if conversation["controller"] == "ai" or conversation["status"] == "resolved":
        actions.append("take_over")  # with a human in charge there is nothing to take: they reply
    if conversation["controller"] == "human" and conversation["status"] == "open":
        actions.append("give_back")
    if conversation["status"] == "open":
        actions.append("resolve")
    return actions


_NAMELESS = {"ai": "the AI", "shopper": "the shopper", "system": "the connector"}


def actor_phrase(event: dict[str, t.Any]) -> str:
    """Who made an event and from where, as agents' tools write it: "Sam (slack)", "the AI"."""
    actor = event["actor"]
    who = actor.get("name") or _NAMELESS.get(actor["kind"], "an agent")
    return f"{who} ({event['source']})" if event.get("source") not in (None, "api") else who


#: What an agent's tool says when their command is refused (by refusal code).
AGENT_REFUSALS = {
    "upgrade_required": "Handover to human is not part of this workspace's plan. Upgrade to use it.",
    "not_in_human_mode": "The AI is already in charge of this conversation.",
    "already_resolved": "This conversation is already resolved.",
}


def refusal_for_agents(code: str | None) -> str:
    return AGENT_REFUSALS.get(code or "", f"That did not work ({code}).")
