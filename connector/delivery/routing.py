"""Which tools hear of a change: the routing rules, apart from the queue's SQL.

* every message and state change goes to the chat platform's webhook, if set;
* once a conversation has been handed over, each installed integration gets an
  ``open_thread`` (with the transcript so far) and then every later message and state
  change, except the ones that came from that integration itself;
* tools that show suggestions (``opens_on_suggestion``: Slack) get their thread at a
  semi-automate suggestion already, and the messages written meanwhile once it is
  handed over.
"""

from __future__ import annotations

import typing as t

from sqlalchemy.orm import Session

from connector import representations
from connector.delivery import outbox
from connector.domain import EventType

if t.TYPE_CHECKING:
    from connector.handover import Change
    from connector.integrations import IntegrationStore

PLATFORM = "platform"
PLATFORM_EVENT = "platform_event"


class Router:
    """Writes the deliveries a change causes, in the change's own transaction."""

    def __init__(self, store: "IntegrationStore", wake: t.Callable[[], None] | None = None) -> None:
        self.store = store
        self.wake = wake

    def in_transaction(self, session: Session, change: "Change") -> None:
        conversation = change.conversation
        now = conversation.updated_at
        if change.workspace.platform_webhook_url:
            for event in change.public_events:
                outbox.enqueue_task(session, workspace_pk=change.workspace.pk, conversation_pk=conversation.pk,
                                    plugin=PLATFORM, task={"kind": "event", "event": event}, now=now,
                                    action=PLATFORM_EVENT)
        suggested = any(e.type == EventType.HANDOVER_SUGGESTED.value for e in change.events)
        if not conversation.ever_handed_over and not suggested:
            return
        registry = self.store.registry
        installed = self.store.installed(session, change.workspace.pk)
        if not conversation.ever_handed_over:  # a semi-automate suggestion: only tools that show those
            installed = [i for i in installed if registry.get(i.plugin).opens_on_suggestion]
        if not installed:
            return
        threaded = outbox.threaded_plugins(session, conversation.pk)
        snapshot = representations.conversation_json(conversation)
        events = [representations.event_json(e, conversation.id) for e in change.events]
        for integration in installed:
            plugin = integration.plugin
            common = {"workspace_pk": change.workspace.pk, "conversation_pk": conversation.pk,
                      "plugin": plugin, "now": now}
            if plugin not in threaded:
                # The thread opens with everything so far, this change included.
                until = change.message.pk if change.message else outbox.last_message_pk(session, conversation.pk)
                outbox.enqueue(session, action=outbox.OPEN_THREAD, payload={
                    "conversation": snapshot, "until_message_pk": until, "events": events}, **common)
                continue
            if conversation.ever_handed_over and not change.before.ever_handed_over:
                # Opened on a suggestion while the AI went on: bring it up to date first.
                self._catch_up(session, change, common)
            shows_state = registry.get(plugin).mirror_own_state
            from_here = plugin == change.source
            if from_here and not shows_state:
                continue  # never mirror back to where it came from
            if change.message is not None and not from_here:
                outbox.enqueue(session, action=outbox.MIRROR_MESSAGE, payload={
                    "conversation": snapshot,
                    "message": representations.message_json(change.message, conversation.id),
                }, **common)
            # human_joined changes no state a helpdesk shows; a status line ("taken by") does.
            if events and (shows_state or any(e["type"] != EventType.HUMAN_JOINED.value for e in events)):
                outbox.enqueue(session, action=outbox.MIRROR_STATE,
                               payload={"conversation": snapshot, "events": events}, **common)

    @staticmethod
    def _catch_up(session: Session, change: "Change", common: dict[str, t.Any]) -> None:
        """Mirror the messages written since the thread opened on a suggestion, in order."""
        conversation = change.conversation
        snapshot = representations.conversation_json(conversation)
        before = change.message.pk if change.message is not None else None
        for message in outbox.messages_since_opened(session, conversation.pk, common["plugin"], before):
            outbox.enqueue(session, action=outbox.MIRROR_MESSAGE, payload={
                "conversation": snapshot, "message": representations.message_json(message, conversation.id),
            }, **common)

    def after_commit(self, change: "Change") -> None:
        if self.wake is not None and change.deliveries_queued:
            self.wake()  # only when there is something to deliver: an idle check costs a write transaction
