"""The application factory."""

from __future__ import annotations

import dataclasses
import typing as t

from flask import Flask
from flask import jsonify
from sqlalchemy import text

from connector import api
from connector.config import Settings
from connector.config import load_secret_key
from connector.handover import HandoverService
from connector.security import SecretBox
from connector.storage.database import Database


@dataclasses.dataclass
class Connector:
    """What a running connector is made of; kept in ``app.extensions["connector"]``."""

    settings: Settings
    db: Database
    handover: HandoverService
    secrets: SecretBox
    secret_key: str


def build_connector(settings: Settings, db: Database | None = None) -> Connector:
    """Wire the core parts together, without Flask (the CLI and workers use this too)."""
    db = db or Database.from_url(settings.database_url)
    secret_key = load_secret_key(settings)
    return Connector(
        settings=settings,
        db=db,
        handover=HandoverService(db),
        secrets=SecretBox(secret_key),
        secret_key=secret_key,
    )


def create_app(settings: Settings | None = None, *, connector: Connector | None = None) -> Flask:
    """A Flask app serving the connector.

    :param settings: defaults to reading ``CONNECTOR_*`` from the environment.
    :param connector: an already built core (tests share one between apps).
    """
    if connector is None:
        connector = build_connector(settings or Settings())
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = connector.settings.max_body_bytes
    app.config["JSON_SORT_KEYS"] = False
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["connector"] = connector
    api.init_app(app)

    @app.get("/healthz")
    def healthz() -> t.Any:
        with connector.db.read() as session:
            session.execute(text("SELECT 1"))
        return jsonify({"ok": True})

    return app
