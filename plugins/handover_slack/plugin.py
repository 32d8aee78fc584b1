"""The Slack integration: a thread per handover, mirrored both ways, acted on with buttons.

Outbound (delivery worker): the parent message with the state and the buttons, the
transcript in the thread (in parts, as follow-up tasks), later messages under their
author's name, and the parent updated on every state change, wherever it came from.

Inbound (:mod:`handover_slack.hooks`): requests are verified and routed to bolt; agent
replies are persisted in the request and translated here, as tasks (who wrote it, fetch
the files), into events the core applies; a refused reply comes back to
:meth:`SlackIntegration.tell_agent`, which asks the agent whether to take over and send.
"""

from __future__ import annotations

import functools
import html
import re
import typing as t

import requests
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import SecretStr
from pydantic import model_validator
from pydantic_settings import BaseSettings
from pydantic_settings import SettingsConfigDict

from connector.plugins import AttachmentTooLarge
from connector.plugins import DeliveryContext
from connector.plugins import GiveUp
from connector.plugins import Health
from connector.plugins import Host
from connector.plugins import InboundEvent
from connector.plugins import Integration
from connector.plugins import IntegrationBroken
from connector.plugins import Refusal
from connector.plugins import RetryLater
from connector.plugins import TaskResult
from connector.plugins import ThreadRef
from connector.plugins import text
from connector.plugins.http import AddressRefused
from connector.plugins.http import connection_error_word
from connector.plugins.http import pinned_request
from connector.plugins.webhooks import retry_after

from handover_slack import blocks
from handover_slack import files
from handover_slack import manifest
from handover_slack.client import ChannelPacer
from handover_slack.client import calling_slack
from handover_slack.client import web_client
from handover_slack.posting import post_once

NAME = "slack"
INSTALL_SALT = "handover_slack.install"
NOTE_PREFIX = re.compile(r"^\s*note:", re.IGNORECASE)


class SlackSettings(BaseModel):
    """``connector integration set WORKSPACE slack ...``"""

    model_config = ConfigDict(extra="forbid")

    #: the channel's id (C… or G…), where handovers are posted
    channel: str = Field(pattern=r"^[CG][A-Z0-9]{2,}$")
    #: single-workspace install: the app's bot token (xoxb-…) ...
    bot_token: SecretStr | None = None
    #: ... and its signing secret
    signing_secret: SecretStr | None = None
    #: OAuth install: the Slack team the deployment's app was installed into (set by the install)
    team_id: str | None = None
    #: Slack's Web API base URL (tests, proxies)
    api_base_url: str | None = None

    @model_validator(mode="after")
    def _token_needs_secret(self) -> "SlackSettings":
        if self.bot_token is not None and self.signing_secret is None:
            raise ValueError("signing_secret is required with bot_token (Basic Information > Signing Secret)")
        return self


class SlackApp(BaseSettings):
    """The deployment's own Slack app, for multi-workspace OAuth installs (``CONNECTOR_SLACK_*``)."""

    model_config = SettingsConfigDict(env_prefix="CONNECTOR_SLACK_", extra="ignore")

    signing_secret: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    #: Slack's Web API base URL for the OAuth exchange (tests, proxies)
    api_base_url: str | None = None
    #: posts per second per channel, with short bursts (Slack allows about one)
    posts_per_second: float = 1.0

    @property
    def oauth_enabled(self) -> bool:
        return bool(self.signing_secret and self.client_id and self.client_secret)


