"""A stateful local fake of the Gorgias REST API, with the HTTP integration's calls.

``with FakeGorgias() as gorgias:`` starts a real HTTP server on 127.0.0.1 (a free port, a
daemon thread); ``gorgias.api_url`` (``<url>/api``) stands in for
``https://<domain>.gorgias.com/api``.

State: users (agents, and the API user), customers, tickets with their messages and tags,
HTTP integrations and macros, readable by tests (:attr:`users`, :attr:`customers`,
:attr:`tickets`, :attr:`integrations`, :attr:`macros`) and guarded by one lock. Every
request is recorded in :attr:`requests`.

Every request is checked against our own summary of the Gorgias API
(``tests/contracts/gorgias_schema.json``): an undescribed endpoint or query parameter, an
undescribed field, a wrong JSON type or value, a missing required field, a string or list
over its limit, or a JSON body without ``Content-Type: application/json`` is recorded in
:attr:`violations` and answered 400. Connector tests assert the list stays empty.

Gorgias' rules kept here:

* Basic auth ``email:API_KEY`` of a user (:meth:`add_api_key`), otherwise 401; with
  :attr:`account_exists` false, every request is 404 (what an unknown domain answers);
* the leaky bucket per account: :attr:`capacity` requests, leaking ``capacity / window``
  per second (40 per 20 s for API keys). A request that does not fit is answered 429 with
  ``Retry-after`` (whole seconds until one fits); every answer carries
  ``X-Gorgias-Account-Api-Call-Limit: <used>/<capacity>``. Authentication failures and
  404s for unknown accounts do not count;
* a message with ``sent_datetime`` is imported, never sent; one without it that is public,
  from an agent and not an internal note would be sent to the customer, and is appended to
  :attr:`sent_out`. A ticket's messages keep their order of creation;
* statuses are ``open`` and ``closed``; a customer's own message (:meth:`customer_message`)
  reopens a closed ticket, a message imported through the API does not (the connector
  reopens it itself);
* ``PUT /api/tickets/{id}`` with ``tags`` replaces every tag; ``POST .../tags`` adds,
  ``PUT .../tags`` replaces, ``DELETE .../tags`` removes just the named ones;
* customers: ``channels[]`` is required; a second customer with an e-mail address that is
  already taken is refused (400); ``GET /api/customers`` filters by ``email`` and ``name``
  only (``external_id`` is stored, never a filter);
* tickets list filters by ``external_id`` and ``customer_id``; lists are cursor-paginated
  (``limit`` 30 by default, at most 100; ``meta.next_cursor``);
* HTTP integrations (``type: "http"``): after a request (or a helper) that creates a
  message, the fake fires ``ticket-message-created``; after one that changes a ticket's
  status, tags, assignee, subject or priority, ``ticket-updated``; creating a ticket fires
  ``ticket-created`` only (its first messages fire nothing of their own). Every active
  integration subscribed to the trigger gets its ``http.form`` rendered and sent, from
  the fake's own sender thread once the triggering request has been answered
  (:meth:`settle` waits for them). Rendering is Gorgias': ``{{ticket.id}}``,
  ``{{message.from_agent}}``, ``{{event.type}}``... become the value as Jinja prints it
  (``True``/``False``, ``None``, Python's repr of lists and objects, nothing for an
  undefined name such as ``{{message.id}}`` in ``ticket-updated``); ``{{x|tojson}}``
  becomes JSON. Each call and its outcome are appended to :attr:`calls`. An integration
  whose endpoint failed 100 times in a row is deactivated, as Gorgias does.

Agents and automation in the Gorgias UI are test helpers: :meth:`agent_reply`,
:meth:`internal_note`, :meth:`rule_message`, :meth:`customer_message`, :meth:`close_ticket`,
:meth:`reopen_ticket`, :meth:`add_tag`, :meth:`remove_tag`, :meth:`apply_macro`.

Faults: :meth:`fill_bucket` (the next request gets 429), :meth:`rate_limit` (429 for the
next matching requests) and :meth:`fail` (any status), applied before authentication.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import html
import itertools
import json
import math
import queue
import re
import threading
import time
import typing as t
import urllib.parse
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path

import requests
from requests.structures import CaseInsensitiveDict

from tests.fakes.server import LocalServer

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "contracts" / "gorgias_schema.json"
SCHEMA: dict[str, t.Any] = json.loads(SCHEMA_PATH.read_text())
LIMITS = SCHEMA["limits"]
TRIGGERS = set(SCHEMA["objects"]["Triggers"]["fields"])
DISABLE_AFTER_FAILURES = 100

_JSON_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "integer": (int,), "boolean": (bool,),
                                            "object": (dict,), "array": (list,), "datetime": (str,)}
_NOT_FOUND = {"error": {"msg": "Resource not found"}}

Answer = tuple[int, t.Any, dict[str, str]]
Call = tuple[dict[str, t.Any], str, dict[str, t.Any]]  # (integration, trigger, context)


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
    received: float = dataclasses.field(default_factory=time.monotonic)


class FakeGorgias(LocalServer):
    """``with FakeGorgias() as gorgias:``; ``gorgias.api_url`` replaces ``https://<domain>.gorgias.com/api``."""

    def __init__(self, port: int = 0, domain: str = "acme", capacity: int = 40, window: float = 20.0) -> None:
        self.port = port
        self.domain = domain
        self.lock = threading.RLock()
        self._ids = itertools.count(1001)
        self._event_ids = itertools.count(900001)
        self.users: dict[int, dict[str, t.Any]] = {}
        self.customers: dict[int, dict[str, t.Any]] = {}
        self.tickets: dict[int, dict[str, t.Any]] = {}
        self.tags: dict[str, dict[str, t.Any]] = {}
        self.integrations: dict[int, dict[str, t.Any]] = {}
        self.macros: dict[int, dict[str, t.Any]] = {}
        self.requests: list[Recorded] = []
        self.violations: list[str] = []
        self.sent_out: list[dict[str, t.Any]] = []
        self.calls: list[dict[str, t.Any]] = []
        self.account_exists = True
        self.capacity = capacity
        self.window = window
        self.call_timeout = 5.0
        #: how integration calls leave: ``transport(method, url, headers, body) -> status`` (default: requests)
        self.transport: t.Callable[[str, str, dict[str, str], bytes], int] | None = None
        self._credentials: dict[tuple[str, str], int] = {}  # (e-mail, API key) -> user id
        self._bucket: tuple[float, float] = (0.0, time.monotonic())  # (level, at)
        self._faults: list[tuple[str | None, int, float | None]] = []
        self._outbox: queue.Queue[tuple[Call, threading.Event] | None] = queue.Queue()
        self._sender: threading.Thread | None = None
        self._server: ThreadingHTTPServer | None = None

    # -- life cycle ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    def start(self) -> "FakeGorgias":
        super().start()
        if self._sender is None:
            self._sender = threading.Thread(target=self._send_calls, daemon=True)
            self._sender.start()
        return self

    def stop(self) -> None:
        super().stop()
        if self._sender is not None:
            self._outbox.put(None)
            self._sender.join(timeout=5)
            self._sender = None

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until every integration call fired so far has been sent and answered."""
        deadline = time.monotonic() + timeout
        while self._outbox.unfinished_tasks:
            if time.monotonic() > deadline:
                raise AssertionError("the fake Gorgias' integration calls did not finish in time")
            time.sleep(0.01)

    # -- set-up -------------------------------------------------------------------------

    def add_api_key(self, email: str, api_key: str, name: str = "Handover Bot") -> dict[str, t.Any]:
        """A user (an admin) who calls the API with Basic ``email:api_key``."""
        with self.lock:
            user = self._user_by_email(email) or self._new_user(name, email, "admin")
            self._credentials[(email.lower(), api_key)] = user["id"]
            return dict(user)

    def revoke(self, api_key: str) -> None:
        with self.lock:
            for key in [k for k in self._credentials if k[1] == api_key]:
                del self._credentials[key]

    def add_agent(self, name: str, email: str, role: str = "agent") -> dict[str, t.Any]:
        with self.lock:
            return dict(self._new_user(name, email, role))

    def add_customer(self, name: str, email: str | None = None) -> dict[str, t.Any]:
        with self.lock:
            return dict(self._new_customer({"name": name, "email": email, "channels": []}))

    # -- faults -------------------------------------------------------------------------

    def fill_bucket(self) -> None:
        """The account's bucket is full: the next request gets 429 (Retry-after: 1)."""
        with self.lock:
            self._bucket = (float(self.capacity), time.monotonic())

    def empty_bucket(self, capacity: int | None = None, window: float | None = None) -> None:
        """Start the account's bucket afresh (optionally with another size), as after a quiet spell."""
        with self.lock:
            self.capacity = capacity or self.capacity
            self.window = window or self.window
            self._bucket = (0.0, time.monotonic())

    def rate_limit(self, times: int = 1, retry_after: float = 1, path_contains: str | None = None) -> None:
        with self.lock:
            self._faults.extend([(path_contains, 429, retry_after)] * times)

    def fail(self, times: int = 1, status: int = 500, path_contains: str | None = None) -> None:
        with self.lock:
            self._faults.extend([(path_contains, status, None)] * times)

    # -- agents, rules and customers in Gorgias (test helpers) --------------------------------

    def agent_reply(self, ticket_id: int, text: str, agent: dict[str, t.Any] | int,
                    channel: str | None = None) -> dict[str, t.Any]:
        """An agent's public reply from the helpdesk (Gorgias sends it)."""
        return self._ui_message(ticket_id, text, agent, channel=channel, public=True, via="helpdesk")

    def internal_note(self, ticket_id: int, text: str, agent: dict[str, t.Any] | int) -> dict[str, t.Any]:
        return self._ui_message(ticket_id, text, agent, channel="internal-note", public=False, via="helpdesk")

    def rule_message(self, ticket_id: int, text: str, rule_id: int = 77,
                     agent: dict[str, t.Any] | int | None = None) -> dict[str, t.Any]:
        """A message a rule sends (an auto-reply): public, from the agent side, ``via: rule``."""
        return self._ui_message(ticket_id, text, agent, public=True, via="rule", rule_id=rule_id)

    def customer_message(self, ticket_id: int, text: str) -> dict[str, t.Any]:
        """The customer writes again through the ticket's channel (reopens a closed ticket)."""
        calls: list[Call] = []
        with self.lock:
            ticket = self.tickets[ticket_id]
            before = _snapshot(ticket)
            message = self._add_message(ticket, {"channel": ticket["channel"], "via": ticket["via"],
                                                 "from_agent": False, "body_text": text,
                                                 "sender": {"id": ticket["customer_id"]},
                                                 "sent_datetime": _now()}, calls)
            if ticket["status"] == "closed":
                self._set_status(ticket, "open")
            self._ticket_changed(ticket, before, calls)
            answer = _message_json(message)
        self._queue(calls)
        return answer

    def close_ticket(self, ticket_id: int, agent: dict[str, t.Any] | int | None = None) -> None:
        self._ui_update(ticket_id, lambda ticket: self._set_status(ticket, "closed"))

    def reopen_ticket(self, ticket_id: int, agent: dict[str, t.Any] | int | None = None) -> None:
        self._ui_update(ticket_id, lambda ticket: self._set_status(ticket, "open"))

    def add_tag(self, ticket_id: int, name: str, agent: dict[str, t.Any] | int | None = None) -> None:
        self._ui_update(ticket_id, lambda ticket: self._add_tags(ticket, [name]))

    def remove_tag(self, ticket_id: int, name: str, agent: dict[str, t.Any] | int | None = None) -> None:
        self._ui_update(ticket_id, lambda ticket: self._remove_tags(ticket, [name]))

    def apply_macro(self, ticket_id: int, macro_id: int, agent: dict[str, t.Any] | int | None = None) -> None:
        """An agent applies a macro to the ticket: its actions run, one ticket update."""
        macro = self.macros[macro_id]

        def run(ticket: dict[str, t.Any]) -> None:
            for action in macro["actions"]:
                arguments = action.get("arguments") or {}
                if action["name"] == "addTags":
                    self._add_tags(ticket, _tag_list(arguments.get("tags")))
                elif action["name"] == "removeTags":
                    self._remove_tags(ticket, _tag_list(arguments.get("tags")))
                elif action["name"] == "setStatus":
                    self._set_status(ticket, arguments["status"])
                else:
                    raise ValueError(f"the fake does not run macro action {action['name']!r}")

        with self.lock:
            macro["usage"] = macro.get("usage", 0) + 1
        self._ui_update(ticket_id, run)

    def ticket_by_external_id(self, external_id: str) -> dict[str, t.Any] | None:
        with self.lock:
            found = [x for x in self.tickets.values() if x.get("external_id") == external_id]
            return _ticket_json(self, found[0]) if found else None

    def messages_of(self, ticket_id: int) -> list[dict[str, t.Any]]:
        with self.lock:
            return [_message_json(m) for m in self.tickets[ticket_id]["messages"]]

    def tag_names(self, ticket_id: int) -> list[str]:
        with self.lock:
            return list(self.tickets[ticket_id]["tags"])

    def _ui_message(self, ticket_id: int, text: str, agent: dict[str, t.Any] | int | None, *,
                    channel: str | None = None, public: bool, via: str, rule_id: int | None = None) -> dict[str, t.Any]:
        calls: list[Call] = []
        with self.lock:
            ticket = self.tickets[ticket_id]
            author = self._agent(agent)
            sent = public and (channel or ticket["channel"]) != "internal-note"
            data = {"channel": channel or ticket["channel"], "via": via, "from_agent": True, "public": public,
                    "body_text": text, "body_html": f"<div>{html.escape(text)}</div>", "sender": {"id": author["id"]}}
            before = _snapshot(ticket)
            message = self._add_message(ticket, data, calls, rule_id=rule_id, send=sent)
            self._ticket_changed(ticket, before, calls)
            answer = _message_json(message)
        self._queue(calls)
        return answer

    def _ui_update(self, ticket_id: int, change: t.Callable[[dict[str, t.Any]], None]) -> None:
        calls: list[Call] = []
        with self.lock:
            ticket = self.tickets[ticket_id]
            before = _snapshot(ticket)
            change(ticket)
            self._ticket_changed(ticket, before, calls)
        self._queue(calls)

    def _agent(self, agent: dict[str, t.Any] | int | None) -> dict[str, t.Any]:
        if isinstance(agent, dict):
            agent = agent["id"]
        if agent is None:
            agents = [u for u in self.users.values() if u["role"]["name"] == "agent"]
            if not agents:
                raise ValueError("add_agent() first")
            return agents[0]
        return self.users[agent]

    # -- the server ---------------------------------------------------------------------

    def handle(self, record: Recorded, target: str) -> tuple[int, t.Any, dict[str, str], list[Call]]:
        calls: list[Call] = []
        with self.lock:
            self.requests.append(record)
            status, answer, extra = self._dispatch(record, target, calls)
            record.status, record.response = status, answer
        return status, answer, extra, calls

    def _leak(self) -> float:
        level, at = self._bucket
        now = time.monotonic()
        return max(0.0, level - (now - at) * self.capacity / self.window)

    def _take(self) -> tuple[bool, dict[str, str]]:
        level = self._leak()
        if level + 1 > self.capacity:
            self._bucket = (level, time.monotonic())
            wait = (level + 1 - self.capacity) * self.window / self.capacity
            return False, {"Retry-after": str(max(1, math.ceil(wait))),
                           "X-Gorgias-Account-Api-Call-Limit": f"{math.ceil(level)}/{self.capacity}"}
        self._bucket = (level + 1, time.monotonic())
        return True, {"X-Gorgias-Account-Api-Call-Limit": f"{math.ceil(level + 1)}/{self.capacity}"}

    def _dispatch(self, record: Recorded, target: str, calls: list[Call]) -> Answer:
        for index, (contains, status, retry_after) in enumerate(self._faults):
            if contains is None or contains in target:
                del self._faults[index]
                if status == 429:
                    return 429, {"error": {"msg": "Too many requests"}}, {
                        "Retry-after": f"{retry_after:g}", "X-Gorgias-Account-Api-Call-Limit": f"{self.capacity}/{self.capacity}"}
                return status, {"error": {"msg": f"injected {status}"}}, {}
        if not self.account_exists:
            return 404, {"error": {"msg": "Account not found"}}, {}
        me = self._credentials.get(_basic_login(record.headers.get("Authorization", "")) or ("", ""))
        if me is None:
            return 401, {"error": {"msg": "Unauthorized: wrong username or API key"}}, {}
        ok, extra = self._take()
        if not ok:
            return 429, {"error": {"msg": "Too many requests"}}, extra
        found = _route(record.method, record.path)
        if found is None:
            self.violations.append(f"{record.method} {record.path}: endpoint not in gorgias_schema.json")
            return 404, _NOT_FOUND, extra
        template, handler, params = found
        spec = SCHEMA["endpoints"][f"{record.method} {template}"]
        problem = _check_query(spec, record.query)
        if problem is None and "body" in spec:
            problem = _check_body(spec["body"], record)
        elif problem is None and record.body:
            problem = "this endpoint takes no body"
        if problem is not None:
            self.violations.append(f"{record.method} {record.path}: {problem}")
            return 400, {"error": {"msg": "Invalid request", "data": problem}}, extra
        status, answer = getattr(self, handler)(record, params, self.users[me], calls)
        return status, answer, extra

    # -- account, users, customers --------------------------------------------------------

    def _account(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any], calls: list[Call]) -> tuple[int, t.Any]:
        return 200, {"domain": self.domain, "created_datetime": "2024-01-01T00:00:00+00:00",
                     "status": {"status": "active"}, "current_user": _user_json(me)}

    def _users_show(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any], calls: list[Call]) -> tuple[int, t.Any]:
        user = self.users.get(_int(params["id"]))
        return (200, _user_json(user)) if user else (404, _NOT_FOUND)

    def _new_user(self, name: str, email: str, role: str) -> dict[str, t.Any]:
        user_id = next(self._ids)
        first, _, last = name.partition(" ")
        user = {"id": user_id, "email": email.lower(), "name": name, "firstname": first, "lastname": last,
                "role": {"name": role}, "active": True, "created_datetime": _now()}
        self.users[user_id] = user
        return user

    def _user_by_email(self, email: str) -> dict[str, t.Any] | None:
        return next((u for u in self.users.values() if u["email"] == email.lower()), None)

    def _customer_by_email(self, email: str) -> dict[str, t.Any] | None:
        email = email.lower()
        for customer in self.customers.values():
            if customer.get("email") == email or any(
                    c["type"] == "email" and c["address"] == email for c in customer["channels"]):
                return customer
        return None

    def _new_customer(self, data: dict[str, t.Any]) -> dict[str, t.Any]:
        customer_id = next(self._ids)
        channels = [{"id": next(self._ids), "type": c["type"], "address": c["address"].lower() if c["type"] == "email"
                     else c["address"], "preferred": bool(c.get("preferred"))} for c in data.get("channels") or []]
        email = (data.get("email") or "").lower() or None
        if email and not any(c["type"] == "email" and c["address"] == email for c in channels):
            channels.append({"id": next(self._ids), "type": "email", "address": email, "preferred": not channels})
        if email is None:
            email = next((c["address"] for c in channels if c["type"] == "email"), None)
        name = data.get("name") or " ".join(x for x in (data.get("firstname"), data.get("lastname")) if x) or email
        customer = {"id": customer_id, "email": email, "name": name, "firstname": data.get("firstname") or "",
                    "lastname": data.get("lastname") or "", "external_id": data.get("external_id"),
                    "language": data.get("language"), "timezone": data.get("timezone"), "note": data.get("note"),
                    "channels": channels, "data": data.get("data"), "meta": data.get("meta"),
                    "created_datetime": _now(), "updated_datetime": _now()}
        self.customers[customer_id] = customer
        return customer

    def _customers_list(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any], calls: list[Call]) -> tuple[int, t.Any]:
        found = list(self.customers.values())
        if "email" in record.query:
            match = self._customer_by_email(record.query["email"])
            found = [match] if match else []
        if "name" in record.query:
            found = [c for c in found if (c.get("name") or "").lower() == record.query["name"].lower()]
        return _page(record, [dict(c) for c in found])

    def _customers_create(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any], calls: list[Call]) -> tuple[int, t.Any]:
        data = record.json
        emails = [c["address"] for c in data["channels"] if c["type"] == "email"] + (
            [data["email"]] if data.get("email") else [])
        for email in emails:
            if self._customer_by_email(email) is not None:
                return 400, {"error": {"msg": "Invalid request",
                                       "data": {"channels": [f"a customer with the address {email} already exists"]}}}
        return 201, dict(self._new_customer(data))

    # -- tickets --------------------------------------------------------------------------

    def _ticket(self, params: dict[str, str]) -> dict[str, t.Any] | None:
        return self.tickets.get(_int(params["id"]))

    def _tickets_list(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any], calls: list[Call]) -> tuple[int, t.Any]:
        found = list(self.tickets.values())
        if "external_id" in record.query:
            found = [x for x in found if x.get("external_id") == record.query["external_id"]]
        if "customer_id" in record.query:
            found = [x for x in found if x["customer_id"] == int(record.query["customer_id"])]
        return _page(record, [_ticket_json(self, x) for x in found])

    def _tickets_show(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any], calls: list[Call]) -> tuple[int, t.Any]:
        ticket = self._ticket(params)
        return (200, _ticket_json(self, ticket)) if ticket else (404, _NOT_FOUND)

    def _party(self, party: dict[str, t.Any] | None, agent: bool) -> dict[str, t.Any] | None:
        if not party:
            return None
        if agent:
            if "id" in party:
                return self.users.get(party["id"])
            return self._user_by_email(party["email"])
        if "id" in party:
            return self.customers.get(party["id"])
        return self._customer_by_email(party["email"])

    def _tickets_create(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any], calls: list[Call]) -> tuple[int, t.Any]:
        data = record.json
        customer = self._party(data.get("customer"), agent=False)
        if customer is None and data.get("customer", {}).get("email"):
            customer = self._new_customer({"email": data["customer"]["email"], "name": data["customer"].get("name"),
                                           "channels": []})
        if customer is None:
            first = data["messages"][0]
            if not first["from_agent"]:
                customer = self._party(first.get("sender"), agent=False)
        if customer is None:
            return 400, _invalid("customer", "a ticket needs a customer (by id or e-mail)")
        for index, message in enumerate(data["messages"]):
            problem = self._message_problem(message)
            if problem:
                return 400, _invalid(f"messages.{index}", problem)
        ticket_id = next(self._ids)
        now = _now()
        ticket = {"id": ticket_id, "external_id": data.get("external_id"), "status": data.get("status", "open"),
                  "priority": data.get("priority", "normal"), "channel": data.get("channel") or data["messages"][0]["channel"],
                  "via": data.get("via") or data["messages"][0]["via"], "from_agent": data.get("from_agent", False),
                  "customer_id": customer["id"], "assignee_user_id": None, "subject": data.get("subject") or "",
                  "tags": [], "messages": [], "language": data.get("language"), "meta": data.get("meta"),
                  "spam": data.get("spam", False), "created_datetime": now, "opened_datetime": now,
                  "updated_datetime": now, "closed_datetime": now if data.get("status") == "closed" else None}
        self._add_tags(ticket, [tag.get("name") or self._tag_name(tag["id"]) for tag in data.get("tags") or []])
        self.tickets[ticket_id] = ticket
        for message in data["messages"]:
            self._add_message(ticket, message, None)
        self._fire("ticket-created", ticket, None, calls)
        return 201, _ticket_json(self, ticket)

    def _tickets_update(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any], calls: list[Call]) -> tuple[int, t.Any]:
        ticket = self._ticket(params)
        if ticket is None:
            return 404, _NOT_FOUND
        data = record.json
        before = _snapshot(ticket)
        if "status" in data:
            self._set_status(ticket, data["status"])
        for name in ("priority", "subject", "external_id", "spam", "language", "meta"):
            if name in data:
                ticket[name] = data[name]
        if "assignee_user" in data:
            user = self._party(data["assignee_user"], agent=True)
            if data["assignee_user"] and user is None:
                return 400, _invalid("assignee_user", "unknown user")
            ticket["assignee_user_id"] = user["id"] if user else None
        if "tags" in data:
            ticket["tags"] = []
            self._add_tags(ticket, [tag.get("name") or self._tag_name(tag["id"]) for tag in data["tags"]])
        self._ticket_changed(ticket, before, calls)
        return 200, _ticket_json(self, ticket)

    def _tickets_tags(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any], calls: list[Call]) -> tuple[int, t.Any]:
        ticket = self._ticket(params)
        if ticket is None:
            return 404, _NOT_FOUND
        names = list(record.json.get("names") or [])
        for tag_id in record.json.get("ids") or []:
            name = self._tag_name(tag_id)
            if name is None:
                return 400, _invalid("ids", f"unknown tag {tag_id}")
            names.append(name)
        before = _snapshot(ticket)
        if record.method == "POST":
            self._add_tags(ticket, names)
        elif record.method == "PUT":
            ticket["tags"] = []
            self._add_tags(ticket, names)
        else:
            self._remove_tags(ticket, names)
        self._ticket_changed(ticket, before, calls)
        return (204 if record.method == "DELETE" else 201), None

    def _messages_list(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any], calls: list[Call]) -> tuple[int, t.Any]:
        ticket = self._ticket(params)
        if ticket is None:
            return 404, _NOT_FOUND
        messages = [_message_json(m) for m in ticket["messages"]]
        if record.query.get("order_by", "created_datetime:asc") == "created_datetime:desc":
            messages.reverse()
        return _page(record, messages)

    def _messages_create(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any], calls: list[Call]) -> tuple[int, t.Any]:
        ticket = self._ticket(params)
        if ticket is None:
            return 404, _NOT_FOUND
        problem = self._message_problem(record.json)
        if problem:
            return 400, _invalid("sender", problem)
        before = _snapshot(ticket)
        message = self._add_message(ticket, record.json, calls)
        self._ticket_changed(ticket, before, calls)
        return 201, _message_json(message)

    def _message_problem(self, data: dict[str, t.Any]) -> str | None:
        sender = data.get("sender")
        if sender is None:
            return None if data["from_agent"] else "a customer message needs a sender"
        if self._party(sender, agent=data["from_agent"]) is None:
            kind = "user" if data["from_agent"] else "customer"
            return f"the sender must be an existing {kind} (from_agent is {data['from_agent']})"
        return None

    def _add_message(self, ticket: dict[str, t.Any], data: dict[str, t.Any], calls: list[Call] | None, *,
                     rule_id: int | None = None, send: bool | None = None) -> dict[str, t.Any]:
        from_agent = data["from_agent"]
        sender = self._party(data.get("sender"), agent=from_agent)
        if sender is None and from_agent:
            sender = next(iter(self.users.values()))
        internal = data["channel"] == "internal-note"
        public = data.get("public", not internal) and not internal
        text = data.get("body_text")
        body_html = data.get("body_html")
        if text is None:
            text = html.unescape(re.sub(r"<[^>]+>", "", re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", body_html or ""))).strip()
        if body_html is None:
            body_html = f"<div>{html.escape(text)}</div>"
        now = _now()
        message = {
            "id": next(self._ids), "ticket_id": ticket["id"], "external_id": data.get("external_id"),
            "message_id": data.get("message_id"), "public": public, "channel": data["channel"], "via": data["via"],
            "source": data.get("source") or {"type": data["channel"]}, "rule_id": rule_id, "integration_id": None,
            "from_agent": from_agent, "subject": data.get("subject"), "body_text": text, "body_html": body_html,
            "stripped_text": text, "attachments": list(data.get("attachments") or []),
            "sender": _party_json(sender), "receiver": None if from_agent else None, "meta": data.get("meta"),
            "created_datetime": data.get("created_datetime") or now, "sent_datetime": data.get("sent_datetime"),
            "failed_datetime": None, "deleted_datetime": None, "opened_datetime": None,
        }
        if from_agent and not internal:
            message["receiver"] = _party_json(self.customers.get(ticket["customer_id"]))
        would_send = send if send is not None else (from_agent and public and message["sent_datetime"] is None)
        if would_send:
            message["sent_datetime"] = now
            self.sent_out.append(dict(message))
        ticket["messages"].append(message)
        ticket["updated_datetime"] = now
        if calls is not None:
            self._fire("ticket-message-created", ticket, message, calls)
        return message

    def _set_status(self, ticket: dict[str, t.Any], status: str) -> None:
        if status not in ("open", "closed"):
            raise ValueError(f"unknown status {status!r}")
        if ticket["status"] != status:
            ticket["status"] = status
            ticket["closed_datetime"] = _now() if status == "closed" else None

    def _tag(self, name: str) -> dict[str, t.Any]:
        tag = self.tags.get(name.lower())
        if tag is None:
            tag = self.tags[name.lower()] = {"id": next(self._ids), "name": name, "uri": None, "decoration": None}
        return tag

    def _tag_name(self, tag_id: int) -> str | None:
        return next((tag["name"] for tag in self.tags.values() if tag["id"] == tag_id), None)

    def _add_tags(self, ticket: dict[str, t.Any], names: t.Iterable[str]) -> None:
        for name in names:
            name = name.strip()
            if name and name.lower() not in {x.lower() for x in ticket["tags"]}:
                ticket["tags"].append(self._tag(name)["name"])

    def _remove_tags(self, ticket: dict[str, t.Any], names: t.Iterable[str]) -> None:
        drop = {name.strip().lower() for name in names}
        ticket["tags"] = [tag for tag in ticket["tags"] if tag.lower() not in drop]

    def _ticket_changed(self, ticket: dict[str, t.Any], before: dict[str, t.Any], calls: list[Call]) -> None:
        if _snapshot(ticket) != before:
            ticket["updated_datetime"] = _now()
            self._fire("ticket-updated", ticket, None, calls)

    # -- HTTP integrations ----------------------------------------------------------------

    def _fire(self, trigger: str, ticket: dict[str, t.Any], message: dict[str, t.Any] | None,
              calls: list[Call]) -> None:
        event = {"id": next(self._event_ids), "type": trigger, "created_datetime": _now()}
        context: dict[str, t.Any] = {"ticket": _ticket_json(self, ticket), "event": event}
        if message is not None:
            context["message"] = _message_json(message)
        for integration in self.integrations.values():
            http = integration["http"]
            if integration.get("deactivated_datetime") is None and http.get("triggers", {}).get(trigger):
                calls.append((integration, trigger, context))

    def _queue(self, calls: list[Call], answered: threading.Event | None = None) -> None:
        """Hand calls to the sender thread; they leave once ``answered`` is set (None: at once)."""
        if answered is None:
            answered = threading.Event()
            answered.set()
        for call in calls:
            self._outbox.put((call, answered))

    def _send_calls(self) -> None:
        while True:
            item = self._outbox.get()
            try:
                if item is None:
                    return
                call, answered = item
                answered.wait(10)
                self._send_one(*call)
            finally:
                self._outbox.task_done()

    def _send_one(self, integration: dict[str, t.Any], trigger: str, context: dict[str, t.Any]) -> None:
        with self.lock:
            current = self.integrations.get(integration["id"])
            if current is None or current.get("deactivated_datetime") is not None:
                return  # deleted or switched off since it fired
            http = json.loads(json.dumps(current["http"]))
        form = http.get("form")
        rendered = render(form, context) if form is not None else {}
        if http.get("request_content_type", "application/json") == "application/json":
            body = (rendered if isinstance(rendered, str) else json.dumps(rendered)).encode()
            content_type = "application/json"
        else:
            body = urllib.parse.urlencode(rendered if isinstance(rendered, dict) else {}).encode()
            content_type = "application/x-www-form-urlencoded"
        headers = {"Content-Type": content_type, "User-Agent": "Gorgias-HTTP-Integration",
                   **{str(k): render(str(v), context) for k, v in (http.get("headers") or {}).items()}}
        outcome: dict[str, t.Any] = {"integration_id": integration["id"], "trigger": trigger,
                                     "url": http["url"], "headers": headers, "body": body.decode(),
                                     "status": None, "error": None}
        try:
            if self.transport is not None:
                outcome["status"] = self.transport(http.get("method", "POST"), http["url"], headers, body)
            else:
                response = requests.request(http.get("method", "POST"), http["url"], data=body, headers=headers,
                                            timeout=self.call_timeout, allow_redirects=False)
                outcome["status"] = response.status_code
        except Exception as exc:  # noqa: BLE001 - what Gorgias would see as a failed call
            outcome["error"] = f"{type(exc).__name__}: {exc}"
        failed = outcome["status"] is None or not 200 <= outcome["status"] < 300
        with self.lock:
            self.calls.append(outcome)
            current = self.integrations.get(integration["id"])
            if current is not None:
                current["failures"] = current.get("failures", 0) + 1 if failed else 0
                if current["failures"] >= DISABLE_AFTER_FAILURES:
                    current["deactivated_datetime"] = _now()

    def _integrations_list(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any], calls: list[Call]) -> tuple[int, t.Any]:
        found = [_integration_json(x) for x in self.integrations.values()
                 if "type" not in record.query or x["type"] == record.query["type"]]
        return _page(record, found)

    def _integrations_create(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any], calls: list[Call]) -> tuple[int, t.Any]:
        problem = _integration_problem(record.json["http"])
        if problem:
            return 400, _invalid("http", problem)
        integration_id = next(self._ids)
        now = _now()
        self.integrations[integration_id] = {
            "id": integration_id, "type": record.json["type"], "name": record.json["name"],
            "description": record.json.get("description"), "http": json.loads(json.dumps(record.json["http"])),
            "deactivated_datetime": record.json.get("deactivated_datetime"), "created_datetime": now,
            "updated_datetime": now, "failures": 0}
        return 201, _integration_json(self.integrations[integration_id])

    def _integrations_show(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any], calls: list[Call]) -> tuple[int, t.Any]:
        integration = self.integrations.get(_int(params["id"]))
        return (200, _integration_json(integration)) if integration else (404, _NOT_FOUND)

    def _integrations_update(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any], calls: list[Call]) -> tuple[int, t.Any]:
        integration = self.integrations.get(_int(params["id"]))
        if integration is None:
            return 404, _NOT_FOUND
        data = record.json
        if "http" in data:
            problem = _integration_problem(data["http"])
            if problem:
                return 400, _invalid("http", problem)
            integration["http"] = json.loads(json.dumps(data["http"]))
        for name in ("name", "description", "deactivated_datetime"):
            if name in data:
                integration[name] = data[name]
        if "deactivated_datetime" in data and data["deactivated_datetime"] is None:
            integration["failures"] = 0
        integration["updated_datetime"] = _now()
        return 200, _integration_json(integration)

    def _integrations_delete(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any], calls: list[Call]) -> tuple[int, t.Any]:
        if self.integrations.pop(_int(params["id"]), None) is None:
            return 404, _NOT_FOUND
        return 204, None

    # -- macros -----------------------------------------------------------------------------

    def _macros_list(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any], calls: list[Call]) -> tuple[int, t.Any]:
        found = [dict(m) for m in self.macros.values()
                 if record.query.get("search", "").lower() in m["name"].lower()]
        return _page(record, found)

    def _macros_create(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any], calls: list[Call]) -> tuple[int, t.Any]:
        problem = _macro_problem(record.json.get("actions") or [])
        if problem:
            return 400, _invalid("actions", problem)
        macro_id = next(self._ids)
        now = _now()
        self.macros[macro_id] = {"id": macro_id, "name": record.json["name"], "intent": record.json.get("intent"),
                                 "language": record.json.get("language"), "external_id": record.json.get("external_id"),
                                 "actions": json.loads(json.dumps(record.json["actions"])), "usage": 0,
                                 "created_datetime": now, "updated_datetime": now}
        return 201, dict(self.macros[macro_id])

    def _macros_show(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any], calls: list[Call]) -> tuple[int, t.Any]:
        macro = self.macros.get(_int(params["id"]))
        return (200, dict(macro)) if macro else (404, _NOT_FOUND)

    def _macros_update(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any], calls: list[Call]) -> tuple[int, t.Any]:
        macro = self.macros.get(_int(params["id"]))
        if macro is None:
            return 404, _NOT_FOUND
        if "actions" in record.json:
            problem = _macro_problem(record.json["actions"])
            if problem:
                return 400, _invalid("actions", problem)
        macro.update(json.loads(json.dumps(record.json)))
        macro["updated_datetime"] = _now()
        return 200, dict(macro)

    def _macros_delete(self, record: Recorded, params: dict[str, str], me: dict[str, t.Any], calls: list[Call]) -> tuple[int, t.Any]:
        if self.macros.pop(_int(params["id"]), None) is None:
            return 404, _NOT_FOUND
        return 204, None


