"""Gorgias' REST API on requests: Basic auth, the account's leaky bucket, errors as outcomes.

Gorgias counts requests per account in a leaky bucket (40 per 20 s with an API key) and
reports the level on every answer (``X-Gorgias-Account-Api-Call-Limit: 12/40``). That
header is the account's own count, whichever worker or process made the requests, so
each process keeps the last level it saw per account (:class:`Bucket`), lets it leak,
and defers a delivery (:class:`~connector.plugins.Defer`, no attempt counted) rather
than send a request that would not fit; a 429 it gets anyway becomes
:class:`~connector.plugins.RetryLater` with Gorgias' ``Retry-after``. Nothing sleeps.
"""

from __future__ import annotations

import threading
import time
import typing as t

import requests

from connector.plugins import Defer
from connector.plugins import GiveUp
from connector.plugins import IntegrationBroken
from connector.plugins import RetryLater
from connector.plugins import webhooks

from handover_gorgias.settings import GorgiasSettings

LIMIT_HEADER = "X-Gorgias-Account-Api-Call-Limit"
RETRYABLE = {408, 409, 423, 425, 500, 502, 503, 504}
PAGE_SIZE = 100
MAX_PAGES = 50


class NotFound(GiveUp):
    """Gorgias answered 404: the ticket, integration or macro is not there (or the account)."""


class Bucket:
    """The last known level of one account's leaky bucket, leaking as time passes."""

    def __init__(self, capacity: int = 40, window: float = 20.0) -> None:
        self.capacity = capacity
        self.window = window
        self.level = 0.0
        self.at = time.monotonic()
        self.blocked_until = 0.0
        self._lock = threading.Lock()

    def _leaked(self, now: float) -> float:
        return max(0.0, self.level - (now - self.at) * self.capacity / self.window)

    def take(self) -> float:
        """Count one request about to go; or how many seconds to wait first (nothing counted)."""
        with self._lock:
            now = time.monotonic()
            if now < self.blocked_until:
                return self.blocked_until - now
            level = self._leaked(now)
            if level + 1 > self.capacity - 1:  # one request of room for whoever else uses the account
                return (level + 2 - self.capacity) * self.window / self.capacity
            self.level, self.at = level + 1, now
            return 0.0

    def saw(self, header: str | None, retry_after: float | None = None) -> None:
        """What Gorgias said: ``used/capacity``, and the delay of a 429."""
        with self._lock:
            now = time.monotonic()
            used, _, capacity = (header or "").partition("/")
            if used.strip().isdigit() and capacity.strip().isdigit() and int(capacity) > 0:
                self.capacity, self.level, self.at = int(capacity), float(used), now
            if retry_after is not None:
                self.blocked_until = max(self.blocked_until, now + retry_after)
                self.level, self.at = float(self.capacity), now


_buckets: dict[tuple[str, str], Bucket] = {}
_buckets_lock = threading.Lock()


def bucket_for(settings: GorgiasSettings) -> Bucket:
    with _buckets_lock:
        bucket = _buckets.get(settings.account)
        if bucket is None:
            bucket = _buckets[settings.account] = Bucket(window=settings.rate_window_seconds)
        bucket.window = settings.rate_window_seconds
        return bucket


