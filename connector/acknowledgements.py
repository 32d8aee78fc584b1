"""Group commit for webhook acknowledgements: a receipt and a task per event, many per transaction.

Every vendor webhook the connector acknowledges at once (a Slack thread reply, a Zendesk,
Gorgias or Intercom notification for a known thread) writes two rows before its answer:
the receipt that makes a redelivery a duplicate, and the task the delivery worker
translates later. One transaction each makes every request wait for the database's
writer (SQLite has one; PostgreSQL flushes its log on every commit). Here concurrent
requests queue their rows; one of them (the leader) writes everything queued in one
transaction, two multi-row statements, and wakes the others with their outcome, then
hands the lead to the next waiting request (:class:`connector.storage.group_commit.Batcher`).
A request never waits for more than the batch it is in.

The thread an event names is looked up once and then kept for a while
(:class:`KnownThreads`): a link, once recorded, keeps its conversation, so the hot path of
a busy thread reads nothing.

Redeliveries are told apart by the receipts' unique key (``INSERT ... ON CONFLICT DO
NOTHING RETURNING``): a receipt that went in queues its task; one that was there already
(or twice in the batch) is a duplicate. Should a batch fail as a whole, each of its
events is written again in a transaction of its own, so one bad event fails only itself.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import typing as t

import cachetools
from sqlalchemy import insert
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from connector.delivery import outbox
from connector.storage.group_commit import Batcher
from connector.storage.group_commit import Ticket
from connector.storage.models import Delivery
from connector.storage.models import Receipt
from connector.storage.models import utcnow

if t.TYPE_CHECKING:
    from connector.storage.database import Database

#: at most this many events in one transaction
MAX_BATCH = 256
#: how long a thread's conversation is kept, and how many threads
THREAD_SECONDS = 60.0
THREADS = 20_000


class KnownThreads:
    """(workspace pk, conversation pk, conversation id) of native threads, cached.

    Only threads that were found are kept: a thread that is not known yet (its first post
    may be in flight) is looked up again next time. A link that moves to a new thread (a
    follow-up ticket) leaves the old thread naming the same conversation, which is where
    an event on it belongs anyway.
    """

    def __init__(self, db: "Database", seconds: float = THREAD_SECONDS, size: int = THREADS) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._found: cachetools.TTLCache[tuple[t.Any, ...], tuple[int, int, str]] = cachetools.TTLCache(size, seconds)

    def find(self, plugin: str, thread_id: str, workspaces: frozenset[int] | None) -> tuple[int, int, str] | None:
        key = (plugin, thread_id, workspaces)
        with self._lock:
            found = self._found.get(key)
        if found is not None:
            return found
        with self.db.read() as session:
            found = outbox.find_thread(session, plugin, thread_id, workspaces)
        if found is not None:
            with self._lock:
                self._found[key] = found
        return found


@dataclasses.dataclass(frozen=True)
class Deferral:
    """One acknowledged event to persist: its receipt and the task that handles it."""

    source: str
    key: str
    workspace_pk: int
    conversation_pk: int
    plugin: str
    task: dict[str, t.Any]


class AckWriter:
    """Writes the :class:`Deferral` of concurrent requests together (:mod:`connector.storage.group_commit`)."""

    def __init__(self, db: "Database", max_batch: int = MAX_BATCH) -> None:
        self.db = db
        self.threads = KnownThreads(db)
        self.batcher: Batcher[Deferral] = Batcher(self._write_batch, max_batch)

    def write(self, item: Deferral) -> bool:
        """Persist ``item`` (blocks until its batch commits); True: queued, False: a duplicate."""
        return bool(self.batcher.submit(item))

    def _write_batch(self, batch: list[Ticket[Deferral]]) -> None:
        try:
            self._write_all(batch)
        except Exception:
            for ticket in batch:  # one bad event must not fail the others
                try:
                    self._write_all([ticket])
                except Exception as error:  # noqa: BLE001 - raised in that event's own request
                    ticket.error = error

    def _write_all(self, batch: list[Ticket[Deferral]]) -> None:
        with self.db.write() as session:
            inserted = insert_receipts(session, [(ticket.item.source, ticket.item.key) for ticket in batch])
            rows = []
            now = utcnow()
            for ticket in batch:
                item = ticket.item
                ticket.result = (item.source, item.key) in inserted
                if ticket.result:
                    inserted.discard((item.source, item.key))  # the same event twice in one batch
                    rows.append(outbox.delivery_values(
                        workspace_pk=item.workspace_pk, conversation_pk=item.conversation_pk, plugin=item.plugin,
                        action=outbox.TASK, payload={"task": item.task}, now=now))
            if rows:
                session.connection().execute(insert(Delivery.__table__), rows)  # Core: no ORM bookkeeping
                session.info[outbox.QUEUED] = True


def insert_receipts(session: Session, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Insert receipts for ``(source, key)`` pairs; return the pairs that were new."""
    connection = session.connection()
    now = utcnow()
    rows = connection.execute(_receipt_insert(connection.dialect.name),
                              [{"source": source, "key": key, "received_at": now} for source, key in keys])
    return {(source, key) for source, key in rows}


@functools.cache
def _receipt_insert(dialect: str) -> t.Any:
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING``, built once; run with many rows it is
    one multi-row statement (SQLAlchemy's insertmanyvalues)."""
    table = Receipt.__table__
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    return statement.on_conflict_do_nothing(index_elements=["source", "key"]).returning(table.c.source, table.c.key)