class _Handler(BaseHTTPRequestHandler):
    fake: FakeGorgias
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
        status, answer, extra, calls = self.fake.handle(record, self.path)
        answered = threading.Event()
        self.fake._queue(calls, answered)  # counted by settle() now, sent once the request has been answered
        payload = b"" if answer is None else json.dumps(answer).encode()
        try:
            self.send_response(status)
            if answer is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except OSError:
            pass
        finally:
            answered.set()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


# -- routing and checking --------------------------------------------------------------------

_UNPARSABLE = object()

_ROUTES = [
    ("GET", "/api/account", "_account"),
    ("GET", "/api/users/{id}", "_users_show"),
    ("GET", "/api/customers", "_customers_list"),
    ("POST", "/api/customers", "_customers_create"),
    ("GET", "/api/tickets", "_tickets_list"),
    ("POST", "/api/tickets", "_tickets_create"),
    ("GET", "/api/tickets/{id}", "_tickets_show"),
    ("PUT", "/api/tickets/{id}", "_tickets_update"),
    ("GET", "/api/tickets/{id}/messages", "_messages_list"),
    ("POST", "/api/tickets/{id}/messages", "_messages_create"),
    ("POST", "/api/tickets/{id}/tags", "_tickets_tags"),
    ("PUT", "/api/tickets/{id}/tags", "_tickets_tags"),
    ("DELETE", "/api/tickets/{id}/tags", "_tickets_tags"),
    ("GET", "/api/integrations", "_integrations_list"),
    ("POST", "/api/integrations", "_integrations_create"),
    ("GET", "/api/integrations/{id}", "_integrations_show"),
    ("PUT", "/api/integrations/{id}", "_integrations_update"),
    ("DELETE", "/api/integrations/{id}", "_integrations_delete"),
    ("GET", "/api/macros", "_macros_list"),
    ("POST", "/api/macros", "_macros_create"),
    ("GET", "/api/macros/{id}", "_macros_show"),
    ("PUT", "/api/macros/{id}", "_macros_update"),
    ("DELETE", "/api/macros/{id}", "_macros_delete"),
]
_COMPILED = [(method, template, handler,
              re.compile("^" + re.escape(template).replace(r"\{id\}", "(?P<id>[^/]+)") + "/?$"))
             for method, template, handler in _ROUTES]
