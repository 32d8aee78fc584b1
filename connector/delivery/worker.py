"""The delivery worker: claims due deliveries, makes the outbound call, records the outcome.

It runs as a thread inside ``connector serve`` (the embedded default) and as ``connector
worker`` processes when scaled out; any number of them can share one database.

Each delivery is isolated: its outcome commits in a transaction of its own, as soon as its
call returns (so a new thread's link is recorded before anything else can happen), and a
delivery whose outcome cannot be stored (an integrity error, a bug) is retried on its own
and ends dead after its attempts, never holding up or repeating the others of its batch.

One exception keeps deliveries up with arrivals: a *run*, the tasks of one conversation
queued one behind the other (an agent's replies, say), is claimed with its first task
(``CONNECTOR_DELIVERY_RUN``), run in order, and its outcomes are stored in one
transaction (one commit, one wake-up of the fan-out). A run ends at the first task that
does not come back delivered, or that opens or moves a thread; a task that asks for the
conversation's state after an earlier task of its run changed it ends the run too, before
it (it runs again, first of the next run, and sees that change). What a run left is
pending again, its attempt uncounted; if the run's outcomes cannot be stored together, each
is stored on its own as above.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import random
import socket
import threading
import time
import typing as t
import uuid
from concurrent.futures import ThreadPoolExecutor

from pydantic import BaseModel

from connector import inbound
from connector import representations
from connector.delivery import outbox
from connector.delivery.backoff import next_delay
from connector.metrics import DELIVERY_ATTEMPTS
from connector.metrics import DELIVERY_LATENCY
from connector.plugins import Defer
from connector.plugins import DeliveryContext
from connector.plugins import GiveUp
from connector.plugins import InboundEvent
from connector.plugins import Integration
from connector.plugins import IntegrationBroken
from connector.plugins import Refusal
from connector.plugins import RetryLater
from connector.plugins import TaskResult
from connector.plugins import ThreadRef
from connector.plugins.http import new_session
from connector.storage.models import Delivery
from connector.storage.models import Workspace
from connector.storage.models import utcnow

if t.TYPE_CHECKING:
    from connector.app import Connector

log = logging.getLogger(__name__)

#: the deliveries that update an open thread (for a vendor's per-thread update limit)
UPDATES = (outbox.MIRROR_MESSAGE, outbox.MIRROR_STATE)
#: how often a worker drops inbound events that waited in vain for their thread
PARKED_SWEEP_SECONDS = 60.0


class EndOfRun(Exception):
    """Raised into a task of a run that asks for the conversation after an earlier one changed it."""


@dataclasses.dataclass
class Run:
    """What the tasks of one run share: the reads made for its first, and whether one changed things."""

    #: (workspace id, settings, link) read for the run's first task
    prepared: tuple[str, BaseModel | None, t.Any] | None = None
    #: an earlier task's events are applied with the run (the committed view is stale)
    changed: bool = False
    #: a task asked for the conversation after that
    ended: bool = False
    #: the conversation's view, read once while nothing changed
    view: tuple[t.Any] | None = None


class NoSettings(BaseModel):
    """The settings of a built-in channel (e-mail, the platform webhook): none."""


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
    #: a thread the call opened
    thread: ThreadRef | None = None
    #: where the thread lives now, when the call moved it
    moved_to: ThreadRef | None = None
    #: what the plugin translated, for the core to apply with the outcome
    events: tuple[InboundEvent, ...] = ()
    #: queued deliveries whose messages went out with this one (a batch)
    absorbed: tuple[int, ...] = ()

    @property
    def simple(self) -> bool:
        """Nothing to record but "delivered" (many of these are marked in one statement)."""
        return self.thread is None and self.moved_to is None and not self.events and not self.absorbed


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one attempt came to: delivered, defer, retry, dead or broken (the integration is)."""

    job: Job
    kind: str
    reason: str | None
    done: Done | None = None
    retry_at: dt.datetime | None = None


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _done(result: TaskResult | str | None) -> Done:
    if isinstance(result, TaskResult):
        return Done(external_ref=result.external_ref, events=tuple(result.events), moved_to=result.moved_to)
    return Done(external_ref=result)


