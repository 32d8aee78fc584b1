"""The application factory."""

from __future__ import annotations

import dataclasses
import functools
import importlib
import typing as t

from flask import Flask
from flask import Response
from flask import jsonify
from sqlalchemy import text

from connector import api
from connector import console
from connector import metrics
from connector.acknowledgements import AckWriter
from connector.attachments import AttachmentStore
from connector.attachments import bp as attachment_links
from connector.claim_timeouts import ClaimTimeObserver
from connector.claim_timeouts import ClaimTimer
from connector.claim_timeouts import ClaimTimerListener
from connector.config import Settings
from connector.config import load_secret_key
from connector.delivery.platform import PlatformWebhook
from connector.delivery.routing import Router
from connector.escalation import Escalation
from connector.handover import HandoverService
from connector.keys import ApiKeyCache
from connector.integrations import IntegrationStore
from connector.live_sockets import LiveSockets
from connector.notifications.sender import EmailChannel
from connector.notifications.sender import EmailListener
from connector.notifications.views import bp as email_links
from connector.plugin_host import ConnectorHost
from connector.plugin_registry import PluginRegistry
from connector.realtime import LocalHub
from connector.realtime import RealtimeListener
from connector.realtime import make_hub
from connector.security import SecretBox
from connector.storage.database import Database

if t.TYPE_CHECKING:
    from connector.delivery.worker import DeliveryWorker


@dataclasses.dataclass
class Connector:
    """What a running connector is made of; kept in ``app.extensions["connector"]``."""

    settings: Settings
    db: Database
    handover: HandoverService
    secrets: SecretBox
    secret_key: str
    plugins: PluginRegistry
    integrations: IntegrationStore
    outbox: Router
    hub: LocalHub
    #: this process's live WebSockets (``/v1/stream``, the console's, the demo widget's)
    sockets: LiveSockets
    escalation: Escalation
    keys: ApiKeyCache
    #: receipts and tasks of acknowledged webhooks, written together (group commit)
    acks: AckWriter
    attachments: AttachmentStore
    #: the in-process delivery worker, when this process runs one
    worker: "DeliveryWorker | None" = None
    #: what plugins see of all this (set by :func:`build_connector`)
    host: ConnectorHost = None  # type: ignore[assignment]

    def start_worker(self) -> "DeliveryWorker":
        """Run a delivery worker thread in this process, woken by every local change."""
        from connector.delivery.worker import DeliveryWorker

        if self.worker is None:
            self.worker = DeliveryWorker(self)
            self.outbox.wake = self.worker.wake
            self.worker.start_thread()
        return self.worker


def build_connector(
    settings: Settings, db: Database | None = None, plugins: PluginRegistry | None = None
) -> Connector:
    """Wire the core parts together, without Flask (the CLI and workers use this too).

    :param plugins: defaults to the ``handover_connector.plugins`` entry points.
    """
    db = db or Database.from_url(settings.database_url)
    secret_key = load_secret_key(settings)
    box = SecretBox(secret_key)
    plugins = plugins if plugins is not None else PluginRegistry.from_entry_points()
    plugins.add(EmailChannel(db, settings, secret_key))
    plugins.add(PlatformWebhook(db, box, settings.webhook_deny_private))
    integrations = IntegrationStore(box, plugins)
    handover = HandoverService(db)
    listener = Router(integrations)
    handover.add_listener(listener)
    handover.add_listener(EmailListener())
    handover.add_listener(ClaimTimerListener())
    handover.add_listener(ClaimTimeObserver())
    plugins.add(ClaimTimer(db, handover))
    hub = make_hub(settings.redis_url)
    handover.add_listener(RealtimeListener(hub))
    sockets = LiveSockets()
    hub.listen(sockets.publish, interested=sockets.listens_to)
    escalation = Escalation(handover, functools.partial(load_detector, settings.detector))
    handover.after_shopper_message = escalation.after_shopper_message
    connector = Connector(
        settings=settings, db=db, handover=handover, secrets=box, secret_key=secret_key,
        plugins=plugins, integrations=integrations, outbox=listener, hub=hub, sockets=sockets,
        escalation=escalation,
        keys=ApiKeyCache(db, settings.auth_cache_seconds), acks=AckWriter(db),
        attachments=AttachmentStore(settings.attachments_dir, secret_key, settings.base_url,
                                    settings.attachment_link_seconds),
    )
    connector.host = ConnectorHost(connector)
    for plugin in plugins:
        plugin.bind(connector.host)
    return connector


@functools.cache
def load_detector(path: str) -> t.Any:
    """The detector ``CONNECTOR_DETECTOR`` names ("module:callable"), built once."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)()


def create_app(settings: Settings | None = None, *, connector: Connector | None = None) -> Flask:
    """A Flask app serving the connector.

    :param settings: defaults to reading ``CONNECTOR_*`` from the environment.
    :param connector: an already built core (tests pass their own plugins this way).
    """
    if connector is None:
        connector = build_connector(settings or Settings())
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = connector.settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["connector"] = connector
    api.init_app(app)
    console.init_app(app, connector.secret_key, connector.settings.base_url.startswith("https://"),
                     demo_widget=connector.settings.demo_widget)
    app.register_blueprint(email_links)
    app.register_blueprint(attachment_links)
    for plugin in connector.plugins:
        blueprint = plugin.blueprint(connector.host)
        if blueprint is not None:
            app.register_blueprint(blueprint, url_prefix=f"/hooks/{plugin.name}", name=plugin.name)

    @app.get("/healthz")
    def healthz() -> t.Any:
        with connector.db.read() as session:
            session.execute(text("SELECT 1"))
        return jsonify({"ok": True})

    @app.get("/metrics")
    def prometheus_metrics() -> Response:
        return Response(metrics.render(connector.db), mimetype="text/plain; version=0.0.4")

    return app
