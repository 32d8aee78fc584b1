"""The transactional outbox: delivery rows, written with the change that causes them.

Statuses (``deliveries.status``):

* ``pending``: waiting for its turn or its ``next_attempt_at``;
* ``in_flight``: claimed by a worker (``claimed_by``, ``claimed_at``); a claim older than
  the lease is taken to be a dead worker's and claimed again;
* ``delivered``: done;
* ``dead``: out of attempts, or refused for good; kept, and replayable.

Every status change filters on the status it expects, so a worker that lost its lease
cannot overwrite the outcome of the worker that took over.
"""

from __future__ import annotations

import datetime as dt
import typing as t

from sqlalchemy import and_
from sqlalchemy import bindparam
from sqlalchemy import exists
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.orm import aliased

from connector import representations
from connector.domain import EventType
from connector.storage.models import Delivery
from connector.storage.models import Link
from connector.storage.models import Message
from connector.storage.models import new_id
from connector.storage.models import utcnow

if t.TYPE_CHECKING:
    from connector.handover import Change
    from connector.integrations import IntegrationStore

PLATFORM = "platform"
OPEN_THREAD = "open_thread"
MIRROR_MESSAGE = "mirror_message"
MIRROR_STATE = "mirror_state"
PLATFORM_EVENT = "platform_event"
#: a plugin's own job, see Integration.run_task
TASK = "task"

OPEN = ("pending", "in_flight")
#: session.info key set when a transaction queued at least one delivery
QUEUED = "deliveries_queued"
#: the earlier delivery of the same ordering key, in claim(); built once
_EARLIER = aliased(Delivery)