class SlackIntegration(Integration):
    name = NAME
    title = "Slack"
    settings_model = SlackSettings
    mirror_own_state = True  # the parent message shows the state, whoever changed it
    opens_on_suggestion = True  # a semi-automate suggestion is a thread with a Take over button

    def __init__(self, app: SlackApp | None = None) -> None:
        self.app = app or SlackApp()
        self.pacer = ChannelPacer(self.app.posts_per_second)
        self.host: Host | None = None
        #: agents' display names by (team or channel, user id), for an hour
        self._names = text.NameCache()

    def bind(self, host: Host) -> None:
        self.host = host

    # -- set-up ----------------------------------------------------------------------------

    @functools.cached_property
    def installations(self) -> t.Any:
        """bolt's SQLAlchemy installation store, in the connector's database (OAuth installs), tokens encrypted."""
        from handover_slack.hooks import installation_store
        from handover_slack.store import EncryptedInstallationStore

        assert self.host is not None and self.app.client_id
        return EncryptedInstallationStore(installation_store(self.host.sql_engine(), self.app.client_id),
                                          self.host.encrypt, self.host.decrypt)

    def token(self, settings: SlackSettings) -> str:
        if settings.bot_token is not None:
            return settings.bot_token.get_secret_value()
        if settings.team_id and self.app.oauth_enabled:
            bot = self.installations.find_bot(enterprise_id=None, team_id=settings.team_id)
            if bot is not None and bot.bot_token:
                return bot.bot_token
            raise IntegrationBroken("the Slack app is not installed in that team any more: install it again")
        raise IntegrationBroken("not installed: set bot_token and signing_secret, or install the app through OAuth")

    def _api_base(self, settings: SlackSettings) -> str | None:
        """The configured Web API base URL (a proxy, a test's fake), or None for Slack itself."""
        return settings.api_base_url or self.app.api_base_url

    def client(self, settings: SlackSettings, timeout: float) -> t.Any:
        return web_client(self.token(settings), settings.api_base_url or self.app.api_base_url, timeout)

    def check(self, settings: BaseModel, http: requests.Session, timeout: float) -> Health:
        settings = t.cast(SlackSettings, settings)
        try:
            client = self.client(settings, timeout)
            with calling_slack("auth.test"):
                me = client.auth_test()
            with calling_slack("conversations.info"):
                channel = client.conversations_info(channel=settings.channel)["channel"]
        except (IntegrationBroken, GiveUp, RetryLater) as exc:
            return Health(False, exc.reason)
        if not channel.get("is_member", True):
            return Health(False, f"not_in_channel: invite the bot to #{channel.get('name', settings.channel)}")
        return Health(True, f"posting to #{channel.get('name', settings.channel)} as {me.get('user')} in {me.get('team')}")

    def install_url(self, workspace_id: str) -> str | None:
        if not self.app.oauth_enabled or self.host is None:
            return None
        token = self.host.url_signer(INSTALL_SALT).dumps(workspace_id)
        return f"{self.host.base_url.rstrip('/')}/hooks/slack/install?ws={token}"

    def manifests(self, base_url: str) -> dict[str, bytes]:
        return {"slack/manifest.yml": manifest.render(base_url).encode()}

    def blueprint(self, host: Host) -> t.Any:
        from handover_slack.hooks import SlackGateway

        return SlackGateway(self, host).blueprint()

    # -- outbound ----------------------------------------------------------------------------

    def open_thread(self, ctx, conversation, transcript, events) -> ThreadRef:
        settings = t.cast(SlackSettings, ctx.settings)
        client = self.client(settings, ctx.timeout)
        fallback, parent = blocks.parent_message(conversation, self._history(ctx, events),
                                                 text.console_url(ctx.base_url, conversation["id"]))
        posted = post_once(ctx, client, self.pacer, f"{ctx.idempotency_key}:parent", opening=True,  # goes first
                           channel=settings.channel,
                           text=fallback, blocks=parent, unfurl_links=False)
        ts = posted["ts"]
        parts = blocks.transcript_parts(transcript, conversation.get("shopper") or {})
        return ThreadRef(
            f"{posted['channel']}:{ts}",
            {"channel": posted["channel"], "ts": ts, "team_id": settings.team_id},
            tasks=tuple({"kind": "transcript", "text": part} for part in parts),
        )

    def mirror_message(self, ctx, thread, conversation, message) -> str | None:
        settings = t.cast(SlackSettings, ctx.settings)
        client = self.client(settings, ctx.timeout)
        channel, ts = thread.data["channel"], thread.data["ts"]
        posted_ts = None
        for number, part in enumerate(blocks.split(blocks.message_text(message))):
            posted = post_once(
                ctx, client, self.pacer, f"{ctx.idempotency_key}:{number}", channel=channel, thread_ts=ts,
                text=part, unfurl_links=False, username=text.author_label(message, conversation.get("shopper") or {}),
                icon_emoji=blocks.AUTHOR.get(message["author"]),
            )
            posted_ts = posted_ts or posted["ts"]
        return f"{channel}:{posted_ts}"

    def mirror_state(self, ctx, thread, conversation, events) -> None:
        settings = t.cast(SlackSettings, ctx.settings)
        client = self.client(settings, ctx.timeout)
        channel, ts = thread.data["channel"], thread.data["ts"]
        fallback, parent = blocks.parent_message(conversation, self._history(ctx, events),
                                                 text.console_url(ctx.base_url, conversation["id"]))
        with calling_slack("chat.update"):
            client.chat_update(channel=channel, ts=ts, text=fallback, blocks=parent)
        note = blocks.state_note(events)
        if note:
            post_once(ctx, client, self.pacer, f"{ctx.idempotency_key}:note", channel=channel, thread_ts=ts, text=note)
        return None

    def run_task(self, ctx, thread, task) -> TaskResult | None:
        if thread is None:
            raise RetryLater("the thread is not open yet")
        settings = t.cast(SlackSettings, ctx.settings)
        kind = task.get("kind")
        if kind == "transcript":
            client = self.client(settings, ctx.timeout)
            post_once(ctx, client, self.pacer, f"{ctx.idempotency_key}:0", channel=thread.data["channel"],
                      thread_ts=thread.data["ts"], text=task["text"], unfurl_links=False)
            return None
        if kind == "reply":
            result = self._reply(ctx, settings, thread, task)
            if task.get("response_url"):
                files.respond(ctx, task["response_url"], {"delete_original": True}, self._api_base(settings))
            return result
        if kind == "respond":
            files.respond(ctx, task["response_url"], task["body"], self._api_base(settings))
            return None
        raise GiveUp(f"unknown Slack task {kind!r}")

    # -- agent replies -------------------------------------------------------------------

    def _reply(self, ctx: DeliveryContext, settings: SlackSettings, thread: ThreadRef,
               task: dict[str, t.Any]) -> TaskResult | None:
        """An agent's reply in the thread, as an event: sent as the agent, or refused and asked about."""
        event = task["event"]
        if NOTE_PREFIX.match(event.get("text") or ""):
            return None  # "note:" stays in Slack, always
        client = self.client(settings, ctx.timeout)
        take_over = bool(task.get("take_over"))
        view = ctx.conversation() if not take_over and event.get("files") else None  # read only when needed
        if not take_over and event.get("files") and (view is None or (view.controller, view.status) != ("human", "open")):
            return self._prompt(client, thread, event["user"], ctx.idempotency_key,
                                resolved=view is not None and view.status != "open")  # ask before fetching files
        name = self._display_name(client, settings, event["user"])
        attachments, not_sent = [], []
        for file in event.get("files") or []:
            try:
                attachments.append(self._fetch(ctx, settings, file))
            except GiveUp as exc:  # this file only: the text and the other files still go
                not_sent.append((file.get("name") or file.get("id") or "a file", exc.reason))
        if not_sent:
            self._tell_files_not_sent(client, thread, event["user"], not_sent)
        reply_text = plain_text(event.get("text") or "")
        if not reply_text and not attachments:
            return None  # only files, and none could be sent: the agent was told
        posted = f"{event['channel']}:{event['ts']}"
        return TaskResult(events=(InboundEvent(
            plugin=NAME, event_id=posted, thread_id=thread.external_id,
            action="message", actor_name=name, text=reply_text,
            attachments=tuple(attachments), external_message_id=posted,
            take_over=take_over, reason="replied in Slack" if take_over else None,
            agent={"user": event["user"], "draft": ctx.idempotency_key},
        ),))

    def tell_agent(self, ctx: DeliveryContext, thread: ThreadRef | None, agent: dict[str, t.Any],
                   refusal: Refusal) -> None:
        """A refused reply: offer "Take over and send"; anything else: say why, to that agent only."""
        if thread is None:
            return
        client = self.client(t.cast(SlackSettings, ctx.settings), ctx.timeout)
        if agent.get("draft") and refusal.code in ("ai_in_control", "conversation_resolved"):
            self._prompt(client, thread, agent["user"], agent["draft"], resolved=refusal.code == "conversation_resolved")
            return
        said = (f"Your reply was not sent to the shopper: {refusal.text}"
                if refusal.event.action == "message" else refusal.text)
        with calling_slack("chat.postEphemeral"):
            client.chat_postEphemeral(channel=thread.data["channel"], user=agent["user"],
                                      thread_ts=thread.data["ts"], text=text.escape_mrkdwn(said))

    def _tell_files_not_sent(self, client: t.Any, thread: ThreadRef, user: str,
                             not_sent: list[tuple[str, str]]) -> None:
        """Tell the agent, to them only, which files did not reach the shopper and why (a courtesy)."""
        lines = "\n".join(f"\u2022 {text.escape_mrkdwn(name)}: {text.escape_mrkdwn(why)}" for name, why in not_sent)
        try:
            with calling_slack("chat.postEphemeral"):
                client.chat_postEphemeral(channel=thread.data["channel"], user=user, thread_ts=thread.data["ts"],
                                          text=f"Not sent to the shopper (the rest of your reply was):\n{lines}")
        except (GiveUp, RetryLater, IntegrationBroken):
            pass

    def _prompt(self, client: t.Any, thread: ThreadRef, user: str, task_id: str, resolved: bool) -> None:
        fallback, prompt = blocks.reply_prompt(task_id, resolved)
        with calling_slack("chat.postEphemeral"):
            client.chat_postEphemeral(channel=thread.data["channel"], user=user,
                                      thread_ts=thread.data["ts"], text=fallback, blocks=prompt)
        return None

    def _display_name(self, client: t.Any, settings: SlackSettings, user_id: str) -> str:
        """The Slack user's display name (users.info, cached for an hour per process)."""

        def look_up() -> str:
            with calling_slack("users.info"):
                user = client.users_info(user=user_id)["user"]
            profile = user.get("profile") or {}
            return (profile.get("display_name") or profile.get("real_name") or user.get("real_name")
                    or user.get("name") or user_id)

        return self._names.get((settings.team_id or settings.channel, user_id), look_up) or user_id

    def _fetch(self, ctx: DeliveryContext, settings: SlackSettings, file: dict[str, t.Any]) -> dict[str, str]:
        """Download a shared file with the bot token and keep it for the shopper's signed link.

        Only from Slack's own file hosts (or, with ``api_base_url``, from exactly that
        origin), connecting to the address checked, never following a redirect: the token
        goes nowhere else, and an event cannot make the connector read an internal URL.
        """
        assert self.host is not None
        url = file.get("url_private_download") or file.get("url_private")
        if not url:
            raise GiveUp(f"file {file.get('id')} has no download URL")
        configured = self._api_base(settings)
        if not files.file_url_allowed(url, configured):
            raise GiveUp(f"file {file.get('id')}: not a Slack file URL; not fetched")
        try:
            response = pinned_request("GET", url, headers={"Authorization": f"Bearer {self.token(settings)}"},
                                      timeout=ctx.timeout, stream=True, allow_private=configured is not None)
        except AddressRefused:
            raise GiveUp(f"file {file.get('id')}: the file host is not a public address; not fetched") from None
        except requests.RequestException as exc:
            raise RetryLater(f"file download: {connection_error_word(exc)}") from None
        with response:
            if response.status_code == 429 or response.status_code >= 500:
                raise RetryLater(f"file download: HTTP {response.status_code}",
                                 retry_after(response.headers.get("Retry-After")))
            if 300 <= response.status_code < 400:
                raise GiveUp(f"file download: HTTP {response.status_code} redirect, not followed")
            if response.status_code != 200:
                raise GiveUp(f"file download: HTTP {response.status_code}")
            mimetype = file.get("mimetype") or "application/octet-stream"
            if "text/html" in response.headers.get("Content-Type", "") and "html" not in mimetype:
                # Slack answers a sign-in page, not the file, to a request it does not accept.
                raise IntegrationBroken("files:read: Slack refused the file download; reinstall the app with files:read")
            try:
                return self.host.save_attachment(ctx.workspace_id, file.get("name") or "file", mimetype,
                                                 response.iter_content(64 * 1024))
            except AttachmentTooLarge as exc:
                raise GiveUp(str(exc)) from None

    # -- helpers -------------------------------------------------------------------------------

    @staticmethod
    def _history(ctx: DeliveryContext, events: list[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
        """The conversation's event log up to this change (for who took it and why)."""
        view = ctx.conversation()
        if view is None:
            return events
        history = view.events
        ids = {e["id"] for e in events}
        cut = max((i for i, e in enumerate(history) if e["id"] in ids), default=len(history) - 1)
        return history[: cut + 1] if ids else history


_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")


def plain_text(text: str) -> str:
    """Slack's message markup as the shopper should read it: links, mentions and escapes undone."""

    def link(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target.startswith(("@", "#", "!")):
            return f"@{label}" if label else ("@someone" if target.startswith("@") else label or "")
        return f"{label} ({target})" if label and label != target else target

    return html.unescape(_LINK.sub(link, text)).strip()


