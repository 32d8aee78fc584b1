"""Intercom webhook notifications: what the web request keeps (:func:`task_for`) and what the
worker makes of it (:func:`translate`). Pure functions: JSON in, JSON or events out.

Relayed: ``conversation.admin.replied`` parts written by an admin (not a bot, not Fin, not an
AI answer) of type ``comment``; ``conversation.admin.closed``; ``conversation_part.tag.created``
while the conversation carries :data:`~handover_intercom.render.GIVE_BACK_TAG`.
``conversation.admin.noted`` and every other topic are acknowledged and dropped.
"""

from __future__ import annotations

import re
import typing as t

from connector.plugins import InboundEvent
from connector.plugins import text
from handover_intercom.render import GIVE_BACK_TAG

NAME = "intercom"
#: the topics the connector acts on (and the Developer Hub should subscribe to)
TOPICS = ("conversation.admin.replied", "conversation.admin.closed", "conversation_part.tag.created")
#: an HTML body (Intercom's markup up to 2.14): a paragraph, break, link or inline tag
_HTML = re.compile(r"</?(?:p|br|div|a|b|i|u|em|strong|ul|ol|li|span|img|code|pre|h[1-6]|blockquote)(?:\s[^<>]*)?/?>", re.I)
_AUTHOR_FIELDS = ("type", "id", "name", "from_ai_agent", "is_ai_answer")


def _parts(item: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    parts = (item.get("conversation_parts") or {}).get("conversation_parts") or []
    return [p for p in parts if isinstance(p, dict)]


def _by_admin(part: dict[str, t.Any]) -> bool:
    author = part.get("author") or {}
    return author.get("type") == "admin" and not author.get("from_ai_agent") and not author.get("is_ai_answer")


def _keep(part: dict[str, t.Any]) -> dict[str, t.Any]:
    author = part.get("author") or {}
    return {"id": str(part.get("id")), "part_type": part.get("part_type"), "body": part.get("body") or "",
            "author": {k: author.get(k) for k in _AUTHOR_FIELDS},
            "attachments": [{"name": a.get("name"), "url": a.get("url")}
                            for a in part.get("attachments") or [] if isinstance(a, dict)]}


def task_for(topic: str, item: dict[str, t.Any]) -> dict[str, t.Any] | None:
    """What to persist for the worker (the few fields it needs), or None when there is nothing to do."""
    if topic == "conversation.admin.replied":
        parts = [_keep(p) for p in _parts(item) if p.get("id") and p.get("part_type") == "comment" and _by_admin(p)]
        return {"kind": "notification", "topic": topic, "parts": parts} if parts else None
    if topic == "conversation.admin.closed":
        closes = [_keep(p) for p in _parts(item) if p.get("part_type") == "close"]
        return {"kind": "notification", "topic": topic, "parts": closes[-1:]}
    if topic == "conversation_part.tag.created":
        tags = (item.get("tags") or {}).get("tags") or []
        tag = next((t_ for t_ in tags if isinstance(t_, dict) and t_.get("name") == GIVE_BACK_TAG), None)
        if tag is None:
            return None
        applied_by = tag.get("applied_by") or {}
        return {"kind": "notification", "topic": topic,
                "tag": {"id": str(tag.get("id")), "applied_at": tag.get("applied_at"),
                        "admin_id": str(applied_by["id"]) if applied_by.get("id") else None}}
    return None


def clean_text(body: str) -> str:
    """A part's body as the shopper reads it: HTML (API versions before 2.15) or plain text (2.15+)."""
    return text.html_to_text(body) if _HTML.search(body) else body.strip()


def _with_attachments(part: dict[str, t.Any]) -> str:
    said = clean_text(part["body"])
    links = [f"{a.get('name') or 'attachment'}: {a['url']}" for a in part.get("attachments") or [] if a.get("url")]
    return "\n".join([said, *links]).strip()


def translate(task: dict[str, t.Any], thread_id: str, notification_id: str,
              admin_name: t.Callable[[str | None], str | None]) -> list[InboundEvent]:
    """The events a persisted notification means (``admin_name`` looks a teammate's name up)."""
    topic = task.get("topic")
    if topic == "conversation.admin.replied":
        events = []
        for part in task["parts"]:
            said = _with_attachments(part)
            if not said:
                continue
            author = part["author"]
            events.append(InboundEvent(
                plugin=NAME, event_id=f"part:{part['id']}", thread_id=thread_id, action="message",
                actor_name=author.get("name") or admin_name(author.get("id")), text=said,
                external_message_id=part["id"], take_over=True, reason="replied in Intercom",
                agent={"admin_id": author.get("id"), "name": author.get("name")},
            ))
        return events
    if topic == "conversation.admin.closed":
        part = (task.get("parts") or [None])[0]
        author = (part or {}).get("author") or {}
        return [InboundEvent(
            plugin=NAME, event_id=f"close:{part['id'] if part else notification_id}", thread_id=thread_id,
            action="resolve", actor_name=author.get("name") or admin_name(author.get("id")),
            external_message_id=part["id"] if part else None, reason="closed in Intercom",
        )]
    if topic == "conversation_part.tag.created":
        tag = task["tag"]
        return [InboundEvent(
            plugin=NAME, event_id=f"give_back:{thread_id}:{tag['id']}:{tag.get('applied_at') or notification_id}",
            thread_id=thread_id, action="give_back", actor_name=admin_name(tag.get("admin_id")),
            reason=f"tagged {GIVE_BACK_TAG} in Intercom",
            agent={"admin_id": tag.get("admin_id")} if tag.get("admin_id") else None,
        )]
    return []