def enqueue(
    session: Session,
    *,
    workspace_pk: int,
    conversation_pk: int | None,
    plugin: str,
    action: str,
    payload: dict[str, t.Any],
    now: dt.datetime,
) -> Delivery:
    """Add one delivery to the outbox in the caller's transaction."""
    delivery_id = new_id("dlv")
    delivery = Delivery(
        id=delivery_id,
        workspace_pk=workspace_pk,
        conversation_pk=conversation_pk,
        plugin=plugin,
        action=action,
        payload=payload,
        ordering_key=f"{plugin}:{conversation_pk or workspace_pk}",
        idempotency_key=delivery_id,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(delivery)
    session.info[QUEUED] = True  # tells the handover service to wake the local worker
    return delivery


class OutboxListener:
    """Writes the deliveries a change causes, in the change's own transaction.

    * every message and state change goes to the chat platform's webhook, if set;
    * once a conversation has been handed over, each installed integration gets an
      ``open_thread`` (with the transcript so far) and then every later message and state
      change, except the ones that came from that integration itself;
    * tools that show suggestions (``opens_on_suggestion``: Slack) get their thread at a
      semi-automate suggestion already, and the messages written meanwhile once it is
      handed over.
    """

    def __init__(self, store: "IntegrationStore", wake: t.Callable[[], None] | None = None) -> None:
        self.store = store
        self.wake = wake

    def in_transaction(self, session: Session, change: "Change") -> None:
        conversation = change.conversation
        now = conversation.updated_at
        if change.workspace.platform_webhook_url:
            for event in change.public_events:
                enqueue(
                    session, workspace_pk=change.workspace.pk, conversation_pk=conversation.pk,
                    plugin=PLATFORM, action=PLATFORM_EVENT, payload={"event": event}, now=now,
                )
        suggested = any(e.type == EventType.HANDOVER_SUGGESTED.value for e in change.events)
        if not conversation.ever_handed_over and not suggested:
            return
        installed = self.store.installed(session, change.workspace.pk)
        if not conversation.ever_handed_over:  # a semi-automate suggestion: only tools that show those
            installed = [i for i in installed if self.store.registry.get(i.plugin).opens_on_suggestion]
        if not installed:
            return
        threaded = set(session.scalars(select(Link.plugin).where(Link.conversation_pk == conversation.pk)))
        threaded |= set(session.scalars(select(Delivery.plugin).where(
            Delivery.conversation_pk == conversation.pk, Delivery.action == OPEN_THREAD,
        )))
        snapshot = representations.conversation_json(conversation)
        events = [representations.event_json(e, conversation.id) for e in change.events]
        for integration in installed:
            plugin = integration.plugin
            common = {"workspace_pk": change.workspace.pk, "conversation_pk": conversation.pk,
                      "plugin": plugin, "now": now}
            if plugin not in threaded:
                # The thread opens with everything so far, this change included.
                enqueue(session, action=OPEN_THREAD, payload={
                    "conversation": snapshot,
                    "until_message_pk": change.message.pk if change.message else _last_message_pk(session, conversation.pk),
                    "events": events,
                }, **common)
                continue
            if conversation.ever_handed_over and not change.before.ever_handed_over:
                # Opened on a suggestion while the AI went on: bring it up to date first.
                self._catch_up(session, change, plugin, common)
            shows_state = self.store.registry.get(plugin).mirror_own_state
            from_here = plugin == change.source
            if from_here and not shows_state:
                continue  # never mirror back to where it came from
            if change.message is not None and not from_here:
                enqueue(session, action=MIRROR_MESSAGE, payload={
                    "conversation": snapshot,
                    "message": representations.message_json(change.message, conversation.id),
                }, **common)
            # human_joined changes no state a helpdesk shows; a status line ("taken by") does.
            if events and (shows_state or any(e["type"] != EventType.HUMAN_JOINED.value for e in events)):
                enqueue(session, action=MIRROR_STATE, payload={"conversation": snapshot, "events": events}, **common)

    @staticmethod
    def _catch_up(session: Session, change: "Change", plugin: str, common: dict[str, t.Any]) -> None:
        """Mirror the messages written since the thread opened on a suggestion, in order."""
        opened = session.scalar(select(Delivery).where(
            Delivery.conversation_pk == change.conversation.pk, Delivery.plugin == plugin,
            Delivery.action == OPEN_THREAD).order_by(Delivery.pk).limit(1))
        if opened is None:
            return
        query = select(Message).where(Message.conversation_pk == change.conversation.pk,
                                      Message.pk > opened.payload["until_message_pk"])
        if change.message is not None:
            query = query.where(Message.pk < change.message.pk)
        snapshot = representations.conversation_json(change.conversation)
        for message in session.scalars(query.order_by(Message.pk)):
            enqueue(session, action=MIRROR_MESSAGE, payload={
                "conversation": snapshot, "message": representations.message_json(message, change.conversation.id),
            }, **common)

    def after_commit(self, change: "Change") -> None:
        if self.wake is not None and change.deliveries_queued:
            self.wake()  # only when there is something to deliver: an idle check costs a write transaction


def enqueue_task(
    session: Session, *, workspace_pk: int, conversation_pk: int, plugin: str, task: dict[str, t.Any],
    now: dt.datetime | None = None,
) -> Delivery:
    """Queue a plugin's own job; it runs in order with the conversation's other deliveries to that plugin."""
    return enqueue(session, workspace_pk=workspace_pk, conversation_pk=conversation_pk, plugin=plugin,
                   action=TASK, payload={"task": task}, now=now or utcnow())


def task_of(session: Session, delivery_id: str, plugin: str) -> tuple[Delivery, dict[str, t.Any]] | None:
    """A queued task by its delivery id (a button can name the task it continues)."""
    delivery = session.scalar(select(Delivery).where(
        Delivery.id == delivery_id, Delivery.plugin == plugin, Delivery.action == TASK))
    if delivery is None:
        return None
    return delivery, delivery.payload["task"]


def _last_message_pk(session: Session, conversation_pk: int) -> int:
    return session.scalar(select(func.coalesce(func.max(Message.pk), 0)).where(Message.conversation_pk == conversation_pk)) or 0


# -- the worker's queries ----------------------------------------------------------------


def claim(
    session: Session, *, worker_id: str, now: dt.datetime, lease: float, limit: int, skip_locked: bool
) -> list[Delivery]:
    """Claim up to ``limit`` due deliveries, each the oldest open one of its ordering key.

    A delivery waits while an earlier one with the same ordering key (same conversation
    and plugin) is pending or in flight; dead ones do not hold the line.
    """
    earlier = _EARLIER
    blocked = exists().where(
        earlier.ordering_key == Delivery.ordering_key,
        earlier.pk < Delivery.pk,
        earlier.status.in_(OPEN),
    )
    query = (
        select(Delivery)
        .where(
            or_(
                and_(Delivery.status == "pending", Delivery.next_attempt_at <= now),
                and_(Delivery.status == "in_flight", Delivery.claimed_at < now - dt.timedelta(seconds=lease)),
            ),
            ~blocked,
        )
        .order_by(Delivery.pk)
        .limit(limit)
    )
    if skip_locked:
        query = query.with_for_update(skip_locked=True, of=Delivery)
    rows = list(session.scalars(query))
    for row in rows:
        row.status = "in_flight"
        row.claimed_by = worker_id
        row.claimed_at = now
        row.attempts += 1
    session.flush()
    return rows


def _guarded(session: Session, pk: int, worker_id: str, **values: t.Any) -> bool:
    result = session.execute(
        update(Delivery)
        .where(Delivery.pk == pk, Delivery.status == "in_flight", Delivery.claimed_by == worker_id)
        .values(**values)
    )
    return result.rowcount == 1


def mark_delivered(session: Session, pk: int, worker_id: str, external_ref: str | None) -> bool:
    return _guarded(session, pk, worker_id, status="delivered", delivered_at=utcnow(),
                    external_ref=external_ref, last_error=None)


def mark_delivered_many(session: Session, worker_id: str, done: t.Sequence[tuple[int, str | None]]) -> None:
    """:func:`mark_delivered` for many ``(pk, external_ref)`` at once, one statement, same guard."""
    if not done:
        return
    table = Delivery.__table__
    statement = (
        update(table)
        .where(table.c.pk == bindparam("b_pk"), table.c.status == "in_flight", table.c.claimed_by == worker_id)
        .values(status="delivered", delivered_at=utcnow(), external_ref=bindparam("b_ref"), last_error=None)
    )
    session.connection().execute(statement, [{"b_pk": pk, "b_ref": ref} for pk, ref in done])


def followers(session: Session, head: Delivery | t.Any, action: str, limit: int) -> list[Delivery]:
    """The deliveries queued right behind ``head`` with the same key, while they are ``action``."""
    rows = session.scalars(
        select(Delivery).where(Delivery.ordering_key == head.ordering_key, Delivery.pk > head.pk,
                               Delivery.status.in_(OPEN)).order_by(Delivery.pk).limit(limit)).all()
    taken = []
    for row in rows:
        if row.action != action or row.status != "pending":
            break
        taken.append(row)
    return taken


def mark_absorbed(session: Session, pks: t.Collection[int], into: str) -> None:
    """Deliveries whose content went out with another one (a batch): delivered, if still pending."""
    if pks:
        session.execute(update(Delivery).where(Delivery.pk.in_(pks), Delivery.status == "pending").values(
            status="delivered", delivered_at=utcnow(), last_error=None, external_ref=f"batched:{into}"))


def mark_retry(session: Session, pk: int, worker_id: str, error: str, at: dt.datetime) -> bool:
    return _guarded(session, pk, worker_id, status="pending", next_attempt_at=at, last_error=error,
                    claimed_by=None, claimed_at=None)


def mark_deferred(session: Session, pk: int, worker_id: str, reason: str, at: dt.datetime) -> bool:
    """Back to pending until ``at`` without counting the attempt (see :class:`connector.plugins.Defer`)."""
    return _guarded(session, pk, worker_id, status="pending", next_attempt_at=at, last_error=reason,
                    claimed_by=None, claimed_at=None, attempts=Delivery.attempts - 1)


def delivered_since(session: Session, ordering_key: str, actions: t.Collection[str], since: dt.datetime
                    ) -> list[dt.datetime]:
    """When the deliveries of one ordering key went out since ``since`` (batched ones not counted)."""
    return list(session.scalars(
        select(Delivery.delivered_at).where(
            Delivery.ordering_key == ordering_key, Delivery.status == "delivered", Delivery.action.in_(actions),
            Delivery.delivered_at >= since,
            or_(Delivery.external_ref.is_(None), ~Delivery.external_ref.startswith("batched:")),
        ).order_by(Delivery.delivered_at)))


def mark_dead(session: Session, pk: int, worker_id: str, error: str) -> bool:
    return _guarded(session, pk, worker_id, status="dead", last_error=error)


def replay(session: Session, delivery_id: str) -> bool:
    """A dead delivery back to pending, with a fresh set of attempts."""
    result = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == "dead")
        .values(status="pending", attempts=0, next_attempt_at=utcnow(), claimed_by=None, claimed_at=None)
    )
    return result.rowcount == 1


