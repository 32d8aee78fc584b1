"""Slack's requests to ``/hooks/slack/``: verified, routed to a bolt app, answered fast.

One URL serves every Slack workspace. A request is first checked against the signing
secrets we know (the deployment's app for OAuth installs, and each connector workspace's
own app) over its raw body, before anything is parsed; the bolt app of the secret that
matched then verifies it again and dispatches it. Listeners run before the answer
(``process_before_response``) and only write to the database: an agent's reply is
persisted as a task (:func:`connector.inbound.defer`) and processed by the delivery
worker, a button runs its command at once. Everything slow waits in the outbox, so Slack
gets its answer in milliseconds, and nothing acknowledged can be lost.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading
import typing as t
import urllib.parse
from http.cookies import SimpleCookie

from flask import Blueprint
from flask import g
from flask import jsonify
from flask import request
from itsdangerous import BadSignature
from itsdangerous import URLSafeTimedSerializer
from slack_bolt import App
from slack_bolt import BoltResponse
from slack_bolt.adapter.flask import SlackRequestHandler
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.oauth.callback_options import CallbackOptions
from slack_bolt.oauth.callback_options import FailureArgs
from slack_bolt.oauth.callback_options import SuccessArgs
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import select
from sqlalchemy.engine import Engine

from connector.delivery import outbox
from connector.inbound import InboundEvent
from connector.inbound import defer
from connector.inbound import handle_inbound
from connector.integrations import SettingsCache
from connector.integrations import SettingsError
from connector.representations import refusal_for_agents
from connector.storage import repository
from connector.storage.models import Conversation
from connector.storage.models import Link

from handover_slack import manifest
from handover_slack.client import DEFAULT_API

if t.TYPE_CHECKING:
    from connector.app import Connector
    from handover_slack.plugin import SlackIntegration

log = logging.getLogger(__name__)

INSTALL_SALT = "handover_slack.install"
INSTALL_COOKIE = "handover_slack_ws"
#: message subtypes that are a person writing in the thread
REPLY_SUBTYPES = (None, "file_share", "thread_broadcast")
BUTTONS = {"take_over": "hand_over", "give_back": "give_back", "resolve": "resolve"}
FILE_FIELDS = ("id", "name", "mimetype", "size", "url_private", "url_private_download")


def install_token(secret_key: str, workspace_id: str) -> str:
    return URLSafeTimedSerializer(secret_key, salt=INSTALL_SALT).dumps(workspace_id)


def installation_store(engine: Engine, client_id: str) -> SQLAlchemyInstallationStore:
    store = SQLAlchemyInstallationStore(client_id=client_id, engine=engine)
    store.metadata.create_all(engine, checkfirst=True)
    return store


class SlackGateway:
    """Verifies, routes and answers Slack's requests for every workspace of this deployment."""

    CACHE_SECONDS = 10.0

    def __init__(self, plugin: "SlackIntegration", connector: "Connector") -> None:
        self.plugin = plugin
        self.connector = connector
        self._lock = threading.Lock()
        self._apps: dict[str, App] = {}
        self._settings = SettingsCache(connector.integrations, connector.db, plugin.name, self.CACHE_SECONDS)

    # -- which app answers ---------------------------------------------------------------

    def _integrations(self, refresh: bool = False) -> list[tuple[int, t.Any]]:
        return self._settings.all(refresh)

    def _secrets(self, refresh: bool = False) -> list[str]:
        found = [s.signing_secret.get_secret_value() for _, s in self._integrations(refresh) if s.signing_secret]
        if self.plugin.app.signing_secret is not None:
            found.insert(0, self.plugin.app.signing_secret.get_secret_value())
        return list(dict.fromkeys(found))

    def _verified_secret(self, body: str, timestamp: str, signature: str) -> str | None:
        """The signing secret this request is signed with (within Slack's 5 minutes), or None."""
        if not timestamp or not signature:
            return None
        for refresh in (False, True):
            for secret in self._secrets(refresh):
                if SignatureVerifier(secret).is_valid(body=body, timestamp=timestamp, signature=signature):
                    return secret
        return None

    def _is_deployment(self, secret: str) -> bool:
        deployment = self.plugin.app.signing_secret
        return deployment is not None and hmac.compare_digest(deployment.get_secret_value(), secret)

    def _workspaces_for(self, secret: str, body: str, content_type: str) -> frozenset[int]:
        """The connector workspaces a request verified with ``secret`` may act on.

        A workspace's own Slack app speaks for that workspace; the deployment's app (OAuth
        installs) speaks for the workspaces installed into the request's Slack team. So one
        tenant's app can never touch another tenant's threads, whatever ids it sends.
        """
        allowed = {pk for pk, settings in self._integrations()
                   if settings.signing_secret is not None
                   and hmac.compare_digest(settings.signing_secret.get_secret_value(), secret)}
        if self._is_deployment(secret):
            team = _team_of(body, content_type)
            allowed |= {pk for pk, settings in self._integrations() if team and settings.team_id == team}
        return frozenset(allowed)

    def _app(self, secret: str) -> App:
        key = hashlib.sha256(secret.encode()).hexdigest()
        with self._lock:
            app = self._apps.get(key)
        if app is None:
            deployment = self.plugin.app
            if deployment.oauth_enabled and deployment.signing_secret.get_secret_value() == secret:
                app = self._oauth_app()
            else:
                app = App(signing_secret=secret, authorize=_no_token, process_before_response=True,
                          logger=log, name="handover-slack")
            self._listen(app)
            with self._lock:
                app = self._apps.setdefault(key, app)
        return app

    def _oauth_app(self) -> App:
        deployment = self.plugin.app
        base = self.connector.settings.base_url.rstrip("/")
        state_store = SQLAlchemyOAuthStateStore(expiration_seconds=600, engine=self.connector.db.engine)
        state_store.metadata.create_all(self.connector.db.engine, checkfirst=True)
        return App(
            signing_secret=deployment.signing_secret.get_secret_value(),
            client=WebClient(base_url=deployment.api_base_url or DEFAULT_API),
            installation_store=self.plugin.installations,
            oauth_settings=OAuthSettings(
                client_id=deployment.client_id,
                client_secret=deployment.client_secret.get_secret_value(),
                scopes=list(manifest.BOT_SCOPES),
                install_path="/hooks/slack/install",
                redirect_uri_path="/hooks/slack/oauth_redirect",
                redirect_uri=f"{base}/hooks/slack/oauth_redirect",
                install_page_rendering_enabled=False,
                state_store=state_store,
                installation_store_bot_only=True,
                callback_options=CallbackOptions(success=self._installed, failure=self._install_failed),
            ),
            process_before_response=True,
            logger=log,
            name="handover-slack",
        )

    # -- routes ------------------------------------------------------------------------------

    def blueprint(self) -> Blueprint:
        bp = Blueprint("slack", __name__)

        @bp.post("/events")
        def events() -> t.Any:
            body = request.get_data(cache=True, as_text=True)  # raw; never request.form first
            secret = self._verified_secret(body, request.headers.get("X-Slack-Request-Timestamp", ""),
                                           request.headers.get("X-Slack-Signature", ""))
            if secret is None:
                return jsonify({"error": {"code": "bad_signature",
                                          "message": "missing, invalid or stale Slack signature",
                                          "field": "X-Slack-Signature"}}), 401
            g.slack_deployment_app = self._is_deployment(secret)
            g.slack_workspaces = self._workspaces_for(secret, body, request.content_type or "")
            return SlackRequestHandler(self._app(secret)).handle(request)

        @bp.get("/install")
        def install() -> t.Any:
            if not self.plugin.app.oauth_enabled:
                return _not_found("OAuth installs are not set up (CONNECTOR_SLACK_CLIENT_ID and friends)")
            token = request.args.get("ws", "")
            if self._install_workspace(token) is None:
                return jsonify({"error": {"code": "link_invalid", "field": "ws",
                                          "message": "This install link is invalid or has expired."}}), 400
            response = SlackRequestHandler(self._app(self.plugin.app.signing_secret.get_secret_value())).handle(request)
            response.set_cookie(INSTALL_COOKIE, token, max_age=600, httponly=True, samesite="Lax",
                                secure=self.connector.settings.base_url.startswith("https://"), path="/hooks/slack")
            return response

        @bp.get("/oauth_redirect")
        def oauth_redirect() -> t.Any:
            if not self.plugin.app.oauth_enabled:
                return _not_found("OAuth installs are not set up")
            return SlackRequestHandler(self._app(self.plugin.app.signing_secret.get_secret_value())).handle(request)

        return bp

    # -- OAuth ---------------------------------------------------------------------------------

    def _install_workspace(self, token: str) -> str | None:
        try:
            return URLSafeTimedSerializer(self.connector.secret_key, salt=INSTALL_SALT).loads(token, max_age=3600)
        except BadSignature:
            return None

    def _installed(self, args: SuccessArgs) -> BoltResponse:
        cookies = SimpleCookie()
        for header in args.request.headers.get("cookie", []):
            cookies.load(header)
        morsel = cookies.get(INSTALL_COOKIE)
        workspace_id = self._install_workspace(morsel.value) if morsel else None
        if workspace_id is None:
            return _page(400, "Start the install from the link the connector gave you (it expires after an hour).")
        team_id = args.installation.team_id
        try:
            with self.connector.db.write() as session:
                workspace = repository.get_workspace(session, workspace_id)
                self.connector.integrations.save(session, workspace, self.plugin.name, {"team_id": team_id})
        except SettingsError as exc:
            return _page(400, f"Installed in Slack, but the connector's settings are incomplete: {exc}. "
                              f"Run: connector integration set {workspace_id} slack channel=C…")
        log.info("slack installed", extra={"action": "slack_installed", "team": team_id})
        return _page(200, "Installed. Invite the bot to your handover channel with /invite, "
                          "then check it with: connector integration test " + workspace_id + " slack")

    def _install_failed(self, args: FailureArgs) -> BoltResponse:
        return _page(args.suggested_status_code or 400, f"The install did not complete: {args.reason}.")

    # -- listeners -----------------------------------------------------------------------------

    def _listen(self, app: App) -> None:
        gateway = self

        @app.event("message")
        def message(body: dict[str, t.Any], event: dict[str, t.Any]) -> None:
            gateway.on_message(body, event)

        @app.event("app_uninstalled")
        def uninstalled(body: dict[str, t.Any]) -> None:
            gateway.on_revoked(body, "app_uninstalled: the app was removed from Slack; reinstall it")

        @app.event("tokens_revoked")
        def revoked(body: dict[str, t.Any]) -> None:
            gateway.on_revoked(body, "token_revoked: the Slack token was revoked; reinstall the app")

        @app.event(re.compile(".*"))
        def anything_else() -> None:
            """Acknowledged: Slack must never get a 404 for an event it sends us."""

        @app.action(re.compile("^(take_over|give_back|resolve)$"))
        def button(ack: t.Callable[..., None], body: dict[str, t.Any], action: dict[str, t.Any]) -> None:
            ack()
            gateway.on_button(body, action)

        @app.action("take_over_and_send")
        def send_draft(ack: t.Callable[..., None], body: dict[str, t.Any], action: dict[str, t.Any]) -> None:
            ack()
            gateway.on_draft(body, action, send=True)

        @app.action("keep_note")
        def keep_note(ack: t.Callable[..., None], body: dict[str, t.Any], action: dict[str, t.Any]) -> None:
            ack()
            gateway.on_draft(body, action, send=False)

        @app.action(re.compile(".*"))
        def other_action(ack: t.Callable[..., None]) -> None:
            ack()

        @app.command(re.compile(".*"))
        def any_command(ack: t.Callable[..., None]) -> None:
            """The app defines no slash command; one an admin adds gets an answer, not a 404."""
            ack("Handover works from the buttons and replies in each handover thread.")

    def on_message(self, body: dict[str, t.Any], event: dict[str, t.Any]) -> None:
        """A message in a channel: persist an agent's thread reply for the worker; ignore the rest."""
        if event.get("bot_id") or event.get("hidden") or event.get("subtype") not in REPLY_SUBTYPES:
            return  # our own posts (and other apps'), edits, deletions, bookkeeping
        thread_ts, ts, user = event.get("thread_ts"), event.get("ts"), event.get("user")
        if not thread_ts or thread_ts == ts or not user:
            return  # a top-level message, not a reply in a handover thread
        if any(a.get("is_bot") and a.get("user_id") == user for a in body.get("authorizations") or []):
            return  # ourselves
        channel = event["channel"]
        reply = {"user": user, "channel": channel, "ts": ts, "thread_ts": thread_ts, "text": event.get("text") or "",
                 "files": [{k: f.get(k) for k in FILE_FIELDS} for f in event.get("files") or []]}
        defer(self.connector, plugin=self.plugin.name, event_id=body.get("event_id") or f"{channel}:{ts}",
              thread_id=f"{channel}:{thread_ts}", task={"kind": "reply", "event": reply},
              workspaces=g.slack_workspaces)

    def on_revoked(self, body: dict[str, t.Any], reason: str) -> None:
        """Uninstalled or revoked: mark the affected integrations unhealthy; deliveries wait for replay."""
        affected = sorted(g.slack_workspaces)
        with self.connector.db.write() as session:
            for workspace_pk in affected:
                self.connector.integrations.mark_health(session, workspace_pk, self.plugin.name, False, reason)
        team_id = body.get("team_id")
        if team_id and g.slack_deployment_app:  # only the deployment's own app speaks for its installs
            self.plugin.installations.delete_all(enterprise_id=body.get("enterprise_id"), team_id=team_id)
        log.warning("slack access lost", extra={"action": "slack_revoked", "workspaces": len(affected)})

    def on_button(self, body: dict[str, t.Any], action: dict[str, t.Any]) -> None:
        container = body.get("container") or {}
        channel, ts = container.get("channel_id"), container.get("message_ts")
        user = body.get("user") or {}
        result = handle_inbound(self.connector, InboundEvent(
            plugin=self.plugin.name, event_id=f"action:{channel}:{ts}:{action.get('action_ts')}:{user.get('id')}",
            thread_id=f"{channel}:{ts}", action=BUTTONS[action["action_id"]], conversation_id=action.get("value"),
            workspaces=g.slack_workspaces,
            actor_name=user.get("username") or user.get("name") or user.get("id"),
            reason="from Slack" if action["action_id"] == "take_over" else None,
        ))
        if result.outcome == "refused" and result.conversation_id:
            self._notice(result.conversation_id, channel, ts, user.get("id"),
                         refusal_for_agents(result.code))

    def on_draft(self, body: dict[str, t.Any], action: dict[str, t.Any], send: bool) -> None:
        """The agent's answer to "Take over and send" / "Keep as internal note"."""
        with self.connector.db.write() as session:
            found = outbox.task_of(session, action.get("value", ""), self.plugin.name)
            if found is None or found[1].get("kind") != "reply":
                return
            delivery, task = found
            if delivery.workspace_pk not in g.slack_workspaces:
                return  # another tenant's draft
            if task["event"]["user"] != (body.get("user") or {}).get("id"):
                return  # only the author can send their own draft
            response_url = body.get("response_url")
            if send:
                outbox.enqueue_task(session, workspace_pk=delivery.workspace_pk, conversation_pk=delivery.conversation_pk,
                                    plugin=self.plugin.name, task={**task, "take_over": True, "response_url": response_url})
            elif response_url:
                outbox.enqueue_task(session, workspace_pk=delivery.workspace_pk, conversation_pk=delivery.conversation_pk,
                                    plugin=self.plugin.name, task={"kind": "respond", "response_url": response_url,
                                                                   "body": {"replace_original": True, "text":
                                                                            "Kept as an internal note: the shopper did not see it."}})
        self._wake()

    def _notice(self, conversation_id: str, channel: str | None, ts: str | None, user: str | None, text: str) -> None:
        """An ephemeral notice to one agent in the thread, through the outbox."""
        with self.connector.db.write() as session:
            link = session.scalar(select(Link).where(Link.plugin == self.plugin.name, Link.external_id == f"{channel}:{ts}"))
            if link is None or user is None:
                return
            conversation = session.get(Conversation, link.conversation_pk)
            outbox.enqueue_task(session, workspace_pk=conversation.workspace_pk, conversation_pk=conversation.pk,
                                plugin=self.plugin.name, task={"kind": "notice", "user": user, "text": text})
        self._wake()

    def _wake(self) -> None:
        if self.connector.worker is not None:
            self.connector.worker.wake()


def _team_of(body: str, content_type: str) -> str | None:
    """The Slack team a (verified) request comes from: events carry ``team_id``, actions ``team``."""
    try:
        if "application/x-www-form-urlencoded" in content_type:
            form = urllib.parse.parse_qs(body)
            data = json.loads(form["payload"][0]) if "payload" in form else {k: v[0] for k, v in form.items()}
        else:
            data = json.loads(body)
    except (ValueError, KeyError, IndexError):
        return None
    if not isinstance(data, dict):
        return None
    team = data.get("team_id") or data.get("team")
    if isinstance(team, dict):
        team = team.get("id")
    return team if isinstance(team, str) else None


def _no_token(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
    """Single-workspace apps: requests are answered without calling Slack, so no token here."""
    return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id)


def _not_found(message: str) -> t.Any:
    return jsonify({"error": {"code": "not_found", "message": message}}), 404


def _page(status: int, text: str) -> BoltResponse:
    from html import escape

    body = (f"<!doctype html><meta charset=utf-8><title>Handover for Slack</title>"
            f"<body style='font-family:system-ui;max-width:40em;margin:4em auto'><p>{escape(text)}</p></body>")
    return BoltResponse(status=status, body=body, headers={"Content-Type": "text/html; charset=utf-8"})
