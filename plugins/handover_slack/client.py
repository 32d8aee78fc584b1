"""Calling Slack's Web API from the delivery worker: clients, pacing, and what errors mean."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
import typing as t

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.errors import SlackRequestError

from connector.plugins import Defer
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


@dataclasses.dataclass
class _Lane:
    """One channel's pace: the posts it may still make at once, and its queue of slots."""

    #: posts Slack would take now (a token bucket of ``burst``, refilled at ``per_second``)
    tokens: float
    #: when the bucket was last brought up to date
    at: float
    #: the queue's theoretical time for its next slot (GCRA)
    due: float
    #: slots handed out, by the delivery's idempotency key
    slots: dict[str, float] = dataclasses.field(default_factory=dict)


class ChannelPacer:
    """Keeps posts to one channel inside Slack's pace, a new thread's parent post first.

    Slack lets an app post about one message a second to a channel, with short bursts
    (chat.postMessage's special rate limit). Per channel, a token bucket of ``burst``
    posts refilled at ``per_second`` counts what was posted. A thread-opening post
    (``opening=True``) takes any token there is; every other post leaves one for it and
    waits its turn on the channel's queue: when its slot is later, :class:`Defer` hands the
    delivery back to the outbox until then, so no worker thread sleeps and nothing blocks
    the deliveries behind it. The slot is kept under the delivery's idempotency key: the
    delivery is claimed once more, at its turn. So a new handover's parent post goes at once
    (within one interval when several open together), however many transcript and mirror
    posts wait; each one it makes moves the queue's later slots back one interval, which
    keeps the channel's total inside the bucket. The pace is per process; a 429 past it
    still becomes the outbox's backoff through ``Retry-After``.
    """

    #: a slot no delivery came back for (another process took it) is forgotten after this
    STALE_SECONDS = 120.0
    #: a slot this close is taken now
    EPSILON = 0.01

    def __init__(self, per_second: float = 1.0, burst: int = 3,
                 clock: t.Callable[[], float] = time.monotonic) -> None:
        self.per_second = per_second
        self.burst = max(1, burst)
        self.clock = clock
        #: tokens every post but a thread's first leaves in the bucket
        self.reserve = 1 if self.burst > 1 else 0
        self._lock = threading.Lock()
        self._lanes: dict[str, _Lane] = {}

    def admit(self, channel: str, key: str, *, opening: bool = False, posts: int = 1) -> None:
        """Return when ``posts`` posts to ``channel`` may go now; else raise :class:`Defer`.

        ``key`` names the delivery (its idempotency key, stable across attempts).
        """
        if self.per_second <= 0:
            return
        interval = 1.0 / self.per_second
        with self._lock:
            now = self.clock()
            lane = self._lanes.get(channel)
            if lane is None:
                lane = self._lanes[channel] = _Lane(tokens=float(self.burst), at=now, due=now)
            lane.tokens = min(float(self.burst), lane.tokens + (now - lane.at) * self.per_second)
            lane.at = now
            for stale in [k for k, slot in lane.slots.items() if slot < now - self.STALE_SECONDS]:
                del lane.slots[stale]
            if opening:
                if lane.tokens < 1:
                    raise Defer("Slack's per-channel pace (a new thread's post)", (1 - lane.tokens) * interval)
                lane.tokens -= 1
                lane.due = max(lane.due, now) + interval  # the queue's later slots move back
                return
            cost = max(1, min(posts, self.burst - self.reserve))
            slot = lane.slots.get(key)
            if slot is None:  # a turn on the queue (bursts of burst - reserve, then one an interval)
                tolerance = (self.burst - self.reserve - 1) * interval
                slot = max(now, lane.due - tolerance)
                lane.due = max(lane.due, slot) + cost * interval
            if slot > now + self.EPSILON:
                lane.slots[key] = slot
                raise Defer("Slack's per-channel pace", slot - now)
            need = cost + self.reserve
            if lane.tokens < need - 1e-9:  # its turn came, but a thread's first post took the token
                lane.slots[key] = now + (need - lane.tokens) * interval
                raise Defer("Slack's per-channel pace", (need - lane.tokens) * interval)
            lane.slots.pop(key, None)
            lane.tokens -= cost
