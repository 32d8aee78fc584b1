"""The Gorgias plugin: a native ticket per handover; agents reply, give back and close from it."""

from handover_gorgias.plugin import GorgiasIntegration

__all__ = ["GorgiasIntegration"]
