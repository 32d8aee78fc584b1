"""Delivery throughput per worker and change-to-vendor latency, on SQLite and PostgreSQL.

    .venv/bin/python bench/deliveries.py [--backend sqlite|postgres|both] [--count 2000]

Two measurements against a loopback fake vendor (the test suite's ``FakeVendor``):

1. throughput: ``--count`` platform-webhook deliveries are queued with no worker
   running, then one worker delivers them all: deliveries per second per worker;
2. latency: with the worker running (as inside ``connector serve``, woken by each
   commit), messages are posted one by one through the handover service, and the time
   from the call to the fake receiving the signed webhook is recorded: p50 and p99.

The baseline, in the same run against the same fake: the bare HTTP calls alone, the same
number of signed-webhook-sized POSTs from a pool as wide as the worker's
(``delivery_concurrency``) on one ``requests`` session, and for latency one POST at a time.
The ratio (deliveries/s over bare POSTs/s) is what the outbox, its transactions and the
fan-out cost on top of the call itself; only ratios from one run compare on a shared machine.
Goal (issue 15): at least 200 deliveries/s per worker.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import text  # noqa: E402

from connector.app import build_connector  # noqa: E402
from connector.config import Settings  # noqa: E402
from connector.delivery.worker import DeliveryWorker  # noqa: E402
from connector.plugin_registry import PluginRegistry  # noqa: E402
from connector.security import new_webhook_secret  # noqa: E402
from connector.storage import repository  # noqa: E402
from connector.storage.database import Database  # noqa: E402
from connector.storage.models import Delivery  # noqa: E402
from common import print_comparison  # noqa: E402
from connector.plugins.http import new_session  # noqa: E402
from tests.fakes.vendor import FakeVendor  # noqa: E402

POSTGRES_URL = os.environ.get("CONNECTOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def open_database(backend: str, workdir: Path) -> tuple[Database, callable]:
    if backend == "sqlite":
        db = Database.from_url(f"sqlite:///{workdir / 'bench.db'}")
        return db, db.dispose
    schema = f"bench_{secrets.token_hex(4)}"
    admin = Database.from_url(POSTGRES_URL)
    with admin.engine.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in POSTGRES_URL else "?"
    db = Database.from_url(f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}")

    def drop() -> None:
        db.dispose()
        with admin.engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()

    return db, drop


def pending(db: Database) -> int:
    with db.read() as session:
        return session.query(Delivery).filter(Delivery.status != "delivered").count()


def bare_calls(vendor: FakeVendor, count: int, samples: int, width: int) -> dict[str, float]:
    """The baseline: the same POSTs to the same fake with no outbox, in parallel and one by one."""
    from concurrent.futures import ThreadPoolExecutor

    session = new_session()
    body = json.dumps({"type": "message.created", "data": {"text": "message 0000", "pad": "x" * 400}})
    headers = {"Content-Type": "application/json", "X-Signature": "sha256=" + "0" * 64}

    def post(n: int) -> float:
        began = time.monotonic()
        session.post(f"{vendor.url}/bare", data=body, headers={**headers, "Idempotency-Key": f"bare-{n}"},
                     timeout=10).raise_for_status()
        return time.monotonic() - began

    with ThreadPoolExecutor(max_workers=width) as pool:
        list(pool.map(post, range(50)))  # warm the connections
        started = time.perf_counter()
        list(pool.map(post, range(50, 50 + count)))
        elapsed = time.perf_counter() - started
    latencies = [post(100_000 + n) for n in range(samples)]
    return {"bare_posts_per_s": round(count / elapsed, 1),
            "bare_p50_ms": round(statistics.median(latencies) * 1000, 2),
            "bare_p99_ms": round(percentile(latencies, 0.99) * 1000, 2)}


def run(backend: str, count: int, latency_samples: int) -> dict[str, float | str]:
    with tempfile.TemporaryDirectory() as workdir, FakeVendor() as vendor:
        db, drop = open_database(backend, Path(workdir))
        try:
            db.upgrade()
            settings = Settings(database_url=db.engine.url.render_as_string(hide_password=False),
                                secret_key="b" * 40, delivery_poll_interval=0.05,
                                # the fake vendor listens on 127.0.0.1, which the default refuses
                                webhook_deny_private=False)
            connector = build_connector(settings, db=db, plugins=PluginRegistry())
            with db.write() as session:
                workspace, _ = repository.create_workspace(session, "Bench", "pro")
                workspace.platform_webhook_url = f"{vendor.url}/platform"
                workspace.platform_webhook_secret = connector.secrets.encrypt(new_webhook_secret())
            service = connector.handover
            conversations = [service.create_conversation(workspace)[0].id for _ in range(50)]

            for n in range(count):
                service.post_message(workspace, conversations[n % 50], author="shopper", text=f"message {n}")
            worker = DeliveryWorker(connector, worker_id="bench")
            started = time.perf_counter()
            while worker.run_once():
                pass
            elapsed = time.perf_counter() - started
            assert pending(db) == 0 and len(vendor.effects()) == count

            # latency: the in-process worker, woken by each commit
            connector.outbox.wake = worker.wake
            stop = threading.Event()
            thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
            thread.start()
            latencies = []
            for n in range(latency_samples):
                seen = len(vendor.requests_for("/platform"))
                sent = time.monotonic()
                service.post_message(workspace, conversations[n % 50], author="shopper", text=f"latency {n}")
                vendor.wait_for(lambda: len(vendor.requests_for("/platform")) > seen, timeout=10)
                latencies.append(vendor.requests_for("/platform")[seen].received - sent)
            stop.set()
            worker.wake()
            thread.join(timeout=5)
            bare = bare_calls(vendor, count, latency_samples, settings.delivery_concurrency)
            return {
                **bare,
                "backend": backend,
                "deliveries": count,
                "deliveries_per_s_per_worker": round(count / elapsed, 1),
                "latency_p50_ms": round(statistics.median(latencies) * 1000, 2),
                "latency_p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
            }
        finally:
            drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--latency-samples", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results = [run(backend, args.count, args.latency_samples) for backend in backends]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print_comparison("one worker against the bare calls (same fake vendor, same run); p50/p99: change to vendor:", [
        (r["backend"], {"rate": r["deliveries_per_s_per_worker"], "p50": r["latency_p50_ms"], "p99": r["latency_p99_ms"]},
         {"rate": r["bare_posts_per_s"], "p50": r["bare_p50_ms"], "p99": r["bare_p99_ms"]}) for r in results], "/s")


if __name__ == "__main__":
    main()
