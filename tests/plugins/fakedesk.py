"""A small helpdesk plugin written against the plugin port alone: the guide's worked example.

It talks to :class:`tests.fakes.vendor.FakeVendor` over real HTTP: ``POST /threads``
opens a thread, ``POST /threads/<id>/messages`` mirrors a message, ``POST
/threads/<id>/state`` mirrors a state change. Its webhook is ``POST /hooks/<name>/events``,
signed with a hex HMAC-SHA256 of the raw body (header ``X-Signature``) with the workspace's
``signing_secret``. docs/plugins.md shows this file in full; a test keeps the two equal.
"""

from __future__ import annotations

import json
import typing as t

from flask import Blueprint
from flask import jsonify
from flask import request
from pydantic import BaseModel
from pydantic import SecretStr

from connector.plugins import DeliveryContext
from connector.plugins import Health
from connector.plugins import Host
from connector.plugins import InboundEvent
from connector.plugins import Integration
from connector.plugins import ThreadRef
from connector.plugins import webhooks
from connector.plugins.http import send


class FakeDeskSettings(BaseModel):
    api_base_url: str
    api_key: SecretStr
    signing_secret: SecretStr


def sign(secret: str, body: bytes) -> str:
    return webhooks.hmac_digest(secret, body).hex()


class FakeDesk(Integration):
    title = "Fake desk"
    settings_model = FakeDeskSettings

    def __init__(self, name: str = "fakedesk") -> None:
        self.name = name

    def _post(self, ctx: DeliveryContext, path: str, body: dict[str, t.Any]) -> dict[str, t.Any]:
        settings = t.cast(FakeDeskSettings, ctx.settings)
        response = send(
            ctx.http, "POST", settings.api_base_url.rstrip("/") + path, timeout=ctx.timeout, json=body,
            headers={"Authorization": f"Bearer {settings.api_key.get_secret_value()}",
                     "Idempotency-Key": ctx.idempotency_key},
        )
        return response.json()

    def check(self, settings, http, timeout):
        response = http.get(settings.api_base_url.rstrip("/") + "/me", timeout=timeout)
        return Health(response.ok, "authenticated" if response.ok else f"HTTP {response.status_code}")

    def open_thread(self, ctx, conversation, transcript, events):
        answer = self._post(ctx, "/threads", {
            "conversation_id": conversation["id"], "transcript": transcript, "events": events,
        })
        return ThreadRef(answer["id"])

    def mirror_message(self, ctx, thread, conversation, message):
        return self._post(ctx, f"/threads/{thread.external_id}/messages", {"message": message})["id"]

    def mirror_state(self, ctx, thread, conversation, events):
        self._post(ctx, f"/threads/{thread.external_id}/state", {
            "status": conversation["status"], "controller": conversation["controller"],
            "events": [e["type"] for e in events],
        })

    def tell_agent(self, ctx, thread, agent, refusal):
        self._post(ctx, f"/threads/{thread.external_id}/notes", {"to": agent["name"], "text": refusal.text})

    def blueprint(self, host: Host):
        bp = Blueprint(self.name, __name__)

        @bp.post("/events")
        def events():
            raw = request.get_data()
            signature = request.headers.get("X-Signature", "")
            workspaces = webhooks.signed_by(
                host.settings(self.name), lambda s: [s.signing_secret.get_secret_value()],
                lambda secret: webhooks.hmac_matches(secret, raw, signature))
            if not workspaces:
                return webhooks.error(401, "bad_signature", "missing or invalid signature", "X-Signature")
            body = json.loads(raw)
            result = host.record(InboundEvent(
                plugin=self.name, event_id=body["event_id"], thread_id=body["thread_id"],
                action=body["action"], actor_name=body.get("agent"), text=body.get("text", ""),
                external_message_id=body.get("message_id"), take_over=body.get("take_over", False),
                workspaces=workspaces, agent={"name": body.get("agent")} if body.get("agent") else None,
            ))
            return jsonify({"outcome": result.outcome, "code": result.code})

        return bp
