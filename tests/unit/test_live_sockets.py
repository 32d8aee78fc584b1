"""The event loop that serves every live WebSocket of a process (connector.live_sockets).

Each test hands one end of a real socket pair to :class:`LiveSockets` as gunicorn would
(its ``gunicorn.socket`` in the environ) and speaks WebSocket on the other end with
wsproto's client.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
from wsproto import ConnectionType
from wsproto import WSConnection
from wsproto.events import AcceptConnection
from wsproto.events import CloseConnection
from wsproto.events import Ping
from wsproto.events import Pong
from wsproto.events import Request
from wsproto.events import TextMessage
from wsproto.extensions import PerMessageDeflate

from connector import live_sockets
from connector.live_sockets import LiveSockets
from connector.live_sockets import Target
from connector.live_sockets import UpgradeRefused

HANDSHAKE = {"HTTP_HOST": "example.test", "HTTP_CONNECTION": "Upgrade", "HTTP_UPGRADE": "websocket",
             "HTTP_SEC_WEBSOCKET_VERSION": "13", "HTTP_SEC_WEBSOCKET_KEY": "dGhlIHNhbXBsZSBub25jZQ==",
             "REQUEST_METHOD": "GET", "PATH_INFO": "/v1/stream"}


def event(workspace: str, conversation: str, text: str) -> dict:
    return {"type": "message.created", "workspace_id": workspace, "conversation": {"id": conversation},
            "message": {"text": text}}


class Peer:
    """The client's end: a wsproto client connection over the other half of the pair."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sock.settimeout(10)
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.events: list = []

    def environ(self) -> dict:
        """The client's handshake (offering compression) as a WSGI server hands it to the app."""
        request = self.ws.send(Request(host="example.test", target="/v1/stream",
                                       extensions=[PerMessageDeflate()])).decode()
        found = {"REQUEST_METHOD": "GET", "PATH_INFO": "/v1/stream"}
        for line in request.split("\r\n")[1:]:
            if line:
                name, _, value = line.partition(": ")
                found["HTTP_" + name.upper().replace("-", "_")] = value
        return found

    def next(self, kind: type = object, timeout: float = 10.0):
        deadline = time.monotonic() + timeout
        while True:
            for index, found in enumerate(self.events):
                if isinstance(found, kind):
                    del self.events[index]
                    return found
            if time.monotonic() > deadline:
                raise AssertionError(f"no {kind.__name__} arrived; got {self.events}")
            data = self.sock.recv(65536)
            if not data:
                raise AssertionError(f"closed before a {kind.__name__}; got {self.events}")
            self.ws.receive_data(data)
            self.events.extend(self.ws.events())

    def text(self) -> dict:
        return json.loads(self.next(TextMessage).data)

    def send(self, what) -> None:
        self.sock.sendall(self.ws.send(what))


@pytest.fixture
def loop():
    sockets = LiveSockets(ping_interval=60)
    yield sockets
    sockets.shut_down()


def hand_over(loop: LiveSockets, target: Target, on_close=None) -> Peer:
    server_end, client_end = socket.socketpair()
    peer = Peer(client_end)
    response = loop.upgrade({**peer.environ(), "gunicorn.socket": server_end}, target, on_close)
    with pytest.raises(StopIteration):  # gunicorn writes nothing more for this request
        response({}, lambda *a: None)
    server_end.close()  # what gunicorn does with its descriptor: the connection stays open
    accepted = peer.next(AcceptConnection)
    assert accepted.extensions == []  # frames are never compressed
    return peer


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_the_handshake_is_answered_then_the_greeting_then_only_the_events_the_socket_wants(loop):
    workspace_wide = hand_over(loop, Target("ws_1"))
    one_conversation = hand_over(loop, Target("ws_1", "conv_a"))
    other_tenant = hand_over(loop, Target("ws_2"))
    for peer in (workspace_wide, one_conversation, other_tenant):
        assert peer.text() == {"type": "ping"}
    wait_for(lambda: loop.count() == 3)
    for item in (event("ws_1", "conv_b", "b"), event("ws_1", "conv_a", "a"), event("ws_2", "conv_c", "c")):
        loop.publish(item, json.dumps(item))
    assert [workspace_wide.text()["message"]["text"] for _ in range(2)] == ["b", "a"]  # in order
    assert one_conversation.text()["message"]["text"] == "a"
    assert other_tenant.text()["message"]["text"] == "c"


