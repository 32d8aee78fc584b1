"""Calling Slack's Web API from the delivery worker: clients, pacing, and what errors mean."""

from __future__ import annotations

import contextlib
import threading
import time
import typing as t

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.errors import SlackRequestError

from connector.plugins import GiveUp
from connector.plugins import IntegrationBroken
from connector.plugins import RetryLater
from connector.plugins.webhooks import retry_after

DEFAULT_API = "https://slack.com/api/"

#: Errors that mean the integration itself is broken, not this one call: the integration
#: is marked unhealthy and the delivery is kept for replay.
BROKEN = {
    "not_in_channel": "the bot is not in the channel: invite it with /invite @handover",
    "channel_not_found": "channel not found: check the channel id, or invite the bot to the private channel",
    "is_archived": "the channel is archived",
    "token_revoked": "the Slack token was revoked: reinstall the app",
    "token_expired": "the Slack token expired: reinstall the app",
    "invalid_auth": "the Slack token is not valid",
    "not_authed": "no Slack token",
    "account_inactive": "the Slack app or its workspace is deactivated: reinstall the app",
    "missing_scope": "the app lacks a scope it needs: reinstall it from the manifest",
    "team_access_not_granted": "the app is not allowed in this workspace",
    "ekm_access_denied": "Slack refused access (EKM)",
}
#: Errors worth another try.
PASSING = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}


def web_client(token: str, base_url: str | None, timeout: float) -> WebClient:
    return WebClient(token=token, base_url=base_url or DEFAULT_API, timeout=int(max(1, timeout)))


@contextlib.contextmanager
def calling_slack(what: str) -> t.Iterator[None]:
    """Translate Slack's answers into the delivery outcomes of :mod:`connector.plugins`."""
    try:
        yield
    except SlackApiError as exc:
        response = exc.response
        error = (response.data or {}).get("error", "") if isinstance(response.data, dict) else ""
        if response.status_code == 429 or error == "ratelimited":
            wait = retry_after(response.headers.get("Retry-After") or response.headers.get("retry-after"))
            raise RetryLater(f"{what}: rate limited", wait) from None
        if response.status_code >= 500 or error in PASSING:
            raise RetryLater(f"{what}: {error or 'HTTP %d' % response.status_code}") from None
        if error in BROKEN:
            raise IntegrationBroken(f"{error}: {BROKEN[error]}") from None
        raise GiveUp(f"{what}: {error or 'HTTP %d' % response.status_code}") from None
    except (SlackRequestError, OSError) as exc:  # connection refused, reset, timed out
        raise RetryLater(f"{what}: {type(exc).__name__}") from None


class ChannelPacer:
    """Keeps posts to one channel inside Slack's pace (about one a second, short bursts).

    A token bucket per channel, per process; a 429 past it still becomes the outbox's
    backoff through ``Retry-After``.
    """

    def __init__(self, per_second: float = 1.0, burst: int = 3) -> None:
        self.per_second = per_second
        self.burst = burst
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def wait(self, channel: str) -> None:
        if self.per_second <= 0:
            return
        with self._lock:
            now = time.monotonic()
            tokens, last = self._buckets.get(channel, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.per_second)
            delay = 0.0 if tokens >= 1 else (1 - tokens) / self.per_second
            self._buckets[channel] = (tokens - 1, now)
        if delay:
            time.sleep(delay)
