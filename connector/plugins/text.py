"""What agents read in their tools, in one place: states, reasons, labels, refusals, escaping.

Every plugin renders through these, so a conversation reads the same in Slack, Zendesk,
Gorgias and Intercom, and shopper text never pings, links or formats on its own in any of
them (:func:`escape_mrkdwn`, :func:`escape_html`).
"""

from __future__ import annotations

import html
import re
import threading
import typing as t

import cachetools

# -- who is in charge --------------------------------------------------------------------

#: What each state is called in agents' tools.
STATE_LABELS = {"ai": "AI in charge", "needs_you": "Needs you", "taken": "Taken by {name}", "resolved": "Resolved"}
#: What the buttons say (their ids are the action names).
BUTTON_LABELS = {"take_over": "Take over", "give_back": "Give back to AI", "resolve": "Resolve"}
#: What the author kinds are called when a message has no name.
AUTHOR_KINDS = {"shopper": "Shopper", "ai": "AI assistant", "human": "Agent", "system": "Handover"}
_NAMELESS = {"ai": "the AI", "shopper": "the shopper", "system": "the connector"}


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


def state_label(conversation: dict[str, t.Any], events: list[dict[str, t.Any]], mention: str = "") -> str:
    """``AI in charge`` / ``Needs you`` / ``Taken by Bo`` / ``Resolved``."""
    state, taker = in_charge(conversation, events)
    return STATE_LABELS[state].format(name=f"{mention}{taker}" if taker else "")


def agent_actions(conversation: dict[str, t.Any], state: str | None = None) -> list[str]:
    """The actions an agent's tool offers now: ``take_over``, ``give_back``, ``resolve``."""
    actions = []
    if conversation["controller"] == "ai" or conversation["status"] == "resolved":
        actions.append("take_over")  # with a human in charge there is nothing to take: they reply
    if conversation["controller"] == "human" and conversation["status"] == "open":
        actions.append("give_back")
    if conversation["status"] == "open":
        actions.append("resolve")
    return actions


# -- who did what, and why ---------------------------------------------------------------


def actor_phrase(event: dict[str, t.Any]) -> str:
    """Who made an event and from where, as agents' tools write it: "Sam (slack)", "the AI"."""
    actor = event["actor"]
    who = actor.get("name") or _NAMELESS.get(actor["kind"], "an agent")
    return f"{who} ({event['source']})" if event.get("source") not in (None, "api") else who


def handover_event(events: list[dict[str, t.Any]]) -> dict[str, t.Any] | None:
    """The latest hand over or suggestion among ``events``."""
    return next((e for e in reversed(events) if e["type"] in ("handed_over", "handover_suggested")), None)


def why_handed_over(events: list[dict[str, t.Any]]) -> str | None:
    """Why the conversation came to a human: the latest hand over or suggestion, in words."""
    event = handover_event(events)
    if event is None:
        return None
    suggested = event["type"] == "handover_suggested"
    if event.get("trigger") == "automatic" or suggested:
        text = f"scenario “{event.get('scenario') or 'a scenario'}” fired"
        return f"Suggested (semi-automate): {text}; the AI is still answering" if suggested else text[0].upper() + text[1:]
    text = f"Handed over by {actor_phrase(event)}"
    if event.get("reason"):
        text += f": {event['reason']}"
    return text


def event_line(event: dict[str, t.Any]) -> str | None:
    """One event as a history line ("Given back to the AI by Bo (slack)"); None for internal ones."""
    by = actor_phrase(event)
    scenario = f": scenario “{event['scenario']}”" if event.get("scenario") else ""
    reason = f": {event['reason']}" if event.get("reason") and not scenario else ""
    return {
        "handed_over": (f"Handed over automatically{scenario}" if event.get("trigger") == "automatic"
                        else f"Handed over by {by}{reason}"),
        "handover_suggested": f"The AI suggests a human takes over{scenario}",
        "given_back": ("Given back to the AI: nobody replied in time" if event.get("reason") == "unclaimed"
                       else f"Given back to the AI by {by}"),
        "resolved": f"Resolved by {by}",
        "reopened": "Reopened: the shopper wrote again",
        "handover_unclaimed": f"Still waiting for a human: {event.get('reason') or 'nobody has replied yet'}",
    }.get(event["type"])


