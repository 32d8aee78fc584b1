"""A small helpdesk plugin written against the public plugin contract, for tests.

It talks to :class:`tests.fakes.vendor.FakeVendor` over real HTTP: ``POST /threads``
opens a thread, ``POST /threads/<id>/messages`` mirrors a message, ``POST
/threads/<id>/state`` mirrors a state change. Its webhook lives at
``/hooks/<name>/<workspace id>/events`` and is signed with HMAC-SHA256 of the raw body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import typing as t

from flask import Blueprint
from flask import abort
from flask import jsonify
from flask import request
from pydantic import BaseModel
from pydantic import SecretStr

from connector.delivery.http import send
from connector.inbound import InboundEvent
from connector.inbound import handle_inbound
from connector.plugins import DeliveryContext
from connector.plugins import Health
from connector.plugins import Integration
from connector.plugins import ThreadRef
from connector.security import constant_time_equals
from connector.storage import repository


class FakeDeskSettings(BaseModel):
    api_base_url: str
    api_key: SecretStr
    signing_secret: SecretStr


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


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

    def blueprint(self, connector):
        bp = Blueprint(self.name, __name__)

        @bp.post("/<workspace_id>/events")
        def events(workspace_id: str):
            with connector.db.read() as session:
                workspace = repository.get_workspace(session, workspace_id)
                settings = connector.integrations.load(session, workspace.pk, self.name) if workspace else None
            if settings is None:
                abort(404)
            raw = request.get_data()
            expected = sign(settings.signing_secret.get_secret_value(), raw)
            if not constant_time_equals(expected, request.headers.get("X-Signature", "")):
                return jsonify({"error": "bad signature"}), 401
            body = json.loads(raw)
            result = handle_inbound(connector, InboundEvent(
                plugin=self.name, event_id=body["event_id"], thread_id=body["thread_id"],
                action=body["action"], actor_name=body.get("agent"), text=body.get("text", ""),
                external_message_id=body.get("message_id"), take_over=body.get("take_over", False),
            ))
            return jsonify({"outcome": result.outcome, "code": result.code})

        return bp
