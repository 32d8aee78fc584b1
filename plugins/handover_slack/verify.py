"""Slack's request signatures, as pure functions on the port's webhook toolkit.

``X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{timestamp}:{raw body}">`` with the app's
signing secret, and ``X-Slack-Request-Timestamp`` within five minutes either way
(https://api.slack.com/authentication/verifying-requests-from-slack).
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse

from connector.plugins import webhooks

WINDOW = dt.timedelta(minutes=5)


def signature_ok(secret: str, body: bytes, timestamp: str, signature: str, now: dt.datetime | None = None) -> bool:
    """Whether ``signature`` signs ``body`` at ``timestamp`` with ``secret``, within the window."""
    if not timestamp or not signature or not timestamp.strip().isdigit():
        return False
    if not webhooks.fresh(timestamp, WINDOW, now):
        return False
    return webhooks.hmac_matches(secret, b"v0:" + timestamp.encode() + b":" + body, signature, prefix="v0=")


def request_team(body: bytes, content_type: str) -> str | None:
    """The Slack team a (verified) request comes from: events carry ``team_id``, actions ``team``."""
    try:
        text = body.decode()
        if "application/x-www-form-urlencoded" in content_type:
            form = urllib.parse.parse_qs(text)
            data = json.loads(form["payload"][0]) if "payload" in form else {k: v[0] for k, v in form.items()}
        else:
            data = json.loads(text)
    except (ValueError, KeyError, IndexError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    team = data.get("team_id") or data.get("team")
    if isinstance(team, dict):
        team = team.get("id")
    return team if isinstance(team, str) else None