class DeliveryWorker:
    """Delivers the outbox of one database."""

    def __init__(self, connector: "Connector", worker_id: str | None = None, rng: random.Random | None = None) -> None:
        self.connector = connector
        self.settings = connector.settings
        self.worker_id = worker_id or default_worker_id()
        self.rng = rng or random.Random()
        self.http = new_session()
        self._pool = ThreadPoolExecutor(max_workers=self.settings.delivery_concurrency,
                                        thread_name_prefix="delivery", initializer=connector.db.background)
        self._wake = threading.Event()
        self._swept_at = -float("inf")
        #: decrypted settings by (workspace, plugin), while their ciphertext is unchanged
        self._settings_cache: dict[tuple[int, str], tuple[str, BaseModel]] = {}

    def wake(self) -> None:
        """Look for work now (called after a change commits in this process)."""
        self._wake.set()

    # -- the loop ------------------------------------------------------------------------

    def run_once(self) -> int:
        """Claim one batch and deliver it; returns how many were claimed.

        The batch holds at most one delivery per ordering key, so its calls run in
        parallel (``CONNECTOR_DELIVERY_CONCURRENCY``) without breaking per-conversation
        order. Each outcome is recorded on its own as soon as its call returns; plain
        "delivered" ones are marked together at the end, in one statement.
        """
        db = self.connector.db
        self._sweep()
        with db.write() as session:
            now = utcnow()
            rows = outbox.claim(
                session, worker_id=self.worker_id, now=now, lease=self.settings.delivery_lease_seconds,
                limit=self.settings.delivery_batch, skip_locked=db.lock_for_update(),
            )
            runs = [[Job.of(row)] + [Job.of(f) for f in outbox.claim_run(
                session, row, worker_id=self.worker_id, now=now, limit=self.settings.delivery_run - 1)]
                for row in rows]
        if not runs:
            return 0
        results = list(self._pool.map(self.deliver_run, runs)) if len(runs) > 1 else [self.deliver_run(runs[0])]
        outcomes = [outcome for result in results for outcome in result]
        simple = [o for run, result in zip(runs, results) if len(run) == 1 for o in result
                  if o.kind == "delivered" and o.done is not None and o.done.simple]
        if simple:
            with db.write() as session:
                outbox.mark_delivered_many(session, self.worker_id, [(o.job.pk, o.done.external_ref) for o in simple])
        for outcome in outcomes:
            self._observe(outcome)
        return sum(len(run) for run in runs)

    def run(self, stop: threading.Event) -> None:
        """Deliver until ``stop`` is set; waits for a wake-up or the poll interval when idle."""
        log.info("worker started", extra={"action": "worker_start", "worker": self.worker_id})
        self.connector.db.background()  # requests' writes go first (SQLite's one writer)
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

    def _sweep(self) -> None:
        now = time.monotonic()
        if now - self._swept_at < PARKED_SWEEP_SECONDS:
            return
        self._swept_at = now
        with self.connector.db.write() as session:
            outbox.drop_stale_parked(session)

    # -- one delivery --------------------------------------------------------------------

    def deliver_run(self, jobs: list[Job]) -> list[Outcome]:
        """Attempt a run of one conversation's tasks in order; store what they came to together.

        A run of one is :meth:`deliver` (a plain "delivered" is left for the batch to mark).
        """
        if len(jobs) == 1:
            return [self.deliver(jobs[0])]
        run = Run()
        outcomes: list[Outcome] = []
        for job in jobs:
            outcome = self.attempt(job, run)
            outcomes.append(outcome)
            if outcome.kind != "delivered":
                break
            done = outcome.done
            assert done is not None
            if done.thread is not None or done.moved_to is not None or done.absorbed:
                break  # later tasks must see the new thread: they go in the next run
            run.changed = run.changed or bool(done.events)
        left = [job.pk for job in jobs[len(outcomes):]]
        try:
            with self.connector.db.write() as session:
                ours = outbox.mark_run_delivered(session, self.worker_id, [
                    (o.job.pk, o.done.external_ref) for o in outcomes if o.kind == "delivered" and o.done is not None])
                for outcome in outcomes:
                    self._record(session, outcome, still_ours=outcome.job.pk in ours)
                outbox.release(session, left, self.worker_id)
        except Exception:  # one outcome cannot be stored: each on its own, as any delivery
            log.exception("recording a run of deliveries failed; recording each on its own",
                          extra={"action": "delivery_store_error", "delivery": jobs[0].id, "plugin": jobs[0].plugin})
            outcomes = [self._store_alone(outcome) for outcome in outcomes]
            with self.connector.db.write() as session:
                outbox.release(session, left, self.worker_id)
        return [outcome for outcome in outcomes if outcome.kind != "release"]

    def deliver(self, job: Job) -> Outcome:
        """Attempt one delivery and record what it came to, in its own transaction."""
        outcome = self.attempt(job)
        if outcome.kind == "delivered" and outcome.done is not None and outcome.done.simple:
            return outcome  # marked with the batch's other plain ones
        return self._store_alone(outcome)

    def _store_alone(self, outcome: Outcome) -> Outcome:
        job = outcome.job
        try:
            self._store(outcome)
        except Exception as exc:  # an integrity error, a bug: this delivery only, retried, then dead
            log.exception("recording a delivery failed", extra={
                "action": "delivery_store_error", "delivery": job.id, "plugin": job.plugin, "job_action": job.action})
            outcome = self._retry_or_die(job, f"internal error recording the outcome: {type(exc).__name__}", None)
            self._store(outcome)
        return outcome

    def attempt(self, job: Job, run: Run | None = None) -> Outcome:
        """Make the call and decide what it means; writes nothing."""
        outcome = self._attempt(job, run)
        if run is not None and run.ended:  # it asked for a state its run had changed: next run
            return Outcome(job, "release", "its run ended before it")
        return outcome

    def _attempt(self, job: Job, run: Run | None) -> Outcome:
        try:
            done = self.execute(job, run)
        except EndOfRun:
            return Outcome(job, "release", "its run ended before it")
        except Defer as exc:
            return Outcome(job, "defer", exc.reason, retry_at=utcnow() + dt.timedelta(seconds=max(0.0, exc.seconds)))
        except IntegrationBroken as exc:
            return Outcome(job, "broken", exc.reason)
        except GiveUp as exc:
            return Outcome(job, "dead", exc.reason)
        except RetryLater as exc:
            return self._retry_or_die(job, exc.reason, exc.retry_after)
        except Exception as exc:  # a plugin bug: retried like any failure, never lost
            log.exception("delivery raised", extra={"action": "delivery_error", "delivery": job.id,
                                                    "plugin": job.plugin, "job_action": job.action})
            return self._retry_or_die(job, f"internal error: {type(exc).__name__}", None)
        return Outcome(job, "delivered", None, done=done)

    def _retry_or_die(self, job: Job, reason: str, retry_after: float | None) -> Outcome:
        if job.attempts >= self.settings.delivery_max_attempts:
            return Outcome(job, "dead", f"{reason} (after {job.attempts} attempts)")
        delay = next_delay(
            job.attempts, base=self.settings.delivery_backoff_base,
            cap=self.settings.delivery_backoff_cap, retry_after=retry_after, rng=self.rng,
        )
        return Outcome(job, "retry", reason, retry_at=utcnow() + dt.timedelta(seconds=delay))

    def _store(self, outcome: Outcome) -> None:
        with self.connector.db.write() as session:
            self._record(session, outcome)

    def _record(self, session: t.Any, outcome: Outcome, still_ours: bool | None = None) -> None:
        """Write one outcome in the caller's transaction.

        :param still_ours: for a delivered one already marked by the caller, whether the
            claim was still ours (None: mark it here).
        """
        job = outcome.job
        if outcome.kind == "delivered":
            assert outcome.done is not None
            self._store_delivered(session, job, outcome.done, still_ours)
        elif outcome.kind == "release":
            outbox.release(session, [job.pk], self.worker_id)
        elif outcome.kind in ("defer", "retry"):
            assert outcome.retry_at is not None
            mark = outbox.mark_deferred if outcome.kind == "defer" else outbox.mark_retry
            mark(session, job.pk, self.worker_id, outcome.reason or "", outcome.retry_at)
        else:
            outbox.mark_dead(session, job.pk, self.worker_id, outcome.reason or "")
            if outcome.kind == "broken":
                self.connector.integrations.mark_health(session, job.workspace_pk, job.plugin, False,
                                                        outcome.reason)

    def _store_delivered(self, session: t.Any, job: Job, done: Done, still_ours: bool | None = None) -> None:
        # First the delivery's own row: it locks it, so an inbound event parked for the
        # thread meanwhile has committed before the link is recorded and unparks it.
        if still_ours is None:
            still_ours = outbox.mark_delivered(session, job.pk, self.worker_id, done.external_ref)
        if not still_ours:
            return  # our lease ran out and another worker took it over: its outcome stands
        outbox.mark_absorbed(session, done.absorbed, job.id)
        if done.thread is not None and job.conversation_pk is not None:
            link = outbox.store_link(session, workspace_pk=job.workspace_pk, conversation_pk=job.conversation_pk,
                                     plugin=job.plugin, external_id=done.thread.external_id, data=done.thread.data)
            if link is not None:
                for task in done.thread.tasks:
                    outbox.enqueue_task(session, workspace_pk=job.workspace_pk, conversation_pk=job.conversation_pk,
                                        plugin=job.plugin, task=task)
                outbox.unpark(session, link)
        if done.moved_to is not None and job.conversation_pk is not None:
            outbox.move_link(session, job.conversation_pk, job.plugin, done.moved_to.external_id, done.moved_to.data)
        for event in done.events:
            if event.workspaces is None:
                event = dataclasses.replace(event, workspaces=frozenset({job.workspace_pk}))
            inbound.apply_event(self.connector, session, dataclasses.replace(event, plugin=job.plugin))

    def _observe(self, outcome: Outcome) -> None:
        job = outcome.job
        if outcome.kind == "delivered":
            DELIVERY_LATENCY.labels(job.plugin).observe((utcnow() - job.created_at).total_seconds())
        DELIVERY_ATTEMPTS.labels(job.plugin, outcome.kind).inc()
        log.log(
            logging.INFO if outcome.kind in ("delivered", "defer") else logging.WARNING,
            "delivery %s: %s %s %s (attempt %d)%s", outcome.kind, job.id, job.plugin, job.action, job.attempts,
            f": {outcome.reason}" if outcome.reason else "",
            extra={"action": f"delivery_{outcome.kind}", "delivery": job.id, "plugin": job.plugin,
                   "job_action": job.action, "attempt": job.attempts, "reason": outcome.reason},
        )

    # -- the call ------------------------------------------------------------------------

    def _delivered_since(self, job: Job, seconds: float) -> list[dt.datetime]:
        with self.connector.db.read() as session:
            return outbox.delivered_since(session, job.ordering_key, UPDATES,
                                          utcnow() - dt.timedelta(seconds=seconds))

    def _context(self, job: Job, plugin: Integration, settings: BaseModel, workspace_id: str,
                 run: Run | None = None) -> DeliveryContext:
        progress: dict[str, t.Any] = dict(job.payload.get("progress") or {})
        return DeliveryContext(
            workspace_id=workspace_id, settings=settings, idempotency_key=job.idempotency_key,
            http=self.http, timeout=self.settings.delivery_timeout, base_url=self.settings.base_url,
            delivered_since=lambda seconds: self._delivered_since(job, seconds),
            conversation=lambda: self._conversation(job, run),
            attempt=max(1, job.attempts), progress=progress,
            record_progress=lambda values: self._record_progress(job, progress, values),
        )

    def _conversation(self, job: Job, run: Run | None) -> t.Any:
        if job.conversation_pk is None:
            return None
        if run is None:
            return self.connector.host.view_of(job.conversation_pk)
        if run.changed:  # the committed state is missing what this run's earlier tasks did
            run.ended = True
            raise EndOfRun()
        if run.view is None:
            run.view = (self.connector.host.view_of(job.conversation_pk),)
        return run.view[0]

    def _record_progress(self, job: Job, progress: dict[str, t.Any], values: dict[str, t.Any]) -> None:
        """Keep what a plugin recorded of this delivery, committed now (see DeliveryContext.progress)."""
        progress.update(values)
        with self.connector.db.write() as session:
            if not outbox.save_progress(session, job.pk, self.worker_id, {**job.payload, "progress": dict(progress)}):
                raise RetryLater("the delivery is no longer this worker's")

    def execute(self, job: Job, run: Run | None = None) -> Done:
        """Make the outbound call of one delivery (a task of ``run``: its reads are shared)."""
        plugin = self.connector.plugins.get(job.plugin)
        if plugin is None:
            raise GiveUp(f"plugin {job.plugin!r} is not installed in this process")
        if job.action == outbox.INBOUND:  # waited for its thread's link: the core applies it
            return Done(events=(inbound.event_from_json(job.payload["event"]),))
        if run is not None and job.action not in outbox.THREAD_ACTIONS:
            if run.prepared is None:
                with self.connector.db.read() as session:
                    workspace = session.get(Workspace, job.workspace_pk)
                    settings = (NoSettings() if plugin.builtin else self.connector.integrations.load(
                        session, job.workspace_pk, job.plugin, cache=self._settings_cache))
                    link = outbox.link_of(session, job.conversation_pk, job.plugin) if job.conversation_pk else None
                run.prepared = (workspace.id, settings, link)
            workspace_id, settings, link = run.prepared
            if settings is None:
                raise GiveUp(f"the {job.plugin} integration was removed")
            thread = ThreadRef(link.external_id, dict(link.data or {})) if link is not None else None
            ctx = self._context(job, plugin, settings, workspace_id, run)
            return _done(plugin.run_task(ctx, thread, job.payload["task"]))
        with self.connector.db.read() as session:
            workspace = session.get(Workspace, job.workspace_pk)
            if plugin.builtin:
                settings: BaseModel | None = NoSettings()
            else:
                settings = self.connector.integrations.load(session, job.workspace_pk, job.plugin,
                                                            cache=self._settings_cache)
            link = outbox.link_of(session, job.conversation_pk, job.plugin) if job.conversation_pk else None
            batch = (outbox.followers(session, job, outbox.MIRROR_MESSAGE, plugin.message_batch - 1)
                     if job.action == outbox.MIRROR_MESSAGE and plugin.message_batch > 1 else [])
            batch_messages = [row.payload["message"] for row in batch]
            batch_pks = tuple(row.pk for row in batch)
            transcript: list[dict[str, t.Any]] = []
            if job.action == outbox.OPEN_THREAD and link is None and job.conversation_pk is not None:
                conversation_id = job.payload["conversation"]["id"]
                transcript = [
                    representations.message_json(m, conversation_id)
                    for m in outbox.transcript(session, job.conversation_pk, job.payload["until_message_pk"])
                ]
        if settings is None:
            raise GiveUp(f"the {job.plugin} integration was removed")
        ctx = self._context(job, plugin, settings, workspace.id)
        thread = ThreadRef(link.external_id, dict(link.data or {})) if link is not None else None
        if job.action == outbox.OPEN_THREAD:
            if thread is not None:
                return Done()  # already open: a replay, or a retry after the vendor answered
            return Done(thread=plugin.open_thread(ctx, job.payload["conversation"], transcript, job.payload["events"]))
        if job.action == outbox.TELL_AGENT:
            payload = job.payload
            refusal = Refusal(payload["refusal"]["code"], payload["refusal"]["text"],
                              inbound.event_from_json(payload["event"]))
            plugin.tell_agent(ctx, thread, payload["agent"], refusal)
            return Done()
        if job.action not in outbox.THREAD_ACTIONS:  # a task: the plugin's own job
            return _done(plugin.run_task(ctx, thread, job.payload["task"]))
        if thread is None:
            raise RetryLater("the thread is not open yet")
        conversation = job.payload["conversation"]
        if job.action == outbox.MIRROR_MESSAGE:
            if batch_pks:
                done = _done(plugin.mirror_messages(ctx, thread, conversation, [job.payload["message"], *batch_messages]))
                return dataclasses.replace(done, absorbed=batch_pks)
            return _done(plugin.mirror_message(ctx, thread, conversation, job.payload["message"]))
        if job.action == outbox.MIRROR_STATE:
            return _done(plugin.mirror_state(ctx, thread, conversation, job.payload["events"]))
        raise GiveUp(f"unknown action {job.action!r}")
