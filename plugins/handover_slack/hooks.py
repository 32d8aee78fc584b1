"""Slack's requests to ``/hooks/slack/``: verified once, dispatched to bolt, answered fast.

One URL serves every Slack workspace. A request is checked against the signing secrets
we know (the deployment's app for OAuth installs, and each connector workspace's own app)
over its raw body, before anything is parsed (:mod:`handover_slack.verify`); bolt is then
told not to verify again and gets the request with its scope (which workspaces it may act
on) in its context, never through Flask's request globals. Listeners run before the
answer (``process_before_response``) and only hand things to the host: an agent's reply is
persisted as a task (:meth:`Host.defer`) and translated by the delivery worker, a button
is recorded at once. Everything slow waits in the outbox, so Slack gets its answer in
milliseconds, and nothing acknowledged can be lost.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import typing as t
from http.cookies import SimpleCookie

from flask import Blueprint
from flask import request
from itsdangerous import BadSignature
from slack_bolt import App
from slack_bolt import BoltContext
from slack_bolt import BoltResponse
from slack_bolt.adapter.flask import SlackRequestHandler
from slack_bolt.adapter.flask.handler import to_flask_response
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.oauth.callback_options import CallbackOptions
from slack_bolt.oauth.callback_options import FailureArgs
from slack_bolt.oauth.callback_options import SuccessArgs
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy.engine import Engine

from connector.plugins import Host
from connector.plugins import InboundEvent
from connector.plugins import webhooks

from handover_slack import manifest
from handover_slack import verify
from handover_slack.client import DEFAULT_API
from handover_slack.plugin import INSTALL_SALT

if t.TYPE_CHECKING:
    from handover_slack.plugin import SlackIntegration

log = logging.getLogger(__name__)

INSTALL_COOKIE = "handover_slack_ws"
#: message subtypes that are a person writing in the thread
REPLY_SUBTYPES = (None, "file_share", "thread_broadcast")
BUTTONS = {"take_over": "hand_over", "give_back": "give_back", "resolve": "resolve"}
FILE_FIELDS = ("id", "name", "mimetype", "size", "url_private", "url_private_download")


def installation_store(engine: Engine, client_id: str) -> SQLAlchemyInstallationStore:
    store = SQLAlchemyInstallationStore(client_id=client_id, engine=engine)
    store.metadata.create_all(engine, checkfirst=True)
    return store


@dataclasses.dataclass(frozen=True)
class Scope:
    """What one verified request may act on, handed to the listeners in bolt's context."""

    #: the connector workspaces whose Slack app signed it (or that its team installed)
    workspaces: frozenset[int]
    #: signed by the deployment's own app (OAuth installs), which speaks for its installs
    deployment: bool


def scope_of(context: BoltContext) -> Scope:
    return context["handover_scope"]


