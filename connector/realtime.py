"""Live fan-out of conversation events to WebSocket clients.

In one process a :class:`LocalHub` hands each published event to its listeners: the
process's :class:`connector.live_sockets.LiveSockets`, which writes it to every socket that
wants it. With ``CONNECTOR_REDIS_URL`` set, :class:`RedisHub` publishes to Redis and
one listener thread per process feeds the local hub, so an event accepted by one web
process reaches sockets held by every other.
"""

from __future__ import annotations

import json
import logging
import threading
import typing as t

if t.TYPE_CHECKING:
    from connector.handover import Change

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "handover-connector:workspace:"


#: something that fans an event out, given the event and its JSON text
Listener = t.Callable[[dict[str, t.Any], str], None]


class LocalHub:
    """In-process fan-out: every published event goes to each listener (the live sockets)."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._interested: list[t.Callable[[str], bool]] = []

    def listen(self, listener: Listener, interested: t.Callable[[str], bool] | None = None) -> None:
        """Hand every event to ``listener``; ``interested(workspace_id)`` says whether it has
        anyone listening for that workspace (None: always)."""
        self._listeners.append(listener)
        self._interested.append(interested or (lambda workspace_id: True))

    def wanted(self, workspace_id: str) -> bool:
        """Whether publishing a workspace's event reaches anyone (in this process, for a local hub)."""
        return any(interested(workspace_id) for interested in self._interested)

    def publish(self, event: dict[str, t.Any]) -> None:
        self.deliver_locally(event, json.dumps(event))

    def deliver_locally(self, event: dict[str, t.Any], text: str) -> None:
        """Hand an event (serialised once, not once per socket) to this process's listeners."""
        for listener in self._listeners:
            listener(event, text)


class RedisHub(LocalHub):
    """Fan-out across processes through Redis pub/sub."""

    def __init__(self, url: str) -> None:
        super().__init__()
        import redis

        self.redis = redis.Redis.from_url(url)
        self._pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        self._pubsub.psubscribe(CHANNEL_PREFIX + "*")
        self._thread = threading.Thread(target=self._listen, name="realtime-redis", daemon=True)
        self._thread.start()

    def publish(self, event: dict[str, t.Any]) -> None:
        self.redis.publish(CHANNEL_PREFIX + event["workspace_id"], json.dumps(event))

    def wanted(self, workspace_id: str) -> bool:
        return True  # sockets held by other processes are not known here

    def _listen(self) -> None:
        while True:
            try:
                for message in self._pubsub.listen():
                    if message.get("type") == "pmessage":
                        text = message["data"].decode()
                        self.deliver_locally(json.loads(text), text)
            except Exception:  # a Redis restart: resubscribe and carry on
                log.exception("realtime listener lost Redis", extra={"action": "realtime_redis_error"})
                threading.Event().wait(1.0)
                try:
                    self._pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
                    self._pubsub.psubscribe(CHANNEL_PREFIX + "*")
                except Exception:
                    continue


def make_hub(redis_url: str | None) -> LocalHub:
    return RedisHub(redis_url) if redis_url else LocalHub()


class RealtimeListener:
    """Publishes every committed change's public events to the hub."""

    def __init__(self, hub: LocalHub) -> None:
        self.hub = hub

    def in_transaction(self, session: t.Any, change: "Change") -> None:
        return None

    def after_commit(self, change: "Change") -> None:
        if not self.hub.wanted(change.workspace.id):
            return  # nobody listens: the events are not even built
        for event in change.public_events:
            try:
                self.hub.publish(event)
            except Exception:  # live updates are best effort; the change is already durable
                log.exception("realtime publish failed", extra={"action": "realtime_publish_error"})
