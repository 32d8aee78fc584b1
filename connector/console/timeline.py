"""What the session view says: the transcript with its event markers, the header lines.

Pure functions over stored rows (no Flask, no queries), so the page, its live updates
and the tests phrase things one way.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing as t

from connector.storage.models import Conversation
from connector.storage.models import Event
from connector.storage.models import Message

#: How each message author is labelled in the transcript.
KINDS = {"shopper": "Shopper", "ai": "AI", "human": "Human", "system": "System"}
#: Tools that are not plugins, as a sentence names them ("from the console").
SOURCES = {
    "console": "the console",
    "api": "the chat platform",
    "demo": "the demo widget",
    "email": "e-mail",
    "detector": "the scenario detector",
}
#: Who acted, when an event has no name.
NAMELESS = {"ai": "the AI", "shopper": "the shopper", "platform": "the chat platform", "system": "the connector"}
#: Events that say what the header's "why" line is about.
STORY = ("handed_over", "handover_suggested", "given_back", "resolved", "reopened")


@dataclasses.dataclass(frozen=True)
class Item:
    """One line of the transcript: a message, or a marker for an event of the log."""

    kind: str  #: message | marker
    id: str
    at: dt.datetime
    message: Message | None = None
    event: Event | None = None
    text: str = ""  #: a marker's sentence (without its time)


def tool_name(source: str | None, titles: t.Mapping[str, str]) -> str:
    """A source as a sentence names it: "Slack", "the console"."""
    if not source:
        return "the chat platform"
    return titles.get(source) or SOURCES.get(source) or source


def author_label(message: Message) -> tuple[str, str | None]:
    """(kind label, name) for a message's author line; the name is None when it adds nothing.

    "AI · Shop assistant (AI)" says the same thing twice, so a name that already
    contains the kind ("Shop assistant (AI)", "Demo shopper") stands alone as the label.
    """
    kind = KINDS.get(message.author, message.author.capitalize())
    name = (message.author_name or "").strip()
    if not name or name.lower() == kind.lower():
        return kind, None
    words = name.lower().replace("(", " ").replace(")", " ").split()
    if kind.lower() in words:
        return name, None
    return kind, name


def _who(event: Event) -> str:
    return event.actor_name or NAMELESS.get(event.actor_kind, "an agent")


def _by(event: Event, titles: t.Mapping[str, str]) -> str:
    """" by Bo from Slack", or " by the chat platform" when the platform's API did it."""
    who = _who(event)
    if event.source in (None, "api"):
        return f" by {who}"
    tool = tool_name(event.source, titles)
    return f" by {who}" if who == tool else f" by {who} from {tool}"


def marker_text(event: Event, titles: t.Mapping[str, str]) -> str:
    """The sentence an event of the log reads as in the transcript (its time goes after)."""
    kind = event.type
    reason = f": {event.reason}" if event.reason else ""
    if kind == "handed_over":
        if event.trigger == "automatic":
            return f"Handed over automatically: scenario “{event.scenario}” fired"
        return "Handed over" + _by(event, titles) + reason
    if kind == "handover_suggested":
        return f"Suggested: scenario “{event.scenario}” fired" if event.scenario else "Handover suggested" + reason
    if kind == "human_joined":
        joined = _who(event)
        tool = tool_name(event.source, titles) if event.source not in (None, "api") else None
        return f"{joined} joined" + (f" from {tool}" if tool and tool != joined else "")
    if kind == "given_back":
        if event.reason == "unclaimed":
            return "Given back to AI: nobody took the hand over in time"
        return "Given back to AI" + _by(event, titles) + reason
    if kind == "resolved":
        return "Resolved" + _by(event, titles) + reason
    if kind == "reopened":
        if event.trigger == "message" and event.actor_kind == "shopper":
            return "Reopened by the shopper's message"
        return "Reopened" + _by(event, titles)
    if kind == "handover_unclaimed":
        return "Nobody took the hand over in time"
    return kind.replace("_", " ").capitalize() + _by(event, titles) + reason


def transcript(messages: t.Iterable[Message], events: t.Iterable[Event],
               titles: t.Mapping[str, str]) -> list[Item]:
    """Messages and event markers in the order they happened.

    A message and the events it caused share a time: events a message triggered (a
    reopen, an agent joining) come just before it, and commands' events after.
    """
    keyed: list[tuple[tuple[dt.datetime, int, int], Item]] = []
    for message in messages:
        keyed.append(((message.created_at, 1, message.pk),
                      Item("message", message.id, message.created_at, message=message)))
    for event in events:
        rank = 0 if event.trigger == "message" else 2
        keyed.append(((event.at, rank, event.pk),
                      Item("marker", event.id, event.at, event=event, text=marker_text(event, titles))))
    keyed.sort(key=lambda pair: pair[0])
    return [item for _, item in keyed]


def state_line(conversation: Conversation) -> str:
    """Who is in charge, said once: "Resolved" needs no "the AI is in charge" after it."""
    if conversation.status == "resolved":
        return "Resolved"
    return "A human is in charge" if conversation.controller == "human" else "The AI is in charge"


def ai_bar(conversation: Conversation) -> str | None:
    """What stands where the reply box is while the AI has the conversation (None: a human has it)."""
    if conversation.status == "resolved":
        return "A new message from the shopper reopens this conversation; Hand over to write to them yourself."
    if conversation.controller == "ai":
        return "The AI is answering this conversation. Hand over to reply yourself."
    return None


def why(conversation: Conversation, events: t.Sequence[Event], titles: t.Mapping[str, str]) -> Item | None:
    """The header's line on the current situation, or None when there is nothing to explain.

    With a human in charge: the hand over that brought it to them. Resolved: who
    resolved it. With the AI in charge: a handover suggestion not yet acted on.
    """
    story = [event for event in events if event.type in STORY]
    wanted: tuple[str, ...]
    if conversation.status == "resolved":
        wanted = ("resolved",)
    elif conversation.controller == "human":
        wanted = ("handed_over",)
    elif story and story[-1].type == "handover_suggested":
        wanted = ("handover_suggested",)
    else:
        return None
    for event in reversed(story):
        if event.type in wanted:
            return Item("marker", event.id, event.at, event=event, text=marker_text(event, titles))
    return None
