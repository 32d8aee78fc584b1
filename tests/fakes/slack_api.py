"""A faithful local fake of the Slack Web API, reached by slack_sdk's ``WebClient(base_url=...)``.

A real HTTP server on 127.0.0.1 (``ThreadingHTTPServer`` in a daemon thread) serving the
methods the Slack plugin calls, answering the way Slack does: HTTP 200 with
``{"ok": false, "error": ...}`` for API errors, 429 with ``Retry-After`` when rate limited,
``X-OAuth-Scopes`` on every authenticated answer.

Contract. Every call is checked against ``tests/contracts/slack_web_methods.json``, an
extract of Slack's own API description (see ``tests/contracts/SOURCES.md``); the fake reads
nothing else. An unknown method answers ``unknown_method``, an undeclared parameter or a
missing required one answers ``invalid_arguments``, and all three are recorded in
:attr:`FakeSlack.violations` (connector tests assert it stays ``[]``). ``token`` counts as
present when it comes in ``Authorization: Bearer``; no token at all answers ``not_authed``
as Slack does, not a violation. A JSON body sent to a method whose
description does not accept JSON is ignored, as Slack ignores it, and recorded too.
The HTTP verb is not enforced: Slack accepts GET and POST for every method, and slack_sdk
POSTs methods the description lists as GET (``auth.test``).

Choices where Slack is lenient or undocumented:

* ``thread_ts`` naming no top-level message of the channel: Slack posts the message
  anyway, so the fake answers ok and stores it, and also appends it to
  :attr:`FakeSlack.stray_replies` (with a ``reason``) for tests that want to notice. A
  reply to a reply is filed under the parent's thread, as Slack shows it.
* A file's ``url_private`` / ``url_private_download`` need ``Authorization: Bearer`` with
  a valid token that has ``files:read``; otherwise the fake answers **200 with an HTML
  sign-in page**, not 401/403. That is what Slack does and the classic pitfall: check
  the Content-Type of what you downloaded.
* Method scopes (:data:`METHOD_SCOPES`) are checked: a token without them gets
  ``missing_scope`` with ``needed`` and ``provided``, as from Slack.
* Posting needs the bot in the channel (``not_in_channel``), unless the token has
  ``chat:write.public`` and the channel is public.
* A successful ``oauth.v2.access`` makes the bot token valid (unless a test already added
  it with :meth:`FakeSlack.add_token`); a code works once.
"""

from __future__ import annotations

import base64
import dataclasses
import itertools
import json
import random
import threading
import time
import typing as t
import urllib.parse
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer

from tests.fakes.server import LocalServer
from pathlib import Path

from requests.structures import CaseInsensitiveDict

CONTRACT_PATH = Path(__file__).resolve().parents[1] / "contracts" / "slack_web_methods.json"
CONTRACT: dict[str, t.Any] = json.loads(CONTRACT_PATH.read_text())
#: Slack's limits (docs.slack.dev, chat.postMessage and Block Kit reference).
TEXT_LIMIT = 40_000
BLOCK_LIMIT = 50
SECTION_TEXT_LIMIT = 3_000
HEADER_TEXT_LIMIT = 150
#: Scopes a bot token needs per method (any one of them), from each method's reference page.
METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "chat.postMessage": ("chat:write",),
    "chat.update": ("chat:write",),
    "chat.postEphemeral": ("chat:write",),
    "users.info": ("users:read",),
    "conversations.info": ("channels:read", "groups:read", "im:read", "mpim:read"),
    "conversations.replies": ("channels:history", "groups:history", "im:history", "mpim:history"),
    "conversations.history": ("channels:history", "groups:history", "im:history", "mpim:history"),
    "files.info": ("files:read",),
}
DEFAULT_SCOPES = ("channels:history", "groups:history", "channels:read", "groups:read", "chat:write",
                  "chat:write.customize", "users:read", "files:read")
SIGN_IN_PAGE = (b"<!DOCTYPE html><html lang=\"en-US\"><head><title>Sign in | Slack</title></head>"
                b"<body><h1>Sign in to your workspace</h1></body></html>")


