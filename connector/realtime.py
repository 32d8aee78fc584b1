"""Live fan-out of conversation events to WebSocket clients.

In one process a :class:`LocalHub` hands each published event to the matching
subscribers. With ``CONNECTOR_REDIS_URL`` set, :class:`RedisHub` publishes to Redis and
one listener thread per process feeds the local hub, so an event accepted by one web
process reaches sockets held by every other.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import typing as t

if t.TYPE_CHECKING:
    from connector.handover import Change

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "handover-connector:workspace:"


class Subscription:
    """One socket's queue of events, filtered by workspace and optionally conversation."""

    def __init__(self, hub: "LocalHub", workspace_id: str, conversation_id: str | None, maxsize: int = 1000) -> None:
        self.hub = hub
        self.workspace_id = workspace_id
        self.conversation_id = conversation_id
        #: (event, its JSON text): serialised once per event, not once per socket
        self.queue: queue.Queue[tuple[dict[str, t.Any], str]] = queue.Queue(maxsize=maxsize)
        #: set when the queue overflowed: the client fell behind and must reconnect
        self.overflowed = False

    def wants(self, event: dict[str, t.Any]) -> bool:
        if event.get("workspace_id") != self.workspace_id:
            return False
        return self.conversation_id is None or event["conversation"]["id"] == self.conversation_id

    def offer(self, event: dict[str, t.Any], text: str) -> None:
        try:
            self.queue.put_nowait((event, text))
        except queue.Full:
            self.overflowed = True

    def get(self, timeout: float) -> tuple[dict[str, t.Any], str] | None:
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self.hub.unsubscribe(self)

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc: t.Any) -> None:
        self.close()


class LocalHub:
    """In-process fan-out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_workspace: dict[str, set[Subscription]] = {}

    def subscribe(self, workspace_id: str, conversation_id: str | None = None) -> Subscription:
        subscription = Subscription(self, workspace_id, conversation_id)
        with self._lock:
            self._by_workspace.setdefault(workspace_id, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            subscribers = self._by_workspace.get(subscription.workspace_id)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._by_workspace[subscription.workspace_id]

    def publish(self, event: dict[str, t.Any]) -> None:
        self.deliver_locally(event, json.dumps(event))

    def deliver_locally(self, event: dict[str, t.Any], text: str) -> None:
        with self._lock:
            subscribers = list(self._by_workspace.get(event.get("workspace_id", ""), ()))
        for subscription in subscribers:
            if subscription.wants(event):
                subscription.offer(event, text)

    def subscriber_count(self) -> int:
        with self._lock:
            return sum(len(s) for s in self._by_workspace.values())


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
        for event in change.public_events:
            try:
                self.hub.publish(event)
            except Exception:  # live updates are best effort; the change is already durable
                log.exception("realtime publish failed", extra={"action": "realtime_publish_error"})
