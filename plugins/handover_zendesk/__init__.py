"""Handover Connector's Zendesk plugin: a native ticket per handover, and the sidebar app."""

from handover_zendesk.plugin import ZendeskIntegration
from handover_zendesk.plugin import ZendeskSettings

__all__ = ["ZendeskIntegration", "ZendeskSettings"]