@dataclasses.dataclass
class Call:
    """One Web API call as the fake received and answered it."""

    method: str
    params: dict[str, t.Any]
    headers: CaseInsensitiveDict
    status: int = 200
    response: dict[str, t.Any] | None = None


@dataclasses.dataclass
class Token:
    team_id: str
    bot_user_id: str
    bot_id: str
    scopes: tuple[str, ...]
    team_name: str = "Fake Team"
    bot_name: str = "handover"
    revoked: bool = False


class FakeSlack(LocalServer):
    """``with FakeSlack() as slack:``; ``slack.url`` is the base URL for ``WebClient(base_url=...)``."""

    app_id = "A01"

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self._lock = threading.RLock()
        self._ts = itertools.count(100)
        self._last_second = 0
        self.tokens: dict[str, Token] = {}
        self.channels: dict[str, dict[str, t.Any]] = {}
        self.users: dict[str, dict[str, t.Any]] = {}
        self.files: dict[str, dict[str, t.Any]] = {}
        self._file_content: dict[str, bytes] = {}
        self._messages: list[dict[str, t.Any]] = []
        self._history: dict[tuple[str, str], list[dict[str, t.Any]]] = {}
        self.ephemerals: list[dict[str, t.Any]] = []
        self.stray_replies: list[dict[str, t.Any]] = []  # thread_ts naming no top-level message
        self.responses: list[dict[str, t.Any]] = []  # what was posted to response_urls (/actions/...)
        self.downloads: list[dict[str, t.Any]] = []  # file downloads: path, authorized, status
        self.file_redirects: dict[str, str] = {}  # file id -> where its download redirects (302)
        self.oauth_codes: dict[str, dict[str, t.Any]] = {}
        self.calls: list[Call] = []
        self.violations: list[str] = []
        self._faults: dict[str, list[tuple[str, t.Any]]] = {}
        self._rates: dict[str, tuple[random.Random, float, float, float]] = {}
        self.late_seconds = 1.5
        self.late_answers = 0  # calls applied whose answer came too late for the client
        self._server: ThreadingHTTPServer | None = None

    # -- life cycle ---------------------------------------------------------------------

    @property
    def root(self) -> str:
        """``http://127.0.0.1:PORT``: where files, avatars and response_urls live."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The Web API base URL, ending in ``/api/`` as slack_sdk needs."""
        return self.root + "/api/"

    # -- state set-up -------------------------------------------------------------------

    def add_token(self, token: str, *, team_id: str = "T01", bot_user_id: str = "UBOT", bot_id: str = "BBOT",
                  scopes: t.Sequence[str] = DEFAULT_SCOPES, team_name: str = "Fake Team",
                  bot_name: str = "handover") -> None:
        with self._lock:
            self.tokens[token] = Token(team_id, bot_user_id, bot_id, tuple(scopes), team_name, bot_name)

    def revoke(self, token: str) -> None:
        """Later calls with ``token`` answer ``token_revoked`` (as after an uninstall)."""
        with self._lock:
            self.tokens[token].revoked = True

    def add_channel(self, channel_id: str, name: str = "handover", bot_member: bool = True,
                    is_private: bool | None = None) -> None:
        """A channel; private when ``is_private`` or, by default, when the id starts with G."""
        private = channel_id.startswith("G") if is_private is None else is_private
        with self._lock:
            self.channels[channel_id] = {"id": channel_id, "name": name, "is_channel": not private,
                                         "is_group": False, "is_im": False, "is_private": private,
                                         "is_archived": False, "is_member": bot_member,
                                         "created": int(time.time())}

    def set_bot_member(self, channel_id: str, member: bool) -> None:
        with self._lock:
            self.channels[channel_id]["is_member"] = member

    def archive_channel(self, channel_id: str) -> None:
        """Posting there answers ``is_archived``."""
        with self._lock:
            self.channels[channel_id]["is_archived"] = True

    def delete_channel(self, channel_id: str) -> None:
        with self._lock:
            del self.channels[channel_id]

    def add_user(self, user_id: str, name: str, real_name: str, display_name: str = "", email: str | None = None,
                 is_bot: bool = False, team_id: str = "T01") -> dict[str, t.Any]:
        user = {
            "id": user_id, "team_id": team_id, "name": name, "deleted": False, "real_name": real_name,
            "tz": "Europe/Berlin", "is_admin": False, "is_bot": is_bot, "is_app_user": False,
            "updated": int(time.time()),
            "profile": {"display_name": display_name, "real_name": real_name,
                        "real_name_normalized": real_name, "display_name_normalized": display_name,
                        "email": email, "image_72": f"{self.root}/avatars/{user_id}_72.png", "team": team_id},
        }
        if email is None:
            del user["profile"]["email"]  # Slack leaves it out without users:read.email or an address
        with self._lock:
            self.users[user_id] = user
        return json.loads(json.dumps(user))

    def add_file(self, file_id: str, name: str, mimetype: str, content: bytes, *, team_id: str = "T01",
                 user: str = "UAGENT") -> dict[str, t.Any]:
        """A file shared in Slack; returns the file object as events and ``files.info`` carry it."""
        quoted = urllib.parse.quote(name)
        file = {
            "id": file_id, "created": int(time.time()), "timestamp": int(time.time()), "name": name, "title": name,
            "mimetype": mimetype, "filetype": name.rsplit(".", 1)[-1] if "." in name else "binary",
            "user": user, "size": len(content), "mode": "hosted", "is_external": False,
            "url_private": f"{self.root}/files-pri/{team_id}-{file_id}/{quoted}",
            "url_private_download": f"{self.root}/files-pri/{team_id}-{file_id}/download/{quoted}",
            "permalink": f"https://fake.slack.com/files/{user}/{file_id}/{quoted}",
        }
        with self._lock:
            self.files[file_id] = file
            self._file_content[file_id] = content
        return dict(file)

    def add_oauth_code(self, code: str, client_id: str, client_secret: str, *, team_id: str, bot_token: str,
                       bot_user_id: str, scopes: t.Sequence[str], redirect_uri: str | None = None,
                       team_name: str = "Fake Team", bot_id: str | None = None,
                       authed_user: str = "UINSTALLER") -> None:
        """A code Slack's authorize page would hand back; ``oauth.v2.access`` trades it once."""
        with self._lock:
            self.oauth_codes[code] = {"client_id": client_id, "client_secret": client_secret, "team_id": team_id,
                                      "team_name": team_name, "bot_token": bot_token, "bot_user_id": bot_user_id,
                                      "bot_id": bot_id or "B" + bot_user_id.lstrip("U"), "scopes": list(scopes),
                                      "redirect_uri": redirect_uri, "authed_user": authed_user}

    # -- faults -------------------------------------------------------------------------

    def rate_limit(self, method: str, times: int = 1, retry_after: float = 1) -> None:
        """The next ``times`` calls of ``method`` answer 429, ``Retry-After``, ``ratelimited``."""
        with self._lock:
            self._faults.setdefault(method, []).extend([("429", retry_after)] * times)

    def fail(self, method: str, times: int = 1, status: int = 500) -> None:
        """The next ``times`` calls of ``method`` answer HTTP ``status``."""
        with self._lock:
            self._faults.setdefault(method, []).extend([("status", status)] * times)

    def fail_with(self, method: str, error: str, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer 200 ``{"ok": false, "error": error}``."""
        with self._lock:
            self._faults.setdefault(method, []).extend([("error", error)] * times)

    def fault_rate(self, method: str, *, seed: int, errors: float = 0.0, rate_limited: float = 0.0,
                   late: float = 0.0, late_seconds: float | None = None) -> None:
        """Each later call of ``method`` fails at random (seeded): HTTP 500 with probability
        ``errors``, 429 with ``rate_limited``, and with ``late`` it is applied but answered
        only after ``late_seconds`` (past the client's timeout: the answer is lost)."""
        with self._lock:
            self._rates[method] = (random.Random(seed), errors, rate_limited, late)
            if late_seconds is not None:
                self.late_seconds = late_seconds

    def _random_fault(self, method: str) -> str | None:
        with self._lock:
            rate = self._rates.get(method)
            if rate is None:
                return None
            rng, errors, limited, late = rate
            roll = rng.random()
        if roll < errors:
            return "500"
        if roll < errors + limited:
            return "429"
        if roll < errors + limited + late:
            return "late"
        return None

    # -- what tests read ----------------------------------------------------------------

    def messages(self, channel: str) -> list[dict[str, t.Any]]:
        """Top-level messages and replies of a channel, in post order, as they are now."""
        with self._lock:
            return [dict(m) for m in self._messages if m["channel"] == channel]

    def thread(self, channel: str, ts: str) -> list[dict[str, t.Any]]:
        """The replies in the thread of ``ts``, oldest first (without the parent)."""
        return [m for m in self.messages(channel) if m.get("thread_ts") == ts and m["ts"] != ts]

    def versions(self, channel: str, ts: str) -> list[dict[str, t.Any]]:
        """Every version of a message: as posted, then after each ``chat.update``."""
        with self._lock:
            return [dict(m) for m in self._history.get((channel, ts), [])]

    def calls_of(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, predicate: t.Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError("the fake Slack did not see what was expected in time")
            time.sleep(0.01)

    # -- answering ----------------------------------------------------------------------

    def _next_ts(self) -> str:
        """Unique, increasing ``"1735689600.000200"``-style ts (never going back with the clock)."""
        with self._lock:
            self._last_second = max(self._last_second, int(time.time()))
            return f"{self._last_second}.{next(self._ts):06d}"

    def _violate(self, what: str) -> None:
        with self._lock:
            self.violations.append(what)

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        parsed = urllib.parse.urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        headers = CaseInsensitiveDict(request.headers.items())
        if parsed.path.startswith("/files-pri/"):
            return self._download(request, parsed.path, headers)
        if parsed.path.startswith("/actions/"):  # a response_url
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                return _send(request, 400, b"invalid_payload", "text/plain")
            with self._lock:
                self.responses.append(body)
            return _send(request, 200, b"ok", "text/plain")
        if not parsed.path.startswith("/api/"):
            return _send(request, 404, b"not found", "text/plain")
        method = parsed.path[len("/api/"):]
        call = Call(method, {}, headers)
        with self._lock:
            self.calls.append(call)
        fault = self._random_fault(method)
        if fault == "500":
            status, body, extra = 500, {"ok": False, "error": "internal_error"}, {}
        elif fault == "429":
            status, body, extra = 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "0"}
        else:
            status, body, extra = self._answer(method, call, parsed.query, raw)
        call.status, call.response = status, body
        if fault == "late":
            with self._lock:
                self.late_answers += 1
            time.sleep(self.late_seconds)  # applied; the client has given up waiting
        try:
            _send(request, status, json.dumps(body).encode(), "application/json; charset=utf-8", extra)
        except OSError:
            pass  # the client went away

    def _answer(self, method: str, call: Call, query: str, raw: bytes
                ) -> tuple[int, dict[str, t.Any], dict[str, str]]:
        headers = call.headers
        contract = CONTRACT["methods"].get(method)
        params, problem = _params(query, raw, headers.get("Content-Type", ""), (contract or {}).get("consumes", ()))
        call.params = params
        if contract is None:
            self._violate(f"{method}: not a method in the contract extract of Slack's API description")
            return 200, {"ok": False, "error": "unknown_method", "req_method": method}, {}
        if problem:
            self._violate(f"{method}: {problem}")
            if problem.startswith("invalid JSON"):
                return 200, {"ok": False, "error": "invalid_json"}, {}
        declared = contract["params"]
        for name in params:
            if name not in declared:
                self._violate(f"{method}: parameter {name!r} is not in Slack's API description")
                return 200, {"ok": False, "error": "invalid_arguments"}, {}
        for name, required in declared.items():
            if required and name not in params and name != "token":  # no token at all: not_authed, below
                self._violate(f"{method}: required parameter {name!r} missing")
                return 200, {"ok": False, "error": "invalid_arguments"}, {}
        with self._lock:
            faults = self._faults.get(method)
            fault = faults.pop(0) if faults else None
        if fault is not None:
            kind, value = fault
            if kind == "429":
                return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": _seconds(value)}
            if kind == "status":
                return int(value), {"ok": False, "error": "internal_error"}, {}
            return 200, {"ok": False, "error": value}, {}
        if method == "oauth.v2.access":
            return self._oauth(params, headers)
        token_value = _bearer(headers) or params.get("token")
        if not token_value:
            return 200, {"ok": False, "error": "not_authed"}, {}
        with self._lock:
            token = self.tokens.get(token_value)
            if token is None:
                return 200, {"ok": False, "error": "invalid_auth"}, {}
            if token.revoked:
                return 200, {"ok": False, "error": "token_revoked"}, {}
            scope_headers = {"X-OAuth-Scopes": ",".join(token.scopes),
                             "X-Accepted-OAuth-Scopes": ",".join(METHOD_SCOPES.get(method, ()))}
            needed = METHOD_SCOPES.get(method)
            if needed and not set(needed) & set(token.scopes):
                return 200, {"ok": False, "error": "missing_scope", "needed": needed[0],
                             "provided": ",".join(token.scopes)}, scope_headers
            answer = getattr(self, "_" + method.replace(".", "_"))(token, params)
        return 200, answer, scope_headers

    # -- methods (called with the lock held) ---------------------------------------------

    def _postable(self, channel_id: t.Any, token: Token) -> dict[str, t.Any] | str:
        channel = self.channels.get(str(channel_id))
        if channel is None or (channel["is_private"] and not channel["is_member"]):
            return "channel_not_found"
        if channel["is_archived"]:
            return "is_archived"
        if not channel["is_member"] and not (not channel["is_private"] and "chat:write.public" in token.scopes):
            return "not_in_channel"
        return channel

    def _auth_test(self, token: Token, params: dict[str, t.Any]) -> dict[str, t.Any]:
        return {"ok": True, "url": "https://fake.slack.com/", "team": token.team_name, "user": token.bot_name,
                "team_id": token.team_id, "user_id": token.bot_user_id, "bot_id": token.bot_id,
                "is_enterprise_install": False}

    def _chat_postMessage(self, token: Token, params: dict[str, t.Any]) -> dict[str, t.Any]:
        channel = self._postable(params["channel"], token)
        if isinstance(channel, str):
            return {"ok": False, "error": channel}
        error = _content_error(params, need_content=True)
        if error:
            return {"ok": False, "error": error}
        message = {
            "type": "message", "ts": self._next_ts(), "channel": channel["id"], "text": _text(params),
            "blocks": params.get("blocks"), "attachments": params.get("attachments"),
            "thread_ts": _text(params, "thread_ts") or None, "username": params.get("username"),
            "icon_emoji": params.get("icon_emoji"), "icon_url": params.get("icon_url"),
            "user": token.bot_user_id, "bot_id": token.bot_id, "app_id": self.app_id, "team": token.team_id,
        }
        metadata = params.get("metadata")
        if isinstance(metadata, str):
            try:
                metadata = json.loads(metadata)
            except ValueError:
                return {"ok": False, "error": "invalid_metadata_format"}
        if metadata is not None:
            if not (isinstance(metadata, dict) and isinstance(metadata.get("event_type"), str)
                    and isinstance(metadata.get("event_payload"), dict)):
                return {"ok": False, "error": "invalid_metadata_schema"}
            message["metadata"] = metadata
        if message["thread_ts"] is not None:
            parent = next((m for m in self._messages if m["channel"] == message["channel"]
                           and m["ts"] == message["thread_ts"]), None)
            if parent is None:
                self.stray_replies.append({**message, "reason": "thread_ts names no message in this channel"})
            elif parent.get("thread_ts"):
                self.stray_replies.append({**message, "reason": f"thread_ts names a reply in {parent['thread_ts']}"})
                message["thread_ts"] = parent["thread_ts"]  # shown in the parent's thread
        self._messages.append(message)
        self._history[(message["channel"], message["ts"])] = [dict(message)]
        return {"ok": True, "channel": message["channel"], "ts": message["ts"], "message": _shown(message)}

    def _chat_update(self, token: Token, params: dict[str, t.Any]) -> dict[str, t.Any]:
        channel = self._postable(params["channel"], token)
        if isinstance(channel, str):
            return {"ok": False, "error": channel}
        message = next((m for m in self._messages
                        if m["channel"] == channel["id"] and m["ts"] == str(params["ts"])), None)
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        if message.get("bot_id") != token.bot_id:
            return {"ok": False, "error": "cant_update_message"}
        error = _content_error(params, need_content=True)
        if error:
            return {"ok": False, "error": error}
        message["text"] = _text(params)
        message["blocks"] = params.get("blocks")  # text without blocks removes the blocks, as Slack does
        if "attachments" in params:
            message["attachments"] = params["attachments"]
        message["edited"] = {"user": token.bot_user_id, "ts": self._next_ts()}
        self._history[(message["channel"], message["ts"])].append(dict(message))
        return {"ok": True, "channel": message["channel"], "ts": message["ts"], "text": message["text"],
                "message": _shown(message)}

    def _chat_postEphemeral(self, token: Token, params: dict[str, t.Any]) -> dict[str, t.Any]:
        channel = self._postable(params["channel"], token)
        if isinstance(channel, str):
            return {"ok": False, "error": channel}
        if str(params["user"]) not in self.users:
            return {"ok": False, "error": "user_not_in_channel"}
        error = _content_error(params, need_content=True)
        if error:
            return {"ok": False, "error": error}
        ts = self._next_ts()
        self.ephemerals.append({"channel": channel["id"], "user": str(params["user"]), "text": _text(params),
                                "blocks": params.get("blocks"), "attachments": params.get("attachments"),
                                "thread_ts": _text(params, "thread_ts") or None, "ts": ts})
        return {"ok": True, "message_ts": ts}

    def _chat_getPermalink(self, token: Token, params: dict[str, t.Any]) -> dict[str, t.Any]:
        channel = self.channels.get(str(params["channel"]))
        if channel is None or (channel["is_private"] and not channel["is_member"]):
            return {"ok": False, "error": "channel_not_found"}
        ts = str(params["message_ts"])
        message = next((m for m in self._messages if m["channel"] == channel["id"] and m["ts"] == ts), None)
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        link = f"https://fake.slack.com/archives/{channel['id']}/p{ts.replace('.', '')}"
        if message.get("thread_ts"):
            link += f"?thread_ts={message['thread_ts']}&cid={channel['id']}"
        return {"ok": True, "channel": channel["id"], "permalink": link}

    def _users_info(self, token: Token, params: dict[str, t.Any]) -> dict[str, t.Any]:
        user = self.users.get(str(params.get("user", "")))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": json.loads(json.dumps(user))}

    def _conversations_info(self, token: Token, params: dict[str, t.Any]) -> dict[str, t.Any]:
        channel = self.channels.get(str(params.get("channel", "")))
        if channel is None or (channel["is_private"] and not channel["is_member"]):
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "channel": dict(channel)}

    def _history_page(self, messages: list[dict[str, t.Any]], params: dict[str, t.Any]) -> dict[str, t.Any]:
        """One page of messages as conversations.history/.replies answer: metadata only when asked."""
        with_metadata = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
        oldest = float(params.get("oldest") or 0)
        messages = [m for m in messages if float(m["ts"]) > oldest or float(m["ts"]) == oldest == 0]
        start = int(params.get("cursor") or 0)
        limit = max(1, min(int(params.get("limit") or 100), 1000))
        page = messages[start:start + limit]
        shown = [{k: v for k, v in _shown(m).items() if with_metadata or k != "metadata"} for m in page]
        more = start + limit < len(messages)
        return {"ok": True, "messages": shown, "has_more": more,
                "response_metadata": {"next_cursor": str(start + limit) if more else ""}}

    def _conversations_replies(self, token: Token, params: dict[str, t.Any]) -> dict[str, t.Any]:
        channel = self.channels.get(str(params.get("channel", "")))
        if channel is None or (channel["is_private"] and not channel["is_member"]):
            return {"ok": False, "error": "channel_not_found"}
        ts = str(params.get("ts", ""))
        thread = [m for m in self._messages if m["channel"] == channel["id"]
                  and (m["ts"] == ts or m.get("thread_ts") == ts)]
        if not thread:
            return {"ok": False, "error": "thread_not_found"}
        return self._history_page(thread, params)

    def _conversations_history(self, token: Token, params: dict[str, t.Any]) -> dict[str, t.Any]:
        channel = self.channels.get(str(params.get("channel", "")))
        if channel is None or (channel["is_private"] and not channel["is_member"]):
            return {"ok": False, "error": "channel_not_found"}
        tops = [m for m in self._messages if m["channel"] == channel["id"] and m.get("thread_ts") in (None, m["ts"])]
        return self._history_page(list(reversed(tops)), params)  # newest first, as Slack answers

    def _files_info(self, token: Token, params: dict[str, t.Any]) -> dict[str, t.Any]:
        file = self.files.get(str(params.get("file", "")))
        if file is None:
            return {"ok": False, "error": "file_not_found"}
        return {"ok": True, "file": dict(file), "comments": [], "response_metadata": {"next_cursor": ""}}

    def _oauth(self, params: dict[str, t.Any], headers: CaseInsensitiveDict
               ) -> tuple[int, dict[str, t.Any], dict[str, str]]:
        client_id, client_secret = params.get("client_id"), params.get("client_secret")
        basic = headers.get("Authorization", "")
        if basic.startswith("Basic "):
            try:
                client_id, _, client_secret = base64.b64decode(basic[6:]).decode().partition(":")
            except ValueError:
                return 200, {"ok": False, "error": "invalid_client_id"}, {}
        with self._lock:
            grant = self.oauth_codes.get(str(params.get("code", "")))
            if grant is None:
                return 200, {"ok": False, "error": "invalid_code"}, {}
            if client_id != grant["client_id"]:
                return 200, {"ok": False, "error": "invalid_client_id"}, {}
            if client_secret != grant["client_secret"]:
                return 200, {"ok": False, "error": "bad_client_secret"}, {}
            if grant["redirect_uri"] and params.get("redirect_uri") != grant["redirect_uri"]:
                return 200, {"ok": False, "error": "bad_redirect_uri"}, {}
            del self.oauth_codes[str(params["code"])]  # a code works once
            if grant["bot_token"] not in self.tokens:
                self.tokens[grant["bot_token"]] = Token(grant["team_id"], grant["bot_user_id"], grant["bot_id"],
                                                        tuple(grant["scopes"]), grant["team_name"])
        return 200, {
            "ok": True, "access_token": grant["bot_token"], "token_type": "bot", "scope": ",".join(grant["scopes"]),
            "bot_user_id": grant["bot_user_id"], "app_id": self.app_id,
            "team": {"id": grant["team_id"], "name": grant["team_name"]}, "enterprise": None,
            "authed_user": {"id": grant["authed_user"]}, "is_enterprise_install": False,
        }, {}

    def _download(self, request: BaseHTTPRequestHandler, path: str, headers: CaseInsensitiveDict) -> None:
        parts = path.split("/")  # ["", "files-pri", "T01-F123", ("download",) "name"]
        file_id = parts[2].split("-", 1)[-1] if len(parts) > 2 else ""
        with self._lock:
            token = self.tokens.get(_bearer(headers) or "")
            authorized = token is not None and not token.revoked and "files:read" in token.scopes
            content, file = self._file_content.get(file_id), self.files.get(file_id)
            status = 200 if not authorized or content is not None else 404
            self.downloads.append({"path": path, "authorized": authorized, "status": status})
        if file_id in self.file_redirects:
            request.send_response(302)
            request.send_header("Location", self.file_redirects[file_id])
            request.send_header("Content-Length", "0")
            request.end_headers()
            return None
        if not authorized:
            # Slack's classic pitfall: no 401, a sign-in page with status 200.
            return _send(request, 200, SIGN_IN_PAGE, "text/html; charset=utf-8")
        if content is None or file is None:
            return _send(request, 404, b"<!DOCTYPE html><html><body>File not found</body></html>", "text/html")
        _send(request, 200, content, file["mimetype"],
              {"Content-Disposition": f"attachment; filename=\"{file['name']}\""} if "/download/" in path else None)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeSlack
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: t.Any) -> None:
        pass

    def do_GET(self) -> None:
        self.fake._handle(self)

    def do_POST(self) -> None:
        self.fake._handle(self)


