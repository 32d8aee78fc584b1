"""Zendesk's requests to ``/hooks/zendesk/``: the triggers' webhook and the sidebar app.

* ``POST /hooks/zendesk/webhook``: the signature (base64 HMAC-SHA256 of the timestamp and
  the raw body, with the webhook's signing secret) is checked before anything is parsed,
  with a 5-minute window; the event is then persisted as a task (:func:`defer`). The
  worker reads the ticket through the API: zenpy never runs in a web request.
* ``/hooks/zendesk/app/<action>``: the sidebar app, through Zendesk's proxy, with a JWT
  signed with the app's shared secret (``app_secret``), verified with PyJWT. The ticket
  id comes from the token's claims (the body is not signed).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import typing as t
import uuid

import jwt
from flask import Blueprint
from flask import jsonify
from flask import request
from sqlalchemy import select

from connector import representations
from connector.inbound import InboundEvent
from connector.inbound import defer
from connector.inbound import handle_inbound
from connector.integrations import SettingsCache
from connector.storage.models import Conversation
from connector.storage.models import Event
from connector.storage.models import Link

if t.TYPE_CHECKING:
    from connector.app import Connector
    from handover_zendesk.plugin import ZendeskIntegration

log = logging.getLogger(__name__)

WINDOW = dt.timedelta(minutes=5)
KINDS = {"agent_reply", "solved", "give_back"}
APP_ACTIONS = {"take_over": "hand_over", "give_back": "give_back", "resolve": "resolve"}
#: the sidebar is narrow: shorter than representations.AGENT_REFUSALS where it can be
SIDEBAR_REFUSALS = {"not_in_human_mode": "The AI is already in charge.", "already_resolved": "Already resolved."}


def error(status: int, code: str, message: str, field: str | None = None) -> t.Any:
    body: dict[str, t.Any] = {"code": code, "message": message}
    if field:
        body["field"] = field
    return jsonify({"error": body}), status


def signature_ok(secret: str, timestamp: str, raw: bytes, signature: str) -> bool:
    mac = hmac.new(secret.encode(), timestamp.encode() + raw, hashlib.sha256).digest()
    return hmac.compare_digest(base64.b64encode(mac).decode(), signature or "")


def fresh(timestamp: str, now: dt.datetime | None = None) -> bool:
    try:
        at = dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return False
    if at.tzinfo is None:
        return False
    return abs((now or dt.datetime.now(dt.timezone.utc)) - at) <= WINDOW


class ZendeskHooks:
    CACHE_SECONDS = 10.0

    def __init__(self, plugin: "ZendeskIntegration", connector: "Connector") -> None:
        self.plugin = plugin
        self.connector = connector
        self._settings = SettingsCache(connector.integrations, connector.db, plugin.name, self.CACHE_SECONDS)

    def _integrations(self, refresh: bool = False) -> list[tuple[int, t.Any]]:
        return self._settings.all(refresh)

    def _workspaces_signed(self, timestamp: str, raw: bytes, signature: str) -> set[int]:
        for refresh in (False, True):
            matched = {pk for pk, settings in self._integrations(refresh)
                       if any(signature_ok(s, timestamp, raw, signature) for s in settings.signing_secrets())}
            if matched:
                return matched
        return set()

    def _workspaces_for_token(self, token: str) -> tuple[set[int], dict[str, t.Any]] | None:
        for refresh in (False, True):
            for pk, settings in self._integrations(refresh):
                if settings.app_secret is None:
                    continue
                try:
                    claims = jwt.decode(token, settings.app_secret.get_secret_value(), algorithms=["HS256"],
                                        options={"require": ["exp"]}, leeway=30)
                except jwt.InvalidTokenError:
                    continue
                return {pk}, claims
        return None

    def _conversation(self, ticket_id: str, workspaces: set[int]) -> Conversation | None:
        with self.connector.db.read() as session:
            conversation = session.scalar(
                select(Conversation).join(Link, Link.conversation_pk == Conversation.pk)
                .where(Link.plugin == self.plugin.name, Link.external_id == ticket_id))
            if conversation is None or conversation.workspace_pk not in workspaces:
                return None
            session.expunge(conversation)
            return conversation

    def blueprint(self) -> Blueprint:
        bp = Blueprint("zendesk", __name__)

        @bp.post("/webhook")
        def webhook() -> t.Any:
            raw = request.get_data(cache=True)
            timestamp = request.headers.get("X-Zendesk-Webhook-Signature-Timestamp", "")
            signature = request.headers.get("X-Zendesk-Webhook-Signature", "")
            if not timestamp or not signature or not fresh(timestamp):
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
            conversation = self._conversation(ticket_id, workspaces)
            if conversation is None:
                return jsonify({"outcome": "unknown_ticket"})  # not ours: ignored, on purpose
            key = (request.headers.get("X-Zendesk-Webhook-Invocation-Id")
                   or hashlib.sha256(timestamp.encode() + raw).hexdigest())
            event = {k: str(body.get(k, "")) for k in ("kind", "ticket_id", "external_id", "status", "actor_id", "actor_role")}
            result = defer(self.connector, plugin=self.plugin.name, event_id=key, thread_id=ticket_id,
                           task={"kind": "webhook", "key": key, "event": event})
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
            conversation = self._conversation(ticket_id, workspaces)
            if conversation is None:
                return jsonify({"linked": False, "label": "Not a handover ticket"})
            notice = None
            if action in APP_ACTIONS:
                result = handle_inbound(self.connector, InboundEvent(
                    plugin=self.plugin.name, event_id=f"app:{uuid.uuid4().hex}", thread_id=ticket_id,
                    action=APP_ACTIONS[action], actor_name=str(claims.get("agent_name") or "") or None,
                    reason="from the Zendesk sidebar" if action == "take_over" else None))
                if result.outcome == "refused":
                    notice = SIDEBAR_REFUSALS.get(result.code or "") or representations.refusal_for_agents(result.code)
            return jsonify({**self.state(conversation.pk), "notice": notice})

        return bp

    def state(self, conversation_pk: int) -> dict[str, t.Any]:
        """Who is in charge, as the sidebar shows it, with the buttons the state allows."""
        with self.connector.db.read() as session:
            conversation = session.get(Conversation, conversation_pk)
            payload = representations.conversation_json(conversation)
            events = [representations.event_json(e, conversation.id) for e in session.scalars(
                select(Event).where(Event.conversation_pk == conversation_pk).order_by(Event.pk))]
        state, taker = representations.in_charge(payload, events)
        label = {"ai": "AI in charge", "needs_you": "Needs you", "resolved": "Resolved"}.get(state) or f"{taker}"
        buttons = representations.agent_actions(payload, state)
        return {"linked": True, "state": state, "label": label, "buttons": buttons, "conversation": payload}

