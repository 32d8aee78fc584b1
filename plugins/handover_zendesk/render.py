"""What the Zendesk plugin writes into tickets: HTML notes and plain comments, escaped.

Pure functions of the connector's JSON shapes, through the port's agent-facing text.
"""

from __future__ import annotations

import typing as t

from connector.plugins import text
from connector.plugins.text import escape_html

GIVE_BACK_TAG = "give_back_to_ai"


def note(html_body: str) -> dict[str, t.Any]:
    """A private note; ``body`` (plain text) is what the API requires, ``html_body`` what agents see."""
    return {"body": text.html_to_text(html_body.replace("<hr>", "\n")) or "(empty)", "html_body": html_body,
            "public": False}


def runs(messages: list[dict[str, t.Any]]) -> list[list[dict[str, t.Any]]]:
    """Consecutive shopper messages together, everything else together."""
    grouped: list[list[dict[str, t.Any]]] = []
    for message in messages:
        shopper = message["author"] == "shopper"
        if grouped and (grouped[-1][0]["author"] == "shopper") == shopper:
            grouped[-1].append(message)
        else:
            grouped.append([message])
    return grouped


def _attachments_html(message: dict[str, t.Any]) -> str:
    links = [f'<a href="{escape_html(a["url"])}">{escape_html(a.get("name") or "attachment")}</a>'
             for a in message.get("attachments") or []]
    return ("<br>📎 " + ", ".join(links)) if links else ""


def _who(message: dict[str, t.Any], conversation: dict[str, t.Any]) -> str:
    if message["author"] == "human" and message.get("source"):
        return f"{message.get('author_name') or 'Agent'} ({message['source']})"
    return text.author_label(message, conversation.get("shopper") or {})


def transcript_html(conversation: dict[str, t.Any], transcript: list[dict[str, t.Any]],
                    events: list[dict[str, t.Any]], base_url: str) -> str:
    """The conversation so far, for agents: who said what, when, and why it came to them."""
    shopper = conversation.get("shopper") or {}
    head = [f"<p><strong>Handed over from the AI assistant.</strong> "
            f"Shopper: {escape_html(shopper.get('name') or 'unknown')}"
            + (f" &lt;{escape_html(shopper['email'])}&gt;" if shopper.get("email") else "") + "</p>"]
    why = text.why_handed_over(events)
    if why:
        head.append(f"<p>Why: {escape_html(why)}</p>")
    head.append("<p>Reply publicly to answer the shopper in the chat (that takes the conversation over). "
                f"Add the tag <code>{GIVE_BACK_TAG}</code> to give it back to the AI; solve the ticket to resolve it. "
                f'<a href="{escape_html(text.console_url(base_url, conversation["id"]))}">Open in the console</a></p><hr>')
    lines = [f"<p><strong>{escape_html(_who(m, conversation))}</strong> "
             f"<small>{escape_html(m['created_at'])}</small><br>{text.html_lines(m['text'])}"
             f"{_attachments_html(m)}</p>" for m in transcript]
    return "".join(head + (lines or ["<p>(no messages yet)</p>"]))


def withheld_email_html(email: str) -> str:
    """Why the requester has no e-mail address: the shopper's (unverified) one belongs to another Zendesk user."""
    return (f"<p><strong>Note:</strong> the shopper gave the e-mail address {escape_html(email)}, which belongs to "
            "another Zendesk user (possibly an agent). It is unverified, so the requester was created without it; "
            "check who the shopper is before using it.</p>")


def note_html(message: dict[str, t.Any]) -> str:
    return (f"<p><strong>{escape_html(_who(message, {}))}</strong><br>"
            f"{text.html_lines(message['text'])}{_attachments_html(message)}</p>")


def plain_with_links(message: dict[str, t.Any]) -> str:
    """A shopper message as a public comment (Zendesk shows ``body`` as typed)."""
    links = [f"{a.get('name') or 'attachment'}: {a['url']}" for a in message.get("attachments") or []]
    return "\n".join([message["text"], *links]).strip() or "(empty message)"


def state_note(events: list[dict[str, t.Any]]) -> dict[str, t.Any] | None:
    """State changes made elsewhere, as one internal note; None when none is worth a line."""
    lines = [line for line in (text.event_line(e) for e in events) if line]
    if not lines:
        return None
    return note("<p>" + "<br>".join(escape_html(line) for line in lines) + "</p>")
