"""Every live WebSocket of a web process, served by one asyncio event loop thread.

A stream route (``/v1/stream``, the console's and the demo widget's) is an ordinary Flask
view: it authenticates and checks the request before the upgrade like any other, then
calls :meth:`LiveSockets.upgrade` and returns at once. The request thread goes back to
gunicorn's pool; the socket lives on in the event loop, which speaks the WebSocket
protocol (wsproto, sans-I/O), answers the client's pings and closes, sends the keep-alive
``{"type": "ping"}`` and fans events out. A thousand sockets cost a thousand small
objects, not a thousand threads, and never take a thread from the HTTP requests.

Why not an ASGI server for the whole app: measured on this machine in one run, a bare
Flask app under uvicorn with a2wsgi answered 806-866 requests/s where gunicorn's gthread
worker answered 1,393-1,491; the webhook acknowledgements would pay that. Handing the
socket over after the upgrade keeps gthread for HTTP and an event loop for the sockets.

The hub (:mod:`connector.realtime`) calls :meth:`publish` from whatever thread commits or
listens to Redis; it crosses into the loop once per event (not once per socket), and the
loop writes the event's frame to every socket that wants it. A client that stops reading
is closed (1008) once its unsent backlog passes :data:`MAX_BACKLOG` bytes, instead of
growing the server's memory; its client reconnects.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import threading
import time
import typing as t

from flask import Response
from wsproto import ConnectionType
from wsproto import WSConnection
from wsproto.events import AcceptConnection
from wsproto.events import CloseConnection
from wsproto.events import Ping
from wsproto.events import Request
from wsproto.events import TextMessage
from wsproto.utilities import RemoteProtocolError

log = logging.getLogger(__name__)

PING = json.dumps({"type": "ping"})
#: seconds a socket may stay quiet before it gets a ``{"type": "ping"}``
PING_INTERVAL = 20.0
#: unsent bytes a socket may hold before its client counts as too slow and is closed
MAX_BACKLOG = 1 << 20
#: seconds a closing socket may take to flush before it is cut
CLOSE_GRACE = 5.0


class UpgradeRefused(Exception):
    """The request is no WebSocket upgrade the loop can take; :attr:`field` names why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class Target(t.NamedTuple):
    """What a socket listens to: a workspace's events, or one conversation's."""

    workspace_id: str
    conversation_id: str | None = None

    def wants(self, event: dict[str, t.Any]) -> bool:
        if self.conversation_id is None:
            return True
        conversation = event.get("conversation") or {}
        return conversation.get("id") == self.conversation_id


