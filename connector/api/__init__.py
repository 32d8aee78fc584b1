"""The platform API (``/v1``)."""

from __future__ import annotations

from flask import Flask

from connector.api import errors
from connector.api.routes import bp
from connector.api import stream  # noqa: F401  (registers GET /v1/stream on the blueprint)


def init_app(app: Flask) -> None:
    errors.init_app(app)
    app.register_blueprint(bp)
