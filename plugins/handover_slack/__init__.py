"""Handover Connector's Slack plugin: a thread per handover, acted on without leaving Slack."""

from handover_slack.plugin import SlackIntegration
from handover_slack.plugin import SlackSettings

__all__ = ["SlackIntegration", "SlackSettings"]
