"""A stateful local fake of the Zendesk Support API, for zenpy over real HTTP.

State: users, tickets with their comments and tags, webhooks (with signing secrets) and
triggers. Every request body is checked against our own summary of Zendesk's API
description (``tests/contracts/zendesk_schema.json``); a violation is recorded in
:attr:`FakeZendesk.violations` and answered 400, and connector tests assert the list stays
empty. ``Idempotency-Key`` is honoured the way Zendesk documents it (a repeat returns the
first answer with ``x-idempotency-lookup: hit``; the same key with another body is 400).

Zendesk's rules the connector depends on: API writes are via id 5 (``web_service``);
solving needs an assignee; a closed ticket refuses updates (422); an end user's comment
reopens a pending, on-hold or solved ticket; a ticket holds at most 5,000 comments.

Agents' actions in the Zendesk UI (:meth:`agent_comment`, :meth:`set_status`,
:meth:`add_tags`, :meth:`assign`) are via id 0 (web) and run the stored triggers; what a
trigger's ``notification_webhook`` action would send is appended to :attr:`fired` as
``(webhook id, rendered body)``.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import itertools
import json
import re
import secrets
import threading
import typing as t
import urllib.parse
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "contracts" / "zendesk_schema.json").read_text())
JSON_TYPES = {"string": str, "integer": int, "boolean": bool, "array": list, "object": dict}
MAX_COMMENTS = 5000
VIA_WEB, VIA_API = 0, 5
CONDITION_FIELDS = {"update_type", "comment_is_public", "current_via_id", "role", "current_tags", "status"}


@dataclasses.dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    json: t.Any
    headers: dict[str, str]
    status: int = 0
    idempotency_hit: bool = False


class FakeZendesk:
    """``with FakeZendesk() as zd:``; ``zd.url`` replaces ``https://<subdomain>.zendesk.com``."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._ids = itertools.count(1000)
        self.users: dict[int, dict[str, t.Any]] = {}
        self.tickets: dict[int, dict[str, t.Any]] = {}
        self.webhooks: dict[str, dict[str, t.Any]] = {}
        self.triggers: dict[int, dict[str, t.Any]] = {}
        self.fired: list[tuple[str, str]] = []
        self.requests: list[Recorded] = []
        self.violations: list[str] = []
        self._credentials: dict[str, int] = {}  # basic "email/token:TOKEN" or "Bearer X" -> user id
        self._idempotency: dict[str, tuple[str, int, t.Any]] = {}
        self._faults: list[tuple[str | None, int, float | None]] = []
        self._server: ThreadingHTTPServer | None = None

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> "FakeZendesk":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: t.Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def do_PUT(self) -> None:
                fake._handle(self, "PUT")

            def do_PATCH(self) -> None:
                fake._handle(self, "PATCH")

            def do_DELETE(self) -> None:
                fake._handle(self, "DELETE")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> "FakeZendesk":
        return self.start()

    def __exit__(self, *exc: t.Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}"

    # -- set-up -------------------------------------------------------------------------

    def _new_user(self, name: str, email: str | None, role: str, external_id: str | None = None) -> dict[str, t.Any]:
        user = {"id": next(self._ids), "name": name, "email": email, "role": role, "external_id": external_id,
                "active": True, "created_at": _now(), "updated_at": _now(), "url": ""}
        self.users[user["id"]] = user
        return user

    def set_api_user(self, email: str, token: str, name: str = "Handover Bot") -> dict[str, t.Any]:
        with self._lock:
            user = self._new_user(name, email, "admin")
            self._credentials["Basic " + base64.b64encode(f"{email}/token:{token}".encode()).decode()] = user["id"]
            return user

    def add_oauth_token(self, token: str, user_id: int) -> None:
        with self._lock:
            self._credentials[f"Bearer {token}"] = user_id

    def revoke(self, token: str) -> None:
        with self._lock:
            for key in [k for k in self._credentials if k.endswith(token) or token in _basic_token(k)]:
                del self._credentials[key]

    def add_agent(self, name: str, email: str, role: str = "agent") -> dict[str, t.Any]:
        with self._lock:
            return dict(self._new_user(name, email, role))

    # -- faults -------------------------------------------------------------------------

    def rate_limit(self, times: int = 1, retry_after: float = 1, path_contains: str | None = None) -> None:
        with self._lock:
            self._faults.extend([(path_contains, 429, retry_after)] * times)

    def fail(self, times: int = 1, status: int = 500, path_contains: str | None = None) -> None:
        with self._lock:
            self._faults.extend([(path_contains, status, None)] * times)

    # -- agents in the Zendesk UI (via web) -----------------------------------------------

    def agent_comment(self, ticket_id: int, author_id: int, body: str, public: bool = True) -> dict[str, t.Any]:
        with self._lock:
            ticket = self.tickets[ticket_id]
            before = _snapshot(ticket)
            comment = self._add_comment(ticket, {"body": body, "public": public}, author_id, VIA_WEB)
            if ticket["status"] in ("new",):
                ticket["status"] = "open"
            self._run_triggers(ticket, before, author_id, VIA_WEB, comment)
            return dict(comment)

    def set_status(self, ticket_id: int, status: str, actor_id: int | None = None) -> None:
        with self._lock:
            ticket = self.tickets[ticket_id]
            if status == "closed":
                assert ticket["status"] == "solved", "only a solved ticket closes"
                ticket["status"] = "closed"
                return  # closing is Zendesk's automation: no trigger runs on it here
            if status == "solved":
                assert ticket.get("assignee_id"), "Zendesk solves only assigned tickets"
            before = _snapshot(ticket)
            ticket["status"] = status
            self._run_triggers(ticket, before, actor_id or ticket.get("assignee_id"), VIA_WEB, None)

    def add_tags(self, ticket_id: int, tags: t.Sequence[str], actor_id: int | None = None) -> None:
        with self._lock:
            ticket = self.tickets[ticket_id]
            before = _snapshot(ticket)
            ticket["tags"] = _merge_tags(ticket["tags"], tags)
            self._run_triggers(ticket, before, actor_id, VIA_WEB, None)

    def assign(self, ticket_id: int, agent_id: int) -> None:
        with self._lock:
            self.tickets[ticket_id]["assignee_id"] = agent_id

    def sign(self, secret: str, timestamp: str, body: bytes) -> str:
        return base64.b64encode(hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()).decode()

    # -- triggers -------------------------------------------------------------------------

    def _run_triggers(self, ticket: dict[str, t.Any], before: dict[str, t.Any], actor_id: int | None, via: int,
                      comment: dict[str, t.Any] | None) -> None:
        actor = self.users.get(actor_id or 0, {"id": actor_id, "role": "agent", "email": None, "name": None})
        for trigger in list(self.triggers.values()):
            if not trigger.get("active", True):
                continue
            conditions = trigger["conditions"]
            checks = [self._condition(c, ticket, before, actor, via, comment) for c in conditions.get("all", [])]
            anys = [self._condition(c, ticket, before, actor, via, comment) for c in conditions.get("any", [])]
            if not all(checks) or (anys and not any(anys)):
                continue
            for action in trigger["actions"]:
                if action["field"] == "notification_webhook":
                    webhook_id, template = action["value"]
                    self.fired.append((str(webhook_id), _render(template, ticket, actor)))
                elif action["field"] == "remove_tags":
                    ticket["tags"] = [tag for tag in ticket["tags"] if tag not in action["value"].split()]

    def _condition(self, condition: dict[str, t.Any], ticket: dict[str, t.Any], before: dict[str, t.Any],
                   actor: dict[str, t.Any], via: int, comment: dict[str, t.Any] | None) -> bool:
        field, operator, value = condition["field"], condition["operator"], condition.get("value")
        if field == "update_type":
            return value == ("Create" if before.get("new") else "Change")
        if field == "comment_is_public":
            public = comment is not None and comment["public"]
            return public if value in ("requester_can_see_comment", "true", True) else not public
        if field == "current_via_id":
            return (via == int(value)) if operator == "is" else (via != int(value))
        if field == "role":
            role = actor.get("role") or "agent"
            role = "end_user" if role == "end-user" else role
            return (role == value) if operator == "is" else (role != value)
        if field == "current_tags":
            wanted = set(str(value).split())
            present = bool(wanted & set(ticket["tags"]))
            return present if operator == "includes" else not present
        if field == "status":
            if operator == "changed":
                return ticket["status"] != before["status"]
            if operator == "value":  # changed to
                return ticket["status"] == value and before["status"] != value
            if operator == "is":
                return ticket["status"] == value
            return ticket["status"] != value
        return False

    # -- the server -----------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        parsed = urllib.parse.urlsplit(request.path)
        path = parsed.path
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(parsed.query).items()}
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        headers = {k: v for k, v in request.headers.items()}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        record = Recorded(method, path, query, body, headers)
        with self._lock:
            self.requests.append(record)
        status, answer, extra = self._dispatch(method, path, query, body, raw, headers, record)
        record.status = status
        payload = b"" if answer is None else json.dumps(answer).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json; charset=utf-8")
        request.send_header("Content-Length", str(len(payload)))
        request.send_header("X-Rate-Limit", "700")
        request.send_header("X-Rate-Limit-Remaining", "0" if status == 429 else "650")
        for name, value in extra.items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(payload)

    def _dispatch(self, method: str, path: str, query: dict[str, str], body: t.Any, raw: bytes,
                  headers: dict[str, str], record: Recorded) -> tuple[int, t.Any, dict[str, str]]:
        with self._lock:
            for index, (contains, status, retry_after) in enumerate(self._faults):
                if contains is None or contains in path:
                    del self._faults[index]
                    extra = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
                    return status, {"error": "TooManyRequests" if status == 429 else "InternalError"}, extra
            auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
            me = self._credentials.get(auth)
            if me is None:
                return 401, {"error": "Couldn't authenticate you"}, {}
            route = re.sub(r"\.json$", "", path)
            key = next((v for k, v in headers.items() if k.lower() == "idempotency-key"), None)
            if key and method == "POST":
                seen = self._idempotency.get(key)
                fingerprint = hashlib.sha256(raw).hexdigest()
                if seen is not None:
                    if seen[0] != fingerprint:
                        return 400, {"error": "IdempotentRequestError",
                                     "description": "the same key was used with another request"}, {}
                    record.idempotency_hit = True
                    return seen[1], seen[2], {"x-idempotency-lookup": "hit"}
            problem = self._validate(method, route, query, body)
            if problem:
                self.violations.append(f"{method} {path}: {problem}")
                return 400, {"error": "InvalidRequest", "description": problem}, {}
            status, answer = self._route(method, route, query, body or {}, me)
            if key and method == "POST" and status < 500:
                self._idempotency[key] = (hashlib.sha256(raw).hexdigest(), status, answer)
            return status, answer, ({"x-idempotency-lookup": "miss"} if key else {})

    def _validate(self, method: str, route: str, query: dict[str, str], body: t.Any) -> str | None:
        template = re.sub(r"/\d+(?=/|$)", "/{id}", route)
        template = re.sub(r"/webhooks/[^/]+", "/webhooks/{id}", template) if "/signing_secret" not in template else template
        for unknown in set(query) - set(SCHEMA["query"].get(f"{method} {template}", query.keys())):
            return f"query parameter {unknown!r} is not described"
        spec = SCHEMA["bodies"].get(f"{method} {template}")
        if spec is None:
            return None
        if not isinstance(body, dict) or spec["wrapper"] not in body:
            return f"body must be an object with {spec['wrapper']!r}"
        inner = body[spec["wrapper"]]
        if spec.get("type") == "array":
            return None if isinstance(inner, list) else f"{spec['wrapper']} must be an array"
        return _check(inner, spec["schema"], spec["wrapper"])

    def _route(self, method: str, route: str, query: dict[str, str], body: dict[str, t.Any], me: int
               ) -> tuple[int, t.Any]:
        parts = route.strip("/").split("/")[2:]  # after api/v2
        if parts == ["users", "me"] and method == "GET":
            return 200, {"user": self.users[me]}
        if parts == ["users", "create_or_update"] and method == "POST":
            return self._create_or_update_user(body["user"])
        if len(parts) == 2 and parts[0] == "users" and method == "GET":
            user = self.users.get(int(parts[1]))
            return (200, {"user": user}) if user else (404, {"error": "RecordNotFound", "description": "Not found"})
        if parts == ["tickets"] and method == "GET":
            found = [self._ticket_json(x) for x in self.tickets.values()
                     if "external_id" not in query or x["external_id"] == query["external_id"]]
            return 200, {"tickets": found, "next_page": None, "previous_page": None, "count": len(found), **_LAST_PAGE}
        if parts == ["tickets"] and method == "POST":
            return self._create_ticket(body["ticket"], me)
        if len(parts) >= 2 and parts[0] == "tickets":
            ticket = self.tickets.get(int(parts[1]))
            if ticket is None:
                return 404, {"error": "RecordNotFound", "description": "Not found"}
            if len(parts) == 2 and method == "GET":
                return 200, {"ticket": self._ticket_json(ticket)}
            if len(parts) == 2 and method == "PUT":
                return self._update_ticket(ticket, body["ticket"], me)
            if parts[2:] == ["comments"] and method == "GET":
                comments = [dict(c) for c in ticket["comments"]]
                if query.get("sort_order") == "desc":
                    comments.reverse()
                return 200, {"comments": comments, "next_page": None, "previous_page": None, "count": len(comments),
                             **_LAST_PAGE}
            if parts[2:] == ["tags"] and method in ("PUT", "POST", "DELETE"):
                if ticket["status"] == "closed":
                    return 422, {"error": "RecordInvalid", "description": "Ticket is closed and cannot be updated"}
                tags = body["tags"]
                ticket["tags"] = (_merge_tags(ticket["tags"], tags) if method != "DELETE"
                                  else [tag for tag in ticket["tags"] if tag not in tags])
                return 200, {"tags": list(ticket["tags"])}
        if parts[:1] == ["webhooks"]:
            return self._webhooks(method, parts[1:], body)
        if parts[:1] == ["triggers"]:
            return self._triggers(method, parts[1:], body)
        return 404, {"error": "InvalidEndpoint", "description": f"{method} {route}"}

    # -- resources --------------------------------------------------------------------------

    def _create_or_update_user(self, data: dict[str, t.Any]) -> tuple[int, t.Any]:
        existing = next((u for u in self.users.values() if data.get("external_id")
                         and u.get("external_id") == data["external_id"]), None)
        existing = existing or next((u for u in self.users.values() if data.get("email")
                                     and u.get("email") == data["email"]), None)
        if existing is not None:
            existing.update({k: v for k, v in data.items() if k in ("name", "email", "external_id")})
            existing["updated_at"] = _now()
            return 200, {"user": existing}
        user = self._new_user(data["name"], data.get("email"), data.get("role", "end-user"), data.get("external_id"))
        return 201, {"user": user}

    def _create_ticket(self, data: dict[str, t.Any], me: int) -> tuple[int, t.Any]:
        requester = data.get("requester_id")
        if requester is None and data.get("requester"):
            requester = self._create_or_update_user(data["requester"])[1]["user"]["id"]
        if requester is not None and requester not in self.users:
            return 422, {"error": "RecordInvalid", "details": {"requester": [{"description": "is invalid"}]}}
        ticket = {
            "id": next(self._ids), "subject": data.get("subject"), "requester_id": requester or me,
            "external_id": data.get("external_id"), "tags": _merge_tags([], data.get("tags") or []),
            "status": data.get("status") or "new", "assignee_id": data.get("assignee_id"),
            "via_followup_source_id": data.get("via_followup_source_id"), "comments": [],
            "created_at": _now(), "updated_at": _now(),
        }
        source = data.get("via_followup_source_id")
        if source is not None and self.tickets.get(source, {}).get("status") != "closed":
            return 422, {"error": "RecordInvalid", "description": "a follow-up needs a closed source ticket"}
        self.tickets[ticket["id"]] = ticket
        comment = self._add_comment(ticket, data["comment"], data["comment"].get("author_id") or me, VIA_API)
        return 201, {"ticket": self._ticket_json(ticket), "audit": self._audit(ticket, comment, me)}

    def _update_ticket(self, ticket: dict[str, t.Any], data: dict[str, t.Any], me: int) -> tuple[int, t.Any]:
        if ticket["status"] == "closed":
            return 422, {"error": "RecordInvalid", "description": "Ticket 1 is closed and cannot be updated",
                         "details": {"status": [{"description": "Status: closed prevents ticket update"}]}}
        if data.get("status") == "solved" and not (data.get("assignee_id") or ticket.get("assignee_id")):
            return 422, {"error": "RecordInvalid",
                         "details": {"base": [{"description": "Assignee is required when solving a ticket"}]}}
        comment = None
        if data.get("comment"):
            if len(ticket["comments"]) >= MAX_COMMENTS:
                return 422, {"error": "RecordInvalid", "description": "too many comments"}
            author = data["comment"].get("author_id") or me
            comment = self._add_comment(ticket, data["comment"], author, VIA_API)
            end_user = self.users.get(author, {}).get("role") == "end-user"
            if end_user and ticket["status"] in ("pending", "hold", "solved") and "status" not in data:
                ticket["status"] = "open"  # an end user's comment reopens the ticket
        for name in ("status", "assignee_id", "subject", "external_id"):
            if name in data:
                ticket[name] = data[name]
        if "tags" in data:
            ticket["tags"] = _merge_tags([], data["tags"])
        ticket["updated_at"] = _now()
        return 200, {"ticket": self._ticket_json(ticket), "audit": self._audit(ticket, comment, me)}

    def _add_comment(self, ticket: dict[str, t.Any], data: dict[str, t.Any], author_id: int, via: int) -> dict[str, t.Any]:
        body = data.get("body") or re.sub(r"<[^>]+>", "", data.get("html_body") or "")
        comment = {
            "id": next(self._ids), "type": "Comment", "author_id": author_id, "body": body,
            "html_body": data.get("html_body") or f"<p>{body}</p>", "plain_body": body,
            "public": data.get("public", True), "created_at": _now(),
            "via": {"channel": "api" if via == VIA_API else "web", "source": {"from": {}, "to": {}, "rel": None}},
            "attachments": [],
        }
        ticket["comments"].append(comment)
        return comment

    def _audit(self, ticket: dict[str, t.Any], comment: dict[str, t.Any] | None, me: int) -> dict[str, t.Any]:
        events = [] if comment is None else [{"id": comment["id"], "type": "Comment", "body": comment["body"],
                                              "public": comment["public"], "author_id": comment["author_id"]}]
        return {"id": next(self._ids), "ticket_id": ticket["id"], "author_id": me, "created_at": _now(),
                "events": events, "via": {"channel": "api"}}

    @staticmethod
    def _ticket_json(ticket: dict[str, t.Any]) -> dict[str, t.Any]:
        return {k: v for k, v in ticket.items() if k != "comments"}

    def _webhooks(self, method: str, rest: list[str], body: dict[str, t.Any]) -> tuple[int, t.Any]:
        if not rest and method == "POST":
            data = body["webhook"]
            webhook = {**data, "id": "01H" + secrets.token_hex(10).upper(), "created_at": _now(),
                       "signing_secret": secrets.token_urlsafe(32)}
            self.webhooks[webhook["id"]] = webhook
            return 201, {"webhook": _public(webhook)}
        if not rest and method == "GET":
            return 200, {"webhooks": [_public(w) for w in self.webhooks.values()], "meta": {"has_more": False}}
        webhook = self.webhooks.get(rest[0])
        if webhook is None:
            return 404, {"errors": [{"code": "WebhookNotFound", "title": "Webhook not found"}], "error": "RecordNotFound"}
        if rest[1:] == ["signing_secret"] and method == "GET":
            return 200, {"signing_secret": {"algorithm": "SHA256", "secret": webhook["signing_secret"]}}
        if len(rest) == 1 and method == "GET":
            return 200, {"webhook": _public(webhook)}
        if len(rest) == 1 and method in ("PUT", "PATCH"):
            webhook.update({k: v for k, v in body["webhook"].items() if k != "id"})
            return 204, None
        if len(rest) == 1 and method == "DELETE":
            del self.webhooks[rest[0]]
            return 204, None
        return 404, {"error": "InvalidEndpoint"}

    def _triggers(self, method: str, rest: list[str], body: dict[str, t.Any]) -> tuple[int, t.Any]:
        if not rest and method == "POST":
            return self._save_trigger(None, body["trigger"])
        if not rest and method == "GET":
            return 200, {"triggers": list(self.triggers.values()), "next_page": None, "count": len(self.triggers)}
        trigger_id = int(rest[0])
        if trigger_id not in self.triggers:
            return 404, {"error": "RecordNotFound", "description": "Not found"}
        if method == "GET":
            return 200, {"trigger": self.triggers[trigger_id]}
        if method == "PUT":
            return self._save_trigger(trigger_id, body["trigger"])
        if method == "DELETE":
            del self.triggers[trigger_id]
            return 204, None
        return 404, {"error": "InvalidEndpoint"}

    def _save_trigger(self, trigger_id: int | None, data: dict[str, t.Any]) -> tuple[int, t.Any]:
        for condition in [*data["conditions"].get("all", []), *data["conditions"].get("any", [])]:
            if condition.get("field") not in CONDITION_FIELDS:
                return 422, {"error": "RecordInvalid", "details": {"conditions": [
                    {"description": f"unknown condition field {condition.get('field')!r}"}]}}
        for action in data["actions"]:
            if action["field"] == "notification_webhook" and str(action["value"][0]) not in self.webhooks:
                return 422, {"error": "RecordInvalid", "details": {"actions": [{"description": "webhook not found"}]}}
        trigger = {**data, "id": trigger_id or next(self._ids), "active": data.get("active", True),
                   "updated_at": _now()}
        self.triggers[trigger["id"]] = trigger
        return (200 if trigger_id else 201), {"trigger": trigger}


