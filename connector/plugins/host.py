"""What the core offers a plugin: the :class:`Host`, and the events plugins hand it.

A plugin gets the host in :meth:`~connector.plugins.Integration.bind` and
:meth:`~connector.plugins.Integration.blueprint`. It never sees the database, the
handover service or Flask's request scope of the core: it passes what it knows (which
workspaces' credentials signed a request) explicitly, and gets plain values back.
"""

from __future__ import annotations

import dataclasses
import typing as t

from pydantic import BaseModel

#: what an inbound event asks for
Action = t.Literal["message", "hand_over", "give_back", "resolve"]
#: a workspace as the host names it to plugins (opaque; from :meth:`SettingsSource.all`)
WorkspaceKey = int


@dataclasses.dataclass(frozen=True)
class InboundEvent:
    """A native event, already authenticated and parsed by the plugin."""

    plugin: str
    #: the vendor's id of this event (or of the message/action it carries), for dedupe
    event_id: str
    #: the native thread or ticket it happened in
    thread_id: str
    action: Action
    #: the agent who acted, as the vendor names them
    actor_name: str | None = None
    text: str = ""
    attachments: tuple[dict[str, str], ...] = ()
    #: the vendor's id of the message, to recognise our own posts coming back
    external_message_id: str | None = None
    reason: str | None = None
    #: for a message while the AI is in charge: hand over first ("Take over and send")
    take_over: bool = False
    #: the conversation the vendor's event names (a button's value): must match the thread's
    conversation_id: str | None = None
    #: the workspaces whose credentials authenticated the request; a thread of any other
    #: workspace is unknown. From a task, the core fills in the task's workspace.
    workspaces: frozenset[WorkspaceKey] | None = None
    #: how to reach the agent if the core refuses this (handed to ``tell_agent``); None: don't
    agent: dict[str, t.Any] | None = None


@dataclasses.dataclass(frozen=True)
class InboundResult:
    #: applied, duplicate, echo, refused, queued, parked or unknown_thread
    outcome: str
    conversation_id: str | None = None
    #: the refusal code, when refused
    code: str | None = None


@dataclasses.dataclass(frozen=True)
class ConversationView:
    """A conversation as a plugin may read it: the JSON shapes of the platform API."""

    workspace: WorkspaceKey
    #: ``id, status, controller, shopper, version, ...`` (the API's conversation)
    conversation: dict[str, t.Any]
    #: its event log, oldest first (the API's events)
    events: list[dict[str, t.Any]]

    @property
    def id(self) -> str:
        return self.conversation["id"]

    @property
    def status(self) -> str:
        return self.conversation["status"]

    @property
    def controller(self) -> str:
        return self.conversation["controller"]

    @property
    def shopper(self) -> dict[str, t.Any]:
        return self.conversation.get("shopper") or {}


@dataclasses.dataclass(frozen=True)
class QueuedTask:
    """A task waiting in (or done by) the outbox, found by its id (a button names it)."""

    id: str
    workspace: WorkspaceKey
    task: dict[str, t.Any]
    thread_id: str | None


class AttachmentTooLarge(ValueError):
    """The file is larger than the deployment allows (``CONNECTOR_ATTACHMENT_MAX_BYTES``)."""


class SettingsSource(t.Protocol):
    """Every workspace's settings of one plugin, decrypted, cached for a few seconds."""

    def all(self, refresh: bool = False) -> list[tuple[WorkspaceKey, BaseModel]]:
        """``[(workspace, settings)]``; ``refresh`` reads again if older than a second."""


class Host(t.Protocol):
    """The core, as a plugin sees it."""

    #: the deployment's public URL
    base_url: str

    def record(self, event: InboundEvent) -> InboundResult:
        """Apply one vendor event now, at most once (a button, a sidebar action).

        Finds the conversation through the thread (only among ``event.workspaces``),
        drops echoes and redeliveries, runs the command with the plugin as its source. A
        refused event with an ``agent`` queues :meth:`Integration.tell_agent`. An event
        for a thread that is being opened right now is kept and applied once it is known.
        """

    def defer(self, *, plugin: str, event_id: str, thread_id: str, task: dict[str, t.Any],
              workspaces: t.Collection[WorkspaceKey]) -> InboundResult:
        """Persist a vendor event now and process it later, as a task of the plugin.

        For vendors that must be answered within a deadline while the work needs calls
        back to them: one short transaction writes a receipt for ``event_id`` and queues
        ``task`` for :meth:`Integration.run_task`, in order with the conversation's other
        deliveries to that plugin. A redelivery is a duplicate.
        """

    def find_task(self, plugin: str, task_id: str, workspaces: t.Collection[WorkspaceKey]) -> QueuedTask | None:
        """A task of this plugin by its id (the delivery's ``idempotency_key``), within ``workspaces``."""

    def conversation(self, plugin: str, thread_id: str,
                     workspaces: t.Collection[WorkspaceKey]) -> ConversationView | None:
        """The conversation a thread belongs to, within ``workspaces``, or None."""

    def settings(self, plugin: str) -> SettingsSource:
        """Every workspace's settings of ``plugin`` (for finding who signed a request)."""

    def save_settings(self, workspace_id: str, plugin: str, values: dict[str, t.Any]) -> None:
        """Merge ``values`` into a workspace's settings (an OAuth install's team, say).

        :raises ValueError: the merged settings are not valid (the message says why).
        """

    def mark_unhealthy(self, plugin: str, workspaces: t.Collection[WorkspaceKey], reason: str) -> None:
        """Mark the integration broken for these workspaces (access revoked, app removed)."""

    def save_attachment(self, workspace_id: str, name: str, content_type: str,
                        chunks: t.Iterable[bytes]) -> dict[str, str]:
        """Keep a file for the shopper; returns a message attachment with a signed, expiring link.

        :raises AttachmentTooLarge: past the deployment's limit.
        """

    def url_signer(self, salt: str) -> t.Any:
        """An ``itsdangerous.URLSafeTimedSerializer`` keyed with the deployment's secret."""

    def url_tokens(self, salt: str) -> t.Any:
        """:class:`connector.plugins.webhooks.UrlTokens` keyed with the deployment's secret."""

    def sql_engine(self) -> t.Any:
        """The connector's SQLAlchemy engine, for a vendor SDK's own tables (bolt's OAuth stores)."""

    def encrypt(self, plaintext: str) -> str:
        """``plaintext`` encrypted at rest with the deployment's key (as the core keeps settings' secrets).

        For secrets a plugin keeps outside its settings (a vendor SDK's token store).
        """

    def decrypt(self, token: str) -> str:
        """What :meth:`encrypt` returned, decrypted.

        :raises ValueError: not encrypted with this deployment's key.
        """
