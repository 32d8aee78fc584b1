"""A stateful local fake of the Zendesk Support API, for zenpy over real HTTP.

``with FakeZendesk() as zd:`` starts a real HTTP server on 127.0.0.1 (a free port, a daemon
thread); ``zd.url`` stands in for ``https://<subdomain>.zendesk.com``. Point zenpy at it with
a ``requests.Session`` that rewrites the scheme and host (see the connector's
``ZendeskSession`` or the test file's ``RewritingSession``).

State: users, tickets with their comments and tags, webhooks (with signing secrets) and
triggers, all readable by tests (:attr:`users`, :attr:`tickets`, :attr:`webhooks`,
:attr:`triggers`) and guarded by one lock. Every request is recorded in :attr:`requests`.

Every request is checked against our own summary of Zendesk's API description
(``tests/contracts/zendesk_schema.json``): an undescribed endpoint or query parameter, a
missing wrapper, an undescribed field, a wrong JSON type or value, or a missing required
field is recorded in :attr:`violations` and answered 400 (422 for a missing required field).
Connector tests assert the list stays empty.

Zendesk's rules kept here:

* credentials: HTTP Basic ``email/token:TOKEN`` or ``Authorization: Bearer <oauth token>``,
  otherwise 401 ``{"error": "Couldn't authenticate you"}``;
* ``Idempotency-Key`` on ticket creation: a repeat with the same body gets the first answer
  with ``x-idempotency-lookup: hit``; the same key with another body is 400
  ``IdempotentRequestError``. Server errors (5xx, 429) are not remembered;
* API writes are via id 5 (channel ``api``), agents' actions in the UI via id 0 (``web``);
* solving needs an assignee (422, ``details.status``) unless the same update assigns one;
  a closed ticket refuses updates (422 mentioning "closed"); a follow-up
  (``via_followup_source_id``) needs a closed source ticket; an end user's comment reopens
  a pending, on-hold or solved ticket; a ticket holds at most 5,000 comments;
* triggers run after every ticket update, API updates included, in the trigger cycle
  (in position order, restarting after a trigger fires, each trigger at most once per
  update). Supported condition fields are in :data:`CONDITIONS`; creating a trigger with
  another field, operator or action is refused with 422 so a trigger cannot silently
  never fire. Placeholders in a webhook body are inserted as they are, without JSON
  escaping, as Zendesk does.

Agents' actions in the Zendesk UI (:meth:`FakeZendesk.agent_comment`, :meth:`set_status`,
:meth:`add_tags`, :meth:`assign`) are test helpers. What a trigger's
``notification_webhook`` action would send is appended to :attr:`fired` as
``(webhook id, rendered body)``; with :attr:`deliver_webhooks` set, it is also sent to the
webhook's endpoint, signed as Zendesk signs (:meth:`sign`), and the outcome appended to
:attr:`deliveries`.

Faults: :meth:`rate_limit` (429 with ``Retry-After``) and :meth:`fail` (any status) apply
to the next matching requests, before authentication.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import html
import itertools
import json
import random
import re
import secrets
import threading
import time
import typing as t
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
from requests.structures import CaseInsensitiveDict

from tests.fakes.server import LocalServer

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "contracts" / "zendesk_schema.json"
SCHEMA: dict[str, t.Any] = json.loads(SCHEMA_PATH.read_text())

MAX_COMMENTS = 5000
VIA_WEB, VIA_API = 0, 5
RATE_LIMIT = 700
STATUSES = ["new", "open", "pending", "hold", "solved", "closed"]

#: trigger condition fields the fake evaluates, with their operators
CONDITIONS: dict[str, set[str]] = {
    "update_type": {"is"},
    "comment_is_public": {"is"},
    "current_via_id": {"is", "is_not"},
    "role": {"is", "is_not"},
    "current_tags": {"includes", "not_includes"},
    "status": {"is", "is_not", "less_than", "greater_than", "changed", "not_changed", "value", "not_value",
               "value_previous", "not_value_previous"},
}
#: trigger action fields the fake applies
ACTIONS = {"notification_webhook", "current_tags", "set_tags", "remove_tags", "status"}

_JSON_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "integer": (int,), "boolean": (bool,),
                                            "object": (dict,), "array": (list,)}
_NOT_FOUND = {"error": "RecordNotFound", "description": "Not found"}

Answer = tuple[int, t.Any, dict[str, str]]


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
    idempotency_hit: bool = False


class FakeZendesk(LocalServer):
    """``with FakeZendesk() as zd:``; ``zd.url`` replaces ``https://<subdomain>.zendesk.com``."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.lock = threading.RLock()
        self._ids = itertools.count(10001)
        self.users: dict[int, dict[str, t.Any]] = {}
        self.tickets: dict[int, dict[str, t.Any]] = {}
        self.webhooks: dict[str, dict[str, t.Any]] = {}
        self.triggers: dict[int, dict[str, t.Any]] = {}
        self.fired: list[tuple[str, str]] = []
        self.deliveries: list[dict[str, t.Any]] = []
        self.requests: list[Recorded] = []
        self.violations: list[str] = []
        self.deliver_webhooks = False
        self.webhook_timeout = 5.0
        self.api_user_id: int | None = None
        self._credentials: dict[str, int] = {}  # "Basic <b64>" or "Bearer <token>" -> user id
        self._idempotency: dict[str, tuple[str, int, t.Any]] = {}
        self._faults: list[tuple[str | None, int, float | None]] = []
        self._window: tuple[int, int] = (0, 0)  # (minute, requests in it)
        self._outbox: list[tuple[dict[str, t.Any], str]] = []
        self._server: ThreadingHTTPServer | None = None

    # -- life cycle ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- set-up -------------------------------------------------------------------------

    def set_api_user(self, email: str, token: str, name: str = "Handover Bot") -> dict[str, t.Any]:
        """The admin the connector authenticates as, with ``email/token:TOKEN``."""
        with self.lock:
            user = self._find_user(email=email) or self._new_user(name, email, "admin")
            self.api_user_id = user["id"]
            self._credentials[_basic(email, token)] = user["id"]
            return dict(user)

    def add_oauth_token(self, token: str, user_id: int | None = None) -> None:
        """Accept ``Authorization: Bearer <token>`` as ``user_id`` (default: the API user)."""
        with self.lock:
            if user_id is None:
                if self.api_user_id is None:
                    self.api_user_id = self._new_user("OAuth App", None, "admin")["id"]
                user_id = self.api_user_id
            self._credentials[f"Bearer {token}"] = user_id

    def revoke(self, token: str) -> None:
        """Refuse an API token or OAuth token from now on (401)."""
        with self.lock:
            for key in [k for k in self._credentials if k == f"Bearer {token}" or _basic_token(k) == token]:
                del self._credentials[key]

    def add_agent(self, name: str, email: str, role: str = "agent") -> dict[str, t.Any]:
        with self.lock:
            return dict(self._new_user(name, email, role))

    def add_end_user(self, name: str, email: str | None = None, external_id: str | None = None) -> dict[str, t.Any]:
        with self.lock:
            return dict(self._new_user(name, email, "end-user", external_id))

    # -- faults -------------------------------------------------------------------------

    def rate_limit(self, times: int = 1, retry_after: float = 1, path_contains: str | None = None) -> None:
        """The next ``times`` matching requests get 429 with ``Retry-After`` (whole seconds, as Zendesk sends)."""
        with self.lock:
            self._faults.extend([(path_contains, 429, retry_after)] * times)

    def fail(self, times: int = 1, status: int = 500, path_contains: str | None = None) -> None:
        with self.lock:
            self._faults.extend([(path_contains, status, None)] * times)

    def fault_rate(self, *, seed: int, errors: float = 0.0, rate_limited: float = 0.0, late: float = 0.0,
                   late_seconds: float = 1.5, methods: t.Collection[str] = ("PUT", "POST")) -> None:
        """Each later request of ``methods`` fails at random (seeded): 500 with probability
        ``errors``, 429 (``Retry-After: 0``) with ``rate_limited``; with ``late`` it is applied
        but answered only after ``late_seconds``, past the client's timeout."""
        with self.lock:
            self.late_answers = 0
            self._rate = (random.Random(seed), errors, rate_limited, late, late_seconds, frozenset(methods))

    def _random_fault(self, method: str) -> tuple[str, float] | None:
        with self.lock:
            rate = getattr(self, "_rate", None)
            if rate is None or method not in rate[5]:
                return None
            rng, errors, limited, late, late_seconds, _ = rate
            roll = rng.random()
        if roll < errors:
            return "500", 0.0
        if roll < errors + limited:
            return "429", 0.0
        if roll < errors + limited + late:
            return "late", late_seconds
        return None

    # -- agents in the Zendesk UI (via web, id 0) ------------------------------------------

    def agent_comment(self, ticket_id: int, author_id: int, body: str, public: bool = True) -> dict[str, t.Any]:
        with self.lock:
            ticket = self._ticket_for_agent(ticket_id)
            author = self._user(author_id)
            before = _snapshot(ticket)
            comment = self._add_comment(ticket, {"body": body, "public": public}, author_id, VIA_WEB)
            if author["role"] == "end-user":
                if ticket["status"] in ("pending", "hold", "solved"):
                    ticket["status"] = "open"
            elif ticket["status"] == "new":
                ticket["status"] = "open"
            self._updated(ticket, before, author, VIA_WEB, comment)
            answer = dict(comment)
        self._deliver_pending()
        return answer

    def set_status(self, ticket_id: int, status: str, actor_id: int | None = None) -> None:
        """An agent changes the status. Closing (only from solved) is Zendesk's automation: no trigger runs."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        with self.lock:
            ticket = self.tickets[ticket_id]
            if status == "closed":
                if ticket["status"] != "solved":
                    raise ValueError("only a solved ticket can be closed")
                ticket["status"] = "closed"
                ticket["updated_at"] = _now()
                return
            ticket = self._ticket_for_agent(ticket_id)
            if status == "solved" and not ticket.get("assignee_id"):
                raise ValueError("Zendesk solves only assigned tickets: assign() first")
            before = _snapshot(ticket)
            ticket["status"] = status
            self._updated(ticket, before, self._actor(ticket, actor_id), VIA_WEB, None)
        self._deliver_pending()

    def add_tags(self, ticket_id: int, tags: t.Sequence[str], actor_id: int | None = None) -> None:
        with self.lock:
            ticket = self._ticket_for_agent(ticket_id)
            before = _snapshot(ticket)
            ticket["tags"] = _merge_tags(ticket["tags"], tags)
            self._updated(ticket, before, self._actor(ticket, actor_id), VIA_WEB, None)
        self._deliver_pending()

    def assign(self, ticket_id: int, agent_id: int, actor_id: int | None = None) -> None:
        with self.lock:
            ticket = self._ticket_for_agent(ticket_id)
            self._user(agent_id)
            before = _snapshot(ticket)
            ticket["assignee_id"] = agent_id
            if ticket["status"] == "new":
                ticket["status"] = "open"
            self._updated(ticket, before, self._actor(ticket, actor_id or agent_id), VIA_WEB, None)
        self._deliver_pending()

    @staticmethod
    def sign(secret: str, timestamp: str, body: bytes | str) -> str:
        """Zendesk's webhook signature: base64(HMAC-SHA256(secret, timestamp + body))."""
        raw = body.encode() if isinstance(body, str) else body
        return base64.b64encode(hmac.new(secret.encode(), timestamp.encode() + raw, hashlib.sha256).digest()).decode()

    def _ticket_for_agent(self, ticket_id: int) -> dict[str, t.Any]:
        ticket = self.tickets[ticket_id]
        if ticket["status"] == "closed":
            raise ValueError(f"ticket {ticket_id} is closed and cannot be updated")
        return ticket

    def _actor(self, ticket: dict[str, t.Any], actor_id: int | None) -> dict[str, t.Any]:
        if actor_id is not None:
            return self._user(actor_id)
        if ticket.get("assignee_id") in self.users:
            return self.users[ticket["assignee_id"]]
        agents = [u for u in self.users.values() if u["role"] != "end-user" and u["id"] != self.api_user_id]
        return agents[0] if agents else {"id": None, "name": "Agent", "email": None, "role": "agent"}

    def _user(self, user_id: int) -> dict[str, t.Any]:
        if user_id not in self.users:
            raise ValueError(f"no user {user_id}")
        return self.users[user_id]

    # -- the server ---------------------------------------------------------------------

    def handle(self, record: Recorded, target: str) -> Answer:
        fault = self._random_fault(record.method)
        with self.lock:
            self.requests.append(record)
            if fault is not None and fault[0] == "500":
                answer: Answer = (500, {"error": "InternalServerError", "description": "injected 500"}, {})
            elif fault is not None and fault[0] == "429":
                answer = (429, {"error": "TooManyRequests", "description": "Rate limit exceeded"}, {"Retry-After": "0"})
            else:
                answer = self._dispatch(record, target)
            record.status, record.response = answer[0], answer[1]
        self._deliver_pending()
        if fault is not None and fault[0] == "late":
            with self.lock:
                self.late_answers += 1
            time.sleep(fault[1])  # applied; the client has stopped waiting for the answer
        return answer

    def _rate_headers(self, limited: bool) -> dict[str, str]:
        minute = int(time.time() // 60)
        current, used = self._window
        used = used + 1 if current == minute else 1
        self._window = (minute, used)
        return {"X-Rate-Limit": str(RATE_LIMIT),
                "X-Rate-Limit-Remaining": "0" if limited else str(max(RATE_LIMIT - used, 0))}

    def _dispatch(self, record: Recorded, target: str) -> Answer:
        for index, (contains, status, retry_after) in enumerate(self._faults):
            if contains is None or contains in target:
                del self._faults[index]
                extra = self._rate_headers(status == 429)
                if status == 429:
                    extra["Retry-After"] = str(max(int(retry_after or 0), 0))
                    return 429, {"error": "TooManyRequests", "description": "Rate limit exceeded"}, extra
                return status, {"error": "InternalServerError", "description": f"injected {status}"}, extra
        extra = self._rate_headers(False)
        me = self._credentials.get(record.headers.get("Authorization", ""))
        if me is None:
            return 401, {"error": "Couldn't authenticate you"}, extra
        found = _route(record.method, record.path)
        if found is None:
            self.violations.append(f"{record.method} {record.path}: endpoint not in zendesk_schema.json")
            return 404, {"error": "InvalidEndpoint", "description": "Not found"}, extra
        template, handler, params = found
        spec = SCHEMA["endpoints"][f"{record.method} {template}"]
        problem = _check_query(spec, record.query)
        if problem is not None:
            self.violations.append(f"{record.method} {record.path}: {problem}")
            return 400, {"error": "InvalidParameter", "description": problem}, extra
        key = record.headers.get("Idempotency-Key")
        idempotent = bool(key) and f"{record.method} {template}" == "POST /api/v2/tickets"
        fingerprint = json.dumps(record.json, sort_keys=True, default=repr)
        if idempotent:
            assert key is not None
            seen = self._idempotency.get(key)
            if seen is not None:
                if seen[0] != fingerprint:
                    return 400, {"error": "IdempotentRequestError",
                                 "description": "The idempotency key was used with different request parameters"}, extra
                record.idempotency_hit = True
                return seen[1], seen[2], {**extra, "x-idempotency-lookup": "hit"}
        if "body" in spec:
            problem, status = _check_body(spec["body"], record.json)
            if problem is not None:
                self.violations.append(f"{record.method} {record.path}: {problem}")
                error = "RecordInvalid" if status == 422 else "InvalidRequest"
                return status, {"error": error, "description": problem}, extra
        status, answer = getattr(self, handler)(record, params, self.users[me])
        if idempotent:
            assert key is not None
            if status < 500 and status != 429:
                self._idempotency[key] = (fingerprint, status, answer)
            extra["x-idempotency-lookup"] = "miss"
        return status, answer, extra

    # -- users ----------------------------------------------------------------------------

    def _new_user(self, name: str, email: str | None, role: str, external_id: str | None = None,
                  **more: t.Any) -> dict[str, t.Any]:
        user_id = next(self._ids)
        user = {"id": user_id, "url": f"{self.url}/api/v2/users/{user_id}.json", "name": name,
                "email": email.lower() if email else None, "role": role, "external_id": external_id,
                "active": True, "verified": False, "created_at": _now(), "updated_at": _now(), **more}
        self.users[user_id] = user
        return user

    def _find_user(self, email: str | None = None, external_id: str | None = None) -> dict[str, t.Any] | None:
        if external_id:
            for user in self.users.values():
                if user.get("external_id") == external_id:
                    return user
        if email:
            for user in self.users.values():
                if (user.get("email") or "").lower() == email.lower():
                    return user
        return None

    def _users_me(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any]) -> tuple[int, t.Any]:
        return 200, {"user": dict(me)}

    def _users_show(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any]) -> tuple[int, t.Any]:
        user = self.users.get(_int(params["id"]))
        return (200, {"user": dict(user)}) if user else (404, _NOT_FOUND)

    def _users_search(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any]) -> tuple[int, t.Any]:
        if "external_id" in record.query:
            found = [u for u in self.users.values() if u.get("external_id") == record.query["external_id"]]
        else:
            query = record.query["query"].strip()
            field, _, value = query.partition(":")
            if value and field in ("email", "external_id", "name", "role"):
                found = [u for u in self.users.values() if str(u.get(field) or "").lower() == value.lower()]
            else:
                found = [u for u in self.users.values()
                         if query.lower() in (u.get("name") or "").lower() or query.lower() == (u.get("email") or "")]
        return 200, {"users": [dict(u) for u in found], "next_page": None, "previous_page": None, "count": len(found)}

    def _users_create_or_update(self, record: Recorded, params: dict[str, str],
                                me: dict[str, t.Any]) -> tuple[int, t.Any]:
        status, user = self._upsert_user(record.json["user"])
        return status, {"user": dict(user)}

    def _upsert_user(self, data: dict[str, t.Any]) -> tuple[int, dict[str, t.Any]]:
        existing = self._find_user(email=data.get("email"), external_id=data.get("external_id"))
        if existing is not None:
            existing.update({k: (v.lower() if k == "email" and v else v) for k, v in data.items()})
            existing["updated_at"] = _now()
            return 200, existing
        more = {k: v for k, v in data.items() if k not in ("name", "email", "role", "external_id")}
        return 201, self._new_user(data["name"], data.get("email"), data.get("role", "end-user"),
                                   data.get("external_id"), **more)

    # -- tickets --------------------------------------------------------------------------

    def _ticket(self, params: dict[str, str]) -> dict[str, t.Any] | None:
        return self.tickets.get(_int(params["id"]))

    def _tickets_list(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any]) -> tuple[int, t.Any]:
        found = [_ticket_json(x) for x in self.tickets.values()
                 if "external_id" not in record.query or x["external_id"] == record.query["external_id"]]
        if record.query.get("sort_order") == "desc":
            found.reverse()
        return 200, _page("tickets", found, record)

    def _tickets_show(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any]) -> tuple[int, t.Any]:
        ticket = self._ticket(params)
        return (200, {"ticket": _ticket_json(ticket)}) if ticket else (404, _NOT_FOUND)

    def _tickets_create(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any]) -> tuple[int, t.Any]:
        data = record.json["ticket"]
        requester_id = data.get("requester_id")
        if requester_id is None and data.get("requester"):
            requester_id = self._upsert_user(data["requester"])[1]["id"]
        for name in ("requester_id", "assignee_id", "submitter_id"):
            user_id = requester_id if name == "requester_id" else data.get(name)
            if user_id is not None and user_id not in self.users:
                return 422, _invalid(name.removesuffix("_id"), f"{name} {user_id} is invalid")
        author_id = data["comment"].get("author_id")
        if author_id is not None and author_id not in self.users:
            return 422, _invalid("comment", f"author_id {author_id} is invalid")
        source_id = data.get("via_followup_source_id")
        if source_id is not None and self.tickets.get(source_id, {}).get("status") != "closed":
            return 422, _invalid("via_followup_source_id", "a follow-up needs a closed source ticket")
        status = data.get("status") or ("open" if data.get("assignee_id") else "new")
        if status in ("solved", "closed") and not data.get("assignee_id"):
            return 422, _invalid("status", "Status: solved tickets need an assignee")
        ticket_id = next(self._ids)
        via: dict[str, t.Any] = {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}}
        if source_id is not None:
            via = {"channel": "api", "source": {"from": {"ticket_id": source_id}, "to": {}, "rel": "follow_up"}}
        ticket = {
            "id": ticket_id, "url": f"{self.url}/api/v2/tickets/{ticket_id}.json", "subject": data.get("subject"),
            "description": "", "status": status, "priority": data.get("priority"), "type": data.get("type"),
            "requester_id": requester_id or me["id"], "submitter_id": data.get("submitter_id") or me["id"],
            "assignee_id": data.get("assignee_id"), "external_id": data.get("external_id"),
            "tags": _merge_tags([], data.get("tags") or []), "custom_fields": list(data.get("custom_fields") or []),
            "via": via, "via_followup_source_id": source_id, "followup_ids": [],
            "created_at": _now(), "updated_at": _now(), "comments": [],
        }
        if source_id is not None:
            self.tickets[source_id]["followup_ids"].append(ticket_id)
        self.tickets[ticket_id] = ticket
        comment = self._add_comment(ticket, data["comment"], author_id or ticket["submitter_id"], VIA_API)
        ticket["description"] = comment["plain_body"]
        before = {"status": None, "tags": [], "assignee_id": None, "new": True}
        self._updated(ticket, before, me, VIA_API, comment)
        return 201, {"ticket": _ticket_json(ticket), "audit": self._audit(ticket, comment, me, before)}

    def _tickets_update(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any]) -> tuple[int, t.Any]:
        ticket = self._ticket(params)
        if ticket is None:
            return 404, _NOT_FOUND
        data = record.json["ticket"]
        if ticket["status"] == "closed":
            return 422, {"error": "RecordInvalid",
                         "description": f"Ticket {ticket['id']} is closed and cannot be updated",
                         "details": {"status": [{"description": "Status: closed prevents ticket update"}]}}
        assignee = data["assignee_id"] if "assignee_id" in data else ticket.get("assignee_id")
        if assignee is not None and assignee not in self.users:
            return 422, _invalid("assignee", f"assignee_id {assignee} is invalid")
        if data.get("status") in ("solved", "closed") and not assignee:
            return 422, _invalid("status", "Status: solved tickets need an assignee")
        comment_data = data.get("comment")
        author_id = (comment_data or {}).get("author_id") or me["id"]
        if comment_data and author_id not in self.users:
            return 422, _invalid("comment", f"author_id {author_id} is invalid")
        if comment_data and len(ticket["comments"]) >= MAX_COMMENTS:
            return 422, _invalid("base", f"a ticket can have at most {MAX_COMMENTS} comments")
        before = _snapshot(ticket)
        comment = self._add_comment(ticket, comment_data, author_id, VIA_API) if comment_data else None
        for name in ("subject", "priority", "type", "external_id", "assignee_id", "status"):
            if name in data:
                ticket[name] = data[name]
        if "custom_fields" in data:
            ticket["custom_fields"] = list(data["custom_fields"])
        end_user = comment is not None and self.users[author_id]["role"] == "end-user"
        if end_user and "status" not in data and ticket["status"] in ("pending", "hold", "solved"):
            ticket["status"] = "open"  # an end user's comment reopens the ticket
        if ticket["status"] == "new" and ticket.get("assignee_id") and "status" not in data:
            ticket["status"] = "open"
        if "tags" in data:
            ticket["tags"] = _merge_tags([], data["tags"])
        ticket["tags"] = _merge_tags(ticket["tags"], data.get("additional_tags") or [])
        ticket["tags"] = [tag for tag in ticket["tags"] if tag not in set(data.get("remove_tags") or [])]
        self._updated(ticket, before, me, VIA_API, comment)
        return 200, {"ticket": _ticket_json(ticket), "audit": self._audit(ticket, comment, me, before)}

    def _tickets_comments(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any]) -> tuple[int, t.Any]:
        ticket = self._ticket(params)
        if ticket is None:
            return 404, _NOT_FOUND
        comments = [_comment_json(c) for c in ticket["comments"]]
        if record.query.get("sort_order") == "desc":
            comments.reverse()
        return 200, _page("comments", comments, record)

    def _tickets_tags(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any]) -> tuple[int, t.Any]:
        ticket = self._ticket(params)
        if ticket is None:
            return 404, _NOT_FOUND
        if ticket["status"] == "closed":
            return 422, {"error": "RecordInvalid", "description": f"Ticket {ticket['id']} is closed and cannot be updated"}
        before = _snapshot(ticket)
        tags = record.json["tags"]
        if record.method == "PUT":
            ticket["tags"] = _merge_tags(ticket["tags"], tags)
        elif record.method == "POST":
            ticket["tags"] = _merge_tags([], tags)
        else:
            ticket["tags"] = [tag for tag in ticket["tags"] if tag not in set(tags)]
        self._updated(ticket, before, me, VIA_API, None)
        return 200, {"tags": list(ticket["tags"])}

    def _add_comment(self, ticket: dict[str, t.Any], data: dict[str, t.Any], author_id: int,
                     via: int) -> dict[str, t.Any]:
        if data.get("body") is not None:
            body = data["body"]
            html_body = data.get("html_body") or f'<div class="zd-comment"><p>{html.escape(body)}</p></div>'
        else:
            html_body = data["html_body"]
            body = html.unescape(re.sub(r"<[^>]+>", "", re.sub(r"<br\s*/?>|</p>", "\n", html_body))).strip()
        comment = {
            "id": next(self._ids), "type": "Comment", "author_id": author_id, "body": body,
            "html_body": html_body, "plain_body": body, "public": bool(data.get("public", True)),
            "created_at": _now(), "attachments": [{"upload_token": token} for token in data.get("uploads") or []],
            "via": {"channel": "api" if via == VIA_API else "web", "source": {"from": {}, "to": {}, "rel": None}},
            "metadata": {"system": {}, "via_id": via},
        }
        ticket["comments"].append(comment)
        return comment

    def _audit(self, ticket: dict[str, t.Any], comment: dict[str, t.Any] | None, me: dict[str, t.Any],
               before: dict[str, t.Any]) -> dict[str, t.Any]:
        audit_id = next(self._ids)
        events: list[dict[str, t.Any]] = []
        if comment is not None:
            events.append({"id": comment["id"], "type": "Comment", "author_id": comment["author_id"],
                           "body": comment["body"], "html_body": comment["html_body"],
                           "plain_body": comment["plain_body"], "public": comment["public"], "attachments": [],
                           "audit_id": audit_id})
        for name in ("status", "assignee_id"):
            if before.get(name) != ticket.get(name):
                kind = "Create" if before.get("new") else "Change"
                events.append({"id": next(self._ids), "type": kind, "field_name": name, "value": ticket.get(name),
                               **({} if before.get("new") else {"previous_value": before.get(name)})})
        if before.get("tags") != ticket["tags"]:
            events.append({"id": next(self._ids), "type": "Create" if before.get("new") else "Change",
                           "field_name": "tags", "value": list(ticket["tags"]),
                           **({} if before.get("new") else {"previous_value": list(before.get("tags") or [])})})
        return {"id": audit_id, "ticket_id": ticket["id"], "author_id": me["id"], "created_at": _now(),
                "metadata": {"system": {}, "custom": {}}, "events": events,
                "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}}}

    # -- triggers: what happens after every ticket update ---------------------------------

    def _updated(self, ticket: dict[str, t.Any], before: dict[str, t.Any], actor: dict[str, t.Any], via: int,
                 comment: dict[str, t.Any] | None) -> None:
        ticket["updated_at"] = _now()
        done: set[int] = set()
        while True:  # Zendesk's trigger cycle
            ordered = sorted((x for x in self.triggers.values() if x.get("active", True) and x["id"] not in done),
                             key=lambda x: (x.get("position") or 0, x["id"]))
            for trigger in ordered:
                conditions = trigger["conditions"]
                everything = [self._condition(c, ticket, before, actor, via, comment) for c in conditions.get("all") or []]
                anything = [self._condition(c, ticket, before, actor, via, comment) for c in conditions.get("any") or []]
                if all(everything) and (not anything or any(anything)):
                    done.add(trigger["id"])
                    self._act(trigger, ticket, actor)
                    break
            else:
                return

    def _condition(self, condition: dict[str, t.Any], ticket: dict[str, t.Any], before: dict[str, t.Any],
                   actor: dict[str, t.Any], via: int, comment: dict[str, t.Any] | None) -> bool:
        field, operator, value = condition["field"], condition["operator"], condition.get("value")
        if field == "update_type":
            return str(value).lower() == ("create" if before.get("new") else "change")
        if field == "comment_is_public":
            if str(value).lower() == "not_relevant":
                return True
            if comment is None:
                return False
            wanted = str(value).lower() in ("requester_can_see_comment", "true", "public")
            return comment["public"] == wanted
        if field == "current_via_id":
            return (via == int(value)) == (operator == "is")
        if field == "role":
            role = (actor.get("role") or "agent").replace("-", "_")
            roles = {role, "agent"} if role == "admin" else {role}
            return (str(value) in roles) == (operator == "is")
        if field == "current_tags":
            present = bool(set(str(value).split()) & set(ticket["tags"]))
            return present == (operator == "includes")
        if field == "status":
            now, was = ticket["status"], before.get("status")
            rank = STATUSES.index
            return {
                "is": lambda: now == value, "is_not": lambda: now != value,
                "less_than": lambda: rank(now) < rank(value), "greater_than": lambda: rank(now) > rank(value),
                "changed": lambda: now != was, "not_changed": lambda: now == was,
                "value": lambda: now == value and was != value, "not_value": lambda: not (now == value and was != value),
                "value_previous": lambda: was == value and now != value,
                "not_value_previous": lambda: not (was == value and now != value),
            }[operator]()
        return False

    def _act(self, trigger: dict[str, t.Any], ticket: dict[str, t.Any], actor: dict[str, t.Any]) -> None:
        for action in trigger["actions"]:
            field, value = action["field"], action["value"]
            if field == "notification_webhook":
                webhook_id, template = value
                body = _render(template, ticket, actor)
                self.fired.append((str(webhook_id), body))
                webhook = self.webhooks.get(str(webhook_id))
                if self.deliver_webhooks and webhook is not None and webhook.get("status", "active") == "active":
                    self._outbox.append((dict(webhook), body))
            elif field == "current_tags":
                ticket["tags"] = _merge_tags(ticket["tags"], str(value).split())
            elif field == "set_tags":
                ticket["tags"] = _merge_tags([], str(value).split())
            elif field == "remove_tags":
                ticket["tags"] = [tag for tag in ticket["tags"] if tag not in str(value).split()]
            elif field == "status":
                ticket["status"] = str(value)

    def _deliver_pending(self) -> None:
        """Send what triggers fired, outside the lock (the receiver may call this fake back)."""
        with self.lock:
            outbox, self._outbox = self._outbox, []
        for webhook, body in outbox:
            timestamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            headers = {"Content-Type": "application/json", "User-Agent": "Zendesk Webhook",
                       "X-Zendesk-Account-Id": "1", "X-Zendesk-Webhook-Id": webhook["id"],
                       "X-Zendesk-Webhook-Invocation-Id": str(next(self._ids)),
                       "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
                       "X-Zendesk-Webhook-Signature": self.sign(webhook["signing_secret"], timestamp, body.encode())}
            headers.update(webhook.get("custom_headers") or {})
            auth = webhook.get("authentication") or {}
            data = auth.get("data") or {}
            if auth.get("type") == "bearer_token":
                headers["Authorization"] = f"Bearer {data.get('token', '')}"
            elif auth.get("type") == "basic_auth":
                headers["Authorization"] = _basic(data.get("username", ""), data.get("password", ""), token=False)
            elif auth.get("type") == "api_key":
                headers[data.get("name", "X-Api-Key")] = data.get("value", "")
            outcome: dict[str, t.Any] = {"webhook_id": webhook["id"], "endpoint": webhook["endpoint"], "body": body,
                                         "headers": headers, "status": None, "error": None}
            try:
                response = requests.request(webhook.get("http_method", "POST"), webhook["endpoint"],
                                            data=body.encode(), headers=headers, timeout=self.webhook_timeout)
                outcome["status"] = response.status_code
            except requests.RequestException as exc:
                outcome["error"] = f"{type(exc).__name__}: {exc}"
            with self.lock:
                self.deliveries.append(outcome)

    # -- webhooks ---------------------------------------------------------------------------

    def _webhooks_list(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any]) -> tuple[int, t.Any]:
        found = [_public(w) for w in self.webhooks.values()]
        if "filter[name_contains]" in record.query:
            found = [w for w in found if record.query["filter[name_contains]"].lower() in w["name"].lower()]
        if "filter[status]" in record.query:
            found = [w for w in found if w["status"] == record.query["filter[status]"]]
        return 200, {"webhooks": found, "meta": {"has_more": False, "after_cursor": None, "before_cursor": None},
                     "links": {"next": None, "prev": None}}

    def _webhooks_create(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any]) -> tuple[int, t.Any]:
        data = dict(record.json["webhook"])
        problem = _webhook_problem(data)
        if problem:
            return 400, {"errors": [{"code": "InvalidWebhook", "title": "Invalid webhook", "detail": problem}]}
        secret = (data.pop("signing_secret", None) or {}).get("secret") or secrets.token_urlsafe(32)
        webhook_id = "01H" + secrets.token_hex(12).upper()
        webhook = {**{k: v for k, v in data.items() if k != "id"}, "id": webhook_id,
                   "subscriptions": data.get("subscriptions") or [], "created_at": _now(),
                   "created_by": str(me["id"]), "updated_at": _now(), "signing_secret": secret}
        self.webhooks[webhook_id] = webhook
        return 201, {"webhook": _public(webhook)}

    def _webhook(self, params: dict[str, str]) -> dict[str, t.Any] | None:
        return self.webhooks.get(params["id"])

    def _webhooks_show(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any]) -> tuple[int, t.Any]:
        webhook = self._webhook(params)
        return (200, {"webhook": _public(webhook)}) if webhook else (404, _WEBHOOK_NOT_FOUND)

    def _webhooks_update(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any]) -> tuple[int, t.Any]:
        webhook = self._webhook(params)
        if webhook is None:
            return 404, _WEBHOOK_NOT_FOUND
        data = {k: v for k, v in record.json["webhook"].items() if k not in ("id", "signing_secret")}
        problem = _webhook_problem({**webhook, **data})
        if problem:
            return 400, {"errors": [{"code": "InvalidWebhook", "title": "Invalid webhook", "detail": problem}]}
        if record.method == "PUT":  # a full replacement
            keep = {k: webhook[k] for k in ("id", "created_at", "created_by", "signing_secret")}
            webhook.clear()
            webhook.update({"subscriptions": [], **data, **keep})
        else:
            webhook.update(data)
        webhook["updated_at"] = _now()
        return 204, None

    def _webhooks_delete(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any]) -> tuple[int, t.Any]:
        if self.webhooks.pop(params["id"], None) is None:
            return 404, _WEBHOOK_NOT_FOUND
        return 204, None

    def _webhooks_secret(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any]) -> tuple[int, t.Any]:
        webhook = self._webhook(params)
        if webhook is None:
            return 404, _WEBHOOK_NOT_FOUND
        if record.method == "POST":
            webhook["signing_secret"] = secrets.token_urlsafe(32)
        return 200, {"signing_secret": {"algorithm": "SHA256", "secret": webhook["signing_secret"]}}

    # -- triggers ---------------------------------------------------------------------------

    def _triggers_list(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any]) -> tuple[int, t.Any]:
        found = sorted(self.triggers.values(), key=lambda x: (x.get("position") or 0, x["id"]))
        if "active" in record.query:
            found = [x for x in found if x["active"] == (record.query["active"] == "true")]
        return 200, _page("triggers", [dict(x) for x in found], record)

    def _triggers_create(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any]) -> tuple[int, t.Any]:
        return self._save_trigger(None, record.json["trigger"])

    def _triggers_show(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any]) -> tuple[int, t.Any]:
        trigger = self.triggers.get(_int(params["id"]))
        return (200, {"trigger": dict(trigger)}) if trigger else (404, _NOT_FOUND)

    def _triggers_update(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any]) -> tuple[int, t.Any]:
        trigger_id = _int(params["id"])
        if trigger_id not in self.triggers:
            return 404, _NOT_FOUND
        return self._save_trigger(trigger_id, record.json["trigger"])

    def _triggers_delete(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any]) -> tuple[int, t.Any]:
        if self.triggers.pop(_int(params["id"]), None) is None:
            return 404, _NOT_FOUND
        return 204, None

    def _save_trigger(self, trigger_id: int | None, data: dict[str, t.Any]) -> tuple[int, t.Any]:
        current = self.triggers.get(trigger_id) if trigger_id is not None else None
        merged = {**(current or {}), **{k: v for k, v in data.items() if k != "id"}}
        for name in ("title", "conditions", "actions"):
            if name not in merged:
                return 422, _invalid(name, f"{name} is required")
        problem = self._trigger_problem(merged)
        if problem is not None:
            return 422, _invalid(*problem)
        now = _now()
        trigger = {"active": True, "position": 0, "description": None, **merged,
                   "id": trigger_id or next(self._ids), "created_at": (current or {}).get("created_at", now),
                   "updated_at": now}
        trigger["url"] = f"{self.url}/api/v2/triggers/{trigger['id']}.json"
        self.triggers[trigger["id"]] = trigger
        return (200 if current else 201), {"trigger": dict(trigger)}

    def _trigger_problem(self, trigger: dict[str, t.Any]) -> tuple[str, str] | None:
        conditions = trigger["conditions"]
        everything = [*(conditions.get("all") or []), *(conditions.get("any") or [])]
        if not everything:
            return "conditions", "a trigger needs at least one condition"
        for condition in everything:
            field, operator = condition.get("field"), condition.get("operator")
            if field not in CONDITIONS:
                return "conditions", f"unsupported condition field {field!r}"
            if operator not in CONDITIONS[field]:
                return "conditions", f"unsupported operator {operator!r} for {field!r}"
            value = condition.get("value")
            if field == "current_via_id" and not str(value).isdigit():
                return "conditions", f"current_via_id needs a via id, not {value!r}"
            if field == "status" and operator not in ("changed", "not_changed") and value not in STATUSES:
                return "conditions", f"unknown status {value!r}"
            if field == "role" and value not in ("end_user", "agent", "admin"):
                return "conditions", f"unknown role {value!r}"
            if field == "update_type" and str(value).lower() not in ("create", "change"):
                return "conditions", f"unknown update type {value!r}"
        if not trigger["actions"]:
            return "actions", "a trigger needs at least one action"
        for action in trigger["actions"]:
            field, value = action.get("field"), action.get("value")
            if field not in ACTIONS:
                return "actions", f"unsupported action field {field!r}"
            if field == "notification_webhook":
                if not (isinstance(value, list) and len(value) == 2 and isinstance(value[1], str)):
                    return "actions", "notification_webhook needs [webhook id, body]"
                if str(value[0]) not in self.webhooks:
                    return "actions", f"webhook {value[0]!r} not found"
            elif field == "status" and value not in STATUSES:
                return "actions", f"unknown status {value!r}"
            elif not isinstance(value, str):
                return "actions", f"{field} needs space separated tags"
        return None


