"""Where the Slack plugin may send the bot token and POST: Slack's own hosts, nothing else.

A file event names its ``url_private``; an interaction names its ``response_url``. Both come
from a signed request, but anyone holding a workspace's signing secret can sign one, so the
plugin fetches files only from Slack's file hosts and POSTs only to Slack's response host
(or, with an ``api_base_url`` for a proxy or a test's fake, from and to exactly that
origin), through :func:`connector.plugins.http.pinned_request`: one checked address, no
redirects, no private addresses unless the origin was configured.
"""

from __future__ import annotations

import typing as t
import urllib.parse

import requests

from connector.plugins import DeliveryContext
from connector.plugins.http import AddressRefused
from connector.plugins.http import pinned_request

#: where Slack keeps shared files (``url_private``): https://docs.slack.dev/messaging/working-with-files
SLACK_FILE_HOSTS = frozenset({"files.slack.com"})
#: where Slack's ``response_url``\ s point: https://docs.slack.dev/interactivity/handling-user-interaction
SLACK_RESPONSE_HOSTS = frozenset({"hooks.slack.com"})


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        return None
    return parts.scheme, parts.hostname.lower().rstrip("."), port


def _allowed(url: str, hosts: frozenset[str], configured: str | None) -> bool:
    """``url`` is https on one of Slack's ``hosts``, or, with a configured API base URL, on exactly its origin."""
    origin = _origin(url)
    if origin is None:
        return False
    if configured:
        return origin == _origin(configured)
    return origin[0] == "https" and origin[1] in hosts and origin[2] == 443


def file_url_allowed(url: str, configured: str | None) -> bool:
    return _allowed(url, SLACK_FILE_HOSTS, configured)


def response_url_allowed(url: str, configured: str | None) -> bool:
    return _allowed(url, SLACK_RESPONSE_HOSTS, configured)


def respond(ctx: DeliveryContext, response_url: str, body: dict[str, t.Any], configured: str | None) -> None:
    """Replace or remove an ephemeral prompt through its response_url; a courtesy, never retried.

    Posted only to Slack's own host (or the configured API origin), never redirected.
    """
    if not response_url_allowed(response_url, configured):
        return
    try:
        pinned_request("POST", response_url, json=body, timeout=ctx.timeout, allow_private=configured is not None)
    except (requests.RequestException, AddressRefused):
        pass
