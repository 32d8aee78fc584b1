"""Zendesk's requests to ``/hooks/zendesk/``: the triggers' webhook and the sidebar app.

* ``POST /hooks/zendesk/webhook``: the signature (base64 HMAC-SHA256 of the timestamp and
  the raw body, with the webhook's signing secret) is checked before anything is parsed,
  with a 5-minute window (:mod:`handover_zendesk.verify`); the event is then persisted as
  a task (:meth:`Host.defer`). The worker reads the ticket through the API: zenpy never
  runs in a web request.
* ``/hooks/zendesk/app/<action>``: the sidebar app, through Zendesk's proxy, with a JWT
  signed with the app's shared secret (``app_secret``), verified with PyJWT. The ticket
  id comes from the token's claims (the body is not signed).
"""

from __future__ import annotations

import json
import logging
import typing as t
import uuid

from flask import Blueprint
from flask import jsonify
from flask import request

from connector.plugins import ConversationView
from connector.plugins import Host
from connector.plugins import InboundEvent
from connector.plugins import text
from connector.plugins import webhooks
from connector.plugins.webhooks import error

from handover_zendesk import verify

if t.TYPE_CHECKING:
    from handover_zendesk.plugin import ZendeskIntegration

log = logging.getLogger(__name__)

KINDS = {"agent_reply", "solved", "give_back"}
APP_ACTIONS = {"take_over": "hand_over", "give_back": "give_back", "resolve": "resolve"}
#: the sidebar is narrow: shorter than representations.AGENT_REFUSALS where it can be
SIDEBAR_REFUSALS = {"not_in_human_mode": "The AI is already in charge.", "already_resolved": "Already resolved."}


class ZendeskHooks:
    def __init__(self, plugin: "ZendeskIntegration", host: Host) -> None:
        self.plugin = plugin
        self.host = host

    def _workspaces_signed(self, timestamp: str, raw: bytes, signature: str) -> frozenset[int]:
        return webhooks.signed_by(self.host.settings(self.plugin.name), lambda s: s.signing_secrets(),
                                  lambda secret: verify.signature_ok(secret, timestamp, raw, signature))

    def _workspaces_for_token(self, token: str) -> tuple[frozenset[int], dict[str, t.Any]] | None:
        for refresh in (False, True):
            for key, settings in self.host.settings(self.plugin.name).all(refresh):
                if settings.app_secret is None:
                    continue
                claims = verify.sidebar_claims(token, settings.app_secret.get_secret_value())
                if claims is not None:
                    return frozenset({key}), claims
        return None

    def blueprint(self) -> Blueprint:
        bp = Blueprint("zendesk", __name__)

        @bp.post("/webhook")
        def webhook() -> t.Any:
            raw = request.get_data(cache=True)
            timestamp = request.headers.get("X-Zendesk-Webhook-Signature-Timestamp", "")
            signature = request.headers.get("X-Zendesk-Webhook-Signature", "")
            if not timestamp or not signature or not webhooks.fresh(timestamp, verify.WINDOW):
                return error(401, "bad_signature", "missing or stale Zendesk webhook signature",
                             "X-Zendesk-Webhook-Signature")
            workspaces = self._workspaces_signed(timestamp, raw, signature)
            if not workspaces:
                return error(401, "bad_signature", "invalid Zendesk webhook signature", "X-Zendesk-Webhook-Signature")
            try:
                body = json.loads(raw)
            except ValueError:
                return error(400, "invalid_json", "the body is not JSON")
            if not isinstance(body, dict):
                return error(400, "invalid_json", "the body must be a JSON object")
            if body.get("kind") not in KINDS:
                return error(400, "invalid_field", f"kind must be one of {sorted(KINDS)}", "kind")
            ticket_id = str(body.get("ticket_id", ""))
            if not ticket_id.isdigit():
                return error(400, "invalid_field", "ticket_id must be a ticket number", "ticket_id")
            key = verify.replay_key(timestamp, raw)  # what is signed, never the unsigned invocation id
            event = {k: str(body.get(k, "")) for k in ("kind", "ticket_id", "external_id", "status", "actor_id", "actor_role")}
            result = self.host.defer(plugin=self.plugin.name, event_id=key, thread_id=ticket_id,
                                     task={"kind": "webhook", "key": key, "event": event}, workspaces=workspaces)
            if result.outcome == "duplicate" and event["kind"] == "agent_reply":
                # Two agents' replies to one ticket within a second are signed alike (ids only,
                # second-precision timestamps): read the comments once more, once. A replay of
                # a captured request costs no more than that; what is relayed stays deduplicated
                # by comment id, and state changes (solved, give back) are never applied twice.
                again = f"{key}:again"
                result = self.host.defer(plugin=self.plugin.name, event_id=again, thread_id=ticket_id,
                                         task={"kind": "webhook", "key": again, "event": event},
                                         workspaces=workspaces)
            if result.outcome == "unknown_thread":
                return jsonify({"outcome": "unknown_ticket"})  # not ours: ignored, on purpose
            return jsonify({"outcome": result.outcome})

        @bp.post("/app/<action>")
        def app(action: str) -> t.Any:
            header = request.headers.get("Authorization", "")
            token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
            if not token:
                return error(401, "unauthenticated", "a Bearer JWT signed with the app's shared secret is required",
                             "Authorization")
            verified = self._workspaces_for_token(token)
            if verified is None:
                return error(401, "unauthenticated", "the JWT is invalid, expired or signed with another secret",
                             "Authorization")
            workspaces, claims = verified
            if action != "state" and action not in APP_ACTIONS:
                return error(404, "not_found", f"unknown action {action!r}")
            ticket_id = str(claims.get("ticket_id", ""))
            if not ticket_id.isdigit():
                return error(400, "invalid_field", "the token's ticket_id claim must be a ticket number", "ticket_id")
            if self.host.conversation(self.plugin.name, ticket_id, workspaces) is None:
                return jsonify({"linked": False, "label": "Not a handover ticket"})
            notice = None
            if action in APP_ACTIONS:
                result = self.host.record(InboundEvent(
                    plugin=self.plugin.name, event_id=f"app:{uuid.uuid4().hex}", thread_id=ticket_id,
                    action=APP_ACTIONS[action], actor_name=str(claims.get("agent_name") or "") or None,
                    reason="from the Zendesk sidebar" if action == "take_over" else None, workspaces=workspaces))
                if result.outcome == "refused":
                    notice = SIDEBAR_REFUSALS.get(result.code or "") or text.refusal_for_agents(result.code)
            view = self.host.conversation(self.plugin.name, ticket_id, workspaces)
            return jsonify({**sidebar_state(view), "notice": notice})

        return bp


def sidebar_state(view: ConversationView | None) -> dict[str, t.Any]:
    """Who is in charge, as the sidebar shows it, with the buttons the state allows."""
    if view is None:
        return {"linked": False, "label": "Not a handover ticket"}
    state, _ = text.in_charge(view.conversation, view.events)
    return {"linked": True, "state": state, "label": text.state_label(view.conversation, view.events),
            "buttons": text.agent_actions(view.conversation, state), "conversation": view.conversation}
