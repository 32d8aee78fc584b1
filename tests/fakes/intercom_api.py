"""A stateful local fake of the Intercom REST API (version 2.14), for python-intercom over real HTTP.

``with FakeIntercom() as ic:`` starts a real HTTP server on 127.0.0.1 (a free port, a daemon
thread); ``ic.url`` stands in for ``https://api.intercom.io`` (pass it as the SDK's
``base_url``, or the plugin's ``api_base_url``).

State, readable by tests and guarded by one lock: :attr:`admins` (teammates and bots, with
the access tokens that act as them), :attr:`contacts` (with ``external_id`` and
``custom_attributes``), :attr:`conversations` (their parts, tags and custom attributes),
:attr:`tags` and :attr:`data_attributes`. Every request is recorded in :attr:`requests`.

Every request is checked against ``tests/contracts/intercom_api_extract.json`` (an extract
of Intercom's own OpenAPI description): an undescribed endpoint, query parameter or body
field, a path parameter of the wrong type, or a body the schema refuses is recorded in
:attr:`violations` and answered 400; so is a request without ``Intercom-Version: 2.14``
(Intercom would fall back to the app's default version, or 1.0, and answer in another
shape). Every 2xx answer is checked against the response schema too (a fake bug is a
violation as well). Connector tests assert the list stays empty.

Intercom's rules kept here:

* ``Authorization: Bearer <token>``, else 401 ``unauthorized``; a token acts as its admin;
* custom attributes must exist before they are set (``data_attributes``; the API creates
  contact and company ones only, conversation ones are made in Intercom's settings:
  :meth:`define_attribute`), else 400 ``parameter_invalid``;
* ``external_id`` is unique among users (409 ``conflict`` naming the existing id), and
  ``find_by_external_id`` finds users only; contact search is not served (it lags minutes
  behind creation at Intercom, so nothing should depend on it);
* a contact's reply reopens a closed conversation; an admin ``open`` on an open one adds
  no part; a note never changes the state;
* API actions fire webhooks like teammates' do (an API close sends
  ``conversation.admin.closed``), queued until :meth:`deliver_pending`, so a test decides
  when they arrive; each carries only the new part (``total_count: 1``);
* webhook bodies are HTML up to 2.14 and plain text from 2.15 (:attr:`webhook_version`);
* :meth:`rate_limit`: the next requests get 429 ``rate_limit_exceeded`` with
  ``X-RateLimit-Limit``, ``X-RateLimit-Remaining: 0`` and ``X-RateLimit-Reset`` (Unix seconds).

Teammates in the inbox are test helpers (:meth:`admin_reply`, :meth:`bot_reply`,
:meth:`note`, :meth:`close`, :meth:`tag`, :meth:`ping`); each sends its notification,
signed ``X-Hub-Signature: sha1=<hex HMAC-SHA1 of the raw body keyed with client_secret>``,
to :attr:`webhook_url` (or through :attr:`sender`), and returns it. :meth:`canvas_request`
builds a signed Canvas Kit request (``X-Body-Signature``, hex HMAC-SHA256).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import hmac
import html
import itertools
import json
import re
import threading
import time
import typing as t
import urllib.parse
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path

import requests
from openapi_schema_validator import OAS30Validator
from requests.structures import CaseInsensitiveDict

from tests.fakes.server import LocalServer

EXTRACT_PATH = Path(__file__).resolve().parents[1] / "contracts" / "intercom_api_extract.json"
EXTRACT: dict[str, t.Any] = json.loads(EXTRACT_PATH.read_text())
VERSION = "2.14"
TOPICS = ("conversation.admin.replied", "conversation.admin.noted", "conversation.admin.closed",
          "conversation_part.tag.created", "ping")

#: where Intercom's description contradicts itself, not checked in answers: ``GET
#: /data_attributes`` takes ``model=conversation`` but its answer schema allows only
#: ``contact`` and ``company`` models
SPEC_GAPS = (r"^GET /data_attributes: data\.\d+\.model: 'conversation' is not one of",)

Answer = tuple[int, t.Any, dict[str, str]]
Sender = t.Callable[[str, bytes, dict[str, str]], int]


@dataclasses.dataclass
class Recorded:
    """One request as the fake saw it."""

    method: str
    path: str  # without the query string
    query: dict[str, str]
    json: t.Any
    headers: CaseInsensitiveDict
    body: bytes = b""
    status: int = 0
    response: t.Any = None


def sign_hub(secret: str, body: bytes) -> str:
    """``X-Hub-Signature`` as Intercom sends it."""
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def sign_body(secret: str, body: bytes) -> str:
    """``X-Body-Signature`` of a Canvas Kit request."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _error(code: str, message: str) -> dict[str, t.Any]:
    return {"type": "error.list", "request_id": None, "errors": [{"code": code, "message": message}]}