assert {f"{m} {p}" for m, p, _ in _ROUTES} == set(SCHEMA["endpoints"]), "routes and gorgias_schema.json differ"


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
        if allowed[name] == "integer" and not value.isdigit():
            return f"query parameter {name!r} must be an integer"
    if "limit" in query and not 1 <= int(query["limit"]) <= LIMITS["list_limit_max"]:
        return f"limit must be between 1 and {LIMITS['list_limit_max']}"
    if "order_by" in query and query["order_by"] not in ("created_datetime:asc", "created_datetime:desc",
                                                          "updated_datetime:asc", "updated_datetime:desc"):
        return f"order_by {query['order_by']!r} is not a sort order"
    return None


def _check_body(kind: str, record: Recorded) -> str | None:
    if record.json is _UNPARSABLE or record.json is None:
        return "the body is not JSON"
    if not (record.headers.get("Content-Type") or "").startswith("application/json"):
        return "a JSON body needs Content-Type: application/json"
    return _check_value(record.json, kind, "body")


def _check_value(value: t.Any, kind: str, where: str) -> str | None:
    if kind.endswith("?"):
        if value is None:
            return None
        kind = kind[:-1]
    if kind == "any":
        return None
    if kind.startswith("array<"):
        if not isinstance(value, list):
            return f"{where} must be an array"
        for index, item in enumerate(value):
            problem = _check_value(item, kind[6:-1], f"{where}[{index}]")
            if problem:
                return problem
        return None
    if kind in SCHEMA["objects"]:
        return _check_object(value, SCHEMA["objects"][kind], where)
    if value is None:
        return f"{where} must not be null"
    if not isinstance(value, _JSON_TYPES[kind]) or (kind == "integer" and isinstance(value, bool)):
        return f"{where} must be {kind}, not {type(value).__name__}"
    if kind == "datetime":
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return f"{where} must be an ISO 8601 date-time, not {value!r}"
        if parsed.tzinfo is None:
            return f"{where} needs a time zone"
    return None


