"""The Slack app manifest (``manifests/slack/manifest.yml``), filled in with the deployment's URL."""

from __future__ import annotations

from importlib import resources

#: Exactly the bot scopes the plugin's code needs, and why:
BOT_SCOPES = {
    "channels:history": "message.channels: agents' replies in threads of public channels",
    "groups:history": "message.groups: the same in private channels",
    "channels:read": "conversations.info: the health check (channel exists, bot is a member)",
    "groups:read": "conversations.info: the same for a private channel",
    "chat:write": "chat.postMessage, chat.update, chat.postEphemeral: the thread, its parent, prompts",
    "chat:write.customize": "chat.postMessage username/icon_emoji: messages under their author's name",
    "users:read": "users.info: the replying agent's display name",
    "files:read": "url_private_download: files agents share in a thread",
}
BOT_EVENTS = ("message.channels", "message.groups", "app_uninstalled", "tokens_revoked")


def template() -> str:
    return resources.files("handover_slack").joinpath("manifest/manifest.yml").read_text()


def render(base_url: str) -> str:
    return template().replace("{{base_url}}", base_url.rstrip("/"))
