"""``GET /v1/stream``: the workspace's live events over a WebSocket.

The key is checked before the upgrade (the blueprint's ``authenticate``; the bearer
header wins over ``?token=``), and so is ``?conversation_id=``. Then every
``message.created`` and ``conversation.updated`` of the workspace (or of that
conversation) is sent as JSON, with ``{"type": "ping"}`` first and as a keep-alive.
The socket is served by the process's event loop (:mod:`connector.live_sockets`), not by
a request thread.
"""

from __future__ import annotations

import collections
import hashlib
import threading
import typing as t

from flask import Response
from flask import current_app
from flask import g
from flask import request

from connector.api.errors import ApiError
from connector.api.routes import bp
from connector.api.routes import connector
from connector.api.routes import workspace
from connector.live_sockets import Target
from connector.live_sockets import UpgradeRefused


class StreamSlots:
    """How many sockets each API key and each workspace holds open in this process, capped.

    Without a cap one key could open sockets until the process runs out of descriptors
    and memory, for every tenant.
    """

    def __init__(self, per_key: int, per_workspace: int) -> None:
        self.per_key = per_key
        self.per_workspace = per_workspace
        self._lock = threading.Lock()
        self._keys: collections.Counter[str] = collections.Counter()
        self._workspaces: collections.Counter[str] = collections.Counter()

    def take(self, key: str, workspace_id: str) -> bool:
        with self._lock:
            if self._keys[key] >= self.per_key or self._workspaces[workspace_id] >= self.per_workspace:
                return False
            self._keys[key] += 1
            self._workspaces[workspace_id] += 1
            return True

    def give_back(self, key: str, workspace_id: str) -> None:
        with self._lock:
            self._keys[key] -= 1
            self._workspaces[workspace_id] -= 1
            self._keys += collections.Counter()  # drop zeros
            self._workspaces += collections.Counter()


def slots() -> StreamSlots:
    found = current_app.extensions.get("connector_stream_slots")
    if found is None:
        settings = connector().settings
        found = current_app.extensions.setdefault(
            "connector_stream_slots", StreamSlots(settings.stream_max_per_key, settings.stream_max_per_workspace))
    return found


@bp.before_request
def check_stream_conversation() -> None:
    """Before upgrading: refuse an unknown ``conversation_id`` (404) and a key or workspace past its sockets (429)."""
    if request.endpoint != "api.stream":
        return
    if request.args.get("conversation_id"):
        connector().handover.get_conversation(workspace(), request.args["conversation_id"])
    header = request.headers.get("Authorization", "") or f"Bearer {request.args.get('token', '')}"
    key = hashlib.sha256(header.partition(" ")[2].strip().encode()).hexdigest()
    workspace_id = workspace().id
    if not slots().take(key, workspace_id):
        raise ApiError(429, "too_many_streams",
                       f"Too many open streams: at most {slots().per_key} per API key and "
                       f"{slots().per_workspace} per workspace. Close one, or share one stream between views.")
    g.stream_slot = (key, workspace_id)


@bp.teardown_request
def release_stream_slot(exc: BaseException | None) -> None:
    taken = g.pop("stream_slot", None)
    if taken is not None:
        slots().give_back(*taken)


def hand_over(target: Target, on_close: t.Callable[[], None] | None = None) -> Response:
    """Give the checked request's socket to the event loop (a 400 naming ``Upgrade`` when it is no handshake)."""
    try:
        return connector().sockets.upgrade(request.environ, target, on_close)
    except UpgradeRefused as refused:
        raise ApiError(400, "websocket_required", refused.message, refused.field) from None


@bp.route("/stream", websocket=True)  # werkzeug routes an upgrade only to such a rule
def stream() -> Response:
    taken = g.stream_slot
    pool = slots()
    response = hand_over(Target(workspace().id, request.args.get("conversation_id") or None),
                         on_close=lambda: pool.give_back(*taken))
    g.pop("stream_slot")  # the socket holds it now, until it closes
    return response
