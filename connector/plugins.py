"""The plugin contract: what a helpdesk or chat-tool integration implements.

A plugin package exposes an :class:`Integration` subclass through the entry-point group
``handover_connector.plugins``::

    [project.entry-points."handover_connector.plugins"]
    fakedesk = "fakedesk:FakeDesk"

The connector then:

* stores the plugin's per-workspace settings (validated by :attr:`Integration.settings_model`,
  encrypted at rest) through ``connector integration set``;
* calls :meth:`Integration.open_thread` once a conversation is handed over, then
  :meth:`Integration.mirror_message` and :meth:`Integration.mirror_state` for everything
  that happens next, each from the delivery worker, in order, with retries;
* mounts :meth:`Integration.blueprint` under ``/hooks/<name>/``, where the plugin
  authenticates the vendor's request before parsing it and hands native events to
  :func:`connector.inbound.handle_inbound`.

``docs/plugins.md`` documents every method; a test keeps the two in step.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.metadata
import logging
import os
import typing as t

from pydantic import BaseModel
from pydantic import SecretStr

if t.TYPE_CHECKING:
    import requests
    from flask import Blueprint

    from connector.app import Connector

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "handover_connector.plugins"


# -- what the delivery worker hands a plugin ---------------------------------------------


@dataclasses.dataclass(frozen=True)
class ThreadRef:
    """A native thread or ticket: its vendor id and anything the plugin wants to keep."""

    external_id: str
    data: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    #: follow-up work (JSON objects) for :meth:`Integration.run_task`, queued in the same
    #: transaction that records the thread and run in order after it: a long transcript
    #: posted in parts, for instance, so a failed part never opens the thread twice
    tasks: tuple[dict[str, t.Any], ...] = ()


@dataclasses.dataclass(frozen=True)
class DeliveryContext:
    """Everything one outbound call needs."""

    workspace_id: str
    #: the plugin's validated settings for this workspace
    settings: BaseModel
    #: stable across retries of this delivery: send it where the vendor supports one
    idempotency_key: str
    #: a requests session with the connector's timeouts; see :mod:`connector.delivery.http`
    http: requests.Session
    timeout: float
    #: the deployment's public URL (for links back to the console)
    base_url: str
    #: when this conversation's earlier deliveries to this plugin went out, within the last
    #: ``seconds`` (batched ones not counted twice): for a vendor's per-thread rate limit
    delivered_since: t.Callable[[float], list[dt.datetime]] = lambda seconds: []


@dataclasses.dataclass(frozen=True)
class Health:
    ok: bool
    #: a short, secret-free explanation ("channel_not_found", "authenticated as Bo")
    detail: str


# -- what a plugin raises from a delivery ------------------------------------------------


class DeliveryError(Exception):
    """Base class of what a plugin raises when a delivery does not go through."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RetryLater(DeliveryError):
    """A passing failure (5xx, 429, timeout, refused connection): try again later."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class Defer(DeliveryError):
    """Not a failure: this delivery must wait (a vendor's update limit); try it after ``seconds``.

    The attempt is not counted. Messages queued behind it meanwhile reach
    :meth:`Integration.mirror_messages` together, if the plugin batches.
    """

    def __init__(self, reason: str, seconds: float) -> None:
        super().__init__(reason)
        self.seconds = seconds


class GiveUp(DeliveryError):
    """A failure retrying cannot fix (a 4xx about the request): the delivery is dead."""


class IntegrationBroken(DeliveryError):
    """The integration itself is broken (revoked token, missing channel, uninstalled).

    The integration is marked unhealthy with ``reason``; the delivery is kept (dead, with
    that reason) so an admin can replay it once the integration is fixed.
    """


# -- the interface -----------------------------------------------------------------------


class Integration:
    """A tool the connector mirrors handed-over conversations into.

    Subclasses set :attr:`name`, :attr:`title` and :attr:`settings_model`, and override
    the methods below. Conversations, messages and events reach them as the JSON shapes
    of :mod:`connector.representations`.
    """

    #: The plugin's name: its entry-point name, its URL prefix ``/hooks/<name>/``.
    name: t.ClassVar[str]
    #: What admins see, e.g. "Zendesk".
    title: t.ClassVar[str]
    #: The settings of ``connector integration set``; ``SecretStr`` fields are secrets,
    #: never printed or logged.
    settings_model: t.ClassVar[type[BaseModel]]
    #: Also mirror state changes that came from this tool back into it (a Slack parent
    #: message shows the state whoever changed it). Messages never go back to their source.
    mirror_own_state: t.ClassVar[bool] = False
    #: Open the thread at a semi-automate suggestion already (the AI goes on; agents can
    #: take over from the thread), not only at a hand over.
    opens_on_suggestion: t.ClassVar[bool] = False
    #: Up to this many queued messages of a conversation reach :meth:`mirror_messages`
    #: in one call (a vendor with a per-thread update limit batches them).
    message_batch: t.ClassVar[int] = 1

    def bind(self, connector: Connector) -> None:
        """Called once when the connector is built (web and worker processes alike)."""

    def blueprint(self, connector: Connector) -> Blueprint | None:
        """The Flask blueprint mounted at ``/hooks/<name>/``, or None for outbound-only plugins."""
        return None

    def check(self, settings: BaseModel, http: requests.Session, timeout: float) -> Health:
        """Check the settings against the vendor (for ``connector integration test``)."""
        return Health(True, "no check implemented")

    def open_thread(
        self,
        ctx: DeliveryContext,
        conversation: dict[str, t.Any],
        transcript: list[dict[str, t.Any]],
        events: list[dict[str, t.Any]],
    ) -> ThreadRef:
        """Open the native thread or ticket with the full transcript; return its reference."""
        raise NotImplementedError

    def mirror_message(
        self, ctx: DeliveryContext, thread: ThreadRef, conversation: dict[str, t.Any], message: dict[str, t.Any]
    ) -> str | None:
        """Post one later message into the thread; return the vendor's id of the post."""
        raise NotImplementedError

    def mirror_messages(
        self, ctx: DeliveryContext, thread: ThreadRef, conversation: dict[str, t.Any], messages: list[dict[str, t.Any]]
    ) -> str | None:
        """Post several queued messages at once (only with :attr:`message_batch` above 1).

        Called with the oldest waiting messages of the conversation, in order; they are all
        delivered, or none. By default, one :meth:`mirror_message` each.
        """
        ref = None
        for message in messages:
            ref = self.mirror_message(ctx, thread, conversation, message)
        return ref

    def mirror_state(
        self, ctx: DeliveryContext, thread: ThreadRef, conversation: dict[str, t.Any], events: list[dict[str, t.Any]]
    ) -> None:
        """Show a state change (handed over, given back, resolved, reopened) in the thread."""
        raise NotImplementedError

    def run_task(self, ctx: DeliveryContext, thread: ThreadRef | None, task: dict[str, t.Any]) -> str | None:
        """Run one of the plugin's own jobs from the outbox, with its retries and ordering.

        Tasks come from :attr:`ThreadRef.tasks` and from :func:`connector.inbound.defer`
        (an inbound event persisted in the web request and processed here). Return an
        external reference to remember, or None.
        """
        raise NotImplementedError

    def configure(self, settings: BaseModel, http: requests.Session, timeout: float, base_url: str) -> dict[str, t.Any]:
        """Set the vendor side up when an admin stores the settings (webhooks, triggers).

        Must be idempotent. Returns settings values to store alongside (ids of what was
        created); ``{}`` when there is nothing to set up.
        """
        return {}

    def unconfigure(self, settings: BaseModel, http: requests.Session, timeout: float) -> None:
        """Remove what :meth:`configure` created, when the integration is removed."""

    def install_url(self, workspace_id: str) -> str | None:
        """A link an admin opens to install the tool into a workspace (OAuth), or None."""
        return None

    def manifests(self, base_url: str) -> dict[str, bytes]:
        """The admin's install files for this tool, by relative path, filled in with ``base_url``."""
        return {}


def secret_fields(model: type[BaseModel]) -> set[str]:
    """The names of a settings model's secret fields."""
    return {
        name for name, field in model.model_fields.items()
        if field.annotation is SecretStr or field.annotation == (SecretStr | None)
    }


def settings_for_display(settings: BaseModel) -> dict[str, t.Any]:
    """Settings with every secret masked, safe to print."""
    secrets = secret_fields(type(settings))
    shown: dict[str, t.Any] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        shown[name] = "********" if name in secrets else value
    return shown


# -- discovery ---------------------------------------------------------------------------


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
        return sorted(self._by_name)

    def __iter__(self) -> t.Iterator[Integration]:
        return iter(self._by_name.values())

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
