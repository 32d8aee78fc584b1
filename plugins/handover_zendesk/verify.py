"""Zendesk's signatures, as pure functions on the port's webhook toolkit.

* Webhooks: ``X-Zendesk-Webhook-Signature`` is the base64 HMAC-SHA256 of the
  ``X-Zendesk-Webhook-Signature-Timestamp`` value followed by the raw body, keyed with the
  webhook's signing secret; the timestamp must lie within five minutes.
* The sidebar app: Zendesk's proxy signs a JWT (HS256) with the app's shared secret; it
  must carry ``iat``, ``exp`` (at most :data:`MAX_TOKEN_SECONDS` after ``iat``) and our
  issuer (:data:`ISSUER`, set by the app's ``iframe.html``).
* Webhook redeliveries are recognised by what is signed (:func:`replay_key`), never by an
  unsigned header such as ``X-Zendesk-Webhook-Invocation-Id``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
import typing as t

import jwt

from connector.plugins import webhooks

WINDOW = dt.timedelta(minutes=5)
#: the ``iss`` claim the sidebar app puts in its tokens
ISSUER = "handover-connector:zendesk-app"
#: the longest a sidebar token may live (the app asks Zendesk's proxy for 60 s)
MAX_TOKEN_SECONDS = 300
LEEWAY = 30


def signature_ok(secret: str, timestamp: str, raw: bytes, signature: str) -> bool:
    return webhooks.hmac_matches(secret, timestamp.encode() + raw, signature, encoding="base64")


def replay_key(timestamp: str, raw: bytes) -> str:
    """A webhook request's identity: the signed timestamp and body (a captured request replays with the same)."""
    return "signed:" + hashlib.sha256(timestamp.encode() + b"\n" + raw).hexdigest()


def sidebar_claims(token: str, secret: str, now: float | None = None) -> dict[str, t.Any] | None:
    """The claims of a sidebar JWT signed with ``secret``, issued by our app, short-lived; or None."""
    if not token or len(token) > 4096:
        return None
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], issuer=ISSUER, leeway=LEEWAY,
                            options={"require": ["exp", "iat", "iss"]})
    except jwt.InvalidTokenError:
        return None
    issued, expires = claims.get("iat"), claims.get("exp")
    if not isinstance(issued, (int, float)) or not isinstance(expires, (int, float)):
        return None
    if expires - issued > MAX_TOKEN_SECONDS or issued > (now or time.time()) + LEEWAY:
        return None  # a token minted to last, or dated in the future
    return claims
