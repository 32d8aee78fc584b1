"""Gorgias fixtures: the stateful fake API, the connector served over real HTTP, set-up by the CLI.

The fake sends its HTTP integration's calls over HTTP to the integration's URL, so the
connector here is served by a real local server (werkzeug, a daemon thread) at the base
URL the CLI sets the integration up with.
"""

from __future__ import annotations

import json
import threading
import time
import typing as t

import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server

from connector.app import build_connector
from connector.config import Settings
from connector.delivery.worker import DeliveryWorker
from connector.plugin_registry import PluginRegistry
from connector.storage import repository
from handover_gorgias import GorgiasIntegration
from handover_gorgias import client as gorgias_client
from tests.conftest import FAST_DELIVERY
from tests.conftest import SECRET_KEY
from tests.draining import drain
from tests.fakes.gorgias_api import FakeGorgias

API_EMAIL = "bot@shop.example"
API_KEY = "gorgias-api-key-0001"


class LiveApp:
    """A WSGI server on 127.0.0.1 whose app is plugged in once it is built."""

    def __init__(self) -> None:
        self.app: t.Any = None
        self.server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def _wsgi(self, environ: dict[str, t.Any], start_response: t.Any) -> t.Any:
        return self.app(environ, start_response)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def live() -> t.Iterator[LiveApp]:
    server = LiveApp()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def fresh_buckets() -> t.Iterator[None]:
    gorgias_client._buckets.clear()
    yield
    gorgias_client._buckets.clear()


@pytest.fixture
def gorgias() -> t.Iterator[FakeGorgias]:
    with FakeGorgias(capacity=400) as fake:
        fake.add_api_key(API_EMAIL, API_KEY)
        yield fake
        fake.settle()
        assert fake.violations == [], "requests outside our summary of Gorgias' API"


@pytest.fixture
def agent(gorgias: FakeGorgias) -> dict[str, t.Any]:
    return gorgias.add_agent("Dana Agent", "dana@shop.example")


@pytest.fixture
def settings(database: t.Any, tmp_path: t.Any, live: LiveApp) -> Settings:
    return Settings(database_url=database.engine.url.render_as_string(hide_password=False), secret_key=SECRET_KEY,
                    attachments_dir=tmp_path / "attachments", base_url=live.url, **FAST_DELIVERY)


@pytest.fixture
def connector(settings: Settings, database: t.Any) -> t.Any:
    return build_connector(settings, db=database, plugins=PluginRegistry([GorgiasIntegration()]))


@pytest.fixture
def app(connector: t.Any, live: LiveApp) -> t.Any:
    from connector.app import create_app

    app = create_app(connector=connector)
    app.config["TESTING"] = True
    live.app = app
    return app


@pytest.fixture
def worker(connector: t.Any) -> DeliveryWorker:
    return DeliveryWorker(connector, worker_id="gorgias-test-worker")


class Cli:
    """``connector ...`` as an admin runs it, against the test's database and live URL."""

    def __init__(self, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CONNECTOR_DATABASE_URL", settings.database_url)
        monkeypatch.setenv("CONNECTOR_SECRET_KEY", SECRET_KEY)
        monkeypatch.setenv("CONNECTOR_BASE_URL", settings.base_url)
        self.runner = CliRunner()

    def __call__(self, *args: str) -> t.Any:
        from connector.cli import main

        return self.runner.invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(settings, monkeypatch)


def set_up_args(workspace: str, gorgias: FakeGorgias, **more: str) -> list[str]:
    values = {"domain": "acme", "email": API_EMAIL, "api_key": API_KEY, "api_base_url": gorgias.api_url, **more}
    return ["integration", "set", workspace, "gorgias", *(f"{k}={v}" for k, v in values.items())]


@pytest.fixture
def workspace_id(connector: t.Any, app: t.Any, api: t.Any, gorgias: FakeGorgias, cli: Cli) -> str:
    """The API workspace with Gorgias set up through ``connector integration set``."""
    with connector.db.read() as session:
        workspace = repository.workspace_for_key(session, api.api_key)
    result = cli(*set_up_args(workspace.id, gorgias))
    assert result.exit_code == 0, result.output
    return workspace.id


def stored_settings(connector: t.Any, workspace_id: str) -> t.Any:
    with connector.db.read() as session:
        workspace = repository.get_workspace(session, workspace_id)
        return connector.integrations.load(session, workspace.pk, "gorgias")


def hook_url(gorgias: FakeGorgias) -> str:
    (integration,) = gorgias.integrations.values()
    return integration["http"]["url"]


def flow(gorgias: FakeGorgias, worker: DeliveryWorker, timeout: float = 20.0) -> None:
    """Until nothing moves: the fake's integration calls answered and the outbox drained."""
    deadline = time.monotonic() + timeout
    quiet = 0
    while quiet < 2:
        if time.monotonic() > deadline:
            raise AssertionError("the connector and the fake did not settle in time")
        calls = len(gorgias.calls)
        gorgias.settle()
        drain(worker)
        gorgias.settle()
        quiet = quiet + 1 if len(gorgias.calls) == calls else 0


def body_of(call: dict[str, t.Any]) -> dict[str, t.Any]:
    return json.loads(call["body"])
