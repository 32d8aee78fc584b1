"""Every query the core runs, in one place. Functions take the session they work in."""

from __future__ import annotations

import hashlib
import secrets
import typing as t

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from connector import domain
from connector.storage.models import ApiKey
from connector.storage.models import Conversation
from connector.storage.models import Event
from connector.storage.models import Link
from connector.storage.models import Message
from connector.storage.models import Workspace
from connector.storage.models import new_id

API_KEY_PREFIX = "hck_"


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


# -- workspaces and keys -----------------------------------------------------------------


def default_settings() -> dict[str, t.Any]:
    return {
        "handover": {"enabled": False, "mode": domain.HandoverMode.AUTOMATE.value, "scenarios": []},
        "notifications": {"recipients": []},
    }


def create_workspace(session: Session, name: str, plan: str) -> tuple[Workspace, str]:
    """A new workspace and its first API key (returned in clear, once)."""
    workspace = Workspace(
        id=new_id("ws"),
        name=name,
        plan=plan,
        abilities=sorted(domain.abilities_for_plan(plan)),
        settings=default_settings(),
    )
    session.add(workspace)
    session.flush()
    return workspace, create_api_key(session, workspace)


def create_api_key(session: Session, workspace: Workspace) -> str:
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(workspace_pk=workspace.pk, prefix=key[:10], key_hash=hash_api_key(key)))
    session.flush()
    return key


def workspace_for_key(session: Session, key: str) -> Workspace | None:
    """The workspace an API key belongs to, if the key is known and not revoked."""
    return session.scalar(
        select(Workspace)
        .join(ApiKey, ApiKey.workspace_pk == Workspace.pk)
        .where(ApiKey.key_hash == hash_api_key(key), ApiKey.revoked_at.is_(None))
    )


def api_key_is_valid(session: Session, key: str) -> bool:
    return workspace_for_key(session, key) is not None


def get_workspace(session: Session, workspace_id: str) -> Workspace | None:
    return session.scalar(select(Workspace).where(Workspace.id == workspace_id))


def policy_for(workspace: Workspace) -> domain.Policy:
    handover = (workspace.settings or {}).get("handover", {})
    return domain.Policy(
        abilities=frozenset(workspace.abilities or ()),
        handover_enabled=bool(handover.get("enabled")),
    )


# -- conversations -----------------------------------------------------------------------


def get_conversation(
    session: Session, workspace_pk: int, conversation_id: str, *, for_update: bool = False
) -> Conversation | None:
    query = select(Conversation).where(
        Conversation.workspace_pk == workspace_pk, Conversation.id == conversation_id
    )
    if for_update:
        query = query.with_for_update()
    return session.scalar(query)


def conversation_by_external_id(session: Session, workspace_pk: int, external_id: str) -> Conversation | None:
    return session.scalar(
        select(Conversation).where(
            Conversation.workspace_pk == workspace_pk, Conversation.external_id == external_id
        )
    )


def list_conversations(
    session: Session,
    workspace_pk: int,
    *,
    status: str | None,
    needs_you: bool | None,
    before_pk: int | None,
    limit: int,
) -> list[Conversation]:
    """Newest first; ``before_pk`` continues after the last row of the previous page."""
    query = select(Conversation).where(Conversation.workspace_pk == workspace_pk)
    if status is not None:
        query = query.where(Conversation.status == status)
    if needs_you is True:
        query = query.where(Conversation.status == "open", Conversation.controller == "human")
    elif needs_you is False:
        query = query.where(
            (Conversation.status != "open") | (Conversation.controller != "human")
        )
    if before_pk is not None:
        query = query.where(Conversation.pk < before_pk)
    return list(session.scalars(query.order_by(Conversation.pk.desc()).limit(limit)))


def state_of(conversation: t.Any) -> domain.ConversationState:
    """The domain state of a conversation (an ORM object or a row of the ``conversations`` table)."""
    return domain.ConversationState(
        status=domain.Status(conversation.status),
        controller=domain.Controller(conversation.controller),
        ever_handed_over=conversation.ever_handed_over,
        ever_resolved=conversation.ever_resolved,
        human_joined=conversation.human_joined,
    )


def store_state(conversation: Conversation, state: domain.ConversationState) -> None:
    conversation.status = state.status.value
    conversation.controller = state.controller.value
    conversation.ever_handed_over = state.ever_handed_over
    conversation.ever_resolved = state.ever_resolved
    conversation.human_joined = state.human_joined


# -- messages and events -----------------------------------------------------------------


def list_messages(session: Session, conversation_pk: int, *, after_pk: int | None, limit: int) -> list[Message]:
    """Oldest first."""
    query = select(Message).where(Message.conversation_pk == conversation_pk)
    if after_pk is not None:
        query = query.where(Message.pk > after_pk)
    return list(session.scalars(query.order_by(Message.pk).limit(limit)))


def list_events(session: Session, conversation_pk: int, *, after_pk: int | None, limit: int) -> list[Event]:
    """Oldest first."""
    query = select(Event).where(Event.conversation_pk == conversation_pk)
    if after_pk is not None:
        query = query.where(Event.pk > after_pk)
    return list(session.scalars(query.order_by(Event.pk).limit(limit)))


def event_row(conversation_pk: int, event: domain.Event) -> dict[str, t.Any]:
    """The ``events`` row of one domain event (its pk comes from the insert)."""
    return {
        "id": new_id("evt"),
        "conversation_pk": conversation_pk,
        "type": event.type.value,
        "actor_kind": event.actor.kind,
        "actor_name": event.actor.name,
        "trigger": event.trigger.value,
        "reason": event.reason,
        "scenario": event.scenario,
        "source": event.source,
        "at": event.at,
    }


def append_events(session: Session, conversation: Conversation, events: t.Iterable[domain.Event]) -> list[Event]:
    rows = [Event(**event_row(conversation.pk, event)) for event in events]
    session.add_all(rows)
    return rows


# -- usage -------------------------------------------------------------------------------


def usage(session: Session, workspace_pk: int) -> dict[str, int]:
    """Counts of conversations for the quota: see :attr:`domain.ConversationState.is_ai_resolution`."""
    row = session.execute(
        select(
            func.count().filter(Conversation.ever_resolved, ~Conversation.ever_handed_over),
            func.count().filter(Conversation.ever_handed_over),
            func.count().filter(Conversation.ever_resolved),
        ).where(Conversation.workspace_pk == workspace_pk)
    ).one()
    return {
        "ai_resolutions": row[0],
        "handed_over_conversations": row[1],
        "resolved_conversations": row[2],
    }
