"""Intercom's signatures, checked on the raw body before anything is parsed (pure functions)."""

from __future__ import annotations

from connector.plugins import webhooks


def hub_signature_ok(body: bytes, header: str | None, client_secret: str) -> bool:
    """A webhook notification: ``X-Hub-Signature: sha1=<hex HMAC-SHA1 of the raw body, keyed with client_secret>``."""
    return webhooks.hmac_matches(client_secret, body, header or "", algorithm="sha1", encoding="hex", prefix="sha1=")


def body_signature_ok(body: bytes, header: str | None, client_secret: str) -> bool:
    """A Canvas Kit request: ``X-Body-Signature: <hex HMAC-SHA256 of the raw body, keyed with client_secret>``."""
    return webhooks.hmac_matches(client_secret, body, (header or "").lower(), algorithm="sha256", encoding="hex")
