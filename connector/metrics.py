"""Prometheus metrics at ``/metrics``.

Outbox gauges are read from the database at scrape time (so any web process shows the
whole deployment's queue); latency and counters are kept by the process that observes
them (``connector worker --metrics-port`` exposes a worker's own).
"""

from __future__ import annotations

import typing as t

from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Histogram
from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily

from connector.delivery import outbox

if t.TYPE_CHECKING:
    from connector.storage.database import Database

PROCESS = CollectorRegistry(auto_describe=True)

DELIVERY_LATENCY = Histogram(
    "connector_delivery_latency_seconds",
    "From the change that caused a delivery to the vendor accepting it.",
    ["plugin"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
    registry=PROCESS,
)
DELIVERY_ATTEMPTS = Counter(
    "connector_delivery_attempts_total", "Delivery attempts by outcome.", ["plugin", "outcome"], registry=PROCESS
)
INBOUND_EVENTS = Counter(
    "connector_inbound_events_total",
    "Vendor events received, by outcome (applied, duplicate, echo, refused, ignored, unknown_thread).",
    ["plugin", "outcome"],
    registry=PROCESS,
)
HANDOVER_CLAIM_SECONDS = Histogram(
    "connector_handover_claim_seconds",
    "From a hand over to the first human reply (the handover claimed).",
    buckets=(5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600),
    registry=PROCESS,
)


class OutboxCollector:
    """Deliveries pending, in flight, failing and dead, by plugin, read at scrape time."""

    def __init__(self, db: "Database") -> None:
        self.db = db

    def collect(self) -> t.Iterator[GaugeMetricFamily]:
        by_status = GaugeMetricFamily(
            "connector_deliveries", "Deliveries not yet delivered, by plugin and status.", labels=["plugin", "status"]
        )
        failing = GaugeMetricFamily(
            "connector_deliveries_failing", "Pending deliveries that failed at least once.", labels=["plugin"]
        )
        with self.db.read() as session:
            for plugin, status, count in outbox.counts(session):
                by_status.add_metric([plugin, status], count)
            for plugin, count in outbox.failing(session):
                failing.add_metric([plugin], count)
        yield by_status
        yield failing

    def describe(self) -> list[t.Any]:
        return []


def render(db: "Database") -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(OutboxCollector(db))
    return generate_latest(PROCESS) + generate_latest(registry)
