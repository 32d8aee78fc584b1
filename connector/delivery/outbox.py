"""The transactional outbox: delivery rows, written with the change that causes them.

Statuses are :class:`~connector.storage.models.DeliveryStatus`. Every status change
filters on the status it expects, so a worker that lost its lease cannot overwrite the
outcome of the worker that took over. Which tools get which change is decided in
:mod:`connector.delivery.routing`; this module owns the SQL.
"""

from __future__ import annotations

import datetime as dt
import typing as t

from sqlalchemy import and_
from sqlalchemy import bindparam
from sqlalchemy import delete
from sqlalchemy import exists
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.orm import aliased

from connector.storage.models import Conversation
from connector.storage.models import Delivery
from connector.storage.models import DeliveryStatus as Status
from connector.storage.models import Link
from connector.storage.models import Message
from connector.storage.models import ParkedEvent
from connector.storage.models import new_id
from connector.storage.models import utcnow
from connector.storage.transaction_cache import forget
from connector.storage.transaction_cache import remembered

#: the contract's calls (see :class:`connector.plugins.Integration`); every other action
#: names a task (``payload["task"]``) for :meth:`~connector.plugins.Integration.run_task`
OPEN_THREAD = "open_thread"
MIRROR_MESSAGE = "mirror_message"
MIRROR_STATE = "mirror_state"
TELL_AGENT = "tell_agent"
#: an inbound event that waited for its thread's link: applied by the core, no vendor call
INBOUND = "inbound"
#: a plugin's own job, see Integration.run_task
TASK = "task"
THREAD_ACTIONS = (OPEN_THREAD, MIRROR_MESSAGE, MIRROR_STATE, TELL_AGENT, INBOUND)

OPEN = (Status.PENDING, Status.IN_FLIGHT)
#: session.info key set when a transaction queued at least one delivery
QUEUED = "deliveries_queued"
#: how long an inbound event waits for its thread's link before it is dropped
PARK_SECONDS = 600
#: kinds of lookups remembered for a transaction (connector.storage.transaction_cache)
LINKS = "links"
THREADED = "threaded"
#: the earlier delivery of the same ordering key, in claim(); built once
_EARLIER = aliased(Delivery)


def delivery_values(
    *, workspace_pk: int, conversation_pk: int | None, plugin: str, action: str, payload: dict[str, t.Any],
    now: dt.datetime, not_before: dt.datetime | None = None,
) -> dict[str, t.Any]:
    """The columns of a new delivery (due at once, or at ``not_before``)."""
    delivery_id = new_id("dlv")
    return {
        "id": delivery_id,
        "workspace_pk": workspace_pk,
        "conversation_pk": conversation_pk,
        "plugin": plugin,
        "action": action,
        "payload": payload,
        "ordering_key": f"{plugin}:{conversation_pk or workspace_pk}",
        "idempotency_key": delivery_id,
        "status": Status.PENDING,
        "attempts": 0,
        "next_attempt_at": not_before or now,
        "created_at": now,
    }


def enqueue(
    session: Session,
    *,
    workspace_pk: int,
    conversation_pk: int | None,
    plugin: str,
    action: str,
    payload: dict[str, t.Any],
    now: dt.datetime,
    not_before: dt.datetime | None = None,
) -> Delivery:
    """Add one delivery to the outbox in the caller's transaction (due at once, or at ``not_before``)."""
    delivery = Delivery(**delivery_values(workspace_pk=workspace_pk, conversation_pk=conversation_pk, plugin=plugin,
                                          action=action, payload=payload, now=now, not_before=not_before))
    session.add(delivery)
    session.info[QUEUED] = True  # tells the handover service to wake the local worker
    if action == OPEN_THREAD:
        forget(session, THREADED)
    return delivery


