"""Each comment into Zendesk at most once per delivery, even when Zendesk's answer is lost.

A delivery can post several comments (a batch of shopper messages and notes) and its
attempt can fail part way, or time out after Zendesk applied a comment. So the delivery's
progress (:attr:`connector.plugins.DeliveryContext.progress`) records, before each ticket
update, what is being sent (the messages, the ticket, the author, the text) and, once
Zendesk accepts it, the comment's id for each message: a retry sends only the rest. A
comment being sent when an answer was lost is looked for on the ticket (same author,
visibility and text, written since then, not one we already know) before it is sent again.
"""

from __future__ import annotations

import html
import re
import time
import typing as t

from connector.plugins import DeliveryContext
from connector.plugins import ThreadRef
from connector.plugins import text
from connector.plugins import webhooks

from handover_zendesk.client import calling_zendesk

#: clocks differ: a comment written this long before we recorded sending it still counts
CLOCK_MARGIN = 120.0
_SPACE = re.compile(r"\s+")


def comparable(comment: dict[str, t.Any]) -> str:
    """A comment's text without markup or spacing, as sent or as Zendesk shows it back."""
    if comment.get("body") is not None:
        value = str(comment["body"])
    else:
        value = text.html_to_text(str(comment.get("html_body") or ""))
    return _SPACE.sub("", html.unescape(value))


def resume(ctx: DeliveryContext, zd: t.Any, session: t.Any, settings: t.Any,
           thread: ThreadRef) -> tuple[ThreadRef, dict[str, t.Any]]:
    """Where earlier attempts left off: the thread they moved to, and ``{message id: comment id}`` accepted."""
    accepted: dict[str, t.Any] = dict(ctx.progress.get("accepted") or {})
    moved = ctx.progress.get("thread")
    if moved and moved.get("external_id") != thread.external_id:
        thread = ThreadRef(moved["external_id"], dict(moved.get("data") or {}))
    sending = ctx.progress.get("sending")
    if sending:
        found = find_comment(zd, session, sending, {v for v in accepted.values() if isinstance(v, int)})
        if found is not None:
            accepted.update({message_id: found for message_id in sending["ids"]})
        ctx.record_progress({"accepted": accepted, "sending": None})
    return thread, accepted


def sending(ctx: DeliveryContext, thread: ThreadRef, ids: list[str], comment: dict[str, t.Any],
            author_id: int | None) -> None:
    ctx.record_progress({"sending": {"ids": ids, "ticket": thread.external_id, "author_id": author_id,
                                     "public": bool(comment.get("public", True)), "text": comparable(comment),
                                     "at": time.time()}})


def accepted(ctx: DeliveryContext, thread: ThreadRef, ids: list[str], comment_id: int | None) -> None:
    done = dict(ctx.progress.get("accepted") or {})
    done.update({message_id: comment_id or True for message_id in ids})
    ctx.record_progress({"accepted": done, "sending": None,
                         "thread": {"external_id": thread.external_id, "data": thread.data}})


def find_comment(zd: t.Any, session: t.Any, sending: dict[str, t.Any], known: set[int]) -> int | None:
    """The id of the comment ``sending`` describes, if Zendesk applied it; None if it is not on the ticket."""
    with calling_zendesk("ticket comments", session):
        comments = list(zd.tickets.comments(int(sending["ticket"])))
    since = float(sending["at"]) - CLOCK_MARGIN
    for comment in reversed(comments):  # newest first; ours would be among the last
        written = webhooks.parse_timestamp(str(getattr(comment, "created_at", "") or ""))
        if written is not None and written.timestamp() < since:
            return None
        if comment.id in known or comment.author_id != sending["author_id"]:
            continue
        if bool(comment.public) != bool(sending["public"]):
            continue
        shown = comparable({"body": getattr(comment, "plain_body", None) or getattr(comment, "body", None) or ""})
        if shown == sending["text"]:
            return int(comment.id)
    return None


def comment_id(audit: t.Any) -> int | None:
    """The new comment's id in a ticket update's (or creation's) answer, when it names one."""
    events = getattr(getattr(audit, "audit", None), "events", None) or []
    for event in events:
        kind = event.get("type") if isinstance(event, dict) else getattr(event, "type", None)
        if kind == "Comment":
            value = event.get("id") if isinstance(event, dict) else getattr(event, "id", None)
            return int(value) if value is not None else None
    return None
