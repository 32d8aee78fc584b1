"""``/hooks/intercom/``: webhook notifications and the inbox app (Canvas Kit).

Every request is authenticated on its raw body before it is parsed: notifications by
``X-Hub-Signature``, inbox-app requests by ``X-Body-Signature``, each against every
workspace's client secret (:func:`connector.plugins.webhooks.signed_by`); the workspaces
whose secret signed it are the only ones the request can reach.

Notifications are persisted (``host.defer``) and acknowledged at once: Intercom
deprioritises endpoints slower than 500 ms; the worker does the rest
(:meth:`~handover_intercom.plugin.IntercomIntegration.run_task`).
"""

from __future__ import annotations

import json
import typing as t

from flask import Blueprint
from flask import jsonify
from flask import request

from connector.plugins import Host
from connector.plugins import InboundEvent
from connector.plugins import text
from connector.plugins import webhooks
from handover_intercom import events as notifications
from handover_intercom import render
from handover_intercom import verify
from handover_intercom.setup import CONVERSATION_ATTRIBUTE

NAME = notifications.NAME
#: inbox-app buttons (component ids) and the commands they run
COMMANDS = {"take_over": "hand_over", "give_back": "give_back", "resolve": "resolve"}


def _secrets(settings: t.Any) -> list[str]:
    return [settings.client_secret.get_secret_value()]


def _json_object(raw: bytes) -> dict[str, t.Any] | None:
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return payload if isinstance(payload, dict) else None


def blueprint(host: Host) -> Blueprint:
    bp = Blueprint(NAME, __name__)

    def signed(header: str, check: t.Callable[[bytes, str | None, str], bool]) -> tuple[bytes, frozenset[int]]:
        raw = request.get_data(cache=True)
        signature = request.headers.get(header)
        if not signature:
            return raw, frozenset()
        return raw, webhooks.signed_by(host.settings(NAME), _secrets, lambda secret: check(raw, signature, secret))

    @bp.route("/webhook", methods=["HEAD"])
    def webhook_head() -> t.Any:
        return "", 200  # Intercom checks the URL with HEAD when it is saved

    @bp.post("/webhook")
    def webhook() -> t.Any:
        raw, workspaces = signed("X-Hub-Signature", verify.hub_signature_ok)
        if not workspaces:
            return webhooks.error(401, "bad_signature", "X-Hub-Signature is missing or does not match", "X-Hub-Signature")
        payload = _json_object(raw)
        if payload is None:
            return webhooks.error(400, "invalid_json", "the body is not a JSON object", "body")
        topic = payload.get("topic")
        if not isinstance(topic, str):
            return webhooks.error(400, "invalid_field", "topic is missing", "topic")
        if topic == "ping":
            return jsonify({"ok": True}), 200
        notification_id = payload.get("id")
        if not isinstance(notification_id, str) or not notification_id:
            return webhooks.error(400, "invalid_field", "id is missing", "id")
        item = (payload.get("data") or {}).get("item") if isinstance(payload.get("data"), dict) else None
        if not isinstance(item, dict) or not item.get("id"):
            return webhooks.error(400, "invalid_field", "data.item.id is missing", "data.item.id")
        task = notifications.task_for(topic, item)
        if task is None:
            return jsonify({"outcome": "ignored"}), 200
        task["notification_id"] = notification_id
        result = host.defer(plugin=NAME, event_id=notification_id, thread_id=str(item["id"]), task=task,
                            workspaces=workspaces)
        return jsonify({"outcome": result.outcome}), 200

    def canvas_request() -> tuple[dict[str, t.Any] | None, frozenset[int], t.Any]:
        raw, workspaces = signed("X-Body-Signature", verify.body_signature_ok)
        if not workspaces:
            return None, workspaces, webhooks.error(401, "bad_signature", "X-Body-Signature is missing or does not match",
                                                    "X-Body-Signature")
        payload = _json_object(raw)
        if payload is None:
            return None, workspaces, webhooks.error(400, "invalid_json", "the body is not a JSON object", "body")
        conversation = payload.get("conversation")
        if not isinstance(conversation, dict) or not conversation.get("id"):
            return None, workspaces, webhooks.error(400, "invalid_field", "conversation.id is missing", "conversation.id")
        return payload, workspaces, None

    @bp.post("/canvas/initialize")
    def canvas_initialize() -> t.Any:
        payload, workspaces, refused = canvas_request()
        if payload is None:
            return refused
        view = host.conversation(NAME, str(payload["conversation"]["id"]), workspaces)
        return jsonify(render.canvas(view)), 200

    @bp.post("/canvas/submit")
    def canvas_submit() -> t.Any:
        payload, workspaces, refused = canvas_request()
        if payload is None:
            return refused
        component = payload.get("component_id")
        if component not in COMMANDS:
            return webhooks.error(400, "invalid_field", f"component_id must be one of {sorted(COMMANDS)}", "component_id")
        conversation = payload["conversation"]
        ours = (conversation.get("custom_attributes") or {}).get(CONVERSATION_ATTRIBUTE)
        if not isinstance(ours, str) or not ours:
            return webhooks.error(400, "invalid_field", f"{CONVERSATION_ATTRIBUTE} is not set on this conversation",
                                  f"conversation.custom_attributes.{CONVERSATION_ATTRIBUTE}")
        thread_id = str(conversation["id"])
        admin = payload.get("admin") if isinstance(payload.get("admin"), dict) else {}
        stored = payload.get("stored_data") if isinstance(payload.get("stored_data"), dict) else {}
        # one click on one drawing of the canvas: a double click or a redelivery is a duplicate
        event_id = f"canvas:{thread_id}:{component}:{stored.get('version') or ''}:{admin.get('id') or ''}"
        result = host.record(InboundEvent(
            plugin=NAME, event_id=event_id, thread_id=thread_id, action=COMMANDS[component],  # type: ignore[arg-type]
            actor_name=admin.get("name"), reason="in Intercom", conversation_id=ours, workspaces=workspaces,
        ))
        if result.outcome == "applied" and component == "resolve":
            # our own changes are not mirrored back: close the Intercom conversation through the outbox
            host.defer(plugin=NAME, event_id=f"{event_id}:close", thread_id=thread_id, task={"kind": "close"},
                       workspaces=workspaces)
        notice = None
        if result.outcome == "refused":
            notice = text.refusal_for_agents(result.code)
        elif result.outcome == "unknown_thread":
            notice = "This conversation is not linked to a handover."
        view = host.conversation(NAME, thread_id, workspaces)
        return jsonify(render.canvas(view, notice)), 200

    return bp