def enqueue_task(
    session: Session, *, workspace_pk: int, conversation_pk: int | None, plugin: str, task: dict[str, t.Any],
    now: dt.datetime | None = None, action: str = TASK, not_before: dt.datetime | None = None,
) -> Delivery:
    """Queue a plugin's own job; it runs in order with the conversation's other deliveries to that plugin.

    ``action`` names the job in ``connector deliveries list`` (``platform_event``, ``notify_handover``).
    """
    return enqueue(session, workspace_pk=workspace_pk, conversation_pk=conversation_pk, plugin=plugin,
                   action=action, payload={"task": task}, now=now or utcnow(), not_before=not_before)


def task_of(session: Session, delivery_id: str, plugin: str,
            workspaces: t.Collection[int] | None = None) -> Delivery | None:
    """A plugin's task by its delivery id (a button can name the task it continues)."""
    query = select(Delivery).where(Delivery.id == delivery_id, Delivery.plugin == plugin,
                                   Delivery.action == TASK)
    if workspaces is not None:
        query = query.where(Delivery.workspace_pk.in_(list(workspaces)))
    return session.scalar(query)


# -- threads -----------------------------------------------------------------------------


def link_of(session: Session, conversation_pk: int, plugin: str) -> Link | None:
    return session.scalar(select(Link).where(Link.conversation_pk == conversation_pk, Link.plugin == plugin))


def find_link(session: Session, plugin: str, thread_id: str, workspaces: t.Collection[int] | None) -> Link | None:
    """The link of a native thread, among ``workspaces`` (None: any); remembered for the transaction."""
    def lookup() -> Link | None:
        query = select(Link).where(Link.plugin == plugin, Link.external_id == thread_id)
        if workspaces is not None:
            query = query.where(Link.workspace_pk.in_(list(workspaces)))
        return session.scalars(query.order_by(Link.pk).limit(1)).first()

    scope = frozenset(workspaces) if workspaces is not None else None
    return remembered(session, LINKS, (plugin, thread_id, scope), lookup)


def find_thread(session: Session, plugin: str, thread_id: str,
                workspaces: t.Collection[int] | None) -> tuple[int, int, str] | None:
    """(workspace pk, conversation pk, conversation id) of a native thread, in one query (see :func:`find_link`)."""
    query = (select(Link.workspace_pk, Link.conversation_pk, Conversation.id)
             .join(Conversation, Conversation.pk == Link.conversation_pk)
             .where(Link.plugin == plugin, Link.external_id == thread_id))
    if workspaces is not None:
        query = query.where(Link.workspace_pk.in_(list(workspaces)))
    found = session.execute(query.order_by(Link.pk).limit(1)).first()
    return None if found is None else (found[0], found[1], found[2])


def store_link(session: Session, *, workspace_pk: int, conversation_pk: int, plugin: str, external_id: str,
               data: dict[str, t.Any]) -> Link | None:
    """Record a conversation's new thread (once); None if it already had one."""
    if link_of(session, conversation_pk, plugin) is not None:
        return None
    link = Link(workspace_pk=workspace_pk, conversation_pk=conversation_pk, plugin=plugin,
                external_id=external_id, data=data, created_at=utcnow())
    session.add(link)
    session.flush()
    forget(session, LINKS, THREADED)
    return link


def move_link(session: Session, conversation_pk: int, plugin: str, external_id: str, data: dict[str, t.Any]) -> bool:
    """A conversation's thread moved in the tool (a follow-up ticket for a closed one, say).

    Inbound events name the new thread from now on; the old one stops routing here.
    """
    result = session.execute(update(Link).where(Link.conversation_pk == conversation_pk, Link.plugin == plugin)
                             .values(external_id=external_id, data=data))
    forget(session, LINKS, THREADED)
    return result.rowcount == 1


def threaded_plugins(session: Session, conversation_pk: int) -> frozenset[str]:
    """The plugins that have (or are opening) a thread for this conversation; remembered for the transaction."""
    def lookup() -> frozenset[str]:
        threaded = set(session.scalars(select(Link.plugin).where(Link.conversation_pk == conversation_pk)))
        threaded |= set(session.scalars(select(Delivery.plugin).where(
            Delivery.conversation_pk == conversation_pk, Delivery.action == OPEN_THREAD)))
        return frozenset(threaded)

    return remembered(session, THREADED, conversation_pk, lookup)


