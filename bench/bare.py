"""The baseline of every benchmark: a bare Flask app on the server ``connector serve`` uses.

    .venv/bin/python bench/bare.py --port 8001 [--workers 1] [--threads 64]

It runs under gunicorn with exactly the options of ``connector serve``
(:func:`connector.server.gunicorn_options`: gthread, keep-alive), and does per request
only what any correct handler of the same route must do, with no database:

* ``POST /v1/conversations`` and ``POST /v1/conversations/<id>/messages``: parse and check
  the JSON, answer 201 with a JSON body; a message is also put on every open socket's queue;
* ``POST /hooks/slack/events``: check the Slack signature (HMAC-SHA256 with
  ``BARE_SLACK_SECRET``, 5-minute window), parse the JSON, answer 200;
* ``GET /v1/stream``: a WebSocket (flask-sock, a thread each, like the connector's)
  that says ``{"type": "ping"}`` and then sends what the message route fans out.

The benchmarks start it beside the connector in the same invocation and divide.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import queue
import secrets
import sys
import threading
import time
import typing as t
from pathlib import Path

from flask import Flask
from flask import request

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: sent first on every socket, as the connector's stream does
PING = json.dumps({"type": "ping"})


def create_app() -> Flask:
    from flask_sock import Sock

    app = Flask(__name__)
    sock = Sock(app)
    secret = os.environ.get("BARE_SLACK_SECRET", "").encode()
    sockets: set[queue.SimpleQueue] = set()
    lock = threading.Lock()

    def bad(field: str) -> tuple[dict[str, t.Any], int]:
        return {"error": {"code": "invalid_request", "field": field}}, 400

    @app.get("/healthz")
    def healthz() -> dict[str, t.Any]:
        return {"ok": True}

    @app.post("/v1/conversations")
    def conversation() -> tuple[dict[str, t.Any], int]:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return bad("body")
        return {"id": f"conv_{secrets.token_hex(8)}", "status": "open"}, 201

    @app.post("/v1/conversations/<cid>/messages")
    def message(cid: str) -> tuple[dict[str, t.Any], int]:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return bad("body")
        if body.get("author") not in ("shopper", "ai", "human"):
            return bad("author")
        if not isinstance(body.get("text"), str) or not body["text"]:
            return bad("text")
        created = {"id": f"msg_{secrets.token_hex(8)}", "conversation_id": cid, "author": body["author"],
                   "text": body["text"], "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        event = json.dumps({"type": "message.created", "conversation_id": cid, "message": created})
        with lock:
            targets = list(sockets)
        for target in targets:
            target.put(event)
        return created, 201

    @app.post("/hooks/slack/events")
    def slack_events() -> tuple[t.Any, int]:
        stamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        if not stamp.isdigit() or abs(time.time() - int(stamp)) > 300:
            return bad("X-Slack-Request-Timestamp")
        body = request.get_data()
        expected = "v0=" + hmac.new(secret, b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            return {"error": {"code": "unauthorized", "field": "X-Slack-Signature"}}, 401
        try:
            json.loads(body)
        except ValueError:
            return bad("body")
        return "", 200

    @sock.route("/v1/stream")
    def stream(ws: t.Any) -> None:
        mine: queue.SimpleQueue = queue.SimpleQueue()
        with lock:
            sockets.add(mine)
        try:
            ws.send(PING)
            while ws.connected:
                try:
                    ws.send(mine.get(timeout=1.0))
                except queue.Empty:
                    continue
        finally:
            with lock:
                sockets.discard(mine)

    return app


def main() -> None:
    from gunicorn.app.base import BaseApplication

    from connector.server import gunicorn_options

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=64)
    args = parser.parse_args()
    options = gunicorn_options(host=args.host, port=args.port, workers=args.workers, threads=args.threads)

    class Bare(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Flask:
            return create_app()

    Bare().run()


if __name__ == "__main__":
    main()
