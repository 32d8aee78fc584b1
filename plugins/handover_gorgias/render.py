"""What agents read in the Gorgias ticket: transcript messages and internal notes, in HTML.

Every piece of text from a shopper or another tool goes through
:func:`connector.plugins.text.escape_html` (markup is shown as typed, never rendered).
"""

from __future__ import annotations

import typing as t
import urllib.parse

from connector.plugins import text

GIVE_BACK_MACRO = "Give back to AI"


def _links(message: dict[str, t.Any]) -> str:
    """A message's attachments as links (http and https only)."""
    links = []
    for attachment in message.get("attachments") or []:
        url = str(attachment.get("url") or "")
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            continue
        name = attachment.get("name") or "attachment"
        links.append(f'<a href="{text.escape_html(url)}">{text.escape_html(name)}</a>')
    return f"<p>Attachments: {', '.join(links)}</p>" if links else ""


def _plain_links(message: dict[str, t.Any]) -> str:
    urls = [str(a.get("url")) for a in message.get("attachments") or [] if a.get("url")]
    return ("\n" + "\n".join(urls)) if urls else ""


def customer_body(message: dict[str, t.Any]) -> dict[str, str]:
    """A shopper's message as the customer's words."""
    body = message.get("text") or ""
    return {"body_text": (body + _plain_links(message)) or "(no text)",
            "body_html": f"<p>{text.html_lines(body)}</p>{_links(message)}" if body or message.get("attachments")
            else "<p>(no text)</p>"}


def labelled_body(message: dict[str, t.Any], shopper: dict[str, t.Any]) -> dict[str, str]:
    """An AI's, agent's or the connector's message, under who wrote it (the API user sends it)."""
    label = text.author_label(message, shopper)
    if message.get("source") not in (None, "api", "gorgias") and message["author"] == "human":
        label += f" via {message['source']}"
    body = message.get("text") or ""
    return {"body_text": f"{label}: {body}{_plain_links(message)}",
            "body_html": f"<p><strong>{text.escape_html(label)}</strong></p><p>{text.html_lines(body)}</p>{_links(message)}"}


def note_body(paragraphs: t.Sequence[str]) -> dict[str, str]:
    """An internal note from plain paragraphs (escaped here)."""
    return {"body_text": "\n\n".join(paragraphs),
            "body_html": "".join(f"<p>{text.html_lines(p)}</p>" for p in paragraphs)}


def handover_note(conversation: dict[str, t.Any], events: list[dict[str, t.Any]], base_url: str) -> dict[str, str]:
    """The ticket's first note: why it is here and how to work it from Gorgias."""
    shopper = conversation.get("shopper") or {}
    who = shopper.get("name") or "unknown"
    if shopper.get("email"):
        who += f" <{shopper['email']}>"
    paragraphs = [
        text.why_handed_over(events) or "Handed over to a human",
        f"Shopper: {who}",
        "Reply to the customer in this ticket to answer in the chat (that takes the conversation over from the AI). "
        f"Apply the macro “{GIVE_BACK_MACRO}” to hand it back to the AI; close the ticket to resolve it. "
        "Internal notes stay here.",
        f"Console: {text.console_url(base_url, conversation['id'])}",
    ]
    return note_body(paragraphs)


def earlier_note(messages: list[dict[str, t.Any]], shopper: dict[str, t.Any]) -> dict[str, str]:
    """Messages beyond Gorgias' 500 per new ticket, folded into one note."""
    lines = [f"{text.author_label(m, shopper)}: {m.get('text') or ''}" for m in messages]
    return note_body([f"Earlier in the conversation ({len(messages)} messages):", *lines])


def state_note(events: list[dict[str, t.Any]]) -> dict[str, str] | None:
    """State changes made elsewhere, one line each; None when none is worth a note."""
    lines = [line for line in (text.event_line(e) for e in events) if line]
    return note_body(lines) if lines else None


def refusal_note(code: str, refusal_text: str, was_reply: bool) -> dict[str, str]:
    head = "This reply was not sent to the shopper" if was_reply else "That did not work"
    return note_body([f"{head}: {refusal_text}"])
