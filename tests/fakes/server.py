"""What every fake vendor shares: a real HTTP server on 127.0.0.1, served from a daemon thread."""

from __future__ import annotations

import threading
import typing as t
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer

Self = t.TypeVar("Self", bound="LocalServer")


class LocalServer:
    """``with Fake() as fake:`` or ``start()``/``stop()``; ``port`` is fixed once started.

    Subclasses set ``port`` (0: any free one) and ``_server = None`` in ``__init__`` and
    name their request handler class (:attr:`handler`) and the attribute through which
    it reaches the fake (:attr:`handler_attribute`).
    """

    handler: t.ClassVar[type[BaseHTTPRequestHandler]]
    handler_attribute: t.ClassVar[str] = "fake"
    port: int
    _server: ThreadingHTTPServer | None

    def start(self: Self) -> Self:
        handler = type("Handler", (self.handler,), {self.handler_attribute: self})
        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self: Self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
