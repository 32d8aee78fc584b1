"""``GET /v1/stream``: the workspace's live events over a WebSocket.

The key is checked before the upgrade (the blueprint's ``authenticate``; the bearer
header wins over ``?token=``), and so is ``?conversation_id=``. Then every
``message.created`` and ``conversation.updated`` of the workspace (or of that
conversation) is sent as JSON, with ``{"type": "ping"}`` first and as a keep-alive.
"""

from __future__ import annotations

import json
import typing as t

from flask import request
from flask_sock import Sock

from connector.api.routes import bp
from connector.api.routes import connector
from connector.api.routes import workspace
from connector.realtime import Subscription

PING = json.dumps({"type": "ping"})
#: seconds between keep-alives
PING_INTERVAL = 20.0
#: how often a quiet socket checks whether its client is gone
POLL = 1.0

sock = Sock()


@bp.before_request
def check_stream_conversation() -> None:
    """Refuse an unknown ``conversation_id`` with a 404 before upgrading."""
    if request.endpoint == "api.stream" and request.args.get("conversation_id"):
        connector().handover.get_conversation(workspace(), request.args["conversation_id"])


def pump(ws: t.Any, subscription: Subscription) -> None:
    """Send a subscription's events to a socket until either side goes away."""
    ws.send(PING)
    idle = 0.0
    while ws.connected:
        item = subscription.get(timeout=POLL)
        if subscription.overflowed:
            ws.close(reason=1008, message="client too slow; reconnect")
            return
        if item is not None:
            ws.send(item[1])
            idle = 0.0
            continue
        idle += POLL
        if idle >= PING_INTERVAL:
            ws.send(PING)
            idle = 0.0


@sock.route("/stream", bp=bp)
def stream(ws: t.Any) -> None:
    hub = connector().hub
    with hub.subscribe(workspace().id, request.args.get("conversation_id") or None) as subscription:
        pump(ws, subscription)