def is_echo(session: Session, plugin: str, external_ref: str) -> bool:
    """Whether we posted ``external_ref`` into ``plugin`` ourselves."""
    return session.scalar(
        select(exists().where(Delivery.plugin == plugin, Delivery.external_ref == external_ref))
    ) or False


def list_deliveries(session: Session, *, statuses: t.Collection[str] | None = None, limit: int = 100) -> list[Delivery]:
    query = select(Delivery).order_by(Delivery.pk.desc()).limit(limit)
    if statuses:
        query = query.where(Delivery.status.in_(statuses))
    return list(session.scalars(query))


def counts(session: Session) -> list[tuple[str, str, int]]:
    """(plugin, status, count) for every open or dead delivery, for metrics."""
    rows = session.execute(
        select(Delivery.plugin, Delivery.status, func.count())
        .where(Delivery.status.in_(("pending", "in_flight", "dead")))
        .group_by(Delivery.plugin, Delivery.status)
    )
    return [(plugin, status, count) for plugin, status, count in rows]


def failing(session: Session) -> list[tuple[str, int]]:
    """(plugin, count) of pending deliveries that have failed at least once."""
    rows = session.execute(
        select(Delivery.plugin, func.count())
        .where(Delivery.status == "pending", Delivery.attempts > 0)
        .group_by(Delivery.plugin)
    )
    return [(plugin, count) for plugin, count in rows]
