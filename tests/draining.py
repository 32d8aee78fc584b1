"""Running a delivery worker in a test until the outbox settles."""

from __future__ import annotations

import time
import typing as t

if t.TYPE_CHECKING:
    from connector.delivery.worker import DeliveryWorker


def drain(worker: "DeliveryWorker", until: t.Callable[[], bool] = lambda: True, timeout: float = 15.0) -> None:
    """Run the worker until nothing is due and ``until()`` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.run_once() == 0 and until():
            return
        time.sleep(0.01)
    raise AssertionError("deliveries did not settle in time")