class _Handler(BaseHTTPRequestHandler):
    fake: FakeZendesk
    protocol_version = "HTTP/1.1"
    #: buffer the answer so headers and body leave in one segment (no Nagle/delayed-ACK stall)
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
        status, answer, extra = self.fake.handle(record, self.path)
        payload = b"" if answer is None else json.dumps(answer).encode()
        try:
            self.send_response(status)
            if answer is not None:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


# -- routing and checking --------------------------------------------------------------------

_UNPARSABLE = object()
_WEBHOOK_NOT_FOUND = {"errors": [{"code": "WebhookNotFound", "title": "Webhook not found",
                                  "detail": "Webhook could not be found"}]}

#: (method, path template, handler); ``.json`` is optional on every path, as at Zendesk
_ROUTES = [
    ("GET", "/api/v2/users/me", "_users_me"),
    ("GET", "/api/v2/users/search", "_users_search"),
    ("POST", "/api/v2/users/create_or_update", "_users_create_or_update"),
    ("GET", "/api/v2/users/{id}", "_users_show"),
    ("GET", "/api/v2/tickets", "_tickets_list"),
    ("POST", "/api/v2/tickets", "_tickets_create"),
    ("GET", "/api/v2/tickets/{id}", "_tickets_show"),
    ("PUT", "/api/v2/tickets/{id}", "_tickets_update"),
    ("GET", "/api/v2/tickets/{id}/comments", "_tickets_comments"),
    ("PUT", "/api/v2/tickets/{id}/tags", "_tickets_tags"),
    ("POST", "/api/v2/tickets/{id}/tags", "_tickets_tags"),
    ("DELETE", "/api/v2/tickets/{id}/tags", "_tickets_tags"),
    ("GET", "/api/v2/webhooks", "_webhooks_list"),
    ("POST", "/api/v2/webhooks", "_webhooks_create"),
    ("GET", "/api/v2/webhooks/{id}/signing_secret", "_webhooks_secret"),
    ("POST", "/api/v2/webhooks/{id}/signing_secret", "_webhooks_secret"),
    ("GET", "/api/v2/webhooks/{id}", "_webhooks_show"),
    ("PUT", "/api/v2/webhooks/{id}", "_webhooks_update"),
    ("PATCH", "/api/v2/webhooks/{id}", "_webhooks_update"),
    ("DELETE", "/api/v2/webhooks/{id}", "_webhooks_delete"),
    ("GET", "/api/v2/triggers", "_triggers_list"),
    ("POST", "/api/v2/triggers", "_triggers_create"),
    ("GET", "/api/v2/triggers/{id}", "_triggers_show"),
    ("PUT", "/api/v2/triggers/{id}", "_triggers_update"),
    ("DELETE", "/api/v2/triggers/{id}", "_triggers_delete"),
]
_COMPILED = [(method, template, handler,
              re.compile("^" + re.escape(template).replace(r"\{id\}", "(?P<id>[^/]+?)") + r"(?:\.json)?$"))
             for method, template, handler in _ROUTES]