def _check_object(value: t.Any, spec: dict[str, t.Any], where: str) -> str | None:
    if not isinstance(value, dict):
        return f"{where} must be an object"
    for name, item in value.items():
        kind = spec["fields"].get(name)
        if kind is None:
            return f"{where}.{name} is not described"
        problem = _check_value(item, kind, f"{where}.{name}")
        if problem:
            return problem
        allowed = spec.get("values", {}).get(name)
        if allowed is not None and item is not None and item not in allowed:
            return f"{where}.{name} must be one of {allowed}, not {item!r}"
        longest = spec.get("max_length", {}).get(name)
        if longest is not None and isinstance(item, str) and len(item) > longest:
            return f"{where}.{name} is longer than {longest}"
        most = spec.get("max_items", {}).get(name)
        if most is not None and len(item) > most:
            return f"{where}.{name} has more than {most} items"
        least = spec.get("min_items", {}).get(name)
        if least is not None and len(item) < least:
            return f"{where}.{name} needs at least {least} item(s)"
    for name in spec.get("required", []):
        if name not in value:
            return f"{where}.{name} is required"
    wanted = spec.get("one_of_required")
    if wanted and not any(value.get(name) is not None for name in wanted):
        return f"{where} needs one of {wanted}"
    return None


def _integration_problem(http: dict[str, t.Any]) -> str | None:
    url = urllib.parse.urlsplit(http.get("url") or "")
    if url.scheme not in ("http", "https") or not url.netloc:
        return f"url {http.get('url')!r} is not a URL"
    triggers = http.get("triggers") or {}
    if not any(triggers.values()):
        return "an HTTP integration needs at least one trigger"
    return None


