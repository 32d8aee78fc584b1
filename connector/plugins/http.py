"""Outbound HTTP for plugins on ``requests``: one session with retries off, and vendor
answers mapped to :class:`~connector.plugins.RetryLater` / :class:`~connector.plugins.GiveUp`.

Retries are the outbox's job (they survive restarts and keep order), so the session
itself never retries.
"""

from __future__ import annotations

import typing as t

import requests
from requests.adapters import HTTPAdapter

from connector.plugins.contract import GiveUp
from connector.plugins.contract import RetryLater
from connector.plugins.webhooks import retry_after

RETRYABLE_STATUS = {408, 409, 423, 425, 429, 500, 502, 503, 504}


def new_session(pool_size: int = 16) -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = "handover-connector"
    return session


def raise_for_vendor_status(response: requests.Response) -> None:
    """Map a non-2xx answer to RetryLater (passing) or GiveUp (permanent)."""
    if response.ok:
        return
    reason = f"HTTP {response.status_code}"
    if response.status_code in RETRYABLE_STATUS:
        raise RetryLater(reason, retry_after(response.headers.get("Retry-After")))
    raise GiveUp(reason)


def send(session: requests.Session, method: str, url: str, *, timeout: float, **kwargs: t.Any) -> requests.Response:
    """One request; network failures and retryable statuses raise RetryLater."""
    try:
        response = session.request(method, url, timeout=timeout, **kwargs)
    except requests.Timeout:
        raise RetryLater("timeout") from None
    except requests.ConnectionError:
        raise RetryLater("connection failed") from None
    raise_for_vendor_status(response)
    return response
