"""The inbox's queries: rows with their last message, search, and what the team has seen.

"Seen" is team-wide: a conversation is unread while its latest shopper message is newer
than both the latest one an admin had on screen in the console and the team's latest
reply from any tool. The marks live in the workspace's settings under ``console_seen``
(``{"marks": {conversation id: message pk}, "floor": pk}``) because the schema has no
table for them yet; :func:`mark_seen` and :func:`unread` are the only code that knows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing as t

from sqlalchemy import exists
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.storage.database import Database
from connector.storage.models import Conversation
from connector.storage.models import Event
from connector.storage.models import Message
from connector.storage.models import Workspace

SEEN = "console_seen"
#: Marks kept per workspace; older ones fold into ``floor`` (seen up to that message).
MAX_MARKS = 2000
#: Messages a transcript opens with (the latest ones).
TRANSCRIPT_LIMIT = 1000
#: Longest search text taken.
MAX_QUERY = 200


@dataclasses.dataclass
class Row:
    conversation: Conversation
    last_message: Message | None
    unread: bool


def search_filter(text: str) -> t.Any:
    """Shopper name, e-mail or any message's text contains ``text`` (case-insensitive)."""
    return or_(
        Conversation.shopper_name.icontains(text, autoescape=True),
        Conversation.shopper_email.icontains(text, autoescape=True),
        exists().where(Message.conversation_pk == Conversation.pk,
                       Message.text.icontains(text, autoescape=True)),
    )


def list_rows(session: Session, workspace: Workspace, *, status: str, search: str = "",
              limit: int = 100) -> list[Row]:
    """The inbox tab's conversations, latest activity first, with their last message and unread mark."""
    query = select(Conversation).where(Conversation.workspace_pk == workspace.pk, Conversation.status == status)
    search = search.strip()[:MAX_QUERY]
    if search:
        query = query.where(search_filter(search))
    conversations = list(session.scalars(
        query.order_by(Conversation.updated_at.desc(), Conversation.pk.desc()).limit(limit)))
    pks = [c.pk for c in conversations]
    last = _latest(session, pks, None)
    last_shopper = {m.conversation_pk: m.pk for m in _latest(session, pks, "shopper").values()}
    last_human = {m.conversation_pk: m.pk for m in _latest(session, pks, "human").values()}
    marks = seen_marks(workspace)
    return [
        Row(c, last.get(c.pk), unread(marks, c.id, last_shopper.get(c.pk), last_human.get(c.pk)))
        for c in conversations
    ]


def _latest(session: Session, conversation_pks: list[int], author: str | None) -> dict[int, Message]:
    """Each conversation's latest message (by ``author`` when given)."""
    if not conversation_pks:
        return {}
    latest = select(func.max(Message.pk)).where(Message.conversation_pk.in_(conversation_pks))
    if author is not None:
        latest = latest.where(Message.author == author)
    latest = latest.group_by(Message.conversation_pk)
    return {m.conversation_pk: m for m in session.scalars(select(Message).where(Message.pk.in_(latest)))}


def transcript_rows(session: Session, conversation_pk: int, *, since: dt.datetime | None = None,
                    limit: int | None = None) -> tuple[list[Message], list[Event], int]:
    """The latest ``limit`` messages (oldest first), the events of that stretch, and how many earlier are left out.

    :param since: only what happened at or after this time (the page's live updates).
    :param limit: at most this many messages (default :data:`TRANSCRIPT_LIMIT`).
    """
    limit = limit or TRANSCRIPT_LIMIT
    query = select(Message).where(Message.conversation_pk == conversation_pk)
    if since is not None:
        query = query.where(Message.created_at >= since)
    messages = list(reversed(session.scalars(query.order_by(Message.pk.desc()).limit(limit)).all()))
    earlier = 0
    start = since
    if since is None and len(messages) == limit:
        earlier = session.scalar(select(func.count()).where(
            Message.conversation_pk == conversation_pk, Message.pk < messages[0].pk)) or 0
        start = messages[0].created_at if earlier else None
    events = select(Event).where(Event.conversation_pk == conversation_pk)
    if start is not None:
        events = events.where(Event.at >= start)
    return messages, list(session.scalars(events.order_by(Event.pk))), earlier


def all_events(session: Session, conversation_pk: int) -> list[Event]:
    """The conversation's whole event log, oldest first."""
    return list(session.scalars(select(Event).where(Event.conversation_pk == conversation_pk).order_by(Event.pk)))


def latest_shopper_pk(session: Session, conversation_pk: int) -> int | None:
    return session.scalar(select(func.max(Message.pk)).where(
        Message.conversation_pk == conversation_pk, Message.author == "shopper"))


# -- seen marks ----------------------------------------------------------------------------


def seen_marks(workspace: Workspace) -> dict[str, t.Any]:
    value = (workspace.settings or {}).get(SEEN) or {}
    return {"marks": dict(value.get("marks") or {}), "floor": int(value.get("floor") or 0)}


def unread(marks: dict[str, t.Any], conversation_id: str, last_shopper_pk: int | None,
           last_human_pk: int | None) -> bool:
    """Whether a shopper message came in that nobody on the team has seen or answered."""
    if last_shopper_pk is None:
        return False
    seen = max(int(marks["marks"].get(conversation_id, 0)), marks["floor"], last_human_pk or 0)
    return last_shopper_pk > seen


def mark_seen(db: Database, workspace: Workspace, conversation_id: str, message_pk: int | None) -> None:
    """Record that an admin had the conversation on screen up to ``message_pk``.

    The workspace row is locked while its settings are rewritten, so a concurrent save of
    another settings section is never lost (at worst a seen mark is).
    """
    if message_pk is None or int(seen_marks(workspace)["marks"].get(conversation_id, 0)) >= message_pk:
        return
    with db.write() as session:
        # FOR NO KEY UPDATE: it waits for other settings writers, not for rows that merely
        # reference the workspace (new conversations and deliveries take KEY SHARE locks).
        row = session.get(Workspace, workspace.pk, with_for_update=False if db.is_sqlite else {"key_share": True})
        current = seen_marks(row)
        marks = current["marks"]
        if int(marks.get(conversation_id, 0)) >= message_pk:
            workspace.settings = row.settings
            return
        marks[conversation_id] = message_pk
        floor = current["floor"]
        if len(marks) > MAX_MARKS:
            ordered = sorted(marks.items(), key=lambda pair: pair[1])
            dropped = ordered[: len(marks) - MAX_MARKS]
            floor = max(floor, *(pk for _, pk in dropped))
            marks = dict(ordered[len(dropped):])
        row.settings = {**(row.settings or {}), SEEN: {"marks": marks, "floor": floor}}
        workspace.settings = row.settings
