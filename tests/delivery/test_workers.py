"""Worker processes under faults: nothing lost, nothing doubled, order kept, crashes survived.

These run real ``connector worker`` processes against the session's database (SQLite
file or PostgreSQL schema) and a real HTTP fake vendor.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time

import pytest

from connector.delivery.worker import DeliveryWorker
from connector.security import new_webhook_secret
from connector.storage import repository
from connector.storage.models import Delivery
from tests.conftest import FAST_DELIVERY
from tests.conftest import LOCAL_PLATFORM
from tests.conftest import SECRET_KEY
from tests.fakes.vendor import FakeVendor

CONVERSATIONS = 50
MESSAGES = 1000


def worker_process(settings, **overrides):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    env.update({
        "CONNECTOR_DATABASE_URL": settings.database_url,
        "CONNECTOR_SECRET_KEY": SECRET_KEY,
        **{f"CONNECTOR_{k.upper()}": str(v) for k, v in {**FAST_DELIVERY, **LOCAL_PLATFORM, **overrides}.items()},
    })
    return subprocess.Popen([sys.executable, "-m", "connector", "worker"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def stop(processes):
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def open_count(database):
    with database.read() as session:
        return session.query(Delivery).filter(Delivery.status.in_(("pending", "in_flight"))).count()


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def vendor():
    with FakeVendor(hang_seconds=0.7) as fake:
        yield fake


@pytest.fixture
def platform_workspace(connector, database, vendor):
    with database.write() as session:
        workspace, _ = repository.create_workspace(session, "Load", "pro")
        workspace.platform_webhook_url = f"{vendor.url}/platform"
        workspace.platform_webhook_secret = connector.secrets.encrypt(new_webhook_secret())
    return workspace


def test_a_thousand_messages_with_30_percent_failures_arrive_exactly_once_in_order(
    connector, database, settings, vendor, platform_workspace
):
    vendor.fail_rate(0.3, seed=42, statuses=(500, 429, "hang"), retry_after=0.05)
    workers = [worker_process(settings, delivery_max_attempts=100) for _ in range(2)]
    try:
        service = connector.handover
        conversations = [service.create_conversation(platform_workspace)[0].id for _ in range(CONVERSATIONS)]
        sent = collections.defaultdict(list)
        for n in range(MESSAGES):
            cid = conversations[n % CONVERSATIONS]
            message, _ = service.post_message(platform_workspace, cid, author="shopper", text=f"m{n}")
            sent[cid].append(message.id)
        wait_until(lambda: open_count(database) == 0, 240, "every delivery to settle")
    finally:
        stop(workers)

    with database.read() as session:
        assert {d.status for d in session.query(Delivery)} == {"delivered"}
    effects = [r for r in vendor.effects() if r.path == "/platform"]
    assert len(effects) == MESSAGES
    assert len({r.headers["webhook-id"] for r in effects}) == MESSAGES
    received = collections.defaultdict(list)
    for request in sorted(effects, key=lambda r: r.received):
        received[request.json["conversation"]["id"]].append(request.json["message"]["id"])
    assert received == sent  # every message once, each conversation in order
    failures = [r for r in vendor.requests_for("/platform") if r.status >= 400]
    assert len(failures) > 100  # the faults really happened


def test_a_worker_killed_mid_delivery_is_taken_over_with_one_effect(
    connector, database, settings, vendor, platform_workspace
):
    vendor.hang_next(1, seconds=2.0)
    first = worker_process(settings, delivery_timeout=10, delivery_lease_seconds=1.5)
    cid = connector.handover.create_conversation(platform_workspace)[0].id
    connector.handover.post_message(platform_workspace, cid, author="shopper", text="hello")
    try:
        wait_until(lambda: len(vendor.requests_for("/platform")) == 1, 30, "the first attempt to reach the vendor")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        with database.read() as session:
            [delivery] = session.query(Delivery).all()
        assert delivery.status == "in_flight"  # the dead worker's claim

        second = worker_process(settings, delivery_lease_seconds=1.5)
        try:
            wait_until(lambda: open_count(database) == 0, 60, "the second worker to finish the delivery")
        finally:
            stop([second])
    finally:
        stop([first])

    attempts = vendor.requests_for("/platform")
    assert len(attempts) >= 2
    assert len({r.headers["Idempotency-Key"] for r in attempts}) == 1
    assert len([r for r in vendor.effects() if r.path == "/platform"]) == 1
    with database.read() as session:
        [delivery] = session.query(Delivery).all()
        assert delivery.status == "delivered" and delivery.attempts >= 2  # 409s while the hung call ran


def test_cli_lists_failed_deliveries_and_retries_them(connector, database, settings, vendor, platform_workspace):
    connector.settings.delivery_max_attempts = 1
    vendor.fail_next(1, status=500)
    cid = connector.handover.create_conversation(platform_workspace)[0].id
    connector.handover.post_message(platform_workspace, cid, author="shopper", text="hello")
    DeliveryWorker(connector).run_once()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    env.update({"CONNECTOR_DATABASE_URL": settings.database_url, "CONNECTOR_SECRET_KEY": SECRET_KEY})

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "connector", *args], env=env, capture_output=True, text=True, timeout=60)

    listed = cli("deliveries", "list", "--failed")
    assert listed.returncode == 0, listed.stderr
    [line] = listed.stdout.strip().splitlines()
    delivery_id, plugin, action, status, attempts, error = line.split("\t")
    assert (plugin, action, status, attempts, error) == ("platform", "platform_event", "dead", "1", "HTTP 500 (after 1 attempts)")
    assert cli("deliveries", "retry", delivery_id).returncode == 0
    assert cli("deliveries", "retry", delivery_id).returncode != 0  # no longer dead
    DeliveryWorker(connector).run_once()
    with database.read() as session:
        assert session.query(Delivery).one().status == "delivered"
