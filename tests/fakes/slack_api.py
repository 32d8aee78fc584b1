"""A faithful local fake of the Slack Web API, reached by slack_sdk's ``WebClient(base_url=...)``.

It serves the methods the Slack plugin calls over real HTTP on 127.0.0.1 and answers the
way Slack does (HTTP 200 with ``{"ok": false, "error": ...}`` for API errors, 429 with
``Retry-After`` when rate limited). Every call is checked against an extract of Slack's
own API description (``tests/contracts/slack_web_methods.json``): an unknown method, an
undeclared parameter or a missing required one is recorded in :attr:`FakeSlack.violations`
and answered ``invalid_arguments``. Connector tests assert that list stays empty.

State: tokens (revocable), channels (bot membership), users, posted messages with their
update history, ephemeral messages, files (``url_private`` downloads need the bot token;
without it Slack, and this fake, answer 200 with an HTML sign-in page), OAuth codes.
"""

from __future__ import annotations

import base64
import dataclasses
import itertools
import json
import threading
import time
import typing as t
import urllib.parse
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path

CONTRACT = json.loads((Path(__file__).resolve().parents[1] / "contracts" / "slack_web_methods.json").read_text())
TEXT_LIMIT = 40_000
BLOCK_LIMIT = 50


@dataclasses.dataclass
class Call:
    method: str
    params: dict[str, t.Any]
    headers: dict[str, str]
    status: int = 200
    response: dict[str, t.Any] | None = None


@dataclasses.dataclass
class Token:
    team_id: str
    bot_user_id: str
    bot_id: str
    scopes: tuple[str, ...]
    revoked: bool = False


