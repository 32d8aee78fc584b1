"""What the Slack plugin posts, in Block Kit: the parent message, transcript parts, prompts.

Pure functions of the connector's JSON shapes; nothing here talks to Slack.
"""

from __future__ import annotations

import typing as t

from connector.plugins import text
from connector.plugins.text import escape_mrkdwn as escape

#: Slack truncates messages past 40,000 characters and section text past 3,000; a
#: transcript part stays well inside both.
PART_LIMIT = 2900

ICONS = {"ai": ":robot_face:", "needs_you": ":large_orange_circle:", "taken": ":technologist:",
         "resolved": ":white_check_mark:"}

AUTHOR = {
    "shopper": ":bust_in_silhouette:",
    "ai": ":robot_face:",
    "human": ":technologist:",
    "system": ":information_source:",
}


def parent_message(
    conversation: dict[str, t.Any], events: list[dict[str, t.Any]], console_url: str | None
) -> tuple[str, list[dict[str, t.Any]]]:
    """The thread's root message: ``(fallback text, blocks)``, all of it every time."""
    shopper = conversation.get("shopper") or {}
    name = shopper.get("name") or "A shopper"
    state, _ = text.in_charge(conversation, events)
    icon, label = ICONS[state], escape(text.state_label(conversation, events, mention="@"))
    who = f"*{escape(name)}*" + (f" · {escape(shopper['email'])}" if shopper.get("email") else "")
    blocks: list[dict[str, t.Any]] = [
        {"type": "section", "block_id": "shopper", "text": {"type": "mrkdwn", "text": f"{who}\n{icon} *{label}*"}},
    ]
    reason = text.why_handed_over(events)
    if reason:
        blocks.append({"type": "context", "block_id": "why",
                       "elements": [{"type": "mrkdwn", "text": f"Why: {escape(reason)}"}]})
    buttons = [_button(text.BUTTON_LABELS[action], action, conversation["id"], primary=action == "take_over")
               for action in text.agent_actions(conversation, state)]
    if buttons:
        # A new block_id per version: Slack keeps a block's state by its id.
        blocks.append({"type": "actions", "block_id": f"hv:{conversation['id']}:v{conversation['version']}",
                       "elements": buttons})
    if console_url:
        blocks.append({"type": "context", "block_id": "links",
                       "elements": [{"type": "mrkdwn", "text": f"<{console_url}|Open in the console>"}]})
    return f"Handover: {escape(name)}: {label}", blocks


def _button(text: str, action_id: str, value: str, primary: bool = False) -> dict[str, t.Any]:
    button = {"type": "button", "action_id": action_id, "value": value,
              "text": {"type": "plain_text", "text": text}}
    if primary:
        button["style"] = "primary"
    return button


def message_text(message: dict[str, t.Any]) -> str:
    """A message's text with its attachments as links."""
    body = escape(message.get("text") or "")
    links = [f":paperclip: <{_link_target(a['url'])}|{escape(a.get('name') or 'attachment')}>"
             for a in message.get("attachments") or []]
    return "\n".join(part for part in [body, *links] if part) or "(empty message)"


def _link_target(url: str) -> str:
    """A URL inside ``<url|label>``: its own ``|`` and ``>`` would end the link early."""
    return escape(url).replace("|", "%7C")


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
    lines = [f"{AUTHOR.get(m['author'], '')} *{escape(text.author_label(m, shopper))}*\n{message_text(m)}"
             for m in transcript]
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
    notes = [line for line in (text.event_line(event) for event in events) if line]
    return ":arrows_counterclockwise: " + escape("; ".join(notes)) if notes else None


def reply_prompt(task_id: str, resolved: bool) -> tuple[str, list[dict[str, t.Any]]]:
    """The ephemeral choice an agent gets for a reply while the AI is in charge."""
    prompt = ("This conversation is resolved. Take over (it reopens) and send your reply to the shopper?"
              if resolved else
              "The AI is in charge of this conversation, so your reply has not been sent to the shopper.")
    return prompt, [
        {"type": "section", "text": {"type": "mrkdwn", "text": prompt}},
        {"type": "actions", "block_id": f"draft:{task_id}", "elements": [
            _button("Take over and send", "take_over_and_send", task_id, primary=True),
            _button("Keep as internal note", "keep_note", task_id),
        ]},
    ]