class LiveSocket(asyncio.Protocol):
    """One WebSocket, after the handshake, in the event loop."""

    def __init__(self, owner: "LiveSockets", connection: WSConnection, accept: bytes, target: Target,
                 on_close: t.Callable[[], None] | None) -> None:
        self.owner = owner
        self.connection = connection
        self.accept = accept
        self.target = target
        self.on_close = on_close
        self.transport: asyncio.Transport | None = None
        self.last_sent = time.monotonic()
        self.closing = False

    # -- asyncio.Protocol -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # registered before any byte from the client is read, so that connection_lost
        # always finds it: the handshake's answer, then the greeting
        self.transport = t.cast(asyncio.Transport, transport)
        self.owner._add(self)
        self._write(self.accept)
        self.send_text(PING)

    def data_received(self, data: bytes) -> None:
        try:
            self.connection.receive_data(data)
            for event in self.connection.events():
                if isinstance(event, Ping):
                    self._write(self.connection.send(event.response()))
                elif isinstance(event, CloseConnection):
                    if not self.closing:
                        self._write(self.connection.send(event.response()))
                    self._end()
                # anything the client sends otherwise is ignored: the stream is one-way
        except RemoteProtocolError:
            self.close(1002, "protocol error")

    def eof_received(self) -> bool:
        self._end()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner._forget(self)
        if self.on_close is not None:
            on_close, self.on_close = self.on_close, None
            try:
                on_close()
            except Exception:
                log.exception("releasing a stream slot failed", extra={"action": "stream_close_error"})

    # -- sending ----------------------------------------------------------------------

    def send_text(self, text: str) -> None:
        """Send a text message, unless the client is too far behind (then it is closed)."""
        if self.closing or self.transport is None:
            return
        if self.transport.get_write_buffer_size() > MAX_BACKLOG:
            self.close(1008, "client too slow; reconnect")
            return
        self._write(self.connection.send(TextMessage(data=text)))
        self.last_sent = time.monotonic()

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Say goodbye (``code``) and end the socket once the goodbye is out (or a grace later)."""
        if self.closing or self.transport is None:
            return
        self.closing = True
        try:
            self._write(self.connection.send(CloseConnection(code=code, reason=reason)))
        except Exception:  # the connection's state forbids a close frame: just end it
            pass
        self.transport.close()  # flushes what is buffered, then closes
        self.owner.loop.call_later(CLOSE_GRACE, self.transport.abort)

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _end(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()


class LiveSockets:
    """The event loop thread and the sockets it holds, for one web process."""

    def __init__(self, ping_interval: float = PING_INTERVAL) -> None:
        self.ping_interval = ping_interval
        self.loop = asyncio.new_event_loop()
        self._started = False
        self._start_lock = threading.Lock()
        #: by workspace id; touched only in the loop's thread
        self._sockets: dict[str, set[LiveSocket]] = {}
        #: workspace ids with sockets here, readable from any thread (a snapshot)
        self._workspaces: frozenset[str] = frozenset()
        self._count = 0

    # -- from request threads -----------------------------------------------------------

    def upgrade(self, environ: dict[str, t.Any], target: Target,
                on_close: t.Callable[[], None] | None = None) -> Response:
        """Take the request's socket into the loop; the view returns what this returns.

        The caller has checked the request (key, session, token, slots). ``on_close`` runs
        in the loop's thread once the socket is gone, whoever ended it.

        :raises UpgradeRefused: not a WebSocket handshake, or a server that does not hand
            its sockets over.
        """
        connection = WSConnection(ConnectionType.SERVER)
        try:
            connection.receive_data(_request_bytes(environ))
            request = next((e for e in connection.events() if isinstance(e, Request)), None)
        except RemoteProtocolError as error:
            raise UpgradeRefused("Upgrade", f"Not a WebSocket handshake: {error}.") from None
        if request is None:
            raise UpgradeRefused("Upgrade", "Not a WebSocket handshake.")
        raw = environ.get("gunicorn.socket") or environ.get("werkzeug.socket")
        if raw is None:
            raise UpgradeRefused("Upgrade", "This server cannot hand its sockets over; run `connector serve`.")
        accept = connection.send(AcceptConnection(extensions=[]))
        # The loop owns a duplicate of the socket: the server closes its own descriptor
        # when the view returns, the connection stays open through ours.
        sock = socket.socket(fileno=os.dup(raw.fileno()))
        sock.setblocking(False)
        self._start()
        done = threading.Event() if "werkzeug.socket" in environ else None
        if done is not None:
            on_close = _then(on_close, done.set)
        asyncio.run_coroutine_threadsafe(self._open(sock, connection, accept, target, on_close), self.loop)
        if done is not None:
            # werkzeug's server half-closes the connection when its handler ends: on the
            # development server the request thread waits for the socket, as it always did.
            done.wait()
        return _HandedOver(gunicorn="gunicorn.socket" in environ)

    def publish(self, event: dict[str, t.Any], text: str) -> None:
        """Fan an event out to this process's sockets (from any thread)."""
        if self.listens_to(event.get("workspace_id", "")):
            self.loop.call_soon_threadsafe(self._fan_out, event, text)

    def listens_to(self, workspace_id: str) -> bool:
        """Whether a socket of this process listens to the workspace (from any thread)."""
        return self._started and workspace_id in self._workspaces

    def count(self) -> int:
        """How many sockets are open here."""
        return self._count

    def shut_down(self, timeout: float = 2.0) -> None:
        """Say 'going away' (1001) to every socket, for a worker that exits."""
        if not self._started:
            return
        future = asyncio.run_coroutine_threadsafe(self._close_all(1001, "server restarting"), self.loop)
        try:
            future.result(timeout)
        except Exception:
            pass

    # -- in the loop's thread -----------------------------------------------------------

    def _start(self) -> None:
        with self._start_lock:
            if self._started:
                return
            threading.Thread(target=self._run, name="live-sockets", daemon=True).start()
            self._started = True

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._keep_alive)
        self.loop.run_forever()

    async def _open(self, sock: socket.socket, connection: WSConnection, accept: bytes, target: Target,
                    on_close: t.Callable[[], None] | None) -> None:
        live = LiveSocket(self, connection, accept, target, on_close)
        try:
            await self.loop.connect_accepted_socket(lambda: live, sock)
        except OSError:  # the client left during the handover
            sock.close()
            live.connection_lost(None)

    def _add(self, live: LiveSocket) -> None:
        self._sockets.setdefault(live.target.workspace_id, set()).add(live)
        self._workspaces = frozenset(self._sockets)
        self._count += 1

    def _forget(self, live: LiveSocket) -> None:
        group = self._sockets.get(live.target.workspace_id)
        if group is not None and live in group:
            group.discard(live)
            self._count -= 1
            if not group:
                del self._sockets[live.target.workspace_id]
            self._workspaces = frozenset(self._sockets)

    def _fan_out(self, event: dict[str, t.Any], text: str) -> None:
        for live in list(self._sockets.get(event.get("workspace_id", ""), ())):
            if live.target.wants(event):
                live.send_text(text)

    def _keep_alive(self) -> None:
        now = time.monotonic()
        for group in list(self._sockets.values()):
            for live in list(group):
                if now - live.last_sent >= self.ping_interval:
                    live.send_text(PING)
        self.loop.call_later(min(1.0, self.ping_interval / 2), self._keep_alive)

    async def _close_all(self, code: int, reason: str) -> None:
        for group in list(self._sockets.values()):
            for live in list(group):
                live.close(code, reason)
        await asyncio.sleep(0.1)  # let the goodbyes go out


class _HandedOver(Response):
    """The view's answer once the loop has the socket: the server writes nothing more.

    gunicorn ends a request without writing when the app raises StopIteration, werkzeug
    when it raises ConnectionError; either then closes its descriptor of the socket.
    """

    def __init__(self, gunicorn: bool) -> None:
        super().__init__()
        self.gunicorn = gunicorn

    def __call__(self, environ: t.Any, start_response: t.Any) -> t.Any:
        if self.gunicorn:
            raise StopIteration()
        raise ConnectionError()


def _request_bytes(environ: dict[str, t.Any]) -> bytes:
    """The handshake request as the client sent it, rebuilt from the WSGI environ for wsproto."""
    lines = [f"{environ.get('REQUEST_METHOD', 'GET')} {environ.get('PATH_INFO') or '/'} HTTP/1.1"]
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            lines.append(f"{key[5:].replace('_', '-')}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _then(first: t.Callable[[], None] | None, second: t.Callable[[], None]) -> t.Callable[[], None]:
    def both() -> None:
        try:
            if first is not None:
                first()
        finally:
            second()
    return both
