"""Outgoing events to the chat platform, signed the Standard Webhooks way.

Headers: ``webhook-id`` (the event id, the same on every redelivery), ``webhook-timestamp``
(seconds) and ``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, keyed
with the decoded bytes of the workspace's ``whsec_`` secret.
"""

from __future__ import annotations

import datetime as dt
import json
import typing as t
from urllib.parse import urlsplit

import requests
from standardwebhooks.webhooks import Webhook

from connector.delivery.http import send
from connector.plugins import GiveUp
from connector.security import SecretBox
from connector.security import resolves_to_private_address


def signed_headers(secret: str, event_id: str, body: str, now: dt.datetime) -> dict[str, str]:
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(event_id, now, body),
    }


class PlatformSender:
    """POSTs one platform event to the workspace's webhook URL."""

    def __init__(self, box: SecretBox, http: requests.Session, timeout: float, deny_private: bool) -> None:
        self.box = box
        self.http = http
        self.timeout = timeout
        self.deny_private = deny_private

    def send(self, url: str | None, encrypted_secret: str | None, event: dict[str, t.Any], idempotency_key: str) -> None:
        if not url or not encrypted_secret:
            raise GiveUp("the workspace has no platform webhook")
        if self.deny_private and resolves_to_private_address(urlsplit(url).hostname or ""):
            raise GiveUp("the platform webhook points at a private address")
        body = json.dumps(event, separators=(",", ":"))
        headers = signed_headers(self.box.decrypt(encrypted_secret), event["id"], body, dt.datetime.now(dt.timezone.utc))
        headers["Content-Type"] = "application/json"
        headers["Idempotency-Key"] = idempotency_key
        send(self.http, "POST", url, data=body.encode(), headers=headers, timeout=self.timeout)
