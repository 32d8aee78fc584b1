"""Running the app under gunicorn (threaded workers), the production WSGI server."""

from __future__ import annotations

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
        return app


def gunicorn_options(*, host: str, port: int, workers: int, threads: int) -> dict[str, t.Any]:
    """How ``connector serve`` runs gunicorn (bench/bare.py serves its baseline the same way)."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        # each live WebSocket holds a connection and a thread: leave room for all of them
        "worker_connections": max(1000, threads * 2),
        "timeout": 60,
        "graceful_timeout": 10,
        "keepalive": 5,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
    }


def run_gunicorn(*, host: str, port: int, workers: int, threads: int) -> None:
    ConnectorServer(gunicorn_options(host=host, port=port, workers=workers, threads=threads)).run()