def last_message_pk(session: Session, conversation_pk: int) -> int:
    return session.scalar(select(func.coalesce(func.max(Message.pk), 0))
                          .where(Message.conversation_pk == conversation_pk)) or 0


def messages_since_opened(session: Session, conversation_pk: int, plugin: str, before_pk: int | None) -> list[Message]:
    """Messages written after the plugin's thread opened (on a suggestion), before ``before_pk``."""
    opened = session.scalar(select(Delivery).where(
        Delivery.conversation_pk == conversation_pk, Delivery.plugin == plugin,
        Delivery.action == OPEN_THREAD).order_by(Delivery.pk).limit(1))
    if opened is None:
        return []
    query = select(Message).where(Message.conversation_pk == conversation_pk,
                                  Message.pk > opened.payload["until_message_pk"])
    if before_pk is not None:
        query = query.where(Message.pk < before_pk)
    return list(session.scalars(query.order_by(Message.pk)))


def transcript(session: Session, conversation_pk: int, until_message_pk: int) -> list[Message]:
    """The conversation's messages up to ``until_message_pk``, oldest first (a new thread's transcript)."""
    return list(session.scalars(select(Message).where(
        Message.conversation_pk == conversation_pk, Message.pk <= until_message_pk).order_by(Message.pk)))


# -- inbound events waiting for their thread ---------------------------------------------


def opening_threads(session: Session, plugin: str, workspaces: t.Collection[int] | None, lock: bool) -> bool:
    """Whether a first post to ``plugin`` is in flight (its thread's link is moments away).

    With ``lock``, the in-flight rows are locked, so the worker that records the link waits
    for the caller's transaction and then sees what it parked.
    """
    query = select(Delivery.pk).where(Delivery.plugin == plugin, Delivery.action == OPEN_THREAD,
                                      Delivery.status == Status.IN_FLIGHT)
    if workspaces is not None:
        query = query.where(Delivery.workspace_pk.in_(list(workspaces)))
    if lock:
        query = query.with_for_update()
    return bool(session.scalars(query).all())


def park(session: Session, plugin: str, thread_id: str, workspaces: t.Collection[int] | None,
         payload: dict[str, t.Any]) -> None:
    session.add(ParkedEvent(plugin=plugin, thread_id=thread_id, payload=payload, received_at=utcnow(),
                            workspaces=sorted(workspaces) if workspaces is not None else None))


def unpark(session: Session, link: Link) -> int:
    """Queue what waited for ``link``'s thread, in arrival order; returns how many."""
    cutoff = utcnow() - dt.timedelta(seconds=PARK_SECONDS)
    rows = session.scalars(select(ParkedEvent).where(
        ParkedEvent.plugin == link.plugin, ParkedEvent.thread_id == link.external_id).order_by(ParkedEvent.pk)).all()
    queued = 0
    for row in rows:
        session.delete(row)
        if row.received_at < cutoff or (row.workspaces is not None and link.workspace_pk not in row.workspaces):
            continue
        if "task" in row.payload:
            enqueue_task(session, workspace_pk=link.workspace_pk, conversation_pk=link.conversation_pk,
                         plugin=link.plugin, task=row.payload["task"])
        else:
            enqueue(session, workspace_pk=link.workspace_pk, conversation_pk=link.conversation_pk,
                    plugin=link.plugin, action=INBOUND, payload={"event": row.payload["event"]}, now=utcnow())
        queued += 1
    return queued


