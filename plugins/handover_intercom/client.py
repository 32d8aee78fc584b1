"""The official SDK (python-intercom 5.x), set up the way the connector needs it.

* every call sends ``Intercom-Version: 2.14`` (the SDK sends none, and Intercom then answers
  in the app's default version, or 1.0);
* no retries anywhere: the SDK's own loop is off (``max_retries`` 0, its default; it
  miscounts anyway) and the httpx transport does not retry either; the connector's outbox
  retries, survives restarts and keeps the order;
* redirects are not followed (the token would go along);
* errors become outcomes (:func:`calling`): 429 with ``X-RateLimit-Reset`` and 5xx, 408 and
  timeouts are :class:`RetryLater`, 401/403 :class:`IntegrationBroken`, other 4xx :class:`GiveUp`.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
import typing as t

import cachetools
from intercom.core.api_error import ApiError  # light: the SDK's package loads its parts lazily

from connector.plugins import GiveUp
from connector.plugins import IntegrationBroken
from connector.plugins import RetryLater
from connector.plugins import webhooks
from handover_intercom.settings import IntercomSettings

VERSION = "2.14"
RETRYABLE = {408, 409, 423, 425, 429, 500, 502, 503, 504}

_clients: cachetools.LRUCache[tuple[str, str, float], t.Any] = cachetools.LRUCache(maxsize=64)
_lock = threading.Lock()


def intercom_client(settings: IntercomSettings, timeout: float) -> t.Any:
    """An SDK client (``intercom.Intercom``) for these settings (one per token, base URL and timeout, reused).

    The SDK (and httpx) load on first use, in the worker: web processes, which only verify
    and persist Intercom's requests, never pay for importing them.
    """
    import httpx
    from intercom import Intercom

    key = (settings.access_token.get_secret_value(), settings.base_url, float(timeout))
    with _lock:
        client = _clients.get(key)
        if client is None:
            http = httpx.Client(timeout=timeout, follow_redirects=False, transport=httpx.HTTPTransport(retries=0))
            client = Intercom(token=key[0], base_url=settings.base_url, timeout=timeout,
                              headers={"Intercom-Version": VERSION}, httpx_client=http)
            _clients[key] = client
        return client


def error_code(exc: ApiError) -> str:
    """The first error's code (``not_found``, ``parameter_invalid``...), or ``HTTP <status>``."""
    body = exc.body if isinstance(exc.body, dict) else {}
    errors = body.get("errors") or []
    if errors and isinstance(errors[0], dict) and errors[0].get("code"):
        return str(errors[0]["code"])
    return f"HTTP {exc.status_code}"


def error_message(exc: ApiError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    errors = body.get("errors") or []
    if errors and isinstance(errors[0], dict):
        return str(errors[0].get("message") or "")[:200]
    return ""


def _header(exc: ApiError, name: str) -> str | None:
    for key, value in (exc.headers or {}).items():
        if key.lower() == name.lower():
            return value
    return None


def retry_after(exc: ApiError, now: float | None = None) -> float | None:
    """Seconds to wait: ``Retry-After`` if sent, else until ``X-RateLimit-Reset`` (Unix seconds)."""
    seconds = webhooks.retry_after(_header(exc, "Retry-After"))
    if seconds is not None:
        return seconds
    reset = _header(exc, "X-RateLimit-Reset")
    try:
        return max(0.0, float(reset) - (time.time() if now is None else now)) if reset else None
    except ValueError:
        return None


def outcome(exc: ApiError, what: str) -> Exception:
    """What an Intercom error answer means for the outbox."""
    status = exc.status_code or 0
    code = error_code(exc)
    if status == 429:
        return RetryLater(f"{what}: rate limited by Intercom", retry_after(exc))
    if status in RETRYABLE or status >= 500:
        return RetryLater(f"{what}: Intercom answered {status}", retry_after(exc))
    if status in (401, 403):
        return IntegrationBroken(f"{what}: Intercom refused the access token ({code})")
    return GiveUp(f"{what}: Intercom answered {status} {code}: {error_message(exc)}".rstrip(": "))


@contextlib.contextmanager
def calling(what: str) -> t.Iterator[None]:
    """Map the SDK's and httpx's failures to outbox outcomes (never with the token in them)."""
    try:
        yield
    except ApiError as exc:
        raise outcome(exc, what) from None
    except Exception as exc:
        httpx = sys.modules.get("httpx")  # loaded by intercom_client before any call
        if httpx is not None and isinstance(exc, httpx.TransportError):
            raise RetryLater(f"{what}: {unreachable(exc, httpx)}") from None
        raise


def unreachable(exc: t.Any, httpx: t.Any) -> str:
    """A call that never got an answer, in words: where it went (no query) and why, never a secret."""
    try:
        url = exc.request.url
        where = f" {url.scheme}://{url.host}{f':{url.port}' if url.port else ''}{url.path}"
    except RuntimeError:  # no request attached
        where = ""
    if isinstance(exc, httpx.TimeoutException):
        cause = "timed out"
    elif isinstance(exc, httpx.ConnectError):
        text = str(exc).lower()
        cause = ("no such host (check region or api_base_url)"
                 if any(w in text for w in ("name or service", "nodename", "getaddrinfo")) else
                 "connection refused or reset (is the URL right, is it up?)")
    else:
        cause = type(exc).__name__
    return f"could not reach{where}: {cause}"