def subject(conversation: dict[str, t.Any], events: list[dict[str, t.Any]]) -> str:
    """A ticket subject that says who and why: "Ann needs a human (refund over 100)"."""
    shopper = conversation.get("shopper") or {}
    name = shopper.get("name") or shopper.get("email") or "A shopper"
    event = handover_event(events)
    why = ""
    if event and event.get("scenario"):
        why = f" ({event['scenario']})"
    elif event and event.get("reason"):
        why = f" ({event['reason']})"
    return f"{name} needs a human{why}"[:250]


def scenario_tag(name: str) -> str:
    """A scenario's name as a helpdesk tag: ``scenario_refund_over_100``."""
    return "scenario_" + (re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "unnamed")


def handover_tags(events: list[dict[str, t.Any]], base: str = "ai_handover") -> list[str]:
    """``ai_handover``, and ``scenario_<name>`` when an automatic handover brought it."""
    tags = [base]
    event = handover_event(events)
    if event and event.get("trigger") == "automatic" and event.get("scenario"):
        tags.append(scenario_tag(event["scenario"]))
    return tags


def author_label(message: dict[str, t.Any], shopper: dict[str, t.Any] | None = None) -> str:
    """Who wrote a message, for agents: "Ann (shopper)", "Shop assistant", "Bo (agent)"."""
    author = message["author"]
    if author == "shopper":
        shopper = shopper or {}
        return f"{shopper.get('name') or shopper.get('email') or message.get('author_name') or 'Shopper'} (shopper)"
    if author == "human":
        return f"{message.get('author_name') or 'Agent'} (agent)"
    if author == "ai":
        return message.get("author_name") or AUTHOR_KINDS["ai"]
    return AUTHOR_KINDS.get(author, author)


def console_url(base_url: str, conversation_id: str) -> str:
    """The conversation in the connector's console."""
    return f"{base_url.rstrip('/')}/console/conversations/{conversation_id}"


#: What an agent's tool says when their command is refused (by refusal code).
AGENT_REFUSALS = {
    "upgrade_required": "Handover to human is not part of this workspace's plan. Upgrade to use it.",
    "not_in_human_mode": "The AI is already in charge of this conversation.",
    "already_resolved": "This conversation is already resolved.",
    "ai_in_control": "The AI is in charge of this conversation: take it over to reply.",
    "conversation_resolved": "This conversation is resolved: take it over to reply.",
}


def refusal_for_agents(code: str | None) -> str:
    return AGENT_REFUSALS.get(code or "", f"That did not work ({code}).")


# -- escaping ----------------------------------------------------------------------------


def escape_mrkdwn(text: str) -> str:
    """Text for Slack's mrkdwn: ``&``, ``<`` and ``>`` escaped, so ``<!channel>``, ``<@U1>``
    and ``<url|label>`` in it are shown, never acted on (Slack's formatting reference)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_html(text: str) -> str:
    """Text for an HTML body (Zendesk, Gorgias, Intercom, e-mail): markup shown as typed."""
    return html.escape(text, quote=True)


def html_lines(text: str) -> str:
    """Escaped text with its line breaks kept."""
    return escape_html(text).replace("\n", "<br>")


def html_to_text(body: str) -> str:
    """An HTML body (a helpdesk's message) as the shopper should read it: tags out, entities undone."""
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</li>", "\n", body or "")
    text = re.sub(r"<[^>]+>", "", text)
    text = html.unescape(text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# -- agents' names ----------------------------------------------------------------------


class NameCache:
    """Agents' display names by (account, user id), kept for an hour: one lookup per agent, not per reply."""

    def __init__(self, ttl: float = 3600, maxsize: int = 10_000) -> None:
        self._names: cachetools.TTLCache[t.Hashable, str] = cachetools.TTLCache(maxsize=maxsize, ttl=ttl)
        self._lock = threading.Lock()

    def get(self, key: t.Hashable, load: t.Callable[[], str | None]) -> str | None:
        """The cached name, or ``load()`` (kept when it is not None)."""
        with self._lock:
            cached = self._names.get(key)
        if cached is not None:
            return cached
        name = load()
        if name is not None:
            with self._lock:
                self._names[key] = name
        return name
