"""Outgoing events to the chat platform, signed the Standard Webhooks way.

Headers: ``webhook-id`` (the event id, the same on every redelivery), ``webhook-timestamp``
(seconds) and ``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, keyed
with the decoded bytes of the workspace's ``whsec_`` secret.
"""

from __future__ import annotations

import datetime as dt
import json
import typing as t

import requests
from standardwebhooks.webhooks import Webhook

from connector.delivery.routing import PLATFORM
from connector.plugins import DeliveryContext
from connector.plugins import GiveUp
from connector.plugins import Integration
from connector.plugins import RetryLater
from connector.plugins import TaskResult
from connector.plugins import ThreadRef
from connector.plugins.http import AddressRefused
from connector.plugins.http import connection_error_word
from connector.plugins.http import pinned_request
from connector.plugins.http import raise_for_vendor_status
from connector.security import SecretBox
from connector.storage import repository
from connector.storage.database import Database


def signed_headers(secret: str, event_id: str, body: str, now: dt.datetime) -> dict[str, str]:
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(event_id, now, body),
    }


class PlatformWebhook(Integration):
    """The chat platform's webhook, as a built-in channel: each task POSTs one platform event."""

    name = PLATFORM
    title = "Chat platform webhook"
    builtin = True

    def __init__(self, db: Database, box: SecretBox, deny_private: bool) -> None:
        self.db = db
        self.box = box
        self.deny_private = deny_private

    def run_task(self, ctx: DeliveryContext, thread: ThreadRef | None, task: dict[str, t.Any]) -> TaskResult | None:
        with self.db.read() as session:
            workspace = repository.get_workspace(session, ctx.workspace_id)
        if workspace is None:
            raise GiveUp("the workspace is gone")
        self.send(ctx.http, ctx.timeout, workspace.platform_webhook_url, workspace.platform_webhook_secret,
                  task["event"], ctx.idempotency_key)
        return None

    def send(self, http: requests.Session, timeout: float, url: str | None, encrypted_secret: str | None,
             event: dict[str, t.Any], idempotency_key: str) -> None:
        if not url or not encrypted_secret:
            raise GiveUp("the workspace has no platform webhook")
        body = json.dumps(event, separators=(",", ":"))
        headers = signed_headers(self.box.decrypt(encrypted_secret), event["id"], body, dt.datetime.now(dt.timezone.utc))
        headers["Content-Type"] = "application/json"
        headers["Idempotency-Key"] = idempotency_key
        try:
            # the address checked is the address connected to; redirects are not followed
            response = pinned_request("POST", url, data=body.encode(), headers=headers, timeout=timeout,
                                      allow_private=not self.deny_private)
        except AddressRefused:
            raise GiveUp("refused: the webhook URL is not a public address") from None
        except requests.RequestException as exc:  # the tenant sees "refused" or "timed out", nothing more
            raise RetryLater(connection_error_word(exc)) from None
        with response:
            if response.is_redirect or 300 <= response.status_code < 400:
                raise GiveUp(f"HTTP {response.status_code}: redirects are not followed")
            raise_for_vendor_status(response)