#: what a list answers when everything fits on one page (offset and cursor pagination alike)
_LAST_PAGE = {"meta": {"has_more": False, "after_cursor": None, "before_cursor": None},
              "links": {"next": None, "prev": None}}


def _check(value: t.Any, schema_name: str, where: str) -> str | None:
    schema = SCHEMA["schemas"][schema_name]
    if not isinstance(value, dict):
        return f"{where} must be an object"
    for name in schema["required"]:
        if name not in value:
            return f"{where}.{name} is required"
    for name, item in value.items():
        kind = schema["fields"].get(name)
        if kind is None:
            return f"{where}.{name} is not described"
        if kind in SCHEMA["schemas"]:
            problem = _check(item, kind, f"{where}.{name}")
            if problem:
                return problem
        elif item is not None and (not isinstance(item, JSON_TYPES[kind]) or (kind == "integer" and isinstance(item, bool))):
            return f"{where}.{name} must be {kind}"
    return None


def _public(webhook: dict[str, t.Any]) -> dict[str, t.Any]:
    return {k: v for k, v in webhook.items() if k != "signing_secret"}


def _snapshot(ticket: dict[str, t.Any]) -> dict[str, t.Any]:
    return {"status": ticket["status"], "tags": list(ticket["tags"]), "new": False}


def _merge_tags(current: t.Sequence[str], more: t.Sequence[str]) -> list[str]:
    merged = list(current)
    for tag in more:
        if tag not in merged:
            merged.append(tag)
    return merged


def _render(template: str, ticket: dict[str, t.Any], actor: dict[str, t.Any]) -> str:
    values = {
        "ticket.id": ticket["id"], "ticket.external_id": ticket.get("external_id") or "",
        "ticket.status": ticket["status"], "ticket.tags": " ".join(ticket["tags"]),
        "current_user.id": actor.get("id") or "", "current_user.role": actor.get("role") or "",
        "current_user.email": actor.get("email") or "", "current_user.name": actor.get("name") or "",
    }
    return re.sub(r"\{\{([a-z_.]+)\}\}", lambda m: str(values.get(m.group(1), "")), template)


def _basic_token(credential: str) -> str:
    if not credential.startswith("Basic "):
        return ""
    return base64.b64decode(credential[6:]).decode().partition(":")[2]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