assert {f"{m} {p}" for m, p, _ in _ROUTES} == set(SCHEMA["endpoints"]), "routes and zendesk_schema.json differ"


def _route(method: str, path: str) -> tuple[str, str, dict[str, str]] | None:
    for route_method, template, handler, pattern in _COMPILED:
        match = pattern.match(path)
        if match and route_method == method:
            return template, handler, match.groupdict()
    return None


def _check_query(spec: dict[str, t.Any], query: dict[str, str]) -> str | None:
    allowed = spec.get("query", {})
    for name, value in query.items():
        if name not in allowed:
            return f"query parameter {name!r} is not described"
        kind = allowed[name]
        if kind == "integer" and not value.isdigit():
            return f"query parameter {name!r} must be an integer"
        if kind == "boolean" and value not in ("true", "false"):
            return f"query parameter {name!r} must be true or false"
    wanted = spec.get("one_of_required")
    if wanted and not any(name in query for name in wanted):
        return f"one of the query parameters {wanted} is required"
    return None


def _check_body(spec: dict[str, t.Any], body: t.Any) -> tuple[str | None, int]:
    if body is _UNPARSABLE:
        return "the body is not JSON", 400
    wrapper = spec["wrapper"]
    if not isinstance(body, dict) or wrapper not in body:
        return f"the body must be an object with {wrapper!r}", 400
    if set(body) - {wrapper}:
        return f"undescribed top-level keys {sorted(set(body) - {wrapper})}", 400
    if "array" in spec:
        return _check_value(body[wrapper], f"array<{spec['array']}>", wrapper)
    return _check_value(body[wrapper], spec["object"], wrapper)