class GorgiasClient:
    """One workspace's calls to Gorgias.

    :param pace: defer instead of sending when the account's bucket is full (the delivery
        worker); set-up and checks send anyway and report a 429 in words
    """

    def __init__(self, settings: GorgiasSettings, http: requests.Session, timeout: float, pace: bool = True) -> None:
        self.settings = settings
        self.http = http
        self.timeout = timeout
        self.pace = pace
        self.bucket = bucket_for(settings)

    def request(self, method: str, path: str, what: str, *, json: t.Any = None,
                params: dict[str, t.Any] | None = None) -> t.Any:
        """Send one request; the answer's JSON (None when empty).

        :raises Defer: the account's bucket is full (only with ``pace``)
        :raises RetryLater: 429 (with its ``Retry-after``), 5xx, a timeout, no connection
        :raises IntegrationBroken: 401/403 (a revoked or wrong key)
        :raises NotFound: 404
        :raises GiveUp: any other 4xx
        """
        if self.pace:
            wait = self.bucket.take()
            if wait > 0:
                raise Defer("Gorgias rate limit: waiting for the account's bucket", round(wait, 2))
        try:
            response = self.http.request(method, self.settings.base_url + path, json=json, params=params,
                                         auth=(str(self.settings.email), self.settings.api_key.get_secret_value()),
                                         headers={"Accept": "application/json"}, timeout=self.timeout,
                                         allow_redirects=False)
        except requests.Timeout:
            raise RetryLater(f"Gorgias did not answer in time ({what})") from None
        except requests.ConnectionError as exc:
            raise RetryLater(f"Gorgias unreachable ({what}): {connection_problem(exc, self.settings)}") from None
        retry_after = webhooks.retry_after(response.headers.get("Retry-after")) if response.status_code == 429 else None
        if response.status_code == 429 and retry_after is None:
            retry_after = self.settings.rate_window_seconds / 2
        self.bucket.saw(response.headers.get(LIMIT_HEADER), retry_after)
        status = response.status_code
        if 200 <= status < 300:
            if not response.content:
                return None
            try:
                return response.json()
            except ValueError:
                raise RetryLater(f"Gorgias answered {what} with something that is not JSON") from None
        if status == 429:
            raise RetryLater(f"Gorgias rate limit (429) on {what}", retry_after)
        if status in (401, 403):
            raise IntegrationBroken(f"Gorgias refused the e-mail and API key ({status}) on {what}")
        if status == 404:
            raise NotFound(f"{what}: not found in Gorgias (404)")
        if status in RETRYABLE or status >= 500:
            raise RetryLater(f"Gorgias answered {status} on {what}")
        raise GiveUp(f"Gorgias refused {what} ({status}): {error_message(response)}")

    def get(self, path: str, what: str, **params: t.Any) -> t.Any:
        return self.request("GET", path, what, params=params or None)

    def post(self, path: str, what: str, body: t.Any) -> t.Any:
        return self.request("POST", path, what, json=body)

    def put(self, path: str, what: str, body: t.Any) -> t.Any:
        return self.request("PUT", path, what, json=body)

    def delete(self, path: str, what: str, body: t.Any = None) -> t.Any:
        return self.request("DELETE", path, what, json=body)

    def list(self, path: str, what: str, **params: t.Any) -> list[dict[str, t.Any]]:
        """Every item of a cursor-paginated list (at most ``MAX_PAGES`` pages of ``PAGE_SIZE``)."""
        items: list[dict[str, t.Any]] = []
        cursor = None
        for _ in range(MAX_PAGES):
            page = self.get(path, what, limit=PAGE_SIZE, **params, **({"cursor": cursor} if cursor else {}))
            items.extend(page.get("data") or [])
            cursor = (page.get("meta") or {}).get("next_cursor")
            if not cursor:
                break
        return items


def connection_problem(exc: requests.ConnectionError, settings: GorgiasSettings) -> str:
    """A refused connection or an unknown host, in words (never the URL's credentials)."""
    text = str(exc)
    host = settings.base_url.split("//", 1)[-1].split("/", 1)[0]
    if any(sign in text for sign in ("NameResolutionError", "Name or service not known", "nodename nor servname",
                                     "getaddrinfo failed", "Temporary failure in name resolution",
                                     "No address associated")):
        return f"unknown domain: {host} does not resolve"
    return f"cannot connect to {host}"


def error_message(response: requests.Response) -> str:
    """Gorgias' own words about a refused request (``error.msg`` and ``error.data``), short."""
    try:
        body = response.json()
    except ValueError:
        return "no details"
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "no details"
    text = str(error.get("msg") or "no details")
    if error.get("data"):
        text += f": {error['data']}"
    return text[:300]
