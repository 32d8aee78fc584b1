"""Intercom: a conversation per handover; admins reply, give back and close from the Intercom inbox."""

from handover_intercom.plugin import IntercomIntegration

__all__ = ["IntercomIntegration"]
