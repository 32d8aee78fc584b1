"""Group commit: the writes of concurrent threads in one transaction instead of one each.

A thread that has something to write queues it and waits. If nobody is writing, it leads:
it takes everything queued (up to a batch), writes it, wakes each waiter with its own
outcome, and hands the lead to the next waiting thread, if any. A thread never waits for
more than the batch it is in, and one commit (SQLite's one writer lock, PostgreSQL's log
flush) serves the whole batch.

:class:`Batcher` is the protocol; what a batch is written as is its ``write_batch``
(:class:`connector.acknowledgements.AckWriter`: two multi-row statements per batch).
"""

from __future__ import annotations

import dataclasses
import threading
import typing as t


Item = t.TypeVar("Item")


@dataclasses.dataclass(eq=False)
class Ticket(t.Generic[Item]):
    """One queued item and, once its batch is written, its outcome."""

    item: Item
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    result: t.Any = None
    error: BaseException | None = None
    #: set when this ticket's thread is to lead the next batch
    lead: bool = False

    def outcome(self) -> t.Any:
        if self.error is not None:
            raise self.error
        return self.result


class Batcher(t.Generic[Item]):
    """Leader/follower batching over ``write_batch(tickets)``, which sets each ticket's outcome."""

    def __init__(self, write_batch: t.Callable[[list[Ticket[Item]]], None], max_batch: int) -> None:
        self.write_batch = write_batch
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._pending: list[Ticket[Item]] = []
        self._busy = False

    def submit(self, item: Item) -> t.Any:
        """Queue ``item``; return its outcome once its batch is written (or raise its error)."""
        ticket = Ticket(item)
        with self._lock:
            self._pending.append(ticket)
            if not self._busy:
                self._busy = ticket.lead = True
        if not ticket.lead:
            ticket.done.wait()
        if ticket.lead:  # first in, or handed the lead while waiting
            self._lead()
        return ticket.outcome()

    def waiting(self) -> int:
        """How many items are queued behind the batch being written."""
        with self._lock:
            return len(self._pending)

    def _lead(self) -> None:
        with self._lock:
            batch, self._pending = self._pending[:self.max_batch], self._pending[self.max_batch:]
        try:
            self.write_batch(batch)
        except BaseException as error:  # the batcher's own failure: every ticket of it hears it
            for ticket in batch:
                if ticket.error is None and ticket.result is None:
                    ticket.error = error
        finally:
            with self._lock:
                if self._pending:
                    following = self._pending[0]
                    following.lead = True
                    following.done.set()
                else:
                    self._busy = False
            for ticket in batch:
                ticket.lead = False
                ticket.done.set()
