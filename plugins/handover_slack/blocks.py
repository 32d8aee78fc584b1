"""What the Slack plugin posts, in Block Kit: the parent message, transcript parts, prompts.

Pure functions of the connector's JSON shapes; nothing here talks to Slack.
"""

from __future__ import annotations

import typing as t

from connector.representations import actor_phrase
from connector.representations import agent_actions
from connector.representations import in_charge

#: Slack truncates messages past 40,000 characters and section text past 3,000; a
#: transcript part stays well inside both.
PART_LIMIT = 2900

STATUS = {
    "ai": (":robot_face:", "AI in charge"),
    "needs_you": (":large_orange_circle:", "Needs you"),
    "taken": (":technologist:", "Taken by {name}"),
    "resolved": (":white_check_mark:", "Resolved"),
}

BUTTON_LABELS = {"take_over": "Take over", "give_back": "Give back to AI", "resolve": "Resolve"}

AUTHOR = {
    "shopper": ":bust_in_silhouette:",
    "ai": ":robot_face:",
    "human": ":technologist:",
    "system": ":information_source:",
}


def escape(text: str) -> str:
    """Slack's three control characters, escaped (https://api.slack.com/reference/surfaces/formatting)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def author_label(message: dict[str, t.Any], shopper: dict[str, t.Any]) -> str:
    """The name a message is posted under (``chat:write.customize``'s ``username``)."""
    author = message["author"]
    if author == "shopper":
        return f"{shopper.get('name') or shopper.get('email') or 'Shopper'} (shopper)"
    if author == "ai":
        return message.get("author_name") or "AI assistant"
    if author == "human":
        return f"{message.get('author_name') or 'Agent'} (agent)"
    return "Handover"


def why(events: list[dict[str, t.Any]]) -> str | None:
    """Why the conversation came to a human: the latest hand over or suggestion."""
    for event in reversed(events):
        if event["type"] not in ("handed_over", "handover_suggested"):
            continue
        suggested = event["type"] == "handover_suggested"
        if event.get("trigger") == "automatic" or suggested:
            scenario = event.get("scenario") or "a scenario"
            text = f"scenario “{scenario}” fired"
            return f"Suggested (semi-automate): {text}; the AI is still answering" if suggested else text.capitalize()
        text = f"Handed over by {actor_phrase(event)}"
        if event.get("reason"):
            text += f": {event['reason']}"
        return text
    return None


def parent_message(
    conversation: dict[str, t.Any], events: list[dict[str, t.Any]], console_url: str | None
) -> tuple[str, list[dict[str, t.Any]]]:
    """The thread's root message: ``(fallback text, blocks)``, all of it every time."""
    shopper = conversation.get("shopper") or {}
    name = shopper.get("name") or "A shopper"
    state, taker = in_charge(conversation, events)
    icon, label = STATUS[state]
    label = label.format(name=f"@{taker}" if taker else "")
    who = f"*{escape(name)}*" + (f" · {escape(shopper['email'])}" if shopper.get("email") else "")
    blocks: list[dict[str, t.Any]] = [
        {"type": "section", "block_id": "shopper", "text": {"type": "mrkdwn", "text": f"{who}\n{icon} *{label}*"}},
    ]
    reason = why(events)
    if reason:
        blocks.append({"type": "context", "block_id": "why",
                       "elements": [{"type": "mrkdwn", "text": f"Why: {escape(reason)}"}]})
    buttons = [_button(BUTTON_LABELS[action], action, conversation["id"], primary=action == "take_over")
               for action in agent_actions(conversation, state)]
    if buttons:
        # A new block_id per version: Slack keeps a block's state by its id.
        blocks.append({"type": "actions", "block_id": f"hv:{conversation['id']}:v{conversation['version']}",
                       "elements": buttons})
    if console_url:
        blocks.append({"type": "context", "block_id": "links",
                       "elements": [{"type": "mrkdwn", "text": f"<{console_url}|Open in the console>"}]})
    return f"Handover: {name}: {label}", blocks


def _button(text: str, action_id: str, value: str, primary: bool = False) -> dict[str, t.Any]:
    button = {"type": "button", "action_id": action_id, "value": value,
              "text": {"type": "plain_text", "text": text}}
    if primary:
        button["style"] = "primary"
    return button


def message_text(message: dict[str, t.Any]) -> str:
    """A message's text with its attachments as links."""
    text = escape(message.get("text") or "")
    links = [f":paperclip: <{a['url']}|{escape(a.get('name') or 'attachment')}>" for a in message.get("attachments") or []]
    return "\n".join(part for part in [text, *links] if part) or "(empty message)"


def split(text: str, limit: int = PART_LIMIT) -> list[str]:
    """``text`` in parts of at most ``limit`` characters, cut at line ends where possible."""
    parts: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        if cut <= 0:
            cut = text.rfind(" ", 0, limit)
        if cut <= 0:
            cut = limit
        parts.append(text[:cut])
        text = text[cut:].lstrip("\n")
    if text:
        parts.append(text)
    return parts


def transcript_parts(transcript: list[dict[str, t.Any]], shopper: dict[str, t.Any]) -> list[str]:
    """The transcript so far as thread messages, each inside Slack's limits."""
    if not transcript:
        return []
    lines = [f"{AUTHOR.get(m['author'], '')} *{escape(author_label(m, shopper))}*\n{message_text(m)}" for m in transcript]
    parts: list[str] = []
    current = ":scroll: *Transcript so far*"
    for line in lines:
        candidate = f"{current}\n\n{line}"
        if len(candidate) <= PART_LIMIT:
            current = candidate
            continue
        parts.append(current)
        if len(line) > PART_LIMIT:
            *whole, current = split(line)
            parts.extend(whole)
        else:
            current = line
    parts.append(current)
    return parts


def state_note(events: list[dict[str, t.Any]]) -> str | None:
    """A one-line history note in the thread for a state change."""
    notes = []
    for event in events:
        by = actor_phrase(event)
        text = {
            "handed_over": f"Taken over by {by}",
            "handover_suggested": "The AI suggests a human takes over",
            "given_back": f"Given back to the AI by {by}",
            "resolved": f"Resolved by {by}",
            "reopened": "Reopened: the shopper wrote again",
        }.get(event["type"])
        if text:
            notes.append(text)
    return ":arrows_counterclockwise: " + escape("; ".join(notes)) if notes else None


def reply_prompt(task_id: str, resolved: bool) -> tuple[str, list[dict[str, t.Any]]]:
    """The ephemeral choice an agent gets for a reply while the AI is in charge."""
    text = ("This conversation is resolved. Take over (it reopens) and send your reply to the shopper?"
            if resolved else
            "The AI is in charge of this conversation, so your reply has not been sent to the shopper.")
    return text, [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "actions", "block_id": f"draft:{task_id}", "elements": [
            _button("Take over and send", "take_over_and_send", task_id, primary=True),
            _button("Keep as internal note", "keep_note", task_id),
        ]},
    ]
