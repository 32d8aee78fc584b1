"""Shared fixtures: both databases, the app, workspaces, and an OpenAPI-checking client.

PostgreSQL comes from ``CONNECTOR_TEST_POSTGRES_URL`` (default: this machine's server,
database ``test``). Each test session migrates a schema of its own there and drops it at
the end. Without the server the PostgreSQL half is skipped, unless
``CONNECTOR_TEST_REQUIRE_SERVICES=1`` (set by ``.ci/run``) makes that a failure.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
import secrets
import typing as t

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import text

from connector.api.openapi import document
from connector.app import build_connector
from connector.app import create_app
from connector.config import Settings
from connector.storage import repository
from connector.storage.database import Database
from connector.storage.models import Base

POSTGRES_URL = os.environ.get(
    "CONNECTOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_SERVICES = os.environ.get("CONNECTOR_TEST_REQUIRE_SERVICES") == "1"
SECRET_KEY = "test-secret-key-" + "x" * 32
#: Delivery settings that keep retry tests quick.
FAST_DELIVERY = {
    "delivery_backoff_base": 0.02,
    "delivery_backoff_cap": 0.2,
    "delivery_timeout": 0.5,
    "delivery_lease_seconds": 3.0,
    "delivery_poll_interval": 0.02,
    "delivery_max_attempts": 10,
}
#: The tests' fake platforms listen on loopback: the setting for a platform next door.
#: Tests of the default (refused) set it back.
LOCAL_PLATFORM = {"webhook_deny_private": False}


def service_missing(what: str, exc: BaseException) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required (CONNECTOR_TEST_REQUIRE_SERVICES=1) but unreachable: {exc}")
    pytest.skip(f"{what} unreachable: {exc}")


def postgres_schema_url(schema: str) -> str:
    separator = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session")
def postgres_admin() -> t.Iterator[Database]:
    try:
        admin = Database.from_url(POSTGRES_URL)
        with admin.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any connection failure means "no server"
        service_missing("PostgreSQL", exc)
    yield admin
    admin.dispose()


def _new_postgres_database(admin: Database) -> tuple[Database, t.Callable[[], None]]:
    schema = f"t_{secrets.token_hex(6)}"
    with admin.engine.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    database = Database.from_url(postgres_schema_url(schema))

    def drop() -> None:
        database.dispose()
        with admin.engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))

    return database, drop


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def migrated_database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[Database]:
    """One migrated database per backend for the whole session."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "connector.db"
        database = Database.from_url(f"sqlite:///{path}")
        drop = database.dispose
    else:
        database, drop = _new_postgres_database(request.getfixturevalue("postgres_admin"))
    database.upgrade()
    yield database
    drop()


@pytest.fixture
def database(migrated_database: Database) -> Database:
    """The session's database, emptied before each test."""
    with migrated_database.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
    return migrated_database


@pytest.fixture
def settings(database: Database, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database.engine.url.render_as_string(hide_password=False), secret_key=SECRET_KEY,
        attachments_dir=tmp_path / "attachments", **FAST_DELIVERY, **LOCAL_PLATFORM
    )


@pytest.fixture
def connector(settings: Settings, database: Database):
    return build_connector(settings, db=database)


@pytest.fixture
def app(connector):
    app = create_app(connector=connector)
    app.config["TESTING"] = True
    return app


# -- OpenAPI-checked client --------------------------------------------------------------


class OpenApiChecker:
    """Checks each /v1 response: its status is documented and its body fits the schema."""

    def __init__(self) -> None:
        self.doc = document()
        self.routes = [
            (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path)
            for path in self.doc["paths"]
        ]

    def operation(self, method: str, path: str) -> dict[str, t.Any] | None:
        for pattern, template in self.routes:
            if pattern.match(path):
                return self.doc["paths"][template].get(method.lower())
        return None

    def check(self, method: str, path: str, status: int, body: t.Any) -> None:
        operation = self.operation(method, path)
        if operation is None:
            return  # undocumented on purpose only for wrong methods and unknown paths
        responses = operation["responses"]
        assert str(status) in responses, f"{method} {path} answered {status}, not in the OpenAPI document"
        schema = responses[str(status)]["content"]["application/json"]["schema"]
        validator = Draft202012Validator({**schema, "components": self.doc["components"]})
        errors = sorted(validator.iter_errors(body), key=str)
        assert not errors, f"{method} {path} {status}: {errors[0].message} in {body}"


CHECKER = OpenApiChecker()


class ApiClient:
    """The Flask test client with a workspace's key, checking every answer against OpenAPI."""

    def __init__(self, app: t.Any, api_key: str | None) -> None:
        self.client = app.test_client()
        self.api_key = api_key

    def request(self, method: str, path: str, *, json: t.Any = None, data: t.Any = None,
                headers: dict[str, str] | None = None, auth: bool = True) -> t.Any:
        all_headers = dict(headers or {})
        if auth and self.api_key:
            all_headers.setdefault("Authorization", f"Bearer {self.api_key}")
        response = self.client.open(path, method=method, json=json, data=data, headers=all_headers)
        if path.startswith("/v1/"):
            CHECKER.check(method, path.split("?")[0], response.status_code, response.get_json(silent=True))
        return response

    def get(self, path: str, **kw: t.Any) -> t.Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: t.Any) -> t.Any:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: t.Any) -> t.Any:
        return self.request("PUT", path, **kw)


@pytest.fixture
def make_workspace(database: Database) -> t.Callable[..., tuple[str, str]]:
    def make(plan: str = "pro", name: str = "Shop") -> tuple[str, str]:
        with database.write() as session:
            row, key = repository.create_workspace(session, name, plan)
            return row.id, key

    return make


@pytest.fixture
def api(app: t.Any, make_workspace: t.Callable[..., tuple[str, str]]) -> ApiClient:
    """A client for a fresh pro workspace."""
    _, key = make_workspace("pro")
    return ApiClient(app, key)


@pytest.fixture
def api_for(app: t.Any, make_workspace: t.Callable[..., tuple[str, str]]) -> t.Callable[[str], ApiClient]:
    def make(plan: str = "pro") -> ApiClient:
        return ApiClient(app, make_workspace(plan)[1])

    return make