def _bearer(headers: t.Mapping[str, str]) -> str | None:
    value = headers.get("Authorization", "")
    return value[7:].strip() if value.startswith("Bearer ") else None


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _text(params: dict[str, t.Any], name: str = "text") -> str:
    value = params.get(name)
    return "" if value is None else str(value)


def _params(query: str, raw: bytes, content_type: str, consumes: t.Sequence[str]
            ) -> tuple[dict[str, t.Any], str | None]:
    """The call's parameters (query string, then body) and what was wrong with how they came."""
    params: dict[str, t.Any] = {k: v[-1] for k, v in urllib.parse.parse_qs(query, keep_blank_values=True).items()}
    problem = None
    kind = content_type.split(";")[0].strip().lower()
    if raw and kind == "application/json":
        try:
            body = json.loads(raw)
        except ValueError:
            body, problem = {}, "invalid JSON body"
        if not isinstance(body, dict):
            body, problem = {}, "invalid JSON body: not an object"
        if consumes and "application/json" not in consumes:
            problem = problem or "JSON body sent to a method that only takes form data (Slack ignores it)"
        else:
            params.update(body)
    elif raw and kind in ("application/x-www-form-urlencoded", ""):
        params.update({k: v[-1] for k, v in
                       urllib.parse.parse_qs(raw.decode("utf-8"), keep_blank_values=True).items()})
    elif raw:
        problem = f"unsupported Content-Type {content_type!r}"
    for name in ("blocks", "attachments"):
        if isinstance(params.get(name), str):
            try:
                params[name] = json.loads(params[name])
            except ValueError:
                pass  # left a string: answered invalid_blocks_format / invalid_attachments
    return params, problem