class FakeSlack:
    """``with FakeSlack() as slack:``; ``slack.url`` is the base URL for ``WebClient(base_url=...)``."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._ts = itertools.count(100)
        self.tokens: dict[str, Token] = {}
        self.channels: dict[str, dict[str, t.Any]] = {}
        self.users: dict[str, dict[str, t.Any]] = {}
        self.files: dict[str, dict[str, t.Any]] = {}
        self._file_content: dict[str, bytes] = {}
        self._messages: list[dict[str, t.Any]] = []
        self._history: dict[tuple[str, str], list[dict[str, t.Any]]] = {}
        self.ephemerals: list[dict[str, t.Any]] = []
        self.responses: list[dict[str, t.Any]] = []  # what was posted to response_urls
        self.oauth_codes: dict[str, dict[str, t.Any]] = {}
        self.calls: list[Call] = []
        self.violations: list[str] = []
        self._faults: dict[str, list[tuple[str, t.Any, float | None]]] = {}
        self._server: ThreadingHTTPServer | None = None

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> "FakeSlack":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: t.Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self)

            def do_POST(self) -> None:
                fake._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> "FakeSlack":
        return self.start()

    def __exit__(self, *exc: t.Any) -> None:
        self.stop()

    @property
    def root(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def url(self) -> str:
        return self.root + "/api/"

    # -- state set-up -------------------------------------------------------------------

    def add_token(self, token: str, *, team_id: str = "T01", bot_user_id: str = "UBOT", bot_id: str = "BBOT",
                  scopes: t.Sequence[str] = ("channels:history", "groups:history", "channels:read", "groups:read",
                                             "chat:write", "chat:write.customize", "users:read", "files:read")) -> None:
        with self._lock:
            self.tokens[token] = Token(team_id, bot_user_id, bot_id, tuple(scopes))

    def revoke(self, token: str) -> None:
        with self._lock:
            self.tokens[token].revoked = True

    def add_channel(self, channel_id: str, name: str = "handover", bot_member: bool = True) -> None:
        with self._lock:
            self.channels[channel_id] = {"id": channel_id, "name": name, "is_member": bot_member,
                                         "is_private": channel_id.startswith("G")}

    def set_bot_member(self, channel_id: str, member: bool) -> None:
        with self._lock:
            self.channels[channel_id]["is_member"] = member

    def delete_channel(self, channel_id: str) -> None:
        with self._lock:
            del self.channels[channel_id]

    def add_user(self, user_id: str, name: str, real_name: str, display_name: str = "", email: str | None = None,
                 is_bot: bool = False) -> None:
        with self._lock:
            self.users[user_id] = {
                "id": user_id, "team_id": "T01", "name": name, "real_name": real_name, "is_bot": is_bot,
                "profile": {"display_name": display_name, "real_name": real_name, "email": email,
                            "image_72": f"{self.root}/avatars/{user_id}.png"},
            }

    def add_file(self, file_id: str, name: str, mimetype: str, content: bytes) -> dict[str, t.Any]:
        """A file shared in Slack; returns the file object as events carry it."""
        url = f"{self.root}/files-pri/T01-{file_id}/{urllib.parse.quote(name)}"
        file = {"id": file_id, "name": name, "title": name, "mimetype": mimetype, "size": len(content),
                "url_private": url, "url_private_download": url + "?download=1"}
        with self._lock:
            self.files[file_id] = file
            self._file_content[file_id] = content
        return dict(file)

    def add_oauth_code(self, code: str, client_id: str, client_secret: str, *, team_id: str, bot_token: str,
                       bot_user_id: str, scopes: t.Sequence[str], redirect_uri: str | None = None) -> None:
        with self._lock:
            self.oauth_codes[code] = {"client_id": client_id, "client_secret": client_secret, "team_id": team_id,
                                      "bot_token": bot_token, "bot_user_id": bot_user_id, "scopes": list(scopes),
                                      "redirect_uri": redirect_uri}

    # -- faults -------------------------------------------------------------------------

    def rate_limit(self, method: str, times: int = 1, retry_after: float = 1) -> None:
        with self._lock:
            self._faults.setdefault(method, []).extend([("429", None, retry_after)] * times)

    def fail(self, method: str, times: int = 1, status: int = 500) -> None:
        with self._lock:
            self._faults.setdefault(method, []).extend([("status", status, None)] * times)

    def fail_with(self, method: str, error: str, times: int = 1) -> None:
        with self._lock:
            self._faults.setdefault(method, []).extend([("error", error, None)] * times)

    # -- what tests read ----------------------------------------------------------------

    def messages(self, channel: str) -> list[dict[str, t.Any]]:
        """Top-level messages and replies of a channel, in post order, as they are now."""
        with self._lock:
            return [dict(m) for m in self._messages if m["channel"] == channel]

    def thread(self, channel: str, ts: str) -> list[dict[str, t.Any]]:
        """The replies in a thread, oldest first."""
        return [m for m in self.messages(channel) if m.get("thread_ts") == ts and m["ts"] != ts]

    def versions(self, channel: str, ts: str) -> list[dict[str, t.Any]]:
        """Every version of a message: as posted, then after each chat.update."""
        with self._lock:
            return [dict(m) for m in self._history.get((channel, ts), [])]

    def calls_of(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    # -- the server ---------------------------------------------------------------------

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        parsed = urllib.parse.urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        headers = {k: v for k, v in request.headers.items()}
        if parsed.path.startswith("/files-pri/"):
            return self._download(request, parsed.path, headers)
        if parsed.path.startswith("/actions/"):  # a response_url
            with self._lock:
                self.responses.append(json.loads(raw or b"{}"))
            return _send(request, 200, b"ok", "text/plain")
        if not parsed.path.startswith("/api/"):
            return _send(request, 404, b"not found", "text/plain")
        method = parsed.path[len("/api/"):]
        params = _params(parsed.query, raw, request.headers.get("Content-Type", ""))
        call = Call(method, params, headers)
        with self._lock:
            self.calls.append(call)
        status, body, extra = self._answer(method, params, headers)
        call.status, call.response = status, body
        _send(request, status, json.dumps(body).encode(), "application/json; charset=utf-8", extra)

    def _answer(self, method: str, params: dict[str, t.Any], headers: dict[str, str]
                ) -> tuple[int, dict[str, t.Any], dict[str, str]]:
        contract = CONTRACT["methods"].get(method)
        if contract is None:
            self._violate(f"{method}: not a method this fake knows from Slack's API description")
            return 200, {"ok": False, "error": "unknown_method"}, {}
        declared = contract["params"]
        for name in params:
            if name not in declared:
                self._violate(f"{method}: parameter {name!r} is not in Slack's API description")
                return 200, {"ok": False, "error": "invalid_arguments"}, {}
        for name, required in declared.items():
            if required and name not in params and not (name == "token" and _bearer(headers)):
                self._violate(f"{method}: required parameter {name!r} missing")
                return 200, {"ok": False, "error": "invalid_arguments"}, {}
        with self._lock:
            faults = self._faults.get(method)
            fault = faults.pop(0) if faults else None
        if fault is not None:
            kind, value, retry_after = fault
            if kind == "429":
                return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(int(retry_after or 1))}
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
            answer = getattr(self, "_" + method.replace(".", "_"))(token, params)
        return 200, answer, {"X-OAuth-Scopes": ",".join(token.scopes)}

    def _violate(self, what: str) -> None:
        with self._lock:
            self.violations.append(what)

    # -- methods ------------------------------------------------------------------------

    def _channel(self, channel_id: str) -> dict[str, t.Any] | str:
        channel = self.channels.get(channel_id)
        if channel is None:
            return "channel_not_found"
        if not channel["is_member"]:
            return "not_in_channel"
        return channel

    def _auth_test(self, token: Token, params: dict[str, t.Any]) -> dict[str, t.Any]:
        return {"ok": True, "url": "https://fake.slack.com/", "team": "Fake Team", "user": "handover",
                "team_id": token.team_id, "user_id": token.bot_user_id, "bot_id": token.bot_id, "is_enterprise_install": False}

    def _chat_postMessage(self, token: Token, params: dict[str, t.Any]) -> dict[str, t.Any]:
        channel = self._channel(params["channel"])
        if isinstance(channel, str):
            return {"ok": False, "error": channel}
        text, blocks = params.get("text"), params.get("blocks")
        if not text and not blocks:
            return {"ok": False, "error": "no_text"}
        if text and len(text) > TEXT_LIMIT:
            return {"ok": False, "error": "msg_too_long"}
        if blocks is not None and (not isinstance(blocks, list) or len(blocks) > BLOCK_LIMIT):
            return {"ok": False, "error": "invalid_blocks"}
        message = {
            "type": "message", "ts": self._next_ts(), "channel": params["channel"], "text": text or "",
            "blocks": blocks, "thread_ts": params.get("thread_ts"), "username": params.get("username"),
            "icon_emoji": params.get("icon_emoji"), "icon_url": params.get("icon_url"),
            "user": token.bot_user_id, "bot_id": token.bot_id, "app_id": "A01", "team": token.team_id,
        }
        if message["thread_ts"] is not None:
            # Slack accepts a reply to any ts; a reply to a reply lands in the parent's thread.
            parent = next((m for m in self._messages if m["channel"] == message["channel"]
                           and m["ts"] == message["thread_ts"]), None)
            if parent is not None and parent.get("thread_ts") and parent["thread_ts"] != parent["ts"]:
                message["thread_ts"] = parent["thread_ts"]
        self._messages.append(message)
        self._history[(message["channel"], message["ts"])] = [dict(message)]
        return {"ok": True, "channel": message["channel"], "ts": message["ts"],
                "message": {k: v for k, v in message.items() if v is not None and k != "channel"}}

    def _chat_update(self, token: Token, params: dict[str, t.Any]) -> dict[str, t.Any]:
        channel = self._channel(params["channel"])
        if isinstance(channel, str):
            return {"ok": False, "error": channel}
        message = next((m for m in self._messages if m["channel"] == params["channel"] and m["ts"] == params["ts"]), None)
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        if message.get("bot_id") != token.bot_id:
            return {"ok": False, "error": "cant_update_message"}
        blocks = params.get("blocks")
        if blocks is not None and (not isinstance(blocks, list) or len(blocks) > BLOCK_LIMIT):
            return {"ok": False, "error": "invalid_blocks"}
        message["text"] = params.get("text") or ""
        message["blocks"] = blocks  # text without blocks removes the blocks, as Slack does
        self._history[(message["channel"], message["ts"])].append(dict(message))
        return {"ok": True, "channel": message["channel"], "ts": message["ts"], "text": message["text"]}

    def _chat_postEphemeral(self, token: Token, params: dict[str, t.Any]) -> dict[str, t.Any]:
        channel = self._channel(params["channel"])
        if isinstance(channel, str):
            return {"ok": False, "error": channel}
        if params["user"] not in self.users:
            return {"ok": False, "error": "user_not_in_channel"}
        ts = self._next_ts()
        self.ephemerals.append({"channel": params["channel"], "user": params["user"], "text": params.get("text") or "",
                                "blocks": params.get("blocks"), "thread_ts": params.get("thread_ts"), "ts": ts})
        return {"ok": True, "message_ts": ts}

    def _chat_getPermalink(self, token: Token, params: dict[str, t.Any]) -> dict[str, t.Any]:
        return {"ok": True, "channel": params["channel"],
                "permalink": f"https://fake.slack.com/archives/{params['channel']}/p{params['message_ts'].replace('.', '')}"}

    def _users_info(self, token: Token, params: dict[str, t.Any]) -> dict[str, t.Any]:
        user = self.users.get(params.get("user", ""))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": json.loads(json.dumps(user))}

    def _conversations_info(self, token: Token, params: dict[str, t.Any]) -> dict[str, t.Any]:
        channel = self.channels.get(params.get("channel", ""))
        if channel is None or (channel["is_private"] and not channel["is_member"]):
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "channel": dict(channel)}

    def _files_info(self, token: Token, params: dict[str, t.Any]) -> dict[str, t.Any]:
        file = self.files.get(params.get("file", ""))
        return {"ok": True, "file": dict(file)} if file else {"ok": False, "error": "file_not_found"}

    def _oauth(self, params: dict[str, t.Any], headers: dict[str, str]) -> tuple[int, dict[str, t.Any], dict[str, str]]:
        client_id, client_secret = params.get("client_id"), params.get("client_secret")
        basic = headers.get("Authorization", "")
        if basic.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(basic[6:]).decode().partition(":")
        with self._lock:
            grant = self.oauth_codes.pop(params.get("code", ""), None)
        if grant is None:
            return 200, {"ok": False, "error": "invalid_code"}, {}
        if (client_id, client_secret) != (grant["client_id"], grant["client_secret"]):
            return 200, {"ok": False, "error": "invalid_client_id"}, {}
        if grant["redirect_uri"] and params.get("redirect_uri") != grant["redirect_uri"]:
            return 200, {"ok": False, "error": "bad_redirect_uri"}, {}
        return 200, {
            "ok": True, "access_token": grant["bot_token"], "token_type": "bot", "scope": ",".join(grant["scopes"]),
            "bot_user_id": grant["bot_user_id"], "app_id": "A01", "team": {"id": grant["team_id"], "name": "Team"},
            "enterprise": None, "authed_user": {"id": "UINSTALLER"}, "is_enterprise_install": False,
        }, {}

    def _download(self, request: BaseHTTPRequestHandler, path: str, headers: dict[str, str]) -> None:
        file_id = path.split("/")[2].split("-", 1)[1]
        token = self.tokens.get(_bearer(headers) or "")
        with self._lock:
            content = self._file_content.get(file_id)
            file = self.files.get(file_id)
        if token is None or token.revoked or content is None:
            # Slack's classic pitfall: no error, a sign-in page.
            return _send(request, 200, b"<!DOCTYPE html><html><body>Sign in to Slack</body></html>", "text/html")
        _send(request, 200, content, file["mimetype"])


def _bearer(headers: dict[str, str]) -> str | None:
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    return value[7:] if value.startswith("Bearer ") else None


def _params(query: str, raw: bytes, content_type: str) -> dict[str, t.Any]:
    params: dict[str, t.Any] = {k: v[-1] for k, v in urllib.parse.parse_qs(query).items()}
    if raw and "application/json" in content_type:
        params.update(json.loads(raw))
    elif raw:
        params.update({k: v[-1] for k, v in urllib.parse.parse_qs(raw.decode()).items()})
    for name in ("blocks", "attachments"):
        if isinstance(params.get(name), str):
            try:
                params[name] = json.loads(params[name])
            except ValueError:
                pass
    return params


def _send(request: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str,
          headers: dict[str, str] | None = None) -> None:
    request.send_response(status)
    request.send_header("Content-Type", content_type)
    request.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        request.send_header(name, value)
    request.end_headers()
    request.wfile.write(body)
