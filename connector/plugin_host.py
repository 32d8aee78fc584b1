"""The core's side of the plugin port: the :class:`~connector.plugins.Host` plugins are handed."""

from __future__ import annotations

import threading
import typing as t

from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select

from connector import inbound
from connector import representations
from connector.attachments import TooLarge
from connector.delivery import outbox
from connector.integrations import SettingsCache
from connector.plugins import AttachmentTooLarge
from connector.plugins import ConversationView
from connector.plugins import InboundEvent
from connector.plugins import InboundResult
from connector.plugins import QueuedTask
from connector.plugins.webhooks import UrlTokens
from connector.storage import repository
from connector.storage.models import Conversation
from connector.storage.models import Event

if t.TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from connector.app import Connector


class ConnectorHost:
    """Implements :class:`connector.plugins.Host` over the connector's parts."""

    #: how long a plugin's view of every workspace's settings is kept
    SETTINGS_SECONDS = 10.0

    def __init__(self, connector: "Connector") -> None:
        self._connector = connector
        self._caches: dict[str, SettingsCache] = {}
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return self._connector.settings.base_url

    # -- inbound -----------------------------------------------------------------------

    def record(self, event: InboundEvent) -> InboundResult:
        return inbound.record(self._connector, event)

    def defer(self, *, plugin: str, event_id: str, thread_id: str, task: dict[str, t.Any],
              workspaces: t.Collection[int]) -> InboundResult:
        return inbound.defer(self._connector, plugin=plugin, event_id=event_id, thread_id=thread_id, task=task,
                             workspaces=workspaces)

    def find_task(self, plugin: str, task_id: str, workspaces: t.Collection[int]) -> QueuedTask | None:
        with self._connector.db.read() as session:
            delivery = outbox.task_of(session, task_id, plugin, workspaces)
            if delivery is None:
                return None
            link = outbox.link_of(session, delivery.conversation_pk, plugin) if delivery.conversation_pk else None
            return QueuedTask(delivery.id, delivery.workspace_pk, delivery.payload["task"],
                              link.external_id if link is not None else None)

    # -- reading -----------------------------------------------------------------------

    def conversation(self, plugin: str, thread_id: str, workspaces: t.Collection[int]) -> ConversationView | None:
        with self._connector.db.read() as session:
            link = outbox.find_link(session, plugin, thread_id, workspaces)
            if link is None:
                return None
            return self._view(session, session.get(Conversation, link.conversation_pk))

    def view_of(self, conversation_pk: int) -> ConversationView | None:
        """A conversation by its key (the worker's :attr:`DeliveryContext.conversation`)."""
        with self._connector.db.read() as session:
            conversation = session.get(Conversation, conversation_pk)
            return self._view(session, conversation) if conversation is not None else None

    @staticmethod
    def _view(session: "Session", conversation: Conversation) -> ConversationView:
        events = session.scalars(select(Event).where(Event.conversation_pk == conversation.pk).order_by(Event.pk))
        return ConversationView(conversation.workspace_pk, representations.conversation_json(conversation),
                                [representations.event_json(e, conversation.id) for e in events])

    # -- settings and health -------------------------------------------------------------

    def settings(self, plugin: str) -> SettingsCache:
        with self._lock:
            cache = self._caches.get(plugin)
            if cache is None:
                cache = self._caches[plugin] = SettingsCache(
                    self._connector.integrations, self._connector.db, plugin, self.SETTINGS_SECONDS)
            return cache

    def save_settings(self, workspace_id: str, plugin: str, values: dict[str, t.Any]) -> None:
        with self._connector.db.write() as session:
            workspace = repository.get_workspace(session, workspace_id)
            if workspace is None:
                raise ValueError(f"no workspace {workspace_id}")
            self._connector.integrations.save(session, workspace, plugin, values)

    def mark_unhealthy(self, plugin: str, workspaces: t.Collection[int], reason: str) -> None:
        with self._connector.db.write() as session:
            for workspace_pk in sorted(workspaces):
                self._connector.integrations.mark_health(session, workspace_pk, plugin, False, reason)

    # -- files, secrets, storage ---------------------------------------------------------

    def save_attachment(self, workspace_id: str, name: str, content_type: str,
                        chunks: t.Iterable[bytes]) -> dict[str, str]:
        try:
            return self._connector.attachments.save(workspace_id, name, content_type, chunks,
                                                    self._connector.settings.attachment_max_bytes)
        except TooLarge as exc:
            raise AttachmentTooLarge(str(exc)) from None

    def url_signer(self, salt: str) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self._connector.secret_key, salt=salt)

    def url_tokens(self, salt: str) -> UrlTokens:
        return UrlTokens(self._connector.secret_key, salt)

    def sql_engine(self) -> t.Any:
        return self._connector.db.engine

    def encrypt(self, plaintext: str) -> str:
        return self._connector.secrets.encrypt(plaintext)

    def decrypt(self, token: str) -> str:
        return self._connector.secrets.decrypt(token)

