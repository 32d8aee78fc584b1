"""SQLAlchemy 2 models: the tables behind the connector.

Public ids are strings with a type prefix (``conv_...``); every table that is paged or
ordered also has an integer ``pk`` so cursors and "oldest first" are exact and cheap.
Times are stored as naive UTC and read back as aware UTC datetimes.
"""

from __future__ import annotations

import datetime as dt
import enum
import secrets
import typing as t

from sqlalchemy import JSON
from sqlalchemy import BigInteger
from sqlalchemy import Boolean
from sqlalchemy import DateTime
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import MetaData
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy import types
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

#: Integer primary keys that autoincrement on SQLite (INTEGER) and PostgreSQL (BIGINT).
PK = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


class UTCDateTime(types.TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out, on every database."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: t.Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use aware UTC datetimes")
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: t.Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Workspace(Base):
    __tablename__ = "workspaces"

    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    #: pro or basic
    plan: Mapped[str] = mapped_column(String(20))
    #: abilities granted, e.g. ["handover_to_human"]
    abilities: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: {"handover": {...}, "notifications": {...}}
    settings: Mapped[dict[str, t.Any]] = mapped_column(JSON, default=dict)
    platform_webhook_url: Mapped[str | None] = mapped_column(Text)
    #: the Standard Webhooks signing secret, encrypted with the deployment's key
    platform_webhook_secret: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"

    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    workspace_pk: Mapped[int] = mapped_column(ForeignKey("workspaces.pk", ondelete="CASCADE"), index=True)
    #: the first characters of the key, to tell keys apart; never enough to use one
    prefix: Mapped[str] = mapped_column(String(16))
    #: SHA-256 of the whole key (keys are 256-bit random, so a fast hash is right)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("workspace_pk", "external_id"),
        Index("ix_conversations_inbox", "workspace_pk", "status", "controller", "pk"),
    )

    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    workspace_pk: Mapped[int] = mapped_column(ForeignKey("workspaces.pk", ondelete="CASCADE"))
    external_id: Mapped[str | None] = mapped_column(String(200))
    shopper_name: Mapped[str | None] = mapped_column(String(200))
    shopper_email: Mapped[str | None] = mapped_column(String(320))
    #: open | resolved
    status: Mapped[str] = mapped_column(String(16), default="open")
    #: ai | human
    controller: Mapped[str] = mapped_column(String(16), default="ai")
    #: bumped on every state change; updates check it (optimistic concurrency)
    version: Mapped[int] = mapped_column(Integer, default=1)
    #: SQLAlchemy checks and bumps ``version`` on every update: a stale write fails.
    __mapper_args__ = {"version_id_col": version}
    ever_handed_over: Mapped[bool] = mapped_column(Boolean, default=False)
    ever_resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    human_joined: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_conversation", "conversation_pk", "pk"),)

    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    conversation_pk: Mapped[int] = mapped_column(ForeignKey("conversations.pk", ondelete="CASCADE"))
    #: shopper | ai | human | system
    author: Mapped[str] = mapped_column(String(16))
    author_name: Mapped[str | None] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    #: [{"url", "name", "content_type"}]: links, never the files themselves
    attachments: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    #: which tool it came from: api, console, slack, zendesk...
    source: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Event(Base):
    """The append-only log of transitions; rows are never updated or deleted."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_conversation", "conversation_pk", "pk"),)

    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    conversation_pk: Mapped[int] = mapped_column(ForeignKey("conversations.pk", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(40))
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_name: Mapped[str | None] = mapped_column(String(200))
    #: manual | automatic | message
    trigger: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    scenario: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(40))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Link(Base):
    """A conversation's native thread or ticket in one integration."""

    __tablename__ = "links"
    __table_args__ = (
        UniqueConstraint("conversation_pk", "plugin"),
        #: two helpdesk accounts may number their tickets alike: unique per workspace only
        UniqueConstraint("workspace_pk", "plugin", "external_id"),
    )

    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    workspace_pk: Mapped[int] = mapped_column(ForeignKey("workspaces.pk", ondelete="CASCADE"))
    conversation_pk: Mapped[int] = mapped_column(ForeignKey("conversations.pk", ondelete="CASCADE"))
    plugin: Mapped[str] = mapped_column(String(40))
    #: the vendor's thread or ticket id (Slack channel:ts, Zendesk ticket id, ...)
    external_id: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict[str, t.Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeliveryStatus(enum.StrEnum):
    """Where a delivery is in its life; every change filters on the status it expects."""

    #: waiting for its turn in its ordering key, or for ``next_attempt_at``
    PENDING = "pending"
    #: claimed by a worker (``claimed_by``, ``claimed_at``); a claim older than the lease is
    #: taken to be a dead worker's and claimed again
    IN_FLIGHT = "in_flight"
    #: done
    DELIVERED = "delivered"
    #: out of attempts, or refused for good; kept, and replayable
    DEAD = "dead"


class Delivery(Base):
    """The outbox: one outbound call, written in the transaction that caused it."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_ordering", "ordering_key", "pk"),
        Index("ix_deliveries_echo", "plugin", "external_ref"),
    )

    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    workspace_pk: Mapped[int] = mapped_column(ForeignKey("workspaces.pk", ondelete="CASCADE"))
    conversation_pk: Mapped[int | None] = mapped_column(ForeignKey("conversations.pk", ondelete="CASCADE"))
    #: the plugin (or "platform" for the chat platform's webhook) that delivers it
    plugin: Mapped[str] = mapped_column(String(40))
    #: what to do, e.g. open_thread, mirror_message, platform_event
    action: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, t.Any]] = mapped_column(JSON)
    #: deliveries sharing a key happen in order (conversation and plugin)
    ordering_key: Mapped[str] = mapped_column(String(120))
    #: sent to vendors that support idempotency keys; stable across retries
    idempotency_key: Mapped[str] = mapped_column(String(80))
    #: pending: waiting or due; in_flight: claimed by a worker; delivered; dead: out of attempts
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    #: the vendor's id of what this delivery created (a Slack ts, a comment id): echoes
    #: of it coming back through the vendor's webhooks are recognised and dropped
    external_ref: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ParkedEvent(Base):
    """An inbound event for a thread whose link is not recorded yet (its first post is in flight).

    Applied when the link is stored; dropped after a few minutes if it never is.
    """

    __tablename__ = "parked_events"
    __table_args__ = (Index("ix_parked_events_thread", "plugin", "thread_id"),)

    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    plugin: Mapped[str] = mapped_column(String(40))
    thread_id: Mapped[str] = mapped_column(String(200))
    #: the workspaces whose credentials authenticated it (null: any)
    workspaces: Mapped[list[int] | None] = mapped_column(JSON)
    #: {"task": {...}} (deferred) or {"event": {...}} (to apply)
    payload: Mapped[dict[str, t.Any]] = mapped_column(JSON)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Receipt(Base):
    """Inbound idempotency: one row per (source, vendor event id) already handled."""

    __tablename__ = "receipts"
    __table_args__ = (UniqueConstraint("source", "key"),)

    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    #: the plugin name, or "api" for Idempotency-Key headers
    source: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(200))
    #: what the first handling produced, replayed to a retry
    result: Mapped[dict[str, t.Any] | None] = mapped_column(JSON)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Integration(Base):
    """A plugin's settings for one workspace, encrypted at rest, and its health."""

    __tablename__ = "integrations"
    __table_args__ = (UniqueConstraint("workspace_pk", "plugin"),)

    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    workspace_pk: Mapped[int] = mapped_column(ForeignKey("workspaces.pk", ondelete="CASCADE"))
    plugin: Mapped[str] = mapped_column(String(40))
    #: the settings as JSON, encrypted with a key derived from CONNECTOR_SECRET_KEY
    settings_encrypted: Mapped[str] = mapped_column(Text)
    #: unknown | ok | unhealthy
    health: Mapped[str] = mapped_column(String(16), default="unknown")
    #: why it is unhealthy (a vendor error code, never a secret)
    health_reason: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Admin(Base):
    """A person who signs in to the console of one workspace."""

    __tablename__ = "admins"

    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    workspace_pk: Mapped[int] = mapped_column(ForeignKey("workspaces.pk", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    #: werkzeug's salted scrypt/pbkdf2 hash
    password_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
