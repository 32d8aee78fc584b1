"""The delivery worker: claims due deliveries, makes the outbound call, records the outcome.

It runs as a thread inside ``connector serve`` (the embedded default) and as ``connector
worker`` processes when scaled out; any number of them can share one database.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import random
import socket
import threading
import typing as t
import uuid
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from connector.delivery import outbox
from connector.delivery.backoff import next_delay
from connector.delivery.http import new_session
from connector.delivery.platform import PlatformSender
from connector.metrics import DELIVERY_ATTEMPTS
from connector.notifications.sender import EMAIL
from connector.notifications.sender import EmailSender
from connector.metrics import DELIVERY_LATENCY
from connector.plugins import Defer
from connector.plugins import DeliveryContext
from connector.plugins import GiveUp
from connector.plugins import IntegrationBroken
from connector.plugins import RetryLater
from connector.plugins import ThreadRef
from connector.storage.models import Delivery
from connector.storage.models import Link
from connector.storage.models import Message
from connector.storage.models import Workspace
from connector.storage.models import utcnow
from connector import representations

if t.TYPE_CHECKING:
    from connector.app import Connector

log = logging.getLogger(__name__)

#: the deliveries that update an open thread (for a vendor's per-thread update limit)
UPDATES = (outbox.MIRROR_MESSAGE, outbox.MIRROR_STATE)


@dataclasses.dataclass(frozen=True)
class Job:
    """A claimed delivery, detached from its session."""

    pk: int
    id: str
    workspace_pk: int
    conversation_pk: int | None
    plugin: str
    action: str
    payload: dict[str, t.Any]
    idempotency_key: str
    attempts: int
    created_at: dt.datetime
    ordering_key: str

    @classmethod
    def of(cls, row: Delivery) -> "Job":
        return cls(row.pk, row.id, row.workspace_pk, row.conversation_pk, row.plugin, row.action,
                   row.payload, row.idempotency_key, row.attempts, row.created_at, row.ordering_key)


@dataclasses.dataclass(frozen=True)
class Done:
    external_ref: str | None = None
    thread: ThreadRef | None = None
    #: queued deliveries whose messages went out with this one (a batch)
    absorbed: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one attempt came to: delivered, retry, dead or broken (the integration is)."""

    job: Job
    kind: str
    reason: str | None
    done: Done | None = None
    retry_at: dt.datetime | None = None


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class DeliveryWorker:
    """Delivers the outbox of one database."""

    def __init__(self, connector: "Connector", worker_id: str | None = None, rng: random.Random | None = None) -> None:
        self.connector = connector
        self.settings = connector.settings
        self.worker_id = worker_id or default_worker_id()
        self.rng = rng or random.Random()
        self.http = new_session()
        self.platform = PlatformSender(
            connector.secrets, self.http, self.settings.delivery_timeout, self.settings.webhook_deny_private
        )
        self.email = EmailSender(connector)
        self._pool = ThreadPoolExecutor(max_workers=self.settings.delivery_concurrency,
                                        thread_name_prefix="delivery")
        self._wake = threading.Event()

    def wake(self) -> None:
        """Look for work now (called after a change commits in this process)."""
        self._wake.set()

    # -- the loop ------------------------------------------------------------------------

    def run_once(self) -> int:
        """Claim one batch, deliver it, record the outcomes; returns how many were claimed.

        The batch holds at most one delivery per ordering key, so its calls run in
        parallel (``CONNECTOR_DELIVERY_CONCURRENCY``) without breaking per-conversation
        order; the outcomes are then written in one transaction.
        """
        db = self.connector.db
        with db.write() as session:
            rows = outbox.claim(
                session, worker_id=self.worker_id, now=utcnow(), lease=self.settings.delivery_lease_seconds,
                limit=self.settings.delivery_batch, skip_locked=db.lock_for_update(),
            )
            jobs = [Job.of(row) for row in rows]
        if not jobs:
            return 0
        outcomes = list(self._pool.map(self.attempt, jobs)) if len(jobs) > 1 else [self.attempt(jobs[0])]
        with db.write() as session:
            simple = [o for o in outcomes if o.kind == "delivered" and o.done is not None
                      and o.done.thread is None and not o.done.absorbed]
            outbox.mark_delivered_many(session, self.worker_id, [(o.job.pk, o.done.external_ref) for o in simple])
            for outcome in outcomes:
                if outcome not in simple:
                    self._store(session, outcome)
        for outcome in outcomes:
            self._observe(outcome)
        return len(jobs)

    def run(self, stop: threading.Event) -> None:
        """Deliver until ``stop`` is set; waits for a wake-up or the poll interval when idle."""
        log.info("worker started", extra={"action": "worker_start", "worker": self.worker_id})
        while not stop.is_set():
            try:
                claimed = self.run_once()
            except Exception:  # a database hiccup must not end the worker
                log.exception("worker loop failed", extra={"action": "worker_error"})
                claimed = 0
                stop.wait(1.0)
            if claimed == 0:
                self._wake.wait(self.settings.delivery_poll_interval)
                self._wake.clear()
        log.info("worker stopped", extra={"action": "worker_stop", "worker": self.worker_id})

    def start_thread(self) -> tuple[threading.Thread, threading.Event]:
        stop = threading.Event()
        thread = threading.Thread(target=self.run, args=(stop,), name="delivery-worker", daemon=True)
        thread.start()
        return thread, stop

    # -- one delivery --------------------------------------------------------------------

    def attempt(self, job: Job) -> "Outcome":
        """Make the call and decide what it means; writes nothing."""
        try:
            done = self.execute(job)
        except Defer as exc:
            return Outcome(job, "defer", exc.reason, retry_at=utcnow() + dt.timedelta(seconds=max(0.0, exc.seconds)))
        except IntegrationBroken as exc:
            return Outcome(job, "broken", exc.reason)
        except GiveUp as exc:
            return Outcome(job, "dead", exc.reason)
        except RetryLater as exc:
            return self._retry_or_die(job, exc.reason, exc.retry_after)
        except Exception as exc:  # a plugin bug: retried like any failure, never lost
            log.exception("delivery raised", extra={"action": "delivery_error", "delivery": job.id})
            return self._retry_or_die(job, f"internal error: {type(exc).__name__}", None)
        return Outcome(job, "delivered", None, done=done)

    def _retry_or_die(self, job: Job, reason: str, retry_after: float | None) -> "Outcome":
        if job.attempts >= self.settings.delivery_max_attempts:
            return Outcome(job, "dead", f"{reason} (after {job.attempts} attempts)")
        delay = next_delay(
            job.attempts, base=self.settings.delivery_backoff_base,
            cap=self.settings.delivery_backoff_cap, retry_after=retry_after, rng=self.rng,
        )
        return Outcome(job, "retry", reason, retry_at=utcnow() + dt.timedelta(seconds=delay))

    def _store(self, session: t.Any, outcome: "Outcome") -> None:
        job = outcome.job
        if outcome.kind == "delivered":
            assert outcome.done is not None
            if outcome.done.thread is not None:
                self._store_link(session, job, outcome.done.thread)
                for task in outcome.done.thread.tasks:
                    outbox.enqueue_task(session, workspace_pk=job.workspace_pk, conversation_pk=job.conversation_pk,
                                        plugin=job.plugin, task=task)
            if outbox.mark_delivered(session, job.pk, self.worker_id, outcome.done.external_ref):
                outbox.mark_absorbed(session, outcome.done.absorbed, job.id)
        elif outcome.kind == "defer":
            assert outcome.retry_at is not None
            outbox.mark_deferred(session, job.pk, self.worker_id, outcome.reason or "", outcome.retry_at)
        elif outcome.kind == "retry":
            assert outcome.retry_at is not None
            outbox.mark_retry(session, job.pk, self.worker_id, outcome.reason or "", outcome.retry_at)
        else:
            outbox.mark_dead(session, job.pk, self.worker_id, outcome.reason or "")
            if outcome.kind == "broken":
                self.connector.integrations.mark_health(session, job.workspace_pk, job.plugin, False, outcome.reason)

    def _observe(self, outcome: "Outcome") -> None:
        job = outcome.job
        if outcome.kind == "delivered":
            DELIVERY_LATENCY.labels(job.plugin).observe((utcnow() - job.created_at).total_seconds())
        DELIVERY_ATTEMPTS.labels(job.plugin, outcome.kind).inc()
        log.log(
            logging.INFO if outcome.kind in ("delivered", "defer") else logging.WARNING,
            "delivery %s", outcome.kind,
            extra={"action": f"delivery_{outcome.kind}", "delivery": job.id, "plugin": job.plugin,
                   "attempt": job.attempts, "reason": outcome.reason},
        )

    @staticmethod
    def _store_link(session: t.Any, job: Job, thread: ThreadRef) -> None:
        existing = session.scalar(select(Link).where(
            Link.conversation_pk == job.conversation_pk, Link.plugin == job.plugin))
        if existing is None:
            session.add(Link(conversation_pk=job.conversation_pk, plugin=job.plugin,
                             external_id=thread.external_id, data=thread.data, created_at=utcnow()))

    def _delivered_since(self, job: Job, seconds: float) -> list[dt.datetime]:
        with self.connector.db.read() as session:
            return outbox.delivered_since(session, job.ordering_key, UPDATES,
                                          utcnow() - dt.timedelta(seconds=seconds))

    def execute(self, job: Job) -> Done:
        """Make the outbound call of one delivery."""
        if job.plugin == EMAIL:
            self.email.deliver(job.action, job.payload, job.idempotency_key, job.conversation_pk)
            return Done()
        if job.plugin == outbox.PLATFORM:
            with self.connector.db.read() as session:
                workspace = session.get(Workspace, job.workspace_pk)
            self.platform.send(workspace.platform_webhook_url, workspace.platform_webhook_secret,
                               job.payload["event"], job.idempotency_key)
            return Done()
        plugin = self.connector.plugins.get(job.plugin)
        if plugin is None:
            raise GiveUp(f"plugin {job.plugin!r} is not installed in this process")
        with self.connector.db.read() as session:
            settings = self.connector.integrations.load(session, job.workspace_pk, job.plugin)
            workspace = session.get(Workspace, job.workspace_pk)
            link = session.scalar(select(Link).where(
                Link.conversation_pk == job.conversation_pk, Link.plugin == job.plugin))
            batch = (outbox.followers(session, job, outbox.MIRROR_MESSAGE, plugin.message_batch - 1)
                     if job.action == outbox.MIRROR_MESSAGE and plugin.message_batch > 1 else [])
            batch_messages = [row.payload["message"] for row in batch]
            batch_pks = tuple(row.pk for row in batch)
            transcript: list[dict[str, t.Any]] = []
            if job.action == outbox.OPEN_THREAD and link is None and job.conversation_pk is not None:
                conversation_id = job.payload["conversation"]["id"]
                transcript = [
                    representations.message_json(m, conversation_id)
                    for m in session.scalars(select(Message).where(
                        Message.conversation_pk == job.conversation_pk,
                        Message.pk <= job.payload["until_message_pk"]).order_by(Message.pk))
                ]
        if settings is None:
            raise GiveUp(f"the {job.plugin} integration was removed")
        ctx = DeliveryContext(
            workspace_id=workspace.id, settings=settings, idempotency_key=job.idempotency_key,
            http=self.http, timeout=self.settings.delivery_timeout, base_url=self.settings.base_url,
            delivered_since=lambda seconds: self._delivered_since(job, seconds),
        )
        if job.action == outbox.TASK:
            thread = ThreadRef(link.external_id, dict(link.data or {})) if link is not None else None
            return Done(external_ref=plugin.run_task(ctx, thread, job.payload["task"]))
        conversation = job.payload["conversation"]
        if job.action == outbox.OPEN_THREAD:
            if link is not None:
                return Done()  # already open: a replay, or a retry after the vendor answered
            return Done(thread=plugin.open_thread(ctx, conversation, transcript, job.payload["events"]))
        if link is None:
            raise RetryLater("the thread is not open yet")
        thread = ThreadRef(link.external_id, dict(link.data or {}))
        if job.action == outbox.MIRROR_MESSAGE:
            if batch_pks:
                ref = plugin.mirror_messages(ctx, thread, conversation, [job.payload["message"], *batch_messages])
                return Done(external_ref=ref, absorbed=batch_pks)
            return Done(external_ref=plugin.mirror_message(ctx, thread, conversation, job.payload["message"]))
        if job.action == outbox.MIRROR_STATE:
            plugin.mirror_state(ctx, thread, conversation, job.payload["events"])
            return Done()
        raise GiveUp(f"unknown action {job.action!r}")