def drop_stale_parked(session: Session) -> int:
    cutoff = utcnow() - dt.timedelta(seconds=PARK_SECONDS)
    return session.execute(delete(ParkedEvent).where(ParkedEvent.received_at < cutoff)).rowcount or 0


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
                and_(Delivery.status == Status.PENDING, Delivery.next_attempt_at <= now),
                and_(Delivery.status == Status.IN_FLIGHT, Delivery.claimed_at < now - dt.timedelta(seconds=lease)),
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
        row.status = Status.IN_FLIGHT
        row.claimed_by = worker_id
        row.claimed_at = now
        row.attempts += 1
    session.flush()
    return rows


def claim_run(session: Session, head: Delivery, *, worker_id: str, now: dt.datetime, limit: int) -> list[Delivery]:
    """Claim, with a claimed ``head``, the tasks queued right behind it (same ordering key and action).

    Nothing else of that key can be claimed meanwhile: every one of them waits behind
    ``head``. The worker runs them in order and stores their outcomes together.
    """
    if limit <= 0 or head.action in THREAD_ACTIONS:
        return []
    rows = session.scalars(
        select(Delivery).where(Delivery.ordering_key == head.ordering_key, Delivery.pk > head.pk,
                               Delivery.status.in_(OPEN)).order_by(Delivery.pk).limit(limit)).all()
    taken = []
    for row in rows:
        if row.action != head.action or row.status != Status.PENDING or row.next_attempt_at > now:
            break
        taken.append(row)
    for row in taken:
        row.status = Status.IN_FLIGHT
        row.claimed_by = worker_id
        row.claimed_at = now
        row.attempts += 1
    session.flush()
    return taken


def release(session: Session, pks: t.Collection[int], worker_id: str) -> None:
    """Claimed deliveries not attempted after all (their run ended before them): pending again, uncounted."""
    if pks:
        session.execute(update(Delivery).where(
            Delivery.pk.in_(list(pks)), Delivery.status == Status.IN_FLIGHT, Delivery.claimed_by == worker_id,
        ).values(status=Status.PENDING, claimed_by=None, claimed_at=None, attempts=Delivery.attempts - 1))


def _guarded(session: Session, pk: int, worker_id: str, **values: t.Any) -> bool:
    result = session.execute(
        update(Delivery)
        .where(Delivery.pk == pk, Delivery.status == Status.IN_FLIGHT, Delivery.claimed_by == worker_id)
        .values(**values)
    )
    return result.rowcount == 1


def save_progress(session: Session, pk: int, worker_id: str, payload: dict[str, t.Any]) -> bool:
    """Store a claimed delivery's payload with its ``progress``; False if the claim is no longer ours."""
    return _guarded(session, pk, worker_id, payload=payload)


def mark_delivered(session: Session, pk: int, worker_id: str, external_ref: str | None) -> bool:
    return _guarded(session, pk, worker_id, status=Status.DELIVERED, delivered_at=utcnow(),
                    external_ref=external_ref, last_error=None)


def mark_delivered_many(session: Session, worker_id: str, done: t.Sequence[tuple[int, str | None]]) -> None:
    """:func:`mark_delivered` for many ``(pk, external_ref)`` at once, one statement, same guard."""
    if not done:
        return
    table = Delivery.__table__
    statement = (
        update(table)
        .where(table.c.pk == bindparam("b_pk"), table.c.status == Status.IN_FLIGHT, table.c.claimed_by == worker_id)
        .values(status=Status.DELIVERED, delivered_at=utcnow(), external_ref=bindparam("b_ref"), last_error=None)
    )
    session.connection().execute(statement, [{"b_pk": pk, "b_ref": ref} for pk, ref in done])


def mark_run_delivered(session: Session, worker_id: str, done: t.Sequence[tuple[int, str | None]]) -> set[int]:
    """:func:`mark_delivered` for a run's deliveries in two statements; the pks that were still ours."""
    if not done:
        return set()
    ours = set(session.scalars(select(Delivery.pk).where(
        Delivery.pk.in_([pk for pk, _ in done]), Delivery.status == Status.IN_FLIGHT, Delivery.claimed_by == worker_id,
    ).with_for_update()))
    mark_delivered_many(session, worker_id, [(pk, ref) for pk, ref in done if pk in ours])
    return ours


