"""A real local HTTP server standing in for a vendor API, with faults on demand.

It answers over real sockets on 127.0.0.1, records every request as it arrives, and can
answer 500s, 429s with ``Retry-After``, hang past a client's timeout, or refuse
connections altogether. Like real vendors that support idempotency keys, it applies a
request carrying an ``Idempotency-Key`` once: a repeat of a key that already succeeded
gets the stored answer (and is marked ``duplicate``); a repeat while the first is still
being processed gets 409. :meth:`FakeVendor.effects` lists what a vendor would actually
have applied: every 2xx request, once per idempotency key. A hung request that answers
2xx after the client gave up still counts as an effect, as it would at a real vendor.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
import threading
import time
import typing as t
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer

from tests.fakes.server import LocalServer

from requests.structures import CaseInsensitiveDict

Fault = t.Union[int, str]  # a status code, or "hang"


@dataclasses.dataclass
class Recorded:
    method: str
    path: str
    headers: CaseInsensitiveDict
    body: bytes
    json: t.Any
    received: float
    status: int | None = None
    response_json: t.Any = None
    duplicate: bool = False

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("Idempotency-Key") or self.headers.get("X-Idempotency-Key")


class FakeVendor(LocalServer):
    """Start with ``with FakeVendor() as vendor:``; ``vendor.url`` is its base URL."""

    def __init__(self, port: int = 0, hang_seconds: float = 1.0) -> None:
        self.port = port
        self.hang_seconds = hang_seconds
        self._lock = threading.Lock()
        self._recorded: list[Recorded] = []
        self._faults: list[tuple[Fault, float | None]] = []
        self._rate: tuple[float, random.Random, tuple[Fault, ...], float] | None = None
        self._done: dict[str, tuple[int, t.Any]] = {}
        self._in_progress: set[str] = set()
        self._ids = itertools.count(1)
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    # -- life cycle ----------------------------------------------------------------------

    def stop(self) -> None:
        self._stopping.set()
        self.refuse()

    def refuse(self) -> None:
        """Stop listening: connections are refused until :meth:`accept`."""
        LocalServer.stop(self)

    def accept(self) -> None:
        """Listen again on the same port."""
        self._stopping.clear()
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- faults --------------------------------------------------------------------------

    def fail_next(self, n: int, status: int = 500, retry_after: float | None = None) -> None:
        with self._lock:
            self._faults.extend([(status, retry_after)] * n)

    def hang_next(self, n: int, seconds: float | None = None) -> None:
        if seconds is not None:
            self.hang_seconds = seconds
        with self._lock:
            self._faults.extend([("hang", None)] * n)

    def fail_rate(self, p: float, seed: int, statuses: tuple[Fault, ...] = (500, 429, "hang"),
                  retry_after: float = 0.05) -> None:
        """Each later request fails with probability ``p``, the fault picked at random (seeded)."""
        with self._lock:
            self._rate = (p, random.Random(seed), statuses, retry_after)

    def _next_fault(self) -> tuple[Fault, float | None] | None:
        with self._lock:
            if self._faults:
                return self._faults.pop(0)
            if self._rate is not None:
                p, rng, statuses, retry_after = self._rate
                if rng.random() < p:
                    return rng.choice(statuses), retry_after
        return None

    # -- what happened -------------------------------------------------------------------

    def requests_for(self, prefix: str = "/") -> list[Recorded]:
        with self._lock:
            return [r for r in self._recorded if r.path.startswith(prefix)]

    def effects(self) -> list[Recorded]:
        """The requests a vendor would have applied: 2xx, once per idempotency key."""
        with self._lock:
            return [r for r in self._recorded if r.status is not None and 200 <= r.status < 300 and not r.duplicate]

    def wait_for(self, predicate: t.Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError("the fake vendor did not see what was expected in time")
            time.sleep(0.01)

    # -- answering -----------------------------------------------------------------------

    def handle(self, record: Recorded) -> tuple[int, dict[str, str], t.Any]:
        with self._lock:
            self._recorded.append(record)
        key = record.idempotency_key
        if key is not None:
            with self._lock:
                if key in self._done:
                    status, answer = self._done[key]
                    record.duplicate = True
                    return status, {}, answer
                if key in self._in_progress:
                    return 409, {}, {"error": "a request with this idempotency key is in progress"}
                self._in_progress.add(key)
        try:
            fault = self._next_fault()
            if fault is not None and fault[0] == "hang":
                self._stopping.wait(self.hang_seconds)
            elif fault is not None:
                status, retry_after = fault
                headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
                return int(status), headers, {"error": f"injected {status}"}
            status, answer = self.answer(record)
            if key is not None and 200 <= status < 300:
                with self._lock:
                    self._done[key] = (status, answer)
            return status, {}, answer
        finally:
            if key is not None:
                with self._lock:
                    self._in_progress.discard(key)

    def answer(self, record: Recorded) -> tuple[int, t.Any]:
        """The vendor's normal answer: 201 with a new id for POST, 200 otherwise."""
        if record.method == "POST":
            return 201, {"id": f"v{next(self._ids)}"}
        return 200, {"ok": True}


class _Handler(BaseHTTPRequestHandler):
    vendor: FakeVendor
    protocol_version = "HTTP/1.1"
    #: buffer the answer so headers and body leave in one segment (no Nagle/delayed-ACK stall)
    wbufsize = 1 << 16

    def log_message(self, *args: t.Any) -> None:  # quiet
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        record = Recorded(self.command, self.path, CaseInsensitiveDict(self.headers.items()), body, parsed,
                          time.monotonic())
        status, headers, answer = self.vendor.handle(record)
        record.status, record.response_json = status, answer
        payload = json.dumps(answer).encode()
        try:
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass  # the client gave up (a hang past its timeout)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


FakeVendor.handler = _Handler
FakeVendor.handler_attribute = "vendor"