def _macro_problem(actions: list[dict[str, t.Any]]) -> str | None:
    for action in actions:
        arguments = action.get("arguments") or {}
        if action["name"] in ("addTags", "removeTags") and not (
                isinstance(arguments.get("tags"), str) and arguments["tags"].strip()):
            return f"{action['name']} needs arguments.tags (comma separated names)"
        if action["name"] == "setStatus" and arguments.get("status") not in ("open", "closed"):
            return "setStatus needs arguments.status open or closed"
    return None


# -- rendering an HTTP integration's template, as Gorgias does -----------------------------------

_UNDEFINED = object()
_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][\w.]*)\s*(\|\s*tojson\s*)?\}\}")


def render(template: t.Any, context: dict[str, t.Any]) -> t.Any:
    """``form`` with every string's ``{{ name }}`` and ``{{ name|tojson }}`` filled in."""
    if isinstance(template, dict):
        return {key: render(value, context) for key, value in template.items()}
    if isinstance(template, list):
        return [render(value, context) for value in template]
    if not isinstance(template, str):
        return template

    def fill(match: re.Match[str]) -> str:
        value = _lookup(context, match.group(1))
        if value is _UNDEFINED:
            return ""
        if match.group(2):
            return json.dumps(value)
        return str(value)  # Jinja prints True/False/None and Python's repr of containers

    return _VARIABLE.sub(fill, template)