def followers(session: Session, head: Delivery | t.Any, action: str, limit: int) -> list[Delivery]:
    """The deliveries queued right behind ``head`` with the same key, while they are ``action``."""
    rows = session.scalars(
        select(Delivery).where(Delivery.ordering_key == head.ordering_key, Delivery.pk > head.pk,
                               Delivery.status.in_(OPEN)).order_by(Delivery.pk).limit(limit)).all()
    taken = []
    for row in rows:
        if row.action != action or row.status != Status.PENDING:
            break
        taken.append(row)
    return taken


def mark_absorbed(session: Session, pks: t.Collection[int], into: str) -> None:
    """Deliveries whose content went out with another one (a batch): delivered, if still pending."""
    if pks:
        session.execute(update(Delivery).where(Delivery.pk.in_(pks), Delivery.status == Status.PENDING).values(
            status=Status.DELIVERED, delivered_at=utcnow(), last_error=None, external_ref=f"batched:{into}"))


def mark_retry(session: Session, pk: int, worker_id: str, error: str, at: dt.datetime) -> bool:
    return _guarded(session, pk, worker_id, status=Status.PENDING, next_attempt_at=at, last_error=error,
                    claimed_by=None, claimed_at=None)


def mark_deferred(session: Session, pk: int, worker_id: str, reason: str, at: dt.datetime) -> bool:
    """Back to pending until ``at`` without counting the attempt (see :class:`connector.plugins.Defer`)."""
    return _guarded(session, pk, worker_id, status=Status.PENDING, next_attempt_at=at, last_error=reason,
                    claimed_by=None, claimed_at=None, attempts=Delivery.attempts - 1)


def delivered_since(session: Session, ordering_key: str, actions: t.Collection[str], since: dt.datetime
                    ) -> list[dt.datetime]:
    """When the deliveries of one ordering key went out since ``since`` (batched ones not counted)."""
    return list(session.scalars(
        select(Delivery.delivered_at).where(
            Delivery.ordering_key == ordering_key, Delivery.status == Status.DELIVERED, Delivery.action.in_(actions),
            Delivery.delivered_at >= since,
            or_(Delivery.external_ref.is_(None), ~Delivery.external_ref.startswith("batched:")),
        ).order_by(Delivery.delivered_at)))


def mark_dead(session: Session, pk: int, worker_id: str, error: str) -> bool:
    return _guarded(session, pk, worker_id, status=Status.DEAD, last_error=error)


def replay(session: Session, delivery_id: str) -> bool:
    """A dead delivery back to pending, with a fresh set of attempts."""
    result = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == Status.DEAD)
        .values(status=Status.PENDING, attempts=0, next_attempt_at=utcnow(), claimed_by=None, claimed_at=None)
    )
    return result.rowcount == 1


def is_echo(session: Session, workspace_pk: int, plugin: str, external_ref: str) -> bool:
    """Whether we posted ``external_ref`` into ``plugin`` for this workspace ourselves."""
    return session.scalar(select(exists().where(
        Delivery.plugin == plugin, Delivery.external_ref == external_ref, Delivery.workspace_pk == workspace_pk))
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
        .where(Delivery.status.in_((Status.PENDING, Status.IN_FLIGHT, Status.DEAD)))
        .group_by(Delivery.plugin, Delivery.status)
    )
    return [(plugin, status, count) for plugin, status, count in rows]


def failing(session: Session) -> list[tuple[str, int]]:
    """(plugin, count) of pending deliveries that have failed at least once."""
    rows = session.execute(
        select(Delivery.plugin, func.count())
        .where(Delivery.status == Status.PENDING, Delivery.attempts > 0)
        .group_by(Delivery.plugin)
    )
    return [(plugin, count) for plugin, count in rows]
