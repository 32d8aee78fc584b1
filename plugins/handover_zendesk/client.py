"""Calling Zendesk through zenpy, from the delivery worker only, with 429 as the outbox's backoff.

zenpy sleeps in the calling thread on a 429 and retries without end, unless a rate-limit
budget is set; then it raises ``RatelimitBudgetExceeded``. Each delivery gets its own
client with a budget of one second, so the first 429 ends the call at once, and its
``Retry-After`` (kept by :class:`ZendeskSession`) becomes the delivery's retry delay.
"""

from __future__ import annotations

import contextlib
import typing as t
import urllib.parse

import requests
from zenpy import Zenpy
from zenpy.lib.exception import APIException
from zenpy.lib.exception import RatelimitBudgetExceeded
from zenpy.lib.exception import RecordNotFoundException
from zenpy.lib.exception import ZenpyException

from connector.plugins import GiveUp
from connector.plugins import IntegrationBroken
from connector.plugins import RetryLater
from connector.plugins.webhooks import retry_after

if t.TYPE_CHECKING:
    from handover_zendesk.plugin import ZendeskSettings


class ZendeskSession(requests.Session):
    """A requests session for zenpy: an API base-URL override, and the last ``Retry-After`` seen.

    zenpy builds ``https://<subdomain>.zendesk.com/api/v2/...``; with ``api_base_url`` set
    (a regional host, a proxy, a test server) the scheme and host are replaced by it.
    """

    def __init__(self, base_url: str | None) -> None:
        super().__init__()
        self.base = urllib.parse.urlsplit(base_url.rstrip("/")) if base_url else None
        self.retry_after: float | None = None
        self.idempotency_key: str | None = None

    def request(self, method: str, url: str, *args: t.Any, **kwargs: t.Any) -> requests.Response:  # type: ignore[override]
        asked = url
        if self.base is not None:
            parts = urllib.parse.urlsplit(url)
            url = urllib.parse.urlunsplit((self.base.scheme, self.base.netloc, self.base.path + parts.path,
                                           parts.query, parts.fragment))
        if self.idempotency_key and method.upper() == "POST":
            headers = dict(kwargs.pop("headers", None) or {})
            headers["Idempotency-Key"] = self.idempotency_key
            kwargs["headers"] = headers
        response = super().request(method, url, *args, **kwargs)
        # zenpy picks its response handler by the host it asked for: show it that one.
        response.request.url = asked
        if response.status_code == 429:
            self.retry_after = retry_after(response.headers.get("Retry-After"))
        return response


def zendesk_client(settings: "ZendeskSettings", timeout: float) -> tuple[Zenpy, ZendeskSession]:
    session = ZendeskSession(settings.api_base_url)
    credentials: dict[str, t.Any]
    if settings.oauth_token is not None:
        credentials = {"oauth_token": settings.oauth_token.get_secret_value()}
    else:
        assert settings.email and settings.api_token is not None
        credentials = {"email": settings.email, "token": settings.api_token.get_secret_value()}
    client = Zenpy(subdomain=settings.subdomain, session=session, timeout=timeout, ratelimit_budget=1,
                   disable_cache=True, **credentials)
    return client, session


@contextlib.contextmanager
def calling_zendesk(what: str, session: ZendeskSession) -> t.Iterator[None]:
    """Translate zenpy's exceptions into the delivery outcomes of :mod:`connector.plugins`."""
    try:
        yield
    except RatelimitBudgetExceeded:
        raise RetryLater(f"{what}: rate limited", session.retry_after) from None
    except RecordNotFoundException:
        raise GiveUp(f"{what}: not found") from None
    except APIException as exc:
        response = getattr(exc, "response", None)
        status = response.status_code if response is not None else 0
        if status == 429:
            raise RetryLater(f"{what}: rate limited", session.retry_after) from None
        if status in (401, 403):
            raise IntegrationBroken(f"{what}: Zendesk refused the credentials (HTTP {status})") from None
        if status >= 500 or status in (409, 0):
            raise RetryLater(f"{what}: HTTP {status}") from None
        raise GiveUp(f"{what}: HTTP {status}: {_short(exc)}") from None
    except requests.HTTPError as exc:  # zenpy's raise_for_status on non-JSON errors
        status = exc.response.status_code if exc.response is not None else 0
        if status in (401, 403):
            raise IntegrationBroken(f"{what}: Zendesk refused the credentials (HTTP {status})") from None
        if status == 429 or status >= 500:
            raise RetryLater(f"{what}: HTTP {status}", session.retry_after) from None
        raise GiveUp(f"{what}: HTTP {status}") from None
    except requests.RequestException as exc:  # refused, reset, timed out
        raise RetryLater(f"{what}: {type(exc).__name__}") from None
    except ZenpyException as exc:
        raise GiveUp(f"{what}: {exc}") from None


def _short(exc: BaseException) -> str:
    return str(exc)[:300]