def _lookup(context: dict[str, t.Any], name: str) -> t.Any:
    value: t.Any = context
    for part in name.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return _UNDEFINED
    return value


# -- shapes and small helpers --------------------------------------------------------------------


def _snapshot(ticket: dict[str, t.Any]) -> dict[str, t.Any]:
    return {"status": ticket["status"], "tags": list(ticket["tags"]), "assignee": ticket.get("assignee_user_id"),
            "subject": ticket.get("subject"), "priority": ticket.get("priority")}


def _user_json(user: dict[str, t.Any]) -> dict[str, t.Any]:
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in user.items()}


def _party_json(party: dict[str, t.Any] | None) -> dict[str, t.Any] | None:
    if party is None:
        return None
    return {"id": party["id"], "email": party.get("email"), "name": party.get("name"),
            "firstname": party.get("firstname"), "lastname": party.get("lastname")}


def _ticket_json(fake: FakeGorgias, ticket: dict[str, t.Any]) -> dict[str, t.Any]:
    messages = ticket["messages"]
    received = [m for m in messages if not m["from_agent"]]
    assignee = fake.users.get(ticket.get("assignee_user_id") or -1)
    return {
        "id": ticket["id"], "uri": f"/api/tickets/{ticket['id']}/", "external_id": ticket.get("external_id"),
        "language": ticket.get("language"), "status": ticket["status"], "priority": ticket.get("priority"),
        "channel": ticket["channel"], "via": ticket["via"], "from_agent": ticket.get("from_agent", False),
        "customer": _party_json(fake.customers.get(ticket["customer_id"])),
        "assignee_user": _party_json(assignee), "assignee_team": None, "subject": ticket.get("subject"),
        "excerpt": (messages[-1]["body_text"] or "")[:100] if messages else "",
        "tags": [{"id": fake._tag(name)["id"], "name": name, "uri": None, "decoration": None} for name in ticket["tags"]],
        "messages_count": len(messages), "meta": ticket.get("meta"), "spam": ticket.get("spam", False),
        "created_datetime": ticket["created_datetime"], "opened_datetime": ticket.get("opened_datetime"),
        "last_received_message_datetime": received[-1]["created_datetime"] if received else None,
        "last_message_datetime": messages[-1]["created_datetime"] if messages else None,
        "updated_datetime": ticket["updated_datetime"], "closed_datetime": ticket.get("closed_datetime"),
        "snooze_datetime": None, "trashed_datetime": None,
    }


