"""Read-only queries on the outbox for what is failing, for Settings -> Integrations.

"Failing" is what ``connector deliveries list --failed`` lists: dead deliveries, and
pending ones that have failed at least once and wait for their next attempt. A delivery
a worker is retrying right now (in flight after a failure) is listed too, so a row does
not blink out of the page while it is being tried again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import and_
from sqlalchemy import or_
from sqlalchemy import Select
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from connector.storage.models import Conversation
from connector.storage.models import Delivery

#: Statuses as stored (see ``Delivery.status``).
PENDING = "pending"
IN_FLIGHT = "in_flight"
DEAD = "dead"


@dataclasses.dataclass(frozen=True)
class Failure:
    id: str
    plugin: str
    action: str
    status: str  #: pending | in_flight | dead
    attempts: int
    last_error: str | None
    next_attempt_at: dt.datetime | None  #: when a pending one is tried again
    created_at: dt.datetime
    conversation_id: str | None


def _failing() -> ColumnElement[bool]:
    return or_(
        Delivery.status == DEAD,
        and_(Delivery.status.in_((PENDING, IN_FLIGHT)), Delivery.attempts > 0, Delivery.last_error.is_not(None)),
    )


def _failure(delivery: Delivery, conversation_id: str | None) -> Failure:
    return Failure(
        id=delivery.id, plugin=delivery.plugin, action=delivery.action, status=delivery.status,
        attempts=delivery.attempts, last_error=delivery.last_error,
        next_attempt_at=delivery.next_attempt_at if delivery.status == PENDING else None,
        created_at=delivery.created_at, conversation_id=conversation_id,
    )


def _select(workspace_pk: int) -> Select:
    return (
        select(Delivery, Conversation.id)
        .outerjoin(Conversation, Conversation.pk == Delivery.conversation_pk)
        .where(Delivery.workspace_pk == workspace_pk, _failing())
    )


def failing_deliveries(session: Session, workspace_pk: int, *, limit: int = 100) -> list[Failure]:
    """A workspace's dead and failing deliveries, newest first.

    :param workspace_pk: the workspace whose deliveries are listed (never another's).
    :param limit: at most this many rows.
    """
    rows = session.execute(_select(workspace_pk).order_by(Delivery.pk.desc()).limit(limit))
    return [_failure(delivery, conversation_id) for delivery, conversation_id in rows]


def find_failing(session: Session, workspace_pk: int, delivery_id: str) -> Failure | None:
    """One of the workspace's failing deliveries, or None (unknown, another's, or fine now)."""
    row = session.execute(_select(workspace_pk).where(Delivery.id == delivery_id)).first()
    return None if row is None else _failure(row[0], row[1])
