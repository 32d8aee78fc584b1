"""Zendesk's signatures, as pure functions on the port's webhook toolkit.

* Webhooks: ``X-Zendesk-Webhook-Signature`` is the base64 HMAC-SHA256 of the
  ``X-Zendesk-Webhook-Signature-Timestamp`` value followed by the raw body, keyed with the
  webhook's signing secret; the timestamp must lie within five minutes.
* The sidebar app: Zendesk's proxy signs a JWT (HS256) with the app's shared secret; it
  must carry ``exp``.
"""

from __future__ import annotations

import datetime as dt
import typing as t

import jwt

from connector.plugins import webhooks

WINDOW = dt.timedelta(minutes=5)


def signature_ok(secret: str, timestamp: str, raw: bytes, signature: str) -> bool:
    return webhooks.hmac_matches(secret, timestamp.encode() + raw, signature, encoding="base64")


def sidebar_claims(token: str, secret: str) -> dict[str, t.Any] | None:
    """The claims of a sidebar JWT signed with ``secret``, or None."""
    try:
        return jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp"]}, leeway=30)
    except jwt.InvalidTokenError:
        return None