def _message_json(message: dict[str, t.Any]) -> dict[str, t.Any]:
    return {**json.loads(json.dumps(message)), "uri": f"/api/tickets/{message['ticket_id']}/messages/{message['id']}/"}


def _integration_json(integration: dict[str, t.Any]) -> dict[str, t.Any]:
    return json.loads(json.dumps({k: v for k, v in integration.items() if k != "failures"}))


def _page(record: Recorded, items: list[t.Any]) -> tuple[int, t.Any]:
    """Cursor pagination: ``limit`` items from ``cursor`` (an opaque offset)."""
    limit = int(record.query.get("limit") or LIMITS["list_limit_default"])
    cursor = record.query.get("cursor")
    try:
        start = int(base64.urlsafe_b64decode(cursor.encode()).decode()) if cursor else 0
    except ValueError:
        return 400, _invalid("cursor", "invalid cursor")
    page = items[start:start + limit]
    more = start + limit < len(items)

    def encode(offset: int) -> str:
        return base64.urlsafe_b64encode(str(offset).encode()).decode()

    return 200, {"object": "list", "uri": record.path, "data": page,
                 "meta": {"next_cursor": encode(start + limit) if more else None,
                          "previous_cursor": encode(max(0, start - limit)) if start else None}}


def _tag_list(value: t.Any) -> list[str]:
    return [part.strip() for part in str(value or "").split(",") if part.strip()]


def _invalid(field: str, description: str) -> dict[str, t.Any]:
    return {"error": {"msg": "Invalid request", "data": {field: [description]}}}


def _basic_login(credential: str) -> tuple[str, str] | None:
    """``(e-mail in lower case, API key)`` of a Basic ``Authorization`` header."""
    if not credential.startswith("Basic "):
        return None
    try:
        user, _, secret = base64.b64decode(credential[6:], validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user.lower(), secret


def _int(value: str) -> int:
    return int(value) if value.isdigit() else -1


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")


FakeGorgias.handler = _Handler
FakeGorgias.handler_attribute = "fake"
