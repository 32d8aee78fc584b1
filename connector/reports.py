"""How long shoppers wait for a human: handover figures from the event log.

Each ``handed_over`` event is one handover. It is *claimed* when a human replied after it
(the ``human_joined`` event, before any later hand over of the same conversation); time
to claim runs from the hand over to that reply, time to resolve from the hand over to the
next ``resolved``. The pairing is one SQL query, the same on SQLite and PostgreSQL;
percentiles are interpolated between the closest ranks.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing as t

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import aliased

from connector.storage.models import Conversation
from connector.storage.models import Event

#: larger than any event key: "no later hand over"
_NO_LATER = 2**62


@dataclasses.dataclass(frozen=True)
class Handover:
    at: dt.datetime
    source: str
    scenario: str | None
    claimed_at: dt.datetime | None
    resolved_at: dt.datetime | None


def handovers(session: Session, workspace_pk: int, since: dt.datetime | None, until: dt.datetime | None) -> list[Handover]:
    """Every hand over in ``[since, until)`` with when it was claimed and resolved."""
    h, nxt, e = aliased(Event), aliased(Event), aliased(Event)
    next_handover = (select(func.min(nxt.pk)).where(
        nxt.conversation_pk == h.conversation_pk, nxt.type == "handed_over", nxt.pk > h.pk
    ).correlate(h).scalar_subquery())
    bound = func.coalesce(next_handover, _NO_LATER)

    def first(event_type: str) -> t.Any:
        return (select(func.min(e.at)).where(e.conversation_pk == h.conversation_pk, e.type == event_type,
                                             e.pk > h.pk, e.pk < bound).correlate(h).scalar_subquery())

    query = (select(h.at, h.source, h.scenario, first("human_joined"), first("resolved"))
             .join(Conversation, Conversation.pk == h.conversation_pk)
             .where(Conversation.workspace_pk == workspace_pk, h.type == "handed_over")
             .order_by(h.pk))
    if since is not None:
        query = query.where(h.at >= since)
    if until is not None:
        query = query.where(h.at < until)
    return [Handover(*row) for row in session.execute(query)]


def percentile(values: t.Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0 to 1), linearly interpolated; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (rank - low), 3)


def figures(items: t.Sequence[Handover]) -> dict[str, t.Any]:
    claim = [(i.claimed_at - i.at).total_seconds() for i in items if i.claimed_at is not None]
    resolve = [(i.resolved_at - i.at).total_seconds() for i in items if i.resolved_at is not None]
    return {
        "handovers": len(items),
        "claimed": len(claim),
        "unclaimed": len(items) - len(claim),
        "time_to_claim_seconds": {"p50": percentile(claim, 0.5), "p90": percentile(claim, 0.9)},
        "time_to_resolve_seconds": {"p50": percentile(resolve, 0.5), "p90": percentile(resolve, 0.9)},
    }


def handover_report(session: Session, workspace_pk: int, since: dt.datetime | None = None,
                    until: dt.datetime | None = None) -> dict[str, t.Any]:
    """``GET /v1/reports/handovers``: the figures overall, by source tool, by scenario, per day."""
    items = handovers(session, workspace_pk, since, until)
    by_source: dict[str, list[Handover]] = {}
    by_scenario: dict[str, list[Handover]] = {}
    per_day: dict[str, int] = {}
    for item in items:
        by_source.setdefault(item.source, []).append(item)
        if item.scenario:
            by_scenario.setdefault(item.scenario, []).append(item)
        day = item.at.astimezone(dt.timezone.utc).date().isoformat()
        per_day[day] = per_day.get(day, 0) + 1
    return {
        **figures(items),
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "by_source": {key: figures(group) for key, group in sorted(by_source.items())},
        "by_scenario": {key: figures(group) for key, group in sorted(by_scenario.items())},
        "per_day": dict(sorted(per_day.items())),
    }