class FakeIntercom(LocalServer):
    """``with FakeIntercom() as ic:``; ``ic.url`` replaces ``https://api.intercom.io``."""

    def __init__(self, port: int = 0, client_secret: str = "intercom-client-secret", app_id: str = "w1x2y3z4") -> None:
        self.port = port
        self.client_secret = client_secret
        self.app_id = app_id
        self.lock = threading.RLock()
        self._ids = itertools.count(1000)
        self.admins: dict[str, dict[str, t.Any]] = {}
        self.tokens: dict[str, str] = {}  # token -> admin id
        self.contacts: dict[str, dict[str, t.Any]] = {}
        self.conversations: dict[str, dict[str, t.Any]] = {}
        self.tags: dict[str, dict[str, t.Any]] = {}
        self.data_attributes: list[dict[str, t.Any]] = []
        self.requests: list[Recorded] = []
        self.violations: list[str] = []
        #: where notifications go (the Developer Hub's webhook URL); None: kept in :attr:`pending`
        self.webhook_url: str | None = None
        #: how they are sent: ``sender(url, body, headers) -> status``; default: requests.post
        self.sender: Sender | None = None
        self.topics: set[str] = set(TOPICS)
        #: the API version the Developer Hub sets for webhooks (bodies are text from 2.15)
        self.webhook_version = VERSION
        self.pending: list[dict[str, t.Any]] = []
        self.deliveries: list[dict[str, t.Any]] = []
        self._rate_limits: list[tuple[str | None, str | None, float]] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _id(self, width: int = 0) -> str:
        n = next(self._ids)
        return f"{n:024x}" if width == 24 else str(n)

    # -- set-up -------------------------------------------------------------------------

    def add_admin(self, name: str, email: str | None = None, token: str | None = None,
                  kind: str = "admin") -> dict[str, t.Any]:
        """A teammate (``kind="admin"``) or a bot (``"bot"``, e.g. Fin); ``token`` acts as them."""
        with self.lock:
            admin_id = self._id()
            self.admins[admin_id] = {"type": kind, "id": admin_id, "name": name,
                                     "email": email or f"{name.lower().replace(' ', '.')}@shop.example"}
            if token:
                self.tokens[token] = admin_id
            return dict(self.admins[admin_id])

    def revoke(self, token: str) -> None:
        with self.lock:
            self.tokens.pop(token, None)

    def define_attribute(self, model: str, name: str, data_type: str = "string") -> dict[str, t.Any]:
        """A custom data attribute made in Intercom's settings (conversation ones exist only this way)."""
        with self.lock:
            return self._new_attribute(model, name, data_type)

    def _new_attribute(self, model: str, name: str, data_type: str) -> dict[str, t.Any]:
        now = int(time.time())
        attribute = {"type": "data_attribute", "id": int(self._id()), "model": model, "name": name,
                     "full_name": f"custom_attributes.{name}", "label": name, "data_type": data_type,
                     "api_writable": True, "ui_writable": True, "messenger_writable": False, "custom": True,
                     "archived": False, "created_at": now, "updated_at": now}
        self.data_attributes.append(attribute)
        return attribute

    def _defined(self, model: str) -> set[str]:
        return {a["name"] for a in self.data_attributes if a["model"] == model and not a["archived"]}

    # -- faults -------------------------------------------------------------------------

    def rate_limit(self, times: int = 1, reset_in: float = 3, method: str | None = None,
                   path: str | None = None) -> None:
        """The next ``times`` requests (of ``method``, on paths starting with ``path``) get 429,
        with ``X-RateLimit-Reset`` ``reset_in`` seconds ahead."""
        with self.lock:
            self._rate_limits.extend([(method, path, reset_in)] * times)

    # -- teammates in the inbox (each sends its notification) ---------------------------------

    def admin_reply(self, conversation_id: str, text: str, admin_id: str, send: bool = True) -> dict[str, t.Any]:
        """A teammate replies to the customer: ``conversation.admin.replied``."""
        return self._act(conversation_id, "comment", text, admin_id, "conversation.admin.replied", send)

    def bot_reply(self, conversation_id: str, text: str, bot_id: str, send: bool = True) -> dict[str, t.Any]:
        """A bot (Fin, a workflow) replies: also ``conversation.admin.replied``, author type ``bot``."""
        return self._act(conversation_id, "comment", text, bot_id, "conversation.admin.replied", send)

    def note(self, conversation_id: str, text: str, admin_id: str, send: bool = True) -> dict[str, t.Any]:
        return self._act(conversation_id, "note", text, admin_id, "conversation.admin.noted", send)

    def close(self, conversation_id: str, admin_id: str, send: bool = True) -> dict[str, t.Any]:
        return self._act(conversation_id, "close", None, admin_id, "conversation.admin.closed", send)

    def tag(self, conversation_id: str, name: str, admin_id: str, send: bool = True) -> dict[str, t.Any]:
        """A teammate tags the conversation (the tag is made if new): ``conversation_part.tag.created``."""
        with self.lock:
            tag = self._tag_named(name)
            conversation = self.conversations[conversation_id]
            self._attach(conversation, tag, admin_id)
            notification = self._notification("conversation_part.tag.created", conversation, [])
        return self._send(notification) if send else notification

    def ping(self) -> dict[str, t.Any]:
        notification = {"type": "notification_event", "app_id": self.app_id, "id": f"notif_{self._id()}",
                        "topic": "ping", "delivery_attempts": 1, "first_sent_at": int(time.time()),
                        "data": {"type": "notification_event_data", "item": {"type": "ping", "message": "something"}}}
        return self._send(notification)

    def notify(self, topic: str, conversation_id: str, part_ids: list[str]) -> dict[str, t.Any]:
        """A new notification of ``topic`` carrying existing parts (Intercom sends a part again)."""
        with self.lock:
            conversation = self.conversations[conversation_id]
            parts = [p for p in conversation["parts"] if p["id"] in part_ids]
            notification = self._notification(topic, conversation, parts)
        return self._send(notification)

    def redeliver(self, notification: dict[str, t.Any]) -> dict[str, t.Any]:
        """The same notification again (same id), as Intercom retries it."""
        again = {**notification, "delivery_attempts": notification.get("delivery_attempts", 1) + 1}
        return self._send(again)

    def deliver_pending(self) -> list[dict[str, t.Any]]:
        """Send what API actions queued (an API close's ``conversation.admin.closed``)."""
        with self.lock:
            pending, self.pending = self.pending, []
        return [self._send(n) for n in pending]

    def _act(self, conversation_id: str, part_type: str, text: str | None, admin_id: str, topic: str,
             send: bool) -> dict[str, t.Any]:
        with self.lock:
            conversation = self.conversations[conversation_id]
            part = self._add_part(conversation, part_type, _html(text) if text is not None else None,
                                  self._author(admin_id))
            notification = self._notification(topic, conversation, [part])
        if send:
            self._send(notification)
        return part

    def _notification(self, topic: str, conversation: dict[str, t.Any], parts: list[dict[str, t.Any]]) -> dict[str, t.Any]:
        item = self._conversation_json(conversation, plain=_version(self.webhook_version) >= (2, 15), parts=parts)
        now = int(time.time())
        return {"type": "notification_event", "app_id": self.app_id, "id": f"notif_{self._id()}",
                "topic": topic, "delivery_status": "pending", "delivery_attempts": 1, "delivered_at": 0,
                "first_sent_at": now, "created_at": now, "links": {}, "self": None,
                "data": {"type": "notification_event_data", "item": item}}

    def _queue(self, topic: str, conversation: dict[str, t.Any], parts: list[dict[str, t.Any]]) -> None:
        if topic in self.topics:
            self.pending.append(self._notification(topic, conversation, parts))

    def _send(self, notification: dict[str, t.Any]) -> dict[str, t.Any]:
        body = json.dumps(notification).encode()
        headers = {"Content-Type": "application/json", "X-Hub-Signature": sign_hub(self.client_secret, body)}
        status = None
        if self.webhook_url and notification["topic"] in self.topics:
            if self.sender is not None:
                status = self.sender(self.webhook_url, body, headers)
            else:
                status = requests.post(self.webhook_url, data=body, headers=headers, timeout=10).status_code
        with self.lock:
            self.deliveries.append({"notification": notification, "body": body, "status": status})
        return notification

    # -- Canvas Kit (the inbox app) ------------------------------------------------------------

    def canvas_request(self, conversation_id: str, admin_id: str, component_id: str | None = None,
                       stored_data: dict[str, t.Any] | None = None, secret: str | None = None) -> tuple[bytes, dict[str, str]]:
        """What Intercom POSTs to an inbox app's initialize URL (or, with ``component_id``, its submit URL)."""
        with self.lock:
            conversation = self.conversations[conversation_id]
            contact = self.contacts[conversation["contact_ids"][0]]
            admin = self.admins[admin_id]
            payload: dict[str, t.Any] = {
                "workspace_id": self.app_id, "workspace_region": "us",
                "admin": {"type": "admin", "id": admin["id"], "name": admin["name"], "email": admin["email"]},
                "conversation": self._conversation_json(conversation),
                "contact": _public_contact(contact),
                "context": {"location": "conversation", "locale": "en", "conversation_id": int(conversation_id)},
            }
        if component_id is not None:
            payload.update({"component_id": component_id, "input_values": {}, "current_canvas": {},
                            "stored_data": stored_data or {}})
        body = json.dumps(payload).encode()
        return body, {"Content-Type": "application/json",
                      "X-Body-Signature": sign_body(secret or self.client_secret, body)}

    # -- the REST API -----------------------------------------------------------------------

    def handle(self, record: Recorded) -> Answer:
        with self.lock:
            self.requests.append(record)
            status, answer, extra = self._dispatch(record)
            record.status, record.response = status, answer
            return status, answer, extra

    def _dispatch(self, record: Recorded) -> Answer:
        found = _route(record.method, record.path)
        if found is None:
            self.violations.append(f"{record.method} {record.path}: not in intercom_api_extract.json")
            return 404, _error("not_found", "Resource Not Found"), {}
        key, handler, params = found
        limited = next((i for i, (method, path, _) in enumerate(self._rate_limits)
                        if method in (None, record.method) and (path is None or record.path.startswith(path))), None)
        if limited is not None:
            reset = int(time.time() + self._rate_limits.pop(limited)[2]) + 1
            return 429, _error("rate_limit_exceeded", "Exceeded rate limit"), {
                "X-RateLimit-Limit": "10000", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
        me = self.tokens.get(record.headers.get("Authorization", "").removeprefix("Bearer "))
        if me is None or not record.headers.get("Authorization", "").startswith("Bearer "):
            return 401, _error("unauthorized", "Access Token Invalid"), {}
        version = record.headers.get("Intercom-Version")
        if version != VERSION:
            self.violations.append(f"{record.method} {record.path}: Intercom-Version {version!r}, not {VERSION!r}")
            return 400, _error("intercom_version_invalid", f"Requested version {version!r} is not supported here"), {}
        operation = EXTRACT["operations"][key]
        problem = _check_request(operation, params, record)
        if problem is not None:
            self.violations.append(f"{record.method} {record.path}: {problem}")
            return 400, _error("parameter_invalid", problem), {}
        status, answer = getattr(self, handler)(record, params, me)
        if 200 <= status < 300:
            schema = operation["responses"].get(str(status))
            problem = _schema_problem(schema, answer) if schema else None
            if problem is not None and not any(re.search(gap, f"{key}: {problem}") for gap in SPEC_GAPS):
                self.violations.append(f"{record.method} {record.path}: the fake's answer: {problem}")
        return status, answer, {}

    # admins

    def _me(self, record: Recorded, params: dict[str, str], me: str) -> tuple[int, t.Any]:
        admin = self.admins[me]
        return 200, {**_admin_json(admin), "email_verified": True,
                     "avatar": {"type": "avatar", "image_url": None},
                     "app": {"type": "app", "id_code": self.app_id, "name": "Shop", "region": "US",
                             "timezone": "Europe/London", "created_at": 1700000000, "identity_verification": False}}

    def _admin(self, record: Recorded, params: dict[str, str], me: str) -> tuple[int, t.Any]:
        admin = self.admins.get(params["admin_id"])
        if admin is None or admin["type"] != "admin":
            return 404, _error("admin_not_found", "Admin not found")
        return 200, _admin_json(admin)

    # contacts

    def _contact_by_external_id(self, record: Recorded, params: dict[str, str], me: str) -> tuple[int, t.Any]:
        for contact in self.contacts.values():
            if contact["external_id"] == params["external_id"] and contact["role"] == "user":
                return 200, _contact_json(contact)
        return 404, _error("not_found", "User Not Found")

    def _contact_create(self, record: Recorded, params: dict[str, str], me: str) -> tuple[int, t.Any]:
        body = record.json
        role = body.get("role") or "user"
        problem = self._attributes_problem("contact", body.get("custom_attributes"))
        if problem:
            return 400, _error("parameter_invalid", problem)
        if body.get("external_id"):
            for contact in self.contacts.values():
                if contact["external_id"] == body["external_id"] and contact["role"] == "user":
                    return 409, _error("conflict", f"A contact matching those details already exists with id={contact['id']}")
        now = int(time.time())
        contact = {"id": self._id(24), "role": role, "external_id": body.get("external_id"),
                   "email": body.get("email") or "", "name": body.get("name"), "phone": body.get("phone"),
                   "custom_attributes": dict(body.get("custom_attributes") or {}), "created_at": now, "updated_at": now}
        self.contacts[contact["id"]] = contact
        return 200, _contact_json(contact)

    def _contact_show(self, record: Recorded, params: dict[str, str], me: str) -> tuple[int, t.Any]:
        contact = self.contacts.get(params["contact_id"])
        return (200, _contact_json(contact)) if contact else (404, _error("not_found", "User Not Found"))

    def _contact_update(self, record: Recorded, params: dict[str, str], me: str) -> tuple[int, t.Any]:
        contact = self.contacts.get(params["contact_id"])
        if contact is None:
            return 404, _error("not_found", "User Not Found")
        body = record.json
        problem = self._attributes_problem("contact", body.get("custom_attributes"))
        if problem:
            return 400, _error("parameter_invalid", problem)
        for field in ("name", "email", "phone", "external_id", "role"):
            if field in body:
                contact[field] = body[field]
        contact["custom_attributes"].update(body.get("custom_attributes") or {})
        contact["updated_at"] = int(time.time())
        return 200, _contact_json(contact)

    def _attributes_problem(self, model: str, attributes: t.Any) -> str | None:
        for name in attributes or {}:
            if name not in self._defined(model):
                return f"Custom attribute '{name}' does not exist"
        return None

    # conversations

    def _conversation_create(self, record: Recorded, params: dict[str, str], me: str) -> tuple[int, t.Any]:
        body = record.json
        contact = self.contacts.get(body["from"]["id"])
        if contact is None:
            return 404, _error("not_found", "User Not Found")
        now = int(time.time())
        conversation_id, message_id = self._id(), self._id()
        self.conversations[conversation_id] = {
            "id": conversation_id, "created_at": now, "updated_at": now, "state": "open", "read": False,
            "contact_ids": [contact["id"]], "parts": [], "tags": [], "custom_attributes": {},
            "admin_assignee_id": None,
            "source": {"type": "conversation", "id": message_id, "delivered_as": "customer_initiated",
                       "subject": "", "body": _html(body["body"]), "attachments": [], "url": None,
                       "redacted": False, "author": self._author(contact["id"])},
        }
        return 200, {"type": "user_message", "id": message_id, "created_at": now, "body": body["body"],
                     "message_type": "inapp", "conversation_id": conversation_id}

    def _conversations_list(self, record: Recorded, params: dict[str, str], me: str) -> tuple[int, t.Any]:
        """Newest first (by last update), ``per_page`` (default 20, at most 150), ``starting_after`` a cursor."""
        per_page = int(record.query.get("per_page") or 20)
        if not 1 <= per_page <= 150:
            return 400, _error("parameter_invalid", "per_page must be between 1 and 150")
        ordered = sorted(self.conversations.values(), key=lambda c: (c["updated_at"], int(c["id"])), reverse=True)
        start = int(record.query.get("starting_after") or 0)
        page = ordered[start:start + per_page]
        shown = []
        for conversation in page:
            item = self._conversation_json(conversation)
            del item["conversation_parts"]  # a list item carries no parts
            shown.append(item)
        pages: dict[str, t.Any] = {"type": "pages", "page": start // per_page + 1, "per_page": per_page,
                                   "total_pages": max(1, -(-len(ordered) // per_page))}
        if start + per_page < len(ordered):
            pages["next"] = {"per_page": per_page, "starting_after": str(start + per_page)}
        return 200, {"type": "conversation.list", "conversations": shown, "total_count": len(ordered), "pages": pages}

    def _conversation(self, params: dict[str, str]) -> dict[str, t.Any] | None:
        return self.conversations.get(params["conversation_id"])

    def _conversation_show(self, record: Recorded, params: dict[str, str], me: str) -> tuple[int, t.Any]:
        conversation = self._conversation(params)
        if conversation is None:
            return 404, _error("not_found", "Resource Not Found")
        return 200, self._conversation_json(conversation, plain=record.query.get("display_as") == "plaintext")

    def _conversation_update(self, record: Recorded, params: dict[str, str], me: str) -> tuple[int, t.Any]:
        conversation = self._conversation(params)
        if conversation is None:
            return 404, _error("not_found", "Resource Not Found")
        body = record.json
        problem = self._attributes_problem("conversation", body.get("custom_attributes"))
        if problem:
            return 400, _error("parameter_invalid", problem)
        conversation["custom_attributes"].update(body.get("custom_attributes") or {})
        if "read" in body:
            conversation["read"] = body["read"]
        conversation["updated_at"] = int(time.time())
        return 200, self._conversation_json(conversation)

    def _conversation_reply(self, record: Recorded, params: dict[str, str], me: str) -> tuple[int, t.Any]:
        conversation = self._conversation(params)
        if conversation is None:
            return 404, _error("not_found", "Resource Not Found")
        body = record.json
        if body["type"] == "user":
            contact_id = body.get("intercom_user_id")
            if contact_id not in conversation["contact_ids"]:
                return 404, _error("not_found", "User Not Found")
            if conversation["state"] == "closed":
                conversation["state"] = "open"  # a customer's reply reopens the conversation
            self._add_part(conversation, "comment", body.get("body") or "", self._author(contact_id))
            return 200, self._conversation_json(conversation)
        admin = self.admins.get(body["admin_id"])
        if admin is None:
            return 404, _error("admin_not_found", "Admin not found")
        if body["message_type"] == "quick_reply":
            return 400, _error("parameter_invalid", "quick replies are not modelled by the fake")
        if not body.get("body"):
            return 400, _error("parameter_invalid", "Body is required")
        part = self._add_part(conversation, body["message_type"], body["body"], self._author(admin["id"]))
        self._queue("conversation.admin.noted" if body["message_type"] == "note" else "conversation.admin.replied",
                    conversation, [part])
        return 200, self._conversation_json(conversation)

    def _conversation_manage(self, record: Recorded, params: dict[str, str], me: str) -> tuple[int, t.Any]:
        conversation = self._conversation(params)
        if conversation is None:
            return 404, _error("not_found", "Resource Not Found")
        body = record.json
        admin = self.admins.get(body["admin_id"])
        if admin is None:
            return 404, _error("admin_not_found", "Admin not found")
        kind = body["message_type"]
        if kind == "close":
            if conversation["state"] != "closed":
                part = self._add_part(conversation, "close", body.get("body"), self._author(admin["id"]))
                self._queue("conversation.admin.closed", conversation, [part])
        elif kind == "open":
            if conversation["state"] != "open":
                self._add_part(conversation, "open", None, self._author(admin["id"]))
        else:
            return 400, _error("parameter_invalid", f"{kind} is not modelled by the fake")
        return 200, self._conversation_json(conversation)

    # tags

    def _tag_attach(self, record: Recorded, params: dict[str, str], me: str) -> tuple[int, t.Any]:
        conversation = self._conversation(params)
        tag = self.tags.get(record.json["id"])
        if conversation is None or tag is None:
            return 404, _error("not_found", "Resource Not Found")
        if record.json["admin_id"] not in self.admins:
            return 404, _error("admin_not_found", "Admin not found")
        applied = self._attach(conversation, tag, record.json["admin_id"])
        self._queue("conversation_part.tag.created", conversation, [])
        return 200, applied

    def _tag_detach(self, record: Recorded, params: dict[str, str], me: str) -> tuple[int, t.Any]:
        conversation = self._conversation(params)
        if conversation is None or params["tag_id"] not in self.tags:
            return 404, _error("not_found", "Resource Not Found")
        if not any(applied["id"] == params["tag_id"] for applied in conversation["tags"]):
            return 404, _error("tag_not_found", "Tag not found on this conversation")
        conversation["tags"] = [applied for applied in conversation["tags"] if applied["id"] != params["tag_id"]]
        return 200, {"type": "tag", "id": params["tag_id"], "name": self.tags[params["tag_id"]]["name"]}

    def _tags_list(self, record: Recorded, params: dict[str, str], me: str) -> tuple[int, t.Any]:
        return 200, {"type": "list", "data": [{"type": "tag", **tag} for tag in self.tags.values()]}

    def _tags_create(self, record: Recorded, params: dict[str, str], me: str) -> tuple[int, t.Any]:
        body = record.json
        if set(body) - {"name", "id"}:
            return 400, _error("parameter_invalid", "tagging companies or users is not modelled by the fake")
        if body.get("id"):
            tag = self.tags.get(body["id"])
            if tag is None:
                return 404, _error("not_found", "Resource Not Found")
            tag["name"] = body["name"]
        else:
            tag = self._tag_named(body["name"])
        return 200, {"type": "tag", **tag}

    def _tag_named(self, name: str) -> dict[str, t.Any]:
        for tag in self.tags.values():
            if tag["name"] == name:
                return tag
        tag = {"id": self._id(), "name": name}
        self.tags[tag["id"]] = tag
        return tag

    def _attach(self, conversation: dict[str, t.Any], tag: dict[str, t.Any], admin_id: str) -> dict[str, t.Any]:
        for applied in conversation["tags"]:
            if applied["id"] == tag["id"]:
                return applied
        applied = {"type": "tag", "id": tag["id"], "name": tag["name"], "applied_at": int(time.time()),
                   "applied_by": {"type": "admin", "id": admin_id}}
        conversation["tags"].append(applied)
        conversation["updated_at"] = int(time.time())
        return applied

    # data attributes

    def _attributes_list(self, record: Recorded, params: dict[str, str], me: str) -> tuple[int, t.Any]:
        model = record.query.get("model")
        return 200, {"type": "list", "data": [dict(a) for a in self.data_attributes
                                              if model is None or a["model"] == model]}

    def _attributes_create(self, record: Recorded, params: dict[str, str], me: str) -> tuple[int, t.Any]:
        body = record.json
        if body["name"] in self._defined(body["model"]):
            return 400, _error("parameter_invalid", f"You already have '{body['name']}' in your workspace")
        return 200, dict(self._new_attribute(body["model"], body["name"], body["data_type"]))

    # -- shapes -------------------------------------------------------------------------

    def _author(self, someone: str) -> dict[str, t.Any]:
        if someone in self.contacts:
            contact = self.contacts[someone]
            return {"type": "user", "id": someone, "name": contact["name"], "email": contact["email"]}
        admin = self.admins[someone]
        return {"type": admin["type"], "id": admin["id"], "name": admin["name"], "email": admin["email"],
                "from_ai_agent": admin["type"] == "bot", "is_ai_answer": admin["type"] == "bot"}

    def _add_part(self, conversation: dict[str, t.Any], part_type: str, body: str | None,
                  author: dict[str, t.Any]) -> dict[str, t.Any]:
        now = int(time.time())
        part = {"type": "conversation_part", "id": self._id(), "part_type": part_type, "body": body,
                "created_at": now, "updated_at": now, "notified_at": now,
                "author": author, "attachments": [], "external_id": None, "redacted": False,
                "app_package_code": None}
        if part_type == "close":
            conversation["state"] = "closed"
        elif part_type == "open":
            conversation["state"] = "open"
        conversation["parts"].append(part)
        conversation["updated_at"] = now
        return part

    def _conversation_json(self, conversation: dict[str, t.Any], plain: bool = False,
                           parts: list[dict[str, t.Any]] | None = None) -> dict[str, t.Any]:
        shown = copy.deepcopy(conversation["parts"] if parts is None else parts)
        if plain:
            for part in shown:
                part["body"] = _text(part["body"]) if part["body"] is not None else None
        return {
            "type": "conversation", "id": conversation["id"], "created_at": conversation["created_at"],
            "updated_at": conversation["updated_at"], "waiting_since": None, "snoozed_until": None,
            "open": conversation["state"] == "open", "state": conversation["state"], "read": conversation["read"],
            "priority": "not_priority", "admin_assignee_id": conversation["admin_assignee_id"],
            "team_assignee_id": None, "ai_agent_participated": False,
            "tags": {"type": "tag.list", "tags": copy.deepcopy(conversation["tags"])},
            "custom_attributes": dict(conversation["custom_attributes"]),
            "source": copy.deepcopy(conversation["source"]),
            "contacts": {"type": "contact.list", "contacts": [
                {"type": "contact", "id": cid, "external_id": self.contacts[cid]["external_id"]}
                for cid in conversation["contact_ids"]]},
            "teammates": {"type": "admin.list", "teammates": []},
            "conversation_parts": {"type": "conversation_part.list", "conversation_parts": shown,
                                   "total_count": len(shown)},
        }


def _admin_json(admin: dict[str, t.Any]) -> dict[str, t.Any]:
    return {"type": "admin", "id": admin["id"], "name": admin["name"], "email": admin["email"],
            "job_title": "", "away_mode_enabled": False, "away_mode_reassign": False, "has_inbox_seat": True,
            "team_ids": [], "avatar": None}


def _public_contact(contact: dict[str, t.Any]) -> dict[str, t.Any]:
    return {"type": "contact", "id": contact["id"], "external_id": contact["external_id"], "name": contact["name"]}


def _contact_json(contact: dict[str, t.Any]) -> dict[str, t.Any]:
    lists = {name: {"type": "list", "data": [], "url": f"/contacts/{contact['id']}/{name}", "total_count": 0,
                    "has_more": False} for name in ("tags", "notes", "companies")}
    return {"type": "contact", "id": contact["id"], "workspace_id": "w1x2y3z4", "external_id": contact["external_id"],
            "role": contact["role"], "email": contact["email"], "name": contact["name"], "phone": contact["phone"],
            "avatar": None, "owner_id": None, "social_profiles": {"type": "list", "data": []},
            "has_hard_bounced": False, "marked_email_as_spam": False, "unsubscribed_from_emails": False,
            "created_at": contact["created_at"], "updated_at": contact["updated_at"], "signed_up_at": None,
            "last_seen_at": None, "custom_attributes": dict(contact["custom_attributes"]),
            "location": {"type": "location", "country": None, "region": None, "city": None}, **lists}


def _html(text: str) -> str:
    """A body as Intercom stores one typed in the inbox (and up to API 2.14 sends it): HTML paragraphs."""
    return "".join(f"<p>{html.escape(line)}</p>" for line in text.split("\n"))


def _text(body: str) -> str:
    text = re.sub(r"</p>\s*<p>", "\n", body)
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def _version(value: str) -> tuple[int, ...]:
    return tuple(int(p) for p in value.split(".")) if re.fullmatch(r"\d+(\.\d+)*", value) else (0,)


# -- routing and checking --------------------------------------------------------------------

ROUTES = [
    ("GET", "/me", "_me"),
    ("GET", "/admins/{admin_id}", "_admin"),
    ("GET", "/contacts/find_by_external_id/{external_id}", "_contact_by_external_id"),
    ("POST", "/contacts", "_contact_create"),
    ("GET", "/contacts/{contact_id}", "_contact_show"),
    ("PUT", "/contacts/{contact_id}", "_contact_update"),
    ("GET", "/conversations", "_conversations_list"),
    ("POST", "/conversations", "_conversation_create"),
    ("GET", "/conversations/{conversation_id}", "_conversation_show"),
    ("PUT", "/conversations/{conversation_id}", "_conversation_update"),
    ("POST", "/conversations/{conversation_id}/reply", "_conversation_reply"),
    ("POST", "/conversations/{conversation_id}/parts", "_conversation_manage"),
    ("POST", "/conversations/{conversation_id}/tags", "_tag_attach"),
    ("DELETE", "/conversations/{conversation_id}/tags/{tag_id}", "_tag_detach"),
    ("GET", "/tags", "_tags_list"),
    ("POST", "/tags", "_tags_create"),
    ("GET", "/data_attributes", "_attributes_list"),
    ("POST", "/data_attributes", "_attributes_create"),
]
_COMPILED = [(method, template, handler,
              re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$"))
             for method, template, handler in ROUTES]
assert {f"{m} {p}" for m, p, _ in ROUTES} == set(EXTRACT["operations"]), "routes and intercom_api_extract.json differ"


def _route(method: str, path: str) -> tuple[str, str, dict[str, str]] | None:
    # the literal /contacts/find_by_external_id/... is listed before /contacts/{contact_id}
    for route_method, template, handler, pattern in _COMPILED:
        match = pattern.match(path)
        if match and route_method == method:
            return f"{method} {template}", handler, {k: urllib.parse.unquote(v) for k, v in match.groupdict().items()}
    return None


def _resolve(schema: t.Any) -> t.Any:
    while isinstance(schema, dict) and "$ref" in schema:
        schema = EXTRACT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _described_fields(schema: t.Any) -> set[str] | None:
    """Every property name a schema (through refs, allOf, oneOf, anyOf) describes; None: any."""
    schema = _resolve(schema)
    if not isinstance(schema, dict):
        return None
    names = set(schema.get("properties", {}))
    for key in ("allOf", "oneOf", "anyOf"):
        for sub in schema.get(key, []):
            more = _described_fields(sub)
            if more is None and _resolve(sub).get("type") == "object" and not _resolve(sub).get("properties"):
                return None
            names |= more or set()
    return names


def _schema_problem(schema: t.Any, value: t.Any) -> str | None:
    document = {**schema, "components": EXTRACT["components"]} if isinstance(schema, dict) else schema
    errors = sorted(OAS30Validator(document).iter_errors(value), key=lambda e: list(e.path))
    if not errors:
        return None
    error = errors[0]
    where = ".".join(str(p) for p in error.path) or "body"
    return f"{where}: {error.message[:300]}"


def _check_request(operation: dict[str, t.Any], params: dict[str, str], record: Recorded) -> str | None:
    described = {(p["in"], p["name"]): p for p in operation["parameters"]}
    for name, value in params.items():
        kind = _resolve(described[("path", name)]["schema"]).get("type")
        if kind == "integer" and not value.isdigit():
            return f"path parameter {name!r} must be an integer"
    for name, value in record.query.items():
        parameter = described.get(("query", name))
        if parameter is None:
            return f"query parameter {name!r} is not described"
        schema = _resolve(parameter["schema"])
        if schema.get("enum") and value not in schema["enum"]:
            return f"query parameter {name!r} must be one of {schema['enum']}"
        if schema.get("type") == "boolean" and value not in ("true", "false"):
            return f"query parameter {name!r} must be true or false"
    schema = operation["requestBody"]
    if schema is None:
        if record.body and record.method != "DELETE":
            return "this operation takes no body"
        return None
    if record.json is _UNPARSABLE or record.json is None:
        return "the body is not JSON"
    fields = _described_fields(schema)
    if fields is not None and isinstance(record.json, dict):
        extra = sorted(set(record.json) - fields)
        if extra:
            return f"undescribed body fields {extra}"
    return _schema_problem(schema, record.json)


_UNPARSABLE = object()


class _Handler(BaseHTTPRequestHandler):
    fake: FakeIntercom
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16

    def log_message(self, *args: t.Any) -> None:  # quiet
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urllib.parse.urlsplit(self.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(parts.query, keep_blank_values=True).items()}
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = _UNPARSABLE
        record = Recorded(self.command, parts.path, query, parsed, CaseInsensitiveDict(self.headers.items()), raw)
        status, answer, extra = self.fake.handle(record)
        payload = json.dumps(answer).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass

    do_GET = do_POST = do_PUT = do_DELETE = _serve


FakeIntercom.handler = _Handler
