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
  authenticates the vendor's request before parsing it and hands what it means to the
  :class:`~connector.plugins.host.Host` as :class:`~connector.plugins.host.InboundEvent`\\ s.

Plugins translate, the core acts: a plugin never changes a conversation itself. It
returns events (from :meth:`Integration.run_task`, in a :class:`TaskResult`) or records
them through the host; the core applies them, and tells the agent through
:meth:`Integration.tell_agent` when one is refused.

``docs/plugins.md`` documents every method; a test keeps the two in step.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing as t

from pydantic import BaseModel

from connector.plugins.host import ConversationView
from connector.plugins.host import Host
from connector.plugins.host import InboundEvent

if t.TYPE_CHECKING:
    import requests
    from flask import Blueprint


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


def _no_view() -> ConversationView | None:
    return None


def _nothing_since(seconds: float) -> list[dt.datetime]:
    return []


def _keep_nowhere(values: dict[str, t.Any]) -> None:
    return None


@dataclasses.dataclass(frozen=True)
class DeliveryContext:
    """Everything one outbound call needs."""

    #: the workspace's public id
    workspace_id: str
    #: the plugin's validated settings for this workspace
    settings: BaseModel
    #: stable across retries of this delivery: send it where the vendor supports one (it is
    #: also the delivery's id, which a button can name to continue a task)
    idempotency_key: str
    #: a requests session with the connector's timeouts
    http: requests.Session
    timeout: float
    #: the deployment's public URL (for links back to the console)
    base_url: str
    #: when this conversation's earlier deliveries to this plugin went out, within the last
    #: ``seconds`` (batched ones not counted twice): for a vendor's per-thread rate limit
    delivered_since: t.Callable[[float], list[dt.datetime]] = _nothing_since
    #: the delivery's conversation as it is now (status, controller, shopper, event log)
    conversation: t.Callable[[], ConversationView | None] = _no_view
    #: which attempt of this delivery this is (1 for the first; a replay starts again at 1)
    attempt: int = 1
    #: what earlier attempts of this delivery recorded with :attr:`record_progress` (JSON
    #: values), ``{}`` at first: what the vendor accepted, what was being sent when the
    #: answer was lost. A vendor that applied a call whose answer never came must not get it
    #: twice: record before and after each call, and reconcile with the vendor on a retry.
    progress: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    #: merge JSON values into :attr:`progress` and store them now, in their own transaction
    #: (they survive this attempt failing); raises RetryLater if the delivery is no longer
    #: this worker's
    record_progress: t.Callable[[dict[str, t.Any]], None] = _keep_nowhere


@dataclasses.dataclass(frozen=True)
class Health:
    ok: bool
    #: a short, secret-free explanation ("channel_not_found", "authenticated as Bo")
    detail: str


@dataclasses.dataclass(frozen=True)
class TaskResult:
    """What a task came to: events for the core to apply, and a reference to remember.

    The events are applied in the transaction that marks the task done, so "take over and
    post" is one transaction: both happen, or the task is retried and neither has.
    """

    #: the vendor's id of what the task posted, recognised when it echoes back
    external_ref: str | None = None
    events: tuple[InboundEvent, ...] = ()
    #: the thread moved (a follow-up ticket for a closed one): where it lives now
    moved_to: ThreadRef | None = None


@dataclasses.dataclass(frozen=True)
class Refusal:
    """Why the core refused an agent's event, for :meth:`Integration.tell_agent`."""

    #: the refusal code (``ai_in_control``, ``upgrade_required``...)
    code: str
    #: what to tell the agent, in words (:func:`connector.plugins.text.refusal_for_agents`)
    text: str
    #: the event that was refused (its text is the agent's reply, if it was one)
    event: InboundEvent


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
    the platform API shows.
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
    #: Built into the connector and always on (e-mail, the platform webhook): no settings
    #: row, no threads; only :meth:`run_task` is called.
    builtin: t.ClassVar[bool] = False

    def bind(self, host: Host) -> None:
        """Called once when the connector is built (web and worker processes alike)."""

    def blueprint(self, host: Host) -> Blueprint | None:
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
        """Open the native thread or ticket with the full transcript; return its reference.

        The reference is committed as soon as this returns, before the next delivery and
        before any event for the thread can be lost: one that arrives first is kept and
        applied once it is known.
        """
        raise NotImplementedError

    def mirror_message(
        self, ctx: DeliveryContext, thread: ThreadRef, conversation: dict[str, t.Any], message: dict[str, t.Any]
    ) -> str | TaskResult | None:
        """Post one later message into the thread; return the vendor's id of the post.

        Return a :class:`TaskResult` instead when the thread moved (``moved_to``).
        """
        raise NotImplementedError

    def mirror_messages(
        self, ctx: DeliveryContext, thread: ThreadRef, conversation: dict[str, t.Any], messages: list[dict[str, t.Any]]
    ) -> str | TaskResult | None:
        """Post several queued messages at once (only with :attr:`message_batch` above 1).

        Called with the oldest waiting messages of the conversation, in order; they are all
        delivered, or none. By default, one :meth:`mirror_message` each. Return a
        :class:`TaskResult` with ``moved_to`` when the thread moved.
        """
        ref = None
        for message in messages:
            ref = self.mirror_message(ctx, thread, conversation, message)
        return ref

    def mirror_state(
        self, ctx: DeliveryContext, thread: ThreadRef, conversation: dict[str, t.Any], events: list[dict[str, t.Any]]
    ) -> TaskResult | None:
        """Show a state change (handed over, given back, resolved, reopened) in the thread."""
        raise NotImplementedError

    def run_task(self, ctx: DeliveryContext, thread: ThreadRef | None, task: dict[str, t.Any]) -> TaskResult | None:
        """Run one of the plugin's own jobs from the outbox, with its retries and ordering.

        Tasks come from :attr:`ThreadRef.tasks` and from :meth:`Host.defer` (an inbound
        event persisted in the web request and processed here). Return what happened as
        events for the core to apply, in the task's own transaction.
        """
        raise NotImplementedError

    def tell_agent(self, ctx: DeliveryContext, thread: ThreadRef | None, agent: dict[str, t.Any],
                   refusal: Refusal) -> None:
        """Tell the agent who acted that the core refused it (``agent`` is the event's ``agent``).

        Runs as a delivery of its own, queued with the refusal. The default does nothing.
        """

    def configure(self, workspace_id: str, settings: BaseModel, http: requests.Session, timeout: float,
                  base_url: str) -> dict[str, t.Any]:
        """Set the vendor side up when an admin stores the settings (webhooks, triggers).

        ``settings`` are the workspace's stored settings merged with the new values. Must
        be idempotent. Returns settings values to store alongside (ids of what was
        created); ``{}`` when there is nothing to set up. Runs after :meth:`bind`.
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