def _check_value(value: t.Any, kind: str, where: str) -> tuple[str | None, int]:
    if kind.endswith("?"):
        if value is None:
            return None, 0
        kind = kind[:-1]
    if kind == "any":
        return None, 0
    if kind.startswith("array<"):
        if not isinstance(value, list):
            return f"{where} must be an array", 400
        for index, item in enumerate(value):
            problem = _check_value(item, kind[6:-1], f"{where}[{index}]")
            if problem[0]:
                return problem
        return None, 0
    if kind in SCHEMA["objects"]:
        return _check_object(value, SCHEMA["objects"][kind], where)
    if value is None:
        return f"{where} must not be null", 400
    if not isinstance(value, _JSON_TYPES[kind]) or (kind == "integer" and isinstance(value, bool)):
        return f"{where} must be {kind}, not {type(value).__name__}", 400
    return None, 0


def _check_object(value: t.Any, spec: dict[str, t.Any], where: str) -> tuple[str | None, int]:
    if not isinstance(value, dict):
        return f"{where} must be an object", 400
    for name, item in value.items():
        kind = spec["fields"].get(name)
        if kind is None:
            return f"{where}.{name} is not described", 400
        problem = _check_value(item, kind, f"{where}.{name}")
        if problem[0]:
            return problem
        allowed = spec.get("values", {}).get(name)
        if allowed is not None and item is not None and item not in allowed:
            return f"{where}.{name} must be one of {allowed}, not {item!r}", 400
    for name in spec.get("required", []):
        if name not in value:
            return f"{where}.{name} is required", 422
    wanted = spec.get("one_of_required")
    if wanted and not any(value.get(name) is not None for name in wanted):
        return f"{where} needs one of {wanted}", 422
    return None, 0


