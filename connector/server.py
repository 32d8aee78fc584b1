"""Running the app under gunicorn (threaded workers), the production WSGI server.

HTTP requests go to gunicorn's gthread pool; a WebSocket leaves the pool after its
upgrade for the process's event loop (:mod:`connector.live_sockets`), so open sockets
take neither threads nor gunicorn's connection slots.
"""

from __future__ import annotations

import resource
import typing as t

from gunicorn.app.base import BaseApplication


class ConnectorServer(BaseApplication):
    """gunicorn with the connector's app factory and options, without a config file."""

    def __init__(self, options: dict[str, t.Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> t.Any:
        from connector.app import create_app

        app = create_app()
        connector = app.extensions["connector"]
        if connector.settings.embedded_worker:
            connector.start_worker()
        self.cfg.set("worker_exit", lambda server, worker: connector.sockets.shut_down())
        return app


def gunicorn_options(*, host: str, port: int, workers: int, threads: int) -> dict[str, t.Any]:
    """How ``connector serve`` runs gunicorn (bench/bare.py serves its baseline the same way)."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        # keep-alive HTTP connections; live WebSockets leave gunicorn after the upgrade
        "worker_connections": max(1000, threads * 2),
        "timeout": 60,
        "graceful_timeout": 10,
        "keepalive": 5,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
    }


def raise_open_file_limit() -> None:
    """Every live socket is a descriptor: lift the soft limit (often 1,024) to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def run_gunicorn(*, host: str, port: int, workers: int, threads: int) -> None:
    raise_open_file_limit()
    ConnectorServer(gunicorn_options(host=host, port=port, workers=workers, threads=threads)).run()