class SlackGateway:
    """Verifies, routes and answers Slack's requests for every workspace of this deployment."""

    def __init__(self, plugin: "SlackIntegration", host: Host) -> None:
        self.plugin = plugin
        self.host = host
        self._lock = threading.Lock()
        self._events_app: App | None = None
        self._oauth: App | None = None

    # -- who signed it -------------------------------------------------------------------

    def _deployment_secret(self) -> str | None:
        secret = self.plugin.app.signing_secret
        return secret.get_secret_value() if secret is not None else None

    def scope(self, body: bytes, timestamp: str, signature: str, content_type: str) -> Scope | None:
        """Who may act through this request, or None when no secret we know signs it.

        A workspace's own Slack app speaks for that workspace; the deployment's app (OAuth
        installs) speaks for the workspaces installed into the request's Slack team. So one
        tenant's app can never touch another tenant's threads, whatever ids it sends.
        """
        def ok(secret: str) -> bool:
            return verify.signature_ok(secret, body, timestamp, signature)

        deployment = self._deployment_secret()
        by_deployment = deployment is not None and ok(deployment)
        own = webhooks.signed_by(
            self.host.settings(self.plugin.name),
            lambda s: [s.signing_secret.get_secret_value()] if s.signing_secret else [], ok)
        if not own and not by_deployment:
            return None
        allowed = set(own)
        if by_deployment:
            team = verify.request_team(body, content_type)
            allowed |= {pk for pk, settings in self.host.settings(self.plugin.name).all()
                        if team and settings.team_id == team}
        return Scope(frozenset(allowed), by_deployment)

    def _events(self) -> App:
        """The one bolt app every verified request is dispatched to (no token, no second check)."""
        with self._lock:
            if self._events_app is None:
                app = App(signing_secret="verified-before-dispatch", authorize=_no_token,
                          process_before_response=True, request_verification_enabled=False,
                          logger=log, name="handover-slack")
                self._listen(app)
                self._events_app = app
            return self._events_app

    def _oauth_app(self) -> App:
        with self._lock:
            if self._oauth is None:
                self._oauth = self._build_oauth_app()
            return self._oauth

    def _build_oauth_app(self) -> App:
        deployment = self.plugin.app
        base = self.host.base_url.rstrip("/")
        engine = self.host.sql_engine()
        state_store = SQLAlchemyOAuthStateStore(expiration_seconds=600, engine=engine)
        state_store.metadata.create_all(engine, checkfirst=True)
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
            body = request.get_data(cache=True)  # raw; never request.form first
            scope = self.scope(body, request.headers.get("X-Slack-Request-Timestamp", ""),
                               request.headers.get("X-Slack-Signature", ""), request.content_type or "")
            if scope is None:
                return webhooks.error(401, "bad_signature", "missing, invalid or stale Slack signature",
                                      "X-Slack-Signature")
            bolt_request = BoltRequest(body=body.decode("utf-8", "replace"),
                                       query=request.query_string.decode("utf-8"),
                                       headers=dict(request.headers), context={"handover_scope": scope})
            return to_flask_response(self._events().dispatch(bolt_request))

        @bp.get("/install")
        def install() -> t.Any:
            if not self.plugin.app.oauth_enabled:
                return webhooks.error(404, "not_found",
                                      "OAuth installs are not set up (CONNECTOR_SLACK_CLIENT_ID and friends)")
            token = request.args.get("ws", "")
            if self._install_workspace(token) is None:
                return webhooks.error(400, "link_invalid", "This install link is invalid or has expired.", "ws")
            response = SlackRequestHandler(self._oauth_app()).handle(request)
            response.set_cookie(INSTALL_COOKIE, token, max_age=600, httponly=True, samesite="Lax",
                                secure=self.host.base_url.startswith("https://"), path="/hooks/slack")
            return response

        @bp.get("/oauth_redirect")
        def oauth_redirect() -> t.Any:
            if not self.plugin.app.oauth_enabled:
                return webhooks.error(404, "not_found", "OAuth installs are not set up")
            return SlackRequestHandler(self._oauth_app()).handle(request)

        return bp

    # -- OAuth ---------------------------------------------------------------------------------

    def _install_workspace(self, token: str) -> str | None:
        try:
            return self.host.url_signer(INSTALL_SALT).loads(token, max_age=3600)
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
            self.host.save_settings(workspace_id, self.plugin.name, {"team_id": team_id})
        except ValueError as exc:
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
        def message(body: dict[str, t.Any], event: dict[str, t.Any], context: BoltContext) -> None:
            gateway.on_message(scope_of(context), body, event)

        @app.event("app_uninstalled")
        def uninstalled(body: dict[str, t.Any], context: BoltContext) -> None:
            gateway.on_revoked(scope_of(context), body, "app_uninstalled: the app was removed from Slack; reinstall it")

        @app.event("tokens_revoked")
        def revoked(body: dict[str, t.Any], context: BoltContext) -> None:
            gateway.on_revoked(scope_of(context), body, "token_revoked: the Slack token was revoked; reinstall the app")

        @app.event(re.compile(".*"))
        def anything_else() -> None:
            """Acknowledged: Slack must never get a 404 for an event it sends us."""

        @app.action(re.compile("^(take_over|give_back|resolve)$"))
        def button(ack: t.Callable[..., None], body: dict[str, t.Any], action: dict[str, t.Any],
                   context: BoltContext) -> None:
            ack()
            gateway.on_button(scope_of(context), body, action)

        @app.action("take_over_and_send")
        def send_draft(ack: t.Callable[..., None], body: dict[str, t.Any], action: dict[str, t.Any],
                       context: BoltContext) -> None:
            ack()
            gateway.on_draft(scope_of(context), body, action, send=True)

        @app.action("keep_note")
        def keep_note(ack: t.Callable[..., None], body: dict[str, t.Any], action: dict[str, t.Any],
                      context: BoltContext) -> None:
            ack()
            gateway.on_draft(scope_of(context), body, action, send=False)

        @app.action(re.compile(".*"))
        def other_action(ack: t.Callable[..., None]) -> None:
            ack()

        @app.command(re.compile(".*"))
        def any_command(ack: t.Callable[..., None]) -> None:
            """The app defines no slash command; one an admin adds gets an answer, not a 404."""
            ack("Handover works from the buttons and replies in each handover thread.")

    def on_message(self, scope: Scope, body: dict[str, t.Any], event: dict[str, t.Any]) -> None:
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
        self.host.defer(plugin=self.plugin.name, event_id=body.get("event_id") or f"{channel}:{ts}",
                        thread_id=f"{channel}:{thread_ts}", task={"kind": "reply", "event": reply},
                        workspaces=scope.workspaces)

    def on_revoked(self, scope: Scope, body: dict[str, t.Any], reason: str) -> None:
        """Uninstalled or revoked: mark the affected integrations unhealthy; deliveries wait for replay."""
        self.host.mark_unhealthy(self.plugin.name, scope.workspaces, reason)
        team_id = body.get("team_id")
        if team_id and scope.deployment:  # only the deployment's own app speaks for its installs
            self.plugin.installations.delete_all(enterprise_id=body.get("enterprise_id"), team_id=team_id)
        log.warning("slack access lost", extra={"action": "slack_revoked", "workspaces": len(scope.workspaces)})

    def on_button(self, scope: Scope, body: dict[str, t.Any], action: dict[str, t.Any]) -> None:
        container = body.get("container") or {}
        channel, ts = container.get("channel_id"), container.get("message_ts")
        user = body.get("user") or {}
        self.host.record(InboundEvent(
            plugin=self.plugin.name, event_id=f"action:{channel}:{ts}:{action.get('action_ts')}:{user.get('id')}",
            thread_id=f"{channel}:{ts}", action=BUTTONS[action["action_id"]], conversation_id=action.get("value"),
            workspaces=scope.workspaces,
            actor_name=user.get("username") or user.get("name") or user.get("id"),
            reason="from Slack" if action["action_id"] == "take_over" else None,
            agent={"user": user["id"]} if user.get("id") else None,
        ))

    def on_draft(self, scope: Scope, body: dict[str, t.Any], action: dict[str, t.Any], send: bool) -> None:
        """The agent's answer to "Take over and send" / "Keep as internal note"."""
        draft = self.host.find_task(self.plugin.name, action.get("value", ""), scope.workspaces)
        if draft is None or draft.task.get("kind") != "reply" or draft.thread_id is None:
            return  # unknown, another tenant's, or not a reply
        if draft.task["event"]["user"] != (body.get("user") or {}).get("id"):
            return  # only the author can send their own draft
        response_url = body.get("response_url")
        if send:
            task = {**draft.task, "take_over": True, "response_url": response_url}
        elif response_url:
            task = {"kind": "respond", "response_url": response_url,
                    "body": {"replace_original": True, "text": "Kept as an internal note: the shopper did not see it."}}
        else:
            return
        self.host.defer(plugin=self.plugin.name, event_id=f"draft:{draft.id}:{'send' if send else 'note'}",
                        thread_id=draft.thread_id, task=task, workspaces={draft.workspace})


def _no_token(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
    """Single-workspace apps: requests are answered without calling Slack, so no token here."""
    return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id)


def _page(status: int, text: str) -> BoltResponse:
    from html import escape

    body = (f"<!doctype html><meta charset=utf-8><title>Handover for Slack</title>"
            f"<body style='font-family:system-ui;max-width:40em;margin:4em auto'><p>{escape(text)}</p></body>")
    return BoltResponse(status=status, body=body, headers={"Content-Type": "text/html; charset=utf-8"})