# -- small helpers ---------------------------------------------------------------------------


def _invalid(field: str, description: str) -> dict[str, t.Any]:
    return {"error": "RecordInvalid", "description": "Record validation errors",
            "details": {field: [{"description": description, "error": "InvalidValue"}]}}


def _page(key: str, items: list[t.Any], record: Recorded) -> dict[str, t.Any]:
    """Everything on one page, in the pagination style the request asked for."""
    if any(name.startswith("page[") for name in record.query):
        return {key: items, "meta": {"has_more": False, "after_cursor": None, "before_cursor": None},
                "links": {"next": None, "prev": None}}
    return {key: items, "next_page": None, "previous_page": None, "count": len(items)}


def _ticket_json(ticket: dict[str, t.Any]) -> dict[str, t.Any]:
    return {k: (list(v) if isinstance(v, list) else v) for k, v in ticket.items() if k != "comments"}


def _comment_json(comment: dict[str, t.Any]) -> dict[str, t.Any]:
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in comment.items()}


def _public(webhook: dict[str, t.Any]) -> dict[str, t.Any]:
    return {k: v for k, v in webhook.items() if k != "signing_secret"}


def _webhook_problem(webhook: dict[str, t.Any]) -> str | None:
    endpoint = urllib.parse.urlsplit(webhook.get("endpoint") or "")
    if endpoint.scheme not in ("http", "https") or not endpoint.netloc:
        return f"endpoint {webhook.get('endpoint')!r} is not a URL"
    unknown = set(webhook.get("subscriptions") or []) - {"conditional_ticket_events"} - {
        s for s in webhook.get("subscriptions") or [] if s.startswith("zen:event-type:")}
    if unknown:
        return f"unknown subscriptions {sorted(unknown)}"
    return None