def test_a_ping_is_answered_and_a_close_is_returned_and_frees_the_slot(loop):
    closed = threading.Event()
    peer = hand_over(loop, Target("ws_1"), on_close=closed.set)
    peer.text()
    peer.send(Ping(payload=b"are you there"))
    assert peer.next(Pong).payload == b"are you there"
    peer.send(CloseConnection(code=1000, reason="bye"))
    assert peer.next(CloseConnection).code == 1000
    assert closed.wait(10)
    wait_for(lambda: loop.count() == 0)


def test_a_client_that_vanishes_frees_its_slot(loop):
    closed = threading.Event()
    peer = hand_over(loop, Target("ws_1"), on_close=closed.set)
    peer.sock.close()
    assert closed.wait(10)
    wait_for(lambda: loop.count() == 0)


def test_a_client_that_stops_reading_is_closed_not_buffered_without_end(loop, monkeypatch):
    monkeypatch.setattr(live_sockets, "MAX_BACKLOG", 64 * 1024)
    closed = threading.Event()
    peer = hand_over(loop, Target("ws_1"), on_close=closed.set)
    peer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    big = event("ws_1", "conv_a", "x" * 16_000)
    text = json.dumps(big)
    for _ in range(2000):  # far more than the kernel's buffers and the backlog together
        loop.publish(big, text)
        if closed.is_set():
            break
        time.sleep(0.001)
    assert closed.wait(live_sockets.CLOSE_GRACE + 10)  # closed, its slot freed
    # what the client can still read is what the kernel held when the server gave up on it,
    # nowhere near the 32 MB published
    left = 0
    while chunk := peer.sock.recv(1 << 16):
        left += len(chunk)
    assert left < 8 * 1024 * 1024


def test_a_worker_that_exits_says_going_away(loop):
    peer = hand_over(loop, Target("ws_1"))
    peer.text()
    loop.shut_down()
    assert peer.next(CloseConnection).code == 1001


def test_a_keep_alive_ping_goes_to_a_quiet_socket():
    sockets = LiveSockets(ping_interval=0.2)
    try:
        peer = hand_over(sockets, Target("ws_1"))
        assert peer.text() == {"type": "ping"}  # the greeting
        assert peer.text() == {"type": "ping"}  # and again once it was quiet for a while
    finally:
        sockets.shut_down()


def test_what_is_no_handshake_is_refused_before_anything_is_taken(loop):
    server_end, client_end = socket.socketpair()
    with server_end, client_end:
        plain = {k: v for k, v in HANDSHAKE.items() if k != "HTTP_UPGRADE"}
        with pytest.raises(UpgradeRefused) as refused:
            loop.upgrade({**plain, "gunicorn.socket": server_end}, Target("ws_1"))
        assert refused.value.field == "Upgrade"
        with pytest.raises(UpgradeRefused):  # a server that does not hand its socket over
            loop.upgrade(dict(HANDSHAKE), Target("ws_1"))
    assert loop.count() == 0


def test_events_of_a_workspace_nobody_listens_to_are_not_even_built(loop):
    from connector.realtime import LocalHub
    from connector.realtime import RealtimeListener

    hub = LocalHub()
    hub.listen(loop.publish, interested=loop.listens_to)
    built = []

    class Change:
        class workspace:
            id = "ws_1"

        @property
        def public_events(self):
            built.append(1)
            return [event("ws_1", "conv_a", "hello")]

    RealtimeListener(hub).after_commit(Change())
    assert built == []  # no socket: no events built, nothing serialised
    peer = hand_over(loop, Target("ws_1"))
    assert peer.text() == {"type": "ping"}
    wait_for(lambda: loop.listens_to("ws_1"))
    RealtimeListener(hub).after_commit(Change())
    assert built == [1]
    assert peer.text()["message"]["text"] == "hello"
