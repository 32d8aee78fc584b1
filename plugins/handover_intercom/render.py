"""What the Intercom conversation and the inbox app show: bodies, notes and canvases.

Notes and replies are HTML (shopper text escaped with :func:`connector.plugins.text.html_lines`,
so it never formats or links on its own); a conversation's first message is plain text
(Intercom does not take HTML there). Canvases are Canvas Kit JSON, built by hand (the SDK
has no Canvas types).
"""

from __future__ import annotations

import typing as t

from connector.plugins import text

#: the tag an admin adds to hand a conversation back to the AI
GIVE_BACK_TAG = "give_back_to_ai"
#: a transcript note holds at most about this much HTML; a longer transcript becomes several notes
NOTE_LIMIT = 20_000


def _attachments(message: dict[str, t.Any]) -> str:
    links = [f'<a href="{text.escape_html(a["url"])}">{text.escape_html(a.get("name") or "attachment")}</a>'
             for a in message.get("attachments") or [] if a.get("url")]
    return ("<br>📎 " + ", ".join(links)) if links else ""


def opening_text(conversation: dict[str, t.Any], transcript: list[dict[str, t.Any]],
                 events: list[dict[str, t.Any]]) -> str:
    """The conversation's first message, from the shopper's contact: their latest words, or who and why."""
    said = [m for m in transcript if m["author"] == "shopper" and (m.get("text") or "").strip()]
    if said:
        return said[-1]["text"].strip()[:5000]
    return text.subject(conversation, events)


def shopper_reply(message: dict[str, t.Any]) -> str:
    """A later shopper message, as the contact's reply (HTML)."""
    body = text.html_lines(message.get("text") or "") + _attachments(message)
    return f"<p>{body or '(empty message)'}</p>"


def message_note(message: dict[str, t.Any], conversation: dict[str, t.Any]) -> str:
    """A message written elsewhere (the AI, an agent in another tool), as an admin note."""
    who = text.author_label(message, conversation.get("shopper"))
    return f"<p><b>{text.escape_html(who)}</b><br>{text.html_lines(message.get('text') or '')}{_attachments(message)}</p>"


def state_note(events: list[dict[str, t.Any]]) -> str | None:
    """State changes made elsewhere, one line each, as an admin note; None if none shows."""
    lines = [line for line in (text.event_line(e) for e in events) if line]
    if not lines:
        return None
    return "<p>" + "<br>".join(text.escape_html(line) for line in lines) + "</p>"


def transcript_notes(conversation: dict[str, t.Any], transcript: list[dict[str, t.Any]],
                     events: list[dict[str, t.Any]], base_url: str) -> list[str]:
    """The conversation so far, for admins, as one or more notes (each under :data:`NOTE_LIMIT`)."""
    shopper = conversation.get("shopper") or {}
    head = ["<p><b>Handed over from the AI assistant.</b> Shopper: "
            + text.escape_html(shopper.get("name") or "unknown")
            + (f" &lt;{text.escape_html(shopper['email'])}&gt;" if shopper.get("email") else "") + "</p>"]
    why = text.why_handed_over(events)
    if why:
        head.append(f"<p>Why: {text.escape_html(why)}</p>")
    head.append("<p>Reply to answer the shopper in the chat (that takes the conversation over). "
                f"Add the tag <b>{GIVE_BACK_TAG}</b> (or use the Handover app) to give it back to the AI; "
                "close the conversation to resolve it. "
                f'<a href="{text.escape_html(text.console_url(base_url, conversation["id"]))}">Open in the console</a></p>')
    lines = [f"<p><b>{text.escape_html(text.author_label(m, shopper))}</b> {text.escape_html(m.get('created_at') or '')}"
             f"<br>{text.html_lines(m.get('text') or '')}{_attachments(m)}</p>" for m in transcript]
    notes, current = [], "".join(head)
    for line in lines or ["<p>(no messages yet)</p>"]:
        if len(current) + len(line) > NOTE_LIMIT and current:
            notes.append(current)
            current = "<p>(transcript, continued)</p>"
        current += line[:NOTE_LIMIT]
    notes.append(current)
    return notes


def refused_note(refusal_text: str, was_reply: bool) -> str:
    lead = "This reply was not sent to the shopper" if was_reply else "That was not done"
    return f"<p><b>{lead}:</b> {text.escape_html(refusal_text)}</p>"


# -- the inbox app (Canvas Kit) --------------------------------------------------------------


def canvas(view: t.Any | None, notice: str | None = None) -> dict[str, t.Any]:
    """The app's canvas: who is in charge, why, and the buttons the state allows."""
    components: list[dict[str, t.Any]] = [{"type": "text", "text": "AI handover", "style": "header"}]
    if notice:
        components.append({"type": "text", "text": notice, "style": "error"})
    if view is None:
        components.append({"type": "text", "style": "muted",
                           "text": "This conversation was not handed over by the AI assistant."})
        return {"canvas": {"content": {"components": components}}}
    components.append({"type": "text", "text": text.state_label(view.conversation, view.events), "style": "paragraph"})
    why = text.why_handed_over(view.events)
    if why:
        components.append({"type": "text", "text": why, "style": "muted"})
    for action in text.agent_actions(view.conversation):
        components.append({"type": "button", "id": action, "label": text.BUTTON_LABELS[action],
                           "style": "primary" if action == "take_over" else "secondary",
                           "action": {"type": "submit"}})
    stored = {"conversation_id": view.id, "version": str(view.conversation.get("version")
                                                          or view.conversation.get("updated_at") or "")}
    return {"canvas": {"content": {"components": components}, "stored_data": stored}}