def _snapshot(ticket: dict[str, t.Any]) -> dict[str, t.Any]:
    return {"status": ticket["status"], "tags": list(ticket["tags"]), "assignee_id": ticket.get("assignee_id"),
            "new": False}


def _merge_tags(current: t.Sequence[str], more: t.Sequence[str]) -> list[str]:
    merged = list(current)
    for tag in more:
        tag = tag.strip().lower()  # Zendesk stores tags in lower case
        if tag and tag not in merged:
            merged.append(tag)
    return merged


def _render(template: str, ticket: dict[str, t.Any], actor: dict[str, t.Any]) -> str:
    values = {
        "ticket.id": ticket["id"], "ticket.external_id": ticket.get("external_id") or "",
        "ticket.status": ticket["status"], "ticket.tags": " ".join(ticket["tags"]),
        "ticket.title": ticket.get("subject") or "", "ticket.requester.id": ticket.get("requester_id") or "",
        "ticket.assignee.id": ticket.get("assignee_id") or "",
        "current_user.id": actor.get("id") or "", "current_user.role": actor.get("role") or "",
        "current_user.email": actor.get("email") or "", "current_user.name": actor.get("name") or "",
    }
    return re.sub(r"\{\{\s*([a-z_.]+)\s*\}\}", lambda m: str(values.get(m.group(1), "")), template)


def _basic(user: str, secret: str, token: bool = True) -> str:
    login = f"{user}/token:{secret}" if token else f"{user}:{secret}"
    return "Basic " + base64.b64encode(login.encode()).decode()


def _basic_token(credential: str) -> str | None:
    if not credential.startswith("Basic "):
        return None
    return base64.b64decode(credential[6:]).decode().partition("/token:")[2] or None


def _int(value: str) -> int:
    return int(value) if value.isdigit() else -1


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


FakeZendesk.handler = _Handler
FakeZendesk.handler_attribute = "fake"
