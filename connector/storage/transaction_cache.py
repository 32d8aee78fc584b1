"""Lookups remembered until the end of one transaction.

A run of an agent's replies applies each reply in the same transaction, and each asks the
same questions (which thread is this, which tools are installed, which have a thread).
:func:`remembered` answers them once per transaction. Whatever writes what a lookup read
calls :func:`forget` for that kind, and a rollback (a savepoint's too) or the end of the
transaction clears everything, so a remembered answer is never one the database no longer holds.
"""

from __future__ import annotations

import typing as t

from sqlalchemy import event
from sqlalchemy.orm import Session

KEY = "transaction_cache"
T = t.TypeVar("T")


def remembered(session: Session, kind: str, key: t.Hashable, compute: t.Callable[[], T]) -> T:
    cache = session.info.setdefault(KEY, {})
    found = cache.get((kind, key), cache)
    if found is cache:
        found = cache[(kind, key)] = compute()
    return t.cast(T, found)


def recall(session: Session, kind: str, key: t.Hashable) -> t.Any:
    """What was remembered for ``(kind, key)`` in this transaction, or None."""
    return session.info.get(KEY, {}).get((kind, key))


def remember(session: Session, kind: str, key: t.Hashable, value: t.Any) -> None:
    session.info.setdefault(KEY, {})[(kind, key)] = value


def forget(session: Session, *kinds: str) -> None:
    cache = session.info.get(KEY)
    if cache:
        for entry in [entry for entry in cache if entry[0] in kinds]:
            del cache[entry]


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, previous_transaction: t.Any) -> None:
    session.info.pop(KEY, None)


@event.listens_for(Session, "after_transaction_end")
def _ended(session: Session, transaction: t.Any) -> None:
    if transaction.parent is None:  # the transaction itself, not a savepoint released in it
        session.info.pop(KEY, None)