def _content_error(params: dict[str, t.Any], need_content: bool) -> str | None:
    text, blocks, attachments = params.get("text"), params.get("blocks"), params.get("attachments")
    if need_content and not text and not blocks and not attachments:
        return "no_text"
    if text is not None and len(str(text)) > TEXT_LIMIT:
        return "msg_too_long"
    if blocks is not None:
        if not isinstance(blocks, list) or not all(isinstance(b, dict) and b.get("type") for b in blocks):
            return "invalid_blocks_format"
        if len(blocks) > BLOCK_LIMIT or any(_block_too_long(b) for b in blocks):
            return "invalid_blocks"
    if attachments is not None and not (isinstance(attachments, list) and all(isinstance(a, dict) for a in attachments)):
        return "invalid_attachments"
    return None


def _block_too_long(block: dict[str, t.Any]) -> bool:
    text = block.get("text")
    length = len(text.get("text") or "") if isinstance(text, dict) else 0
    if block["type"] == "section":
        return length > SECTION_TEXT_LIMIT
    if block["type"] == "header":
        return length > HEADER_TEXT_LIMIT
    return False


def _shown(message: dict[str, t.Any]) -> dict[str, t.Any]:
    """A stored message as Slack's answers show it (no channel, no empty fields)."""
    return {k: v for k, v in message.items() if v is not None and k != "channel"}


def _send(request: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str,
          headers: dict[str, str] | None = None) -> None:
    request.send_response(status)
    request.send_header("Content-Type", content_type)
    request.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        request.send_header(name, value)
    request.end_headers()
    request.wfile.write(body)


FakeSlack.handler = _Handler
FakeSlack.handler_attribute = "fake"
