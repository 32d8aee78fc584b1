"""Discovery: the installed integrations by name, from the entry-point group.

Plugins come from ``handover_connector.plugins`` (``CONNECTOR_PLUGINS`` limits which);
the built-in channels (e-mail, the platform webhook) register through the same
:class:`~connector.plugins.Integration` contract. Tests pass their plugins explicitly.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import typing as t

from connector.plugins import ENTRY_POINT_GROUP
from connector.plugins import Integration

log = logging.getLogger(__name__)


class PluginRegistry:
    """The installed integrations by name."""

    def __init__(self, integrations: t.Iterable[Integration] = ()) -> None:
        self._by_name: dict[str, Integration] = {}
        for integration in integrations:
            self.add(integration)

    def add(self, integration: Integration) -> None:
        if integration.name in self._by_name:
            raise ValueError(f"two plugins are named {integration.name!r}")
        if not integration.name.isidentifier():
            raise ValueError(f"plugin name {integration.name!r} must be a plain identifier")
        self._by_name[integration.name] = integration

    def get(self, name: str) -> Integration | None:
        return self._by_name.get(name)

    def names(self) -> list[str]:
        """The tools an admin can set up (built-in channels left out)."""
        return sorted(name for name, plugin in self._by_name.items() if not plugin.builtin)

    def __iter__(self) -> t.Iterator[Integration]:
        """The tools an admin can set up (built-in channels left out)."""
        return iter([plugin for plugin in self._by_name.values() if not plugin.builtin])

    def everything(self) -> list[Integration]:
        """Tools and built-in channels."""
        return list(self._by_name.values())

    @classmethod
    def from_entry_points(cls, allow: t.Collection[str] | None = None) -> "PluginRegistry":
        """Load the entry-point group; ``allow`` (or ``CONNECTOR_PLUGINS``, comma-separated) limits it."""
        if allow is None and os.environ.get("CONNECTOR_PLUGINS"):
            allow = {name.strip() for name in os.environ["CONNECTOR_PLUGINS"].split(",") if name.strip()}
        registry = cls()
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if allow is not None and entry_point.name not in allow:
                continue
            loaded = entry_point.load()
            integration = loaded() if isinstance(loaded, type) else loaded
            registry.add(integration)
            log.info("plugin loaded", extra={"action": "plugin_load", "plugin": integration.name})
        return registry
